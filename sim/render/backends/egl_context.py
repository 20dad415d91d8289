"""Headless EGL contexts: a GPU's EGL device, or Mesa's software (llvmpipe) device.

The display is found the way dm_control's EGL backend does: enumerate EGL devices
(``EGL_EXT_device_enumeration``) and take ``SURGISIM_EGL_DEVICE`` (default 0); without
devices, Mesa's surfaceless platform; last, the default display. The context is OpenGL
3.3 core and draws into framebuffer objects, so it needs no surface when the driver
offers ``EGL_KHR_surfaceless_context`` (else a 1x1 pbuffer is made current).
"""

from __future__ import annotations

import ctypes
import os
from functools import cache

from sim.render.backends import install_hint
from sim.render.errors import RenderError

#: EGL_PLATFORM_SURFACELESS_MESA (EGL_MESA_platform_surfaceless; PyOpenGL lacks the name)
PLATFORM_SURFACELESS_MESA = 0x31DD


def _fail(what: str) -> RenderError:
    return RenderError(
        f"EGL backend: {what}. Install {install_hint('egl')}; or try SURGISIM_GL=osmesa."
    )


def _initialise(display) -> bool:
    from OpenGL import EGL

    if not display:
        return False
    major, minor = EGL.EGLint(), EGL.EGLint()
    try:
        return bool(EGL.eglInitialize(display, ctypes.pointer(major), ctypes.pointer(minor)))
    except EGL.EGLError:
        return False


#: the process that initialised EGL (see :func:`display`)
_initialised_by: list[int] = []


def display():
    """The process's EGL display (initialised once; shared by every context).

    Raises:
        RenderError: this process was forked from one that had initialised EGL. Mesa's
            EGL state comes along with the fork, without the threads behind it, and the
            child's first frame waited for ever (a gymnasium ``AsyncVectorEnv`` made
            after the parent had rendered hung in ``render()``): said, not hung.
    """
    if _initialised_by and _initialised_by[0] != os.getpid():
        raise RenderError(
            f"EGL was initialised in process {_initialised_by[0]} before this process was "
            "forked from it, and Mesa's EGL hangs in such a child. Start the child with "
            "spawn or forkserver instead of fork (gymnasium: gym.make_vec(..., "
            "vectorization_mode='async', vector_kwargs={'context': 'spawn'}), or create it "
            "before the parent renders."
        )
    dpy = _display()
    if not _initialised_by:
        _initialised_by.append(os.getpid())
    return dpy


@cache
def _display():
    """The EGL display, found and initialised (once per process)."""
    from OpenGL import EGL

    candidates = []
    try:
        from OpenGL.EGL.EXT.device_enumeration import eglQueryDevicesEXT
        from OpenGL.EGL.EXT.platform_base import eglGetPlatformDisplayEXT
        from OpenGL.EGL.EXT.platform_device import EGL_PLATFORM_DEVICE_EXT

        devices = (EGL.EGLDeviceEXT * 16)()
        count = EGL.EGLint()
        if eglQueryDevicesEXT(16, devices, ctypes.pointer(count)) and count.value:
            wanted = int(os.environ.get("SURGISIM_EGL_DEVICE", "0"))
            if not 0 <= wanted < count.value:
                raise _fail(
                    f"SURGISIM_EGL_DEVICE={wanted} but there are {count.value} EGL devices "
                    f"(0..{count.value - 1})"
                )
            order = [wanted] + [i for i in range(count.value) if i != wanted]
            for i in order:
                candidates.append(
                    lambda i=i: eglGetPlatformDisplayEXT(EGL_PLATFORM_DEVICE_EXT, devices[i], None)
                )
        candidates.append(
            lambda: eglGetPlatformDisplayEXT(
                PLATFORM_SURFACELESS_MESA, EGL.EGL_DEFAULT_DISPLAY, None
            )
        )
    except (AttributeError, ImportError, EGL.EGLError):
        pass  # no platform extensions: only the default display below
    candidates.append(lambda: EGL.eglGetDisplay(EGL.EGL_DEFAULT_DISPLAY))
    for make in candidates:
        try:
            dpy = make()
        except EGL.EGLError:
            continue
        if _initialise(dpy):
            return dpy
    raise _fail("no EGL display could be initialised (no EGL device, no Mesa surfaceless)")


