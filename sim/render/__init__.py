"""OpenGL rendering of the endoscope's view. Imports no pybullet, ever: it draws a
:class:`~scenarios.visual.SceneDescription` and per-frame node poses, so it runs in the
simulator, the live server or a viewer process alike.

- :mod:`sim.render.renderer`: :class:`Renderer` (``render``, ``render_stereo``).
- :mod:`sim.render.backends`: ``SURGISIM_GL=egl|glfw|osmesa`` and the contexts.
- :mod:`sim.render.executor`: every GL call on the thread that owns the context.
- :mod:`sim.render.gl_scene`: buffers, framebuffers, the draw passes (GL thread).
- :mod:`sim.render.shaders`, :mod:`sim.render.materials`: the look.
- :mod:`sim.render.camera`: projection, stereo eyes, the scope's light (numpy).
- :mod:`sim.render.snapshot`: images to PNG files.

Nothing heavy is imported here; ``from sim.render import Renderer`` loads the renderer
(OpenGL itself is imported only when a Renderer starts its backend).
"""

from __future__ import annotations

from sim._lazy import lazy_exports

_LAZY = {
    "Renderer": "sim.render.renderer",
    "RenderView": "sim.render.renderer",
    "RenderError": "sim.render.errors",
    "EndoscopeLight": "sim.render.camera",
    "STEREO_BASELINE_M": "sim.render.camera",
    "save_png": "sim.render.snapshot",
}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
