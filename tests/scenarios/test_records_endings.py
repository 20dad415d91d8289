"""How a session ended, when it started, and that it is stored once: the records side of
sessions stored late (a killed run's checkpoint, a trace kept when storing failed)."""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
import time

import numpy as np
import pytest

import scenarios.report
from scenarios.archive import proficiency_table, session_dicts, store_kept, store_session
from scenarios.checkpoint import Checkpoint, RunInfo
from scenarios.evaluate import score_trace
from scenarios.loader import parse_scenario
from scenarios.records import AlreadyStoredError, Records
from scenarios.report import counts_text, sessions_csv, trainee_report_html
from tests.scenarios.test_evaluate import _trace
from tests.scenarios.test_loader import VALID

from .stored import store_mini_session
from .test_records import _session_kwargs

HOUR_S = 3600.0


@pytest.fixture
def records(tmp_path):
    return Records(f"sqlite:///{tmp_path / 'records.sqlite'}")


def _mini_kwargs(passed: bool, **extra) -> dict:
    """A stored session of the mini scenario (its name), started now unless told."""
    scenario = parse_scenario(VALID, "mini.yaml")
    return {
        **_session_kwargs("T001", passed=passed, scenario=scenario.name),
        "scenario_yaml": VALID,
        # the rubric a run of it stores (proficiency compares verdicts under one rubric)
        "rubric": scenario.scoring.model_dump(mode="json"),
        **extra,
    }


def _checkpoint(tmp_path, *, started_at: float, ended: str | None, completed: bool):
    """A checkpoint of the mini scenario as a run leaves it: started ``started_at`` (UNIX
    s), ``ended`` as the run recorded it (None: the process died)."""
    info = RunInfo("mini", VALID, 1, "expert", "T001", started_at=started_at, ended=ended)
    checkpoint = Checkpoint(tmp_path / "in-progress", info)
    trace = _trace()
    trace.completed = completed
    checkpoint.save(trace, 9.5)
    return checkpoint


def test_a_session_stored_late_keeps_its_start_time_and_place(records, tmp_path):
    """Issue: the orphan's started_at was the time ``store`` ran, so it came after
    sessions that started later and proficiency's current run was wrong."""
    started = time.time() - 2 * HOUR_S
    # a finished, failed session whose storing failed (kept), started two hours ago...
    kept = _checkpoint(tmp_path, started_at=started, ended="completed", completed=True)
    # ...then two passes, stored at once, before the kept one is stored
    for _ in range(2):
        records.add_session(**_mini_kwargs(True))
    sid = store_kept(records, kept.trace_path)
    row = records.session(sid)
    expected = dt.datetime.fromtimestamp(started, dt.timezone.utc).replace(tzinfo=None)
    assert abs((row.started_at - expected).total_seconds()) < 1e-3
    assert not row.original_score.passed and row.ending == "completed"
    assert [r.id for r in records.sessions("T001")] == [sid, 1, 2]  # in the order they started
    p = records.proficiency("T001", row.scenario, required_consecutive=2, required_total=2)
    assert (p.attempts, p.current_run, p.best_run) == (3, 2, 2) and p.reached_at == 3
    assert [s["id"] for s in session_dicts(records, "T001")] == [sid, 1, 2]


def test_a_killed_runs_checkpoint_is_stored_as_recovered_after_a_crash(records, tmp_path):
    started = time.time() - HOUR_S
    orphan = _checkpoint(tmp_path, started_at=started, ended=None, completed=False)
    sid = store_kept(records, orphan.trace_path)
    row = records.session(sid)
    assert row.ending == "crashed" and not row.completed
    [s] = session_dicts(records, "T001")
    assert s["result"] == "FAIL (recovered after a crash)" and s["counts"] is False


