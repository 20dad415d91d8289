"""A scenario checked against what the world builds: bodies a board generates, landmarks,
spawned objects and demonstration plans; each mistake at the line that makes it."""

from __future__ import annotations

import re

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


# ---- bounds on counts, and what a run refused that validation now refuses ---------------

NEEDLE = (LIBRARY / "needle-handover.yaml").read_text()


def _with_params(kind: str, params: str) -> str:
    """The bundled scenario with the object of type ``kind`` (``suture_pad``:
    needle-handover, ``ring_wire``: ring-walk), given ``params: {...}``."""
    base = {"suture_pad": "needle-handover", "ring_wire": "ring-walk"}[kind]
    text = (LIBRARY / f"{base}.yaml").read_text()
    line = f"      type: {kind}\n"
    assert text.count(line) == 1, kind
    return text.replace(line, line + f"      params: {{{params}}}\n")


def _error_at(text: str, needle: str, value: str) -> ScenarioError:
    """The check's error, which must sit on the (last) ``value`` of the line with ``needle``."""
    err = _error(text)
    line = _line_of(text, needle)
    assert (err.line, err.col) == (line, text.splitlines()[line - 1].rindex(value) + 1), str(err)
    return err


@pytest.mark.parametrize(
    ("kind", "params", "value", "bound"),
    [
        ("suture_pad", "mark_pairs: 1000000", "1000000", "bound of 100"),
        ("ring_wire", "segments: 1000000", "1000000", "bound of 250"),
        # a count within the absolute bound, but more than the object's own size holds
        ("suture_pad", "mark_pairs: 7", "7", "at most 6 pairs fit"),
        ("ring_wire", "segments: 71", "71", "bound of 70"),
    ],
)
def test_a_count_above_its_bound_is_refused_at_the_value_at_once(kind, params, value, bound):
    """A million suture marks or wire segments used to hang validation (minutes, GBs):
    now an error at the number, naming the bound, before anything is built."""
    import time

    text = _with_params(kind, params)
    start = time.perf_counter()
    err = _error_at(text, "params: {", value)
    assert time.perf_counter() - start < 1.0
    assert bound in err.message and "Use fewer" in err.message


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("suture_pad", "mark_pairs: 100, pad_size_m: [0.5, 0.05, 0.012], mark_spacing_m: 0.005"),
        ("ring_wire", "segments: 250, wire_length_m: 0.5"),
    ],
)
def test_a_count_at_its_bound_is_valid(kind, params):
    """The bounds are the largest physical objects, not a budget: those still build (the
    names are taken from the object as given when default sizes could not hold them). The
    half-metre wire starts its ring past the bundled workspace: widened, as an author must."""
    text = _with_params(kind, params)
    wide = "workspace_m: [[-0.4, -0.15, -0.02], [0.4, 0.15, 0.3]]"
    _check(re.sub(r"workspace_m: \[\[.*\]\]", wide, text, count=1))


def test_an_object_that_would_start_outside_the_workspace_is_refused_at_its_position():
    """A box placed in millimetres ([20, -30, 13]) validated, then cost a drop at once
    (that far a position is now a schema error; centimetres, [2, -3, 1.3], reach here)."""
    text = (LIBRARY / "needle-handover.yaml").read_text()
    line = "      type: suture_pad\n"
    text = text.replace(line, line + "      pose: {position_m: [2, -3, 1.3]}\n", 1)
    err = _error_at(text, "position_m: [2, -3, 1.3]", "[2, -3, 1.3]")
    # the pad is scenery; the needle lying on it is what would be dropped
    assert "'pad/needle' starts at [2, -3.013, 1.313] m, outside scene.workspace_m" in err.message
    assert "dropped at once" in err.message and "millimetres?" in err.message


