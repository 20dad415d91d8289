"""Fixtures of the renderer tests: a working GL backend (real OpenGL through Mesa), the
peg-transfer world and its scene description.

PyOpenGL binds to one platform per process, so the backend is chosen before anything
imports OpenGL: ``SURGISIM_GL`` when set (and then it must work), else the first of
egl, osmesa that starts a context in a probe subprocess. Only when none starts are the
renderer tests skipped, with the reason printed.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = (
    "from scenarios.visual import CameraModel, SceneDescription\n"
    "from sim.render import Renderer\n"
    "import numpy as np\n"
    "d = SceneDescription((), CameraModel(1.0, X_WC=np.eye(4)))\n"
    "r = Renderer(d, 8, 8); r.render(np.zeros((0, 4, 4))); r.close()\n"
)


def _probe(backend: str) -> str | None:
    """None when ``backend`` renders a frame in a fresh process, else its error."""
    env = {**os.environ, "SURGISIM_GL": backend}
    env.pop("PYOPENGL_PLATFORM", None)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120
    )
    if out.returncode == 0:
        return None
    return (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1]


def _choose_backend() -> tuple[str | None, str]:
    chosen = os.environ.get("SURGISIM_GL")
    if chosen:
        return chosen, ""
    errors = []
    for backend in ("egl", "osmesa"):
        error = _probe(backend)
        if error is None:
            return backend, ""
        errors.append(f"{backend}: {error}")
    return None, "; ".join(errors)


_BACKEND, _WHY_NOT = _choose_backend()
if _BACKEND is not None and "OpenGL" not in sys.modules:
    os.environ["SURGISIM_GL"] = _BACKEND


@pytest.fixture(scope="session")
def gl_backend() -> str:
    """The GL backend the renderer tests use (skips them when none can start)."""
    if _BACKEND is None:
        print(f"\nno GL backend could start, renderer tests skipped: {_WHY_NOT}")
        pytest.skip(
            f"no GL backend could start (install Mesa: libegl-mesa0 libgl1-mesa-dri "
            f"or libosmesa6): {_WHY_NOT}"
        )
    return _BACKEND


@pytest.fixture(scope="module")
def peg_world():
    """The standard peg-transfer scene, settled for 50 ms (module-scoped: read only)."""
    from sim.world.scripted import peg_transfer_scene
    from sim.world.world import World

    world = World(peg_transfer_scene())
    world.step(50)
    yield world
    world.close()


@pytest.fixture(scope="module")
def peg_scene(peg_world):
    """``(description, X_WN)`` of the peg-transfer world."""
    from sim.world.visuals import camera_model, describe_scene, node_poses

    description = describe_scene(peg_world, camera_model(peg_world), "peg-transfer")
    return description, node_poses(peg_world, description)


@pytest.fixture(scope="module")
def renderer(gl_backend, peg_scene):
    """A 640x480 renderer of the peg-transfer scene."""
    from sim.render import Renderer

    r = Renderer(peg_scene[0], 640, 480)
    yield r
    r.close()
