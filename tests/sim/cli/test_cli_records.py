"""Records commands on a real SQLite file: trainee list/show, report, rescore."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from scenarios.archive import store_session
from scenarios.evaluate import compute_metrics
from scenarios.loader import parse_scenario
from scenarios.records import Records
from scenarios.scoring import score_session
from sim.cli import app
from tests.scenarios.test_evaluate import _trace
from tests.scenarios.test_loader import VALID

runner = CliRunner()


def _store(db_url, tmp_path, pseudonym="T042"):
    scenario = parse_scenario(VALID, "mini.yaml")
    trace = _trace()
    metrics = compute_metrics(trace)
    result = score_session(metrics, trace.completed, scenario.scoring)
    return store_session(
        Records(db_url),
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
        trace_dir=tmp_path / "traces",
    )


def test_trainee_list_show_and_report(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    sid = _store(db, tmp_path)
    out = runner.invoke(app, ["trainee", "list", "--db", db])
    assert out.exit_code == 0 and "T042" in out.stdout
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


def test_unknown_trainee_and_session(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    out = runner.invoke(app, ["trainee", "show", "T404", "--db", db])
    assert out.exit_code == 2
    out = runner.invoke(app, ["report", "7", "--db", db])
    assert out.exit_code == 2 and "no session with id 7" in out.output
