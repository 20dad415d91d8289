"""Outcomes with margin: the synthetic expert completes every bundled scenario without a
drop on seeds nothing was tuned on, and a 1e-9 m shift of the start changes neither
completion nor the number of drops.

Why this matters: contact-rich sessions are chaotic. A change in the last bits of a
float (a different CPU, a reordered sum) grows into a different trajectory within
seconds, so a plan that succeeds by luck on the seed it was debugged on fails on another
machine. The plans are built to succeed with margin (jaws opened wide enough for a
millimetre of hand scatter, a look before every move, another try after a miss, a ring
picked up again where it fell), so what is asserted is the outcome on every seed - the
trajectories themselves differ.

The seeds: ``UNSEEN_SEEDS`` were drawn once, after the plans and the operator model
were final, with ``numpy.random.default_rng(UNSEEN_DRAW).choice(np.arange(100, 10_000),
5, replace=False)``; no plan, operator parameter or rubric was looked at on them. The
first is the default tests' seed (``UNSEEN_SEED``).
"""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.loader import load_scenario
from sim.session.headless import run_headless
from sim.world.scenario_scene import perturbed

BUNDLED = ["peg-transfer", "ring-walk", "needle-handover", "needle-tissue", "camera-targeting"]

#: The seed of the draw (documented so that anyone can redo it), and what it drew.
UNSEEN_DRAW = 20261123
UNSEEN_SEEDS = [2443, 8908, 536, 5726, 9203]
UNSEEN_SEED = UNSEEN_SEEDS[0]

#: Seeds per scenario in the slow sweep: ten, none of them used while the plans were made.
SWEEP_SEEDS = list(range(1000, 1010))

#: What a synthetic expert must finish in (s), where people's times are published: peg
#: transfer under 90 s (issue 14: inside the FLS proficiency range, the exam mean 84 ± 31 s,
#: ``../shared/notes/scoring.md``).
EXPERT_TIME_BARS_S = {"peg-transfer": 90.0}


def _drops(outcome) -> int:
    return sum(1 for e in outcome.trace.events if e.kind == "drop")


def test_unseen_seeds_are_the_documented_draw():
    again = np.random.default_rng(UNSEEN_DRAW).choice(np.arange(100, 10_000), 5, replace=False)
    assert [int(s) for s in again] == UNSEEN_SEEDS
    assert min(UNSEEN_SEEDS) >= 100 and len(set(UNSEEN_SEEDS)) == 5


def test_perturbed_moves_every_object_and_nothing_else():
    scenario = load_scenario("needle-tissue")
    shifted = perturbed(scenario, (1e-9, 0.0, 0.0))
    for before, after in zip(scenario.scene.objects, shifted.scene.objects, strict=True):
        assert after.pose.position_m[0] == before.pose.position_m[0] + 1e-9
        assert after.pose.position_m[1:] == before.pose.position_m[1:]
    assert [a.port for a in shifted.scene.arms] == [a.port for a in scenario.scene.arms]
    assert scenario.scene.objects[0].pose.position_m[0] == 0.0  # the original is untouched


@pytest.mark.slow
@pytest.mark.parametrize("name", BUNDLED)
def test_expert_completes_and_passes_every_scenario_without_a_drop_on_ten_seeds(name):
    """Every run completes with no drop; the anchored rubric passes it on at least nine
    seeds of ten (a person who passes still has a bad run now and then: in the 40-seed
    sweep of bench/RESULTS.md the expert failed peg transfer once, on a missed grasp)."""
    scenario = load_scenario(name)
    failures, failed_rubric, times = [], [], []
    for seed in SWEEP_SEEDS:
        outcome = run_headless(scenario, operator="expert", seed=seed)
        if not outcome.trace.completed or _drops(outcome):
            failures.append((seed, outcome.trace.completed, _drops(outcome)))
        if not outcome.result.passed:
            failed_rubric.append((seed, round(outcome.result.score, 1)))
        times.append(outcome.metrics["completion_time_s"])
    assert failures == [], f"{name}: (seed, completed, drops) {failures}"
    assert len(failed_rubric) <= 1, f"{name}: (seed, score) failing the rubric {failed_rubric}"
    bar = EXPERT_TIME_BARS_S.get(name)
    if bar is not None:
        # the bar holds on the median with room for other machines' last bits; one run of
        # ten may pay for a missed grasp tried again (seeds 140-159 run once: 83.8-87.5 s)
        assert np.median(times) < bar - 2.0, times
        assert sum(t >= bar for t in times) <= 1, times


@pytest.mark.slow
@pytest.mark.parametrize("name", BUNDLED)
def test_a_nanometre_shift_of_the_start_changes_no_outcome(name):
    scenario = load_scenario(name)
    shifted = perturbed(scenario, (1e-9, 0.0, 0.0))
    for seed in UNSEEN_SEEDS[:3]:
        plain = run_headless(scenario, operator="expert", seed=seed)
        moved = run_headless(shifted, operator="expert", seed=seed)
        assert (moved.trace.completed, _drops(moved)) == (plain.trace.completed, _drops(plain))
        assert plain.trace.completed and _drops(plain) == 0, (name, seed)
