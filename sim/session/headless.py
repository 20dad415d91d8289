"""Running a scenario headless with a synthetic operator: what ``surgisim run`` and the
benchmarks call. Returns the trace, the metrics and the score."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from scenarios.evaluate import compute_metrics
from scenarios.schema import Scenario
from scenarios.scoring import ScoreResult, score_session
from scenarios.trace import SessionTrace
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


def run_headless(
    scenario: Scenario,
    *,
    operator: str = "expert",
    seed: int = 0,
    config: SessionConfig | None = None,
    on_progress: Callable[[int, float], None] | None = None,
) -> HeadlessOutcome:
    """Run ``scenario`` with a synthetic ``operator`` following its plan, then score it."""
    start = time.perf_counter()
    session = Session(scenario, seed=seed, config=config)
    try:
        demo = Demonstrator(session, operator, seed=seed)
        plan = plan_for(scenario)
        if on_progress is not None:
            demo.on_progress = lambda: on_progress(session.runner.step_index, session.time_s)
        plan(demo)
        # the plan is done: give the exercise a moment to notice the last placement
        demo.until(lambda: session.finished, timeout_s=2.0)
        trace = session.trace()
        live = session.live_metrics()
        physics_wall_s = session.world.physics_wall_s
    finally:
        session.close()
    thresholds = scenario.scoring.thresholds
    metrics = compute_metrics(
        trace,
        force_threshold_n=thresholds.excessive_force_n,
        idle_speed_m_s=thresholds.idle_speed_m_s,
        movement_speed_m_s=thresholds.movement_speed_m_s,
    )
    result = score_session(metrics, trace.completed, scenario.scoring)
    if on_progress is not None:
        on_progress(session.runner.step_index, session.time_s)
    return HeadlessOutcome(
        trace,
        metrics,
        result,
        float(trace.time_s[-1]) if len(trace.time_s) else 0.0,
        time.perf_counter() - start,
        live,
        physics_wall_s,
    )