def test_stopped_and_crashed_sessions_are_not_attempts_for_proficiency(records):
    """The FLS convention: attempts are trials taken to their end. A stop or a crash
    neither counts nor breaks a run of qualifying attempts."""
    records.add_session(**_mini_kwargs(True))
    records.add_session(**_mini_kwargs(False, completed=False, ended="stopped"))
    records.add_session(**_mini_kwargs(False, completed=False, ended="crashed"))
    records.add_session(**_mini_kwargs(True))
    records.add_session(**_mini_kwargs(False, completed=False, ended="time_limit"))
    name = records.session(1).scenario
    p = records.proficiency("T001", name, required_consecutive=2, required_total=2)
    assert (p.attempts, p.not_counted, p.passes, p.best_run, p.current_run) == (3, 2, 2, 2, 0)
    assert p.reached_at == 2  # the second counted attempt
    assert p.reached_on == records.session(4).started_at


def test_the_ending_is_shown_in_the_table_csv_and_page(records, tmp_path):
    records.add_session(**_mini_kwargs(True))
    records.add_session(**_mini_kwargs(False, completed=False, ended="stopped"))
    records.add_session(**_mini_kwargs(False, completed=False, ended="time_limit"))
    sessions = session_dicts(records, "T001")
    assert [s["result"] for s in sessions] == [
        "pass",
        "FAIL (stopped by the user)",
        "FAIL (out of time)",
    ]
    rows = list(csv.reader(sessions_csv(sessions, tmp_path / "s.csv").open()))
    assert rows[0][-2:] == ["ended", "counts"]
    assert [r[-2] for r in rows[1:]] == ["completed", "stopped", "time_limit"]
    # why an attempt does not count, in the export an instructor opens in a spreadsheet
    assert [r[-1] for r in rows[1:]] == [counts_text(s) for s in sessions]
    assert rows[2][-1] == "no (not an attempt)" and rows[3][-1] == "no (not a pass)"
    page = trainee_report_html("T001", sessions, proficiency_table(records, "T001"))
    assert "<td>FAIL (stopped by the user)</td>" in page and "no (not an attempt)" in page
    # an attempt out of time counts as an attempt that did not qualify: "no", not blank
    assert "<td>FAIL (out of time)</td>" in page
    cells = page[page.index("<td>FAIL (out of time)</td>") :].split("</tr>")[0]
    assert cells.rstrip().endswith("<td>no (not a pass)</td>"), cells


def test_the_learning_curve_leaves_out_what_a_session_not_completed_measured(monkeypatch):
    """Issue: an interrupted 5.75 s attempt looked like the best completion time."""
    drawn = []
    monkeypatch.setattr(scenarios.report, "_png", lambda fig: drawn.append(fig) or "data:")

    def session(i, time_s, completed):
        return {
            "id": i,
            "scenario": "peg-transfer",
            "started_at": f"2026-11-0{i}",
            "score": 60.0 if completed else 0.0,
            "passed": completed,
            "completed": completed,
            "metrics": {"completion_time_s": time_s},
        }

    rows = [session(1, 40.0, True), session(2, 5.75, False), session(3, 30.0, True)]
    trainee_report_html("T001", rows, {})
    [fig] = drawn
    axes = {ax.get_title(): ax for ax in fig.axes}
    [time_ax] = [ax for title, ax in axes.items() if title.startswith("Completion time")]
    plotted = [np.asarray(c.get_offsets())[:, 1] for c in time_ax.collections]
    plotted += [np.asarray(line.get_ydata(), dtype=float) for line in time_ax.lines]
    values = np.concatenate(plotted)
    assert 5.75 not in values and {40.0, 30.0} <= set(values[np.isfinite(values)])
    # the score curve shows it, as a cross, and the legend says what that means
    score_ax = fig.axes[0]
    labels = score_ax.get_legend_handles_labels()[1]
    assert "not completed (metrics left out)" in labels


