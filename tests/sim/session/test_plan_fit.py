"""A bundled demonstration plan in a scenario it was not written for: refused by validate
when it certainly cannot run, and named with what it needed when it stops on a name the
scene lacks (not "no body named ..." from inside the world)."""

from __future__ import annotations

import pytest

from scenarios.errors import ScenarioError
from scenarios.loader import LIBRARY, parse_scenario
from sim.errors import lookup
from sim.session.plans import (
    PLANS,
    PlanMismatchError,
    _guarded,
    plan_for,
    plan_missing,
    plan_unrunnable,
)
from sim.world.scenario_check import check_scenario

INSTEAD = (
    "the bundled plans drive the bundled exercises; write your own controller (README "
    "'Your own controller') or drive it with a device"
)


def test_a_plan_stopped_by_a_missing_body_says_which_plan_needed_what():
    def plan(demo):  # what peg_transfer does for a ring the scene lacks
        lookup({"board/ring0": 1}, "board/ring1", "body")

    from types import SimpleNamespace

    scenario = parse_scenario((LIBRARY / "peg-transfer.yaml").read_text(), "pt.yaml")
    both_hands = SimpleNamespace(
        session=SimpleNamespace(driven=("PSM1", "PSM2"), scenario=scenario)
    )
    with pytest.raises(PlanMismatchError) as caught:
        _guarded("peg_transfer", plan)(both_hands)
    assert str(caught.value) == (
        "scenario pt.yaml: the peg_transfer plan needs a body 'board/ring1', which this "
        f"scenario does not have: {INSTEAD}."
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

    scenario = load_scenario(name)
    plan = plan_for(scenario)
    one_hand = SimpleNamespace(session=SimpleNamespace(driven=("PSM1",), scenario=scenario))
    with pytest.raises(PlanMismatchError, match=r"drives 2 instruments.*only PSM1 is driven"):
        plan(one_hand)


def test_one_hand_left_out_by_the_device_names_the_device_options():
    """The scenario maps both hands: only the live commands' options (``device
    synthetic --name``, ``serve --map DEVICE=none``) can leave one out, and the advice
    names the command of each; ``surgisim run`` has neither (its scenario must map both,
    refused at validation: tests/scenarios/test_plan.py)."""
    from types import SimpleNamespace

    scenario = parse_scenario((LIBRARY / "ring-walk.yaml").read_text(), "rw.yaml")
    one_hand = SimpleNamespace(session=SimpleNamespace(driven=("PSM1",), scenario=scenario))
    with pytest.raises(PlanMismatchError) as caught:
        plan_for(scenario)(one_hand)
    assert "no --name on surgisim device synthetic, no --map DEVICE=none on surgisim serve" in str(
        caught.value
    )
    assert str(caught.value).startswith("scenario rw.yaml: the ring_walk plan")


def _checked(text: str, file: str):
    return check_scenario(
        parse_scenario(text, file),
        plan_kinds=PLANS,
        plan_unrunnable=plan_unrunnable,
        plan_missing=plan_missing,
    )


def _line_with(text: str, start: str) -> int:
    return next(i + 1 for i, s in enumerate(text.splitlines()) if s.startswith(start))


def test_a_needle_mark_the_pad_lacks_is_a_validate_error_at_the_field():
    """``w/nt_entry7.yaml``: ``entry: entry7`` on a pad with three marks validated, and the
    run refused it."""
    text = (LIBRARY / "needle-tissue.yaml").read_text().replace("entry: entry0", "entry: entry7")
    with pytest.raises(ScenarioError) as caught:
        _checked(text, "nt.yaml")
    err = caught.value
    assert (err.line, err.col) == (
        _line_with(text, "plan:"),
        text.splitlines()[err.line - 1].index("entry7") + 1,
    )
    assert "plan.entry:" in err.message and "'pad' (plan.entry), which has no such" in err.message
    assert "Did you mean 'entry" in err.message


def test_a_peg_board_under_another_id_is_a_validate_error_and_plan_board_names_it():
    """``w/peg_tray.yaml`` (the board renamed ``tray``) validated, and the run died with
    "unexpected StopIteration: ."."""
    text = (LIBRARY / "peg-transfer.yaml").read_text()
    tray = (
        text.replace("id: board", "id: tray")
        .replace('"board', '"tray')
        .replace("board:", "tray:")
        .replace("board/", "tray/")
    )
    assert "id: tray" in tray
    with pytest.raises(ScenarioError) as caught:
        _checked(tray, "tray.yaml")
    assert caught.value.line == _line_with(tray, "plan:")
    assert "no object 'board'" in caught.value.message
    assert "peg boards are ['tray']: name yours in plan.board" in caught.value.message
    named = tray.replace("plan: {kind: peg_transfer}", "plan: {kind: peg_transfer, board: tray}")
    _checked(named, "tray.yaml")  # the plan now moves tray's rings
    wrong = tray.replace("plan: {kind: peg_transfer}", "plan: {kind: peg_transfer, board: tary}")
    with pytest.raises(ScenarioError, match=r"plan\.board: .*Did you mean 'tray'"):
        _checked(wrong, "tray.yaml")


def test_a_needle_plan_in_a_scene_without_a_needle_is_a_validate_error():
    text = (LIBRARY / "peg-transfer.yaml").read_text()
    text = text.replace("plan: {kind: peg_transfer}", "plan: {kind: needle_handover}")
    with pytest.raises(ScenarioError, match="the needle_handover plan handles a needle"):
        _checked(text, "nh.yaml")


def test_a_board_the_world_lacks_at_run_time_names_the_scenario_file():
    """The plan's own look-ups (not only validate's) name the scenario and the body: a
    ``next(...)`` without a default ended in "unexpected StopIteration: ."."""
    from types import SimpleNamespace

    from sim.session.plans.peg_transfer import board_spec

    world = SimpleNamespace(scene=SimpleNamespace(objects=[]))
    scenario = parse_scenario((LIBRARY / "peg-transfer.yaml").read_text(), "pt.yaml")
    demo = SimpleNamespace(session=SimpleNamespace(driven=("PSM1", "PSM2"), scenario=scenario))
    with pytest.raises(PlanMismatchError) as caught:
        _guarded("peg_transfer", lambda demo: board_spec(world, "board/ring0"))(demo)
    assert str(caught.value).startswith(
        "scenario pt.yaml: the peg_transfer plan needs a body 'board'"
    )


def test_a_ring_walk_plan_without_a_course_is_a_validate_error():
    text = (LIBRARY / "peg-transfer.yaml").read_text()
    text = text.replace("plan: {kind: peg_transfer}", "plan: {kind: ring_walk}")
    with pytest.raises(ScenarioError, match="the ring_walk plan walks the ring of a ring_wire"):
        _checked(text, "rw.yaml")
