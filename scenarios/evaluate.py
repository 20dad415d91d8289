"""From a session trace to the metrics a rubric scores (names carry their units).

Which metrics exist depends on the session: drops only where there is something to
drop, tremor only where a master drove an instrument, needle errors only where a needle
passed through tissue, time out of view only where an instrument other than the scope
was recorded (the scope cannot leave its own view). A metric that does not apply is
absent from the result, never 0. A metric made of a value that is not a finite number (a
NaN tip position or force: a damaged trace) is NaN, and scoring refuses a rubric that
scores it (:func:`score_trace` names the damaged column).
"""

from __future__ import annotations

import math

import numpy as np

from scenarios import metrics as M
from scenarios.live import MERGE_GAP_S, MetricAccumulator, timers_running_at_end
from scenarios.trace import SessionTrace


def scored_end(trace: SessionTrace) -> int:
    """How many rows of ``trace`` the metrics count: up to completion when it was
    completed (the moments after the last placement are not part of the attempt), else
    all of them (at least 2)."""
    end = len(trace.time_s)
    if trace.completed and trace.completion_time_s is not None:
        end = int(np.searchsorted(trace.time_s, trace.completion_time_s, side="right"))
    return max(end, 2)


#: SPARC is measured on each instrument whose tip travelled at least this far (m): one
#: that stayed put has only the simulation's nanometre jitter (a still tip travels
#: ~1e-10 m), whose spectrum would be read as the trainee's.
SMOOTHNESS_MIN_PATH_M = 0.005


def compute_metrics(
    trace: SessionTrace,
    *,
    force_threshold_n: float = 2.5,
    idle_speed_m_s: float = 0.005,
    movement_speed_m_s: float = 0.01,
) -> dict[str, float]:
    """Every applicable metric of ``trace``.

    Args:
        force_threshold_n: tip force counted as excessive (N).
        idle_speed_m_s: below this tip speed an instrument is idle (m/s).
        movement_speed_m_s: speed peaks above this count as movements (m/s).

    Raises:
        ScenarioError: the trace's time base is damaged (see
            :meth:`~scenarios.trace.SessionTrace.check_times`).
    """
    trace.check_times()
    fs = trace.rate_hz
    end = scored_end(trace)
    tools = trace.instruments
    held = [i.contact_held_environment for i in tools.values()]
    acc = MetricAccumulator(
        {name: inst.kind for name, inst in tools.items()},
        fs,
        force_threshold_n=force_threshold_n,
        idle_speed_m_s=idle_speed_m_s,
        movement_speed_m_s=movement_speed_m_s,
        graspable=bool(trace.graspable_objects),
        held_contacts=bool(held) and all(h is not None for h in held),
    )
    acc.update(
        trace.time_s[:end],
        {
            name: {key: value[:end] for key, value in inst.signals().items()}
            for name, inst in tools.items()
        },
    )
    for event in trace.events:
        acc.add_event(event.kind, event.data, event.time_s)
    completed_at = trace.completion_time_s if trace.completed else None
    out = acc.values(completed_at)
    moving = {n: i for n, i in tools.items() if i.has_master}
    if moving:
        # a master position is NaN where the device gave none (a gap, before its first
        # sample): no master rows in the scored part, or too little still time for the
        # tremor, is "does not apply" (absent), not damage
        ranges = [
            M.workspace_range_m(i.master_position_m[:end][~i.clutch[:end]]) for i in moving.values()
        ]
        if np.isfinite(ranges).all():
            out["master_workspace_range_cm"] = 100.0 * float(max(ranges))
        tremor = [M.tremor_rms_m(i.master_position_m[:end], fs) for i in moving.values()]
        if np.isfinite(tremor).all():
            out["tremor_rms_um"] = 1e6 * float(np.mean(tremor))
    smooth_sparc, move_s, move_ldlj = [], [], []
    for inst in tools.values():
        s = M.speed_profile(inst.tip_position_m[:end], fs)
        if len(s) < 3:
            continue
        # SPARC on every instrument that went somewhere, however slowly: gated on its
        # peak speed, a reach crawled below 1 cm/s had none, and a rubric benchmarking it
        # passed the crawl and failed the same reach done briskly
        if np.sum(s) / fs >= SMOOTHNESS_MIN_PATH_M:
            smooth_sparc.append(M.sparc(s, fs))
        # LDLJ per movement (above movement_speed_m_s, the `movements` metric's): taken
        # over the whole session, rests included, it fell by ~3 ln T with the motion
        # unchanged (one reach read -5.2 alone, -12.5 with 5 s of rest around it). Only
        # above that speed: it divides the jerk by the peak speed squared, so on a slow
        # reach the simulation's nanometre noise outweighs the motion (a 2 mm/s
        # minimum-jerk reach read -14, a brisk one -6)
        durations, values = M.movement_ldlj(s, fs, movement_speed_m_s, MERGE_GAP_S)
        move_s.append(durations)
        move_ldlj.append(values)
    durations = np.concatenate(move_s) if move_s else np.empty(0)
    if len(durations):  # no movement: "does not apply", never a made-up value
        out["ldlj"] = M.session_ldlj(durations, np.concatenate(move_ldlj))
    if smooth_sparc:
        out["sparc"] = float(np.mean(smooth_sparc))
    if not all(np.isfinite(i.tip_position_m[:end]).all() for i in tools.values()):
        # a damaged trace: a NaN speed compares False with every gate above, so the
        # instrument silently dropped out of the mean (or both metrics out of the result)
        out["ldlj"] = out["sparc"] = math.nan
    return out


