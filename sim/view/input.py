"""Mouse, keyboard and gamepad as master devices on the bus: the desktop trainer's hands.

:class:`DesktopMaster` is a device like any other on the bus (docs/bus.md): it publishes
``MTMR`` and ``MTML`` (gripper, clutch, camera pedal, then ``measured_cp``) at a steady
1 kHz from a background thread that holds the latest virtual handle pose of each hand (the
server's tremor filters are designed for 1 kHz samples). The window's thread moves the
handles (:meth:`DesktopMaster.move_tool`, :meth:`~DesktopMaster.turn`, ...) and never
waits.

It presents hands aligned with their instruments: while an arm is ALIGNING (or not yet
enabled) the handle is turned to the orientation the alignment gate accepts at once, as
the dVRK's motorised wrists do: the server's ``aligned_hand_xyzw`` when its
``operating_state`` carries one, else ``R_MH = R_CM^T R_WC^T R_WT`` (the instrument's
orientation seen through the camera, from the arms' ``measured_cp`` and ``hello``'s
``R_CM``; :func:`haptics.devices.align.aligned_hand_rotation`). After a hold (HOLDING)
it presses and releases the clutch to resume, and it taps the clutch once at the start
("clutching in"). The trainee's own clutch (a held key) always wins. It also runs in a
process of its own (:class:`DeviceProcess`), which is how the window uses it.

The bindings (:data:`BINDINGS`) map window events to handle motions in the master frame
M (x right, y down, z away from the trainee, as the endoscope image is seen): the mouse
moves the active instrument in the view plane so that the tool tip follows the pointer
on screen (pixels to metres at the tool's depth, divided by the motion scale), the wheel
moves it in depth, the right button turns the wrist, keys roll it, close and open the jaw,
hold the clutch or the camera pedal, and Tab switches hands. A gamepad drives both
instruments, one stick each (:func:`gamepad_command`).
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from haptics.devices.align import aligned_hand_rotation
from kinematics.transforms import quat_xyzw_to_matrix
from sim.errors import SimError

__all__ = [
    "BINDINGS",
    "DesktopMaster",
    "DeviceProcess",
    "aligned_hand_rotation",
    "gamepad_command",
    "pointer_to_tool",
    "tool_to_hand",
]

#: Devices the desktop master plays, right hand first (dVRK names).
DEVICES = ("MTMR", "MTML")
#: Gripper angles (rad): open (about 34°, the jaw then opens about 37°) and closed.
GRIPPER_OPEN_RAD = 0.6
GRIPPER_CLOSED_RAD = 0.0
#: Tool depth change per wheel notch (m).
WHEEL_STEP_M = 0.004
#: Wrist turn per pixel of mouse motion with the right button held (rad).
TURN_RAD_PER_PX = math.radians(0.4)
#: Wrist roll speed while Q or E is held (rad/s).
ROLL_RATE_RAD_S = math.radians(90.0)
#: Tool speed at full stick deflection (m/s), and the stick's dead zone.
GAMEPAD_SPEED_M_S = 0.03
GAMEPAD_DEADZONE = 0.15
#: Depth assumed for pointer motion before the tool's is known (m).
DEFAULT_DEPTH_M = 0.12
#: How long an automatic clutch tap holds the clutch (s); and the least time between taps.
TAP_S = 0.12
TAP_RETRY_S = 1.0
#: Pedals go out on change and at least this often (s) (docs/bus.md: >= 10 Hz).
PEDAL_PERIOD_S = 0.1

#: What each input does: (input, action), shown in the window's help (F1) and the docs.
BINDINGS: tuple[tuple[str, str], ...] = (
    ("mouse", "move the active instrument in the view plane (the tip follows the pointer)"),
    ("wheel", "move it in depth (up: away from you)"),
    ("right button + mouse", "turn the wrist (pitch and yaw)"),
    ("Q / E (hold)", "roll the wrist left / right"),
    ("left button (hold) / Z", "close the jaw (Z keeps it closed)"),
    ("X", "open the jaw"),
    ("Space (hold)", "clutch: the instrument stays, the hand moves freely"),
    ("C (hold)", "camera pedal: the active hand moves the endoscope"),
    ("Tab", "switch the active hand (right / left)"),
    ("F1", "show / hide this help"),
    ("Esc", "stop the session (it is scored and stored)"),
    ("gamepad sticks", "left stick: left instrument, right stick: right instrument"),
    ("gamepad LB / RB + stick up/down", "that instrument in depth"),
    ("gamepad triggers", "close the left / right jaw"),
    ("gamepad A (hold)", "clutch both hands"),
)


def rotation_about(axis: Sequence[float], angle_rad: float) -> np.ndarray:
    """3x3 rotation by ``angle_rad`` about a unit ``axis`` (Rodrigues)."""
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a)
    K = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + math.sin(angle_rad) * K + (1.0 - math.cos(angle_rad)) * (K @ K)


def tool_to_hand(d_C_m, R_CM, translation_scale: float) -> np.ndarray:
    """The hand displacement in M (m) that moves the tool by ``d_C_m`` in the camera frame:
    the teleoperation maps ``d_C = scale * R_CM @ d_M``."""
    return np.asarray(R_CM, dtype=float).T @ np.asarray(d_C_m, dtype=float) / translation_scale


def pointer_to_tool(dx_px: float, dy_px: float, depth_m: float, focal_px: float) -> np.ndarray:
    """Tool displacement in the camera frame (m) that keeps the tip under a pointer moved
    by (dx, dy) pixels, at the tool's depth (pinhole: metres = pixels x depth / focal)."""
    k = max(float(depth_m), 0.01) / float(focal_px)
    return np.array([dx_px * k, dy_px * k, 0.0])


