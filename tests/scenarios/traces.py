"""Session traces built directly (no physics): a scenario's instruments doing a plain,
clean attempt of a given length, with safety faults added on request. For testing what
a rubric makes of a session, on signals nothing was tuned on."""

from __future__ import annotations

import numpy as np

from scenarios.trace import InstrumentTrace, SessionTrace, TraceEvent

RATE_HZ = 100.0


def _instrument(n: int, kind: str, offset: float) -> InstrumentTrace:
    """An instrument making one slow, smooth 4 cm reach out and back (no contact, always in
    view, light touch)."""
    t = np.linspace(0.0, 1.0, n)
    path = np.zeros((n, 3))
    path[:, 0] = offset + 0.02 * (1 - np.cos(2 * np.pi * t))
    path[:, 2] = 0.05
    z = np.zeros(n, bool)
    return InstrumentTrace(
        tip_position_m=path,
        jaw_rad=np.zeros(n),
        master_position_m=path * 3.0,
        clutch=z.copy(),
        tip_force_n=np.full(n, 0.3),
        in_view=np.ones(n, bool),
        contact_object=z.copy(),
        contact_instrument=z.copy(),
        contact_environment=z.copy(),
        contact_held_environment=z.copy(),
        kind=kind,
    )


def scenario_trace(
    scenario,
    duration_s: float,
    *,
    contacts_every_s: float | None = None,
    clashes_every_s: float | None = None,
    force_fraction: float = 0.0,
    out_of_view_fraction: float = 0.0,
    held_contacts_every_s: float | None = None,
    drops: int = 0,
    completed: bool = True,
) -> SessionTrace:
    """A completed attempt at ``scenario`` lasting ``duration_s``, its steps done evenly.

    Args:
        contacts_every_s: a 0.2 s scenery contact of the first instrument this often.
        clashes_every_s: a 0.2 s instrument-instrument clash this often (two or more
            instruments other than the scope).
        force_fraction: share of the time the first instrument pushes at 6 N (above any
            bundled limit), in 1 s bursts spread over the attempt.
        out_of_view_fraction: share of the time the first non-scope instrument is out of
            view (one stretch in the middle).
        held_contacts_every_s: a 0.2 s held-object contact with the scenery this often.
        drops: drops, spread over the attempt.
    """
    n = round(duration_s * RATE_HZ) + 1
    time_s = np.arange(n) / RATE_HZ
    arms = list(scenario.scene.arms)
    tools = {
        a.name: _instrument(n, a.kind, 0.05 * i) for i, a in enumerate(arms) if a.kind == "psm"
    }
    scope = next((a for a in arms if a.kind == "ecm"), None)
    if scope is not None:
        tools[scope.name] = _instrument(n, "ecm", -0.05)
    first = next(iter(tools.values()))
    psms = [i for i in tools.values() if i.kind == "psm"]
    width = int(0.2 * RATE_HZ)

    def every(period_s):
        return range(int(RATE_HZ * period_s / 2), n - width, int(RATE_HZ * period_s))

    if contacts_every_s:
        for k in every(contacts_every_s):
            first.contact_environment[k : k + width] = True
    if clashes_every_s and len(psms) >= 2:
        for k in every(clashes_every_s):
            psms[0].contact_instrument[k : k + width] = True
            psms[1].contact_instrument[k : k + width] = True
    if force_fraction:
        bursts = max(1, round(force_fraction * duration_s))
        length = round(force_fraction * (n - 1) / bursts)
        for start in np.linspace(0, n - 1 - length, bursts).astype(int):
            first.tip_force_n[start : start + length] = 6.0
    if out_of_view_fraction and psms:
        length = round(out_of_view_fraction * (n - 1))
        start = (n - length) // 2
        psms[0].in_view[start : start + length] = False
    if held_contacts_every_s and psms:
        for k in every(held_contacts_every_s):
            psms[0].contact_held_environment[k : k + width] = True
    events = []
    steps = scenario.exercise.steps
    for i, step in enumerate(steps, 1):
        events.append(TraceEvent(duration_s * i / len(steps), "step_done", {"step": step.id}))
    for k in range(drops):
        events.append(TraceEvent(duration_s * (k + 0.5) / drops, "drop", {"object": "x"}))
    if completed:
        events.append(TraceEvent(duration_s, "completed", {}))
    events.sort(key=lambda e: e.time_s)
    graspable = ["x"] if any(a.kind == "psm" for a in arms) else []
    return SessionTrace(
        RATE_HZ,
        time_s,
        tools,
        events,
        completed,
        duration_s if completed else None,
        graspable,
    )
