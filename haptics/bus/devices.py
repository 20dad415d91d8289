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

import itertools
import logging
import math
from collections import deque
from dataclasses import dataclass, field, fields

from haptics.bus.contract import Message, pose_from_payload
from haptics.master import MasterSample

__all__ = [
    "ClockMap",
    "DeviceSample",
    "DeviceState",
    "DeviceStats",
    "StampRateCheck",
    "stamp_rate_problem",
    "stamp_resolution_problem",
]

_SAMPLE_HAS_SEQ = "seq" in {f.name for f in fields(MasterSample)}


#: (s of receipts) the clock map keeps the least offset of each bucket this long: the
#: points its drift is fitted through.
CLOCK_BUCKET_S = 0.125
#: (s) the drift is fitted through the buckets of this last stretch only: a clock whose
#: rate changes is followed within about half of it.
CLOCK_DRIFT_FIT_S = 1.0
#: A fitted drift smaller than this is taken as none: a device's crystal is within
#: ~100 ppm, which moves the envelope by 0.2 ms over the 2 s window, while a fit through
#: jittered minima wobbles by ~1e-6 and would bend a clean 1 ms sample grid by microseconds.
CLOCK_DRIFT_DEADBAND = 1e-4
#: The largest drift followed (5%: a 1024 Hz oscillator's ticks read as milliseconds is
#: 2.4%, a ceramic resonator under 1%). A delay that grows looks exactly like a slow clock
#: to a one-way measure; the receiver's own backlog is told apart (``read_late``), a queue
#: further upstream is not, and beyond this bound its growth still ages the samples.
CLOCK_DRIFT_MAX = 0.05
#: Completed buckets needed before a drift is fitted (none before: the map is the plain
#: sliding minimum, exact for a sender whose clock runs at the receiver's rate). Four
#: buckets, 0.5 s: a clock 5% slow has aged its samples 25 ms by then, inside the
#: watchdog's 30 ms (0.75 s held a 4% slow clock at its start).
CLOCK_DRIFT_MIN_BUCKETS = 4