def test_a_session_is_stored_once(records, tmp_path):
    """Issue: a copy of a checkpoint stored after the original was a second attempt."""
    orphan = _checkpoint(tmp_path, started_at=time.time(), ended=None, completed=False)
    copy = tmp_path / "backup" / orphan.trace_path.name
    copy.parent.mkdir()
    copy.write_bytes(orphan.trace_path.read_bytes())
    copy.with_suffix(".json").write_bytes(orphan.info_path.read_bytes())
    sid = store_kept(records, orphan.trace_path)
    with pytest.raises(AlreadyStoredError, match=f"already stored as session {sid}") as caught:
        store_kept(records, copy)
    assert caught.value.session_id == sid
    assert len(records.sessions("T001")) == 1 and copy.exists()  # the copy is left alone
    # the run id is in the database, unique
    assert records.session(sid).session_uid == orphan.info.session_uid


def test_store_session_refuses_a_stored_run_id_before_writing_a_trace(records, tmp_path):
    scenario = parse_scenario(VALID, "mini.yaml")
    trace = _trace()
    metrics, result = score_trace(scenario, trace)
    kwargs = dict(
        scenario=scenario,
        scenario_text=VALID,
        pseudonym="T001",
        operator="expert",
        seed=1,
        trace=trace,
        metrics=metrics,
        result=result,
        sim_time_s=9.5,
        wall_time_s=1.0,
        trace_dir=tmp_path / "traces",
        session_uid="run-1",
    )
    store_session(records, **kwargs)
    with pytest.raises(AlreadyStoredError):
        store_session(records, **kwargs)
    assert len(list((tmp_path / "traces").glob("*.npz"))) == 1


def test_legacy_checkpoints_without_a_run_id_are_stored_once(records, tmp_path):
    import json

    orphan = _checkpoint(tmp_path, started_at=time.time(), ended=None, completed=False)
    data = json.loads(orphan.info_path.read_text())
    del data["session_uid"], data["ended"]
    orphan.info_path.write_text(json.dumps(data))
    copy = tmp_path / "copy.npz"
    copy.write_bytes(orphan.trace_path.read_bytes())
    copy.with_suffix(".json").write_text(orphan.info_path.read_text())
    store_kept(records, orphan.trace_path)
    with pytest.raises(AlreadyStoredError):
        store_kept(records, copy)


def test_a_database_of_an_older_surgisim_gains_the_new_columns(tmp_path):
    """Created without ``ended`` and ``session_uid`` (as before this change): opening it
    adds them (and the unique index); its sessions read as completed / not completed."""
    path = tmp_path / "old.sqlite"
    records = Records(f"sqlite:///{path}")
    records.add_session(**_session_kwargs("T001"))
    records.add_session(**{**_session_kwargs("T001", passed=False), "completed": False})
    records.engine.dispose()
    with sqlite3.connect(path) as con:
        con.execute("DROP INDEX ix_sessions_session_uid")
        con.execute("ALTER TABLE sessions DROP COLUMN session_uid")
        con.execute("ALTER TABLE sessions DROP COLUMN ended")
    records = Records(f"sqlite:///{path}")
    assert [r.ending for r in records.sessions("T001")] == ["completed", "not completed"]
    assert [s["result"] for s in session_dicts(records, "T001")] == [
        "pass",
        "FAIL (not completed)",
    ]
    records.add_session(**_session_kwargs("T001"), session_uid="u1")
    with pytest.raises(AlreadyStoredError):
        records.add_session(**_session_kwargs("T001"), session_uid="u1")
    with sqlite3.connect(path) as con:
        indexes = {r[1]: r[2] for r in con.execute("PRAGMA index_list(sessions)")}
    assert indexes["ix_sessions_session_uid"] == 1  # unique


