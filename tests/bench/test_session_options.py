"""``surgisim bench session``: options checked before anything runs, ``--first-seed``."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from bench import session as bench_session
from sim.cli import app


@pytest.fixture
def no_warm_up(monkeypatch):
    def fail():
        raise AssertionError("the warm-up ran before the options were checked")

    monkeypatch.setattr(bench_session, "_warm_up", fail)


@pytest.mark.parametrize(
    ("args", "hint", "said"),
    [
        (["--scenario", "nope"], "--scenario", "unknown scenario 'nope'"),
        (["--scenario", "pegtransfer"], "--scenario", "Did you mean 'peg-transfer'?"),
        (["--operator", "bogus"], "--operator", "unknown operator 'bogus'"),
    ],
)
def test_an_unknown_scenario_or_operator_is_refused_up_front(no_warm_up, args, hint, said):
    result = CliRunner().invoke(app, ["bench", "session", *args, "--json", "/tmp/unused.json"])
    assert result.exit_code == 2, result.output
    assert hint in result.output and said in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # a usage error, not a crash


def test_the_library_refuses_them_too(no_warm_up):
    with pytest.raises(ValueError, match="unknown operator 'bogus'"):
        bench_session.run_session_benchmark(["peg-transfer"], operator="bogus")


def test_first_seed_offsets_the_seeds_and_is_recorded(monkeypatch, tmp_path):
    import sim.session.headless as headless

    ran = []

    def run_headless(scenario, operator, seed):
        ran.append(seed)
        return SimpleNamespace(
            sim_time_s=1.0,
            wall_time_s=0.5,
            physics_wall_s=0.4,
            trace=SimpleNamespace(completed=True, events_of=lambda kind: []),
            result=SimpleNamespace(passed=True, score=90.0),
        )

    monkeypatch.setattr(bench_session, "_warm_up", lambda: None)
    monkeypatch.setattr(bench_session, "bare_world_real_time", lambda scenario, seed: 4.0)
    monkeypatch.setattr(headless, "run_headless", run_headless)
    out = tmp_path / "session.json"
    args = ["bench", "session", "--scenario", "peg-transfer", "--seeds", "3"]
    result = CliRunner().invoke(app, [*args, "--first-seed", "100", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert ran == [100, 101, 102]
    payload = json.loads(out.read_text())
    assert payload["first_seed"] == 100 and payload["seeds"] == 3
    assert [r["seed"] for r in payload["results"]] == [100, 101, 102]


def test_seeds_past_2_63_are_refused_before_any_run(no_warm_up):
    """``--seeds 2 --first-seed 2**63-1`` ran one session, then failed with a traceback
    and no JSON."""
    args = ["bench", "session", "--scenario", "peg-transfer", "--seeds", "2"]
    result = CliRunner().invoke(app, [*args, "--first-seed", str(2**63 - 1)])
    assert result.exit_code == 2, result.output
    assert "2**63 - 1" in result.output and "Traceback" not in result.output
    with pytest.raises(ValueError, match="2\\*\\*63 - 1"):
        bench_session.run_session_benchmark(["peg-transfer"], seeds=2, first_seed=2**63 - 1)


def test_the_breakdown_runs_the_first_seed_of_peg_transfer_and_says_so(monkeypatch, tmp_path):
    import sim.session.headless as headless
    from bench import session_breakdown

    asked = []

    def breakdown(name, seed, operator):
        asked.append((name, seed))
        return {"scenario": name, "seed": seed, "parts": {"x": {"us_per_step": 1.0,
                "of_physics": 0.1}}}  # fmt: skip

    monkeypatch.setattr(bench_session, "_warm_up", lambda: None)
    monkeypatch.setattr(bench_session, "bare_world_real_time", lambda scenario, seed: 4.0)
    monkeypatch.setattr(
        headless,
        "run_headless",
        lambda scenario, operator, seed: SimpleNamespace(
            sim_time_s=1.0,
            wall_time_s=0.5,
            physics_wall_s=0.4,
            trace=SimpleNamespace(completed=True, events_of=lambda kind: []),
            result=SimpleNamespace(passed=True, score=90.0),
        ),
    )
    monkeypatch.setattr(session_breakdown, "session_breakdown", breakdown)
    out = tmp_path / "session.json"
    args = ["bench", "session", "--scenario", "needle-handover", "--breakdown"]
    result = CliRunner().invoke(app, [*args, "--first-seed", "7", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert asked == [("peg-transfer", 7)]  # was seed 0 whatever --first-seed said
    text = " ".join(result.output.split())
    assert "the bar's scenario, whatever --scenario says" in text and "seed 7" in text
    assert json.loads(out.read_text())["breakdown"]["seed"] == 7
