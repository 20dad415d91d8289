"""``--ik-solver`` on ``surgisim sweep`` and ``surgisim run``: jobs per solver, the
``ik_solver`` column and summary groups, the solver's source in the fingerprint, old
journals still resuming for the built-in solver, bad specs refused before any run.
Real sessions (needle-handover, the quickest bundled scenario for the expert's plan)."""

from __future__ import annotations

import csv
import json
import pickle
import re

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.session import provenance
from sim.session import sweep as sw
from sim.session.plugins import IK_SOLVER
from tests import user_plugins
from tests.own_modules import own_module
from tests.sim.session.plugin_refusals import assert_refused_before_any_run

SCENARIO = "needle-handover"
DLS = "tests.user_plugins:dls"

SOLVER_SOURCE = '''
from tests.user_plugins import CALLS, dls


def solve(chain, X_target, q0=None, **settings):
    """tests.user_plugins.dls under another module's name."""
    CALLS["copied"] += 1
    return dls(chain, X_target, q0, **settings)
'''


@pytest.fixture
def solver_module(tmp_path, monkeypatch):
    """The name of an IK solver module of this test's own (a file whose source the test
    may edit), importable here and by subprocesses started from here."""
    yield from own_module(tmp_path, monkeypatch, "sweep_ik", SOLVER_SOURCE)


def _sweep(*args: str):
    return CliRunner().invoke(app, ["sweep", SCENARIO, "--seeds", "0", "--serial", *args])


def _text(result) -> str:
    """The command's output with Rich's line wrapping undone."""
    return " ".join(result.output.split())


def _solver_column(result) -> bool:
    """The summary table has an "IK solver" column."""
    return re.search(r"[┃│] IK solver +[┃│]", result.output) is not None


def _journal(out) -> list[dict]:
    return [json.loads(line) for line in sw.journal_path(out).read_text().splitlines()]


def test_a_job_names_its_solver_and_the_built_in_keeps_the_old_key():
    assert sw.Job("s", "expert", 3).key == "s|expert|3"  # journals from before still resume
    mine = sw.Job("s", "expert", 3, DLS)
    assert mine.key != "s|expert|3" and DLS in mine.key
    labels = [j.plugin_columns["ik_solver"] for j in (sw.Job("s", "expert", 3), mine)]
    assert labels == ["builtin", DLS]
    assert pickle.loads(pickle.dumps(mine)) == mine  # crosses to Ray workers as it is
    todo = sw.jobs(["a"], ["expert", "novice"], [0, 1], [None, DLS, None])
    assert [(j.driver, j.ik_solver, j.seed) for j in todo] == [
        ("expert", None, 0),
        ("expert", None, 1),
        ("expert", DLS, 0),
        ("expert", DLS, 1),
        ("novice", None, 0),
        ("novice", None, 1),
        ("novice", DLS, 0),
        ("novice", DLS, 1),
    ]
    assert [IK_SOLVER.parse(t) for t in ("builtin", DLS)] == [None, DLS]


def test_rows_of_an_older_journal_stand_for_built_in_jobs_only(tmp_path):
    """A journal written before sweeps took solvers (no ik_solver, no ik_solver_digest):
    its rows still answer the built-in jobs, and are read as made with it."""
    builtin, mine = sw.Job("s", "d", 0), sw.Job("s", "d", 0, DLS)
    old = {"scenario_digest": "a", "driver_digest": "", "surgisim_version": "1"}
    journal = tmp_path / "r.csv.jsonl"
    row = {"key": "s|d|0", "scenario": "s", "driver": "d", "seed": 0, "completed": True}
    journal.write_text(json.dumps({**row, "score": 5.0, "error": "", **old}) + "\n")
    prints = {
        builtin.key: {**old, "ik_solver_digest": ""},
        mine.key: {**old, "ik_solver_digest": "0123456789abcdef"},
    }
    plan = sw.plan([builtin, mine], journal, prints)
    assert list(plan.reused) == [builtin.key] and plan.remaining == [mine]
    assert plan.reused[builtin.key]["ik_solver"] == "builtin"
    # the same row with a digest for another solver's module is not the same input
    assert provenance.differences({**old, "ik_solver_digest": "x"}, prints[builtin.key]) == [
        "IK solver"
    ]
    assert sw.summary(list(plan.reused.values()))[0]["ik_solver"] == "builtin"


