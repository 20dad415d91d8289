"""Sweeps that meet trouble: a run that raises or whose Ray worker dies becomes a row with
its error (the rest kept, the file written, exit status 1, retried on resume); journal rows
made from another scenario or controller are run again (and ``--fresh`` runs everything);
a bad controller or operator is refused before any run."""

from __future__ import annotations

import csv
import json
import math
import sys

import pytest
import yaml
from typer.testing import CliRunner

from scenarios.loader import resolve
from sim.cli import app
from sim.errors import SimError
from sim.session import provenance
from sim.session import sweep as sw
from tests.own_modules import own_module

#: the quickest bundled scenario for the expert's plan (about a second a run)
SCENARIO = "camera-targeting"

CONTROLLER_SOURCE = '''
import os

from sim.session.controllers import ScriptedController


class Flaky(ScriptedController):
    """The expert's plan, except that seed 1 raises and seed 2 kills its process."""

    def reset(self, scenario, seed):
        if seed == 1:
            raise ValueError(f"boom on seed {seed}")
        if seed == 2:
            os._exit(3)
        super().reset(scenario, seed)


def flaky():
    return Flaky("expert")
'''


@pytest.fixture
def controllers(tmp_path, monkeypatch):
    """The name of a controller module of this test's own, importable here and by the
    workers of a Ray cluster started from here."""
    yield from own_module(tmp_path, monkeypatch, "sweep_ctl", CONTROLLER_SOURCE)


def _sweep(*args: str):
    return CliRunner().invoke(app, ["sweep", SCENARIO, *args])


def _text(result) -> str:
    """The command's output with Rich's line wrapping undone."""
    return " ".join(result.output.split())


def _journal(out) -> list[dict]:
    return [json.loads(line) for line in sw.journal_path(out).read_text().splitlines()]


def test_a_failing_run_is_a_row_with_its_error_and_the_others_are_kept(tmp_path, controllers):
    out = tmp_path / "boom.csv"
    args = ["--operators", "", "--controller", f"{controllers}:flaky", "--seeds", "0-1"]
    args += ["--serial", "--out", str(out)]
    result = _sweep(*args)
    assert result.exit_code == 1, result.output
    by_seed = {int(r["seed"]): r for r in csv.DictReader(out.open())}
    assert by_seed[0]["error"] == "" and float(by_seed[0]["score"]) > 0
    assert by_seed[1]["error"] == "ValueError: boom on seed 1"
    assert math.isnan(float(by_seed[1]["score"])) and by_seed[1]["completed"] == "0"
    text = _text(result)
    assert "1 of 2 runs failed" in text and "seed 1: ValueError: boom on seed 1" in text
    assert "1 run: mean ± SD per metric (1 failed run left out)" in text
    assert "in reset" in _journal(out)[-1]["traceback"]

    again = _sweep(*args)  # the good run is reused, the failed one tried again
    assert again.exit_code == 1, again.output
    assert "1 failed run is tried again." in _text(again)
    assert [row["seed"] for row in _journal(out)] == [0, 1, 1]


def test_failed_runs_are_left_out_of_the_summary_and_are_nan_in_the_table(tmp_path):
    ok = {"key": "s|d|0", "scenario": "s", "driver": "d", "seed": 0, "completed": True}
    ok |= {"passed": True, "score": 80.0, "metric.drops": 1.0, "error": ""}
    failed = sw.failed_row(sw.Job("s", "d", 1), "ValueError: boom", traceback="Traceback...")
    rows = [ok, failed]
    assert sw.failures(rows) == [failed]
    stats = {s["metric"]: s for s in sw.summary(rows)}
    assert stats["score"]["n"] == 1 and stats["score"]["mean"] == 80.0
    assert stats["drops"]["completed"] == 1
    out = sw.write_results(rows, tmp_path / "t.csv")
    header, first, second = list(csv.reader(out.open()))
    assert header[-1] == "error" and "traceback" not in header
    assert second[header.index("score")] == "nan" and second[-1] == "ValueError: boom"
    assert first[-1] == ""


def test_the_mean_completion_time_counts_completed_runs_only():
    """A run a controller stopped after 2 s, not completed, made a driver's mean
    completion time look faster than every real completion."""
    base = {"scenario": "s", "driver": "d", "passed": False, "error": ""}
    rows = [
        {**base, "seed": 0, "completed": True, "score": 90.0, "metric.completion_time_s": 40.0},
        {**base, "seed": 1, "completed": True, "score": 80.0, "metric.completion_time_s": 60.0},
        {**base, "seed": 2, "completed": False, "score": 0.0, "metric.completion_time_s": 2.1},
    ]
    stats = {s["metric"]: s for s in sw.summary(rows)}
    assert stats["completion_time_s"]["n"] == 2 and stats["completion_time_s"]["mean"] == 50.0
    assert stats["score"]["n"] == 3 and stats["score"]["completed"] == 2
    # none completed: the row is there, n = 0 and no mean (it used to be left out)
    none = {s["metric"]: s for s in sw.summary(rows[2:])}
    assert none["completion_time_s"]["n"] == 0 and math.isnan(none["completion_time_s"]["mean"])
    # "completed" is out of the runs, on every row: the time's row read 0/0 beside 0/1
    assert {(s["completed"], s["runs"]) for s in none.values()} == {(0, 1)}
    assert stats["completion_time_s"]["runs"] == stats["score"]["runs"] == 3


