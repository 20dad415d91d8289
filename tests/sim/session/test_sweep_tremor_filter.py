"""``--tremor-filter`` on ``surgisim sweep`` and ``surgisim run``: jobs per filter (with
IK solvers, a product), the ``tremor_filter`` column and summary groups, a factory's
source in the fingerprint, older journals still resuming for surgisim's own filter, bad
filters refused before any run, and the filter really driving the session's teleoperation.
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
from sim.session.plugins import TREMOR_FILTER, session_config
from tests import user_plugins
from tests.sim.session.plugin_refusals import assert_refused_before_any_run

SCENARIO = "needle-handover"
MINE = "tests.user_plugins:moving_average"
DLS = "tests.user_plugins:dls"


def _sweep(*args: str):
    return CliRunner().invoke(app, ["sweep", SCENARIO, "--seeds", "0", "--serial", *args])


def _text(result) -> str:
    """The command's output with Rich's line wrapping undone."""
    return " ".join(result.output.split())


def _journal(out) -> list[dict]:
    return [json.loads(line) for line in sw.journal_path(out).read_text().splitlines()]


def test_a_job_names_its_filter_and_surgisim_s_own_keeps_the_old_key():
    assert sw.Job("s", "expert", 3, None, None).key == "s|expert|3"
    assert sw.Job("s", "expert", 3, DLS).key == f"s|expert|3|{DLS}"  # as before filters
    both = sw.Job("s", "expert", 3, DLS, "one_euro")
    assert both.key == f"s|expert|3|{DLS}|filter=one_euro"
    assert both.plugin_columns == {"ik_solver": DLS, "tremor_filter": "one_euro"}
    assert sw.Job("s", "e", 0).plugin_columns["tremor_filter"] == "default"
    assert pickle.loads(pickle.dumps(both)) == both
    todo = sw.jobs(["a"], ["expert"], [0, 1], [None, DLS], [None, "none", None])
    assert [(j.ik_solver, j.tremor_filter, j.seed) for j in todo] == [
        (None, None, 0),
        (None, None, 1),
        (None, "none", 0),
        (None, "none", 1),
        (DLS, None, 0),
        (DLS, None, 1),
        (DLS, "none", 0),
        (DLS, "none", 1),
    ]
    assert [TREMOR_FILTER.parse(t) for t in ("default", " one_euro ", MINE)] == [
        None,
        "one_euro",
        MINE,
    ]


def test_the_session_config_puts_the_filter_on_every_master_driven_arm():
    config = session_config(DLS, "one_euro")
    assert config.ik_solver == DLS
    assert config.teleop.tremor_filter == config.scope_teleop.tremor_filter == "one_euro"
    # everything else is the default configuration's
    default = session_config()
    assert config.teleop.translation_scale == default.teleop.translation_scale
    assert config.scope_teleop.translation_scale == default.scope_teleop.translation_scale
    assert default.teleop.tremor_filter == "default"
    assert pickle.loads(pickle.dumps(config)) == config


def test_rows_of_an_older_journal_stand_for_jobs_with_surgisim_s_filter_only(tmp_path):
    """A journal written before sweeps took filters (no tremor_filter, no
    tremor_filter_digest) still answers the jobs with surgisim's own filter."""
    own, mine = sw.Job("s", "d", 0), sw.Job("s", "d", 0, None, MINE)
    old = {
        "scenario_digest": "a",
        "driver_digest": "",
        "ik_solver_digest": "",
        "surgisim_version": "1",
    }
    journal = tmp_path / "r.csv.jsonl"
    row = {"key": "s|d|0", "scenario": "s", "driver": "d", "ik_solver": "builtin", "seed": 0}
    journal.write_text(json.dumps({**row, "completed": True, "score": 5.0, **old}) + "\n")
    prints = {
        own.key: {**old, "tremor_filter_digest": ""},
        mine.key: {**old, "tremor_filter_digest": "0123456789abcdef"},
    }
    plan = sw.plan([own, mine], journal, prints)
    assert list(plan.reused) == [own.key] and plan.remaining == [mine]
    assert plan.reused[own.key]["tremor_filter"] == "default"
    edited = {**old, "tremor_filter_digest": "x"}
    assert provenance.differences(edited, prints[own.key]) == ["tremor filter"]
    (stats,) = [s for s in sw.summary(list(plan.reused.values())) if s["metric"] == "score"]
    assert (stats["ik_solver"], stats["tremor_filter"]) == ("builtin", "default")


def test_a_sweep_over_filters_runs_each_through_teleoperation_and_resumes(tmp_path):
    out = tmp_path / "r.csv"
    user_plugins.CALLS.clear()
    filters = ("--tremor-filter", "default", "--tremor-filter", "none")
    first = _sweep(*filters, "--tremor-filter", MINE, "--out", str(out))
    assert first.exit_code == 0, first.output
    # the user's filter saw the operator's samples (one per physics step, both hands)
    assert user_plugins.CALLS["moving_average.step"] > 1000
    rows = list(csv.DictReader(out.open()))
    assert [r["tremor_filter"] for r in rows] == ["default", "none", MINE]
    assert all(r["error"] == "" and r["ik_solver"] == "builtin" for r in rows)
    assert rows[2]["tremor_filter_digest"] and not rows[0]["tremor_filter_digest"]
    assert not rows[1]["tremor_filter_digest"]  # a built-in's name: part of surgisim
    # three filters, three different sessions
    paths = {r["metric.path_length_cm"] for r in rows}
    assert len(paths) == 3, paths
    # the column's header (wrapped onto two lines in a narrow terminal)
    assert re.search(r"[┃│] tremor( filter)? +[┃│]", first.output) is not None
    assert not re.search(r"[┃│] IK solver +[┃│]", first.output)  # only surgisim's solver
    stats = sw.summary(sw.read_journal(sw.journal_path(out)))
    assert {s["tremor_filter"] for s in stats if s["metric"] == "score"} == {
        "default",
        "none",
        MINE,
    }

    steps = user_plugins.CALLS["moving_average.step"]
    again = _sweep(*filters, "--tremor-filter", MINE, "--out", str(out))
    assert again.exit_code == 0, again.output
    assert len(_journal(out)) == 3 and user_plugins.CALLS["moving_average.step"] == steps


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("one-euro", "Did you mean 'one_euro'"),
        ("defualt", "'default' names surgisim's own tremor filter"),
        ("nosuchmod_for_filters:make", "'nosuchmod_for_filters' cannot be imported"),
        ("tests.user_plugins:nosuch", "has no factory 'nosuch'"),
        ("tests.user_plugins:dls", "the factory must take rate_hz"),
    ],
)
def test_a_bad_filter_is_refused_before_any_run(tmp_path, spec, message):
    assert_refused_before_any_run(tmp_path, TREMOR_FILTER, spec, message)


