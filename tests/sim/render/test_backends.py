"""Choosing the GL backend: SURGISIM_GL, the promised errors, and each backend for real
(EGL and OSMesa headless; GLFW in a hidden window on Xvfb)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from sim.render.backends import BACKENDS, backend_name
from sim.render.errors import RenderError

FRAME = (
    "import numpy as np\n"
    "from scenarios.visual import CameraModel, SceneDescription, VisualMesh, VisualNode\n"
    "from sim.render import Renderer\n"
    "box = VisualMesh(np.array([[x, y, z] for x in (-.01, .01) for y in (-.01, .01) "
    "for z in (-.01, .01)]), np.array([[0,1,3],[0,3,2],[4,6,7],[4,7,5],[0,4,5],[0,5,1],"
    "[2,3,7],[2,7,6],[0,2,6],[0,6,4],[1,5,7],[1,7,3]]), material='ring', rgba=(.2,.5,.9,1))\n"
    "X_WC = np.eye(4); X_WC[2, 3] = -0.1\n"
    "d = SceneDescription((VisualNode('box', (box,)),), CameraModel(1.0, X_WC=X_WC))\n"
    "with Renderer(d, 64, 48) as r:\n"
    "    rgb = r.render(np.eye(4)[None])\n"
    "    print(r.backend, r.gl_renderer, int(rgb[24, 32].sum()), int(rgb[2, 2].sum()))\n"
)


def _run(code: str, **env) -> subprocess.CompletedProcess:
    environ = {**os.environ, **env}
    environ.pop("PYOPENGL_PLATFORM", None)
    for key, value in env.items():
        if value is None:
            environ.pop(key, None)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=120
    )


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(RenderError) as info:
        backend_name(environ={"SURGISIM_GL": "vulkan"})
    message = str(info.value)
    assert "'vulkan'" in message and all(name in message for name in BACKENDS)
    with pytest.raises(RenderError, match="Did you mean 'egl'"):
        backend_name("eggl")


def test_default_backend_follows_the_display():
    assert backend_name(environ={}) == "egl"
    assert backend_name(environ={"DISPLAY": ":0"}) == "glfw"
    assert backend_name(environ={"DISPLAY": ":0", "SURGISIM_GL": "osmesa"}) == "osmesa"


def test_unknown_backend_from_the_environment_fails_before_opengl_is_imported():
    code = (
        "import sys, numpy as np\n"
        "from scenarios.visual import CameraModel, SceneDescription\n"
        "from sim.render import Renderer, RenderError\n"
        "d = SceneDescription((), CameraModel(1.0, X_WC=np.eye(4)))\n"
        "try:\n"
        "    Renderer(d, 8, 8)\n"
        "except RenderError as e:\n"
        "    print(e); print('OpenGL' in sys.modules)\n"
    )
    out = _run(code, SURGISIM_GL="opengl")
    assert out.returncode == 0, out.stderr
    message, imported = out.stdout.strip().rsplit("\n", 1)
    assert "SURGISIM_GL='opengl'" in message and "['egl', 'glfw', 'osmesa']" in message
    assert imported == "False"


def test_a_failing_backend_says_what_to_install():
    # GLFW without a display cannot open a window: the error names the fixes
    out = _run(FRAME, SURGISIM_GL="glfw", DISPLAY=None, WAYLAND_DISPLAY=None)
    assert out.returncode != 0
    assert "RenderError" in out.stderr
    assert "xvfb-run" in out.stderr and "SURGISIM_GL=egl" in out.stderr


@pytest.mark.parametrize("backend", ["egl", "osmesa"])
def test_headless_backend_draws_a_frame(gl_backend, backend):
    out = _run(FRAME, SURGISIM_GL=backend)
    if out.returncode != 0 and backend != gl_backend:
        pytest.skip(f"{backend} is not installed here ({out.stderr.strip().splitlines()[-1]})")
    assert out.returncode == 0, out.stderr
    name, *_, centre, corner = out.stdout.split()
    assert name == backend
    assert int(centre) > 60 and int(corner) == 0, out.stdout  # the box, and black around it


def test_glfw_backend_draws_in_a_hidden_window_on_xvfb(gl_backend):
    if shutil.which("xvfb-run") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb xauth)")
    pytest.importorskip("glfw", reason="pip install 'surgisim[window]'")
    env = {k: v for k, v in os.environ.items() if k not in ("PYOPENGL_PLATFORM", "DISPLAY")}
    env["SURGISIM_GL"] = "glfw"
    out = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 640x480x24", sys.executable, "-c", FRAME],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    name, *_, centre, corner = out.stdout.split()
    assert name == "glfw" and int(centre) > 60 and int(corner) == 0


_FORKED_CHILD = """
import multiprocessing as mp
import numpy as np
from scenarios.visual import CameraModel, SceneDescription
from sim.render import Renderer

def frame():
    d = SceneDescription((), CameraModel(1.0, X_WC=np.eye(4)))
    r = Renderer(d, 8, 8); r.render(np.zeros((0, 4, 4))); r.close()

def child(q):
    try:
        frame()
        q.put("rendered")
    except Exception as exc:
        q.put(f"{type(exc).__name__}: {exc}")

frame()  # the parent renders first (a RecordVideo evaluation, say)
ctx = mp.get_context("fork")
q = ctx.Queue()
p = ctx.Process(target=child, args=(q,))
p.start()
p.join(90)
print("HUNG" if p.is_alive() else q.get(timeout=10))
if p.is_alive():
    p.kill()
"""


def test_a_child_forked_after_the_parent_rendered_with_egl_is_told_not_hung(gl_backend):
    """Mesa's EGL state comes along with a fork without its threads: a gymnasium
    AsyncVectorEnv made after the parent had rendered hung for ever in render(). The
    child now gets a RenderError that says to use spawn."""
    import subprocess
    import sys

    if gl_backend != "egl":
        pytest.skip(f"the fork check is EGL's; this machine renders with {gl_backend}")
    done = subprocess.run(
        [sys.executable, "-c", _FORKED_CHILD], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    said = done.stdout.strip().splitlines()[-1]
    assert said.startswith("RenderError: EGL was initialised in process"), said
    assert "vector_kwargs={'context': 'spawn'}" in said
