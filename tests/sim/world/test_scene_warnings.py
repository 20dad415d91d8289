"""The world's own warnings about a valid scenario (``sim.world.scene_warnings``): bodies
that start inside one another and objects no arm with jaws can reach, each at the YAML
line of the object that causes it; nothing for bodies that merely touch or lie in reach."""

from __future__ import annotations

import pytest

from scenarios.errors import ScenarioError
from scenarios.loader import LIBRARY, load_scenario
from sim.world.scene import OBJECT_TYPES
from sim.world.scene_warnings import world_warnings
from sim.world.world import World

BOARD_ENTRY = "    - id: board\n      type: peg_board\n"


def _board_top_m(x_m: float = 0.0, y_m: float = 0.0) -> float:
    """Height of the peg board's surface at (x, y), by a ray cast straight down."""
    from sim.world.scenario_scene import build_scene_spec

    scenario = load_scenario("peg-transfer", object_types=OBJECT_TYPES)
    world = World(build_scene_spec(scenario))
    try:
        pb = world.pb
        hit = pb.rayTest([x_m, y_m, 0.5], [x_m, y_m, -0.1], physicsClientId=world.client)[0]
        assert hit[0] == world.body_id("board")
        return hit[3][2]
    finally:
        world.close()


def _with_objects(tmp_path, extra: str):
    peg = (LIBRARY / "peg-transfer.yaml").read_text()
    assert BOARD_ENTRY in peg
    path = tmp_path / "extra.yaml"
    path.write_text(peg.replace(BOARD_ENTRY, BOARD_ENTRY + extra))
    return path, load_scenario(path, object_types=OBJECT_TYPES)