@dataclass
class GamepadCommand:
    """What a gamepad asks of one hand for one frame: a tool displacement in the camera
    frame (m), a gripper angle (rad), the clutch."""

    d_C_m: np.ndarray
    gripper_rad: float
    clutch: bool


def _dead(value: float) -> float:
    if abs(value) < GAMEPAD_DEADZONE:
        return 0.0
    return math.copysign((abs(value) - GAMEPAD_DEADZONE) / (1.0 - GAMEPAD_DEADZONE), value)


def gamepad_command(axes: Sequence[float], buttons: Sequence[int], dt_s: float) -> dict:
    """Per device (``MTML``: left stick, ``MTMR``: right stick), the motion a GLFW gamepad
    state asks for over ``dt_s`` seconds (SDL/GLFW layout: axes LX, LY, RX, RY, LT, RT in
    [-1, 1]; buttons A, B, X, Y, LB, RB, ...). A stick moves its tool in the view plane at
    up to :data:`GAMEPAD_SPEED_M_S`; with its shoulder button held, the stick's vertical
    axis moves it in depth instead; a trigger closes its jaw; A holds both clutches."""
    step = GAMEPAD_SPEED_M_S * float(dt_s)
    clutch = bool(buttons[0]) if buttons else False
    out = {}
    for device, (ix, iy, shoulder, trigger) in (("MTML", (0, 1, 4, 4)), ("MTMR", (2, 3, 5, 5))):
        x, y = _dead(axes[ix]), _dead(axes[iy])
        depth = len(buttons) > shoulder and bool(buttons[shoulder])
        d = np.array([x * step, 0.0, -y * step]) if depth else np.array([x * step, y * step, 0.0])
        pull = (float(axes[trigger]) + 1.0) / 2.0 if len(axes) > trigger else 0.0
        gripper = GRIPPER_OPEN_RAD * (1.0 - min(max(pull, 0.0), 1.0))
        out[device] = GamepadCommand(d, gripper, clutch)
    return out


@dataclass
class Hand:
    """One virtual handle (guarded by the master's lock)."""

    X_MH: np.ndarray = field(default_factory=lambda: np.eye(4))
    gripper_rad: float = GRIPPER_OPEN_RAD
    clutch: bool = False  # the trainee's
    camera: bool = False
    tap_until_s: float = 0.0  # an automatic clutch tap holds until then
    last_tap_s: float = -math.inf
    tapped_in: bool = False  # the start's clutch tap was done


@dataclass
class ArmSeen:
    """An arm as the bus shows it."""

    X_WT: np.ndarray | None = None
    state: str = ""
    align_error_rad: float = math.nan
    aligned_hand: np.ndarray | None = None  # the server's own answer (3x3), when it sends one


@dataclass
class MasterStats:
    """What the publishing thread did (for the loop's own health).

    Attributes:
        ticks: ticks run; sent: ``measured_cp`` messages sent.
        longest_gap_s: the longest time between two ``measured_cp`` of one device (s).
        resyncs: times the schedule restarted after a stall (> 50 ms behind).
    """

    ticks: int = 0
    sent: int = 0
    longest_gap_s: float = 0.0
    resyncs: int = 0


