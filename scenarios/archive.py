"""Keeping finished sessions, and everything done with them afterwards.

Glue between the scorer, the records database, the trace files and the reports: store a
session (trace file first, then one database transaction), render its report, re-score
it under an edited rubric without re-running it, and render a trainee's progress page.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from scenarios.errors import ScenarioError
from scenarios.loader import parse_scenario
from scenarios.paths import reports_dir, traces_dir
from scenarios.records import Records
from scenarios.report import session_report_html, sessions_csv, trainee_report_html, write_text
from scenarios.schema import Scenario, Scoring
from scenarios.scoring import MetricScore, ScoreResult, score_session
from scenarios.trace import SessionTrace


def result_from_dict(data: dict) -> ScoreResult:
    """Rebuild a :class:`ScoreResult` stored as JSON."""
    metrics = {k: MetricScore(**v) for k, v in data["metrics"].items()}
    return ScoreResult(
        data["rule"],
        data["score"],
        data["passed"],
        data["completed"],
        metrics,
        list(data.get("reasons", [])),
    )


def store_session(
    records: Records,
    *,
    scenario: Scenario,
    scenario_text: str,
    pseudonym: str,
    operator: str,
    seed: int,
    trace: SessionTrace,
    metrics: dict[str, float],
    result: ScoreResult,
    sim_time_s: float,
    wall_time_s: float,
    trace_dir: Path | None = None,
) -> int:
    """Save the trace (atomically) and the session with its score; return the session id."""
    trace_path = (trace_dir or traces_dir()) / f"{scenario.name}-{uuid.uuid4().hex[:12]}.npz"
    trace.save(trace_path)
    return records.add_session(
        pseudonym=pseudonym,
        scenario_name=scenario.name,
        scenario_version=scenario.version,
        scenario_yaml=scenario_text,
        operator=operator,
        seed=seed,
        sim_time_s=sim_time_s,
        wall_time_s=wall_time_s,
        completed=result.completed,
        metrics=metrics,
        result=result.as_dict(),
        rubric=scenario.scoring.model_dump(mode="json"),
        trace_path=str(trace_path),
    )


def write_session_report(
    records: Records, session_id: int, out: Path | None = None, score_index: int = -1
) -> Path:
    """Render a stored session's HTML report (latest score by default); return its path."""
    row = records.session(session_id)
    score = row.scores[score_index]
    result = result_from_dict(json.loads(score.result_json))
    trace = None
    if row.trace_path and Path(row.trace_path).exists():
        trace = SessionTrace.load(row.trace_path)
    scenario = parse_scenario(row.scenario_yaml, f"session {session_id}")
    page = session_report_html(
        title=scenario.title,
        pseudonym=row.trainee.pseudonym,
        operator=row.operator,
        seed=row.seed,
        result=result,
        trace=trace,
        when=row.started_at,
        force_threshold_n=scenario.scoring.thresholds.excessive_force_n,
    )
    return write_text(out or reports_dir() / f"session-{session_id}.html", page)


def rescore(records: Records, session_id: int, scoring: Scoring) -> tuple[ScoreResult, ScoreResult]:
    """Score a stored session again under ``scoring``; store and return (original, new).

    Only the rubric changes: the measured metrics are the stored ones, so the session is
    not re-run and its history is kept.
    """
    row = records.session(session_id)
    original = result_from_dict(json.loads(row.original_score.result_json))
    new = score_session(row.metrics, row.completed, scoring)
    records.add_score(session_id, new.as_dict(), scoring.model_dump(mode="json"))
    return original, new


def session_dicts(records: Records, pseudonym: str) -> list[dict]:
    """A trainee's sessions as plain dicts (for reports and CSV)."""
    return [
        {
            "id": r.id,
            "scenario": r.scenario,
            "started_at": f"{r.started_at:%Y-%m-%d %H:%M}",
            "operator": r.operator,
            "seed": r.seed,
            "score": r.original_score.score,
            "passed": r.original_score.passed,
            "metrics": r.metrics,
        }
        for r in records.sessions(pseudonym)
    ]


def write_trainee_report(
    records: Records, pseudonym: str, out: Path | None = None, csv_out: Path | None = None
) -> Path:
    """Render a trainee's progress page (and optionally a CSV of sessions)."""
    sessions = session_dicts(records, pseudonym)
    if not sessions:
        raise ScenarioError(f"trainee {pseudonym!r} has no sessions in {records.url}.")
    proficiency = {}
    for name in sorted({s["scenario"] for s in sessions}):
        latest = records.sessions(pseudonym, name)[-1]
        rule = parse_scenario(latest.scenario_yaml, f"scenario {name}").scoring.proficiency
        p = records.proficiency(pseudonym, name, rule.consecutive, rule.total)
        proficiency[name] = {**p.__dict__, "proficient": p.proficient}
    if csv_out is not None:
        sessions_csv(sessions, csv_out)
    page = trainee_report_html(pseudonym, sessions, proficiency)
    return write_text(out or reports_dir() / f"trainee-{pseudonym}.html", page)
