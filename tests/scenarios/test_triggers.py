"""Trigger kinds live in one place each (scenarios.triggers): fields, checks, evaluation.
These tests hold the registry together, so a new kind cannot be half added."""

from __future__ import annotations

import typing

from scenarios.model import Ref, references
from scenarios.triggers import MOMENTARY_TRIGGERS, VALUE_KINDS, Condition, Trigger

from .test_loader import VALID


def test_every_kind_has_one_evaluation_and_the_world_events_are_momentary():
    for name, info in Trigger.model_fields.items():
        models = [
            a
            for a in typing.get_args(info.annotation)
            if isinstance(a, type) and issubclass(a, Condition)
        ]
        assert (len(models) == 1) != (name in VALUE_KINDS), name
        if models:
            assert models[0].holds is not Condition.holds, name
    assert set(MOMENTARY_TRIGGERS) == {"dropped", "released", "needle_passed"}


def test_kind_and_momentary_of_a_trigger():
    t = Trigger.model_validate({"dropped": {"object": "ring1"}})
    assert t.kind == "dropped" and t.momentary
    t = Trigger.model_validate({"all": [{"dropped": {}}, {"time_elapsed_s": 1}]})
    assert t.kind == "all" and not t.momentary  # a combination is judged as a state


def test_every_name_a_trigger_holds_is_found_by_the_reference_walk():
    from scenarios.loader import parse_scenario

    trigger = {
        "any": [
            {"placed": {"object": "ring1", "target": "board:peg7"}},
            {"near": {"object": "ring1", "target": "board"}},
            {"grasped": {"object": "ring1", "by": "PSM1"}},
            {"entered": {"instrument": "PSM1", "region": {"center_m": [0, 0, 0], "radius_m": 1}}},
            {"held": {"for_s": 1, "trigger": {"centered": {"object": "board"}}}},
            {"step_completed": "lift"},
            {"needle_passed": "ring1"},
        ]
    }
    scenario = parse_scenario(VALID)
    scenario.exercise.events[1].when = Trigger.model_validate(trigger)
    found = set()
    for loc, ref, name in references(scenario):
        if loc[:3] == ("exercise", "events", 1):
            kind = loc[-2] if isinstance(loc[-2], str) else loc[-1]  # the kind owning the field
            found.add((kind, ref.kind, name))
    assert {
        ("placed", "body", "ring1"),
        ("placed", "point", "board:peg7"),
        ("near", "body", "ring1"),
        ("near", "point", "board"),
        ("grasped", "body", "ring1"),
        ("grasped", "arm", "PSM1"),
        ("entered", "arm", "PSM1"),
        ("centered", "point", "board"),
        ("step_completed", "step", "lift"),
        ("needle_passed", "body", "ring1"),
    } <= found
    assert all(isinstance(r, Ref) for _, r, _ in references(scenario))
