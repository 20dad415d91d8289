"""Keeping finished sessions, and everything done with them afterwards.

Glue between the scorer, the records database, the trace files and the reports: store a
session (trace file first, then one database transaction), render its report, re-score
it under an edited rubric without re-running it, and render a trainee's progress page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from scenarios.errors import ScenarioError
from scenarios.loader import parse_scenario
from scenarios.paths import name_for_file, write_private
from scenarios.records import (
    Judged,
    Records,
    RunStart,
    current_score,
    judge_sessions,
    proficiency_of,
    result_label,
    rubric_key,
)
from scenarios.report import (
    Snapshot,
    session_report_html,
    sessions_csv,
    trainee_report_html,
    write_text,
)
from scenarios.schema import Proficiency, Scenario, Scoring
from scenarios.scoring import ScoreResult, pass_marks, running_in, score_session
from scenarios.times import started_label, utc_label
from scenarios.trace import SessionTrace


def result_from_dict(data: dict) -> ScoreResult:
    """Rebuild a :class:`ScoreResult` stored as JSON (older results lack newer fields)."""
    return ScoreResult.from_dict(data)


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
    allow_name: bool = False,
    conditions: dict | None = None,
    started_at: dt.datetime | None = None,
    ended: str | None = None,
    session_uid: str | None = None,
    files: dict[str, str] | None = None,
    trainee_recorded: bool = False,
    run_start: RunStart | None = None,
) -> int:
    """Save the trace (atomically, owner-only) and the session with its score; return the
    session id.

    Args:
        records: where the session goes (:meth:`Records.demo` for a synthetic operator's
            demonstration, see :func:`scenarios.records.open_records`).
        trace_dir: where the trace file goes; default: the store's traces directory.
        allow_name: accept a pseudonym that looks like a person's name (see
            :func:`scenarios.records.check_pseudonym`).
        conditions: how the session ran (injected latency, loop timing), stored with it.
        started_at, ended, session_uid: when it started (naive UTC; default: now), how
            it ended and the run's id for it: see :meth:`Records.add_session`.
        files: the run's outputs about the trainee, registered for ``trainee forget``
            with the session (see :meth:`Records.add_session`).
        trainee_recorded: the trainee was in the records when the run started: refused
            if they are not now (forgotten meanwhile; see :meth:`Records.add_session`).
        run_start: when the run began: refused if the trainee was forgotten since (see
            :meth:`Records.add_session`); None: not checked.

    Raises:
        ScenarioError: an invalid pseudonym or a session already stored
            (:class:`~scenarios.records.AlreadyStoredError`), both checked before anything is
            written, or the database cannot be written.
        OSError: the trace file cannot be written (nothing is stored).
    """
    records.check_not_forgotten(pseudonym, trainee_recorded=trainee_recorded, run_start=run_start)
    records.check_pseudonym(pseudonym, allow_name=allow_name)
    if session_uid is not None:
        records.check_not_stored(session_uid)
    trace_path = final_trace_path(records, scenario.name, session_uid, trace_dir)
    trace.save(trace_path)
    try:
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
            allow_name=allow_name,
            conditions=conditions,
            started_at=started_at,
            ended=ended,
            session_uid=session_uid,
            files=files,
            trainee_recorded=trainee_recorded,
            run_start=run_start,
        )
    except BaseException:
        trace_path.unlink(missing_ok=True)  # no orphan trace when the session is not stored
        raise


def final_trace_path(
    records: Records, scenario_name: str, session_uid: str | None, trace_dir: Path | None = None
) -> Path:
    """Where a stored session's trace goes: named by the session's own id when it has one,
    so that a run killed between writing the trace and committing the session leaves a
    file :func:`store_kept` finds and stores (the whole finished session, not its last
    checkpoint), rather than a stray file no record points to."""
    trace_dir = trace_dir or records.traces_dir
    tag = hashlib.sha256(session_uid.encode()).hexdigest() if session_uid else uuid.uuid4().hex
    return trace_dir / f"{name_for_file(scenario_name)}-{tag[:12]}.npz"


def ending_of(trace: SessionTrace, interrupted: bool) -> str:
    """How a finished run ended (a key of :data:`scenarios.records.ENDINGS`): ``stopped``
    when it was stopped before the exercise ended (Ctrl-C, the trainee stopping the
    server: the trace's ``interrupted`` event), else ``completed``, else ``gave_up`` when
    its operator ended it first (a controller that returned None, a plan that ran out: the
    ``gave_up`` event; an attempt, failed, as a trainee who gives up), else ``time_limit``
    or ``failed`` by the scenario's own ``failed`` event (its time limit, or another fail
    rule). Only a ``failed`` event makes a run ``failed``: a run that ended without one
    was not ended by the scenario."""
    if interrupted or (not trace.completed and trace.events_of("interrupted")):
        return "stopped"
    if trace.completed:
        return "completed"
    if trace.events_of("gave_up") and not trace.events_of("failed"):
        return "gave_up"
    for event in trace.events_of("failed"):
        reason = str(event.data.get("reason", "")) if isinstance(event.data, dict) else ""
        return "time_limit" if reason.startswith("time limit") else "failed"
    return "failed"


#: A session's snapshots live beside its trace: ``<trace stem>.snapshots.zip``.
SNAPSHOTS_SUFFIX = ".snapshots.zip"
_INDEX = "index.json"


def snapshots_path(trace_path: str | Path) -> Path:
    """Where the snapshots of the session whose trace is ``trace_path`` are kept."""
    trace_path = Path(trace_path)
    return trace_path.with_name(trace_path.stem + SNAPSHOTS_SUFFIX)


def save_snapshots(
    records: Records, session_id: int, snapshots: Sequence[Snapshot], note: str = ""
) -> Path | None:
    """Keep a stored session's snapshots beside its trace, owner-only, and register the
    file with the trainee so that forgetting them removes it. Returns its path (None when
    there is nothing to keep).

    The file is a zip of PNG files and an ``index.json`` (times, kinds, captions, and
    ``note``: why some pictures are missing), so it opens with any unzip tool.
    """
    if not snapshots and not note:
        return None
    row = records.session(session_id)
    if not row.trace_path:
        return None
    path = snapshots_path(row.trace_path)
    records.register_file(
        path, pseudonym=row.trainee.pseudonym, session_id=session_id, kind="snapshots"
    )
    write_snapshots(path, snapshots, note)
    return path


def write_snapshots(path: Path, snapshots: Sequence[Snapshot], note: str = "") -> Path:
    """Write snapshots (and the note) as an archive at ``path``, owner-only: beside a
    stored session's trace (:func:`save_snapshots`), or beside a trace kept when storing
    failed, so that ``surgisim store`` brings them into the records with it."""
    index = {"note": note, "snapshots": []}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:  # PNGs are compressed
        for k, shot in enumerate(snapshots):
            name = f"{k:02d}-{shot.kind}-{shot.time_s:08.2f}s.png"
            z.writestr(name, shot.png)
            index["snapshots"].append(
                {"file": name, "time_s": shot.time_s, "kind": shot.kind, "caption": shot.caption}
            )
        z.writestr(_INDEX, json.dumps(index, indent=1))
    write_private(path, lambda f: f.write(buffer.getvalue()))
    return path


def load_snapshots(path: str | Path) -> tuple[list[Snapshot], str]:
    """The snapshots kept at ``path`` (see :func:`save_snapshots`) and the note.

    Raises:
        ScenarioError: the file is not a snapshot archive (damaged or something else).
    """
    try:
        with zipfile.ZipFile(path) as z:
            index = json.loads(z.read(_INDEX))
            shots = [
                Snapshot(float(s["time_s"]), str(s["kind"]), str(s["caption"]), z.read(s["file"]))
                for s in index["snapshots"]
            ]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ScenarioError(
            f"{path}: not a readable snapshot archive ({exc}); delete it to write the "
            "report without pictures."
        ) from None
    return shots, str(index.get("note", ""))


def write_session_report(records: Records, session_id: int, out: Path | None = None) -> Path:
    """Render a stored session's HTML report; return its path.

    The verdict shown is the original one (the trainee's record); re-scores are shown
    beside it, each with how it was computed. The report is written owner-only and
    remembered with the trainee, so that :meth:`Records.forget` removes it. Default
    place: the store's reports directory.
    """
    row = records.session(session_id)
    original = result_from_dict(json.loads(row.original_score.result_json))
    rescores = [
        (utc_label(s.created_at), result_from_dict(json.loads(s.result_json)))
        for s in row.scores[1:]
    ]
    trace = None
    snapshots: list[Snapshot] = []
    note = ""
    if row.trace_path and Path(row.trace_path).exists():
        trace = SessionTrace.load(row.trace_path)
    if row.trace_path and snapshots_path(row.trace_path).exists():
        snapshots, note = load_snapshots(snapshots_path(row.trace_path))
    scenario = parse_scenario(row.scenario_yaml, f"session {session_id}")
    page = session_report_html(
        title=scenario.title,
        pseudonym=row.trainee.pseudonym,
        operator=row.operator,
        seed=row.seed,
        result=original,
        trace=trace,
        when=row.started_at,
        force_threshold_n=scenario.scoring.thresholds.excessive_force_n,
        snapshots=snapshots,
        snapshot_note=note,
        scoring=scenario.scoring,
        step_ids=[step.id for step in scenario.exercise.steps],
        conditions=row.conditions,
        rescores=rescores,
        ending=row.ending,
        object_types=[obj.type for obj in scenario.scene.objects],
    )
    path = out or records.reports_dir / f"session-{session_id}.html"
    # registered first: a report that exists is always one forget knows about
    records.register_file(path, pseudonym=row.trainee.pseudonym, session_id=session_id)
    return write_text(path, page)


def rescore(
    records: Records,
    session_id: int,
    scenario: Scenario | None = None,
    *,
    force: bool = False,
    rubric_label: str | None = None,
    once: bool = False,
) -> tuple[ScoreResult, ScoreResult | None]:
    """Score a stored session again; store the re-score beside the original and return
    (original, new). The original verdict stays the session's record. ``once``: only if
    its latest verdict is not under this rubric already (checked as it is stored; new is
    then None: another process re-scored it meanwhile).

    The metrics are measured again from the session's trace with the rubric's thresholds
    (an edited force limit or idle speed applies); the session is not re-run. Without a
    trace (removed), the stored metrics are used, and only when the thresholds are the
    ones they were measured with.

    Args:
        scenario: whose rubric to apply; default: the scenario the session ran (its
            stored text: re-measures with the current metric definitions).
        force: apply the rubric of another scenario (refused otherwise: a peg-transfer
            session scored under camera targeting's rubric is meaningless).
        rubric_label: where the rubric came from (a file, a bundled name), kept with it.

    Raises:
        ScenarioError: the rubric belongs to another scenario (without ``force``), the
            trace is gone and the thresholds changed, the trace is too damaged to measure
            a metric the rubric names, or a metric is not a finite number.
    """
    from scenarios.evaluate import measure_scored
    from scenarios.live import timers_running_at_end

    row = records.session(session_id)
    ran = parse_scenario(row.scenario_yaml, f"session {session_id}")
    scenario = scenario or ran
    if scenario.name != row.scenario and not force:
        raise ScenarioError(
            f"session {session_id} is a {row.scenario!r} session; the rubric given is the "
            f"one of {scenario.name!r}. Give a rubric of {row.scenario!r} (e.g. an edited copy "
            f"of its YAML), or --force to apply another scenario's rubric anyway."
        )
    scoring = scenario.scoring
    original = result_from_dict(json.loads(row.original_score.result_json))
    running = running_in(original)
    if row.trace_path and Path(row.trace_path).exists():
        trace = SessionTrace.load(row.trace_path)
        metrics = measure_scored(trace, scoring)
        running = timers_running_at_end(trace.events)
        source = "measured again from the trace"
    else:
        if scoring.thresholds != ran.scoring.thresholds:
            raise ScenarioError(
                f"session {session_id} has no trace any more ({row.trace_path!r}), so its "
                "metrics cannot be measured again with the edited thresholds "
                f"({scoring.thresholds.model_dump()} instead of "
                f"{ran.scoring.thresholds.model_dump()}); keep the thresholds to re-score "
                "from the stored metrics."
            )
        metrics = row.metrics
        source = "as stored (the trace is gone)"
    new = score_session(metrics, row.completed, scoring, running)
    context = {
        "scenario": scenario.name,
        "session_scenario": row.scenario,
        "forced": scenario.name != row.scenario,
        "metrics_from": source,
        "rubric": rubric_label or scenario.source_file or f"{scenario.name} as run",
    }
    new = dataclasses.replace(new, context=context)
    stored = records.add_score(
        session_id, new.as_dict(), scoring.model_dump(mode="json"), once=once
    )
    return original, (None if stored is None else new)


@dataclasses.dataclass(frozen=True)
class BulkRescore:
    """What :func:`rescore_sessions` did.

    Attributes:
        rescored: (session id, pseudonym, original, new) for each session re-scored.
        already: ids of sessions whose latest verdict was under the rubric already.
        failed: sessions that could not be re-scored, each with why.
    """

    rescored: list[tuple[int, str, ScoreResult, ScoreResult]]
    already: list[int]
    failed: list[str]


def rescore_sessions(
    records: Records,
    scenario: Scenario,
    *,
    pseudonym: str | None = None,
    rubric_label: str | None = None,
    on_rescored: Callable[[int], None] | None = None,
) -> BulkRescore:
    """Re-score every stored session of ``scenario`` (of one trainee with ``pseudonym``)
    whose latest verdict is under another rubric, each as :func:`rescore` does (the
    original kept, the re-score stored beside it): what a bundled scenario's new scoring
    (a surgisim release) or an edited rubric asks of weeks of attempts, which one
    ``rescore ID`` per session made a chore. A session already under the rubric is left
    (running it again adds nothing); one that cannot be re-scored (its trace gone and the
    thresholds changed) is listed with why, and the others still are. ``on_rescored``
    is called with each session id as its re-score is stored (a stop midway can then
    say how many were)."""
    target = rubric_key(json.dumps(scenario.scoring.model_dump(mode="json"), sort_keys=True))
    rescored, already, failed = [], [], []
    for row in records.sessions(pseudonym, scenario.name):
        if rubric_key(current_score([row]).rubric_json) == target:
            already.append(row.id)
            continue
        try:
            original, new = rescore(records, row.id, scenario, rubric_label=rubric_label, once=True)
        except ScenarioError as exc:
            failed.append(f"session {row.id}: {exc}")
            continue
        if new is None:  # another rescore --all gave it this rubric meanwhile
            already.append(row.id)
            continue
        rescored.append((row.id, row.trainee.pseudonym, original, new))
        if on_rescored is not None:
            on_rescored(row.id)
    return BulkRescore(rescored, already, failed)


def _latest_rescore(row) -> dict | None:
    """``{"score", "passed"}`` of the latest re-score that is a verdict on the session
    (not one forced under another scenario's rubric), or None."""
    from scenarios.records import _verdicts

    verdicts = _verdicts(row)
    last = verdicts[-1]
    return {"score": last.score, "passed": last.passed} if len(verdicts) > 1 else None


def session_dicts(records: Records, pseudonym: str) -> list[dict]:
    """A trainee's sessions as plain dicts (for reports and CSV), in the order they
    started: the original verdict, how the session ended (``ended``, and ``result``:
    ``FAIL (stopped by the user)``), whether it is an attempt for proficiency at all
    (``counts``; ``why_not``: why not, see :class:`scenarios.records.Judged`), the
    injected latency, the FLS pass score, whether the attempt qualifies toward
    proficiency under its scenario's current rule, the verdict proficiency judges it
    by when that is a re-score (``rescore``: ``{"score", "passed"}``, else None), and the
    latest re-score it was given, judged by or not (``latest_rescore``, same form)."""
    from scenarios.report_score import latency_label

    rows = records.sessions(pseudonym)
    judged = {
        j.row.id: j
        for _rule, of_scenario in _judged_by_scenario(rows).values()
        for j in of_scenario
    }
    out = []
    for r in rows:
        scoring = _scoring_of(r)
        j = judged[r.id]
        out.append(
            {
                "id": r.id,
                "scenario": r.scenario,
                "started_at": started_label(r.started_at),
                "operator": r.operator,
                "seed": r.seed,
                "score": r.original_score.score,
                "passed": r.original_score.passed,
                "completed": r.completed,
                "ended": r.ending,
                "result": result_label(r.original_score.passed, r.ending),
                "counts": j.why_not is None,
                "why_not": j.why_not,
                "rescore": {"score": j.score.score, "passed": j.score.passed}
                if j.rescored
                else None,
                # the latest re-score given, judged by or not (one under a rubric that is
                # not the current one was shown nowhere but on the session's report); a
                # forced one (another scenario's rubric) is a comparison, not a verdict
                "latest_rescore": _latest_rescore(r),
                "metrics": r.metrics,
                "latency": latency_label(r.conditions),
                "pass_score": getattr(scoring.rule, "pass_score", None) if scoring else None,
                "qualifies": j.qualifies,
                "unmet": list(j.unmet),
                "scored_metrics": [n for n in scoring.metrics if scoring.scored(n)]
                if scoring
                else None,
                "pass_marks": pass_marks(scoring) if scoring else {},
            }
        )
    return out


def _judged_by_scenario(rows) -> dict[str, tuple[Proficiency, list[Judged]]]:
    """A trainee's sessions (oldest first) per scenario, in name order: the rule they are
    judged by (:func:`current_rule`, else the default) and each session judged under it
    (:func:`scenarios.records.judge_sessions`). One judging serves the session table and
    the proficiency table alike."""
    out = {}
    for name in sorted({r.scenario for r in rows}):
        of_scenario = [r for r in rows if r.scenario == name]
        rule = current_rule(of_scenario) or Proficiency()
        out[name] = (rule, judge_sessions(of_scenario, rule))
    return out


def current_rule(rows) -> Proficiency | None:
    """The proficiency rule a trainee's sessions of one scenario (oldest first) are
    judged by: the current rubric's (see :func:`scenarios.records.current_score`: the
    latest session's latest verdict), else the rule in the latest session's scenario
    text; None if neither loads."""
    from pydantic import ValidationError

    current = current_score(rows)
    if current is not None:
        with contextlib.suppress(ValidationError, ValueError, TypeError):
            return Scoring.model_validate(json.loads(current.rubric_json)).proficiency
    scoring = _scoring_of(rows[-1]) if rows else None
    return scoring.proficiency if scoring else None


def _scoring_of(row) -> Scoring | None:
    """The rubric a stored session was scored under (None if its text no longer loads)."""
    return _rubric_of_text(row.scenario_yaml)


@functools.lru_cache(maxsize=32)
def _rubric_of_text(scenario_yaml: str) -> Scoring | None:
    """A stored scenario text's rubric, parsed once per text: a trainee's sessions (and a
    class's, for ``trainee class``) mostly share a handful of texts, and parsing one
    takes ~3.5 ms. Read only; nobody changes a rubric after parsing."""
    try:
        return parse_scenario(scenario_yaml, "<stored scenario>").scoring
    except ScenarioError:
        return None


def write_trainee_report(
    records: Records, pseudonym: str, out: Path | None = None, csv_out: Path | None = None
) -> Path:
    """Render a trainee's progress page (and optionally a CSV of sessions); a trainee
    with no sessions yet gets a page that says so (and a CSV of the header alone)."""
    sessions = session_dicts(records, pseudonym)
    proficiency = proficiency_table(records, pseudonym)
    if csv_out is not None:
        records.register_file(csv_out, pseudonym=pseudonym, kind="csv")
        sessions_csv(sessions, csv_out)
    page = trainee_report_html(pseudonym, sessions, proficiency)
    path = out or records.reports_dir / f"trainee-{pseudonym}.html"
    records.register_file(path, pseudonym=pseudonym)
    return write_text(path, page)


def proficiency_table(records: Records, pseudonym: str) -> dict[str, dict]:
    """Per scenario the trainee attempted: attempts, qualifying attempts, the longest and
    the current run of them, the requirement, whether proficient and since when (``since``:
    ``attempt 3, 2026-12-05``, or None), the rule in words, and the sessions left out
    (``not_counted``: stopped or recovered; ``other_rubric``: with no verdict under the
    current rubric), all under the current rubric and its rule (:func:`current_rule`)."""
    out = {}
    for name, (rule, judged) in _judged_by_scenario(records.sessions(pseudonym)).items():
        p = proficiency_of(judged, rule.consecutive, rule.total)
        since = None
        if p.proficient:
            since = f"attempt {p.reached_at}, {utc_label(p.reached_on, date_only=True)}"
        out[name] = {
            **p.__dict__,
            "proficient": p.proficient,
            "since": since,
            "rule": rule.describe(),
        }
    return out


def store_kept(records: Records, trace_path: str | Path) -> int:
    """Store a checkpoint or a kept trace (see :mod:`scenarios.checkpoint`) with the run
    information beside it: metrics from the trace, scored under the rubric the run used,
    stored under the pseudonym it was run for, with the time the session started (not
    now: it takes its place among the attempts) and how it ended (a checkpoint of a
    killed run: ``crashed``); then remove both files. Returns the session id.

    Raises:
        ScenarioError: a file missing or damaged, the session already stored
            (:class:`~scenarios.records.AlreadyStoredError`: a copy of its files), or the
            database cannot be written (the files are kept);
            :class:`SnapshotsNotAttachedError` when the session is stored but the
            snapshots kept with it could not be attached (the files are kept for that).
    """
    from scenarios.checkpoint import RunInfo
    from scenarios.evaluate import score_trace
    from scenarios.trace import TraceEvent

    trace_path = Path(trace_path)
    info = RunInfo.load(trace_path.with_suffix(".json"))
    trace = SessionTrace.load(trace_path)
    scenario = parse_scenario(info.scenario_yaml, f"<{info.scenario_name} as run>")
    records.check_not_stored(info.session_uid)
    whole_path = final_trace_path(records, info.scenario_name, info.session_uid)
    if whole_path.exists():  # killed while storing: the whole session was written already
        with contextlib.suppress(ScenarioError, OSError, ValueError):
            whole = SessionTrace.load(whole_path)
            if len(whole.time_s) >= len(trace.time_s):
                trace = whole
    ended = info.ended or ("stopped" if info.interrupted else None)
    if ended is None:
        # the run never said how it ended: the checkpoint of a killed process, unless
        # the exercise had ended already (or a kept trace of an older surgisim)
        finished = trace.completed or trace.events_of("failed")
        ended = ending_of(trace, False) if finished else "crashed"
    if ended in ("stopped", "crashed") and not trace.events_of("interrupted"):
        end = float(trace.time_s[-1]) if len(trace.time_s) else 0.0
        reason = "the run was stopped" if ended == "stopped" else "the run was killed"
        trace.events.append(TraceEvent(end, "interrupted", {"reason": reason}))
    metrics, result = score_trace(scenario, trace)
    session_id = store_session(
        records,
        scenario=scenario,
        scenario_text=info.scenario_yaml,
        pseudonym=info.pseudonym,
        operator=info.operator,
        seed=info.seed,
        trace=trace,
        metrics=metrics,
        result=result,
        # the trace's own end: the run information is as of the last checkpoint
        sim_time_s=max(info.sim_time_s, float(trace.time_s[-1]) if len(trace.time_s) else 0.0),
        wall_time_s=info.wall_time_s,
        # the run checked the pseudonym when it started (a trainee of the records then, or
        # new and of an accepted form or allowed): an --allow-name trainee's orphan must
        # not wait for an option `store` does not have
        allow_name=True,
        conditions=info.conditions or None,
        started_at=info.started,
        ended=ended,
        session_uid=info.session_uid,
        files=info.outputs,
        trainee_recorded=info.trainee_recorded,
        run_start=info.run_start,
    )
    try:
        attach_kept_snapshots(records, session_id, trace_path)
    except (ScenarioError, OSError) as exc:
        raise SnapshotsNotAttachedError(session_id, trace_path, exc) from None
    _remove_kept(trace_path)
    return session_id


class SnapshotsNotAttachedError(ScenarioError):
    """A kept session was stored, but the endoscope snapshots kept with it could not be
    brought in (a disk full again): said, not dropped. The kept files stay where they
    are; ``surgisim store`` of the kept trace again attaches them
    (:func:`attach_leftover_snapshots`).

    Attributes:
        session_id: the session, stored.
    """

    def __init__(self, session_id: int, trace_path: Path, exc: BaseException) -> None:
        reason = getattr(exc, "strerror", None) or str(exc)
        super().__init__(
            f"the session is stored (session {session_id}), but its endoscope snapshots "
            f"({snapshots_path(trace_path)}) could not be attached to it ({reason}). They "
            f"are kept with its trace: once that is fixed, `surgisim store {trace_path}` "
            "attaches them (the session is not stored twice)."
        )
        self.session_id = session_id


def attach_kept_snapshots(records: Records, session_id: int, trace_path: Path) -> bool:
    """Bring the endoscope snapshots kept beside ``trace_path`` (a run kept them when its
    storing failed) to the stored session ``session_id``, then remove the kept archive;
    False when none are kept. A session whose own snapshots exist keeps them.

    Raises:
        ScenarioError, OSError: the archive cannot be read or written beside the trace.
    """
    kept_shots = snapshots_path(trace_path)
    if not kept_shots.exists():
        return False
    row = records.session(session_id)
    if not (row.trace_path and snapshots_path(row.trace_path).exists()):
        save_snapshots(records, session_id, *load_snapshots(kept_shots))
    kept_shots.unlink()
    return True


def attach_leftover_snapshots(records: Records, trace_path: Path, session_id: int) -> bool:
    """A kept trace of a session stored already (``session_id``): attach the snapshots
    kept with it (:func:`attach_kept_snapshots`; a store whose snapshots failed left them),
    then remove the kept files. Returns whether snapshots were attached.

    Raises:
        ScenarioError, OSError: as :func:`attach_kept_snapshots` (nothing is removed).
    """
    attached = attach_kept_snapshots(records, session_id, trace_path)
    _remove_kept(trace_path)
    return attached


def _remove_kept(trace_path: Path) -> None:
    """Remove a kept trace and the run information beside it (stored now)."""
    trace_path.unlink(missing_ok=True)
    trace_path.with_suffix(".json").unlink(missing_ok=True)
