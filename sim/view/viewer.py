"""``surgisim view``: a desktop window on the live training server.

The viewer is a client of the bus and never touches physics: it asks the server's
``hello`` for the scene description (meshes, materials, the endoscope), subscribes to
everything, and draws each ``scene/state`` (node names and poses) from the endoscope
(the scope's node pose in that same message, or the scenario's fixed camera) with
:class:`sim.render.Renderer`. Over the image it shows what a commercial trainer shows
(:mod:`sim.view.hud`): the step's instruction, the timer, the running score
(``session/metrics``), each instrument's teleoperation state (``<arm>/operating_state``)
and warnings as they happen (drops, collisions and excessive force from
``session/events`` and the metrics, :mod:`sim.view.warnings`; an instrument out of
view from its ``measured_cp`` and the camera; a hand too quick for the instrument's
speed limit from its ``speed_limit`` events).

Mouse, keyboard and gamepad in the window drive the instruments through a
:class:`sim.view.input.DesktopMaster` (1 kHz on its own thread and bus connection).
Threads: GLFW and the window's GL on the calling (main) thread; the scene's GL on the
renderer's own thread; the device's publishing on its thread.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from haptics.heap import collector_kept_out
from scenarios.visual import SceneDescription
from sim.errors import SimError
from sim.stop_signals import PARENT_GONE, stop_signals
from sim.view import input as bindings
from sim.view.hud import HudContent, draw_hud
from sim.view.live import STALE_S, LiveAlerts, LiveState, hud_content

#: The name the window reports its display's timing under (``VIEW/frame_timing``).
FRAME_TIMING_NAME = "VIEW"
#: Frames per second the viewer draws at most (the server publishes the scene at 60 Hz);
#: on a CPU rasteriser (llvmpipe) 30, so that a laptop keeps a core for the physics.
TARGET_FPS = 60.0
SOFTWARE_FPS = 30.0


@dataclass
class ViewerReport:
    """What a viewer run did.

    Attributes:
        frames: scene frames drawn; seconds: wall time of the loop (s).
        fps: frames per second over the run (scene frames drawn / seconds).
        frame_ms: per frame, the median time to render and show it (ms).
        score: the ``session/score`` payload (None when the session did not end).
        longest_device_gap_s: the device's longest silence between two samples (s).
        alerts: the warnings shown (:class:`sim.view.warnings.Alert`).
        interrupted: Ctrl-C (or SIGTERM, SIGHUP) ended the loop.
        stop_signal: the signal that ended it (None: none did).
    """

    frames: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    frame_ms: float = 0.0
    score: dict | None = None
    longest_device_gap_s: float = 0.0
    alerts: list = field(default_factory=list)
    interrupted: bool = False
    stop_signal: int | None = None


class Viewer:
    """The trainer's window on a live server (see the module docstring).

    Args:
        host, port: the server's bus (base port P).
        size: the window's size (pixels); the endoscope image is rendered at this size.
        device: drive the instruments from this window (a :class:`DesktopMaster`).
        backend: the GL backend (``glfw`` or ``egl``; default ``SURGISIM_GL``, else
            ``glfw`` with a display).
        curve: this client's CurveZMQ keys (:class:`haptics.bus.ClientCurve`).
        stop_on_close: closing the window asks the server to stop (and store) the session.
        max_fps: frames drawn per second at most (default 60 on a GPU, 30 on a CPU
            rasteriser).
        say: where status lines go.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5570,
        *,
        size: tuple[int, int] = (960, 720),
        device: bool = True,
        backend: str | None = None,
        curve=None,
        stop_on_close: bool = False,
        connect_timeout_s: float = 30.0,
        max_fps: float | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.host, self.port, self.curve = host, port, curve
        self.size = (int(size[0]), int(size[1]))
        self.use_device = device
        self.backend = backend
        self.stop_on_close = stop_on_close
        self.connect_timeout_s = connect_timeout_s
        self.max_fps = max_fps
        self.say = say
        self.window = None
        self.renderer = None
        self.master = None
        self.bus = None
        self.help = False
        self.active = 0
        self._cursor: tuple[float, float] | None = None
        self._buttons: set[str] = set()
        self._keys: set[str] = set()
        self._jaw_closed_by_key: set[str] = set()
        self._alerts = LiveAlerts()
        self._stop_sent = False
        self._silence = None  # asks a silent server why (haptics.bus.probe.SilenceCheck)
        self._silence_said = ""  # the kind of silence last told on the console

    # ---- setup ---------------------------------------------------------------------------
    def _client(self, subscribe=("",)):
        from haptics.bus.sockets import ClientBus

        return ClientBus(self.host, self.port, self.curve, subscribe)

    def _hello(self) -> dict:
        from haptics.bus.errors import BusTimeoutError
        from haptics.devices.link import waiting_keys_hint

        try:
            reply = self.bus.request({"request": "hello", "scene": True}, self.connect_timeout_s)
        except BusTimeoutError:
            raise SimError(
                f"no training server answered on {self.host}:{self.port} within "
                f"{self.connect_timeout_s:g} s; start one with `surgisim serve SCENARIO "
                f"--port {self.port}` (or use `surgisim practice SCENARIO`). "
                f"{waiting_keys_hint(self.curve is not None)}."
            ) from None
        if not reply.get("ok") or "scene" not in reply:
            raise SimError(f"the server's hello had no scene description: {reply.get('error')}")
        return reply

    def _open(self) -> None:
        from sim.render import Renderer
        from sim.render.backends import backend_name, use_backend
        from sim.view.window import Window

        backend = backend_name(self.backend)
        if backend == "osmesa":
            raise SimError(
                "the desktop window needs SURGISIM_GL=glfw (or egl); osmesa renders off-screen "
                "only."
            )
        use_backend(backend)  # before anything imports OpenGL
        self.bus = self._client()
        self.hello = self._hello()
        from haptics.bus.probe import SilenceCheck

        # a short probe: the window waits for the reply (only while the stream is silent)
        self._silence = SilenceCheck(self.bus, "this window", STALE_S, probe_timeout_s=0.3)
        description = SceneDescription.from_dict(self.hello["scene"])
        self.state = LiveState(description)
        self.window = Window(*self.size, title=f"surgisim - {self.hello.get('title', '')}",
                             egl=backend == "egl")  # fmt: skip
        self.renderer = Renderer(description, *self.size, backend=backend)
        self.devices = list(bindings.DEVICES)
        if self.use_device:
            self.master = bindings.DeviceProcess(
                self.hello,
                self.host,
                self.port,
                curve=self.curve,
                X_WC_fixed=description.camera.X_WC,
                timeout_s=self.connect_timeout_s,
            )
            self.devices = self.master.devices
            self._alerts.watch.auto_clutch = True  # its clutch taps are the device's own
            for device in self.devices:
                self.master.set_gripper(device, bindings.GRIPPER_OPEN_RAD)

    def _rebuild_scene(self) -> None:
        """A body came or went: fetch the new description and renderer."""
        from sim.render import Renderer

        self.hello = self._hello()
        description = SceneDescription.from_dict(self.hello["scene"])
        self.state.set_description(description)
        self.state.scene_changed = False
        self.renderer.close()
        self.renderer = Renderer(description, *self.size, backend=self.renderer.backend)

    # ---- the loop ------------------------------------------------------------------------
    def run(
        self,
        max_seconds: float | None = None,
        stop: Callable[[], bool] = lambda: False,
        close_after_result_s: float | None = None,
        on_frame: Callable[[Viewer], None] | None = None,
    ) -> ViewerReport:
        """Show the session until the window is closed (or Esc after the end), ``stop()``
        turns true, ``max_seconds`` pass, or ``close_after_result_s`` after the result."""
        report = ViewerReport()
        interrupted = threading.Event()
        previous = {}

        def on_signal(signum, frame) -> None:
            if report.stop_signal is None:  # the parent's death (however many times): SIGTERM
                report.stop_signal = signal.SIGTERM if signum == PARENT_GONE else signum
            interrupted.set()

        if threading.current_thread() is threading.main_thread():
            # Ctrl-C (SIGTERM, SIGHUP) ends the loop cleanly (a KeyboardInterrupt raised
            # inside a GLFW callback or a GL wait would be lost or leave the window half
            # closed)
            previous = {s: signal.signal(s, on_signal) for s in stop_signals()}
        try:
            self._open()
            # the objects of start-up frozen out of the collector's passes: a full pass
            # over them froze the window and its mouse or gamepad hand (haptics.heap)
            with collector_kept_out():
                self._loop(
                    report, max_seconds, lambda: stop() or interrupted.is_set(),
                    close_after_result_s, on_frame,
                )  # fmt: skip
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler if handler is not None else signal.SIG_DFL)
            self.close()
            if self.master is not None:
                report.longest_device_gap_s = self.master.stats.longest_gap_s
        report.interrupted = interrupted.is_set()
        return report

    def _loop(self, report, max_seconds, stop, close_after_result_s, on_frame) -> None:
        self.window.poll()  # input queued while the window was opening is not a motion
        from sim.render.gl_scene import is_software

        software = is_software(self.renderer.gl_renderer)
        period = 1.0 / (self.max_fps or (SOFTWARE_FPS if software else TARGET_FPS))
        started = last = time.monotonic()
        next_frame = started
        frame_times = []
        hud_key = None
        result_at = None
        fps_window: list[float] = []
        from haptics.bus.frame_timing import FrameTimingMeter

        meter = FrameTimingMeter(target_period_s=period)  # the server's VIEW/frame_timing
        while True:
            now = time.monotonic()
            dt, last = now - last, now
            for message in self.bus.poll(0):
                self.state.take(message, now)
            self._check_silence(now)
            if self.state.scene_changed:
                self._rebuild_scene()
            closing = self._input(self.window.poll(), dt)
            self._gamepad(dt)
            self._warnings(now)
            if self.state.score is not None and result_at is None:
                result_at = now
                report.score = self.state.score
                if self.master is not None:
                    self.master.close()
            frame = None
            if self.state.new_frame and now >= next_frame:
                next_frame = max(next_frame + period, now - period)
                self.state.new_frame = False
                t0 = time.perf_counter()
                frame = self.renderer.render(self.state.X_WN, self.state.camera_pose())
                frame_times.append(time.perf_counter() - t0)
                report.frames += 1
                fps_window.append(now)
            fps_window = [t for t in fps_window if t > now - 1.0]
            content = self._hud(len(fps_window))
            overlay = None
            if (content.key(), self.window.size) != hud_key:  # new content, or resized
                hud_key = (content.key(), self.window.size)
                overlay = draw_hud(content, *self.window.size)
            if frame is not None or overlay is not None:
                self.window.show(frame, overlay)
            if frame is not None:
                fields = meter.frame(time.monotonic())
                if fields is not None:
                    self.bus.publish(f"{FRAME_TIMING_NAME}/frame_timing", fields)
                if on_frame is not None:
                    on_frame(self)
            if closing or stop():
                break
            if max_seconds is not None and now - started > max_seconds:
                break
            if result_at is not None and now - result_at > (close_after_result_s or math.inf):
                break
            if frame is None:
                time.sleep(0.004)  # input stays responsive between frames
        report.seconds = time.monotonic() - started
        report.fps = report.frames / max(report.seconds, 1e-9)
        report.frame_ms = 1000.0 * float(np.median(frame_times)) if frame_times else 0.0
        report.alerts = list(self._alerts.seen)

    def _check_silence(self, now: float) -> None:
        """Ask a server whose scene stopped coming why, and show the answer: the window
        stays (a server that comes back, or lets the key in again, carries on)."""
        if self.state.last_scene_s == -math.inf or self.state.score is not None:
            return  # no session seen yet (a server waiting for its devices), or ended
        ending = self.state.ending  # silent from here to session/score: not a crash
        if ending is not None and (said := self._silence.ending(self.state.ending_s, ending)):
            self.say(said)
        silent_s = now - self.state.last_scene_s
        if silent_s <= STALE_S:
            self._silence.heard()
            self.state.silence = self._silence_said = ""
            return
        silence = self._silence.check(silent_s, now)
        if silence is None:
            return
        if silence.kind != self._silence_said:
            self.say(silence.text)  # once per kind of silence, not every probe
            self._silence_said = silence.kind
        self.state.silence = silence.text if silence.ends else ""

    # ---- input -----------------------------------------------------------------------------
    @property
    def active_device(self) -> str:
        """The device the mouse and keys drive now."""
        return self.devices[self.active % len(self.devices)]

    def _depth_m(self, device: str) -> float:
        arm = self.master.driven_arm(device) if self.master else None
        X_WC = self.state.camera_pose()
        X_WT = self.state.arms.get(arm, {}).get("X_WT") if arm else None
        if X_WC is None or X_WT is None or arm == self.hello.get("camera_arm"):
            return bindings.DEFAULT_DEPTH_M
        depth = float((X_WT[:3, 3] - X_WC[:3, 3]) @ X_WC[:3, 2])
        return min(max(depth, 0.02), self.state.description.camera.far_m)

    def _input(self, events, dt: float) -> bool:
        """Apply the window's input events; True when the window should close."""
        master = self.master
        closing = False
        for e in events:
            if e.kind == "close":
                if self.stop_on_close:
                    self._request_stop()
                closing = True
            elif e.kind == "key":
                closing |= self._key(e.name, e.pressed)
            elif e.kind == "button":
                (self._buttons.add if e.pressed else self._buttons.discard)(e.name)
                if e.name == "left" and master is not None:
                    self._update_jaw(self.active_device)
            elif e.kind == "move":
                if self._cursor is not None and master is not None:
                    self._pointer(e.x - self._cursor[0], e.y - self._cursor[1])
                self._cursor = (e.x, e.y)
            elif e.kind == "enter":
                self._cursor = None  # motion counts from where the pointer comes back in
            elif e.kind == "scroll" and master is not None and self.state.score is None:
                master.move_tool(self.active_device, (0.0, 0.0, bindings.WHEEL_STEP_M * e.y))
        if master is not None and self.state.score is None:
            roll = ("e" in self._keys) - ("q" in self._keys)
            if roll:
                angle = roll * bindings.ROLL_RATE_RAD_S * dt
                master.turn(self.active_device, (0.0, 0.0, 1.0), angle, own_axis=True)
        return closing

    def _pointer(self, dx: float, dy: float) -> None:
        if self.state.score is not None:
            return
        device = self.active_device
        if "right" in self._buttons:
            self.master.turn(device, (0.0, 1.0, 0.0), -dx * bindings.TURN_RAD_PER_PX)
            self.master.turn(device, (1.0, 0.0, 0.0), dy * bindings.TURN_RAD_PER_PX)
            return
        _, _, _, image_h = self.window.image_rect
        to_render = self.renderer.height / max(image_h, 1.0)
        focal = self.state.description.camera.focal_px(self.renderer.height)
        d_C = bindings.pointer_to_tool(dx * to_render, dy * to_render, self._depth_m(device), focal)
        self.master.move_tool(device, d_C)

    def _key(self, name: str, pressed: bool) -> bool:
        (self._keys.add if pressed else self._keys.discard)(name)
        master, device = self.master, self.active_device
        if name == "escape" and pressed:
            if self.state.score is not None or self.master is None:
                return True
            self._request_stop()
        elif name == "f1" and pressed:
            self.help = not self.help
        if master is None:
            return False
        if name == "space":
            master.set_clutch(device, pressed)
        elif name == "c":
            master.set_camera(device, pressed)
            hello = self.hello
            if pressed and hello.get("camera_arm") not in (hello.get("teleop") or {}):
                self._flash("The endoscope is fixed in this exercise: C does nothing", "info")
        elif name == "tab" and pressed:
            for d in self.devices:  # nothing stays pressed on the hand left behind
                master.set_clutch(d, False)
                master.set_camera(d, False)
            self.active += 1
        elif name == "z" and pressed:
            self._jaw_closed_by_key.add(device)
            self._update_jaw(device)
        elif name == "x" and pressed:
            self._jaw_closed_by_key.discard(device)
            self._update_jaw(device)
        return False

    def _update_jaw(self, device: str) -> None:
        closed = device in self._jaw_closed_by_key or (
            "left" in self._buttons and device == self.active_device
        )
        angle = bindings.GRIPPER_CLOSED_RAD if closed else bindings.GRIPPER_OPEN_RAD
        self.master.set_gripper(device, angle)

    def _gamepad(self, dt: float) -> None:
        if self.master is None or self.state.score is not None:
            return
        pad = self.window.gamepad()
        if pad is None:
            return
        for device, command in bindings.gamepad_command(*pad, dt).items():
            if device not in self.devices:
                continue
            if np.any(command.d_C_m):
                self.master.move_tool(device, command.d_C_m)
            self.master.set_gripper(device, command.gripper_rad)
            self.master.set_clutch(device, command.clutch or "space" in self._keys)

    def _request_stop(self) -> None:
        if self._stop_sent:
            return
        self._stop_sent = True
        try:
            self.bus.request({"request": "stop"}, 5.0)
            self._flash("Stopping: the session is scored and stored", "info")
        except Exception as exc:  # the server may be gone already
            self._flash(f"could not stop the session: {exc}", "warning")

    # ---- overlays ------------------------------------------------------------------------
    def _flash(self, text: str, severity: str) -> None:
        self._alerts.flash(text, severity, time.monotonic())

    def _warnings(self, now: float) -> None:
        self._alerts.update(self.state, now)

    def _hud(self, fps: float) -> HudContent:
        driving = self.master is not None
        return hud_content(
            self.state,
            self.hello,
            self._alerts,
            time.monotonic(),
            active_device=self.active_device if driving else None,
            auto_clutch=driving,
            help=self.help,
            bindings=bindings.BINDINGS,
            fps=fps,
        )

    def close(self) -> None:
        """Stop the device, free the renderer, close the window and the bus."""
        if self.master is not None:
            self.master.close()
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None
        if self.window is not None:
            self.window.close()
            self.window = None
        if self.bus is not None:
            self.bus.close()
            self.bus = None
