"""``<dev>/frame_timing``: how a client's display keeps up, measured by the client, kept by
the server (docs/bus.md, an optional topic).

A trainee in a headset who sees frames repeated, or a desktop window that stutters, is
not training under the conditions the score assumes; the server cannot see this from its
side of the bus. A client therefore measures its own frames (:class:`FrameTimingMeter`:
the period from one shown frame to the next, and the frames that missed the display's
deadline) and sends a summary about once a second; the server aggregates the reports
per client (:class:`FrameTimingLog`) and stores the summary with the session, beside the
loop's own timing.

Counts are totals since the client started (a lost report loses nothing; a client that
restarts starts again from 0, and the log adds the totals up); the periods are the
p50/p99 of the frames since the client's previous report.

A client that knows its display's slots (an OpenXR headset: the runtime predicts each
frame's display time and period) also reports ``paced`` (the slots from its first frame
to its latest) and ``missed_slots`` (those without a new frame: what ``surgisim vr``
prints as "missed"), and ``late`` (frames submitted after their display time). ``missed``
stays a count of frames (those after which the display showed the previous frame again),
so a server that predates the slot counts stores a figure that means what it expects.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from haptics.bus.contract import INT64_MAX, MAX_DISPLAY_HZ
from haptics.bus.errors import BusMessageError

__all__ = [
    "MISS_FACTOR",
    "REPORT_PERIOD_S",
    "REPORT_SLACK_S",
    "FrameTimingLog",
    "FrameTimingMeter",
]

#: How often a client reports (s): "about 1 Hz".
REPORT_PERIOD_S = 1.0
#: A frame whose period exceeds this multiple of the display's period missed its deadline
#: (the display showed the previous frame again): 1.5 puts the line halfway between one
#: period (on time) and two (one refresh missed).
MISS_FACTOR = 1.5
#: Reports per client whose periods the medians are taken over: the latest hour at 1 Hz
#: (a client that floods reports must not grow the server's memory; the worst p99 is
#: kept over all of them).
KEPT_REPORTS = 3600
#: How far a client's ``frames`` may run ahead of the server's clock (s at
#: :data:`~haptics.bus.contract.MAX_DISPLAY_HZ`): a report that queued behind others (a
#: busy network, the latency line) arrives with the frames of its whole wait.
REPORT_SLACK_S = 10.0


class FrameTimingMeter:
    """Measures a client's frames and makes its ``frame_timing`` payloads.

    Args:
        target_period_s: the display's period (s; 1/90 for a 90 Hz headset, 1/60 for a
            monitor), when the client knows it; sent as ``target_period_s``. Without it
            a frame is missed only when the caller says so.
        report_period_s: how often :meth:`frame` returns a payload (s).
        miss_factor: a frame slower than this many target periods counts as missed.
    """

    def __init__(
        self,
        target_period_s: float | None = None,
        report_period_s: float = REPORT_PERIOD_S,
        miss_factor: float = MISS_FACTOR,
    ) -> None:
        if target_period_s is not None and not target_period_s > 0:
            raise ValueError(f"target_period_s must be > 0 s or None, got {target_period_s!r}")
        self.target_period_s = target_period_s
        self.report_period_s = float(report_period_s)
        self.miss_factor = float(miss_factor)
        self.frames = 0
        self.missed = 0
        #: display slots, slots without a new frame and late frames (None: not told)
        self.paced: int | None = None
        self.missed_slots = 0
        self.late: int | None = None
        self._periods: list[float] = []
        self._last_frame_s: float | None = None
        self._last_report_s: float | None = None

    def frame(
        self,
        now_s: float,
        missed: bool | None = None,
        slots: int | None = None,
        late: bool | None = None,
    ) -> dict | None:
        """Count one frame shown at ``now_s`` (s, monotonic). ``slots``: the display slots
        from the previous frame to this one (1: none skipped; the first frame's slot
        counts 1), when the client knows its display's pace; it is then missed when a slot
        was skipped. ``missed``: whether it missed the display's deadline, when the client
        knows otherwise; else judged from its period against ``target_period_s``.
        ``late``: whether it was submitted after its display time. Returns the payload
        fields of a ``frame_timing`` message when a report is due, else None."""
        period = None if self._last_frame_s is None else now_s - self._last_frame_s
        self._last_frame_s = now_s
        self.frames += 1
        if period is not None:
            self._periods.append(period)
        if slots is not None:
            slots = max(1, int(slots))
            self.paced = (self.paced or 0) + slots
            self.missed_slots += slots - 1
            if missed is None:
                missed = slots > 1
        if late is not None:
            self.late = (self.late or 0) + bool(late)
        if missed is None:
            target = self.target_period_s
            missed = (
                period is not None and target is not None and period > self.miss_factor * target
            )
        if missed:
            self.missed += 1
        if self._last_report_s is None:
            self._last_report_s = now_s
        if now_s - self._last_report_s < self.report_period_s or not self._periods:
            return None
        self._last_report_s = now_s
        return self.payload()

    def payload(self) -> dict:
        """The fields of a ``frame_timing`` message now (starts a new window of periods)."""
        periods = np.asarray(self._periods or [0.0])
        p50, p99 = (float(v) for v in np.percentile(periods, [50.0, 99.0]))
        self._periods = []
        out = {
            "frames": self.frames,
            "missed": self.missed,
            "frame_period_s_p50": p50,
            "frame_period_s_p99": max(p50, p99),
        }
        if self.target_period_s is not None:
            out["target_period_s"] = float(self.target_period_s)
        if self.paced is not None:
            out["paced"] = self.paced
            out["missed_slots"] = self.missed_slots
        if self.late is not None:
            out["late"] = self.late
        return out


#: The optional counts of a report (totals since the client started, like ``frames``):
#: kept only for a client that sends them.
OPTIONAL_COUNTS = ("paced", "missed_slots", "late")


@dataclass
class _Client:
    reports: int = 0
    frames_before: int = 0  # totals of earlier runs of a client that restarted
    missed_before: int = 0
    frames: int = 0
    missed: int = 0
    restarts: int = 0
    last_seq: int = -1
    p50: deque[float] = field(default_factory=lambda: deque(maxlen=KEPT_REPORTS))
    p99: deque[float] = field(default_factory=lambda: deque(maxlen=KEPT_REPORTS))
    p99_worst: float = 0.0
    target_period_s: float | None = None
    anchor_s: float = 0.0  # the server's clock at the first report of this run (s)
    anchor_frames: int = 0  # and the frames it counted
    last_received_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # the OPTIONAL_COUNTS sent
    counts_before: dict[str, int] = field(default_factory=dict)


class FrameTimingLog:
    """The server's record of every client's ``frame_timing`` reports."""

    def __init__(self) -> None:
        self._clients: dict[str, _Client] = {}

    def ingest(self, messages, refuse: Callable[[BusMessageError, str], None] | None = None) -> int:
        """Take the ``<dev>/frame_timing`` messages among validated device messages (others
        are ignored); returns how many were taken. A report whose count grew faster than
        any display shows frames (:meth:`update`) is not taken: it goes to ``refuse``
        with its sender's name (the bus's
        :meth:`~haptics.bus.sockets.InboundCounters.refuse`, which counts it as
        ``bad_fields``)."""
        n = 0
        for m in messages:
            if m.name == "frame_timing":
                problem = self.update(m.component, m.payload, m.received_s or None)
                if not problem:
                    n += 1
                elif refuse is not None:
                    error = BusMessageError("bad_fields", f"{m.topic}: {problem}", "frames")
                    refuse(error, m.component)
        return n

    def update(self, client: str, p: dict, received_s: float | None = None) -> str:
        """Take one validated report of ``client``, received at ``received_s`` (the
        server's monotonic clock, s; None: not checked against time). Returns '' when
        taken, else why not: ``frames`` counted more than
        :data:`~haptics.bus.contract.MAX_DISPLAY_HZ` frames per second of the server's
        clock since the client's first report (or, after a restart, since its previous
        one), plus :data:`REPORT_SLACK_S` of them. The contract bounds a single report
        (:func:`haptics.bus.contract.decode`); this bounds what a client adds up."""
        c = self._clients.setdefault(client, _Client())
        seq = int(p.get("seq", c.last_seq + 1))
        frames = int(p["frames"])
        restart = bool(c.reports) and (seq <= c.last_seq or frames < c.frames)
        if received_s is not None and c.reports:
            base_s, base = (c.last_received_s, 0) if restart else (c.anchor_s, c.anchor_frames)
            allowed = base + MAX_DISPLAY_HZ * (max(0.0, received_s - base_s) + REPORT_SLACK_S)
            if frames > allowed:
                since = "its previous report (a restart)" if restart else "its first report"
                return (
                    f"'frames' is {frames}, expected at most {int(allowed)}: {base} then"
                    f" {received_s - base_s:.1f} s since {since} at up to"
                    f" {MAX_DISPLAY_HZ:.0f} frames/s (+{REPORT_SLACK_S:g} s of them)"
                )
        if restart:
            # the client started again (its seq or its count went back): keep its totals
            c.frames_before += c.frames
            c.missed_before += c.missed
            for key, n in c.counts.items():
                c.counts_before[key] = c.counts_before.get(key, 0) + n
            c.counts = {}
            c.restarts += 1
        if received_s is not None and (restart or not c.reports):
            c.anchor_s, c.anchor_frames = received_s, frames
        if received_s is not None:
            c.last_received_s = received_s
        c.frames, c.missed = frames, int(p["missed"])
        c.counts.update({key: int(p[key]) for key in OPTIONAL_COUNTS if key in p})
        c.last_seq = seq
        c.reports += 1
        c.p50.append(float(p["frame_period_s_p50"]))
        c.p99.append(float(p["frame_period_s_p99"]))
        c.p99_worst = max(c.p99_worst, c.p99[-1])
        target = p.get("target_period_s")
        if target is not None:
            c.target_period_s = float(target)
        return ""

    def forget(self, client: str) -> None:
        """Drop the client's record (a name the bus forgot: :mod:`haptics.bus.names`)."""
        self._clients.pop(client, None)

    def summary(self) -> dict:
        """Per client (plain data, for the session's ``conditions``): ``reports``,
        ``frames`` and ``missed`` shown in all (``missed_fraction``), the median of the
        reports' p50 and p99 frame periods (the latest :data:`KEPT_REPORTS`) and the worst
        p99 (s), the display's period when the client sent it (s), and ``restarts``; for a
        client that sent them, ``paced``, ``missed_slots`` (``missed_slots_fraction`` of
        ``paced``) and ``late`` as well. Totals are capped at the int64 range, so that
        they can always be sent and stored (a client's counts are its own to make up)."""
        out = {}
        for name, c in self._clients.items():
            frames = min(c.frames_before + c.frames, INT64_MAX)
            missed = min(c.missed_before + c.missed, frames)
            out[name] = {
                "reports": c.reports,
                "frames": frames,
                "missed": missed,
                "missed_fraction": missed / frames if frames else 0.0,
                "frame_period_s_p50": float(np.median(c.p50)),
                "frame_period_s_p99": float(np.median(c.p99)),
                "frame_period_s_p99_worst": c.p99_worst,
                "target_period_s": c.target_period_s,
                "restarts": c.restarts,
            }
            out[name].update(_optional_counts(c, frames))
        return out


def _optional_counts(c: _Client, frames: int) -> dict:
    """The client's :data:`OPTIONAL_COUNTS` over its runs (none it never sent), capped
    like ``frames``: slots missed at most the slots paced, late frames at most
    ``frames``."""
    keys = [key for key in OPTIONAL_COUNTS if key in c.counts or key in c.counts_before]
    out = {k: min(c.counts.get(k, 0) + c.counts_before.get(k, 0), INT64_MAX) for k in keys}
    if "late" in out:
        out["late"] = min(out["late"], frames)
    if "paced" in out:
        out["missed_slots"] = min(out.get("missed_slots", 0), out["paced"])
        out["missed_slots_fraction"] = out["missed_slots"] / out["paced"] if out["paced"] else 0.0
    return out
