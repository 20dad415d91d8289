"""Real-time pacing of the server's physics loop, and its own timing measurements.

The live session steps physics at the scenario's rate (500 Hz - 1 kHz) on a monotonic
clock. Each tick is due at ``start + k / rate``; the loop sleeps until a little before
the deadline (Linux oversleeps by tens of microseconds: the margin is learnt from the
measured oversleep), never spins a core (the viewer and the device processes need the
second one), and never runs ticks in a burst to catch up: a tick that starts more than
``max_lag_ticks`` periods late re-anchors the schedule and counts as an overrun, so
simulated time falls behind wall time visibly — the session is flagged, never silently
slowed or sped up.

Measured per tick: the period (start to start), the lateness against its deadline, and
the work time; reported as p50 / p99 / p99.9 (a plain Python 1 kHz loop shows p99.9
period errors of 1-3 ms on these machines: tails matter more than medians).

A tick may also start *early* when the waiting function says so (it returns True): the
training server does, at most one period before the deadline, as soon as
every live device's sample is in (:meth:`sim.server.server.TrainingServer._between_ticks`),
so the tick's work falls between the devices' samples instead of on them. The schedule
itself is not moved: simulated time keeps to wall time exactly as before.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LoopReport:
    """How well a loop kept its rate.

    Attributes:
        rate_hz: the rate asked for.
        ticks: ticks run.
        period_ms: p50, p99, p99.9 of the tick-to-tick period (ms).
        lateness_ms: p50, p99, p99.9 of how late ticks started against their deadline (ms).
        work_ms: p50, p99, p99.9 of the work done in a tick (ms).
        overruns: ticks whose work took longer than one period.
        resyncs: times the schedule was re-anchored because ticks fell too far behind.
        real_time_ratio: simulated time over wall time (1.0: kept real time).
        aligned_ticks: ticks started before their deadline because the devices' samples
            were in (the server's tick alignment; 0 when it is off).
        collector_longest_ms: the longest stop of the process by Python's cyclic garbage
            collector during the loop (ms; 0 when not measured): a stop longer than a
            period is ticks lost (:mod:`haptics.heap`).
        full_collections: full (generation 2) collections during the loop.
    """

    rate_hz: float
    ticks: int
    period_ms: tuple[float, float, float]
    lateness_ms: tuple[float, float, float]
    work_ms: tuple[float, float, float]
    overruns: int
    resyncs: int
    real_time_ratio: float
    aligned_ticks: int = 0
    collector_longest_ms: float = 0.0
    full_collections: int = 0

    @property
    def overrun_fraction(self) -> float:
        """Share of ticks whose work overran the period."""
        return self.overruns / self.ticks if self.ticks else 0.0

    @property
    def kept_real_time(self) -> bool:
        """Whether the loop kept within 2% of real time with < 0.5% overruns."""
        return self.real_time_ratio >= 0.98 and self.overrun_fraction < 0.005

    def as_dict(self) -> dict:
        """Plain data (JSON, the records database, the bus)."""
        return {
            "rate_hz": self.rate_hz,
            "ticks": self.ticks,
            "period_ms": list(self.period_ms),
            "lateness_ms": list(self.lateness_ms),
            "work_ms": list(self.work_ms),
            "overruns": self.overruns,
            "overrun_fraction": self.overrun_fraction,
            "resyncs": self.resyncs,
            "real_time_ratio": self.real_time_ratio,
            "kept_real_time": self.kept_real_time,
            "aligned_ticks": self.aligned_ticks,
            "collector_longest_ms": self.collector_longest_ms,
            "full_collections": self.full_collections,
        }


def _percentiles_ms(values_s: np.ndarray) -> tuple[float, float, float]:
    if len(values_s) == 0:
        return (0.0, 0.0, 0.0)
    p = np.percentile(values_s, [50.0, 99.0, 99.9]) * 1e3
    return (float(p[0]), float(p[1]), float(p[2]))


class Pacer:
    """Paces ticks at ``rate_hz`` on ``clock`` and measures them.

    Args:
        rate_hz: ticks per second.
        clock: a monotonic clock in seconds (``time.monotonic`` live; a fake in tests).
        sleep: how to wait (``time.sleep``); a wait that returns True ended early on
            purpose, and the tick starts then (the server's tick alignment).
        max_lag_ticks: how many periods late a tick may start before the schedule is
            re-anchored (the lost time is not made up with a burst of ticks).
        capacity: ticks kept for the statistics (a ring buffer; ~10 minutes at 1 kHz).
        collector: the garbage collector's pauses during the loop
            (:class:`haptics.heap.CollectorPauses`), for the report; None: not measured.
    """

    def __init__(
        self,
        rate_hz: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_lag_ticks: int = 5,
        capacity: int = 600_000,
        collector=None,
    ) -> None:
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f"rate_hz must be a positive number, got {rate_hz!r}")
        self.rate_hz = float(rate_hz)
        self.period_s = 1.0 / self.rate_hz
        self._clock, self._sleep = clock, sleep
        self.max_lag_ticks = max_lag_ticks
        self._capacity = capacity
        self._collector = collector
        self._periods = np.zeros(capacity)
        self._lateness = np.zeros(capacity)
        self._work = np.zeros(capacity)
        self.ticks = 0
        self.overruns = 0
        self.resyncs = 0
        self.aligned = 0
        self._oversleep_s = 1e-4  # learnt: how much a sleep overshoots
        self._start: float | None = None
        self._anchor = 0.0
        self._k = 0
        self._last_tick: float | None = None
        self._tick_started = 0.0

    def wait(self) -> float:
        """Wait until the next tick is due, and return the clock at its start (s)."""
        now = self._clock()
        if self._start is None:
            self._start = self._anchor = now
            self._k = 0
        else:
            work = now - self._tick_started
            self._record(self._work, work)
            if work > self.period_s:
                self.overruns += 1
            self._k += 1
            due = self._anchor + self._k * self.period_s
            early = due - now - self._oversleep_s
            if early > 0:
                before = now
                woke_early = self._sleep(early) is True
                now = self._clock()
                if woke_early:
                    self.aligned += 1  # an early start on purpose says nothing of oversleep
                else:
                    overshoot = (now - before) - early
                    self._oversleep_s = 0.9 * self._oversleep_s + 0.1 * min(
                        max(overshoot, 0.0), 2e-3
                    )
            if now - due > self.max_lag_ticks * self.period_s:
                self.resyncs += 1
                self._anchor, self._k = now, 0
                due = now
            self._record(self._lateness, max(now - due, 0.0))
        if self._last_tick is not None:
            self._record(self._periods, now - self._last_tick)
        self._last_tick = now
        self._tick_started = now
        self.ticks += 1
        return now

    def _record(self, buffer: np.ndarray, value: float) -> None:
        buffer[self.ticks % self._capacity] = value

    def report(self, simulated_s: float | None = None) -> LoopReport:
        """The statistics so far. ``simulated_s``: simulated time covered by the ticks
        (default: ticks x period) for the real-time ratio."""
        n = min(self.ticks, self._capacity)
        wall = (self._last_tick - self._start) if self._start is not None else 0.0
        simulated = (self.ticks - 1) * self.period_s if simulated_s is None else simulated_s
        ratio = simulated / wall if wall > 0 else 1.0
        return LoopReport(
            self.rate_hz,
            self.ticks,
            _percentiles_ms(self._periods[1:n] if n > 1 else self._periods[:0]),
            _percentiles_ms(self._lateness[1:n] if n > 1 else self._lateness[:0]),
            _percentiles_ms(self._work[1:n] if n > 1 else self._work[:0]),
            self.overruns,
            self.resyncs,
            ratio,
            self.aligned,
            self._collector.longest_s * 1e3 if self._collector is not None else 0.0,
            self._collector.full if self._collector is not None else 0,
        )
