"""Exercise steps a valid scenario has done before anyone moves, found by running it.

A step whose ``done_when`` already holds in the world as built (an ``entered`` region
around a tip's starting position, a ring ``placed`` on the peg it starts on) is done at
0 s. When every step is, the attempt completes at 0 s and scores as a finished one (100,
PASS under the bundled rubrics), stored as a qualifying attempt: the scenario validated
"ok" and nobody had touched a master.

Only the exercise engine itself knows when a step is done (triggers, ``step_completed``,
``all``/``any``, objects settling under gravity), so the check runs the real thing: a
headless :class:`~sim.session.session.Session` stepped a few physics steps with no
command, then reads its ``step_done`` events. It lives with the session, not beside
:mod:`sim.world.scene_warnings`, because the world does not import the session.

``surgisim scenario validate`` prints these beside :func:`scenarios.lint.scenario_warnings`
and :func:`sim.world.scene_warnings.world_warnings`.
"""

from __future__ import annotations

import dataclasses

from scenarios.errors import ScenarioWarning
from scenarios.lint import warning_at
from scenarios.schema import Scenario

#: Simulated time (s) the session runs with no command. The engine judges the steps when
#: the session starts (t = 0) and at each trace row (100 Hz); 0.02 s gives it two more
#: looks, after the first contacts have settled, for a few milliseconds of work.
START_S = 0.02
#: Simulated time (s) the idle session runs to see every movable object settle: a cube
#: beside a 1 cm board, or gravity pointing up, passed the 0.02 s check and booked drops
#: (31 and 3) in an idle run. A second of physics costs ~0.1 s of validate's time.
SETTLE_S = 1.0
#: How far (m) a movable object may move, at most, in :data:`SETTLE_S` with nobody
#: touching it: the bundled objects settle by under 0.5 mm.
SETTLE_DRIFT_M = 0.002


#: Trace events of the scenario's own actions that put a body somewhere: the idle run
#: measures a body's drift from where the last of them left it, not from where it started.
PLACING_EVENTS = ("moved", "spawned")


@dataclasses.dataclass
class _IdleRun:
    """What an idle session did: its trace, each movable object's largest distance (m)
    from where it started or where the scenario's last ``move``/``spawn`` put it (a
    ``dropped`` event may move an object back), and when that action was (s)."""

    trace: object
    moved_m: dict[str, float]
    placed_at_s: dict[str, float] = dataclasses.field(default_factory=dict)


def _placed_bodies(event, names) -> list[str]:
    """The bodies a ``moved``/``spawned`` event put somewhere: the one named, or all an
    object builds (``board`` -> ``board/ring0`` ...)."""
    name = event.data.get("object", "")
    return [n for n in names if n == name or n.startswith(f"{name}/")]


def _idle_run(scenario: Scenario, seed: int, until_s: float) -> _IdleRun:
    import numpy as np

    from sim.session.session import Session

    with Session(scenario, seed=seed, config=_still()) as session:
        world = session.world
        names = world.object_names()
        start = {n: world.body_pose(n)[:3, 3].copy() for n in names}
        moved = dict.fromkeys(names, 0.0)
        placed_at: dict[str, float] = {}
        events = session.recorder.events
        seen = len(events)
        while session.time_s < until_s and not session.finished:
            session.advance({})
            names = world.object_names()  # a spawn adds bodies, a remove takes them away
            for event in events[seen:]:
                if event.kind in PLACING_EVENTS:
                    # drift is measured from where the action put the body (a scripted
                    # move is no fall): a spawn or move at 0.5 s read "moves 98 mm"
                    for n in _placed_bodies(event, names):
                        start[n] = world.body_pose(n)[:3, 3].copy()
                        moved[n] = 0.0
                        placed_at[n] = event.time_s
            seen = len(events)
            for n in names:
                d = float(np.linalg.norm(world.body_pose(n)[:3, 3] - start[n]))
                moved[n] = max(moved.get(n, 0.0), d)
        trace = session.trace()
    return _IdleRun(trace, moved, placed_at)


def start_warnings(scenario: Scenario, seed: int = 0) -> list[ScenarioWarning]:
    """:func:`steps_done_at_start` and :func:`unsettled_objects` from one idle session
    (what ``surgisim scenario validate`` runs)."""
    run = _idle_run(scenario, seed, SETTLE_S)
    return _steps_done(scenario, seed, run) + _unsettled(scenario, seed, run)