class DesktopMaster:
    """The desktop's master devices on the bus (see the module docstring).

    Args:
        hello: the server's ``hello`` reply (devices, arms, ``camera_arm``, ``teleop``).
        connect: makes this device's own :class:`~haptics.bus.ClientBus` (called on the
            publishing thread, which then owns it).
        X_WC_fixed: the camera pose (4x4, world) when the scenario has no endoscope arm.
        rate_hz: samples per second per device.
        auto_align: present aligned hands and clutch in by themselves.
        clock: the monotonic clock (s).
    """

    def __init__(
        self,
        hello: Mapping,
        connect: Callable[[], object],
        *,
        X_WC_fixed=None,
        rate_hz: float = 1000.0,
        auto_align: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        mapping = dict(hello.get("devices") or {})
        self.devices = [d for d in DEVICES if d in mapping] or list(mapping)
        if not self.devices:
            raise SimError(
                "the server maps no device to an arm (hello 'devices' is empty); start it "
                "with --map MTMR=ARM."
            )
        self.arm_of = {d: mapping[d] for d in self.devices}
        self.camera_arm = hello.get("camera_arm")
        self.teleop = dict(hello.get("teleop") or {})
        self.X_WC_fixed = None if X_WC_fixed is None else np.asarray(X_WC_fixed, dtype=float)
        self.rate_hz = float(rate_hz)
        self.auto_align = auto_align
        self._connect = connect
        self._clock = clock
        self._lock = threading.Lock()
        self._hands = {d: Hand() for d in self.devices}
        self._seen: dict[str, ArmSeen] = {}
        self._camera_W: np.ndarray | None = None
        self.stats = MasterStats()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="desktop-master", daemon=True)

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> DesktopMaster:
        """Start publishing; returns once the bus is ready (raises what went wrong)."""
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            self.close()
            raise self._error or SimError("the desktop master could not reach the server")
        return self

    def close(self) -> None:
        """Stop publishing (the server then holds the arms) and close the bus."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    @property
    def running(self) -> bool:
        """Whether the publishing thread runs."""
        return self._thread.is_alive()

    # ---- what the window does (any thread) ------------------------------------------------
    def driven_arm(self, device: str) -> str:
        """The arm the device moves now: the endoscope while its camera pedal is held."""
        with self._lock:
            camera = self._hands[device].camera
        if camera and self.camera_arm in self.teleop:
            return self.camera_arm
        return self.arm_of[device]

    def scale(self, device: str) -> float:
        """The driven arm's translation scale (tool motion per hand motion)."""
        settings = self.teleop.get(self.driven_arm(device), {})
        return float(settings.get("translation_scale", 1.0 / 3.0))

    def R_CM(self, device: str) -> np.ndarray:
        """The driven arm's master-to-camera rotation (3x3)."""
        return np.asarray(self.teleop.get(self.driven_arm(device), {}).get("R_CM", np.eye(3)))

    def move_tool(self, device: str, d_C_m) -> None:
        """Move the hand so that the tool moves by ``d_C_m`` (camera frame, m)."""
        d_M = tool_to_hand(d_C_m, self.R_CM(device), self.scale(device))
        with self._lock:
            self._hands[device].X_MH[:3, 3] += d_M

    def turn(self, device: str, axis_M, angle_rad: float, own_axis: bool = False) -> None:
        """Turn the hand by ``angle_rad`` about ``axis_M`` (a master-frame axis), or about
        the handle's own axis when ``own_axis`` (a wrist roll)."""
        R = rotation_about(axis_M, angle_rad)
        with self._lock:
            X = self._hands[device].X_MH
            X[:3, :3] = X[:3, :3] @ R if own_axis else R @ X[:3, :3]

    def set_gripper(self, device: str, angle_rad: float) -> None:
        """Open the gripper to ``angle_rad`` (0 = closed)."""
        with self._lock:
            self._hands[device].gripper_rad = float(angle_rad)

    def set_clutch(self, device: str, pressed: bool) -> None:
        """The trainee's clutch."""
        with self._lock:
            self._hands[device].clutch = bool(pressed)

    def set_camera(self, device: str, pressed: bool) -> None:
        """The camera pedal (the hand then drives the endoscope)."""
        with self._lock:
            self._hands[device].camera = bool(pressed)

    def hand(self, device: str) -> Hand:
        """A copy of a hand now."""
        with self._lock:
            h = self._hands[device]
            return Hand(h.X_MH.copy(), h.gripper_rad, h.clutch, h.camera, h.tap_until_s)

    def arm(self, name: str) -> ArmSeen:
        """An arm as this device last saw it on the bus."""
        with self._lock:
            seen = self._seen.get(name, ArmSeen())
            return ArmSeen(seen.X_WT, seen.state, seen.align_error_rad)

    # ---- the publishing thread ---------------------------------------------------------------
    def _run(self) -> None:
        try:
            bus = self._connect()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        try:
            self._ready.set()
            self._loop(bus)
        except BaseException as exc:  # kept for close(); the server holds the arms
            self._error = exc
        finally:
            bus.close()

    def _loop(self, bus) -> None:
        period = 1.0 / self.rate_hz
        clock = self._clock
        next_t = clock()
        last_sent = dict.fromkeys(self.devices, None)
        pedals_sent = dict.fromkeys(self.devices, (None, None, -math.inf))
        check_every = max(1, round(0.02 * self.rate_hz))  # alignment looked at every 20 ms
        while not self._stop.is_set():
            now = clock()
            with self._lock:
                frames = {d: self._frame(d, now) for d in self.devices}
            for device, (X, gripper, clutch, camera) in frames.items():
                bus.publish(f"{device}/gripper/measured_js", {"position_rad": [gripper]})
                sent_clutch, sent_camera, when = pedals_sent[device]
                if clutch != sent_clutch or camera != sent_camera or now - when >= PEDAL_PERIOD_S:
                    bus.publish(f"{device}/clutch", {"pressed": clutch})
                    bus.publish(f"{device}/camera", {"pressed": camera})
                    pedals_sent[device] = (clutch, camera, now)
                bus.publish(f"{device}/measured_cp", _pose(X), stamp_s=now)
                gap = now - (last_sent[device] if last_sent[device] is not None else now)
                self.stats.longest_gap_s = max(self.stats.longest_gap_s, gap)
                last_sent[device] = now
                self.stats.sent += 1
            for message in bus.poll(0):
                self._seen_message(message)
            self.stats.ticks += 1
            if self.auto_align and self.stats.ticks % check_every == 0:
                self._engage(clock())
            next_t += period
            now = clock()
            if now - next_t > 0.05:
                next_t = now
                self.stats.resyncs += 1
            delay = next_t - now
            if delay > 0:
                time.sleep(delay)

    def _frame(self, device: str, now: float):
        h = self._hands[device]
        return h.X_MH.copy(), h.gripper_rad, h.clutch or now < h.tap_until_s, h.camera

    def _seen_message(self, message) -> None:
        arm, _, kind = message.topic.partition("/")
        if kind == "measured_cp":
            from haptics.bus.contract import pose_from_payload

            X = pose_from_payload(message.payload)
            with self._lock:
                self._seen.setdefault(arm, ArmSeen()).X_WT = X
                if arm == self.camera_arm:
                    self._camera_W = X
        elif kind == "operating_state":
            with self._lock:
                seen = self._seen.setdefault(arm, ArmSeen())
                seen.state = str(message.payload.get("state", ""))
                seen.align_error_rad = float(message.payload.get("align_error_rad", math.nan))
                xyzw = message.payload.get("aligned_hand_xyzw")
                if xyzw is not None:
                    seen.aligned_hand = quat_xyzw_to_matrix(xyzw)

    def _engage(self, now: float) -> None:
        """Aligned hands while an arm waits for alignment; a clutch tap after a hold and
        once at the start."""
        with self._lock:
            X_WC = self._camera_W if self.X_WC_fixed is None else self.X_WC_fixed
            for device, hand in self._hands.items():
                seen = self._seen.get(self.arm_of[device])
                if seen is None or hand.clutch or hand.camera:  # camera: the hand drives the scope
                    continue
                if seen.state in ("ALIGNING", "DISABLED"):
                    if seen.aligned_hand is not None:
                        hand.X_MH[:3, :3] = seen.aligned_hand
                    elif seen.X_WT is not None and X_WC is not None:
                        R_CM = self.teleop.get(self.arm_of[device], {}).get("R_CM")
                        hand.X_MH[:3, :3] = aligned_hand_rotation(seen.X_WT, X_WC, R_CM)
                tap = (seen.state == "HOLDING") or (seen.state == "ALIGNING" and not hand.tapped_in)
                if tap and now - hand.last_tap_s >= TAP_RETRY_S:
                    hand.tap_until_s = now + TAP_S
                    hand.last_tap_s = now
                    hand.tapped_in = True