class ClockMap:
    """Maps one sender's stamps onto the receiver's clock (s), robust to delivery jitter
    and to a sender's clock running at another rate.

    The offset ``received_s - stamp_s`` of the least-delayed messages is the lower
    envelope of all offsets; a sender's clock that runs slow by a fraction ``e`` makes
    that envelope climb by ``e`` seconds per second. A plain minimum over the window
    lags a climbing envelope by ``e`` x the window: a device clock 2% slow made every
    sample look 30-40 ms old and the watchdog held a good device again and again (a
    probe stamping ticks/1000 of its own oscillator). So the map keeps the least offset
    of each :data:`CLOCK_BUCKET_S` of receipts over the last ``window_s`` seconds, fits
    their drift (the median slope between consecutive buckets of the last
    :data:`CLOCK_DRIFT_FIT_S`, so one stalled bucket or one step does not tilt it), and
    takes ``offset(now) = min over buckets of (its least offset + drift x
    its age)``, the newest message's own offset included. With no drift (or fewer than
    :data:`CLOCK_DRIFT_MIN_BUCKETS` buckets) that is the plain sliding minimum. A stamp
    that goes backwards (the sender restarted) forgets the history.
    """

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = float(window_s)
        self.reset()

    def reset(self) -> None:
        """Forget every offset seen (a new sender, or the same one restarted)."""
        self._buckets: deque[tuple[float, float]] = deque()  # (received_s, least offset)
        self._open: tuple[float, float] | None = None  # the bucket being filled
        self._open_start_s = -math.inf
        self._drift = 0.0  # d(offset)/d(received): + when the sender's clock is slow
        self._base = math.inf  # min over buckets of (least offset - drift x its time)
        self._last_stamp_s = -float("inf")

    @property
    def drift(self) -> float:
        """Offset seconds gained per receiver second, ``1 - sender rate / receiver rate``
        (0.02 for a sender's clock 2% slow, negative for a fast one); 0 until fitted."""
        return self._drift

    def to_local(self, stamp_s: float, received_s: float, read_late: bool = False) -> float:
        """The receiver-clock time (s) of a message stamped ``stamp_s`` that arrived at
        ``received_s``; never later than ``received_s``.

        A message ``read_late`` (out of the receiver's own backlog: ``received_s`` is
        when the receiver got to it) is mapped but teaches the map nothing: a backlog
        that grows for seconds raises every offset, the least ones too, and would be
        fitted as a slow clock, its samples then looking fresh to the watchdog."""
        if stamp_s < self._last_stamp_s:
            self.reset()
        self._last_stamp_s = stamp_s
        offset = received_s - stamp_s
        if read_late:
            return stamp_s + min(offset, self._estimate(received_s))
        if received_s >= self._open_start_s + CLOCK_BUCKET_S:
            self._close_bucket(received_s)
        if self._open is None or offset <= self._open[1]:
            self._open = (received_s, offset)
        return stamp_s + min(offset, self._estimate(received_s))

    def _estimate(self, received_s: float) -> float:
        """The least offset seen, each bucket's carried along the drift to ``received_s``
        (inf before any message)."""
        drift = self._drift
        best = math.inf
        if self._open is not None:
            best = self._open[1] + drift * (received_s - self._open[0])
        if self._buckets:  # the window's buckets, each carried along the drift to now
            best = min(best, self._base + drift * received_s)
        return best

    def _close_bucket(self, received_s: float) -> None:
        """The open bucket joins the window; buckets older than the window leave it; the
        drift is fitted again."""
        buckets = self._buckets
        if self._open is not None:
            buckets.append(self._open)
        self._open = None
        self._open_start_s = received_s
        while buckets and buckets[0][0] < received_s - self.window_s:
            buckets.popleft()
        self._drift = self._fit_drift(buckets)
        self._base = min((least - self._drift * at_s for at_s, least in buckets), default=math.inf)

    @staticmethod
    def _fit_drift(buckets) -> float:
        """The median slope between consecutive buckets' least offsets over the last
        :data:`CLOCK_DRIFT_FIT_S`: a step in the stamps (a clock set forward 0.2 s) tilts
        one slope of several, where a fit through all pairs (Theil-Sen) took it for a 5%
        drift and aged every sample until the step left the window."""
        recent = [b for b in buckets if b[0] >= buckets[-1][0] - CLOCK_DRIFT_FIT_S]
        if len(recent) < CLOCK_DRIFT_MIN_BUCKETS:
            return 0.0
        slopes = [
            (b[1] - a[1]) / (b[0] - a[0])
            for a, b in itertools.pairwise(recent)
            if b[0] - a[0] >= 0.5 * CLOCK_BUCKET_S
        ]
        if not slopes:
            return 0.0
        slopes.sort()
        mid = len(slopes) // 2
        drift = slopes[mid] if len(slopes) % 2 else 0.5 * (slopes[mid - 1] + slopes[mid])
        if abs(drift) < CLOCK_DRIFT_DEADBAND:
            return 0.0
        return min(max(drift, -CLOCK_DRIFT_MAX), CLOCK_DRIFT_MAX)


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
    """What a device has sent, for the server's status line, the stored session and tests.

    Every ``measured_cp`` received lands in exactly one of ``samples``, ``held`` and
    ``invalid_stamps``; the seq numbers that never arrived are ``lost`` (skipped between two
    received ones) or ``unseen`` (before the first one received of a stream). So for one
    sender that counts each stream's ``seq`` from 0, ``samples + held + invalid_stamps +
    lost + unseen`` is what it sent, summed over its streams (``restarts + 1`` of them),
    except what it sent last and never arrived. Two senders under one name
    (``duplicate_senders``) mix their counts.

    Attributes:
        samples: ``measured_cp`` turned into samples for the teleoperation.
        held: ``measured_cp`` with a valid stamp that were not used because the device
            was held: two senders under its name, or its ``stamp_s`` not advancing at the
            server's rate (below); and each one whose ``seq`` went back or jumped (a
            stray, or a restart's first sample: a restart is used from its second).
        invalid_stamps: ``measured_cp`` with ``stamp_s == 0`` (CRTK: invalid data),
            ignored; their ``seq`` counts as received (no loss).
        lost: ``measured_cp`` seq numbers skipped between two received ones (lost in
            transit), at most ``max_seq_jump`` per message.
        unseen: seq numbers before the first ``measured_cp`` received of each stream
            (sent before the server listened, or before its subscription reached the
            sender: the slow joiner); a first seq above ``max_seq_jump`` (a sender that
            ran long before) adds nothing.
        restarts: times the device's ``seq`` went back (and the old stream did not resume
            just past it), jumped forward by more than ``max_seq_jump``, or its
            ``stamp_s`` went back by more than :data:`STAMP_BACK_TOLERANCE_S` while the
            seq went on.
        duplicate_senders: episodes of two senders under this name (the seq going back
            :data:`DUPLICATE_REVERSALS` times within :data:`DUPLICATE_WINDOW_S`); the
            device is held while one lasts.
        stamp_rate_off: episodes of ``stamp_s`` advancing outside
            :data:`STAMP_RATE_RANGE` times the server's clock (a wrong unit, a wrong
            clock); the device is held while one lasts.

    Only counts of messages: these are stored with a session (``conditions.devices``),
    and a time of the server's monotonic clock (the receipt of the last message, once
    kept here) means nothing outside the server process that read it.
    """

    samples: int = 0
    held: int = 0
    invalid_stamps: int = 0
    lost: int = 0
    unseen: int = 0
    restarts: int = 0
    duplicate_senders: int = 0
    stamp_rate_off: int = 0


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

