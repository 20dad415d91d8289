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


def steps_done_at_start(scenario: Scenario, seed: int = 0) -> list[ScenarioWarning]:
    """The steps of ``scenario`` done within :data:`START_S` of the start with nobody
    moving, each a warning at its entry in ``exercise.steps``.

    Builds a headless session (a pybullet DIRECT client, closed again). The scenario
    must already have passed :func:`sim.world.scene_warnings.world_warnings`, which says
    why a world that cannot be built cannot.
    """
    from sim.session.session import Session

    with Session(scenario, seed=seed, config=_still()) as session:
        while session.time_s < START_S and not session.finished:
            session.advance({})
        trace = session.trace()
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
