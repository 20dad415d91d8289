"""The reference half of the instructors' page (docs/scenarios.md) matches the code.

The object, landmark, trigger, action and scene tables are written by hand for people;
these tests hold them to the object types (``sim.world.scene.OBJECT_TYPES``), the bodies
and landmarks the world builds (``sim.world.boards.bodies_for``), the schema's models and
the instrument's geometry, so that a renamed parameter or a new landmark fails here
rather than leaving the page wrong. The page's runnable examples are validated as written.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from scenarios.loader import parse_scenario
from scenarios.schema import Action, Arm, Camera, Scenario, Scene
from scenarios.triggers import Condition, Trigger, _kind_classes
from sim.cli import app
from sim.world.boards import OBJECT, bodies_for, peg_positions
from sim.world.scenario_check import check_scenario
from sim.world.scene import OBJECT_TYPES, PegBoardSpec

PAGE = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"
TEXT = PAGE.read_text()
#: fields every object spec has that a scenario sets outside ``params`` (id and pose)
OUTSIDE_PARAMS = {"name", "position_m", "rpy_rad"}


def _section(heading: str) -> str:
    """The text under ``heading`` (a whole line) up to the next heading of any level."""
    start = TEXT.index("\n" + heading + "\n") + len(heading) + 2
    nxt = re.search(r"\n#{2,4} ", TEXT[start:])
    return TEXT[start : start + nxt.start()] if nxt else TEXT[start:]


def _rows(text: str) -> list[list[str]]:
    """Cells of the table rows in ``text`` (header and rule left out)."""
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|")
    ]
    return [r for r in rows[2:] if not set("".join(r)) <= set("-: ")]


def _names(cell: str) -> list[str]:
    """Backticked names in a cell, ``a0` … `a5`` ranges expanded."""
    out = []
    for m in re.finditer(r"`([^`]+?)(\d+)` … `\1(\d+)`|`([^`]+)`", cell):
        if m.group(4) is not None:
            out.append(m.group(4))
        else:
            out += [f"{m.group(1)}{k}" for k in range(int(m.group(2)), int(m.group(3)) + 1)]
    return out


def _same(doc_value, code_value) -> bool:
    if isinstance(code_value, tuple):
        return len(doc_value) == len(code_value) and all(
            _same(d, c) for d, c in zip(doc_value, code_value, strict=True)
        )
    if isinstance(code_value, (bool, str)):
        return doc_value == code_value
    return math.isclose(float(doc_value), float(code_value), rel_tol=1e-9)


@pytest.mark.parametrize("kind", sorted(OBJECT_TYPES))
def test_each_object_type_has_a_table_of_its_params_with_their_defaults(kind):
    rows = _rows(_section(f"#### `{kind}`"))
    documented = {_names(r[0])[0]: r[1] for r in rows}
    fields = {f.name: f for f in dataclasses.fields(OBJECT_TYPES[kind])}
    params = set(fields) - OUTSIDE_PARAMS
    assert set(documented) == params, f"{kind}: page {sorted(documented)} vs code {sorted(params)}"
    for name, cell in documented.items():
        default = fields[name].default
        value = yaml.safe_load(cell.strip("`"))
        assert _same(value, default), f"{kind}.{name}: page says {cell}, code {default!r}"


def _bodies_table() -> list[list[str]]:
    text = _section("### Objects")
    table = text[text.index("| type | bodies") :]
    return _rows(table[: table.index("\n\n")])


@pytest.mark.parametrize("kind", sorted(set(OBJECT_TYPES) - {"mesh"}))
def test_the_bodies_and_landmarks_table_matches_what_the_world_builds(kind):
    rows = [r for r in _bodies_table() if kind in _names(r[0])]
    documented = {}
    for r in rows:
        bodies, landmarks = (re.sub(r"\(.*?\)", "", cell) for cell in (r[1], r[3]))
        for body in _names(bodies):  # "(one per `rings_on` entry)" names no body
            documented[body] = (r[2].startswith("yes"), set(_names(landmarks)))
    built = bodies_for(OBJECT_TYPES[kind](name="X"), np.random.default_rng(0))
    assert set(documented) == {b.name for b in built}
    for body in built:
        movable, landmarks = documented[body.name]
        assert movable == (body.role == OBJECT), body.name
        assert landmarks == set(body.landmarks), body.name


def test_every_trigger_kind_and_field_is_in_the_trigger_table():
    rows = {r[0].strip("`"): r for r in _rows(_section("### Triggers"))}
    documented = {k for row in rows for k in re.split(r"`, `", row)}
    assert documented == set(Trigger.model_fields)
    for kind, cls in _kind_classes().items():
        if cls is None or not issubclass(cls, Condition):
            continue
        cell = next(r[1] for name, r in rows.items() if kind in re.split(r"`, `", name))
        for name, info in cls.model_fields.items():
            assert f"`{name}`" in cell, f"{kind}.{name} is not in the trigger table"
            default = info.default
            if default is None or info.is_required():
                continue
            shown = str(default).lower() if isinstance(default, (bool, str)) else f"{default:g}"
            assert f"`{name}` = {shown}" in cell, f"{kind}.{name}: default {default!r} not shown"


def test_every_action_is_in_the_action_table():
    rows = _rows(_section("### Actions"))
    assert {r[0].strip("`") for r in rows} == set(Action.model_fields)


@pytest.mark.parametrize(
    ("heading", "model"),
    [("### Top level", Scenario), ("### `scene`", Scene)],
)
def test_every_top_level_and_scene_field_is_in_its_table(heading, model):
    text = _section(heading) + "\n\n"
    table = text[: text.index("\n\n", text.index("|"))]
    documented = {n for r in _rows(table) for n in _names(r[0])}
    assert documented == set(model.model_fields)


def test_every_arm_and_camera_field_is_described():
    text = _section("### `scene`")
    arm_table = text[text.index("An arm (`arms[]`)") :]
    documented = {n for r in _rows(arm_table[: arm_table.index("\n\n", 30)]) for n in _names(r[0])}
    assert documented == set(Arm.model_fields)
    camera = text[text.index("`camera`: exactly one") :]
    for name, info in Camera.model_fields.items():
        assert f"`{name}`" in camera
        if info.default is not None:
            assert f"`{name}`" in camera and f"`{info.default:g}`" in camera, name


def test_the_peg_diagram_matches_the_peg_positions():
    diagram = re.search(r"```\n( +far side \(\+y\).*?)```", TEXT, re.S).group(1)
    rows = [
        [int(k) for k in re.findall(r"peg(\d+)", line)]
        for line in diagram.splitlines()
        if "peg" in line and "y =" in line
    ]
    xy = peg_positions(PegBoardSpec())
    assert sorted(k for row in rows for k in row) == list(range(12))
    ys = [xy[row[0], 1] for row in rows]
    assert ys == sorted(ys, reverse=True)  # the far side (+y) at the top, as the scope sees it
    for row in rows:
        assert len({xy[k, 1] for k in row}) == 1
        assert [xy[k, 0] for k in row] == sorted(xy[k, 0] for k in row)  # +x to the right


def test_the_tool_tip_numbers_are_the_instrument_model():
    import xml.etree.ElementTree as ET

    from assets import ROBOTS_DIR
    from assets.generate_robots import JAW_JOINTS, InstrumentGeometry
    from kinematics.models import PSM_LND_PITCH_YAW_M

    g = InstrumentGeometry()
    section = _section("### The tool tip")
    # the fingers span clevis radius .. jaw length along the tip's z (assets/generate_robots)
    assert (g.clevis_radius_m, g.jaw_length_m, g.jaw_width_m) == (0.002, 0.010, 0.003)
    assert "from 2 mm to **10 mm" in section and "(10 mm\nlong, 3 mm wide)" in section
    assert pytest.approx(0.0091) == PSM_LND_PITCH_YAW_M and "9.1 mm" in section
    # the jaws hinge on the tool-tip frame itself, at its origin: the tip point is the pivot
    joints = {j.get("name"): j for j in ET.parse(ROBOTS_DIR / "psm.urdf").iter("joint")}
    for name in JAW_JOINTS:
        assert joints[name].find("parent").get("link") == "tool_tip"
        origin = [float(v) for v in joints[name].find("origin").get("xyz").split()]
        assert origin == [0.0, 0.0, 0.0]


def _whole_example() -> str:
    return next(b for b in re.findall(r"```yaml\n(.*?)```", TEXT, re.S) if "name: box-drill" in b)


def _validate(text: str, tmp_path) -> None:
    path = tmp_path / "box-drill.yaml"
    path.write_text(text)
    out = CliRunner().invoke(app, ["scenario", "validate", str(path)])
    assert out.exit_code == 0, out.output
    assert "warning" not in out.output
    check_scenario(parse_scenario(text, str(path)))


def test_the_whole_exercise_example_validates(tmp_path):
    _validate(_whole_example(), tmp_path)


def test_the_actions_example_validates_in_the_whole_exercise(tmp_path):
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", TEXT, re.S) if b.startswith("events:"))
    whole = _whole_example()
    start = whole.index("  events:\n")
    end = whole.index("scoring:")
    events = "".join("  " + line + "\n" for line in block.splitlines())
    _validate(whole[:start] + events + whole[end:], tmp_path)


def test_the_whole_exercise_starts_as_the_page_says():
    from sim.session.session import Session

    scenario = parse_scenario(_whole_example(), "docs/scenarios.md (box-drill)")
    session = Session(scenario, seed=0)
    try:
        session.advance({}, steps=100)  # 0.2 s at 500 Hz
        kinds = [(e.kind, e.data) for e in session.recorder.events]
        assert ("message", {"text": "Go."}) in kinds
        assert ("timer_started", {"timer": "reach"}) in kinds
        assert not any(k == "drop" for k, _ in kinds)  # the cube starts inside the workspace
        cube = session.world.body_pose("cube")[:3, 3]
        assert cube == pytest.approx([-0.03, -0.02, 0.013], abs=2e-4)  # resting on the board
        assert session.world.landmark("board", "top")[2] == pytest.approx(0.008)
    finally:
        session.close()


def test_the_physics_section_states_the_friction_and_restitution_the_world_builds():
    """The friction table of "Physics of objects and grasps" is what pybullet holds, every
    body's restitution is 0, and movable objects roll and spin as stated (a study that
    quotes the physics quotes this page)."""
    from sim.world.scene import BoxSpec, RingWireSpec, SceneSpec, SuturePadSpec
    from sim.world.scripted import peg_transfer_scene
    from sim.world.world import World

    section = _section("### Physics of objects and grasps")
    in_list = "\n".join(line.strip() for line in section.splitlines())  # a table in a list
    table = {r[0]: r[1] for r in _rows(in_list)}
    bodies = {
        "primitives (`box`, `sphere`, `cylinder`, `mesh`)": ("box",),
        "peg board and pegs / its rings": ("board", "board/ring0"),
        "ring-walk course / its ring": ("course", "course/ring"),
        "suture pad / needle": ("pad", "pad/needle"),
        "floor": ("floor",),
        "instrument links (jaws included)": ("PSM1",),
    }
    extra = (
        BoxSpec(name="box", position_m=(0.0, 0.1, 0.02)),
        RingWireSpec(name="course", position_m=(0.0, 0.3, 0.0)),
        SuturePadSpec(name="pad", position_m=(0.0, -0.3, 0.0)),
    )
    scene = peg_transfer_scene()
    scene = SceneSpec(arms=scene.arms, objects=scene.objects + extra, physics=scene.physics)
    with World(scene) as world:
        pb, c = world.pb, world.client

        def dynamics(body: int, link: int):
            info = pb.getDynamicsInfo(body, link, physicsClientId=c)
            return info[1], info[5]  # lateral friction, restitution

        def body_link(name: str) -> tuple[int, int]:
            """An object's base, or an arm's jaw: what touches the objects."""
            arm = world.arms.get(name)
            return (arm.body, arm.links["jaw_left_link"]) if arm else (world.body_id(name), -1)

        for label, names in bodies.items():
            stated = [float(x) for x in re.findall(r"\d+\.\d+", table[label])]
            built = [dynamics(*body_link(n)) for n in names]
            assert stated == [friction for friction, _ in built], label
            assert all(restitution == 0.0 for _, restitution in built), label
        info = pb.getDynamicsInfo(world.body_id("board/ring0"), -1, physicsClientId=c)
        assert "rolling friction 1e-5 and spinning friction 1e-4" in " ".join(section.split())
        assert (info[6], info[7]) == pytest.approx((1e-5, 1e-4))  # rolling, spinning