#: A ``stamp_s`` that goes back by more than this (s) while the ``seq`` goes on is a
#: restart of the sender's clock (a monotonic clock never goes back; a little is allowed
#: for a sender that stamps in several threads).
STAMP_BACK_TOLERANCE_S = 0.005

#: This many reversals of ``seq`` (a seq at or below the one before) within
#: :data:`DUPLICATE_WINDOW_S` are two senders under one name, not strays: each sends its
#: own count, and every switch from the higher to the lower is a reversal (hundreds a
#: second at a device's rate). One stray old message makes one.
DUPLICATE_REVERSALS = 3
#: (s) the window of :data:`DUPLICATE_REVERSALS`.
DUPLICATE_WINDOW_S = 2.0
#: (s) two senders are taken to be one again after this long without a reversal.
DUPLICATE_QUIET_S = 1.0

#: (s of receiver clock) the stamp-rate check takes the least-delayed sample (smallest
#: ``received - stamp``) of each period this long, and compares how far the stamps and
#: the receipts of those samples advanced two periods apart (at least one period of
#: receipts): a stall of the receiver or the network delays the samples it holds, not
#: the least-delayed one of a period.
STAMP_CHECK_PERIOD_S = 0.5
#: ``stamp_s`` advancing between these times the server's clock is a clock at real time
#: (a wrong unit is 1e-3, 1e3, 1e6 or 1e9; a device's jitter or bursts come nowhere near).
STAMP_RATE_RANGE = (0.67, 1.5)
#: Two consecutive measures outside :data:`STAMP_RATE_RANGE`, within this factor of each
#: other, hold the device (a stall of the receiver gives one measure too low and the next
#: too high, never two that agree); two inside it release it.
STAMP_RATE_AGREEMENT = 1.5
#: Measures in a row needed for stamps too slow (a receiver falling behind its devices,
#: its backlog growing, sees their stamps advance slower than its clock for a while; the
#: server's own read backlog is told apart (``read_late``), a lag in ZeroMQ's I/O thread
#: or the kernel's buffers is not).
STAMP_SLOW_MEASURES = 4

#: A stamp rate near 10**k (within 30%) names the unit the stamps are likely in.
_UNITS = {
    3: "milliseconds, e.g. performance.now(): divide by 1000",
    6: "microseconds: divide by 1e6",
    9: "nanoseconds, e.g. process.hrtime.bigint(): divide by 1e9",
    -3: "thousands of seconds: divided by 1000 once too often?",
}

