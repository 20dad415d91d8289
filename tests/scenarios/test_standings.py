"""The class overview (``scenarios.standings``, ``scenarios.report_class``) on real SQLite
records: it agrees with each trainee's own proficiency table, counts stopped sessions as
``trainee show`` does, and its page and CSV go when any trainee named in them is
forgotten."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from types import SimpleNamespace

import pytest

from scenarios.archive import proficiency_table, session_dicts, store_session
from scenarios.evaluate import compute_metrics
from scenarios.loader import parse_scenario
from scenarios.records import (
    OTHER_RUBRIC,
    OTHER_RUBRIC_NOTE,
    NoTraineeError,
    Records,
    rubric_key,
)
from scenarios.report import trainee_report_html
from scenarios.report_class import class_report_html, standings_csv
from scenarios.scoring import score_session
from scenarios.standings import class_standings, prerequisites_note, write_class_report
from tests.scenarios.test_evaluate import _trace
from tests.scenarios.test_loader import VALID

START = dt.datetime(2026, 11, 2, 9, 0)


#: The mini scenario with a stricter time benchmark and a proficiency rule of its own: an
#: instructor's edit of the scoring (the same scenario name)
STRICT = VALID.replace("{mean: 30, sd: 10}", "{mean: 10, sd: 2}").replace(
    "rule: {kind: mscore, k_sd: 1.0}",
    "rule: {kind: mscore, k_sd: 1.0}\n  proficiency: {consecutive: 3, total: 4, min_score: 80}",
)


def _store(
    records: Records,
    pseudonym: str,
    day: int,
    *,
    score: float = 90.0,
    ended=None,
    text: str = VALID,
) -> int:
    """One mini session on day ``day`` of the course (day 0: 2026-11-02), passed with a
    score of 90 or failed with a lower ``score``; ``ended="stopped"`` for a session the
    trainee stopped; ``text``: the scenario as it ran."""
    scenario = parse_scenario(text, "mini.yaml")
    trace = _trace()
    metrics = compute_metrics(trace)
    result = score_session(metrics, trace.completed, scenario.scoring)
    result = dataclasses.replace(result, score=float(score), passed=score >= 90.0)
    return store_session(
        records,
        scenario=scenario,
        scenario_text=text,
        pseudonym=pseudonym,
        operator="device",
        seed=1500 + day,
        trace=trace,
        metrics=metrics,
        result=result,
        sim_time_s=9.5,
        wall_time_s=9.5,
        started_at=START + dt.timedelta(days=day),
        ended=ended,
    )


@pytest.fixture
def course(tmp_path) -> Records:
    """A class of four under the mini rubric's rule (2 in a row and 10 in all): T101
    proficient (passes on days 1-10), T102 stuck (a pass between
    fails, then a stopped session), T103 with one fail, T104 registered only."""
    records = Records(f"sqlite:///{tmp_path / 'class.sqlite'}")
    for day in range(1, 11):
        _store(records, "T101", day)
    _store(records, "T102", 1, score=41.5)
    _store(records, "T102", 2)
    _store(records, "T102", 3, score=52.25)
    _store(records, "T102", 4, score=0.0, ended="stopped")
    _store(records, "T103", 2, score=12.0)
    records.trainee("T104")
    return records


def test_standings_agree_with_each_trainees_own_table(course):
    standings = class_standings(course)
    assert list(standings.by_scenario) == ["mini"]
    assert standings.without_sessions == ["T104"]
    group = {s.pseudonym: s for s in standings.by_scenario["mini"]}
    assert sorted(group) == ["T101", "T102", "T103"]
    for pseudonym, standing in group.items():
        own = proficiency_table(course, pseudonym)["mini"]
        assert standing.attempts == own["attempts"]
        assert standing.qualifying == own["passes"]
        assert standing.current_run == own["current_run"]
        assert standing.proficient == own["proficient"]
        assert standing.since == own["since"]
    t101, t102, t103 = group["T101"], group["T102"], group["T103"]
    assert t101.proficient and t101.since == "attempt 10, 2026-11-12 UTC"
    assert (t101.attempts, t101.passed, t101.current_run) == (10, 10, 10)
    assert (t102.attempts, t102.not_counted, t102.passed, t102.current_run) == (3, 1, 1, 0)
    # the stopped session's 0 is no attempt: best and latest are of the attempts
    assert t102.best_score == 90.0
    assert (t102.latest_score, t102.latest_result, t102.latest_ending) == (52.25, "FAIL", "stopped")
    assert t101.latest_ending is None and t101.latest_result == "pass"
    assert (t103.attempts, t103.passed, t103.best_score, t103.proficient) == (1, 0, 12.0, False)


def test_one_scenario_only_and_trainees_without_it(course):
    standings = class_standings(course, "mini")
    assert [s.pseudonym for s in standings.by_scenario["mini"]] == ["T101", "T102", "T103"]
    assert standings.not_started == {"mini": ["T104"]}
    other = class_standings(course, "peg-transfer")
    assert other.by_scenario == {}
    assert other.without_sessions == ["T101", "T102", "T103", "T104"]
    assert other.not_started == {"peg-transfer": ["T101", "T102", "T103", "T104"]}
    assert "No sessions of peg-transfer yet" in class_report_html(other, course.shown_url)


def test_page_and_csv_say_what_the_table_says(course, tmp_path):
    standings = class_standings(course)
    page = class_report_html(standings, course.shown_url)
    assert page.startswith("<!doctype html>") and "data:image/png" in page
    assert "1 proficient</b>, 1 not started" in page and "4 trainees" in page
    assert "3 (+1 not counted)" in page and "52.2 (FAIL); then stopped by the user" in page
    assert "not an attempt" not in page  # the latest score is the latest attempt's
    assert "No sessions yet" in page and "T104" in page
    written = standings_csv(standings, tmp_path / "c.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(written)))
    by_name = {r["trainee"]: r for r in rows}
    assert set(by_name) == {"T101", "T102", "T103", "T104"}
    assert by_name["T104"]["latest_result"] == "not started"
    assert by_name["T104"]["attempts"] == "0"
    assert by_name["T101"]["rule"] == "2 in a row and 10 in all"
    assert by_name["T101"]["proficient"] == "1" and by_name["T101"]["proficient_since"]
    assert (by_name["T102"]["attempts"], by_name["T102"]["not_counted"]) == ("3", "1")
    assert by_name["T103"]["best_score"] == "12.000"
    assert (by_name["T102"]["latest_score"], by_name["T102"]["latest_result"]) == (
        "52.250",
        "FAIL",
    )


def test_the_url_said_on_the_page_hides_a_password():
    """The page (and ``trainee list``, ``class``, ``forget``) says which database it read,
    without a PostgreSQL password."""
    lab = SimpleNamespace(url="postgresql://lab:s3cret@db.example/records")
    assert Records.shown_url.fget(lab) == "postgresql://lab:***@db.example/records"


def test_forgetting_any_trainee_on_the_page_deletes_page_and_csv(course, tmp_path):
    page, table = tmp_path / "class.html", tmp_path / "class.csv"
    written = write_class_report(course, class_standings(course), page, table)
    assert written == page and page.exists() and table.exists()
    forgotten = course.forget("T103")
    assert str(page.resolve()) in forgotten.files and str(table.resolve()) in forgotten.files
    assert not page.exists() and not table.exists()
    # written again, it no longer names the forgotten trainee; T104 has no session but
    # the page lists it as not started, so forgetting T104 deletes the page too
    write_class_report(course, class_standings(course), page)
    assert "T103" not in page.read_text() and "T104" in page.read_text()
    forgotten = course.forget("T104")
    assert str(page.resolve()) in forgotten.files and not page.exists()
    write_class_report(course, class_standings(course), page)
    assert "T104" not in page.read_text()


def test_a_prerequisite_not_yet_done_is_said_and_one_done_is_not(course):
    """``prerequisites`` name scenarios to do first: met by proficiency in them."""
    base = parse_scenario(VALID, "mini.yaml")
    follow_up = base.model_copy(update={"name": "mini-2", "prerequisites": ["mini", "drill"]})
    note = prerequisites_note(course, "T102", follow_up)
    assert note.startswith("mini-2 lists mini, drill to do first; T102 has not done")
    assert "mini (not yet proficient: 1 qualifying of 3 attempts" in note
    assert "drill (not attempted yet)" in note and "starts anyway" in note
    assert "mini (" not in prerequisites_note(course, "T101", follow_up)  # proficient
    only_mini = follow_up.model_copy(update={"prerequisites": ["mini"]})
    assert prerequisites_note(course, "T101", only_mini) is None
    assert prerequisites_note(course, "T101", base) is None  # none listed


def test_an_edited_rubric_judges_only_verdicts_given_under_it(tmp_path):
    """Four passes under the lenient benchmark, then one fail under a strict one with a
    rule of 3 in a row and 4 in all: judged by the latest attempt's rule, the four old
    passes made the trainee "proficient since attempt 4" after failing the strict one.
    Verdicts under another rubric are not judged by the new one; a re-score under it
    makes one count."""
    assert parse_scenario(STRICT, "strict.yaml").scoring.proficiency.total == 4
    records = Records(f"sqlite:///{tmp_path / 'r.sqlite'}")
    old = [_store(records, "T201", day) for day in range(1, 5)]
    assert not proficiency_table(records, "T201")["mini"]["proficient"]  # 4 of 10
    _store(records, "T201", 5, score=40.0, text=STRICT)
    mine = proficiency_table(records, "T201")["mini"]
    assert (mine["attempts"], mine["other_rubric"], mine["passes"]) == (1, 4, 0)
    assert not mine["proficient"] and mine["rule"].startswith("3 in a row and 4 in all")
    [standing] = class_standings(records).by_scenario["mini"]
    assert standing.other_rubric == 4 and not standing.proficient
    assert "1 (+4 under another rubric)" in class_report_html(
        class_standings(records), records.shown_url
    )
    dicts = session_dicts(records, "T201")
    assert [d["why_not"] for d in dicts] == [OTHER_RUBRIC] * 4 + [None]
    page = trainee_report_html("T201", dicts, proficiency_table(records, "T201"))
    assert "1 attempt (+4 under another rubric)" in page and OTHER_RUBRIC_NOTE[:40] in page
    assert page.count("no (under another rubric)") == 4
    # the instructor re-scores the old sessions under the strict rubric: they count, by
    # those verdicts (here passes of 85), and the originals stay the sessions' record
    strict = parse_scenario(STRICT, "strict.yaml").scoring.model_dump(mode="json")
    for sid in old:
        result = records.session(sid).original_score
        again = {**json.loads(result.result_json), "score": 85.0, "passed": True}
        records.add_score(sid, again, strict)
    mine = proficiency_table(records, "T201")["mini"]
    assert (mine["attempts"], mine["other_rubric"], mine["passes"]) == (5, 0, 4)
    assert mine["proficient"] and mine["since"].startswith("attempt 4,")
    dicts = session_dicts(records, "T201")
    assert [d["rescore"] for d in dicts[:4]] == [{"score": 85.0, "passed": True}] * 4
    assert [d["score"] for d in dicts[:4]] == [90.0] * 4  # the original verdicts kept
    [standing] = class_standings(records).by_scenario["mini"]
    assert (standing.passed, standing.best_score) == (4, 85.0)


def test_an_upgrade_that_adds_rubric_defaults_keeps_old_verdicts_comparable():
    """A rubric stored by an older version lacks fields added since: read with today's
    defaults, it is the same rubric (else every upgrade would set old attempts aside)."""
    scoring = parse_scenario(VALID, "mini.yaml").scoring.model_dump(mode="json")
    older = {k: v for k, v in scoring.items() if k not in ("thresholds", "require_completion")}
    assert rubric_key(json.dumps(older)) == rubric_key(json.dumps(scoring, sort_keys=True))
    edited = {**scoring, "proficiency": {"consecutive": 1, "total": 1}}
    assert rubric_key(json.dumps(edited)) == rubric_key(json.dumps(scoring))  # rule only
    stricter = json.loads(json.dumps(scoring))
    stricter["metrics"]["completion_time_s"]["benchmark"]["mean"] = 10.0
    assert rubric_key(json.dumps(stricter)) != rubric_key(json.dumps(scoring))


def test_a_re_score_under_a_rubric_no_session_runs_under_is_marked_not_judged(tmp_path):
    """`rescore 2 --scenario edited.yaml` with later sessions under the old rubric: the
    report showed both verdicts, `trainee show` and the progress page no mark of it. The
    current rubric stays the latest session's (one re-score of an old attempt does not set
    every other attempt aside); the re-score is shown, as not judged by, until the latest
    session is under its rubric too."""
    records = Records(f"sqlite:///{tmp_path / 'r.sqlite'}")
    sids = [_store(records, "T301", day) for day in range(1, 4)]
    strict = parse_scenario(STRICT, "strict.yaml").scoring.model_dump(mode="json")
    result = json.loads(records.session(sids[1]).original_score.result_json)
    records.add_score(sids[1], {**result, "score": 61.5, "passed": False}, strict)
    dicts = session_dicts(records, "T301")
    assert dicts[1]["rescore"] is None  # judged by its original, under the current rubric
    assert dicts[1]["latest_rescore"] == {"score": 61.5, "passed": False}
    assert dicts[0]["latest_rescore"] is None
    page = trainee_report_html("T301", dicts, proficiency_table(records, "T301"))
    assert page.count("re-scored: 61.5 FAIL, under another rubric: not judged by it") == 1
    assert proficiency_table(records, "T301")["mini"]["other_rubric"] == 0
    # the latest session re-scored under the same rubric: now that rubric is current
    records.add_score(sids[2], {**result, "score": 88.0, "passed": False}, strict)
    dicts = session_dicts(records, "T301")
    assert dicts[1]["rescore"] == {"score": 61.5, "passed": False}
    page = trainee_report_html("T301", dicts, proficiency_table(records, "T301"))
    assert "re-scored: 61.5 FAIL, judged by it" in page
    assert proficiency_table(records, "T301")["mini"]["other_rubric"] == 1  # the first
    # the class page said "82.7 (FAIL (re-scored))"
    (standing,) = class_standings(records).by_scenario["mini"]
    assert standing.latest_result == "FAIL, re-scored"


def test_a_trainee_forgotten_before_the_page_is_registered_is_left_out(course, tmp_path):
    """``trainee class`` read the standings (and printed its table), then another
    process forgot T103: the page and CSV are written without T103, saying so, where it
    used to fail with "no trainee 'T103'" after printing the whole table."""
    page, table = tmp_path / "class.html", tmp_path / "class.csv"
    standings = class_standings(course)
    course.forget("T103")
    notes = []
    assert write_class_report(course, standings, page, table, note=notes.append) == page
    assert "T103" not in page.read_text() and "T103" not in table.read_text()
    assert "T102" in page.read_text()
    [note] = notes
    assert note.startswith("T103 was forgotten while the class page was made")
    assert str(page.resolve()) in course.forget("T101").files and not page.exists()


def test_a_trainee_forgotten_while_the_page_is_made_is_not_on_it(course, tmp_path, monkeypatch):
    """A ``trainee forget`` landing while the page's HTML is made (after the standings
    were read): the page that ends up on disk never names the forgotten trainee, where
    it used to be registered first and written after the forget, naming them."""
    import scenarios.report_class as report_class

    page = tmp_path / "class.html"
    make_html = report_class.class_report_html
    forgotten = []

    def forget_meanwhile(standings, url):
        if not forgotten:
            forgotten.append(course.forget("T103"))
        return make_html(standings, url)

    monkeypatch.setattr(report_class, "class_report_html", forget_meanwhile)
    write_class_report(course, class_standings(course), page)
    assert forgotten and "T103" not in page.read_text() and "T101" in page.read_text()


def test_a_forget_between_registering_and_placing_the_page_keeps_the_old_file(
    course, tmp_path, monkeypatch
):
    """The page is registered, then renamed into place in a second write transaction
    that checks its trainees first: a forget between the two leaves the new page
    unplaced (NoTraineeError), and the retry writes it without the forgotten trainee."""
    page = tmp_path / "class.html"
    checks = []
    check = Records._trainee_ids

    def forget_before_placing(self, s, names):
        checks.append(list(names))
        if len(checks) == 2:  # the check before the rename
            course.forget("T103")
        return check(self, s, names)

    monkeypatch.setattr(Records, "_trainee_ids", forget_before_placing)
    notes = []
    write_class_report(course, class_standings(course), page, note=notes.append)
    assert "T103" in checks[1] and "T103" not in checks[-1]
    assert "T103" not in page.read_text() and len(notes) == 1
    with pytest.raises(NoTraineeError, match="T103"):
        course.register_file(page, pseudonym=["T101", "T103"], place=pytest.fail)


def test_every_date_shown_says_utc_and_a_start_in_the_future_is_flagged(tmp_path, capsys):
    """Dates were shown as bare ``2026-10-25 00:59`` (UTC, read as local time), and a
    session run with a clock a year fast became the trainee's latest attempt silently
    (the class view's latest score, the runs in a row)."""
    from rich.console import Console

    from scenarios.times import IN_THE_FUTURE, utc_now
    from sim.cli.run import say_future_starts

    records = Records(f"sqlite:///{tmp_path / 'clock.sqlite'}")
    ahead_days = (utc_now() - START).days + 400  # a clock a year fast
    _store(records, "T806", 1, score=100.0)
    fast = _store(records, "T806", ahead_days, score=100.0)
    later = _store(records, "T806", 2, score=41.0)  # run after it, with the clock right
    shown = {s["id"]: s["started_at"] for s in session_dicts(records, "T806")}
    assert shown[later] == "2026-11-04 09:00 UTC"
    assert shown[fast].endswith(f" UTC ({IN_THE_FUTURE})")
    # the order stays by start, as trainee show and the progress page count attempts
    assert list(shown) == [1, later, fast]
    (standing,) = class_standings(records).by_scenario["mini"]
    assert standing.latest_on == shown[fast]  # the class view flags its "latest" too
    page = trainee_report_html(
        "T806", session_dicts(records, "T806"), proficiency_table(records, "T806")
    )
    assert "2026-11-04 09:00 UTC" in page and IN_THE_FUTURE in page
    say_future_starts(Console(width=400), records, "T806")
    warning = capsys.readouterr().out
    assert f"session {fast} (" in warning and "started after now" in warning
    say_future_starts(Console(width=400), records, "T101")  # no sessions: nothing to say
    assert capsys.readouterr().out == ""


def test_a_pass_that_does_not_count_says_why_on_the_page_and_in_trainee_show(tmp_path):
    """A probe student's passes at 88-98 under a ``min_score: 100`` rule read "pass" and
    then only "no" under "counts toward proficiency", where a stopped session said "no
    (not an attempt)": the cell names what the rule wanted, in the page and in
    ``trainee show``."""
    from typer.testing import CliRunner

    from sim.cli import app

    strict = STRICT.replace("min_score: 80", "min_score: 100")
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    records = Records(db)
    for day, score in enumerate((98.06, 100.0, 41.5, 99.97), start=1):
        _store(records, "T201", day, score=score, text=strict)
    sessions = session_dicts(records, "T201")
    page = trainee_report_html("T201", sessions, proficiency_table(records, "T201"))
    cells = ["no (score 98.1 &lt; 100)", "yes", "no (not a pass)", "no (score 99.9 &lt; 100)"]
    for cell in cells:
        assert f"<td>{cell}</td>" in page, cell
    out = CliRunner().invoke(app, ["trainee", "show", "T201", "--db", db], env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "no (score 98.1 < 100)" in text and "no (not a pass)" in text
