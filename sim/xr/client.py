"""The headset client: the training server's scene in an OpenXR headset, the controllers
as master devices. No pybullet here: the scene comes over the bus.

Two ways to see (``mode``):

- ``console``: the stereo endoscope view fills the trainee's view, as at a da Vinci
  console. The two images are the scope's two channels (parallel eyes 5 mm apart,
  :func:`sim.render.camera.stereo_eyes`), drawn with the scope's optics and shown
  head-locked (a projection layer in the VIEW space) at the scope's field of view, so
  angles look as the scope sees them. Moving the head does not move the scope; the camera
  pedal (a controller button) does, through the server's endoscope teleoperation.
- ``bedside``: the scene world-locked at real scale, the trainee standing beside the
  patient-side arms (:class:`sim.xr.frames.BedsidePlacement`), lit by an overhead lamp;
  every arm is drawn, the endoscope's too. Head tracking moves the view as in a room.

Threads: the frame loop runs on the renderer's GL thread (``xrWaitFrame`` paces it);
a device thread samples the controllers at ``device_rate_hz`` at the current time (not
tied to frames, so a slow frame never starves the server's watchdog) and publishes them.

In both modes the trainer's overlay (step and instruction, timer, score, warnings, the
instruments' states, a pause, the end verdict) is a head-locked panel in the lower part
of each eye's image, at a finite depth (:mod:`sim.xr.hud`). When the session ends on the
server, the verdict stays in the headset for :data:`sim.xr.hud.VERDICT_HOLD_S` before the
client ends the headset session (its exit status is unchanged).

Frame timing (:mod:`sim.xr.timing`) is measured per frame and written out (``timing_path``
JSON lines, the summary in the report); ``VR/frame_timing`` on the bus waits for a
contract change (docs/vr.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from haptics.heap import collector_kept_out
from kinematics.transforms import inverse
from sim.xr.errors import RuntimeLostError, XrError
from sim.xr.frames import (
    CAMERA_FROM_XR_VIEW,
    BedsidePlacement,
    fov_projection,
    heading_frame,
    symmetric_fov,
)
from sim.xr.hands import MasterHand, full_vibration_n, vibration_amplitude
from sim.xr.hud import eye_views
from sim.xr.timing import FrameRecord, FrameTimer, gap_slots

_log = logging.getLogger(__name__)

MODES = ("console", "bedside")
#: Seconds without a ``scene/state`` after which the server counts as gone: devices take
#: 1.5 s of silence for a lost server (docs/bus.md); the headset waits a little longer.
SERVER_SILENCE_S = 2.0
#: The name the headset reports its display's timing under (``XR/frame_timing``).
FRAME_TIMING_NAME = "XR"
#: Bedside clip distances (m): a room, not a body cavity.
BEDSIDE_NEAR_M, BEDSIDE_FAR_M = 0.03, 8.0
#: Overhead lamp height above the work area (m).
LAMP_HEIGHT_M = 1.2


@dataclass
class VrOptions:
    """How the client runs (the ``surgisim vr`` options).

    Attributes:
        host, port, curve: the training server.
        mode: ``console`` or ``bedside``.
        frames: stop after this many frames (None: until the session ends or Ctrl-C).
        seconds: stop after this much wall time.
        size: swapchain size per eye ``(w, h)``; default the runtime's recommendation.
        srgb: prefer an sRGB swapchain format.
        device_rate_hz: controller sampling and publishing rate (Hz). 125: above the
            display rates of current headsets (72-120 Hz) and well inside the server's
            100 ms watchdog, at half the CPU of 250 Hz (each tick validates and sends four
            messages per hand; on two cores that time is taken from the frames).
        drive: publish the controllers as master devices.
        capture_dir, capture_every: save every n-th frame's swapchain images (read back).
        timing_path: per-frame timing as JSON lines.
        baseline_m: stereo endoscope baseline.
        hud: draw the trainer's overlay (step, timer, score, warnings, verdict) in each
            eye; off, the eyes see the scene alone (a clean view, and what image
            comparisons against the renderer need).
    """

    host: str = "127.0.0.1"
    port: int = 5570
    curve: object | None = None
    mode: str = "console"
    frames: int | None = None
    seconds: float | None = None
    size: tuple[int, int] | None = None
    srgb: bool = True
    device_rate_hz: float = 125.0
    drive: bool = True
    capture_dir: Path | None = None
    capture_every: int = 20
    timing_path: Path | None = None
    baseline_m: float = 0.005
    hud: bool = True


@dataclass
class VrReport:
    """How a run went (printed by the CLI, written as JSON)."""

    system: str = ""
    mode: str = ""
    swapchain: dict = field(default_factory=dict)
    states: list[str] = field(default_factory=list)
    frames: int = 0
    submitted: int = 0
    timing: dict = field(default_factory=dict)
    device_ticks: int = 0
    profiles: list[str] = field(default_factory=list)
    haptic_pulses: int = 0
    haptic_errors: int = 0
    captures: list[str] = field(default_factory=list)
    runtime_lost: str | None = None
    #: the training server fell silent mid-session (killed, crashed, network gone)
    server_lost: str | None = None
    #: the server's final result when the session ended there (``session/score``)
    session_score: dict | None = None
    stopped_by: str = ""
    #: the overlay's cost: frames, Pillow redraws, mean ms per frame and per redraw
    overlay: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The report as plain data (nested dicts and lists), for ``--json``."""
        return dataclasses.asdict(self)