def test_a_checkpoint_that_cannot_be_written_does_not_end_the_session(tmp_path, caplog):
    """Issue: a full disk while writing a periodic checkpoint ended the session."""
    import errno

    info = RunInfo("mini", VALID, 1, "expert", "T001")
    checkpoint = Checkpoint(tmp_path / "in-progress", info, every_s=1.0)
    trace = _trace()
    assert checkpoint.save(trace, 1.0)
    original = type(trace).save

    def full(self, path, *, compress=True):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    type(trace).save = full
    try:
        assert not checkpoint.save(trace, 2.0) and not checkpoint.save(trace, 3.0)
    finally:
        type(trace).save = original
    warnings = [r for r in caplog.records if "checkpoint cannot be written" in r.message]
    assert len(warnings) == 1 and "No space left on device" in checkpoint.error
    assert not checkpoint.due(3.5) and checkpoint.due(4.0)  # tried again next interval
    assert checkpoint.save(trace, 4.0)


def test_a_checkpoint_folder_that_cannot_be_made_does_not_stop_the_run(tmp_path, caplog):
    """Issue: a read-only data directory (the database elsewhere, on ``--db``) ended
    ``surgisim run`` with an unexpected OSError before it started. The run now goes on
    without checkpoints (one warning), and a finished session is still kept elsewhere."""
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way of the folder")
    info = RunInfo("mini", VALID, 1, "expert", "T001")
    checkpoint = Checkpoint(blocker / "in-progress", info, every_s=1.0)
    trace = _trace()
    assert not checkpoint.save(trace, 1.0) and checkpoint.error is not None
    warnings = [r for r in caplog.records if "checkpoint cannot be written" in r.message]
    assert len(warnings) == 1
    kept = checkpoint.keep(trace, blocker / "unstored")  # the system's temporary folder
    assert kept.exists() and RunInfo.load(kept.with_suffix(".json")).pseudonym == "T001"
    kept.unlink()
    kept.with_suffix(".json").unlink()


def test_a_stored_checkpoint_takes_its_simulated_time_from_the_trace(records, tmp_path):
    """Issue: ``store`` recorded the last checkpoint's time (11.0 s) for a run whose kept
    trace reached 11.3 s; the trace is what was simulated."""
    orphan = _checkpoint(tmp_path, started_at=time.time(), ended=None, completed=False)
    assert orphan.info.sim_time_s == 9.5  # the checkpoint's own time
    sid = store_kept(records, orphan.trace_path)
    assert records.session(sid).sim_time_s == pytest.approx(9.999)  # the trace's end


def test_the_progress_page_counts_attempts_as_trainee_show_does(records):
    """Issue (two users from the docs): the page's heading said "3 attempts" where `trainee
    show` said "2 (+1 not counted)", and its table numbered the stopped session #3."""
    records.add_session(**_mini_kwargs(True))
    records.add_session(**_mini_kwargs(False, completed=False, ended="stopped"))
    records.add_session(**_mini_kwargs(False, completed=False, ended="time_limit"))
    page = trainee_report_html(
        "T001", session_dicts(records, "T001"), proficiency_table(records, "T001")
    )
    assert "<p>2 attempts (+1 not counted)," in page
    rows = page[page.index("<th>attempt</th>") :].split("<tr>")[1:]
    assert [r.split("</td>")[0] for r in rows] == ["<td>1", "<td>\u2014", "<td>2"]


def test_a_run_killed_while_storing_is_stored_whole_from_its_finished_trace(records, tmp_path):
    """kill -9 between writing the finished trace and committing the session: `store
    --orphans` stored the last checkpoint (6 s of a finished 9.5 s session) as "recovered
    after a crash", and the finished trace stayed in traces/, linked to nothing, even
    after `trainee forget`. The finished trace is named by the session's id: found, it is
    the session stored, complete, and it is the session's file (forget removes it)."""
    from scenarios.archive import final_trace_path

    started = time.time() - HOUR_S
    kept = _checkpoint(tmp_path, started_at=started, ended=None, completed=False)
    partial = _trace()
    partial.time_s = partial.time_s[:6000]  # the last checkpoint: 6 s of the run
    for inst in partial.instruments.values():
        for name, values in vars(inst).items():
            if isinstance(values, np.ndarray) and len(values) == 10_000:
                setattr(inst, name, values[:6000])
    partial.completed = False
    partial.save(kept.trace_path, compress=False)
    whole = final_trace_path(records, "mini", kept.info.session_uid)
    whole.parent.mkdir(parents=True, exist_ok=True)
    _trace().save(whole)  # what the killed run had written, complete (9.5 s)
    sid = store_kept(records, kept.trace_path)
    row = records.session(sid)
    assert row.completed and row.ending == "completed" and row.counts_as_attempt
    assert row.trace_path == str(whole) and whole.exists()
    records.forget("T001")
    assert not whole.exists()


