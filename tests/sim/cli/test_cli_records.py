"""Records commands on a real SQLite file: trainee list/show, report, rescore."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scenarios.archive import store_session
from scenarios.records import Records
from sim.cli import app
from tests.scenarios.stored import store_mini_session
from tests.scenarios.test_loader import VALID

runner = CliRunner()


def _store(db_url, tmp_path, pseudonym="T042"):
    return store_mini_session(Records(db_url), pseudonym, tmp_path / "traces")[0]


def test_trainee_list_show_and_report(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    sid = _store(db, tmp_path)
    out = runner.invoke(app, ["trainee", "list", "--db", db])
    assert out.exit_code == 0 and "T042" in out.stdout
    assert " UTC" in out.stdout  # since: a UTC date, a day off in Auckland's morning
    html = tmp_path / "t.html"
    csv = tmp_path / "t.csv"
    out = runner.invoke(
        app, ["trainee", "show", "T042", "--db", db, "--html", str(html), "--csv", str(csv)]
    )
    assert out.exit_code == 0, out.stdout
    assert "mini" in out.stdout and html.read_text().startswith("<!doctype html>")
    assert csv.read_text().splitlines()[0].startswith("session,scenario")
    report = tmp_path / "s.html"
    payload = tmp_path / "s.json"
    out = runner.invoke(
        app, ["report", str(sid), "--db", db, "--out", str(report), "--json", str(payload)]
    )
    assert out.exit_code == 0, out.stdout
    assert "data:image/png" in report.read_text()
    assert json.loads(payload.read_text())["trainee"] == "T042"


def test_rescore_changes_only_the_score(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    sid = _store(db, tmp_path)
    edited = tmp_path / "edited.yaml"
    edited.write_text(VALID.replace("benchmark: {mean: 30, sd: 10}", "benchmark: {mean: 2, sd: 1}"))
    out = runner.invoke(app, ["rescore", str(sid), "--scenario", str(edited), "--db", db])
    assert out.exit_code == 0, out.stdout
    row = Records(db).session(sid)
    first, second = (json.loads(s.result_json) for s in row.scores)
    assert first["score"] != second["score"]
    assert {k: v["value"] for k, v in first["metrics"].items()} == {
        k: v["value"] for k, v in second["metrics"].items()
    }
    # the re-score is the verdict proficiency judges by now: trainee show says it beside
    # the original, which stays the session's score
    out = runner.invoke(app, ["trainee", "show", "T042", "--db", db], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "re-score" in out.output
    line = next(x for x in out.output.splitlines() if x.startswith("│ 1 "))
    assert f"{second['score']:.1f} FAIL, judged by it" in " ".join(out.output.split())
    assert f"{first['score']:.1f}" in line


def test_unknown_trainee_and_session(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    assert runner.invoke(app, ["trainee", "new", "--db", db]).exit_code == 0  # it exists
    out = runner.invoke(app, ["trainee", "show", "T404", "--db", db])
    assert out.exit_code == 2
    out = runner.invoke(app, ["report", "7", "--db", db])
    assert out.exit_code == 2 and "no session with id 7" in out.output


# ---- as a user runs them: subprocesses against bad inputs ---------------------------------
def _surgisim(*args: str, env: dict | None = None, stdin: str | None = None):
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


COMMANDS = (
    ("trainee", "list"),
    ("trainee", "show", "T042"),
    ("trainee", "class"),
    ("report", "1"),
    ("rescore", "1", "--scenario", "peg-transfer"),
)


def _bad_databases(tmp_path):
    good = tmp_path / "good.sqlite"
    _store(f"sqlite:///{good}", tmp_path)
    data = good.read_bytes()
    (tmp_path / "random.sqlite").write_bytes(bytes(i * 7 % 256 for i in range(8192)))
    (tmp_path / "truncated.sqlite").write_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)
    corrupt[100:4000] = bytes(3900)  # the schema page wiped
    (tmp_path / "corrupt.sqlite").write_bytes(bytes(corrupt))
    (tmp_path / "dir.sqlite").mkdir()
    return {
        "random": ("not a SQLite database", f"sqlite:///{tmp_path / 'random.sqlite'}"),
        "truncated": ("truncated", f"sqlite:///{tmp_path / 'truncated.sqlite'}"),
        "corrupt": ("damaged", f"sqlite:///{tmp_path / 'corrupt.sqlite'}"),
        "directory": ("is a directory", f"sqlite:///{tmp_path / 'dir.sqlite'}"),
        "postgres": ("surgisim[postgres]", "postgresql://user:pw@localhost/records"),
    }


def _check_clear_error(out, what, needle):
    assert out.returncode == 2, (what, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout, (what, out.stderr)
    assert needle in out.stderr and len(out.stderr.strip().splitlines()) <= 3, (what, out.stderr)


def test_bad_databases_give_a_clear_error_and_exit_2(tmp_path):
    """Each bad database once, the commands taking turns (the full matrix is slow)."""
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    for k, (what, (needle, url)) in enumerate(_bad_databases(tmp_path).items()):
        command = COMMANDS[k % len(COMMANDS)]
        _check_clear_error(_surgisim(*command, "--db", url, env=env), (what, command), needle)
    out = _surgisim("trainee", "list", "--db", url, "--debug", env=env)
    assert out.returncode == 2 and "Traceback" in out.stderr


@pytest.mark.slow
def test_every_command_on_every_bad_database(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    for what, (needle, url) in _bad_databases(tmp_path).items():
        for command in COMMANDS:
            _check_clear_error(_surgisim(*command, "--db", url, env=env), (what, command), needle)


def test_read_only_database_and_damaged_trace(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    sid = _store(f"sqlite:///{tmp_path / 'r.sqlite'}", tmp_path)
    # mode=ro: read-only for SQLite even when the tests run as root (chmod would not be)
    read_only = f"sqlite:///file:{tmp_path / 'r.sqlite'}?mode=ro&uri=true"
    out = _surgisim("rescore", str(sid), "--db", read_only, env=env)
    assert out.returncode == 2 and "read-only" in out.stderr and "Traceback" not in out.stderr
    out = _surgisim("trainee", "list", "--db", read_only, env=env)
    assert out.returncode == 0 and "T042" in out.stdout
    trace = Records(f"sqlite:///{tmp_path / 'r.sqlite'}").session(sid).trace_path
    with open(trace, "r+b") as f:
        f.truncate(300)
    out = _surgisim("report", str(sid), "--db", f"sqlite:///{tmp_path / 'r.sqlite'}", env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "cannot read session trace" in out.stderr and "damaged" in out.stderr


def test_trainee_new_and_forget(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    out = _surgisim("trainee", "new", "--db", db, env=env)
    assert out.returncode == 0
    issued = out.stdout.strip()
    assert len(issued.split("-")) == 3 and Records(db).find_trainee(issued) is not None
    sid = _store(db, tmp_path)
    trace = Records(db).session(sid).trace_path
    out = _surgisim("trainee", "forget", "T042", "--db", db, env=env, stdin="n\n")
    assert out.returncode != 0 and Records(db).find_trainee("T042") is not None  # declined
    out = _surgisim("trainee", "forget", "T042", "--db", db, env=env, stdin="y\n")
    assert out.returncode == 0 and "1 session(s)" in out.stdout, out.stderr
    # the files are named before the question and after their removal
    assert f"trace: {trace}" in out.stdout and f"removed: {trace}" in out.stdout
    assert Records(db).find_trainee("T042") is None and not Path(trace).exists()
    out = _surgisim("trainee", "forget", issued, "--yes", "--db", db, env=env)
    assert out.returncode == 0 and Records(db).trainees() == []
    out = _surgisim("trainee", "forget", "T404", "--yes", "--db", db, env=env)
    assert out.returncode == 2 and "no trainee 'T404'" in out.stderr


def test_trainee_class_puts_the_trainees_side_by_side(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    _store(db, tmp_path, "T042")
    _store(db, tmp_path, "T043")
    _store(db, tmp_path, "T043")
    out = runner.invoke(app, ["trainee", "new", "--pseudonym", "T044", "--db", db])
    assert out.exit_code == 0 and out.stdout.strip() == "T044"  # before a first session
    out = runner.invoke(app, ["trainee", "new", "--pseudonym", "T044", "--db", db])
    assert out.exit_code == 2 and "already in" in out.output
    html, csv = tmp_path / "class.html", tmp_path / "class.csv"
    out = runner.invoke(
        app,
        ["trainee", "class", "--db", db, "--html", str(html), "--csv", str(csv)],
        env={"COLUMNS": "200"},
    )
    assert out.exit_code == 0, out.stdout
    text = out.stdout
    assert "mini: 0 of 3 proficient, 1 not started" in text
    assert "needs 2 in a row and 10 in all" in text
    rows = {line.split()[1]: line for line in text.splitlines() if "│ T04" in line}
    assert set(rows) == {"T042", "T043", "T044"}
    assert rows["T043"].split("│")[2].strip() == "2"  # attempts
    assert "not started" in rows["T044"]
    assert "no sessions yet: T044" in text
    assert html.read_text().startswith("<!doctype html>") and "Class overview" in html.read_text()
    assert len(csv.read_text().splitlines()) == 4  # the header and three trainees
    # a bundled scenario nobody has started: the whole class, not started
    out = runner.invoke(
        app, ["trainee", "class", "--db", db, "--scenario", "peg-transfer"], env={"COLUMNS": "200"}
    )
    assert out.exit_code == 0, out.output
    assert "peg-transfer: 0 of 3 proficient, 3 not started" in out.output
    out = runner.invoke(app, ["trainee", "class", "--db", db, "--scenario", "peg-transfr"])
    assert out.exit_code == 2
    assert "no scenario 'peg-transfr' is bundled or has sessions here" in out.output
    assert "Did you mean 'peg-transfer'?" in out.output


def test_the_demo_store_is_separate(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path)}
    out = _surgisim("trainee", "new", "--demo", env=env)
    assert out.returncode == 0 and (tmp_path / "surgisim" / "demo.sqlite").exists()
    issued = out.stdout.strip()
    assert issued in _surgisim("trainee", "list", "--demo", env=env).stdout
    assert issued not in _surgisim("trainee", "list", env=env).stdout


# ---- re-scoring safely ---------------------------------------------------------------------
def _store_bundled(db_url, tmp_path, name="peg-transfer", conditions=None, **faults):
    from scenarios.evaluate import score_trace
    from scenarios.loader import load_scenario, resolve
    from tests.scenarios.test_bundled_rubrics import passing_time_s
    from tests.scenarios.traces import scenario_trace

    scenario = load_scenario(name)
    trace = scenario_trace(scenario, passing_time_s(scenario), **faults)
    metrics, result = score_trace(scenario, trace)
    sid = store_session(
        Records(db_url),
        scenario=scenario,
        scenario_text=resolve(name).read_text(),
        pseudonym="T042",
        operator="device",
        seed=3,
        trace=trace,
        metrics=metrics,
        result=result,
        sim_time_s=float(trace.time_s[-1]),
        wall_time_s=1.0,
        trace_dir=tmp_path / "traces",
        conditions=conditions,
    )
    return sid, result


def test_rescore_refuses_another_scenarios_rubric_unless_forced(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    sid, original = _store_bundled(db, tmp_path)
    assert original.passed
    out = _surgisim("rescore", str(sid), "--scenario", "camera-targeting", "--db", db, env=env)
    assert out.returncode == 2 and "--force" in out.stderr and "peg-transfer" in out.stderr
    message = " ".join(out.stderr.split())  # the terminal may wrap it
    assert "the rubric given is the one of 'camera-targeting'" in message
    assert "''" not in message  # not "'camera-targeting''s"
    assert len(Records(db).session(sid).scores) == 1  # nothing stored
    out = _surgisim(
        "rescore", str(sid), "--scenario", "camera-targeting", "--force", "--db", db, env=env
    )
    assert out.returncode == 0, out.stderr
    row = Records(db).session(sid)
    first, second = (json.loads(s.result_json) for s in row.scores)
    assert first == json.loads(row.original_score.result_json) and first["passed"]
    assert row.original_score.passed and row.original_score.score == pytest.approx(original.score)
    assert second["context"]["forced"] and second["context"]["scenario"] == "camera-targeting"
    # the trainee's record keeps the original verdict; the report shows both
    out = _surgisim("trainee", "show", "T042", "--db", db, env=env)
    assert out.returncode == 0 and "pass" in out.stdout and "FAIL" not in out.stdout
    report = tmp_path / "s.html"
    out = _surgisim("report", str(sid), "--db", db, "--out", str(report), env=env)
    assert out.returncode == 0, out.stderr
    page = report.read_text()
    assert "verdict pass" in page and "<h2>Re-scores</h2>" in page and "forced" in page


def test_rescore_measures_again_from_the_trace_with_edited_thresholds(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    sid, original = _store_bundled(db, tmp_path, force_fraction=0.1)  # pushes at 6 N
    assert original.metrics["excessive_force_time_s"].value > 5.0
    from scenarios.loader import resolve

    edited = tmp_path / "peg-transfer.yaml"
    text = resolve("peg-transfer").read_text()
    edited.write_text(
        text.replace("thresholds: {excessive_force_n: 2.5}", "thresholds: {excessive_force_n: 8}")
    )
    out = _surgisim("rescore", str(sid), "--scenario", str(edited), "--db", db, env=env)
    assert out.returncode == 0, out.stderr
    second = json.loads(Records(db).session(sid).scores[-1].result_json)
    assert second["metrics"]["excessive_force_time_s"]["value"] == 0.0
    assert second["score"] > original.score
    assert second["context"]["metrics_from"] == "measured again from the trace"
    assert "= " in out.stdout and "pass score" in out.stdout  # the arithmetic is printed


def test_rescore_and_trainee_show_tell_a_score_from_a_pass_score_it_just_misses(tmp_path):
    """Target 48.25 s makes the session's score 86.786; under a pass score of 86.8 the
    verdict must not read "score 86.8 is below the pass score 86.8"."""
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "COLUMNS": "200"}
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    sid, _ = _store_bundled(db, tmp_path)
    from scenarios.loader import resolve

    edited = tmp_path / "peg-transfer.yaml"
    rule = "rule: {kind: fls, cutoff_s: 300, target_s: 48, pass_score: 73.4}"
    text = resolve("peg-transfer").read_text()
    assert rule in text
    edited.write_text(text.replace(rule, rule.replace("48", "48.25").replace("73.4", "86.8")))
    out = _surgisim("rescore", str(sid), "--scenario", str(edited), "--db", db, env=env)
    assert out.returncode == 0, out.stderr
    assert "FAIL - score 86.79/100 (fls, pass score 86.8)" in out.stdout
    assert "= 86.79" in out.stdout and "score 86.79 is below the pass score 86.8" in out.stdout
    out = _surgisim("trainee", "show", "T042", "--db", db, env=env)
    assert out.returncode == 0 and "86.7 " in out.stdout  # the original 86.7 under 73.4


def test_rescore_of_a_damaged_record_is_an_error_or_measured_again(tmp_path):
    import sqlite3

    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    path = tmp_path / "r.sqlite"
    db = f"sqlite:///{path}"
    sid, _ = _store_bundled(db, tmp_path)
    with sqlite3.connect(path) as con:
        metrics = json.loads(con.execute("select metrics_json from sessions").fetchone()[0])
        metrics["drops"] = float("nan")
        con.execute("update sessions set metrics_json = ?", (json.dumps(metrics),))
    # with its trace, the metrics are measured again: the damage does not matter
    out = _surgisim("rescore", str(sid), "--db", db, env=env)
    assert out.returncode == 0, out.stderr
    Path(Records(db).session(sid).trace_path).unlink()
    out = _surgisim("rescore", str(sid), "--db", db, env=env)
    assert out.returncode == 2 and "not a finite number" in out.stderr
    assert "Traceback" not in out.stderr and len(Records(db).session(sid).scores) == 2


def test_rescore_refuses_a_non_finite_rubric(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    sid, _ = _store_bundled(db, tmp_path)
    from scenarios.loader import resolve

    edited = tmp_path / "peg-transfer.yaml"
    edited.write_text(
        resolve("peg-transfer")
        .read_text()
        .replace("drops: {penalty: 20}", "drops: {penalty: .inf}")
    )
    out = _surgisim("rescore", str(sid), "--scenario", str(edited), "--db", db, env=env)
    assert out.returncode == 2 and f"{edited}:" in out.stderr and "finite" in out.stderr
    assert len(Records(db).session(sid).scores) == 1


def test_trainee_show_lists_proficiency_and_latency(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    latency = {
        "latency": {
            c: {"latency_ms": 150.0, "jitter_ms": 0.0, "loss": 0.0} for c in ("command", "video")
        }
    }
    _store_bundled(db, tmp_path)
    _store_bundled(db, tmp_path, conditions=latency)
    _store_bundled(db, tmp_path, name="camera-targeting")
    html = tmp_path / "t.html"
    env["COLUMNS"] = "200"  # one table row per line
    out = _surgisim("trainee", "show", "T042", "--db", db, "--html", str(html), env=env)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Proficiency" in text and "best run" in text and "current run" in text
    assert "150 ms" in text
    assert "By injected latency" in text
    line = next(row for row in text.splitlines() if "camera-targeting" in row and "in all" in row)
    assert " no " in line  # one passing attempt: not yet proficient
    page = html.read_text()
    assert "pass score" in page or "data:image/png" in page
    assert "150 ms" in page and "By injected latency" in page
    out = _surgisim("trainee", "show", "T042", "--db", db, "--latency", "150 ms", env=env)
    assert out.returncode == 0 and out.stdout.count("peg-transfer") >= 1
    out = _surgisim("trainee", "show", "T042", "--db", db, "--latency", "99 ms", env=env)
    assert out.returncode == 2 and "150 ms" in out.stderr


def test_a_path_given_as_db_gets_the_url_to_write(tmp_path):
    """``--db`` takes a URL; a bare path is answered with the URL that means it."""
    folder, file = tmp_path, tmp_path / "mine.sqlite"
    for given, url in ((folder, f"sqlite:///{folder / 'records.db'}"), (file, f"sqlite:///{file}")):
        out = runner.invoke(app, ["trainee", "list", "--db", str(given)])
        assert out.exit_code != 0
        assert "not a path" in out.output and url in out.output.replace("\n", "")
        assert "Traceback" not in out.output


def test_rescoring_a_stopped_session_says_it_is_no_attempt(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    records = Records(db)
    sid = store_session(
        records,
        **{**_mini_session_args(), "ended": "stopped"},
        pseudonym="T042",
        trace_dir=tmp_path / "traces",
    )
    out = runner.invoke(
        app, ["rescore", str(sid), "--scenario", str(_mini_file(tmp_path)), "--db", db]
    )
    assert out.exit_code == 0, out.output
    assert f"session {sid} was stopped by the user: not an attempt" in " ".join(out.output.split())


def _mini_session_args() -> dict:
    from scenarios.evaluate import compute_metrics
    from scenarios.loader import parse_scenario
    from scenarios.scoring import score_session
    from tests.scenarios.test_evaluate import _trace

    scenario = parse_scenario(VALID, "mini.yaml")
    trace = _trace()
    metrics = compute_metrics(trace)
    return {
        "scenario": scenario,
        "scenario_text": VALID,
        "operator": "device",
        "seed": 1,
        "trace": trace,
        "metrics": metrics,
        "result": score_session(metrics, trace.completed, scenario.scoring),
        "sim_time_s": 9.5,
        "wall_time_s": 9.5,
    }


def _mini_file(tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_text(VALID)
    return path


def test_rescore_says_a_timer_of_the_rubric_never_ran_in_the_session(tmp_path):
    """A timer added to the scenario after the session does not apply to it, so its limit
    is met: the re-score passed without a word."""
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    sid = _store(db, tmp_path)
    edited = tmp_path / "mini.yaml"
    text = VALID.replace("do: [{message: Go}]", "do: [{message: Go}, {start_timer: whole}]")
    text = text.replace(
        "    drops: {limit: 0}\n", "    drops: {limit: 0}\n    timer_s[whole]: {limit: 5}\n"
    )
    edited.write_text(text)
    out = runner.invoke(app, ["rescore", str(sid), "--scenario", str(edited), "--db", db])
    assert out.exit_code == 0, out.output
    said = " ".join(out.output.split())
    assert "note: timer 'whole' never ran in this session" in said


def test_forget_says_that_an_older_surgisims_run_outputs_may_be_left(tmp_path):
    """An older surgisim never registered a run's --record, --json or --video: after an
    upgrade, forget removed the trace and report and said nothing of those files (left on
    disk, world-readable). Such sessions (no run id) are named, before and after."""
    import sqlite3

    path = tmp_path / "r.sqlite"
    db = f"sqlite:///{path}"
    old, new = _store(db, tmp_path), _store(db, tmp_path)
    with sqlite3.connect(path) as con:  # as the older surgisim stored it
        con.execute("UPDATE sessions SET session_uid = NULL WHERE id = ?", (old,))
    asked = runner.invoke(app, ["trainee", "forget", "T042", "--db", db], input="n\n")
    assert "1 session(s) were stored by an earlier surgisim" in asked.stdout
    out = runner.invoke(app, ["trainee", "forget", "T042", "--yes", "--db", db])
    assert out.exit_code == 0, out.output
    assert "1 session(s) were stored by an earlier surgisim" in out.stdout
    assert "--record, --json and --video" in out.stdout and "look for them by hand" in out.stdout
    assert f"session {old} (mini, " in out.stdout and f"session {new} (" not in out.stdout


def test_forget_says_nothing_of_unregistered_outputs_when_every_session_is_new(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    _store(db, tmp_path)
    out = runner.invoke(app, ["trainee", "forget", "T042", "--yes", "--db", db])
    assert out.exit_code == 0 and "earlier surgisim" not in out.stdout


def test_rescore_all_gives_every_session_of_a_scenario_a_verdict_under_its_rubric(tmp_path):
    """A release that changes a bundled rubric (needle withdrawals priced) put weeks of
    attempts "under another rubric", and the only way back was one `rescore ID` per
    session. `rescore --all --scenario NAME` re-scores those not under it (originals
    kept, re-scores beside), --trainee narrows it, and a second run adds nothing."""
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    ann = [_store(db, tmp_path, "T042"), _store(db, tmp_path, "T042")]
    bob = _store(db, tmp_path, "T043")
    edited = tmp_path / "edited.yaml"
    edited.write_text(VALID.replace("benchmark: {mean: 30, sd: 10}", "benchmark: {mean: 2, sd: 1}"))
    args = ["rescore", "--all", "--scenario", str(edited), "--db", db]
    out = runner.invoke(app, [*args, "--trainee", "T042"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "2 session(s) re-scored, 0 already under this rubric" in out.stdout
    scores = {sid: len(Records(db).session(sid).scores) for sid in (*ann, bob)}
    assert scores == {ann[0]: 2, ann[1]: 2, bob: 1}
    out = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "1 session(s) re-scored, 2 already under this rubric" in out.stdout
    row = Records(db).session(bob)
    first, second = (json.loads(s.result_json) for s in row.scores)
    assert first["score"] != second["score"]  # the original kept, the re-score beside
    assert "0 session(s) re-scored, 3 already" in runner.invoke(app, args).stdout
    for wrong in (["rescore", "1", "--all", "--scenario", str(edited)], ["rescore", "--all"]):
        refused = runner.invoke(app, [*wrong, "--db", db])
        assert refused.exit_code == 2 and "--all re-scores every stored session" in refused.output


def test_the_changed_bundled_needle_rubrics_have_a_new_version():
    """needle-handover and needle-tissue priced needle withdrawals (2026-12-05) but kept
    version "1.0": sessions stored under either rubric said the same version."""
    from scenarios.loader import load_scenario

    for name in ("needle-handover", "needle-tissue"):
        scenario = load_scenario(name)
        assert scenario.scoring.model_dump()["metrics"]["needle_withdrawals"]["penalty"] == 20
        assert scenario.version != "1.0"


def test_two_rescore_alls_at_once_give_each_session_one_rescore(tmp_path, monkeypatch):
    """Two `rescore --all` at once both listed every session as under another rubric and
    each stored a re-score: two identical re-scores per session. The check is made again
    as each re-score is stored; here the other run's re-scores land between this run's
    listing and its storing."""
    import scenarios.archive as archive
    from scenarios.loader import parse_scenario

    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    ids = [_store(db, tmp_path, "T042"), _store(db, tmp_path, "T043")]
    edited = parse_scenario(
        VALID.replace("benchmark: {mean: 30, sd: 10}", "benchmark: {mean: 2, sd: 1}"),
        "edited.yaml",
    )
    records = Records(db)
    real_rescore = archive.rescore

    def other_run_first(records_, session_id, scenario, **kwargs):
        real_rescore(records_, session_id, scenario, once=True)  # the other process
        return real_rescore(records_, session_id, scenario, **kwargs)

    monkeypatch.setattr(archive, "rescore", other_run_first)
    done = archive.rescore_sessions(records, edited)
    assert done.rescored == [] and sorted(done.already) == sorted(ids)
    assert [len(Records(db).session(sid).scores) for sid in ids] == [2, 2]


def test_a_stopped_rescore_all_says_how_many_it_stored(tmp_path, monkeypatch):
    """Ctrl-C during `rescore --all` said only "error: interrupted.": nothing told the
    instructor that some re-scores were already stored, or that running it again does
    the rest."""
    import scenarios.archive as archive

    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    ids = [_store(db, tmp_path, "T042"), _store(db, tmp_path, "T043")]
    edited = tmp_path / "edited.yaml"
    edited.write_text(VALID.replace("benchmark: {mean: 30, sd: 10}", "benchmark: {mean: 2, sd: 1}"))
    real_rescore = archive.rescore
    calls = []

    def stop_at_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_rescore(*args, **kwargs)

    monkeypatch.setattr(archive, "rescore", stop_at_the_second)
    args = ["rescore", "--all", "--scenario", str(edited), "--db", db]
    out = runner.invoke(app, args)
    assert out.exit_code != 0
    assert f"stopped: 1 session(s) were re-scored and stored before the stop ({ids[0]})" in (
        out.output
    )
    monkeypatch.setattr(archive, "rescore", real_rescore)
    again = runner.invoke(app, args)
    assert "1 session(s) re-scored, 1 already under this rubric" in again.stdout


def test_the_first_session_of_a_pseudonym_is_said_to_be_one(tmp_path):
    """Report V, finding 6: a wrong but well-formed pseudonym stored "session 16 for
    trainee 'brave-lynx-5521'" and nothing said that this began a new trainee. The note
    comes with the first session only, and says what to do about a mistaken one."""
    from rich.console import Console

    from sim.cli.run import say_first_session

    records = Records(f"sqlite:///{tmp_path / 'r.sqlite'}")

    def said(recorded: bool) -> str:
        console = Console(record=True, width=300)
        say_first_session(console, records, "T042", recorded)
        return " ".join(console.export_text().split())

    assert said(False) == ""  # nothing stored yet
    store_mini_session(records, "T042", tmp_path / "traces")
    first = said(False)
    assert "first session for trainee 'T042': a new trainee" in first
    assert "sessions under another pseudonym" in first and "trainee list" in first
    assert "registered without sessions" in said(True)  # a `trainee new` pseudonym
    store_mini_session(records, "T042", tmp_path / "traces")
    assert said(False) == ""  # a trainee with earlier sessions: nothing to say
    assert records.session_count("T042") == 2 and records.session_count("nobody") == 0