class _GpuTimer:
    """Per-eye GL_TIME_ELAPSED queries, read back without stalling (a few frames late)."""

    def __init__(self, GL, eyes: int, depth: int = 4) -> None:
        self.GL = GL
        self.eyes = eyes
        self.ids = [list(GL.glGenQueries(eyes)) for _ in range(depth)]
        self.pending: dict[int, tuple[int, list]] = {}  # slot -> (frame index, ids)
        self.slot = 0

    def on_view(self, frame: int):
        ids = self.ids[self.slot]
        self.pending[self.slot] = (frame, ids)
        self.slot = (self.slot + 1) % len(self.ids)
        GL = self.GL

        def hook(i: int, phase: str) -> None:
            if phase == "start":
                GL.glBeginQuery(GL.GL_TIME_ELAPSED, ids[i])
            else:
                GL.glEndQuery(GL.GL_TIME_ELAPSED)

        return hook

    def collect(self, wait: bool = False) -> list[tuple[int, list[float]]]:
        """``[(frame, [ms per eye])]`` of the queries whose results are in."""
        GL = self.GL
        done = []
        for slot, (frame, ids) in list(self.pending.items()):
            if slot == (self.slot - 1) % len(self.ids) and not wait:
                continue  # the frame just drawn: ask next time
            if not wait and not GL.glGetQueryObjectuiv(ids[-1], GL.GL_QUERY_RESULT_AVAILABLE):
                continue
            ms = [int(GL.glGetQueryObjectuiv(q, GL.GL_QUERY_RESULT)) / 1e6 for q in ids]
            done.append((frame, ms))
            del self.pending[slot]
        return done

    def free(self) -> None:
        for ids in self.ids:
            self.GL.glDeleteQueries(len(ids), ids)


