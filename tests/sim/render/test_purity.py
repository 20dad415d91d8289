"""The renderer runs in a Python without pybullet (the OpenXR client, a viewer): its import
graph never reaches the physics engine, and it renders a scene that arrived as plain data."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = """
import sys
sys.modules["pybullet"] = None  # any import of pybullet now raises ImportError
import pickle, numpy as np
import sim.render
from sim.render import Renderer, RenderError, EndoscopeLight, save_png
from sim.render import backends, camera, executor, gl_scene, materials, renderer, shaders
from sim.render import snapshot
from sim.render.backends import egl_context, osmesa_context
from scenarios.visual import SceneDescription
description = SceneDescription.from_dict(pickle.loads(sys.stdin.buffer.read()))
X_WN = np.load(sys.argv[1])
with Renderer(description, 96, 72) as r:
    rgb = r.render(X_WN)
    left, right = r.render_stereo(X_WN)
print(int(rgb.std() > 5), int(left.shape == right.shape == (72, 96, 3)))
heavy = ("pybullet", "sim.world", "sim.session")
print(",".join(m for m, mod in sys.modules.items() if mod is not None
               and any(m == h or m.startswith(h + ".") for h in heavy)) or "none")
"""


def test_renderer_imports_and_renders_without_pybullet(gl_backend, peg_scene, tmp_path):
    import pickle

    import numpy as np

    description, X_WN = peg_scene
    np.save(tmp_path / "poses.npy", X_WN)
    env = {**os.environ, "SURGISIM_GL": gl_backend}
    env.pop("PYOPENGL_PLATFORM", None)
    out = subprocess.run(
        [sys.executable, "-c", CODE, str(tmp_path / "poses.npy")],
        input=pickle.dumps(description.to_dict()),
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr.decode()
    drawn, modules = out.stdout.decode().split()[-3:-1], out.stdout.decode().split()[-1]
    assert drawn == ["1", "1"]
    assert modules == "none", f"the renderer pulled in {modules}"


def test_package_import_is_lazy():
    code = (
        "import sys, sim.render; "
        "print('OpenGL' in sys.modules, 'sim.render.renderer' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
