"""OpenGL backends: which one to use (``SURGISIM_GL``), and creating its context.

- ``egl``: headless EGL through Mesa (llvmpipe on a CPU, or a GPU's EGL device): the
  default when there is no display.
- ``glfw``: a GLFW window (hidden when rendering offscreen): the default with a display.
- ``osmesa``: Mesa's off-screen software renderer, a fallback where EGL is missing.

PyOpenGL binds to one platform per process, chosen by ``PYOPENGL_PLATFORM`` when OpenGL is
first imported, so :func:`use_backend` sets that variable before anything imports
OpenGL, and refuses a backend that the already-imported OpenGL cannot drive.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping

from sim.errors import closest_names
from sim.render.errors import RenderError

#: backend name -> (context module, PYOPENGL_PLATFORM, what to install when it fails)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "egl": (
        "sim.render.backends.egl_context",
        "egl",
        "Mesa's EGL: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri (Debian/Ubuntu), "
        "or a GPU driver with EGL",
    ),
    "glfw": (
        "sim.render.backends.glfw_context",
        "glx",
        "a display and GLFW: pip install 'surgisim[window]' (and libgl1-mesa-dri; "
        "headless: xvfb-run)",
    ),
    "osmesa": (
        "sim.render.backends.osmesa_context",
        "osmesa",
        "Mesa's OSMesa: apt-get install libosmesa6 (Debian/Ubuntu)",
    ),
}

#: PyOpenGL platform class names that each PYOPENGL_PLATFORM value gives
_PLATFORM_CLASSES = {"egl": "EGLPlatform", "glx": "GLXPlatform", "osmesa": "OSMesaPlatform"}


def backend_name(value: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The backend to use: ``value``, else ``SURGISIM_GL``, else ``glfw`` with a display
    (``DISPLAY`` set) and ``egl`` without.

    Raises:
        RenderError: an unknown name (the message lists the valid ones).
    """
    env = os.environ if environ is None else environ
    name = value or env.get("SURGISIM_GL", "").strip().lower()
    if not name:
        return "glfw" if env.get("DISPLAY") else "egl"
    if name not in BACKENDS:
        raise RenderError(
            f"SURGISIM_GL={name!r} is not a GL backend; valid values are {sorted(BACKENDS)} "
            "(egl: headless, glfw: a window, osmesa: software fallback)."
            + closest_names(name, BACKENDS)
        )
    return name


def use_backend(name: str | None = None):
    """Prepare PyOpenGL for backend ``name`` (see :func:`backend_name`) and return the
    module whose ``create_context(width, height, visible)`` makes a context.

    Must run before anything imports OpenGL in this process, or after an import made for
    the same platform.
    """
    name = backend_name(name)
    module, platform, install = BACKENDS[name]
    if name == "glfw" and not os.environ.get("DISPLAY") and os.environ.get("WAYLAND_DISPLAY"):
        platform = "egl"  # GLFW on Wayland makes EGL contexts
    if "OpenGL.platform" in sys.modules:
        current = type(sys.modules["OpenGL.platform"].PLATFORM).__name__
        if current != _PLATFORM_CLASSES[platform]:
            raise RenderError(
                f"OpenGL was already imported in this process for another platform "
                f"({current}); the {name!r} backend needs PYOPENGL_PLATFORM={platform}. "
                "Choose the backend (SURGISIM_GL) before anything imports OpenGL, or use "
                "one backend per process."
            )
    else:
        os.environ["PYOPENGL_PLATFORM"] = platform
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RenderError(
            f"the {name!r} GL backend could not be loaded ({exc}). Install {install}; "
            f"or choose another with SURGISIM_GL (one of {sorted(BACKENDS)})."
        ) from None


def install_hint(name: str) -> str:
    """What to install for backend ``name`` (for error messages)."""
    return BACKENDS[name][2]
