"""An RGBA image blended over a framebuffer the caller owns: the trainer's overlay in a
headset's swapchain images (:mod:`sim.xr.hud`).

The image is uploaded once as a texture (again only when it changes) and drawn as one
textured quad per target, so a frame costs a viewport, a bind and four vertices per eye,
whatever the text. Colours go in as they are (``GL_FRAMEBUFFER_SRGB`` off), like the
scene's display-encoded bytes (:meth:`sim.render.gl_scene.GLScene.draw_views`), with the
straight alpha Pillow draws: ``dst = src * a + dst * (1 - a)``, the target's alpha kept.
All calls on the thread that owns the GL context (:meth:`sim.render.Renderer.call`).
"""

from __future__ import annotations

import numpy as np

from sim.render.gl_scene import compile_program

_VERTEX = """
#version 330 core
out vec2 v_uv;
void main() {
    vec2 c = vec2(float(gl_VertexID & 1), float(gl_VertexID >> 1));  // strip: 00 10 01 11
    v_uv = vec2(c.x, 1.0 - c.y);  // the image's first row is its top
    gl_Position = vec4(c * 2.0 - 1.0, 0.0, 1.0);
}
"""
_FRAGMENT = """
#version 330 core
in vec2 v_uv;
uniform sampler2D u_image;
out vec4 colour;
void main() { colour = texture(u_image, v_uv); }
"""


def image_texture(GL) -> int:
    """A new 2D texture for showing an image: linear filtering, clamped edges (current
    context)."""
    texture = int(GL.glGenTextures(1))
    GL.glBindTexture(GL.GL_TEXTURE_2D, texture)
    for name, value in (
        (GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR),
        (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
        (GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE),
        (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE),
    ):
        GL.glTexParameteri(GL.GL_TEXTURE_2D, name, value)
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    return texture


class OverlayQuad:
    """One RGBA texture and the quad that blends it into a viewport (see the module
    docstring). Create, :meth:`upload` and :meth:`draw` on the GL thread."""

    def __init__(self) -> None:
        from OpenGL import GL

        self.GL = GL
        self._program = compile_program(GL, _VERTEX, _FRAGMENT, "overlay")
        self._vao = int(GL.glGenVertexArrays(1))
        self._texture = image_texture(GL)
        self.size: tuple[int, int] | None = None  # (w, h) of the uploaded image

    def upload(self, rgba: np.ndarray) -> None:
        """Replace the image: (h, w, 4) uint8, first row the top."""
        GL = self.GL
        image = np.ascontiguousarray(rgba, dtype=np.uint8)
        h, w = image.shape[:2]
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._texture)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        if self.size == (w, h):
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_RGBA,
                               GL.GL_UNSIGNED_BYTE, image)  # fmt: skip
        else:
            GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, w, h, 0, GL.GL_RGBA,
                            GL.GL_UNSIGNED_BYTE, image)  # fmt: skip
            self.size = (w, h)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)

    def draw(self, framebuffer: int, rect: tuple[int, int, int, int]) -> None:
        """Blend the image into ``rect`` = ``(x, y, w, h)`` of ``framebuffer`` (pixels,
        GL's origin: the bottom left); nothing before the first :meth:`upload`."""
        if self.size is None:
            return
        GL = self.GL
        depth = GL.glIsEnabled(GL.GL_DEPTH_TEST)
        cull = GL.glIsEnabled(GL.GL_CULL_FACE)
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glDisable(GL.GL_FRAMEBUFFER_SRGB)
        GL.glEnable(GL.GL_BLEND)
        GL.glBlendFuncSeparate(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA, GL.GL_ZERO, GL.GL_ONE)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, int(framebuffer))
        GL.glViewport(*(int(v) for v in rect))
        GL.glUseProgram(self._program)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._texture)
        GL.glUniform1i(GL.glGetUniformLocation(self._program, "u_image"), 0)
        GL.glBindVertexArray(self._vao)
        GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
        GL.glBindVertexArray(0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        GL.glUseProgram(0)
        GL.glDisable(GL.GL_BLEND)
        if depth:
            GL.glEnable(GL.GL_DEPTH_TEST)
        if cull:
            GL.glEnable(GL.GL_CULL_FACE)

    def free(self) -> None:
        """Delete the texture, the vertex array and the program."""
        GL = self.GL
        GL.glDeleteTextures(1, [self._texture])
        GL.glDeleteVertexArrays(1, [self._vao])
        GL.glDeleteProgram(self._program)