def _line_of(path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_block_sunk_into_the_board_is_an_overlap_at_its_own_line(tmp_path):
    top = _board_top_m()
    path, scenario = _with_objects(
        tmp_path,
        "    - id: sunk\n      type: box\n"
        f"      pose: {{position_m: [0.0, 0.0, {top + 0.010 - 0.004:.4f}]}}\n"
        "      params: {size_m: [0.02, 0.02, 0.02]}\n",
    )
    warnings = world_warnings(scenario)
    assert len(warnings) == 1, [str(w) for w in warnings]
    (warning,) = warnings
    assert warning.line == _line_of(path, "- id: sunk")
    assert "'sunk' starts" in warning.message and "inside 'board'" in warning.message
    depth_mm = float(warning.message.split("starts ")[1].split(" mm")[0])
    assert 3.0 < depth_mm < 5.0  # 4 mm written: the number is the real depth


def test_a_block_resting_on_the_board_or_near_the_ports_warns_nothing(tmp_path):
    top = _board_top_m()
    _, scenario = _with_objects(
        tmp_path,
        "    - id: resting\n      type: box\n"
        f"      pose: {{position_m: [0.0, 0.0, {top + 0.010:.4f}]}}\n"
        "      params: {size_m: [0.02, 0.02, 0.02]}\n",
    )
    assert world_warnings(scenario) == []


def test_an_object_no_jaw_arm_reaches_is_out_of_reach_at_its_own_line(tmp_path):
    # inside workspace_m (which reaches 0.4 m up) but far above the right-hand corner
    path, scenario = _with_objects(
        tmp_path,
        "    - id: far\n      type: sphere\n"
        "      pose: {position_m: [0.12, 0.07, 0.30]}\n"
        "      params: {radius_m: 0.005}\n",
    )
    (warning,) = world_warnings(scenario)
    assert warning.line == _line_of(path, "- id: far")
    assert "out of reach of every arm with jaws" in warning.message
    assert "PSM1" in warning.message and "PSM2" in warning.message


def test_an_object_one_arm_reaches_is_not_out_of_reach(tmp_path):
    # over the board's far left corner: PSM1 (right) falls centimetres short, PSM2 reaches
    import numpy as np

    from kinematics import solve_ik
    from sim.world.scenario_scene import build_scene_spec

    p_W = np.array([-0.11, 0.06, 0.03])
    _, scenario = _with_objects(
        tmp_path,
        "    - id: left\n      type: sphere\n"
        f"      pose: {{position_m: {p_W.tolist()}}}\n"
        "      params: {radius_m: 0.005}\n",
    )
    world = World(build_scene_spec(scenario))
    try:
        psm1 = world.arm("PSM1")
        p_R = psm1.X_RW[:3, :3] @ p_W + psm1.X_RW[:3, 3]
        assert solve_ik(psm1.chain, p_R, rcm=np.zeros(3)).pos_error > 0.03
    finally:
        world.close()
    assert world_warnings(scenario) == []


def test_every_bundled_scenario_builds_a_world_without_warnings():
    for path in sorted(LIBRARY.glob("*.yaml")):
        scenario = load_scenario(path, object_types=OBJECT_TYPES)
        assert world_warnings(scenario) == [], path.name


def test_a_world_that_cannot_be_built_is_an_error_at_the_scene(tmp_path, monkeypatch):
    from sim.errors import SimError

    _, scenario = _with_objects(tmp_path, "")

    def refuse(*args, **kwargs):
        raise SimError("no physics client")

    monkeypatch.setattr("sim.world.world.World.__init__", refuse)
    with pytest.raises(ScenarioError, match="the world cannot be built: no physics client"):
        world_warnings(scenario)


def test_a_long_object_whose_every_part_is_out_of_reach_warns(tmp_path):
    """Reach to the origin, allowing half the bounding box's diagonal, let a 10 cm rod
    pass whose nearest end was 19 mm out of reach (second outsider); over the board the
    same rod is in reach."""
    rod = "    - id: rod\n      type: box\n      pose: {{position_m: {p}}}\n"
    rod += "      params: {{size_m: [0.1, 0.005, 0.005]}}\n"
    _, far = _with_objects(tmp_path, rod.format(p="[0.0, 0.07, 0.20]"))
    (warning,) = world_warnings(far)
    assert "'rod'" in warning.message and "out of reach" in warning.message
    _, near = _with_objects(tmp_path, rod.format(p="[0.0, 0.0, 0.05]"))
    assert world_warnings(near) == []


def test_bodies_one_object_builds_into_one_another_warn_once_at_its_params(tmp_path):
    """Rings too big for the board's pegs gave seven warnings at the board's line, each
    advising to move a ring, which cannot be moved on its own."""
    peg = (LIBRARY / "peg-transfer.yaml").read_text()
    path = tmp_path / "big.yaml"
    path.write_text(peg.replace(BOARD_ENTRY, BOARD_ENTRY + "      params: {ring_side_m: 0.05}\n"))
    warnings = world_warnings(load_scenario(path, object_types=OBJECT_TYPES))
    (warning,) = warnings
    assert warning.line == _line_of(path, "params: {ring_side_m: 0.05}")
    assert "bodies 'board' builds start inside one another" in warning.message
    assert "pairs, the deepest" in warning.message and "change those" in warning.message


def test_the_out_of_reach_check_takes_a_point_inverse_kinematics_refuses():
    """The check behind validate's "out of reach" warning counts a point beyond what
    inverse kinematics takes (more than 1e6 m from the base) as unreachable: it raised,
    and validate said "internal error while checking (KinematicsError ...)"."""
    from types import SimpleNamespace

    import numpy as np

    from kinematics import solve_ik
    from kinematics.models import psm
    from sim.world.scene_warnings import _ik_miss_m

    arm = SimpleNamespace(chain=psm(), X_RW=np.eye(4))
    assert _ik_miss_m(solve_ik, arm, np.array([0.0, 2e6, 0.0])) == float("inf")
    assert _ik_miss_m(solve_ik, arm, np.array([0.0, 0.0, 0.1])) < 1.0


def test_an_entered_region_no_tip_reaches_is_a_warning_at_its_centre(tmp_path):
    """The instructor's finding: an ``entered`` region at z = 0.39 m (inside workspace_m,
    20 cm above the ports) with a 1 mm radius validated clean and was never entered. The
    tip's reach (inverse kinematics through the port) says so; a region over the board,
    as bundled (ring walk's, camera targeting's), is no warning."""
    from scenarios.loader import LIBRARY, parse_scenario

    peg = (LIBRARY / "peg-transfer.yaml").read_text()
    old = 'done_when: {placed: {object: "board/ring0", target: "board:peg6"}}'
    region = "{instrument: PSM2, region: {center_m: [0.0, 0.0, %s], radius_m: 0.001}}"
    far = peg.replace(old, "done_when: {entered: %s}" % (region % "0.39"), 1)
    assert far != peg
    path = tmp_path / "far.yaml"
    path.write_text(far)
    (warning,) = [
        w for w in world_warnings(parse_scenario(far, str(path))) if "region" in w.message
    ]
    assert warning.line == _line_of(path, "center_m: [0.0, 0.0, 0.39]")
    assert "done_when.entered.region: no tip can reach it from its port (PSM2" in warning.message
    near = peg.replace(old, "done_when: {entered: %s}" % (region % "0.03"), 1)
    assert not [w for w in world_warnings(parse_scenario(near)) if "region" in w.message]