def test_run_with_a_filter_uses_it_and_stores_it_with_the_session(tmp_path, monkeypatch):
    from scenarios.records import open_records

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the default database
    out = tmp_path / "r.json"
    user_plugins.CALLS.clear()
    args = ["run", SCENARIO, "--tremor-filter", MINE, "--ik-solver", DLS, "--no-snapshots"]
    result = CliRunner().invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert user_plugins.CALLS["moving_average.step"] > 1000 and user_plugins.CALLS["dls"] > 0
    data = json.loads(out.read_text())
    assert (data["tremor_filter"], data["ik_solver"], data["completed"]) == (MINE, DLS, True)
    stored = open_records(None, demo=True).session(data["session_id"])
    plugins = {k: v for k, v in stored.conditions.items() if k != "teleop"}  # the speed limit
    assert plugins == {"ik_solver": DLS, "tremor_filter": MINE}


def test_a_filter_swept_over_a_controller_is_said_to_filter_nothing(tmp_path):
    """A controller's servo_cp goals pass no filter: two filter labels on identical rows
    said nothing. The rows count the master-driven arms and the sweep says why."""
    out = tmp_path / "r.csv"
    args = ["--operators", "", "--controller", "sim.session.controllers:tracker"]
    result = _sweep(*args, "--tremor-filter", "default", "--tremor-filter", MINE, "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert [int(r["master_driven_arms"]) for r in rows] == [0, 0]
    text = _text(result)
    assert "not filtered:" in text and MINE in text and "made no difference" in text
    assert "they equal its runs with the default filter" in text  # the sweep ran those

    operated = tmp_path / "o.csv"
    result = _sweep("--tremor-filter", MINE, "--out", str(operated))  # the expert: filtered
    assert result.exit_code == 0, result.output
    assert "not filtered:" not in _text(result)


def test_the_environment_warns_that_its_actions_pass_no_tremor_filter():
    import dataclasses

    import gymnasium as gym

    import sim.env  # noqa: F401  (registers the environments)
    from sim.session.session import SessionConfig

    teleop = dataclasses.replace(SessionConfig().teleop, tremor_filter=MINE)
    with pytest.warns(UserWarning, match="pass no tremor filter"):
        env = gym.make("surgisim/NeedleHandover-v0", config=SessionConfig(teleop=teleop))
    env.close()


def test_a_filter_faulting_on_every_sample_drove_its_arms_and_is_not_said_to_equal_the_default(
    tmp_path,
):
    """A filter that faults on every sample leaves no handle position in the trace (no
    sample was used): its arms were still driven through teleoperation, and ruined by it.
    They counted as 0 master-driven arms and the summary said the runs "equal the
    default's"."""
    out = tmp_path / "r.csv"
    nan = "tests.user_plugins:always_nan"
    args = ["sweep", SCENARIO, "--seeds", "5100", "--serial", "--tremor-filter", nan]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    (row,) = list(csv.DictReader(out.open()))
    assert int(row["held.filter_reset"]) > 0
    assert int(row["master_driven_arms"]) == 2  # the expert drives both PSMs
    assert "not filtered:" not in _text(result)


def test_the_summary_never_says_a_faulting_filter_equals_the_default():
    """Rows of an older journal counted 0 master-driven arms for a filter that faulted on
    every sample: the faults say it filtered (and ruined) the run."""
    from rich.console import Console

    from sim.cli.sweep import _say_unfiltered

    console = Console(record=True, width=200)
    base = {"driver": "expert", "tremor_filter": MINE, "error": "", "master_driven_arms": 0}
    _say_unfiltered(console, [{**base, "held.filter_reset": 10752}])
    assert "not filtered" not in console.export_text()
    _say_unfiltered(console, [{**base, "held.filter_reset": 0}])
    assert "made no difference" in " ".join(console.export_text().split())


def test_the_summary_points_only_at_rows_the_sweep_ran():
    """A sweep of ``none`` and ``one_euro`` over a controller said "so they equal the
    default's", a baseline it had not run."""
    from rich.console import Console

    from sim.cli.sweep import _say_unfiltered

    base = {"driver": "controller:c", "error": "", "master_driven_arms": 0}
    swept = [{**base, "tremor_filter": f} for f in ("none", "one_euro")]
    console = Console(record=True, width=300)
    _say_unfiltered(console, swept)
    text = " ".join(console.export_text().split())
    assert text.count("made no difference") == 2 and "default" not in text
    console = Console(record=True, width=300)
    _say_unfiltered(console, [*swept, {**base, "tremor_filter": "default"}])
    text = " ".join(console.export_text().split())
    assert text.count("they equal its runs with the default filter") == 2