def unsettled_objects(scenario: Scenario, seed: int = 0) -> list[ScenarioWarning]:
    """Movable objects that fall, slide or are counted as dropped within :data:`SETTLE_S`
    of the start with nobody touching them: a warning per object of ``scene.objects``
    (one for all the bodies an object builds, a board's rings), at its entry."""
    return _unsettled(scenario, seed, _idle_run(scenario, seed, SETTLE_S))


def _unsettled(scenario: Scenario, seed: int, run: _IdleRun) -> list[ScenarioWarning]:
    index = {obj.id: i for i, obj in enumerate(scenario.scene.objects)}
    dropped: dict[str, str] = {}
    for event in run.trace.events_of("drop"):
        if event.time_s <= SETTLE_S:
            dropped.setdefault(event.data["object"], event.data.get("reason", ""))
    by_owner: dict[str, list[str]] = {}
    for body, moved_m in run.moved_m.items():
        if moved_m > SETTLE_DRIFT_M or body in dropped:
            owner = body.partition("/")[0]
            if owner in index:
                by_owner.setdefault(owner, []).append(body)
    warnings = []
    for owner, bodies in by_owner.items():
        worst = max(bodies, key=lambda b: run.moved_m[b])
        what = f"{worst!r}" if len(bodies) == 1 else f"{len(bodies)} of its bodies, {worst!r}"
        where = "where it starts"
        if worst in run.placed_at_s:
            what += f" (from where the move or spawn at {run.placed_at_s[worst]:g} s put it)"
            where = "where that action puts it"
        drops = [b for b in bodies if b in dropped]
        counted = (
            f", and {len(drops)} {'is' if len(drops) == 1 else 'are'} counted as dropped "
            f"({dropped[drops[0]].replace('_', ' ')}), a penalty nobody earned"
            if drops
            else ""
        )
        warnings.append(
            warning_at(
                scenario,
                ("scene", "objects", index[owner]),
                f"scene.objects[{index[owner]}] ({owner}): {what} moves "
                f"{_distance(run.moved_m[worst])} in the first {SETTLE_S:g} s with nobody "
                f"touching it (seed {seed}){counted}. Nothing holds it {where}: "
                "put it on something (the floor is z = 0, a board's top its height), inside "
                "its board's edges, and check scene.gravity_m_s2.",
            )
        )
    return warnings


def _distance(m: float) -> str:
    return f"{m * 1e3:.0f} mm" if m < 1.0 else f"{m:.3g} m"


def steps_done_at_start(scenario: Scenario, seed: int = 0) -> list[ScenarioWarning]:
    """The steps of ``scenario`` done within :data:`START_S` of the start with nobody
    moving, each a warning at its entry in ``exercise.steps``.

    Builds a headless session (a pybullet DIRECT client, closed again). The scenario
    must already have passed :func:`sim.world.scene_warnings.world_warnings`, which says
    why a world that cannot be built cannot.
    """
    return _steps_done(scenario, seed, _idle_run(scenario, seed, START_S))


def _steps_done(scenario: Scenario, seed: int, run: _IdleRun) -> list[ScenarioWarning]:
    trace = run.trace
    done = [e for e in trace.events_of("step_done") if e.time_s <= START_S]
    if not done:
        return []
    index = {step.id: i for i, step in enumerate(scenario.exercise.steps)}
    steps = len(scenario.exercise.steps)
    if trace.completed and len(done) == steps:
        what = (
            "so the attempt completes at once and scores as a finished one (with nothing "
            "measured, 100 and a pass), stored as a qualifying attempt"
        )
    else:
        what = "so the trainee is told it is done before doing it"
    return [
        warning_at(
            scenario,
            ("exercise", "steps", index[event.data["step"]]),
            f"exercise.steps[{index[event.data['step']]}] ({event.data['step']}): done at "
            f"{event.time_s:g} s with nobody moving (its done_when already holds in the "
            f"world as it starts, seed {seed}), {what}. Make done_when need what the "
            "trainee does: move an entered region away from the tip's starting position, "
            "a target away from where its object starts.",
        )
        for event in done
    ]


def _still():
    """The default session without tremor filters: no master sample reaches them here,
    and the first one made costs 0.7 s importing scipy.signal, more than the check."""
    from sim.session.session import SessionConfig

    config = SessionConfig()
    return dataclasses.replace(
        config,
        teleop=dataclasses.replace(config.teleop, tremor_filter="none"),
        scope_teleop=dataclasses.replace(config.scope_teleop, tremor_filter="none"),
    )