class VrClient:
    """The headset client (see the module docstring).

    Args:
        options: how to run.
        log: where status lines go.
    """

    def __init__(self, options: VrOptions, log=print) -> None:
        if options.mode not in MODES:
            raise XrError(f"VR mode must be one of {MODES}, got {options.mode!r}")
        self.options = options
        self.log = log
        self.report = VrReport(mode=options.mode)
        self.timer = FrameTimer()
        self._stop = threading.Event()
        self._device_error: BaseException | None = None
        self._X_SM: np.ndarray | None = None
        self._placement: BedsidePlacement | None = None
        self._lamp: np.ndarray | None = None
        self._meter = None  # the display's frame timing, reported to the server
        self._hud = None  # the trainer's overlay (sim.xr.hud.HeadsetHud)
        self._link = None  # the controllers' bus link (sim.xr.link.DeviceLink), once made
        self._silence = None  # asks a silent server why (haptics.bus.probe.SilenceCheck)
        self._heard_messages = 0

    def stop(self) -> None:
        """Ask the client to end the session (from any thread, e.g. a signal handler)."""
        self._stop.set()

    # ---- set-up ---------------------------------------------------------------------------------
    def _renderer(self, description, size):
        from sim.render import Renderer

        if self.options.mode == "console":
            return Renderer(description, size[0], size[1])
        from scenarios.visual import CameraModel
        from sim.render import EndoscopeLight

        # a room, lit from above: a fixed "camera" carries the lamp; every arm is drawn
        lamp = self._lamp if self._lamp is not None else np.eye(4)
        room = dataclasses.replace(
            description,
            camera=CameraModel(math.radians(100.0), 1.0, BEDSIDE_NEAR_M, BEDSIDE_FAR_M, X_WC=lamp),
            scope_node=None,
        )
        light = EndoscopeLight(
            offset_C_m=(0.0, 0.0, 0.0),
            reference_distance_m=LAMP_HEIGHT_M,
            edge_intensity=0.7,
            ambient=0.3,
            max_gain=1.5,
        )
        return Renderer(room, size[0], size[1], light=light)

    def _place_bedside(self, feed) -> None:
        """Put the trainee beside the work area and the lamp above it (first poses)."""
        d = feed.description
        X_WC = d.camera_pose(feed.X_WN)
        tips = [feed.X_WN[d.index(n)][:3, 3] for n in d.tip_nodes.values()]
        centre = np.mean(tips, axis=0) if tips else X_WC[:3, 3] + 0.12 * X_WC[:3, 2]
        self._placement = BedsidePlacement.beside(centre, X_WC)
        lamp = np.eye(4)
        lamp[:3, :3] = np.diag([1.0, -1.0, -1.0])  # looking straight down (camera z = -world z)
        lamp[:3, 3] = centre + np.array([0.0, 0.0, LAMP_HEIGHT_M])
        self._lamp = lamp

    # ---- the run --------------------------------------------------------------------------------
    def run(self) -> VrReport:
        """Connect, open the headset session, run frames until done; returns the report.

        Raises:
            XrError: the runtime or headset could not be used (before any frame).
            BusTimeoutError: no training server answered.
        A runtime that goes away mid-run is not raised: the report says so
        (``runtime_lost``), the device thread stops (the server holds the arms, and its
        session goes on), and everything is closed.
        """
        from haptics.bus.probe import SilenceCheck
        from sim.render.backends import backend_name
        from sim.xr.link import SceneFeed
        from sim.xr.runtime import XrRuntime

        o = self.options
        backend = backend_name(None)
        feed = SceneFeed(o.host, o.port, o.curve)
        self._silence = SilenceCheck(feed.bus, "this headset", SERVER_SILENCE_S)
        renderer = runtime = device = None
        try:
            self.log(f"connected to {feed.hello['scenario']!r} ({feed.hello.get('title', '')})")
            deadline = time.monotonic() + 10.0
            while not feed.update() and feed.messages == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            if o.mode == "bedside":
                self._place_bedside(feed)
            if o.hud:
                from sim.xr.hud import HeadsetHud

                self._hud = HeadsetHud(feed.hello, feed.description, o.mode)
                feed.listener = self._hud.take
            # the renderer must exist (its context) before the session; its size is the
            # swapchain's, which the runtime recommends: ask the runtime first
            from sim.render.backends import use_backend

            use_backend(backend)  # PyOpenGL's platform before pyopenxr imports OpenGL
            runtime = XrRuntime(backend, srgb=o.srgb, size=o.size, log=self.log)
            runtime.open_instance()
            size = o.size or runtime.recommended[0]
            renderer = self._renderer(feed.description, size)
            renderer.call(runtime.open_session, renderer)
            self.report.system = runtime.system_name
            self.report.profiles = list(runtime.profiles_bound)
            chain = runtime.swapchains[0]
            self.report.swapchain = {
                "format": hex(runtime.swapchain_format),
                "srgb": runtime.swapchain_format == 0x8C43,
                "width": chain.width,
                "height": chain.height,
                "images": len(chain.images),
                "recommended": runtime.recommended[0],
            }
            self.log(
                f"OpenXR: {runtime.system_name}, {chain.width}x{chain.height} per eye, "
                f"format {runtime.swapchain_format:#x}, {len(chain.images)} images, "
                f"{o.mode} view, GL {renderer.gl_renderer}"
            )
            # the objects of start-up frozen out of the collector's passes: a full pass
            # over them stops frame submission (and the controllers' stream) for tens to
            # hundreds of ms, frames a headset shows late (haptics.heap)
            with collector_kept_out():
                if o.drive:
                    device = threading.Thread(
                        target=self._device_loop, args=(runtime, feed), daemon=True
                    )
                    device.start()
                self._frames(renderer, runtime, feed)
        except RuntimeLostError as exc:
            self.report.runtime_lost = str(exc)
            self.report.stopped_by = "runtime lost"
            self.log(str(exc))
        finally:
            self._stop.set()
            if device is not None:
                device.join(timeout=5)
            if runtime is not None:
                self.report.states = list(runtime.states_seen)
                self.report.haptic_errors = runtime.haptic_errors
                if self.report.runtime_lost is None and runtime.lost:
                    self.report.runtime_lost = runtime.lost
                    self.report.stopped_by = "runtime lost"
                try:
                    if renderer is not None:
                        renderer.call(runtime.close)
                except Exception as exc:  # a dying runtime may fail here too
                    self.log(f"OpenXR teardown: {type(exc).__name__}: {exc}")
            if renderer is not None:
                renderer.close()
            feed.close()
        self.report.frames = len(self.timer.frames)
        self.report.submitted = self.timer.submitted
        self.report.timing = self.timer.summary()
        if self._hud is not None:
            self.report.overlay = self._hud.cost()
        if o.timing_path is not None:
            self.timer.write_jsonl(o.timing_path)
        return self.report

    def _frames(self, renderer, runtime, feed) -> None:
        o = self.options
        started = time.monotonic()
        from OpenGL import GL

        from sim.xr.hud import VERDICT_HOLD_S

        gpu = renderer.call(_GpuTimer, GL, len(runtime.swapchains))
        exiting = False
        ended_at = None  # when the session ended on the server (monotonic s)
        try:
            while True:
                renderer.call(runtime.poll)
                if self._device_error is not None:
                    raise self._device_error
                if runtime.exit:
                    self.report.stopped_by = self.report.stopped_by or "session ended"
                    break
                done = (
                    self._stop.is_set()
                    or (o.frames is not None and len(self.timer.frames) >= o.frames)
                    or (o.seconds is not None and time.monotonic() - started > o.seconds)
                )
                if done and not exiting:
                    exiting = True
                    self.report.stopped_by = "stop requested" if self._stop.is_set() else "done"
                    renderer.call(runtime.request_exit)
                    continue
                if not exiting and ended_at is None and self._server_ended(feed):
                    ended_at = time.monotonic()
                    if self._hud is not None and feed.score is not None:
                        self._hud.closing_at = ended_at + VERDICT_HOLD_S
                # the verdict stays in the headset for VERDICT_HOLD_S; a silent server
                # ends it at once (a frozen scene with no word of why is worse than none)
                if (
                    not exiting
                    and ended_at is not None
                    and (feed.score is None or time.monotonic() - ended_at >= VERDICT_HOLD_S)
                ):
                    exiting = True
                    renderer.call(runtime.request_exit)
                    continue
                if not runtime.running:
                    time.sleep(0.02)
                    continue
                renderer.call(self._frame, runtime, renderer, feed, gpu)
                for frame, ms in renderer.call(gpu.collect):
                    self.timer.set_eye_ms(frame, ms)
        finally:
            try:
                for frame, ms in renderer.call(gpu.collect, runtime.lost is None):
                    self.timer.set_eye_ms(frame, ms)
                renderer.call(gpu.free)
                if self._hud is not None:
                    renderer.call(self._hud.free)
            except Exception:  # the GL context may be gone with a lost runtime: go on closing
                _log.debug("freeing the GPU timer and HUD failed at shutdown", exc_info=True)

    def _server_ended(self, feed) -> bool:
        """Whether the training server has ended the session (its ``session/score``), or
        fell silent for :data:`SERVER_SILENCE_S` (it publishes the scene at ~60 Hz, also
        while paused) and, asked, does not answer or refuses this headset's key; says
        which, once. A server that answers and lets it in had only cut its stream (a key
        put back after a removal): the stream is reconnected and the session goes on."""
        feed.update()
        if feed.score is not None:
            from scenarios.glossary import verdict_text

            verdict = verdict_text(
                bool(feed.score.get("passed")), bool(feed.score.get("interrupted"))
            )
            score = feed.score.get("score")
            shown = "" if score is None else f", score {score:.1f}"
            if not feed.score.get("completed") and not feed.score.get("interrupted"):
                shown += " (the exercise was not completed)"
            self.log(f"the session ended on the server: {verdict}{shown}")
            self.report.session_score = feed.score
            self.report.stopped_by = "session ended"
            return True
        if feed.ending is not None and (said := self._silence.ending(feed.ending_s, feed.ending)):
            self.log(said)
        if feed.messages != self._heard_messages:
            self._heard_messages = feed.messages
            self._silence.heard()
        now = time.monotonic()
        silence = self._silence.check(feed.silent_s(now), now)
        if silence is None:
            return False
        if not silence.ends:  # the stream only was cut: the device link's too
            self.log(silence.text)
            if self._link is not None:
                self._link.resubscribe()
            return False
        self.report.server_lost = f"{silence.text}: the headset session ends"
        self.report.stopped_by = "server lost"
        self.log(self.report.server_lost)
        return True

    def _frame(self, runtime, renderer, feed, gpu) -> None:
        """One frame on the GL thread: wait, begin, poses, both eyes, end."""
        from sim.render import RenderView

        o = self.options
        info = runtime.wait_frame()
        index = len(self.timer.frames)
        views = None
        layer_space = None
        if info.should_render:
            feed.update()  # the newest scene, after the wait: least latency
            X_WN = feed.X_WN.copy()
            d = renderer.description
            fbos = runtime.acquire()
            chain = runtime.swapchains[0]
            w, h = chain.width, chain.height
            if o.mode == "console":
                from sim.render.camera import perspective, stereo_eyes

                camera = feed.description.camera
                X_WC = feed.description.camera_pose(X_WN)
                eyes = stereo_eyes(X_WC, o.baseline_m)
                P = perspective(camera.fov_y_rad, w / h, camera.near_m, camera.far_m)
                render = [
                    RenderView(e, P, fbo, (0, 0, w, h)) for e, fbo in zip(eyes, fbos, strict=True)
                ]
                located = runtime.locate_views(info.display_ns, runtime.view_space)
                fov = symmetric_fov(camera.fov_y_rad, w / h)
                views = []
                for X_HV, _ in located:
                    X = np.eye(4)
                    X[:3, 3] = X_HV[:3, 3]  # the eye's offset; parallel, looking ahead
                    views.append((X, fov))
                eyes = eye_views([X for X, _ in views], [fov for _ in views])
                layer_space = runtime.view_space
                light = X_WC
            else:
                located = runtime.locate_views(info.display_ns, runtime.base_space)
                render = []
                for (X_SV, fov), fbo in zip(located, fbos, strict=True):
                    P = fov_projection(*fov, BEDSIDE_NEAR_M, BEDSIDE_FAR_M)
                    render.append(
                        RenderView(self._placement.eye_in_world(X_SV), P, fbo, (0, 0, w, h))
                    )
                views = located
                eyes = eye_views([X for X, _ in located], [f for _, f in located])
                layer_space = runtime.base_space
                light = d.camera.X_WC
            renderer.render_views(X_WN, render, light, on_view=gpu.on_view(index))
            if self._hud is not None:
                self._hud.draw(fbos, w, h, eyes)
            if o.capture_dir is not None and index % max(1, o.capture_every) == 0:
                self._capture(index, fbos, w, h, X_WN, render, feed, info)
            runtime.release()
        runtime.end_frame(info.display_ns, layer_space, views)
        ended = time.monotonic()
        display_mono = runtime.xr_time_to_monotonic(info.display_ns)
        latency = None
        if views is not None and display_mono is not None and self.options.drive:
            sent = self._sent_s(feed.used_seq)
            if sent is not None:
                latency = display_mono - sent
        late = display_mono is not None and ended > display_mono
        self.timer.add(
            FrameRecord(
                index,
                info.display_ns,
                info.period_ns,
                info.wait_s,
                ended - (info.started_s + info.wait_s),
                views is not None,
                late,
                [],
                latency,
            )
        )
        self._report_frame(feed, info, display_mono if display_mono is not None else ended, late)

    def _report_frame(self, feed, info, shown_s: float, late: bool) -> None:
        """Count the frame for the server's ``XR/frame_timing`` report (about 1 Hz): the
        display's period is the runtime's predicted one; the display slots since the
        previous frame are counted as the terminal's "paced" is (:func:`gap_slots`), so
        the stored session's missed slots are the terminal's "missed"; a frame submitted
        after its display time is reported as ``late`` (a report that fed late frames in
        as missed stored 24.7% where the terminal said 154 of 415 slots)."""
        from haptics.bus.frame_timing import FrameTimingMeter

        period = info.period_ns * 1e-9 if info.period_ns > 0 else None
        if self._meter is None:
            self._meter = FrameTimingMeter(target_period_s=period)
        elif period is not None:
            # the runtime's latest prediction: Monado's null compositor says 16 ms at the
            # first frame, then paces at 50 ms (the server stored 0.016 s of a 20 Hz run)
            self._meter.target_period_s = period
        frames = self.timer.frames
        slots = gap_slots(frames[-2] if len(frames) > 1 else None, frames[-1])
        fields = self._meter.frame(shown_s, slots=slots, late=late)
        if fields is not None:
            feed.bus.publish(f"{FRAME_TIMING_NAME}/frame_timing", fields)

    def _sent_s(self, seq: int) -> float | None:
        link = self._link
        if link is None or seq < 0:
            return None
        return link.sent_s.get(seq)

    def _capture(self, index, fbos, w, h, X_WN, views, feed, info) -> None:
        """Read the swapchain images back (GL thread) and save them with their poses."""
        from OpenGL import GL

        images = []
        for fbo in fbos:
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, fbo)
            rgb = np.empty((h, w, 3), dtype=np.uint8)
            GL.glReadPixels(0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, rgb)
            images.append(rgb[::-1].copy())
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
        o = self.options
        o.capture_dir.mkdir(parents=True, exist_ok=True)
        path = o.capture_dir / f"frame_{index:06d}.npz"
        np.savez_compressed(
            path,
            left=images[0],
            right=images[1] if len(images) > 1 else images[0],
            X_WN=X_WN,
            X_WE=np.stack([v.X_WE for v in views]),
            X_WL=self._lamp if o.mode == "bedside" else feed.description.camera_pose(X_WN),
            projection=np.stack([v.projection for v in views]),
            scene_time_s=feed.time_s,
            used_seq=feed.used_seq,
            display_ns=info.display_ns,
            mode=o.mode,
        )
        self.report.captures.append(str(path))

    # ---- the device thread ----------------------------------------------------------------------
    def _device_loop(self, runtime, feed) -> None:
        from sim.xr.link import DEVICE_OF_HAND, DeviceLink

        o = self.options
        hello = feed.hello
        devices = dict(hello.get("devices", {}))
        teleop = hello.get("teleop", {})
        camera_arm = hello.get("camera_arm")
        full_n = full_vibration_n(hello)
        hands = {}
        for hand, device in DEVICE_OF_HAND.items():
            if device in devices:
                arm = devices[device]
                R_CM = teleop.get(arm, {}).get("R_CM")
                hands[hand] = MasterHand(device, arm, R_CM)
        fixed_camera = feed.description.camera.X_WC
        try:
            link = DeviceLink(o.host, o.port, devices, camera_arm, o.curve)
            self._link = link
            link.ready(30.0)
        except Exception as exc:
            self._device_error = exc
            return
        period = 1.0 / o.device_rate_hz
        next_t = time.monotonic()
        last_amp = {hand: 0.0 for hand in hands}
        last_vibe = {hand: 0.0 for hand in hands}
        recentre_was = False
        try:
            while not self._stop.is_set():
                link.poll()
                t = runtime.now()
                states = runtime.read_hands(t) if (t is not None and runtime.running) else None
                if states is not None:
                    head = runtime.locate_head(t)
                    recentre = any(s.recentre for s in states.values())
                    if head is not None and (self._X_SM is None or (recentre and not recentre_was)):
                        with contextlib.suppress(ValueError):
                            self._X_SM = heading_frame(head)
                    recentre_was = recentre
                    if self._X_SM is not None:
                        X_MS = inverse(self._X_SM)
                        X_WC = link.arm_pose.get(camera_arm) if camera_arm else fixed_camera
                        samples = {}
                        for hand, master in hands.items():
                            s = states.get(hand)
                            if s is None or s.X_SG is None:
                                continue  # not tracked: silence (the server holds the arm)
                            samples[master.device] = master.sample(
                                X_MS @ s.X_SG,
                                s.trigger,
                                s.clutch,
                                s.camera,
                                link.arm_pose.get(master.arm),
                                X_WC,
                            )
                        if samples:
                            link.publish(samples)
                    now = time.monotonic()
                    for hand, master in hands.items():
                        force = link.force.get(master.device)
                        amp = 0.0 if force is None else vibration_amplitude(force, full_n)
                        if abs(amp - last_amp[hand]) > 0.05 or (
                            amp > 0 and now - last_vibe[hand] > 0.04
                        ):
                            runtime.vibrate(hand, amp)
                            if amp > 0:
                                self.report.haptic_pulses += 1
                            last_amp[hand], last_vibe[hand] = amp, now
                self.report.device_ticks = link.ticks
                next_t += period
                delay = next_t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_t = time.monotonic()
        except RuntimeLostError:
            pass  # the frame loop sees it too and reports it
        except Exception as exc:
            self._device_error = exc
        finally:
            link.close()


__all__ = ["CAMERA_FROM_XR_VIEW", "MODES", "VrClient", "VrOptions", "VrReport"]
