"""GLFW contexts: a window on a display, hidden when rendering off-screen.

Needs the ``glfw`` package (``pip install 'surgisim[window]'``, which ships the GLFW
library) and a display (``DISPLAY``; headless machines can use ``xvfb-run``). The context is
OpenGL 3.3 core; drawing goes to framebuffer objects, and :meth:`GLFWContext.present`
copies the last frame into a visible window.
"""

from __future__ import annotations

import threading

from sim.render.backends import install_hint
from sim.render.errors import RenderError

_init_lock = threading.Lock()


def _glfw():
    try:
        import glfw
    except ImportError:
        raise RenderError(
            f"the glfw backend needs the glfw package: {install_hint('glfw')}."
        ) from None
    with _init_lock:
        if not glfw.init():
            raise RenderError(
                "GLFW could not initialise (no display?). Set DISPLAY, run under xvfb-run, or "
                "choose SURGISIM_GL=egl for headless rendering."
            )
    return glfw


class GLFWContext:
    """An OpenGL 3.3 core context of a GLFW window, current on the creating thread."""

    def __init__(self, width: int, height: int, visible: bool = False) -> None:
        glfw = self._glfw = _glfw()
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        glfw.window_hint(glfw.VISIBLE, bool(visible))
        glfw.window_hint(glfw.DOUBLEBUFFER, True)
        self.window = glfw.create_window(width, height, "surgisim", None, None)
        if not self.window:
            raise RenderError(
                "GLFW could not open an OpenGL 3.3 core window; check the display's GL driver "
                f"({install_hint('glfw')})."
            )
        self.visible = bool(visible)
        self.make_current()
        glfw.swap_interval(0)

    def make_current(self) -> None:
        """Make this context current on the calling thread."""
        self._glfw.make_context_current(self.window)

    @property
    def size(self) -> tuple[int, int]:
        """The window's framebuffer size (pixels)."""
        return self._glfw.get_framebuffer_size(self.window)

    def present(self) -> None:
        """Show the default framebuffer (after the renderer blitted into it)."""
        if self.visible:
            self._glfw.swap_buffers(self.window)
            self._glfw.poll_events()

    def free(self) -> None:
        """Close the window."""
        self._glfw.destroy_window(self.window)


def create_context(width: int, height: int, visible: bool = False) -> GLFWContext:
    """A current GLFW context (a hidden window unless ``visible``)."""
    return GLFWContext(width, height, visible)
