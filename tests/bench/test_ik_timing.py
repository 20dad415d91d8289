"""``surgisim bench ik``: how its rates are timed (every solver alike, batch runs long
enough to measure), ``--arms`` named twice, and the success bar that is a difference."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from bench import ik
from kinematics import psm
from sim.cli import app


def test_each_side_of_the_batch_ratio_is_timed_for_at_least_the_minimum():
    """The old sizing read the first call, which also compiled the kernels and woke the
    thread pool: a slow first call left 1 tile and timed runs of a fraction of a ms."""
    calls = []

    def solve(chain, X, Q0):
        cost = 0.3 if not calls else 2e-6 * len(X)  # the first call: compiling
        calls.append(len(X))
        time.sleep(cost)

    chain = psm()
    X = np.repeat(np.eye(4)[None], 100, axis=0)
    all_cores, one, timing = ik._batch_rates(chain, X, None, repeats=2, min_s=0.05, solve=solve)
    assert timing["best_run_s"] >= 0.05 and timing["best_run_1thread_s"] >= 0.05
    assert timing["targets_timed"] >= 0.05 / 2e-6 and timing["targets_timed_1thread"] >= 25_000
    # both sides read the same fake cost: ~500k targets/s (sleep overshoots a little)
    assert 2e5 < one <= 5e5 and 2e5 < all_cores <= 5e5


def test_a_side_sized_under_load_is_grown_when_its_best_run_comes_out_short():
    """Sized while a burst of load made every call 3x slower, the best of the repeats
    (load gone) lasted a third of the minimum: that side is grown and measured again."""
    calls = []

    def solve(chain, X, Q0):
        calls.append(len(X))
        slow = 3.0 if len(calls) <= 4 else 1.0  # the warm-up and the sizing under load
        time.sleep(slow * 2e-6 * len(X))

    X = np.repeat(np.eye(4)[None], 100, axis=0)
    _, _, timing = ik._batch_rates(psm(), X, None, repeats=2, min_s=0.05, solve=solve)
    assert timing["best_run_s"] >= 0.05 and timing["best_run_1thread_s"] >= 0.05


def test_tiles_grow_until_one_run_lasts_the_minimum():
    seen = []

    def run(tiles):
        seen.append(tiles)
        return 1e-4 * tiles

    tiles = ik._tiles_for(run, 0.15)
    assert 1e-4 * tiles >= 0.15 and seen[-1] == tiles and len(seen) <= 4


@pytest.fixture(scope="module")
def psm_targets():
    chain = psm()
    rng = np.random.default_rng(5000)
    Q = chain.random_q(rng, 20)
    return chain, chain.fk_batch(Q), Q


def _rate_of(durations, ok):
    kept = np.sort(durations)[: len(durations) - max(1, int(np.ceil(0.001 * len(durations))))]
    return ok.mean() / (kept.mean() / 1e9)


def test_ours_pybullet_and_a_plugin_are_rated_by_their_calls_own_durations(psm_targets, tmp_path):
    """Ours was the targets over the whole Python loop's wall time, pybullet's and a
    plug-in's over the sum of their calls: two different measures in one ratio. Each is
    now its correct answers' share over its mean call's own duration (the slowest 0.1%,
    at least one, left out)."""
    chain, X, Q = psm_targets
    for run in (
        lambda: ik._run_ours(chain, X, Q),
        lambda: ik._run_pybullet(ik._arms(["psm"], tmp_path)[0], X, Q),
        lambda: ik._run_plugin(ik.solve_ik, chain, X, Q)[:2],
    ):
        answers, durations = run()
        ok = ik._success(chain, X, answers)
        assert ok.any() and durations.min() > 0
        assert ik._rate(durations, ok) == pytest.approx(_rate_of(durations, ok), rel=1e-12)


def test_an_arm_named_twice_runs_once_and_the_json_records_the_arms(tmp_path):
    out = tmp_path / "ik.json"
    args = ["bench", "ik", "-n", "10", "--arms", "psm,psm", "--rcm-targets", "0"]
    result = CliRunner().invoke(app, [*args, "--seed", "5001", "--json", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["arms"] == ["psm"]
    assert len(payload["results"]) == 4  # surgisim and pybullet, cold and warm
    names = [b["bar"] for b in payload["bars"]]
    assert len(names) == len(set(names))
    # the success comparison is a difference of rates, and says so
    assert "psm warm success minus pybullet's (difference)" in names
    assert not any("success vs pybullet" in n for n in names)
    assert payload["machine"]["started_utc"] and "load_avg_1m_start" in payload["machine"]


def test_a_plugin_failing_every_call_yields_no_solves_and_no_timing(psm_targets):
    """A plug-in that raised on every call read 341,845 solves/s (its failed calls timed
    and every target counted) against the built-in's 59,839."""
    from tests import user_plugins

    chain, X, Q = psm_targets
    answers, durations, errors, _ = ik._run_plugin(user_plugins.raising, chain, X, Q)
    ok = ik._success(chain, X, answers)
    assert errors == len(X) and ik._rate(durations, ok) == 0.0 and durations.sum() > 0
    stats = ik._usable_timing_stats(durations, np.zeros(len(X), bool))
    assert set(stats.values()) == {None}