def test_a_long_scenario_name_never_loses_a_session_to_a_file_name(records, tmp_path):
    """A 235-character scenario name ran, then "could not be stored: File name too
    long": the whole attempt was lost. Names are capped at validation now, and the files
    of a session are named from a cut, hashed name whatever the name (a checkpoint from
    before the cap still stores)."""
    from scenarios.archive import final_trace_path
    from scenarios.errors import ScenarioError
    from scenarios.paths import NAME_IN_FILE_MAX, name_for_file

    long = "a" * 235
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(VALID.replace("name: mini", f"name: {long}"), "long.yaml")
    assert "a scenario name is at most 64 characters (this one has 235)" in str(caught.value)
    parse_scenario(VALID.replace("name: mini", f"name: {'a' * 64}"), "64.yaml")

    assert name_for_file("mini") == "mini"
    assert len(name_for_file(long)) <= NAME_IN_FILE_MAX
    assert name_for_file(long) != name_for_file(long[:-1] + "b")
    info = RunInfo(long, VALID, 1, "expert", "T001", started_at=time.time(), ended="completed")
    checkpoint = Checkpoint(tmp_path / "in-progress", info)
    trace = _trace()
    assert checkpoint.save(trace, 9.5) and checkpoint.error is None
    assert final_trace_path(records, long, info.session_uid).name.startswith(name_for_file(long))
    row = records.session(store_kept(records, checkpoint.trace_path))
    assert row.completed


def test_an_older_surgisims_stopped_session_is_read_as_stopped_after_the_upgrade(tmp_path):
    """Sessions an older surgisim stored have no ending: a Ctrl-C'd one showed as "FAIL
    (not completed)" and counted as an attempt (a stop now is not one). Its trace says
    it was stopped (the ``interrupted`` event): the upgrade reads it once, as a run now
    does; a session whose trace tells nothing stays "not completed". Read-only records
    are read as they are."""
    from scenarios.records import NOT_COMPLETED, STORE_VERSION_KEY
    from scenarios.trace import TraceEvent

    path = tmp_path / "r.sqlite"
    records = Records(f"sqlite:///{path}")
    ids = {}
    for name, events in (
        ("stopped", [TraceEvent(5.0, "interrupted", {"reason": "stopped by the user"})]),
        ("unknown", []),
    ):
        trace = _trace()
        trace.completed = False
        trace.events = [e for e in trace.events if e.kind != "interrupted"] + events
        ids[name], _ = store_mini_session(records, "T001", trace=trace)
    with sqlite3.connect(path) as con:  # as an older surgisim stored them, unmarked
        con.execute("UPDATE sessions SET ended = NULL, session_uid = NULL")
        con.execute("DELETE FROM surgisim_meta WHERE key = ?", (STORE_VERSION_KEY,))
    read_only = Records(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert read_only.session(ids["stopped"]).ending == NOT_COMPLETED
    upgraded = Records(f"sqlite:///{path}")
    stopped, unknown = upgraded.session(ids["stopped"]), upgraded.session(ids["unknown"])
    assert stopped.ending == "stopped" and not stopped.counts_as_attempt
    assert unknown.ending == NOT_COMPLETED and unknown.counts_as_attempt