#: (s) The coarsest step a ``stamp_s`` may resolve and still be read as a time: a double
#: holds 53 bits, so beyond 2**43 s (8.8e12) its step is 2 ms or more, and consecutive
#: samples of a 1 kHz device share a stamp. A device whose stamps are that large (a huge
#: epoch: ``1e16 + monotonic()``) looked like a clock at a wrong rate ("advances 2x as
#: fast"), and the fix it was told (the unit) was not the fault.
MAX_STAMP_STEP_S = 1e-3

log = logging.getLogger("haptics.bus")


def stamp_too_coarse(stamp_s: float) -> bool:
    """A double cannot resolve ``stamp_s`` to :data:`MAX_STAMP_STEP_S` (a huge epoch)."""
    return math.ulp(stamp_s) > MAX_STAMP_STEP_S


def stamp_resolution_problem(device: str, stamp_s: float) -> str:
    """What is wrong with ``stamp_s`` when a double cannot resolve it to
    :data:`MAX_STAMP_STEP_S` ('' when it can), and the fix (an epoch near 0)."""
    if not stamp_too_coarse(stamp_s):
        return ""
    step = math.ulp(stamp_s)
    return (
        f"{device}'s stamp_s={stamp_s:.3g} has a resolution of {_seconds(step)} in a double"
        " (64-bit float); use an epoch near 0 (e.g. seconds since the device started):"
        " below 8.6e9 s a double resolves 1 us, below 8.8e12 s 1 ms. "
        f"{device}'s samples are held until its stamps resolve 1 ms"
    )


def _seconds(step: float) -> str:
    """A stamp's step (s), as people read it: 2 s, 4 ms."""
    return f"{step:.3g} s" if step >= 1 else f"{step * 1e3:.3g} ms"


def _times(ratio: float) -> str:
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    return f"{ratio:.2g}x" if ratio < 0.1 else f"{ratio:.3g}x"


def stamp_rate_problem(device: str, ratio: float) -> str:
    """What a device's stamps advancing ``ratio`` times the server's clock means, and
    the fix (names the unit for ratios near 1e3, 1e6, 1e9 and 1e-3)."""
    unit = ""
    if ratio > 0:
        k = round(math.log10(ratio))
        if k in _UNITS and abs(ratio / 10.0**k - 1.0) <= 0.3:
            unit = f" (they look like {_UNITS[k]})"
    if ratio <= 0:
        pace = "does not advance"
    elif ratio >= 1:
        pace = f"advances {_times(ratio)} as fast as the server's clock"
    else:
        pace = (
            f"advances {_times(ratio)} as fast as the server's clock ({_times(1 / ratio)} slower)"
        )
    return (
        f"{device}'s stamp_s {pace}{unit}; stamp_s must be seconds of a steady clock "
        f"(time.monotonic(), performance.now()/1000): {device}'s samples are held until "
        "they are"
    )


class StampRateCheck:
    """How fast one sender's stamps advance against the receiver's clock.

    Feed it every valid stamp with its receipt time (:meth:`add`); each
    :data:`STAMP_CHECK_PERIOD_S` of receipts it keeps the least-delayed sample, and from
    the third period on returns, once a period, how far the stamps advanced per second
    of receipts over the last two periods (1.0 for a clock at real time, whatever its
    offset, jitter or bursts; see :func:`_steady_rate` for a clock set forward once).
    :meth:`reset` when the sender's clock restarts.
    """

    __slots__ = ("_anchors", "_best", "_period_start")

    def __init__(self) -> None:
        self._anchors: deque[tuple[float, float]] = deque(maxlen=3)
        self.reset()

    def reset(self) -> None:
        """Forget every sample (a new clock)."""
        self._anchors.clear()
        self._period_start = -math.inf
        self._best: tuple[float, float, float] | None = None  # (offset, received, stamp)

    def add(self, stamp_s: float, received_s: float, read_late: bool = False) -> float | None:
        """Count one sample; the stamp rate (stamp s per receiver s) when a period closes
        with two before it, else None.

        A sample ``read_late`` (out of the receiver's backlog: ``received_s`` is when it
        was read) closes periods but is never a period's anchor: a backlog that grows
        for seconds delays every sample in it, the least-delayed too, and made a good
        device's stamps look 0.5x as fast (a flooded server held it). A period with none
        read on time has no anchor; the measure spans the periods that have one."""
        ratio = None
        if received_s >= self._period_start + STAMP_CHECK_PERIOD_S:
            if self._best is not None:
                self._anchors.append(self._best[1:])
                if len(self._anchors) == 3:
                    ratio = _steady_rate(*self._anchors)
            self._period_start = received_s
            self._best = None
        offset = received_s - stamp_s
        if read_late:
            return ratio
        if self._best is None or offset < self._best[0]:
            self._best = (offset, received_s, stamp_s)
        return ratio


