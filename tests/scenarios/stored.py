"""One small scored session stored in real records, for the tests of records, reports and
the records commands: the mini scenario (``test_loader.VALID``) run as
``test_evaluate._trace()`` (no physics) and scored by its own rubric."""

from __future__ import annotations

from scenarios.archive import store_session
from scenarios.evaluate import compute_metrics
from scenarios.loader import parse_scenario
from scenarios.records import Records
from scenarios.scoring import ScoreResult, score_session
from tests.scenarios.test_evaluate import _trace
from tests.scenarios.test_loader import VALID


def store_mini_session(
    records: Records, pseudonym: str = "T042", trace_dir=None, trace=None
) -> tuple[int, ScoreResult]:
    """Store the mini session for ``pseudonym`` (9.5 s simulated, seed 1, the expert);
    ``trace_dir``: where its trace goes (default: the records' own folder); ``trace``:
    another trace than ``test_evaluate._trace()`` (its events, its ending). Returns the
    session's id and its score."""
    scenario = parse_scenario(VALID, "mini.yaml")
    trace = _trace() if trace is None else trace
    metrics = compute_metrics(trace)
    result = score_session(metrics, trace.completed, scenario.scoring)
    sid = store_session(
        records,
        scenario=scenario,
        scenario_text=VALID,
        pseudonym=pseudonym,
        operator="expert",
        seed=1,
        trace=trace,
        metrics=metrics,
        result=result,
        sim_time_s=9.5,
        wall_time_s=1.0,
        trace_dir=trace_dir,
    )
    return sid, result