def test_the_journal_answers_a_job_only_from_the_same_inputs_and_without_an_error(tmp_path):
    todo = sw.jobs(["s"], ["d"], [0, 1, 2, 3, 4])
    same = {"scenario_digest": "a", "driver_digest": "c", "surgisim_version": "1"}
    prints = {job.key: same for job in todo}
    journal = tmp_path / "r.csv.jsonl"
    rows = [
        {"key": todo[0].key, "score": 1.0, "error": "", **same},
        {"key": todo[1].key, "score": 1.0, "error": "", **same, "scenario_digest": "b"},
        {"key": todo[2].key, "error": "ValueError: boom", **same},
        {"key": todo[3].key, "score": 1.0},  # from before fingerprints
    ]
    journal.write_text("".join(json.dumps(row) + "\n" for row in rows))
    plan = sw.plan(todo, journal, prints)
    assert list(plan.reused) == [todo[0].key]
    assert [job.seed for job in plan.remaining] == [1, 2, 3, 4]
    assert plan.changed == {"scenario": 1, "fingerprint": 1} and plan.retried == [todo[2].key]
    assert "1 earlier result was made with a different scenario and is run again." in (
        plan.messages()
    )
    prints[todo[0].key] = {**same, "driver_digest": "d", "surgisim_version": "2"}
    assert sw.plan(todo, journal, prints).changed["controller and surgisim version"] == 1
    fresh = sw.plan(todo, journal, prints, fresh=True)
    assert not fresh.reused and fresh.remaining == todo


def test_a_scenario_digest_follows_its_content_not_its_comments(tmp_path):
    text = resolve(SCENARIO).read_text()
    path = tmp_path / "copy.yaml"
    path.write_text("# an instructor's note\n" + text)
    assert provenance.scenario_digest(str(path)) == provenance.scenario_digest(SCENARIO)
    data = yaml.safe_load(text)
    data["description"] = "a changed exercise"
    path.write_text(yaml.safe_dump(data))
    assert provenance.scenario_digest(str(path)) != provenance.scenario_digest(SCENARIO)


def test_a_driver_digest_follows_the_controller_source(tmp_path, controllers):
    spec = f"{provenance.CONTROLLER_PREFIX}{controllers}:flaky"
    before = provenance.driver_digest(spec)
    assert len(before) == 16 and provenance.driver_digest("expert") == ""
    path = tmp_path / f"{controllers}.py"
    path.write_text(path.read_text() + "\n# tuned\n")
    assert provenance.driver_digest(spec) != before
    with pytest.raises(SimError, match="Did you mean 'expert'"):
        provenance.driver_digest("expret")


def test_results_of_a_changed_controller_are_run_again_and_fresh_runs_all(tmp_path, controllers):
    out = tmp_path / "r.csv"
    args = ["--operators", "", "--controller", f"{controllers}:flaky", "--seeds", "0"]
    args += ["--serial", "--out", str(out)]
    assert _sweep(*args).exit_code == 0
    unchanged = _sweep(*args)
    assert unchanged.exit_code == 0 and len(_journal(out)) == 1  # nothing ran again
    path = tmp_path / f"{controllers}.py"
    path.write_text(path.read_text() + "\n# tuned\n")
    changed = _sweep(*args)
    assert changed.exit_code == 0, changed.output
    assert "1 earlier result was made with a different controller and is run again." in (
        _text(changed)
    )
    assert len(_journal(out)) == 2
    fresh = _sweep(*args, "--fresh")
    assert fresh.exit_code == 0 and "journal is ignored" in _text(fresh)
    assert len(_journal(out)) == 1  # a new journal


BROKEN_MODULE = "raise RuntimeError('no licence for this controller')\n"


@pytest.mark.parametrize(
    ("drivers", "message"),
    [
        (
            ["--controller", "nosuchmod_for_sweeps:make"],
            "'nosuchmod_for_sweeps' cannot be imported",
        ),
        (["--controller", "MODULE:nosuch"], "has no factory 'nosuch'"),
        (["--controller", "BROKEN:make"], "RuntimeError: no licence for this controller"),
        (["--operators", "expert,expret"], "Did you mean 'expert'"),
    ],
)
def test_a_bad_driver_is_refused_before_any_run(tmp_path, controllers, drivers, message):
    broken = f"{controllers}_broken"
    (tmp_path / f"{broken}.py").write_text(BROKEN_MODULE)
    drivers = [d.replace("MODULE", controllers).replace("BROKEN", broken) for d in drivers]
    out = tmp_path / "r.csv"
    result = _sweep("--seeds", "0", "--serial", "--out", str(out), *drivers)
    assert result.exit_code == 2, result.output
    assert message in _text(result)
    assert not sw.journal_path(out).exists() and not out.exists()  # the expert did not run
    sys.modules.pop(broken, None)


@pytest.mark.slow
def test_on_ray_a_raising_run_and_a_dead_worker_are_failed_rows(tmp_path, controllers):
    """A local two-worker cluster: seed 1 raises, seed 2's worker dies (twice: Ray retries
    it once); seed 0's result is kept and the file written."""
    pytest.importorskip("ray")
    out = tmp_path / "ray.csv"
    result = _sweep(
        "--operators", "", "--controller", f"{controllers}:flaky", "--seeds", "0-2",
        "--workers", "2", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    by_seed = {int(r["seed"]): r for r in csv.DictReader(out.open())}
    assert by_seed[0]["error"] == "" and float(by_seed[0]["score"]) > 0
    assert by_seed[1]["error"] == "ValueError: boom on seed 1"
    assert by_seed[2]["error"].startswith("WorkerCrashedError")
    assert "2 of 3 runs failed" in _text(result)