def _pose(X) -> dict:
    from haptics.bus.contract import pose_payload

    return pose_payload(X)


# ---- the device in its own process ------------------------------------------------------------
class DeviceProcess:
    """A :class:`DesktopMaster` in a child process, driven from the window's thread.

    A 1 kHz sample stream must not wait for the window: in the viewer's process the
    device thread shares the interpreter with drawing (Pillow, numpy and PyOpenGL hold it
    for milliseconds at a time), and the server's watchdog holds an arm whose newest sample
    is over 30 ms old. In a process of its own the stream only competes for a CPU, which
    the operating system shares out well to a thread that mostly sleeps. Commands go over
    a pipe in order; the methods are those of :class:`DesktopMaster` that the window uses.

    Args:
        hello, host, port, curve, X_WC_fixed, rate_hz: as for :class:`DesktopMaster`
            (the child makes its own bus connection from ``host``, ``port`` and ``curve``).
    """

    def __init__(
        self,
        hello: Mapping,
        host: str = "127.0.0.1",
        port: int = 5570,
        *,
        curve=None,
        X_WC_fixed=None,
        rate_hz: float = 1000.0,
        timeout_s: float = 30.0,
    ) -> None:
        import multiprocessing

        # a local copy for the mapping the window computes (scales, R_CM, the camera arm)
        self._local = DesktopMaster(hello, lambda: None, X_WC_fixed=X_WC_fixed)
        self.devices = self._local.devices
        self.stats = MasterStats()
        context = multiprocessing.get_context("spawn")  # no GL or GLFW state in the child
        self._conn, child = context.Pipe()
        hello = {k: v for k, v in hello.items() if k not in ("scene", "scenario_yaml")}
        self._process = context.Process(
            target=_device_main,
            args=(child, dict(hello), host, port, curve, X_WC_fixed, rate_hz, timeout_s),
            name="surgisim-desktop-device",
            daemon=True,
        )
        self._process.start()
        child.close()
        if not self._conn.poll(timeout_s + 60.0):
            self.close()
            raise SimError("the desktop device process did not start in time.")
        status = self._conn.recv()
        if status != "ready":
            self.close()
            raise SimError(f"the desktop device could not start: {status}")

    def _send(self, *command) -> None:
        with contextlib.suppress(OSError):  # the child is gone (session over): nothing to drive
            self._conn.send(command)

    def driven_arm(self, device: str) -> str:
        """The arm the device moves now (the endoscope while its camera pedal is held)."""
        return self._local.driven_arm(device)

    def move_tool(self, device: str, d_C_m) -> None:
        """See :meth:`DesktopMaster.move_tool`."""
        self._send("move_tool", device, np.asarray(d_C_m, dtype=float).tolist())

    def turn(self, device: str, axis_M, angle_rad: float, own_axis: bool = False) -> None:
        """See :meth:`DesktopMaster.turn`."""
        self._send("turn", device, list(axis_M), float(angle_rad), bool(own_axis))

    def set_gripper(self, device: str, angle_rad: float) -> None:
        """See :meth:`DesktopMaster.set_gripper`."""
        self._send("set_gripper", device, float(angle_rad))

    def set_clutch(self, device: str, pressed: bool) -> None:
        """See :meth:`DesktopMaster.set_clutch`."""
        self._send("set_clutch", device, bool(pressed))

    def set_camera(self, device: str, pressed: bool) -> None:
        """See :meth:`DesktopMaster.set_camera` (also kept here for :meth:`driven_arm`)."""
        self._local.set_camera(device, pressed)
        self._send("set_camera", device, bool(pressed))

    def close(self) -> None:
        """Stop the child (its stream ends: the server holds the arms); keep its stats."""
        if self._process.is_alive():
            self._send("close")
            if self._conn.poll(10.0):
                with_stats = self._conn.recv()
                if isinstance(with_stats, MasterStats):
                    self.stats = with_stats
            self._process.join(timeout=10.0)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5.0)
        self._conn.close()


def _device_main(conn, hello, host, port, curve, X_WC_fixed, rate_hz, timeout_s) -> None:
    """The device process: a :class:`DesktopMaster` fed by the window's commands."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the window's to handle
    sys.setswitchinterval(0.0005)

    def connect():
        from haptics.bus.sockets import ClientBus

        arms = [a["name"] for a in hello.get("arms", [])]
        bus = ClientBus(host, port, curve, subscribe=[f"{a}/" for a in arms])
        bus.wait_ready(timeout_s)
        return bus

    try:
        master = DesktopMaster(hello, connect, X_WC_fixed=X_WC_fixed, rate_hz=rate_hz)
        master.start(timeout_s)
    except BaseException as exc:
        conn.send(f"{type(exc).__name__}: {exc}")
        return
    conn.send("ready")
    try:
        while master.running:
            if not conn.poll(0.05):
                continue
            try:
                command = conn.recv()
            except EOFError:  # the window's process went away
                break
            name, *args = command
            if name == "close":
                break
            getattr(master, name)(*args)
    finally:
        master.close()
        with contextlib.suppress(OSError):
            conn.send(master.stats)
