"""Trace metrics that can be accumulated row by row: one definition for live and final values.

A session shows its metrics while it runs (the trainee's overlay, the server's
``session/metrics`` topic, a learning agent's reward) and scores them at the end. Both
must agree, so both come from this one accumulator: the live session feeds it each
recorded row as it is written; :func:`scenarios.evaluate.compute_metrics` feeds it the
whole trace in one call. Counts are then identical; sums agree to rounding.

What accumulates (definitions as in :mod:`scenarios.metrics`): elapsed time, path length
(per instrument and total), instrument / environment / held-object collisions (contact
episodes merged when closer than ``min_separation_s``), excessive-force time and peak
force, out-of-view time, idle time, movements, clutch presses, drops, needle errors and the
scenario's timers (``timer_s[NAME]``).
What does not (it needs the whole recording: a percentile, a zero-phase filter, a
spectrum) is left to the end: master workspace range, tremor, LDLJ and SPARC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from scenarios.glossary import timer_metric

#: Contact episodes closer than this count as one (chatter), and so do movements (s).
MERGE_GAP_S = 0.1


class EpisodeCounter:
    """Counts runs of True in a boolean signal fed in chunks, merging runs separated by at
    most ``merge_gap`` False samples (the same rule as :func:`scenarios.metrics._runs`)."""

    def __init__(self, merge_gap: int) -> None:
        self.merge_gap = int(merge_gap)
        self.count = 0
        self._last_true: int | None = None
        self._n = 0

    def update(self, flags: np.ndarray) -> None:
        """Feed the next samples (1-D bool)."""
        idx = np.flatnonzero(flags)
        if len(idx):
            idx = idx + self._n
            prev = np.empty(len(idx), dtype=np.int64)
            prev[0] = -(10**18) if self._last_true is None else self._last_true
            prev[1:] = idx[:-1]
            self.count += int(np.count_nonzero(idx - prev - 1 > self.merge_gap))
            self._last_true = int(idx[-1])
        self._n += len(flags)


class _Instrument:
    """Running state of one instrument."""

    def __init__(self, kind: str, rate_hz: float, merge_gap: int) -> None:
        self.kind = kind
        self.path_m = 0.0
        self.last_position: np.ndarray | None = None
        self.instrument_hits = EpisodeCounter(merge_gap)
        self.environment_hits = EpisodeCounter(merge_gap)
        self.movements = EpisodeCounter(merge_gap)
        self.force_above = 0
        self.peak_force_n = 0.0
        self.out_of_view = 0
        self.master_seen = False
        #: whether every tip position / tip force fed so far was a finite number: one that
        #: was not (a damaged trace) makes the metrics made of it NaN, not silently smaller
        self.positions_finite = True
        self.forces_finite = True


#: Teleoperation's state-change events (the new state in lower case): the clutch count
#: follows them (a press while following is one).
TELEOP_STATE_EVENTS = frozenset({"disabled", "aligning", "following", "clutched", "holding"})

#: The exercise engine's timer events (``start_timer`` / ``stop_timer`` actions).
TIMER_EVENTS = frozenset({"timer_started", "timer_stopped"})


def timers_running_at_end(events) -> frozenset[str]:
    """The timers a session's ``events`` (objects with ``kind`` and ``data``, in time
    order) started and never stopped: their ``timer_s[NAME]`` counts up to the end (the
    documented rule), and reports say so, lest "1.82 s, at most 20 s: pass" read as a
    step done in time when it was never done."""
    running: set[str] = set()
    for event in events:
        if event.kind in TIMER_EVENTS:
            name = str(event.data.get("timer", ""))
            (running.add if event.kind == "timer_started" else running.discard)(name)
    return frozenset(running)


#: Every event kind :meth:`MetricAccumulator.add_event` counts: a live session feeds it
#: these, whichever part of the session made them (one list, beside the dispatch below).
COUNTED_EVENTS = (
    TELEOP_STATE_EVENTS
    | TIMER_EVENTS
    | frozenset({"drop", "needle_entry", "needle_exit", "needle_withdrawal"})
)


class MetricAccumulator:
    """Accumulates the metrics of a trace as its rows arrive.

    Args:
        instruments: recorded instruments, name -> kind (``"psm"``, ``"ecm"``), in the
            trace's order.
        rate_hz: rows per second.
        force_threshold_n: tip force counted as excessive (N).
        idle_speed_m_s: below this tip speed an instrument is idle (m/s).
        movement_speed_m_s: speed peaks above this count as movements (m/s).
        graspable: whether the scene has objects that can be dropped (the drops metric
            exists only then).
        held_contacts: whether the trace records held-object contacts.
    """

    def __init__(
        self,
        instruments: Mapping[str, str],
        rate_hz: float,
        *,
        force_threshold_n: float = 2.5,
        idle_speed_m_s: float = 0.005,
        movement_speed_m_s: float = 0.01,
        graspable: bool = False,
        held_contacts: bool = True,
    ) -> None:
        self.rate_hz = float(rate_hz)
        self.force_threshold_n = force_threshold_n
        self.idle_speed_m_s = idle_speed_m_s
        self.movement_speed_m_s = movement_speed_m_s
        self.graspable = graspable
        gap = round(MERGE_GAP_S * self.rate_hz)
        self._tools = {
            name: _Instrument(kind, self.rate_hz, gap) for name, kind in instruments.items()
        }
        self._held = EpisodeCounter(gap) if held_contacts else None
        self._rows = 0
        self._first_time_s: float | None = None
        self._last_time_s: float | None = None
        self._idle = 0
        self._drops = 0
        self._needle: dict[str, list[float]] = {"needle_entry": [], "needle_exit": []}
        self._withdrawals = 0
        #: the operator's clutch presses per arm: teleoperation's ``clutched`` events that
        #: come while the arm follows (the hand repositioned). The trace's ``clutch``
        #: column ("does not follow") also turns on when the watchdog holds an arm for
        #: late samples, and a desktop device taps the clutch itself while an arm aligns
        #: or holds: counting the column's edges read 53 presses of a trainee who pressed
        #: nothing on a busy machine
        self._clutched: dict[str, int] = {}
        self._teleop_state: dict[str, str] = {}  # arm -> its last state-change event
        self._timer_total_s: dict[str, float] = {}  # timer -> its finished runs added up
        self._timer_started_s: dict[str, float] = {}  # timer -> when its current run began

    @property
    def rows(self) -> int:
        """Rows fed so far."""
        return self._rows

    def update(self, time_s: np.ndarray, signals: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Feed the next rows.

        Args:
            time_s: (k,) row times (s).
            signals: per instrument, the trace fields for these rows (see
                :class:`scenarios.trace.InstrumentTrace`): ``tip_position_m`` (k, 3),
                ``master_position_m`` (k, 3), ``clutch``, ``tip_force_n``, ``in_view``,
                ``contact_instrument``, ``contact_environment`` and, when recorded,
                ``contact_held_environment`` (k,).
        """
        k = len(time_s)
        if k == 0:
            return
        if self._first_time_s is None:
            self._first_time_s = float(time_s[0])
        self._last_time_s = float(time_s[-1])
        fs = self.rate_hz
        speeds = []
        held = None
        for name, tool in self._tools.items():
            s = signals[name]
            p = np.asarray(s["tip_position_m"], dtype=float)
            tool.positions_finite = tool.positions_finite and bool(np.isfinite(p).all())
            if tool.last_position is not None:
                p_ext = np.vstack([tool.last_position[None, :], p])
            else:
                p_ext = p
            step = np.linalg.norm(np.diff(p_ext, axis=0), axis=1)
            tool.path_m += float(np.sum(step))
            tool.last_position = p[-1].copy()
            speed = step * fs
            speeds.append(speed)
            tool.movements.update(speed >= self.movement_speed_m_s)
            tool.instrument_hits.update(np.asarray(s["contact_instrument"], dtype=bool))
            tool.environment_hits.update(np.asarray(s["contact_environment"], dtype=bool))
            force = np.asarray(s["tip_force_n"], dtype=float)
            tool.forces_finite = tool.forces_finite and bool(np.isfinite(force).all())
            tool.force_above += int(np.count_nonzero(force > self.force_threshold_n))
            tool.peak_force_n = max(tool.peak_force_n, float(force.max()))
            tool.out_of_view += int(np.count_nonzero(~np.asarray(s["in_view"], dtype=bool)))
            if not tool.master_seen:
                tool.master_seen = bool(np.isfinite(s["master_position_m"]).any())
            h = s.get("contact_held_environment")
            if h is not None:
                h = np.asarray(h, dtype=bool)
                held = h if held is None else held | h
        if speeds and len(speeds[0]):
            self._idle += int(np.count_nonzero(np.max(speeds, axis=0) < self.idle_speed_m_s))
        if self._held is not None and held is not None:
            self._held.update(held)
        self._rows += k

    def add_event(self, kind: str, data: Mapping, time_s: float | None = None) -> None:
        """Count a discrete event that a metric is made of (drops, clutch presses, needle
        entry / exit / withdrawal, timers); ``time_s`` is when it happened (s, trace time):
        a timer still running counts up to the last row."""
        if kind in TIMER_EVENTS:
            self._add_timer_event(kind, data, time_s)
        elif kind == "drop":
            self._drops += 1
        elif kind in TELEOP_STATE_EVENTS:
            arm = str(data.get("arm", ""))
            if kind == "clutched" and self._teleop_state.get(arm) == "following":
                self._clutched[arm] = self._clutched.get(arm, 0) + 1
            self._teleop_state[arm] = kind
        elif kind == "needle_withdrawal":
            self._withdrawals += 1
        elif kind in self._needle and "distance_m" in data:
            self._needle[kind].append(float(data["distance_m"]))

    def _add_timer_event(self, kind: str, data: Mapping, time_s: float | None) -> None:
        """A timer's run, as the exercise engine measured it: ``timer_stopped`` carries the
        elapsed time since the latest ``start_timer`` of that name (none if it never
        started); a start while running begins the run again, as the engine does."""
        name = str(data.get("timer", ""))
        if kind == "timer_started":
            if time_s is not None and math.isfinite(time_s):
                self._timer_started_s[name] = float(time_s)
            self._timer_total_s.setdefault(name, 0.0)
            return
        self._timer_started_s.pop(name, None)
        elapsed = data.get("elapsed_s")
        if isinstance(elapsed, (int, float)) and math.isfinite(elapsed):
            self._timer_total_s[name] = self._timer_total_s.get(name, 0.0) + float(elapsed)

    def _timer_values(self) -> dict[str, float]:
        """``timer_s[NAME]`` per timer that ran: its runs added up, a run still going
        counted up to the last row (an attempt that ended mid-run took at least that)."""
        out = {}
        for name, total in self._timer_total_s.items():
            started = self._timer_started_s.get(name)
            if started is not None and self._last_time_s is not None:
                total += max(0.0, self._last_time_s - started)
            out[timer_metric(name)] = total
        return out

    def values(self, completion_time_s: float | None = None) -> dict[str, float]:
        """The accumulated metrics now (names carry units, as in ``compute_metrics``).

        A metric made of a value that was not a finite number (a NaN tip position or
        force: a damaged trace) is NaN, never left out: left out, it read as "does not
        apply" and dropped out of the score (one NaN row in a 26 s trace took the scored
        path length with it, and a FAIL could turn into a PASS); scoring refuses it.

        Args:
            completion_time_s: when the exercise was completed (s), or None while it is
                not: then ``completion_time_s`` is the time elapsed so far.
        """
        fs = self.rate_hz
        out: dict[str, float] = {}
        elapsed = 0.0
        if self._first_time_s is not None:
            elapsed = self._last_time_s - self._first_time_s
        out["completion_time_s"] = (
            float(completion_time_s) if completion_time_s is not None else elapsed
        )
        total = 0.0
        for name, tool in self._tools.items():
            out[f"path_length_cm[{name}]"] = 100.0 * tool.path_m
            total += tool.path_m
        out["path_length_cm"] = 100.0 * total
        moving = [name for name, t in self._tools.items() if t.master_seen]
        if moving:
            out["clutch_count"] = float(sum(self._clutched.get(n, 0) for n in moving))
        inst_hits = sum(t.instrument_hits.count for t in self._tools.values())
        # both instruments see an instrument-instrument contact: count it once
        inst_hits = inst_hits // 2 if len(self._tools) > 1 else inst_hits
        env_hits = sum(t.environment_hits.count for t in self._tools.values())
        out["instrument_collisions"] = float(inst_hits)
        out["environment_collisions"] = float(env_hits)
        out["collisions"] = float(inst_hits + env_hits)
        if self._held is not None:
            out["held_object_collisions"] = float(self._held.count)
        out["excessive_force_time_s"] = float(sum(t.force_above for t in self._tools.values()) / fs)
        out["peak_force_n"] = float(
            max((t.peak_force_n for t in self._tools.values()), default=0.0)
        )
        viewed = [t for t in self._tools.values() if t.kind != "ecm"]
        if viewed:
            out["out_of_view_time_s"] = float(sum(t.out_of_view for t in viewed) / fs)
        out["idle_time_s"] = float(self._idle / fs)
        out["movements"] = float(sum(t.movements.count for t in self._tools.values()))
        if self.graspable:
            out["drops"] = float(self._drops)
        for kind, key in (
            ("needle_entry", "needle_entry_error_mm"),
            ("needle_exit", "needle_exit_error_mm"),
        ):
            if self._needle[kind]:
                out[key] = 1000.0 * float(np.mean(self._needle[kind]))
        if self._needle["needle_entry"]:  # a needle went into tissue: it may have been drawn back
            out["needle_withdrawals"] = float(self._withdrawals)
        out.update(self._timer_values())
        return self._unmeasurable(out)

    def _unmeasurable(self, out: dict[str, float]) -> dict[str, float]:
        """``out`` with NaN for the metrics whose input rows held a non-finite tip
        position or force (a sum or count would skip those rows without a word)."""
        tools = self._tools.values()
        if not all(t.positions_finite for t in tools):
            for key in ("path_length_cm", "idle_time_s", "movements"):
                out[key] = math.nan
        for name, tool in self._tools.items():
            if not tool.positions_finite:
                out[f"path_length_cm[{name}]"] = math.nan
        if not all(t.forces_finite for t in tools):
            out["excessive_force_time_s"] = out["peak_force_n"] = math.nan
        return out