def test_a_sweep_over_two_solvers_runs_each_and_resumes_from_its_journal(tmp_path):
    out = tmp_path / "r.csv"
    user_plugins.CALLS.clear()
    first = _sweep("--ik-solver", "builtin", "--out", str(out))
    assert first.exit_code == 0, first.output
    assert user_plugins.CALLS["dls"] == 0
    assert not _solver_column(first)  # no column for the built-in alone
    assert [r["key"] for r in _journal(out)] == [f"{SCENARIO}|expert|0"]

    both = _sweep("--ik-solver", "builtin", "--ik-solver", DLS, "--out", str(out))
    assert both.exit_code == 0, both.output
    assert user_plugins.CALLS["dls"] > 100  # the user's solver ran the session's IK
    assert len(_journal(out)) == 2  # the built-in run came from the journal
    rows = list(csv.DictReader(out.open()))
    assert [r["ik_solver"] for r in rows] == ["builtin", DLS]
    assert all(r["error"] == "" and float(r["score"]) > 0 for r in rows)
    assert rows[1]["ik_solver_digest"] and not rows[0]["ik_solver_digest"]
    assert _solver_column(both) and DLS in both.output
    stats = sw.summary(sw.read_journal(sw.journal_path(out)))
    assert {(s["ik_solver"], s["n"]) for s in stats if s["metric"] == "score"} == {
        ("builtin", 1),
        (DLS, 1),
    }

    calls = user_plugins.CALLS["dls"]
    again = _sweep("--ik-solver", "builtin", "--ik-solver", DLS, "--out", str(out))
    assert again.exit_code == 0, again.output
    assert len(_journal(out)) == 2 and user_plugins.CALLS["dls"] == calls  # nothing ran


def test_results_of_an_edited_solver_module_are_run_again(tmp_path, solver_module):
    spec = f"{solver_module}:solve"
    before = provenance.ik_solver_digest(spec)
    assert len(before) == 16 and provenance.ik_solver_digest(None) == ""
    out = tmp_path / "r.csv"
    user_plugins.CALLS.clear()
    assert _sweep("--ik-solver", spec, "--out", str(out)).exit_code == 0
    assert user_plugins.CALLS["copied"] > 0
    assert _sweep("--ik-solver", spec, "--out", str(out)).exit_code == 0
    assert len(_journal(out)) == 1  # unchanged: reused
    path = tmp_path / f"{solver_module}.py"
    path.write_text(path.read_text() + "\n# tuned\n")
    assert provenance.ik_solver_digest(spec) != before
    changed = _sweep("--ik-solver", spec, "--out", str(out))
    assert changed.exit_code == 0, changed.output
    assert "1 earlier result was made with a different IK solver and is run again." in (
        _text(changed)
    )
    assert len(_journal(out)) == 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuchmod_for_ik:solve", "'nosuchmod_for_ik' cannot be imported"),
        ("tests.user_plugins:nosuch", "has no function 'nosuch'"),
        ("tests.user_plugins:NOT_CALLABLE", "not a callable function"),
        ("bultin", "'builtin' names surgisim's own IK solver"),
    ],
)
def test_a_bad_solver_is_refused_before_any_run(tmp_path, spec, message):
    assert_refused_before_any_run(tmp_path, IK_SOLVER, spec, message)


def test_run_refuses_a_bad_solver_before_it_starts(tmp_path):
    out = tmp_path / "r.json"
    args = ["run", SCENARIO, "--ik-solver", "tests.user_plugins:nosuch", "--no-store"]
    result = CliRunner().invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 2, result.output
    assert "has no function 'nosuch'" in _text(result) and "Did you mean" not in result.output
    assert "simulated" not in result.output and not out.exists()


