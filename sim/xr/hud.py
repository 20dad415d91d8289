"""The trainer's overlay in the headset: the desktop window's text, as a panel in each eye.

The same bus messages as the desktop trainer (:mod:`sim.view.live`) give the same
:class:`sim.view.hud.HudContent` (step and instruction, timer, running score, warnings,
each instrument's state, a pause, the end result), drawn by the same
:func:`sim.view.hud.draw_hud`, then blended into each eye's swapchain image
(:class:`sim.render.overlay.OverlayQuad`) after the scene: no extra composition layer, so
a read-back capture shows what the trainee sees.

Where the panel sits, and why:

- **Head-locked, in the lower part of the view**, centred: text that moves with the
  head stays readable at any head pose, and the centre of the view (the endoscope
  image's, where the instruments work) stays clear. Its bottom edge is
  :data:`PANEL_MARGIN` of the view above the view's lower edge.
- **Text about 1° high** (:data:`BODY_DEG`, the body line; headset text guidance asks
  for 1-1.5° for comfortable reading), and no line of it (the smaller step line and
  hint too) under :data:`MIN_BODY_PX` pixels, where
  the eye's image is too coarse for 1° to be legible (Monado's simulated headset:
  320x240 per eye, 3.4 px per degree at the scope's 70°, so the panel then grows to
  most of the view's width). With a real headset's ~20-30 px per degree the panel is
  about 38° x 17° (:data:`PANEL_UNITS`: the layout at the desktop's 720-pixel scale).
- **At a finite depth**, not at infinity: each eye's panel is shifted towards the nose
  by ``f * (x_eye / d)`` pixels (``x_eye`` the eye's offset from the head centre, half
  the IPD, from the runtime's views; ``f`` the eye image's focal length in pixels), so
  the eyes converge on it at ``d`` (:data:`PANEL_DEPTH_M`). In ``console`` mode the
  scope's two channels are shown parallel (a point at infinity has no disparity), so a
  scene point ``z`` in front of the scope appears at ``z * IPD / baseline``: with the
  5 mm scope baseline and a 63 mm IPD, 12.6 ``z``; the instruments work 8 cm and more
  from the scope (1 m and more as seen), so 0.8 m puts the panel in front of the scene
  (text behind the scene it covers makes the eyes fight) while staying beyond ~0.5 m,
  where focusing on a near display starts to tire. In ``bedside`` mode the work area is
  ~0.6 m from the eyes (0.5 m ahead, 0.3 m below): the panel sits at 0.5 m.

Cost per frame: the content's :meth:`HudContent.key` is compared each frame; Pillow
draws and the texture is uploaded only when it changes (the timer: ~10 times a second);
each eye then takes one textured quad.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sim.view.hud import HudContent, draw_hud
from sim.view.live import LiveAlerts, LiveState, hud_content

#: The panel's distance from the eyes (m) per mode (see the module docstring).
PANEL_DEPTH_M = {"console": 0.8, "bedside": 0.5}
#: The body text's height (degrees) and its smallest legible size (pixels).
BODY_DEG = 1.0
MIN_BODY_PX = 10.0
#: The body font's size at draw_hud's scale 1 (pixels).
_BODY_PX_AT_1 = 19.0
#: draw_hud's smallest font at scale 1 (pixels): the step line and the corner hint. The
#: scale keeps it at MIN_BODY_PX too (a 10-pixel body line drew the step line 8 px high).
_SMALLEST_PX_AT_1 = 15.0
#: The panel's size at draw_hud's scale 1 (pixels): room for the top band (step,
#: instruction, timer, score), three warnings and two instruments' lines.
PANEL_UNITS = (760.0, 340.0)
#: The most of the eye's view the panel may take (width, height fractions), and its
#: bottom margin (fraction of the view's height). Binds only on a coarse eye (Monado's
#: simulated 320x240): 0.7 leaves the ring walk's longest instruction (five lines there)
#: room above the instruments' lines, where 0.62 cut it off; the panel is clear between
#: its two bands, so a taller one hides only the lines it draws.
MAX_FRACTION = (0.94, 0.7)
PANEL_MARGIN = 0.04
#: How long the verdict stays in the headset after ``session/score`` (s): long enough to
#: read three lines, short enough not to keep a trainee waiting (the terminal says it too).
VERDICT_HOLD_S = 4.0


def closing_text(remaining_s: float) -> str:
    """The verdict's last line while the headset view waits to close: whole seconds
    rounded up, so it counts 4, 3, 2, 1 and never says "closes in 0 s" (it did for the
    last half second); "closing" once the time is up."""
    if remaining_s <= 0.0:
        return "the headset view is closing"
    return f"the headset view closes in {math.ceil(remaining_s - 1e-9)} s"


@dataclass(frozen=True)
class EyeView:
    """One eye as the panel needs it.

    Attributes:
        x_m: the eye's offset from the head's centre along the head's x (m, right +).
        fov: ``(left, right, up, down)`` angles (rad) of the eye's image (OpenXR's
            ``XrFovf``; left and down negative).
    """

    x_m: float
    fov: tuple[float, float, float, float]


def eye_views(X_views: Sequence[np.ndarray], fovs: Sequence) -> list[EyeView]:
    """:class:`EyeView` s from the views' poses (4x4, any one space) and fields of view:
    each eye's offset from their midpoint along its own x axis."""
    X = [np.asarray(v, dtype=np.float64) for v in X_views]
    mid = np.mean([v[:3, 3] for v in X], axis=0)
    return [
        EyeView(float(v[:3, 0] @ (v[:3, 3] - mid)), tuple(float(a) for a in f))
        for v, f in zip(X, fovs, strict=True)
    ]


