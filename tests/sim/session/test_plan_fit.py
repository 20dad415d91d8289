"""A bundled demonstration plan in a scenario it was not written for: refused by validate
when it certainly cannot run, and named with what it needed when it stops on a name the
scene lacks (not "no body named ..." from inside the world)."""

from __future__ import annotations

import pytest

from scenarios.errors import ScenarioError
from scenarios.loader import LIBRARY, parse_scenario
from sim.errors import lookup
from sim.session.plans import PlanMismatchError, _guarded, plan_for, plan_unrunnable
from sim.world.scenario_check import check_scenario

INSTEAD = (
    "the bundled plans drive the bundled exercises; write your own controller (README "
    "'Your own controller') or drive it with a device"
)


def test_a_plan_stopped_by_a_missing_body_says_which_plan_needed_what():
    def plan(demo):  # what peg_transfer does for a ring the scene lacks
        lookup({"board/ring0": 1}, "board/ring1", "body")

    from types import SimpleNamespace

    both_hands = SimpleNamespace(session=SimpleNamespace(driven=("PSM1", "PSM2")))
    with pytest.raises(PlanMismatchError) as caught:
        _guarded("peg_transfer", plan)(both_hands)
    assert str(caught.value) == (
        "the peg_transfer plan needs a body 'board/ring1', which this scenario does not "
        f"have: {INSTEAD}."
    )


def _cameras_on_an_instrument_scene():
    """The peg-transfer scene (ECM not teleoperated) with the camera-targeting plan."""
    text = (LIBRARY / "peg-transfer.yaml").read_text()
    return text.replace("plan: {kind: peg_transfer}", "plan: {kind: camera_targeting}")


def test_camera_targeting_without_a_driven_camera_is_a_validate_error_at_the_plan():
    text = _cameras_on_an_instrument_scene()
    scenario = parse_scenario(text, "b.yaml")
    assert "camera arm 'ECM' teleoperated" in plan_unrunnable(scenario)
    with pytest.raises(ScenarioError) as caught:
        check_scenario(scenario, plan_kinds=["camera_targeting"], plan_unrunnable=plan_unrunnable)
    line = next(i + 1 for i, s in enumerate(text.splitlines()) if s.startswith("plan:"))
    assert caught.value.line == line and "plan.kind: the camera_targeting plan" in str(caught.value)
    with pytest.raises(PlanMismatchError):  # and a run refuses it before it starts
        plan_for(scenario)


def test_the_bundled_scenarios_plans_are_runnable():
    for name in ("camera-targeting", "peg-transfer"):
        scenario = parse_scenario((LIBRARY / f"{name}.yaml").read_text(), f"{name}.yaml")
        assert plan_unrunnable(scenario) is None


@pytest.mark.parametrize("name", ["peg-transfer", "needle-handover", "needle-tissue", "ring-walk"])
def test_a_two_handed_plan_with_one_hand_driven_says_so(name):
    """``surgisim device synthetic --name MTMR`` on ``serve peg-transfer --map MTML=none``
    ended in "unexpected ValueError: not enough values to unpack" inside the plan."""
    from types import SimpleNamespace

    from scenarios.loader import load_scenario
    from sim.session.plans import PlanMismatchError, plan_for

    plan = plan_for(load_scenario(name))
    one_hand = SimpleNamespace(session=SimpleNamespace(driven=("PSM1",)))
    with pytest.raises(PlanMismatchError, match=r"drives 2 instruments.*only PSM1 is driven"):
        plan(one_hand)