def measure(trace: SessionTrace, thresholds) -> dict[str, float]:
    """:func:`compute_metrics` with a rubric's :class:`~scenarios.schema.Thresholds`."""
    return compute_metrics(
        trace,
        force_threshold_n=thresholds.excessive_force_n,
        idle_speed_m_s=thresholds.idle_speed_m_s,
        movement_speed_m_s=thresholds.movement_speed_m_s,
    )


#: the trace columns a metric is made of that must hold finite numbers in every row (a
#: master position is NaN where the device gave none: a gap, not damage)
MEASURED_COLUMNS = ("tip_position_m", "tip_force_n")


def damaged_columns(trace: SessionTrace) -> list[str]:
    """Per instrument column of :data:`MEASURED_COLUMNS` with rows (up to the scored end)
    that are not finite numbers, what is wrong with it, in words."""
    end = scored_end(trace)
    out = []
    for name, inst in trace.instruments.items():
        for key in MEASURED_COLUMNS:
            values = np.asarray(getattr(inst, key)[:end], dtype=float)
            bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
            if bad.any():
                first = float(trace.time_s[np.argmax(bad)])
                out.append(
                    f"{name}'s {key} has {np.count_nonzero(bad)} row(s) that are not finite "
                    f"numbers, the first at {first:.2f} s"
                )
    return out


def measure_scored(trace: SessionTrace, scoring) -> dict[str, float]:
    """:func:`measure` under ``scoring`` (a :class:`~scenarios.schema.Scoring`), refusing
    a trace too damaged for a metric the rubric names: a NaN tip position or force makes
    the metrics made of it NaN, and the session cannot be scored on them.

    Raises:
        ScenarioError: a metric the rubric names is not a finite number; the message
            names the damaged trace columns.
    """
    from scenarios.errors import ScenarioError

    metrics = measure(trace, scoring.thresholds)
    unmeasurable = [n for n in scoring.metrics if not math.isfinite(metrics.get(n, 0.0))]
    if unmeasurable:
        damage = "; ".join(damaged_columns(trace)) or "a metric failed to compute"
        raise ScenarioError(
            f"the session cannot be scored on {', '.join(unmeasurable)}: its trace is "
            f"damaged ({damage}). Restore the trace from a backup, or score it under a "
            "rubric that leaves these metrics out."
        )
    return metrics


def score_trace(scenario, trace: SessionTrace):
    """A session's metrics (with the scenario's thresholds) and its verdict under the
    scenario's rubric: what every session gets, a trainee's or an algorithm's.

    Args:
        scenario: a :class:`~scenarios.schema.Scenario`, or just its
            :class:`~scenarios.schema.Scoring` (re-scoring under an edited rubric).

    Returns:
        ``(metrics, result)``: the dict of :func:`compute_metrics` and a
        :class:`~scenarios.scoring.ScoreResult`.

    Raises:
        ScenarioError: the trace is too damaged to measure a metric the rubric names
            (see :func:`measure_scored`).
    """
    from scenarios.scoring import score_session

    scoring = getattr(scenario, "scoring", scenario)
    metrics = measure_scored(trace, scoring)
    running = timers_running_at_end(trace.events)
    return metrics, score_session(metrics, trace.completed, scoring, running)
