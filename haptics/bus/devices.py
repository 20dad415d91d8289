"""Device messages -> :class:`haptics.master.MasterSample` streams, one per device name.

A device publishes ``<dev>/measured_cp`` (and, before it in the same tick, the gripper and
pedals). :class:`DeviceState` keeps the latest gripper, clutch and camera pedal of each
device and turns every ``measured_cp`` into one :class:`DeviceSample`, in the order
received: the teleoperation wants every sample, not the newest only.

Clocks: a device stamps with its own clock; the teleoperation compares sample times with
the server's loop clock. :class:`ClockMap` maps a device stamp onto the receiver's clock
by the smallest ``received - stamp`` seen over a sliding window (the classic one-way
offset estimate: the fastest message had the least queueing). Jitter in delivery therefore
does not become jitter in sample times, and a slowly drifting device clock is followed.
A constant injected latency (:mod:`haptics.bus.latency`) is absorbed by the offset too: the
delayed samples look fresh to the watchdog, as they would to a remote console.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, fields

from haptics.bus.contract import Message, pose_from_payload
from haptics.master import MasterSample

__all__ = ["ClockMap", "DeviceSample", "DeviceState", "DeviceStats"]

_SAMPLE_HAS_SEQ = "seq" in {f.name for f in fields(MasterSample)}


class ClockMap:
    """Maps one sender's stamps onto the receiver's clock (s), robust to delivery jitter.

    ``offset = min(received_s - stamp_s)`` over the messages of the last ``window_s``
    seconds (a monotone deque, O(1) amortised per message). A stamp that goes backwards
    (the sender restarted) forgets the history.
    """

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = float(window_s)
        self._window: deque[tuple[float, float]] = deque()  # (received_s, offset), offsets rising
        self._last_stamp_s = -float("inf")

    def reset(self) -> None:
        """Forget every offset seen (a new sender, or the same one restarted)."""
        self._window.clear()
        self._last_stamp_s = -float("inf")

    def to_local(self, stamp_s: float, received_s: float) -> float:
        """The receiver-clock time (s) of a message stamped ``stamp_s`` that arrived at
        ``received_s``; never later than ``received_s``."""
        if stamp_s < self._last_stamp_s:
            self.reset()
        self._last_stamp_s = stamp_s
        offset = received_s - stamp_s
        w = self._window
        while w and w[-1][1] >= offset:
            w.pop()
        w.append((received_s, offset))
        while w[0][0] < received_s - self.window_s:
            w.popleft()
        return stamp_s + w[0][1]


@dataclass(frozen=True, slots=True)
class DeviceSample:
    """One ``measured_cp`` of one device, ready for the teleoperation.

    Attributes:
        device: the device name (``"MTMR"``).
        sample: pose, gripper and clutch; ``time_s`` is the device stamp mapped onto the
            receiver's clock (see :class:`ClockMap`). When :class:`MasterSample` has a
            ``seq`` field it carries the device's seq too.
        seq: the device's ``seq`` of this ``measured_cp`` (per topic, from 0).
        stamp_s: the device's own stamp (s, its clock).
        received_s: when the receiver took it off the socket (s, receiver clock).
        camera: the camera pedal's latest state.
    """

    device: str
    sample: MasterSample
    seq: int
    stamp_s: float
    received_s: float
    camera: bool = False


@dataclass
class DeviceStats:
    """What a device has sent, for the server's status line and tests.

    Attributes:
        samples: ``measured_cp`` messages turned into samples.
        lost: ``measured_cp`` seq numbers skipped (lost in transit or dropped as invalid).
        restarts: times the device's seq or clock started again.
        invalid_stamps: ``measured_cp`` with ``stamp_s == 0`` (CRTK: invalid data), ignored.
        last_received_s: receiver clock of its latest message (s).
    """

    samples: int = 0
    lost: int = 0
    restarts: int = 0
    invalid_stamps: int = 0
    last_received_s: float = 0.0


#: A forward jump of ``seq`` of more than this much time's worth of samples is not
#: counted as lost: no device loses a minute of samples and carries on, so it is a sender
#: that restarted somewhere else in its count, or garbage (a probe sent 2**64 - 1).
#: Counted as a restart instead (s; the server scales it by its devices' rate).
SEQ_JUMP_S = 60.0
#: :data:`SEQ_JUMP_S` of a 1 kHz device, in samples.
MAX_SEQ_JUMP = round(SEQ_JUMP_S * 1000)

#: After a ``seq`` that went back (a restart, or one stray old message), a jump forward to
#: at most this many past the seq before it is the old stream going on: the restart is
#: undone. 1 s of a 1 kHz device: room for what the old stream lost meanwhile.
RESUME_WINDOW = 1000


@dataclass
class _Device:
    clock: ClockMap
    gripper_rad: float = 0.0
    clutch: bool = False
    camera: bool = False
    last_seq: int = -1
    latest: DeviceSample | None = None
    stats: DeviceStats = field(default_factory=DeviceStats)
    #: the seq, clock map, restarts and lost count from before a restart, while it may be
    #: undone
    before_restart: tuple[int, ClockMap, int, int] | None = None


class DeviceState:
    """The latest state of every device on the bus, and its stream of samples.

    Feed it validated device messages (:meth:`haptics.bus.sockets.ServerBus.drain`), in
    order; it returns one :class:`DeviceSample` per ``measured_cp``. Server-bound topics
    that are not device input are ignored.

    Args:
        clock_window_s: the :class:`ClockMap` window (s).
        max_seq_jump: the largest forward ``seq`` jump counted as lost samples
            (:data:`MAX_SEQ_JUMP`); a larger one counts as a restart.
    """

    def __init__(self, clock_window_s: float = 2.0, max_seq_jump: int = MAX_SEQ_JUMP) -> None:
        self._clock_window_s = clock_window_s
        self.max_seq_jump = int(max_seq_jump)
        self._devices: dict[str, _Device] = {}

    @property
    def devices(self) -> tuple[str, ...]:
        """Names of the devices heard from, in order of first message."""
        return tuple(self._devices)

    def latest(self, device: str) -> DeviceSample | None:
        """The device's newest sample, or None before its first ``measured_cp``."""
        d = self._devices.get(device)
        return None if d is None else d.latest

    def stats(self, device: str) -> DeviceStats:
        """Counts for one device (a fresh, empty record for a device never heard from)."""
        d = self._devices.get(device)
        return DeviceStats() if d is None else d.stats

    def ingest(self, messages, received_s: float | None = None) -> list[DeviceSample]:
        """:meth:`update` every message in order; the samples they produced, in order."""
        out = []
        for m in messages:
            s = self.update(m, received_s)
            if s is not None:
                out.append(s)
        return out

    def update(self, message: Message, received_s: float | None = None) -> DeviceSample | None:
        """Take one validated device message; a :class:`DeviceSample` for a ``measured_cp``.

        Args:
            message: a message accepted by :func:`haptics.bus.contract.decode`.
            received_s: overrides ``message.received_s`` (s) — e.g. the time a
                :class:`~haptics.bus.latency.DelayLine` released it.
        """
        name, kind, p = message.component, message.name, message.payload
        now_s = message.received_s if received_s is None else received_s
        d = self._devices.get(name)
        if d is None:
            d = self._devices[name] = _Device(ClockMap(self._clock_window_s))
        d.stats.last_received_s = now_s
        if kind == "gripper/measured_js":
            d.gripper_rad = float(p["position_rad"][0])
        elif kind == "clutch":
            d.clutch = p["pressed"]
        elif kind == "camera":
            d.camera = p["pressed"]
        elif kind == "measured_cp":
            return self._sample(name, d, p, now_s)
        return None

    def _count_seq(self, d: _Device, seq: int) -> None:
        """Count lost samples and restarts from a ``measured_cp``'s ``seq``.

        A seq that goes back means the sender restarted (docs/bus.md), but so does one
        stray old message (a replay, a duplicate from a second process): counted as a
        restart, the old stream that goes on after it would count every seq between the
        stray's and its own as lost (~28 500 after one stray ``seq`` 0 in a probe). So
        the old seq and clock map are kept, and when the stream jumps forward to just
        past that old seq (within :data:`RESUME_WINDOW`) the restart is undone and only
        what the old stream really skipped is lost. A real restart counts up from its
        new start instead, and is kept once it has caught up with the old seq.

        A forward jump of more than :attr:`max_seq_jump` is no loss but a restart (or
        garbage): it is counted as one, so ``lost`` grows by at most that much per
        message and stays a plain, bounded int whatever a sender puts in ``seq``.
        """
        before = d.before_restart
        if seq <= d.last_seq:
            d.stats.restarts += 1
            if before is None:  # further strays (or restarts) are undone with it
                d.before_restart = (d.last_seq, d.clock, d.stats.restarts - 1, d.stats.lost)
            d.clock = ClockMap(self._clock_window_s)
        elif before is not None and seq > before[0]:  # a jump past the old seq
            old_seq, old_clock, old_restarts, old_lost = before
            d.before_restart = None
            if seq - old_seq <= RESUME_WINDOW:  # the old stream goes on: no restart
                d.stats.restarts = old_restarts
                d.stats.lost = old_lost + seq - old_seq - 1
                d.clock = old_clock
            else:
                self._count_gap(d, seq)
        else:
            if d.last_seq >= 0:
                self._count_gap(d, seq)
            if before is not None and seq == before[0]:
                d.before_restart = None  # a new stream that caught up: a real restart
        d.last_seq = seq

    def _count_gap(self, d: _Device, seq: int) -> None:
        """The seq numbers skipped between the last ``measured_cp`` and this one: lost
        samples, or a restart when the jump is too large to be a loss."""
        skipped = seq - d.last_seq - 1
        if skipped > self.max_seq_jump:
            d.stats.restarts += 1
        else:
            d.stats.lost += skipped

    def _sample(self, name: str, d: _Device, p: dict, now_s: float) -> DeviceSample | None:
        seq, stamp_s = p["seq"], float(p["stamp_s"])
        if stamp_s == 0.0:
            d.stats.invalid_stamps += 1
            return None
        self._count_seq(d, seq)
        extra = {"seq": seq} if _SAMPLE_HAS_SEQ else {}
        sample = MasterSample(
            time_s=d.clock.to_local(stamp_s, now_s),
            X_MH=pose_from_payload(p),
            gripper_rad=d.gripper_rad,
            clutch=d.clutch,
            **extra,
        )
        d.latest = DeviceSample(name, sample, seq, stamp_s, now_s, d.camera)
        d.stats.samples += 1
        return d.latest
