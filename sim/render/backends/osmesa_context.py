"""Mesa's off-screen software contexts (OSMesa): the fallback where EGL is missing.

An OpenGL 3.3 core context made current on a small client-memory buffer; drawing goes to
framebuffer objects, the buffer only satisfies ``OSMesaMakeCurrent``.
"""

from __future__ import annotations

from sim.render.backends import install_hint
from sim.render.errors import RenderError


class OSMesaContext:
    """An OpenGL 3.3 core OSMesa context, current on the creating thread."""

    def __init__(self, width: int, height: int, visible: bool = False) -> None:
        from OpenGL import GL, arrays, osmesa

        if visible:
            raise RenderError(
                "the osmesa backend is off-screen and cannot show a window; use SURGISIM_GL=glfw."
            )
        self._osmesa, self._GL = osmesa, GL
        attribs = [
            osmesa.OSMESA_FORMAT, osmesa.OSMESA_RGBA,
            osmesa.OSMESA_DEPTH_BITS, 24,
            osmesa.OSMESA_PROFILE, osmesa.OSMESA_CORE_PROFILE,
            osmesa.OSMESA_CONTEXT_MAJOR_VERSION, 3,
            osmesa.OSMESA_CONTEXT_MINOR_VERSION, 3,
            0,
        ]  # fmt: skip
        try:
            self.context = osmesa.OSMesaCreateContextAttribs(attribs, None)
        except Exception as exc:  # PyOpenGL raises NullFunctionError, OSError, ...
            raise RenderError(
                f"OSMesa backend: could not create a context ({exc}). Install "
                f"{install_hint('osmesa')}."
            ) from None
        if not self.context:
            raise RenderError(
                "OSMesa backend: OSMesaCreateContextAttribs refused an OpenGL 3.3 core context; "
                f"install a Mesa with gallium OSMesa ({install_hint('osmesa')})."
            )
        self._buffer = arrays.GLubyteArray.zeros((1, 1, 4))
        self.make_current()

    def make_current(self) -> None:
        """Make this context current on the calling thread."""
        if not self._osmesa.OSMesaMakeCurrent(
            self.context, self._buffer, self._GL.GL_UNSIGNED_BYTE, 1, 1
        ):
            raise RenderError("OSMesa backend: OSMesaMakeCurrent failed.")

    def present(self) -> None:
        """Nothing to show: OSMesa is off-screen."""

    def free(self) -> None:
        """Release the context."""
        self._osmesa.OSMesaDestroyContext(self.context)


def create_context(width: int, height: int, visible: bool = False) -> OSMesaContext:
    """A current OSMesa context."""
    return OSMesaContext(width, height, visible)