def test_run_with_a_solver_uses_it_and_stores_it_with_the_session(tmp_path, monkeypatch):
    from scenarios.records import open_records

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the default database
    out = tmp_path / "r.json"
    user_plugins.CALLS.clear()
    result = CliRunner().invoke(
        app,
        ["run", SCENARIO, "--ik-solver", DLS, "--no-snapshots", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert user_plugins.CALLS["dls"] > 100
    data = json.loads(out.read_text())
    assert data["ik_solver"] == DLS and data["completed"]
    stored = open_records(None, demo=True).session(data["session_id"])
    # beside the speed limit every teleoperated run keeps (conditions.teleop)
    assert {k: v for k, v in stored.conditions.items() if k != "teleop"} == {"ik_solver": DLS}
    report_json = tmp_path / "report.json"
    args = ["report", str(data["session_id"]), "--demo", "--json", str(report_json)]
    reported = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "report.html")])
    assert reported.exit_code == 0, reported.output
    assert json.loads(report_json.read_text())["conditions"] == stored.conditions
    assert f"IK solver: <b>{DLS}</b>" in (tmp_path / "report.html").read_text()


def test_run_with_a_controller_solves_with_the_solver_too():
    user_plugins.CALLS.clear()
    args = ["run", SCENARIO, "--controller", "sim.session.controllers:tracker"]
    result = CliRunner().invoke(app, [*args, "--ik-solver", DLS, "--no-store"])
    assert result.exit_code == 0, result.output
    assert user_plugins.CALLS["dls"] > 0


@pytest.mark.slow
def test_on_ray_the_workers_resolve_the_solver_and_match_the_serial_run(tmp_path):
    """A local two-worker cluster runs the built-in and the user's solver; each row equals
    the same job run in this process (so the workers used the user's solver)."""
    pytest.importorskip("ray")
    out = tmp_path / "ray.csv"
    args = ["sweep", SCENARIO, "--seeds", "0", "--workers", "2", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--ik-solver", "builtin", "--ik-solver", DLS])
    assert result.exit_code == 0, result.output
    on_ray = {r["key"]: r for r in sw.read_journal(sw.journal_path(out))}
    in_series = sw.run_sweep(
        sw.jobs([SCENARIO], ["expert"], [0], [None, DLS]), tmp_path / "s.csv", use_ray=False
    )
    assert len(on_ray) == 2
    for row in in_series:
        other = on_ray[row["key"]]
        assert {k: v for k, v in row.items() if k != "wall_time_s"} == {
            k: v for k, v in other.items() if k != "wall_time_s"
        }
    # and the two solvers made two different sessions (one metric may agree by chance:
    # both completed in 8.0 s once)
    metrics = [{k: v for k, v in row.items() if k.startswith("metric.")} for row in in_series]
    assert metrics[0] != metrics[1]


def test_a_raising_solver_shows_in_the_rows_the_summary_and_run_json(tmp_path):
    """A solver that raised on every call scored 100 beside the built-in, exit 0, with
    nothing in the table, the CSV or ``run --json`` to say so: the arms' holds are counted
    in each (``held.<event>`` columns, summary rows, ``holds``) and the sweep says it."""
    out = tmp_path / "r.csv"
    result = _sweep(
        "--ik-solver", "builtin", "--ik-solver", "tests.user_plugins:raising", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    rows = {r["ik_solver"]: r for r in csv.DictReader(out.open())}
    assert int(rows["builtin"]["held.unreachable"]) == 0
    assert int(rows["tests.user_plugins:raising"]["held.unreachable"]) > 0
    assert {r["ended"] for r in rows.values()} <= {"completed", "gave_up", "time_limit", "failed"}
    assert all(int(r["master_driven_arms"]) == 2 for r in rows.values())  # the expert's
    stats = sw.summary(sw.read_journal(sw.journal_path(out)))
    held = {s["ik_solver"]: s["mean"] for s in stats if s["metric"] == "held.unreachable"}
    assert held["builtin"] == 0 and held["tests.user_plugins:raising"] > 0
    text = _text(result)
    assert "arms held:" in text and "tests.user_plugins:raising" in text
    assert "unreachable events per run" in text

    json_out = tmp_path / "run.json"
    args = ["run", SCENARIO, "--ik-solver", "tests.user_plugins:raising", "--no-store"]
    ran = CliRunner().invoke(app, [*args, "--json", str(json_out)])
    assert ran.exit_code == 0, ran.output
    holds = json.loads(json_out.read_text())["holds"]
    assert holds["unreachable"] > 0 and set(holds) == {
        "unreachable",
        "filter_reset",
        "command_refused",
        "internal_error",
    }


def test_builtin_names_the_built_in_solver_in_python_too():
    from sim.session.session import SessionConfig

    assert SessionConfig(ik_solver="builtin").ik_solver is None