class EGLContext:
    """An OpenGL 3.3 core context on the EGL display, current on the creating thread."""

    def __init__(self, width: int, height: int, visible: bool = False) -> None:
        from OpenGL import EGL

        if visible:
            raise RenderError(
                "the egl backend is headless and cannot show a window; use SURGISIM_GL=glfw."
            )
        self._EGL = EGL
        self.display = dpy = display()
        if not EGL.eglBindAPI(EGL.EGL_OPENGL_API):
            raise _fail("the display offers no desktop OpenGL API")
        extensions = EGL.eglQueryString(dpy, EGL.EGL_EXTENSIONS) or b""
        surfaceless = b"EGL_KHR_surfaceless_context" in extensions
        base = [
            EGL.EGL_RED_SIZE, 8, EGL.EGL_GREEN_SIZE, 8, EGL.EGL_BLUE_SIZE, 8,
            EGL.EGL_DEPTH_SIZE, 24, EGL.EGL_RENDERABLE_TYPE, EGL.EGL_OPENGL_BIT,
        ]  # fmt: skip
        config, count = EGL.EGLConfig(), EGL.EGLint()
        for extra in ([EGL.EGL_SURFACE_TYPE, EGL.EGL_PBUFFER_BIT], []):
            attribs = (EGL.EGLint * (len(base) + len(extra) + 1))(*base, *extra, EGL.EGL_NONE)
            ok = EGL.eglChooseConfig(dpy, attribs, ctypes.pointer(config), 1, ctypes.pointer(count))
            if ok and count.value:
                break
        else:
            raise _fail("no EGL config with 8-bit RGB, a 24-bit depth buffer and OpenGL")
        self.config = config  # an OpenXR EGL graphics binding names it
        context_attribs = (EGL.EGLint * 7)(
            EGL.EGL_CONTEXT_MAJOR_VERSION, 3,
            EGL.EGL_CONTEXT_MINOR_VERSION, 3,
            EGL.EGL_CONTEXT_OPENGL_PROFILE_MASK, EGL.EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT,
            EGL.EGL_NONE,
        )  # fmt: skip
        self.context = EGL.eglCreateContext(dpy, config, EGL.EGL_NO_CONTEXT, context_attribs)
        if not self.context:
            raise _fail("eglCreateContext refused an OpenGL 3.3 core context")
        self.surface = EGL.EGL_NO_SURFACE
        if not surfaceless:
            pbuffer = (EGL.EGLint * 5)(EGL.EGL_WIDTH, 1, EGL.EGL_HEIGHT, 1, EGL.EGL_NONE)
            self.surface = EGL.eglCreatePbufferSurface(dpy, config, pbuffer)
        self.make_current()

    def make_current(self) -> None:
        """Make this context current on the calling thread."""
        EGL = self._EGL
        if not EGL.eglMakeCurrent(self.display, self.surface, self.surface, self.context):
            raise _fail("eglMakeCurrent failed")

    def present(self) -> None:
        """Nothing to show: EGL here is headless."""

    def free(self) -> None:
        """Release the context (the display stays for other contexts)."""
        EGL = self._EGL
        EGL.eglMakeCurrent(self.display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, EGL.EGL_NO_CONTEXT)
        if self.surface != EGL.EGL_NO_SURFACE:
            EGL.eglDestroySurface(self.display, self.surface)
        EGL.eglDestroyContext(self.display, self.context)


def create_context(width: int, height: int, visible: bool = False) -> EGLContext:
    """A current EGL context (``width`` and ``height`` are unused: drawing goes to FBOs)."""
    return EGLContext(width, height, visible)
