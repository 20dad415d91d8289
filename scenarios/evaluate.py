"""From a session trace to the metrics a rubric scores (names carry their units).

Which metrics exist depends on the session: drops only where there is something to
drop, tremor only where a master drove an instrument, needle errors only where a needle
passed through tissue, time out of view only where an instrument other than the scope
was recorded (the scope cannot leave its own view). A metric that does not apply is
absent from the result, never 0.
"""

from __future__ import annotations

import numpy as np

from scenarios import metrics as M
from scenarios.trace import SessionTrace


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
    """
    fs = trace.rate_hz
    end = len(trace.time_s)
    if trace.completed and trace.completion_time_s is not None:
        end = int(np.searchsorted(trace.time_s, trace.completion_time_s, side="right"))
    end = max(end, 2)
    out: dict[str, float] = {}
    duration = float(trace.time_s[end - 1] - trace.time_s[0]) if end else 0.0
    out["completion_time_s"] = (
        float(trace.completion_time_s) if trace.completed and trace.completion_time_s else duration
    )
    tools = {n: i for n, i in trace.instruments.items()}
    moving = {n: i for n, i in tools.items() if i.has_master}
    speeds = {n: M.speed_profile(i.tip_position_m[:end], fs) for n, i in tools.items()}
    total_path = 0.0
    for name, inst in tools.items():
        length = M.path_length_m(inst.tip_position_m[:end])
        out[f"path_length_cm[{name}]"] = 100.0 * length
        total_path += length
    out["path_length_cm"] = 100.0 * total_path
    if moving:
        ranges = [
            M.workspace_range_m(i.master_position_m[:end][~i.clutch[:end]]) for i in moving.values()
        ]
        out["master_workspace_range_cm"] = 100.0 * float(max(ranges))
        out["clutch_count"] = float(sum(M.rising_edges(i.clutch[:end]) for i in moving.values()))
        tremor = [M.tremor_rms_m(i.master_position_m[:end], fs) for i in moving.values()]
        out["tremor_rms_um"] = 1e6 * float(np.mean(tremor))
    inst_hits = sum(len(M.contact_events(i.contact_instrument[:end], fs)) for i in tools.values())
    # both instruments see an instrument-instrument contact: count it once
    inst_hits = inst_hits // 2 if len(tools) > 1 else inst_hits
    env_hits = sum(len(M.contact_events(i.contact_environment[:end], fs)) for i in tools.values())
    out["instrument_collisions"] = float(inst_hits)
    out["environment_collisions"] = float(env_hits)
    out["collisions"] = float(inst_hits + env_hits)
    held = [i.contact_held_environment for i in tools.values()]
    if held and all(h is not None for h in held):
        # an object held by two instruments (a handover) touching once is one collision
        touching = np.logical_or.reduce([h[:end] for h in held])
        out["held_object_collisions"] = float(len(M.contact_events(touching, fs)))
    over = [M.excessive_force(i.tip_force_n[:end], fs, force_threshold_n) for i in tools.values()]
    out["excessive_force_time_s"] = float(sum(o[0] for o in over))
    out["peak_force_n"] = float(max(o[1] for o in over))
    viewed = [i for i in tools.values() if i.kind != "ecm"]
    if viewed:
        out["out_of_view_time_s"] = float(sum(M.time_true_s(~i.in_view[:end], fs) for i in viewed))
    all_speeds = np.vstack([s for s in speeds.values()])
    out["idle_time_s"] = M.idle_time_s(all_speeds.max(axis=0), fs, idle_speed_m_s)
    out["movements"] = float(
        sum(M.movement_count(s, fs, movement_speed_m_s) for s in speeds.values())
    )
    smooth_ldlj, smooth_sparc = [], []
    for s in speeds.values():
        if s.max() > movement_speed_m_s:
            smooth_ldlj.append(M.ldlj(s, fs))
            smooth_sparc.append(M.sparc(s, fs))
    if smooth_ldlj:
        out["ldlj"] = float(np.mean(smooth_ldlj))
        out["sparc"] = float(np.mean(smooth_sparc))
    if trace.graspable_objects:
        out["drops"] = float(len(trace.events_of("drop")))
    for kind, key in (
        ("needle_entry", "needle_entry_error_mm"),
        ("needle_exit", "needle_exit_error_mm"),
    ):
        events = trace.events_of(kind)
        if events:
            out[key] = 1000.0 * float(np.mean([e.data["distance_m"] for e in events]))
    return out
