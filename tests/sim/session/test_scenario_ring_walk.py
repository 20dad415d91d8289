"""The bundled ring-walk scenario: the expert synthetic operator completes it through its
plan (that is its test), and a novice on the same seed scores below the expert. More
seeds, and a nudged start: ``test_scenario_robustness``."""

from __future__ import annotations

import pytest

from scenarios.loader import load_scenario
from sim.session.headless import run_headless
from tests.sim.session.test_scenario_robustness import UNSEEN_SEED


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("ring-walk")


@pytest.fixture
def expert(headless_run):
    return headless_run("ring-walk", "expert", UNSEEN_SEED)


def test_expert_walks_the_ring_without_touching_the_wire(expert):
    trace, metrics = expert.trace, expert.metrics
    assert trace.completed and expert.result.passed
    steps = [e.data["step"] for e in trace.events_of("step_done")]
    assert steps == ["pick-up", "walk-up", "walk-down"]
    assert metrics["completion_time_s"] < 90
    assert metrics["held_object_collisions"] == 0 and metrics["drops"] == 0
    assert metrics["collisions"] == 0


@pytest.mark.slow
def test_novice_scores_below_the_expert_on_the_same_seed(scenario, expert):
    novice = run_headless(scenario, operator="novice", seed=UNSEEN_SEED)
    assert novice.result.score < expert.result.score
