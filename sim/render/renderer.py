"""The endoscope view: a scene description drawn with OpenGL, one pose array per frame.

:class:`Renderer` takes a :class:`~scenarios.visual.SceneDescription` once (meshes go to
the GPU, or to Mesa's llvmpipe on a CPU) and then, per frame, the node poses ``X_WN``
(N, 4, 4) and optionally the camera pose; it returns an RGB image (and a depth image in
metres when asked). It imports no pybullet: the same code runs in the simulator, in the
live server, or in a viewer process that gets its scene over the bus.

The look is an endoscope's: the camera is the scope with its field of view; the only
light comes from the scope tip and falls off with the square of distance; materials
follow their kind (wet tissue, plastic rings and pegs, matte board, steel instrument
wrist and jaws, black shaft); the instruments cast shadows from the scope's light on what
lies behind them (a cue surgeons use to judge depth); the image is anti-aliased (MSAA)
and slightly vignetted. The scope arm itself is never drawn (the camera sits in its tip).

Example::

    with Renderer(description, 640, 480) as r:
        rgb = r.render(X_WN)                 # (480, 640, 3) uint8
        rgb, depth_m = r.render(X_WN, depth=True)
        left, right = r.render_stereo(X_WN)  # parallel eyes, 5 mm apart
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from scenarios.visual import SceneDescription, check_poses
from sim.render.backends import backend_name, use_backend
from sim.render.camera import STEREO_BASELINE_M, EndoscopeLight, linear_depth, stereo_eyes
from sim.render.errors import RenderError
from sim.render.executor import GLThread
from sim.render.gl_scene import FrameSettings, GLScene

#: How much wider than the camera's view the light's shadow map looks.
SHADOW_MARGIN = 1.2

#: Largest image side the renderer accepts (pixels); GL drivers allow 8192 or more.
MAX_SIZE_PX = 8192

T = TypeVar("T")


@dataclass(frozen=True)
class RenderView:
    """One view drawn by :meth:`Renderer.render_views` into a framebuffer its caller owns
    (e.g. an OpenXR swapchain image wrapped in a framebuffer object).

    Attributes:
        X_WE: the eye's pose in the world (4x4, m), camera convention (``z`` forward, ``x``
            right, ``y`` down, as frame ``C``).
        projection: OpenGL projection matrix (4x4, row-major), e.g. an asymmetric
            head-mounted display frustum.
        framebuffer: the GL framebuffer object to draw into (current context's name).
        viewport: ``(x, y, width, height)`` in that framebuffer (pixels); the image is
            scaled when it differs from the renderer's size.
    """

    X_WE: np.ndarray
    projection: np.ndarray
    framebuffer: int
    viewport: tuple[int, int, int, int]


def _release(thread: GLThread, scene_box: list) -> None:
    try:
        if scene_box:
            thread.call(scene_box.pop().free)
    finally:
        thread.shutdown()


class Renderer:
    """Draws a scene description from the endoscope (or a fixed camera).

    Args:
        description: the scene (nodes, meshes, camera).
        width, height: image size (pixels). The vertical field of view is the camera's;
            the horizontal one follows from ``width / height``.
        samples: MSAA samples per pixel (anti-aliasing; capped at what GL offers; 0 off).
            None: 4 on a GPU, 0 on a CPU rasteriser such as llvmpipe, where MSAA doubles
            the frame time (see :mod:`sim.render.gl_scene`).
        shadow_size: shadow-map side (texels); 0 turns shadows off. None: 2048 on a GPU,
            512 on a CPU rasteriser.
        light: the scope's light (position on the scope, exposure, fall-off).
        vignette: darkening of the image corners, 0 (none) to 1.
        backend: ``"egl"``, ``"glfw"`` or ``"osmesa"``; default ``SURGISIM_GL`` or the
            platform default (see :mod:`sim.render.backends`).
        visible: show a window (``glfw`` only); the frame is copied into it after each
            :meth:`render`.

    Raises:
        RenderError: no usable GL backend (the message says what to install), a bad size.
    """

    def __init__(
        self,
        description: SceneDescription,
        width: int = 640,
        height: int = 480,
        *,
        samples: int | None = None,
        shadow_size: int | None = None,
        light: EndoscopeLight | None = None,
        vignette: float = 0.0,
        backend: str | None = None,
        visible: bool = False,
    ) -> None:
        if not isinstance(description, SceneDescription):
            raise RenderError(
                f"Renderer takes a SceneDescription, got {type(description).__name__}; build one "
                "with sim.world.visuals.describe_scene or SceneDescription.from_dict."
            )
        for name, value in (("width", width), ("height", height)):
            if not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_SIZE_PX:
                raise RenderError(
                    f"Renderer {name} must be an integer in 1..{MAX_SIZE_PX} pixels, got {value!r}."
                )
        if not 0.0 <= vignette <= 1.0:
            raise RenderError(f"Renderer vignette must lie in [0, 1], got {vignette}.")
        self.description = description
        self.width, self.height = int(width), int(height)
        self.backend = backend_name(backend)
        module = use_backend(self.backend)
        camera = description.camera
        self.light = light or EndoscopeLight()
        self.vignette = float(vignette)
        self.shadows = shadow_size is None or shadow_size > 0
        self._settings = FrameSettings(
            camera.fov_y_rad,
            camera.near_m,
            camera.far_m,
            self.light,
            self.vignette,
            # the light sees what the camera sees, with a margin (it sits off the axis)
            shadow_fov_rad=2.0 * math.atan(SHADOW_MARGIN * math.tan(camera.fov_y_rad / 2)),
            shadow_aspect=width / height,
            shadow_near_m=camera.near_m,
            shadows=self.shadows,
        )
        # the scope does not see itself: its arm's links are neither drawn nor cast shadows
        arm = camera.arm
        self._drawn = np.array(
            [arm is None or not node.name.startswith(f"{arm}/") for node in description.nodes],
            dtype=bool,
        )
        self._thread = GLThread()
        self._box: list[GLScene] = []
        try:
            scene = self._thread.call(
                GLScene,
                module,
                description,
                self.width,
                self.height,
                samples,
                shadow_size if self.shadows else 1,
                visible,
            )
        except RenderError:
            self._thread.shutdown()
            raise
        except Exception as exc:  # driver failures surface as many PyOpenGL/ctypes types
            self._thread.shutdown()
            from sim.render.backends import install_hint

            raise RenderError(
                f"the {self.backend!r} GL backend could not start a context: "
                f"{type(exc).__name__}: {exc}. Install {install_hint(self.backend)}; or "
                "choose another backend with SURGISIM_GL (egl, glfw, osmesa)."
            ) from None
        self._box.append(scene)
        self.samples, self.shadow_size = scene.samples, scene.shadow_size if self.shadows else 0
        self.gl_version, self.gl_renderer = scene.version, scene.gl_renderer
        self._finalizer = weakref.finalize(self, _release, self._thread, self._box)

    # ---- frames ----------------------------------------------------------------------------
    def _scene(self) -> GLScene:
        if not self._box:
            raise RenderError("this Renderer is closed; create a new one.")
        return self._box[0]

    def _mask(self, hidden: Iterable[str]) -> np.ndarray:
        drawn = self._drawn
        hidden = list(hidden)
        if hidden:
            drawn = drawn.copy()
            for name in hidden:
                drawn[self.description.index(name)] = False
        return drawn

    def _camera(self, X_WN: np.ndarray, X_WC) -> np.ndarray:
        if X_WC is None:
            X_WC = self.description.camera_pose(X_WN)
        X = np.asarray(X_WC, dtype=np.float64)
        if X.shape != (4, 4) or not np.isfinite(X).all():
            raise RenderError(f"X_WC must be a finite 4x4 camera pose, got shape {X.shape}.")
        return X

    def _frames(self, X_WN, eyes, X_WC, hidden, depth):
        scene = self._scene()
        return self._thread.call(
            scene.draw, X_WN, self._mask(hidden), eyes, X_WC, self._settings, depth
        )

    def render(
        self, X_WN, X_WC=None, *, depth: bool = False, hidden: Iterable[str] = ()
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """One frame.

        Args:
            X_WN: node poses (N, 4, 4), in description order (m).
            X_WC: the camera pose (4x4); default the scope node's pose (or the fixed
                camera's).
            depth: also return the depth image.
            hidden: names of nodes not to draw this frame.

        Returns:
            (H, W, 3) uint8 RGB, top row first; with ``depth=True`` also (H, W) float32
            distances along the view axis (m), ``inf`` where nothing was drawn.
        """
        X_WN = check_poses(X_WN, self.description)
        X = self._camera(X_WN, X_WC)
        [(rgb, window_depth)] = self._frames(X_WN, [X], X, hidden, depth)
        self._present()
        if not depth:
            return rgb
        camera = self.description.camera
        return rgb, linear_depth(window_depth, camera.near_m, camera.far_m)

    def render_stereo(
        self,
        X_WN,
        X_WC=None,
        baseline_m: float = STEREO_BASELINE_M,
        *,
        depth: bool = False,
        hidden: Iterable[str] = (),
    ):
        """The left and right images of a stereo endoscope centred at ``X_WC``.

        The two eyes are parallel, ``baseline_m`` apart along the camera's x axis (default
        5 mm, see :mod:`sim.render.camera`); the light stays at the scope centre, so the
        shadow map is made once for both.

        Returns:
            ``(left, right)`` RGB images; with ``depth=True``, ``((left, left_depth_m),
            (right, right_depth_m))``.
        """
        if not 0.0 <= baseline_m < 0.1:
            raise RenderError(
                f"stereo baseline_m must lie in [0, 0.1) m (endoscopes: ~0.005), got {baseline_m}."
            )
        X_WN = check_poses(X_WN, self.description)
        X = self._camera(X_WN, X_WC)
        eyes = list(stereo_eyes(X, baseline_m))
        frames = self._frames(X_WN, eyes, X, hidden, depth)
        if not depth:
            return frames[0][0], frames[1][0]
        camera = self.description.camera
        return tuple(
            (rgb, linear_depth(window, camera.near_m, camera.far_m)) for rgb, window in frames
        )

    def render_views(
        self,
        X_WN,
        views: Sequence[RenderView],
        X_WC=None,
        *,
        hidden: Iterable[str] = (),
        on_view: Callable[[int, str], None] | None = None,
    ) -> None:
        """Draw the scene for each view straight into its framebuffer, without reading
        anything back: the path of a headset client that renders into swapchain images.

        The light (and its shadow map, made once) sits on the camera ``X_WC`` (default the
        scope's pose), whatever the views' eye poses. ``on_view(i, "start" | "end")`` is
        called on the GL thread around view ``i`` (GPU timer queries, for instance). The
        framebuffers must belong to this renderer's context: create them through
        :meth:`call`.
        """
        X_WN = check_poses(X_WN, self.description)
        X = self._camera(X_WN, X_WC)
        for view in views:
            P = np.asarray(view.projection, dtype=np.float64)
            if P.shape != (4, 4) or not np.isfinite(P).all():
                raise RenderError(f"RenderView projection must be a finite 4x4, got {P.shape}.")
        scene = self._scene()
        self._thread.call(
            scene.draw_views, X_WN, self._mask(hidden), list(views), X, self._settings, on_view
        )

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` on the renderer's GL thread, where its context is
        current, and return the result: for GL or OpenXR calls that need that context
        (swapchain images, framebuffers around them, ``xrEndFrame``)."""
        self._scene()
        return self._thread.call(fn, *args, **kwargs)

    @property
    def context(self):
        """The backend's context object (for ``egl``: ``display``, ``config`` and
        ``context``; for ``glfw``: ``window``), e.g. for an OpenXR graphics binding."""
        return self._scene().context

    def _present(self) -> None:
        scene = self._scene()
        if getattr(scene.context, "visible", False):
            self._thread.call(scene.present)

    # ---- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Free the GL objects and the context, end the GL thread (idempotent)."""
        self._finalizer()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