def _steady_rate(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]):
    """The stamp rate over three (received, stamp) anchors a period apart: of the two
    periods' own rates, the one nearer 1 when both advanced; the rate over both
    otherwise; None when no receipt time passed.

    A clock set forward once (an NTP step of a wall or ROS clock: docs/bus.md says it is
    followed) jumps within one period; measured over both, the step read as a rate of
    1 + step / 1 s in two measures in a row, as a wrong unit does, and a +1 s step held
    the arm as "advances 2x as fast". A wrong rate is wrong in every period, so the
    period nearer 1 still shows it; a step is in one period only.
    """
    (r0, s0), (r1, s1), (r2, s2) = a, b, c
    if not r2 > r0:
        return None
    if r1 > r0 and r2 > r1:
        first, second = (s1 - s0) / (r1 - r0), (s2 - s1) / (r2 - r1)
        if first > 0 and second > 0:
            return min(first, second, key=lambda x: abs(math.log(x)))
    return (s2 - s0) / (r2 - r0)


@dataclass
class _Stream:
    """What a stream of one device name is at: restored when a restart is undone."""

    last_seq: int
    last_stamp_s: float
    clock: ClockMap
    restarts: int
    lost: int
    unseen: int


@dataclass
class _Device:
    clock: ClockMap
    gripper_rad: float = 0.0
    clutch: bool = False
    camera: bool = False
    last_seq: int = -1
    last_stamp_s: float = math.nan
    latest: DeviceSample | None = None
    stats: DeviceStats = field(default_factory=DeviceStats)
    #: the stream from before a restart, while it may be undone
    before_restart: _Stream | None = None
    #: receipt times of the latest seq reversals (two senders, :data:`DUPLICATE_REVERSALS`)
    reversals: deque = field(default_factory=lambda: deque(maxlen=DUPLICATE_REVERSALS))
    duplicate: bool = False
    stamp_check: StampRateCheck = field(default_factory=StampRateCheck)
    #: the latest stamp-rate measures, newest last
    stamp_ratios: deque = field(default_factory=lambda: deque(maxlen=STAMP_SLOW_MEASURES))
    stamp_rate_off: bool = False
    #: held: its stamps are too large for a double to resolve 1 ms (:data:`MAX_STAMP_STEP_S`)
    coarse_stamps: bool = False


