"""A scenario checked against what the world builds: bodies a board generates, landmarks,
spawned objects and demonstration plans; each mistake at the line that makes it."""

from __future__ import annotations

import pytest

from scenarios.errors import ScenarioError
from scenarios.loader import LIBRARY, library_names, load_scenario, parse_scenario
from sim.session.plans import PLANS
from sim.world.scenario_check import body_names, check_scenario
from sim.world.scene import OBJECT_TYPES, object_from_dict

PEG = (LIBRARY / "peg-transfer.yaml").read_text()


def _line_of(text: str, needle: str) -> int:
    return next(i + 1 for i, line in enumerate(text.splitlines()) if needle in line)


def _check(text: str):
    scenario = parse_scenario(text, "peg.yaml", object_types=OBJECT_TYPES)
    return check_scenario(scenario, plan_kinds=PLANS)


def _error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        _check(text)
    assert info.value.file == "peg.yaml" and info.value.line, str(info.value)
    return info.value


@pytest.mark.parametrize("name", library_names())
def test_bundled_scenarios_pass(name):
    check_scenario(load_scenario(name, object_types=OBJECT_TYPES), plan_kinds=PLANS)


def test_a_ring_the_board_does_not_have():
    text = PEG.replace(
        'object: "board/ring0", target: "board:peg6"', 'object: "board/ring9", target: "board:peg6"'
    )
    err = _error(text)
    assert err.line == _line_of(text, "board/ring9") and err.col == 36
    assert "no body 'board/ring9'" in err.message and "'board/ring5'" in err.message


def test_fewer_rings_fewer_bodies():
    text = PEG.replace(
        "      type: peg_board\n", "      type: peg_board\n      params: {rings_on: [0, 1]}\n"
    )
    err = _error(text)
    assert "no body 'board/ring2'" in err.message and err.line == _line_of(text, "board/ring2")


def test_a_peg_the_board_does_not_have():
    text = PEG.replace('target: "board:peg6"', 'target: "board:peg99"')
    err = _error(text)
    assert err.line == _line_of(text, "peg99")
    assert "no landmark 'peg99'" in err.message and "Did you mean 'peg9'" in err.message


def test_scenery_cannot_be_placed_and_a_landmark_is_not_a_body():
    text = PEG.replace('object: "board/ring0", target', 'object: "board", target')
    err = _error(text)
    assert "fixed scenery" in err.message and err.line == _line_of(text, 'object: "board", ')
    text = PEG.replace("{dropped: {object: any}}", '{dropped: {object: "board/ring0:wall0"}}')
    err = _error(text)
    assert "names a landmark" in err.message


def test_an_unknown_plan_kind():
    text = PEG.replace("plan: {kind: peg_transfer}", "plan: {kind: peg_transfr}")
    err = _error(text)
    assert err.line == _line_of(text, "plan:") and "Did you mean 'peg_transfer'" in err.message


def test_spawned_objects_are_checked_and_their_bodies_count():
    spawn = (
        "    - at: 5\n      do: [{spawn: {id: extra, type: peg_board, params: {rings_on: [3]}}}]\n"
    )
    text = PEG.replace("  events:\n", "  events:\n" + spawn).replace(
        "{dropped: {object: any}}", '{dropped: {object: "extra/ring0"}}'
    )
    _check(text)
    err = _error(text.replace('"extra/ring0"', '"extra/ring1"'))
    assert "no body 'extra/ring1'" in err.message
    err = _error(text.replace("rings_on: [3]", "rings_on: [30]"))
    assert "rings_on" in err.message and err.line == _line_of(text, "spawn:")


def test_body_names_follow_the_geometry():
    board = body_names(object_from_dict({"type": "peg_board", "name": "b", "rings_on": [0, 5]}))
    assert sorted(board) == ["b", "b/ring0", "b/ring1"]
    assert not board["b"].movable and board["b/ring1"].movable
    assert "peg11" in board["b"].landmarks and "grip2" in board["b/ring0"].landmarks


@pytest.mark.parametrize("kind", sorted(set(OBJECT_TYPES) - {"mesh"}))
def test_names_and_roles_do_not_depend_on_dimensions(kind):
    """body_names builds one template per kind of object, with dimensions at their
    defaults: that is only right while no real-valued field changes a name or a role."""
    import dataclasses

    import numpy as np

    from sim.world.boards import OBJECT, bodies_for

    default = object_from_dict({"type": kind, "name": "x"})
    scaled = {
        f.name: (
            tuple(1.1 * v for v in getattr(default, f.name))
            if isinstance(getattr(default, f.name), tuple)
            and all(isinstance(v, float) for v in getattr(default, f.name))
            else 1.1 * getattr(default, f.name)
        )
        for f in dataclasses.fields(default)
        if f.name not in ("position_m", "rpy_rad", "color_rgba")
        and (
            isinstance(getattr(default, f.name), float)
            or (
                isinstance(getattr(default, f.name), tuple)
                and getattr(default, f.name)
                and all(isinstance(v, float) for v in getattr(default, f.name))
            )
        )
    }
    assert scaled, kind
    spec = dataclasses.replace(default, **scaled)
    built = {
        b.name: (b.role == OBJECT, tuple(b.landmarks))
        for b in bodies_for(spec, np.random.default_rng(0))
    }
    assert {n: (b.movable, b.landmarks) for n, b in body_names(spec).items()} == built


def test_a_massless_box_stays_scenery():
    static = body_names(object_from_dict({"type": "box", "name": "wall", "mass_kg": 0.0}))
    moving = body_names(object_from_dict({"type": "box", "name": "cube", "mass_kg": 0.02}))
    assert not static["wall"].movable and moving["cube"].movable