def test_a_wrong_answer_is_no_solve(psm_targets):
    """A solver returning zeros with success=True read 176,420 solves/s beside the
    built-in's 50,840: every finite answer counted, right or wrong."""
    from tests import user_plugins

    chain, X, Q = psm_targets
    answers, durations, errors, _ = ik._run_plugin(user_plugins.lies, chain, X, Q)
    assert errors == 0 and ik._rate(durations, ik._success(chain, X, answers)) == 0.0


def test_solves_per_s_is_the_correct_share_over_the_mean_call_without_preemptions():
    """One call preempted for 48 ms among 8 µs ones read 5,913 solves/s (the plain mean)
    and failed the speed bar; it is left out. A solver's genuinely slow targets still
    count (a median-based rate hid pybullet's: median 21 µs, mean 40)."""
    durations = np.full(300, 8_000, dtype=np.int64)
    durations[7] = 48_000_000
    ok = np.ones(300, bool)
    assert ik._rate(durations, ok) == pytest.approx(125_000)
    ok[:150] = False  # half the answers wrong: half the solves
    assert ik._rate(durations, ok) == pytest.approx(62_500)
    slow_tail = np.full(1000, 20_000, dtype=np.int64)
    slow_tail[:100] = 200_000  # 10% of targets take 10x: the mean counts them
    assert ik._rate(slow_tail, np.ones(1000, bool)) == pytest.approx(1e9 / 37_837.84, rel=1e-6)
    assert ik._rate(np.array([], dtype=np.int64), np.array([], bool)) == 0.0


def test_a_solver_below_its_success_bar_gets_no_speed_credit():
    fast_but_missing = {"success": 0.98, "solves_per_s": 1e6}
    baseline = {"success": 0.9, "solves_per_s": 1e4}
    bars = ik._arm_bars("psm", "warm", {**fast_but_missing, **_OTHER_FIGURES}, baseline)
    speed = next(b for b in bars if "correct solves/s vs pybullet" in b[0])
    row = ik._judged(*speed)
    assert math.isnan(row[1]) and row[4] == "FAIL" and "below its bar" in row[5]
    good = {"success": 1.0, "solves_per_s": 5e4, **_OTHER_FIGURES}
    row = ik._judged(*next(b for b in ik._arm_bars("psm", "warm", good, baseline) if "vs" in b[0]))
    assert row[1] == pytest.approx(5.0) and row[4] == "pass" and len(row) == 5


_OTHER_FIGURES = {"median_us": 5.0, "batch_solves_per_s": 2.0, "batch_1thread_solves_per_s": 1.0}


@pytest.mark.parametrize("bad", [["--seed", "-1"], ["--rcm-targets", "-5"]])
def test_a_negative_seed_or_rcm_count_is_a_usage_error(bad):
    from typer.testing import CliRunner

    from sim.cli import app

    result = CliRunner().invoke(app, ["bench", "ik", "-n", "10", *bad])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output


def test_rcm_targets_0_skips_the_rcm_section_and_the_json_says_so(tmp_path):
    import json

    from typer.testing import CliRunner

    from sim.cli import app

    out = tmp_path / "ik.json"
    args = ["bench", "ik", "-n", "10", "--arms", "psm", "--rcm-targets", "0", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["rcm"] == {"skipped": True, "targets": 0}
    assert not [b for b in payload["bars"] if b["bar"].startswith("rcm")]
    assert "RCM section skipped" in " ".join(result.output.split())