class DeviceState:
    """The latest state of every device on the bus, and its stream of samples.

    Feed it validated device messages (:meth:`haptics.bus.sockets.ServerBus.drain`), in
    order; it returns one :class:`DeviceSample` per ``measured_cp``, except while a device
    is held. Server-bound topics that are not device input are ignored.

    A device is held (its ``measured_cp`` counted as ``held``, none returned, so the
    teleoperation's watchdog holds its arm until a clutch press and release once they
    flow again) while two senders use its name, or while its ``stamp_s`` does not advance
    at the server's rate; each episode is counted (:class:`DeviceStats`), logged once as
    a WARNING on the ``haptics.bus`` logger, and said in :meth:`pop_notices`.

    Args:
        clock_window_s: the :class:`ClockMap` window (s).
        max_seq_jump: the largest forward ``seq`` jump counted as lost samples
            (:data:`MAX_SEQ_JUMP`); a larger one counts as a restart.
    """

    def __init__(self, clock_window_s: float = 2.0, max_seq_jump: int = MAX_SEQ_JUMP) -> None:
        self._clock_window_s = clock_window_s
        self.max_seq_jump = int(max_seq_jump)
        self._devices: dict[str, _Device] = {}
        self._notices: list[tuple[str, str]] = []

    @property
    def devices(self) -> tuple[str, ...]:
        """Names of the devices heard from, in order of first message."""
        return tuple(self._devices)

    def forget(self, device: str) -> None:
        """Drop the device's state and counts (a name the bus forgot: :mod:`haptics.bus.names`)."""
        self._devices.pop(device, None)

    def latest(self, device: str) -> DeviceSample | None:
        """The device's newest sample, or None before its first ``measured_cp``."""
        d = self._devices.get(device)
        return None if d is None else d.latest

    def stats(self, device: str) -> DeviceStats:
        """Counts for one device (a fresh, empty record for a device never heard from)."""
        d = self._devices.get(device)
        return DeviceStats() if d is None else d.stats

    def held(self, device: str) -> str:
        """Why the device's samples are held now ('' when they are not)."""
        d = self._devices.get(device)
        if d is None:
            return ""
        reasons = []
        if d.duplicate:
            reasons.append("two senders use its name")
        if d.stamp_rate_off:
            reasons.append("its stamp_s does not advance at the server's rate")
        if d.coarse_stamps:
            reasons.append("its stamp_s is too large for a double to resolve 1 ms")
        return " and ".join(reasons)

    def pop_notices(self) -> list[tuple[str, str]]:
        """``(device, text)`` for each hold that began since the last call (the same text
        as the WARNING logged), in order."""
        out, self._notices = self._notices, []
        return out

    def ingest(
        self, messages, received_s: float | None = None, read_late: bool = False
    ) -> list[DeviceSample]:
        """:meth:`update` every message in order; the samples they produced, in order."""
        out = []
        for m in messages:
            s = self.update(m, received_s, read_late)
            if s is not None:
                out.append(s)
        return out

    def update(
        self, message: Message, received_s: float | None = None, read_late: bool = False
    ) -> DeviceSample | None:
        """Take one validated device message; a :class:`DeviceSample` for a ``measured_cp``
        (None for anything else, and while the device is held).

        Args:
            message: a message accepted by :func:`haptics.bus.contract.decode`.
            received_s: overrides ``message.received_s`` (s) — e.g. the time a
                :class:`~haptics.bus.latency.DelayLine` released it.
            read_late: the message waited in the receiver's backlog
                (:attr:`haptics.bus.sockets.ServerBus.read_late`): its receipt time is
                when the receiver got to it, not when it came, so it does not measure the
                sender's stamp rate (:meth:`_check_stamp_rate`).
        """
        name, kind, p = message.component, message.name, message.payload
        now_s = message.received_s if received_s is None else received_s
        d = self._devices.get(name)
        if d is None:
            d = self._devices[name] = _Device(ClockMap(self._clock_window_s))
        if kind == "gripper/measured_js":
            d.gripper_rad = float(p["position_rad"][0])
        elif kind == "clutch":
            d.clutch = p["pressed"]
        elif kind == "camera":
            d.camera = p["pressed"]
        elif kind == "measured_cp":
            return self._sample(name, d, p, now_s, read_late)
        return None

    def _count_seq(self, d: _Device, seq: int) -> str:
        """Count lost samples and restarts from a ``measured_cp``'s ``seq``; what the seq
        did: ``"back"`` (went back: a restart, or a stray), ``"resumed"`` (the old stream
        went on: the restart undone), ``"jump"`` (a restart by a jump forward) or
        ``"on"``.

        A seq that goes back means the sender restarted (docs/bus.md), but so does one
        stray old message (a replay, a duplicate from a second process): counted as a
        restart, the old stream that goes on after it would count every seq between the
        stray's and its own as lost (~28 500 after one stray ``seq`` 0 in a probe). So
        the old stream (seq, stamp, clock map, counts) is kept, and when the stream jumps
        forward to just past that old seq (within :data:`RESUME_WINDOW`) the restart is
        undone and only what the old stream really skipped is lost. A real restart counts
        up from its new start instead, and is kept once it has caught up with the old
        seq. (Two senders under one name make a reversal and an undone restart at every
        switch between them: :meth:`_note_reversal` tells them from strays.)

        A forward jump of more than :attr:`max_seq_jump` is no loss but a restart (or
        garbage): it is counted as one, so ``lost`` grows by at most that much per
        message and stays a plain, bounded int whatever a sender puts in ``seq``.
        """
        before = d.before_restart
        stats = d.stats
        if d.last_seq < 0:  # the first of all
            what = "on"
            self._count_unseen(d, seq)
        elif seq <= d.last_seq:
            what = "back"
            if before is None:  # further strays (or restarts) are undone with it
                d.before_restart = _Stream(
                    d.last_seq, d.last_stamp_s, d.clock, stats.restarts, stats.lost, stats.unseen
                )
            stats.restarts += 1
            self._new_clock(d)
            self._count_unseen(d, seq)
        elif before is not None and seq > before.last_seq:  # a jump past the old seq
            d.before_restart = None
            if seq - before.last_seq <= RESUME_WINDOW:  # the old stream goes on: no restart
                what = "resumed"
                stats.restarts, stats.unseen = before.restarts, before.unseen
                stats.lost = before.lost + seq - before.last_seq - 1
                d.clock, d.last_stamp_s = before.clock, before.last_stamp_s
                d.stamp_check.reset()
            else:
                what = self._count_gap(d, seq)
        else:
            what = self._count_gap(d, seq)
            if before is not None and seq == before.last_seq:
                d.before_restart = None  # a new stream that caught up: a real restart
        d.last_seq = seq
        return what

    def _count_unseen(self, d: _Device, seq: int) -> None:
        """The seq numbers before the first one received of a stream (when plausible)."""
        if 0 <= seq <= self.max_seq_jump:
            d.stats.unseen += seq

    def _count_gap(self, d: _Device, seq: int) -> str:
        """The seq numbers skipped between the last ``measured_cp`` and this one: lost
        samples, or a restart when the jump is too large to be a loss."""
        skipped = seq - d.last_seq - 1
        if skipped > self.max_seq_jump:
            d.stats.restarts += 1
            self._new_clock(d)
            return "jump"
        d.stats.lost += skipped
        return "on"

    def _new_clock(self, d: _Device) -> None:
        """The sender's clock starts again: a new map, a new rate check."""
        d.clock = ClockMap(self._clock_window_s)
        d.last_stamp_s = math.nan
        d.stamp_check.reset()

    def _note_reversal(self, name: str, d: _Device, now_s: float) -> None:
        """A seq went back: :data:`DUPLICATE_REVERSALS` of them within
        :data:`DUPLICATE_WINDOW_S` start a two-senders episode."""
        r = d.reversals
        r.append(now_s)
        if d.duplicate or len(r) < DUPLICATE_REVERSALS or now_s - r[0] > DUPLICATE_WINDOW_S:
            return
        d.duplicate = True
        d.stats.duplicate_senders += 1
        self._hold(
            name,
            f"two senders use the device name {name} (its seq went back {len(r)} times in "
            f"{now_s - r[0]:.2f} s: each sends its own count): stop the other process "
            f"(or give it another name); {name}'s samples are held until only one sends",
        )

    def _duplicate_over(self, name: str, d: _Device, now_s: float) -> None:
        """Two senders are one again after :data:`DUPLICATE_QUIET_S` without a reversal."""
        if d.duplicate and now_s - d.reversals[-1] >= DUPLICATE_QUIET_S:
            d.duplicate = False
            self._release(name, d, "only one sender again")

    def _check_stamp_rate(
        self, name: str, d: _Device, stamp_s: float, now_s: float, read_late: bool = False
    ) -> None:
        """Hold the device once its stamps advance at a wrong rate: two measures in a row
        (four when too slow: a receiver that falls behind its devices for a while looks
        the same), within :data:`STAMP_RATE_AGREEMENT` of each other, outside
        :data:`STAMP_RATE_RANGE`; release it after two in a row inside."""
        ratio = d.stamp_check.add(stamp_s, now_s, read_late)
        if ratio is None:
            return
        ratios = d.stamp_ratios
        ratios.append(ratio)
        lo, hi = STAMP_RATE_RANGE
        if d.stamp_rate_off:
            if len(ratios) >= 2 and all(lo <= x <= hi for x in list(ratios)[-2:]):
                d.stamp_rate_off = False
                self._release(name, d, "its stamp_s advances at the server's rate again")
            return
        last = list(ratios)[-(2 if ratio > hi else STAMP_SLOW_MEASURES) :]
        if len(last) < 2 or (ratio < lo and len(last) < STAMP_SLOW_MEASURES):
            return
        if not all((x > hi) if ratio > hi else (x < lo) for x in last):
            return
        if ratio > 0 and max(last) > STAMP_RATE_AGREEMENT * min(last):
            return
        if ratio <= 0 and any(x > 0 for x in last):
            return
        d.stamp_rate_off = True
        d.stats.stamp_rate_off += 1
        self._hold(name, stamp_rate_problem(name, ratio))

    def _coarse_stamp(self, name: str, d: _Device, stamp_s: float) -> bool:
        """Hold the device while its stamps are too large for a double to resolve
        :data:`MAX_STAMP_STEP_S` (a huge epoch): their times, and every age and rate
        measured from them, are rounded to that step (2 s at 1e16), which read as a clock
        at a wrong rate or as stale samples. Counted as a ``stamp_rate_off`` episode;
        released at the first stamp that resolves again (a device restarted with an epoch
        near 0)."""
        if stamp_too_coarse(stamp_s):
            if not d.coarse_stamps:
                d.coarse_stamps = True
                d.stats.stamp_rate_off += 1
                self._hold(name, stamp_resolution_problem(name, stamp_s))
            return True
        if d.coarse_stamps:
            d.coarse_stamps = False
            self._release(name, d, f"its stamp_s resolves {MAX_STAMP_STEP_S * 1e3:g} ms again")
        return False

    def _hold(self, name: str, text: str) -> None:
        log.warning("%s", text)
        self._notices.append((name, text))

    def _release(self, name: str, d: _Device, why: str) -> None:
        if not (d.duplicate or d.stamp_rate_off or d.coarse_stamps):
            log.info(
                "%s: %s; its samples are used again (its arm resumes after a clutch press "
                "and release)",
                name,
                why,
            )

    def _sample(
        self, name: str, d: _Device, p: dict, now_s: float, read_late: bool
    ) -> DeviceSample | None:
        seq, stamp_s = p["seq"], float(p["stamp_s"])
        what = self._count_seq(d, seq)
        if what == "back":
            self._note_reversal(name, d, now_s)
        elif d.duplicate:
            self._duplicate_over(name, d, now_s)
        if stamp_s == 0.0:  # CRTK: invalid data; its seq was received all the same
            d.stats.invalid_stamps += 1
            return None
        if what in ("back", "jump"):
            # a stray old (or garbage) seq, or the first sample of a restart: which one
            # only the next sample tells, so it drives nothing (a replayed message moved
            # the tool towards an old pose); a restart is used from its second sample
            d.last_stamp_s = stamp_s
            d.stats.held += 1
            return None
        last = d.last_stamp_s
        if what in ("on", "resumed") and stamp_s < last - STAMP_BACK_TOLERANCE_S:
            d.stats.restarts += 1  # the sender's clock restarted
            self._new_clock(d)
        d.last_stamp_s = stamp_s
        if self._coarse_stamp(name, d, stamp_s):
            d.stats.held += 1
            return None
        self._check_stamp_rate(name, d, stamp_s, now_s, read_late)
        time_s = d.clock.to_local(stamp_s, now_s, read_late)
        if d.duplicate or d.stamp_rate_off:
            d.stats.held += 1
            return None
        extra = {"seq": seq} if _SAMPLE_HAS_SEQ else {}
        sample = MasterSample(
            time_s=time_s,
            X_MH=pose_from_payload(p),
            gripper_rad=d.gripper_rad,
            clutch=d.clutch,
            **extra,
        )
        d.latest = DeviceSample(name, sample, seq, stamp_s, now_s, d.camera)
        d.stats.samples += 1
        return d.latest
