"""The trainer's window: GLFW, on the main thread, showing frames and taking input.

GLFW wants its window made, its events polled and its buffers swapped on the main
thread; everything here runs there. The window has its own OpenGL 3.3 core context and
does little with it: the endoscope image (rendered by :class:`sim.render.Renderer` on its
own GL thread and context) arrives as an RGB array and becomes a texture, letterboxed to
the window; the overlay (:mod:`sim.view.hud`) is a second, RGBA texture blended over the
whole window and re-uploaded only when it changed. Input callbacks only queue
:class:`InputEvent` s, which the viewer takes with :meth:`Window.poll`.

The context is GLX with the ``glfw`` backend and EGL with the ``egl`` backend (PyOpenGL
binds one platform per process, and the renderer's backend decides it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.render.errors import RenderError

_VERTEX = """
#version 330 core
out vec2 v_uv;
uniform vec4 u_rect;  // x0, y0, x1, y1 in clip space
void main() {
    vec2 corner = vec2(gl_VertexID & 1, gl_VertexID >> 1);
    v_uv = vec2(corner.x, 1.0 - corner.y);  // images arrive top row first
    gl_Position = vec4(mix(u_rect.xy, u_rect.zw, corner), 0.0, 1.0);
}
"""
_FRAGMENT = """
#version 330 core
in vec2 v_uv;
out vec4 colour;
uniform sampler2D u_image;
void main() { colour = texture(u_image, v_uv); }
"""


@dataclass(frozen=True)
class InputEvent:
    """One input event: ``kind`` is ``key`` (``name``, ``pressed``), ``button``
    (``name`` left/right/middle, ``pressed``), ``move`` (``x``, ``y`` in pixels of the
    window, top-left origin), ``scroll`` (``y`` notches), ``enter`` (``pressed``: the
    pointer came in, else it left) or ``close``."""

    kind: str
    name: str = ""
    pressed: bool = False
    x: float = 0.0
    y: float = 0.0


def _glfw():
    try:
        import glfw
    except ImportError:
        raise RenderError(
            "the desktop window needs GLFW: pip install 'surgisim[window]'."
        ) from None
    if not glfw.init():
        raise RenderError(
            "GLFW could not initialise: no display. Set DISPLAY (or run under xvfb-run); "
            "for pictures without a window use surgisim render or run --video."
        )
    return glfw


class Window:
    """A GLFW window showing an image and an overlay (see the module docstring).

    Args:
        width, height: initial size (screen pixels).
        title: the window's title.
        egl: make the context through EGL (the ``egl`` backend) instead of GLX.
    """

    def __init__(self, width: int, height: int, title: str = "surgisim", egl: bool = False):
        glfw = self._glfw = _glfw()
        glfw.default_window_hints()
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        if egl:
            glfw.window_hint(glfw.CONTEXT_CREATION_API, glfw.EGL_CONTEXT_API)
        self.window = glfw.create_window(int(width), int(height), title, None, None)
        if not self.window:
            raise RenderError(
                "GLFW could not open an OpenGL 3.3 window; check the display's GL driver "
                "(Mesa: libgl1-mesa-dri)."
            )
        glfw.make_context_current(self.window)
        glfw.swap_interval(0)  # the viewer paces itself
        from OpenGL import GL

        self.GL = GL
        self.events: list[InputEvent] = []
        self._program = self._compile()
        self._rect = GL.glGetUniformLocation(self._program, "u_rect")
        self._vao = GL.glGenVertexArrays(1)
        from sim.render.overlay import image_texture

        self._textures = [image_texture(GL) for _ in range(2)]
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        self._sizes: list[tuple[int, int] | None] = [None, None]
        self._frame_aspect = width / height
        self._has_overlay = False
        self._install_callbacks()

    def _compile(self) -> int:
        from sim.render.gl_scene import compile_program

        return compile_program(self.GL, _VERTEX, _FRAGMENT, "for the window")

    # ---- input ---------------------------------------------------------------------------
    def _install_callbacks(self) -> None:
        glfw, add = self._glfw, self.events.append
        buttons = {
            glfw.MOUSE_BUTTON_LEFT: "left",
            glfw.MOUSE_BUTTON_RIGHT: "right",
            glfw.MOUSE_BUTTON_MIDDLE: "middle",
        }
        keys = {
            glfw.KEY_SPACE: "space", glfw.KEY_TAB: "tab", glfw.KEY_ESCAPE: "escape",
            glfw.KEY_F1: "f1", glfw.KEY_ENTER: "enter",
        }  # fmt: skip

        def key_name(key: int, scancode: int) -> str:
            if key in keys:
                return keys[key]
            name = glfw.get_key_name(key, scancode)
            return name.lower() if name else ""

        def on_key(_w, key, scancode, action, _mods):
            if action in (glfw.PRESS, glfw.RELEASE):
                add(InputEvent("key", key_name(key, scancode), action == glfw.PRESS))

        def on_button(_w, button, action, _mods):
            if button in buttons:
                add(InputEvent("button", buttons[button], action == glfw.PRESS))

        def on_move(_w, x, y):
            add(InputEvent("move", x=float(x), y=float(y)))

        def on_scroll(_w, _dx, dy):
            add(InputEvent("scroll", y=float(dy)))

        def on_enter(_w, entered):
            add(InputEvent("enter", pressed=bool(entered)))

        self._callbacks = (on_key, on_button, on_move, on_scroll, on_enter)  # keep them alive
        glfw.set_key_callback(self.window, on_key)
        glfw.set_mouse_button_callback(self.window, on_button)
        glfw.set_cursor_pos_callback(self.window, on_move)
        glfw.set_scroll_callback(self.window, on_scroll)
        glfw.set_cursor_enter_callback(self.window, on_enter)

    def poll(self) -> list[InputEvent]:
        """Process the window system's events; the input events since the last call."""
        self._glfw.poll_events()
        out, self.events[:] = list(self.events), []
        if self._glfw.window_should_close(self.window):
            out.append(InputEvent("close"))
        return out

    def gamepad(self) -> tuple[list[float], list[int]] | None:
        """The first connected gamepad's (axes, buttons) in GLFW's gamepad layout, or None."""
        glfw = self._glfw
        for jid in range(glfw.JOYSTICK_1, glfw.JOYSTICK_LAST + 1):
            if glfw.joystick_is_gamepad(jid):
                state = glfw.get_gamepad_state(jid)
                if state:
                    return list(state.axes), list(state.buttons)
        return None

    @property
    def size(self) -> tuple[int, int]:
        """The window's framebuffer size (pixels)."""
        w, h = self._glfw.get_framebuffer_size(self.window)
        return int(w), int(h)

    @property
    def image_rect(self) -> tuple[float, float, float, float]:
        """Where the image is drawn, in window pixels (x0, y0, width, height; top-left
        origin): letterboxed to keep the image's aspect."""
        w, h = self.size
        if w <= 0 or h <= 0:
            return 0.0, 0.0, 1.0, 1.0
        aspect = self._frame_aspect
        if w / h > aspect:
            iw, ih = h * aspect, float(h)
        else:
            iw, ih = float(w), w / aspect
        return (w - iw) / 2, (h - ih) / 2, iw, ih

    # ---- output --------------------------------------------------------------------------
    def _upload(self, index: int, image: np.ndarray) -> None:
        GL = self.GL
        image = np.ascontiguousarray(image)
        h, w, channels = image.shape
        fmt = GL.GL_RGB if channels == 3 else GL.GL_RGBA
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._textures[index])
        if self._sizes[index] != (w, h, channels):
            GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, fmt, w, h, 0, fmt, GL.GL_UNSIGNED_BYTE, image)
            self._sizes[index] = (w, h, channels)
        else:
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, fmt, GL.GL_UNSIGNED_BYTE, image)

    def show(self, frame: np.ndarray | None = None, overlay: np.ndarray | None = None) -> None:
        """Draw the latest frame (RGB, top row first; None: the previous one) under the
        overlay (RGBA, the window's size; None: the previous one), and swap."""
        GL = self.GL
        if frame is not None:
            self._frame_aspect = frame.shape[1] / frame.shape[0]
            self._upload(0, frame)
        if overlay is not None:
            self._upload(1, overlay)
            self._has_overlay = True
        w, h = self.size
        GL.glViewport(0, 0, w, h)
        GL.glClearColor(0.0, 0.0, 0.0, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT)
        GL.glUseProgram(self._program)
        GL.glBindVertexArray(self._vao)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        if self._sizes[0] is not None:
            x0, y0, iw, ih = self.image_rect
            left, right = 2 * x0 / w - 1, 2 * (x0 + iw) / w - 1
            top, bottom = 1 - 2 * y0 / h, 1 - 2 * (y0 + ih) / h
            GL.glUniform4f(self._rect, left, bottom, right, top)
            GL.glBindTexture(GL.GL_TEXTURE_2D, self._textures[0])
            GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
        if self._has_overlay:
            GL.glEnable(GL.GL_BLEND)
            GL.glBlendFunc(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA)
            GL.glUniform4f(self._rect, -1.0, -1.0, 1.0, 1.0)
            GL.glBindTexture(GL.GL_TEXTURE_2D, self._textures[1])
            GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
            GL.glDisable(GL.GL_BLEND)
        self._glfw.swap_buffers(self.window)

    def read(self) -> np.ndarray:
        """What was last shown, (H, W, 3) uint8 top row first (the front buffer)."""
        GL = self.GL
        w, h = self.size
        GL.glReadBuffer(GL.GL_FRONT)
        pixels = GL.glReadPixels(0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
        GL.glReadBuffer(GL.GL_BACK)
        return np.frombuffer(pixels, dtype=np.uint8).reshape(h, w, 3)[::-1].copy()

    def close(self) -> None:
        """Free the GL objects and destroy the window (idempotent)."""
        if self.window is None:
            return
        GL = self.GL
        try:
            GL.glDeleteTextures(2, self._textures)
            GL.glDeleteVertexArrays(1, [self._vao])
            GL.glDeleteProgram(self._program)
        finally:
            self._glfw.destroy_window(self.window)
            self.window = None
