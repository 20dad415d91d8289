"""Every bundled scenario loads, validates against the world, and has a demonstration plan."""

from __future__ import annotations

import pytest

from scenarios.loader import library_names, load_scenario
from sim.session.plans import plan_for
from sim.world.scenario_scene import build_scene_spec

BUNDLED = ["peg-transfer", "ring-walk", "needle-handover", "needle-tissue", "camera-targeting"]


def test_the_promised_scenarios_are_bundled():
    assert set(BUNDLED) <= set(library_names())


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scenario_builds_its_scene_and_has_a_plan(name):
    scenario = load_scenario(name)
    assert scenario.name == name
    assert build_scene_spec(scenario, seed=0).objects
    assert callable(plan_for(scenario))