@dataclass(frozen=True)
class PanelLayout:
    """Where the panel goes in each eye's image.

    Attributes:
        size: the panel image's ``(w, h)`` (pixels).
        scale: draw_hud's scale for it.
        rects: per eye ``(x, y, w, h)`` in its image (pixels, GL's origin: bottom left).
    """

    size: tuple[int, int]
    scale: float
    rects: tuple[tuple[int, int, int, int], ...]


def panel_layout(width: int, height: int, eyes: Sequence[EyeView], depth_m: float) -> PanelLayout:
    """The panel in each eye's ``width`` x ``height`` image (see the module docstring)."""
    tans = [tuple(math.tan(a) for a in e.fov) for e in eyes]
    _, _, u0, d0 = tans[0]
    fy = height / (u0 - d0)  # pixels per unit tangent: ~pixels per radian at the centre
    scale = max(math.radians(BODY_DEG) * fy / _BODY_PX_AT_1, MIN_BODY_PX / _SMALLEST_PX_AT_1)
    w = int(min(PANEL_UNITS[0] * scale, MAX_FRACTION[0] * width))
    h = int(min(PANEL_UNITS[1] * scale, MAX_FRACTION[1] * height))
    rects = []
    for eye, (lt, rt, ut, dt) in zip(eyes, tans, strict=True):
        fx, fye = width / (rt - lt), height / (ut - dt)
        half_w = w / 2.0 / fx  # the panel's half width, in tangent units at the head
        centre_x = -eye.x_m / depth_m  # the head's straight ahead, seen from this eye
        x = round((centre_x - half_w - lt) * fx)
        y = round(PANEL_MARGIN * height + (d0 - dt) * fye)  # the same height in each eye
        rects.append((x, y, w, h))
    return PanelLayout((w, h), scale, tuple(rects))


class HeadsetHud:
    """The overlay's state and drawing for the headset client.

    Feed it every bus message the scene feed takes (:meth:`take`); call :meth:`draw` on
    the GL thread after the scene, with the frame's eye framebuffers.

    Args:
        hello: the server's hello; description: the scene description.
        mode: ``console`` or ``bedside`` (the panel's depth).
    """

    def __init__(self, hello: Mapping, description, mode: str) -> None:
        self.hello = dict(hello)
        self.state = LiveState(description)
        self.alerts = LiveAlerts()
        self.depth_m = PANEL_DEPTH_M[mode]
        self.closing_at: float | None = None  # monotonic s the headset view closes at
        self._quad = None
        self._key = None
        self._layout: PanelLayout | None = None
        #: Pillow draws and uploads, and their time (s), for the cost per frame
        self.redraws = 0
        self.redraw_s = 0.0
        self.composite_s = 0.0
        self.composites = 0

    def take(self, message, now_s: float) -> None:
        """Fold one bus message in (:meth:`sim.view.live.LiveState.take`)."""
        self.state.take(message, now_s)

    def content(self, now_s: float) -> HudContent:
        """What the panel shows now."""
        self.alerts.update(self.state, now_s)
        close = "" if self.closing_at is None else closing_text(self.closing_at - now_s)
        return hud_content(self.state, self.hello, self.alerts, now_s, hint="", close_hint=close)

    def draw(
        self, framebuffers: Sequence[int], width: int, height: int, eyes: Sequence[EyeView],
        content: HudContent | None = None,
    ) -> None:  # fmt: skip
        """Blend the panel into each eye's framebuffer (GL thread); ``content`` default
        :meth:`content` now."""
        t0 = time.perf_counter()
        if content is None:
            content = self.content(time.monotonic())
        layout = panel_layout(width, height, eyes, self.depth_m)
        if self._quad is None:
            from sim.render.overlay import OverlayQuad

            self._quad = OverlayQuad()
        key = (content.key(), layout.size, layout.scale)
        if key != self._key:
            t1 = time.perf_counter()
            self._quad.upload(draw_hud(content, *layout.size, scale=layout.scale))
            self.redraw_s += time.perf_counter() - t1
            self.redraws += 1
            self._key = key
        self._layout = layout
        for fbo, rect in zip(framebuffers, layout.rects, strict=False):
            self._quad.draw(fbo, rect)
        self.composite_s += time.perf_counter() - t0
        self.composites += 1

    def cost(self) -> dict:
        """Per-frame cost so far: mean ms of the whole panel step, and of a redraw."""
        return {
            "frames": self.composites,
            "redraws": self.redraws,
            "mean_ms_per_frame": 1e3 * self.composite_s / max(self.composites, 1),
            "mean_ms_per_redraw": 1e3 * self.redraw_s / max(self.redraws, 1),
        }

    def free(self) -> None:
        """Free the GL objects (GL thread)."""
        if self._quad is not None:
            self._quad.free()
            self._quad = None