def test_a_port_aimed_at_itself_is_refused_at_look_at():
    """``run`` used to be the first to notice (an error with no file or line)."""
    port = "port: {position_m: [0.10, -0.07, 0.16], look_at_m: [0.03, 0.0, 0.015]}"
    assert NEEDLE.count(port) == 1
    for look_at in ("[0.10, -0.07, 0.16]", "[0.1, -0.07, 0.1600000000001]"):
        text = NEEDLE.replace(port, port.replace("[0.03, 0.0, 0.015]", look_at))
        err = _error_at(text, "look_at_m: " + look_at, look_at)
        assert "port.look_at_m" in err.message and "below the port" in err.message
        assert "port_look_at_m" not in err.message  # the world's name, not the YAML's


def test_start_joints_of_the_wrong_length_are_refused_at_the_value():
    """The builder counted them only when a run loaded the arm."""
    text = NEEDLE.replace(
        "      insertion_m: 0.12\n", "      start_joints: [0, 0, 0.1]\n      insertion_m: 0.12\n", 1
    )
    err = _error_at(text, "start_joints:", "[0, 0, 0.1]")
    assert "needs 6 values" in err.message
    _check(text.replace("[0, 0, 0.1]", "[0, 0, 0.1, 0, 0, 0]"))


@pytest.mark.parametrize("name", library_names())
def test_bundled_scenarios_have_no_warnings(name):
    from scenarios.lint import scenario_warnings

    assert scenario_warnings(load_scenario(name, object_types=OBJECT_TYPES)) == []


def test_a_file_that_is_no_mesh_is_an_error_at_the_file(tmp_path):
    """It exists (so the schema takes it) but only building its geometry finds it empty:
    that used to escape validation as an internal error with no position."""
    bad = tmp_path / "bad.obj"
    bad.write_text("not a mesh\n")
    text = _with_params("suture_pad", f"file: {bad}").replace("type: suture_pad", "type: mesh")
    text = text.replace('"pad/needle"', '"pad"')
    err = _error_at(text, "params: {", str(bad))
    assert "fewer than 4 vertices" in err.message and "mesh 'pad'" in err.message


def test_a_misspelt_parameter_is_listed_against_the_type_s_parameters_only():
    """It listed name, position_m and rpy_rad (which params refuses) and suggested
    position_m for sise_m, under a doubled path ("scene.objects.1: objects[1]: ...")."""
    text = _with_params("suture_pad", "pad_sise_m: [0.1, 0.05, 0.012]")
    err = _error(text)
    assert err.message.startswith("scene.objects[0].params: unknown parameter 'pad_sise_m'")
    assert "'position_m'" not in err.message and "'name'" not in err.message
    assert "Did you mean 'pad_size_m'" in err.message


def test_a_ring_jitter_that_can_start_a_ring_outside_the_workspace_is_refused_at_it():
    """Seed 0's draw passed a 7 cm jitter that put rings outside on 10 seeds of 12 (three
    drops at once on seed 2500); then a 3.4 cm one passed the workspace and dropped a ring
    whose centre landed past the board's edge (seed 2610). A ring's disc of jitter must lie
    on its board."""
    text = (LIBRARY / "peg-transfer.yaml").read_text()
    line = "      type: peg_board\n"
    ok = text.replace(line, line + "      params: {ring_jitter_m: 0.02}\n", 1)
    _check(ok)
    for jitter in ("0.07", "0.034"):  # 0.034: the outer rings 3 cm from the board's edge
        bad = text.replace(line, line + f"      params: {{ring_jitter_m: {jitter}}}\n", 1)
        err = _error_at(bad, f"ring_jitter_m: {jitter}", jitter)
        assert f"with {jitter} m of jitter 'board/ring" in err.message
        assert "can start off the board and fall at once" in err.message
        assert "Keep the jitter under 0.03 m" in err.message


def test_a_point_with_an_empty_landmark_is_an_error():
    """``target: "board:"`` validated (read as the body) and named nothing after ':'."""
    text = PEG.replace('target: "board:peg6"', 'target: "board:"', 1)
    err = _error_at(text, 'target: "board:"', '"board:"')
    assert "'board:' names no landmark after ':'" in err.message
