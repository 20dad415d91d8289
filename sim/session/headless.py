"""Running a scenario headless with a synthetic operator: what ``surgisim run`` and the
benchmarks call. Returns the trace, the metrics and the score."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from scenarios.evaluate import score_trace
from scenarios.schema import Scenario
from scenarios.scoring import ScoreResult
from scenarios.trace import SessionTrace, TraceEvent
from sim.session.demo import Demonstrator
from sim.session.plans import plan_for
from sim.session.session import Session, SessionConfig


@dataclass
class HeadlessOutcome:
    """A finished headless run."""

    trace: SessionTrace
    metrics: dict[str, float]
    result: ScoreResult
    sim_time_s: float
    wall_time_s: float
    #: the session's live metrics at the end (they must equal ``metrics`` where they overlap)
    live_metrics: dict[str, float] = field(default_factory=dict)
    #: wall time spent inside pybullet's stepSimulation (s), for the cost of the session
    physics_wall_s: float = 0.0
    #: the run was stopped before the exercise ended
    interrupted: bool = False


def run_headless(
    scenario: Scenario,
    *,
    operator: str = "expert",
    seed: int = 0,
    config: SessionConfig | None = None,
    on_progress: Callable[[int, float], None] | None = None,
    on_checkpoint: Callable[[Session], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> HeadlessOutcome:
    """Run ``scenario`` with a synthetic ``operator`` following its plan, then score it.

    Args:
        on_progress: called with (exercise step index, simulated time) after every
            primitive of the plan.
        on_checkpoint: called with the session after every primitive (a checkpoint
            writer decides whether one is due).
        stop: polled after every primitive; True stops the run at once (Ctrl-C): the
            outcome is then the session so far, marked interrupted.
    """
    start = time.perf_counter()
    session = Session(scenario, seed=seed, config=config)
    try:
        demo = Demonstrator(session, operator, seed=seed)
        plan = plan_for(scenario)

        def after_primitive() -> None:
            if on_progress is not None:
                on_progress(session.runner.step_index, session.time_s)
            if on_checkpoint is not None:
                on_checkpoint(session)
            if stop is not None and stop():
                demo.stop()

        demo.on_progress = after_primitive
        plan(demo)
        # the plan is done: give the exercise a moment to notice the last placement
        demo.until(lambda: session.finished, timeout_s=2.0)
        interrupted = demo.stop_requested and not session.finished
        gave_up = None
        if not interrupted and not session.finished:
            gave_up = gave_up_reason(operator, demo)
        outcome = end_of_run(scenario, session, interrupted, start, gave_up=gave_up)
    finally:
        session.close()
    if on_progress is not None:
        on_progress(session.runner.step_index, session.time_s)
    return outcome


def gave_up_reason(operator: str, demo) -> str:
    """Why a synthetic operator's run ended before the exercise: its plan ran out, with
    the plan's last note (a ring it gave up on), else the exercise step it was on."""
    reason = f"the {operator} operator's plan ended before the exercise did"
    if demo.notes:
        return reason + f" ({demo.notes[-1][1]})"
    runner = demo.session.runner
    steps = runner.exercise.steps
    if runner.step_index < len(steps):
        step = steps[runner.step_index]
        reason += f" (at step {runner.step_index + 1} of {len(steps)}, {step.id!r})"
    return reason


def end_of_run(
    scenario: Scenario,
    session: Session,
    interrupted: bool,
    started_s: float,
    stopped_by: str | None = None,
    gave_up: str | None = None,
) -> HeadlessOutcome:
    """A run ending now (the session still open, for a recorder to store it): its trace,
    marked when the user stopped the run, scored; the live metrics and the physics' wall
    time beside it; wall time from ``started_s`` (``time.perf_counter``).

    Args:
        stopped_by: who else ended the run before the exercise did (``"the controller"``
            when a controller returned None): said as ``gave_up`` says it, "{stopped_by}
            ended the run before the exercise did", unless ``gave_up`` says more.
        gave_up: why the operator ended the run before the exercise did (a synthetic
            operator's plan gave up on a ring): a ``gave_up`` event with that reason, the
            run's failure. Like a trainee who gives up, it is a failed attempt, stored as
            given up (neither "stopped by the user", which is no attempt, nor "ended by
            the scenario"); it ended at 239 s of a 300 s limit and nothing said why. The
            outcome is not marked interrupted (that is the user's stop).
    """
    trace = session.trace()
    if gave_up is None and stopped_by is not None:
        gave_up = f"{stopped_by} ended the run before the exercise did"
    if interrupted:
        trace.events.append(
            TraceEvent(session.time_s, "interrupted", {"reason": "stopped by the user"})
        )
    elif gave_up is not None and not trace.completed and not trace.events_of("failed"):
        trace.events.append(TraceEvent(session.time_s, "gave_up", {"reason": gave_up}))
    metrics, result = score_trace(scenario, trace)
    return HeadlessOutcome(
        trace,
        metrics,
        result,
        float(trace.time_s[-1]) if len(trace.time_s) else 0.0,
        time.perf_counter() - started_s,
        session.live_metrics(),
        session.world.physics_wall_s,
        interrupted,
    )
