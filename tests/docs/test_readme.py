"""The README's code examples do what their comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _block(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading) :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_physics_world_example_grasps_places_and_releases_without_a_drop():
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(_block("### The physics world in ten lines"), namespace)
    world = namespace["world"]
    try:
        printed = out.getvalue().splitlines()
        assert "kind='grasp'" in printed[0] and "arm='PSM2'" in printed[0]
        assert "kind='release'" in printed[1] and "kind='drop'" not in printed[1]
        ring, peg = world.landmark("board/ring0", "center"), world.landmark("board", "peg6")
        assert abs(ring[0] - peg[0]) < 0.005 and abs(ring[1] - peg[1]) < 0.005  # on peg 7
        assert world.grasps.held_by(world.body_id("board/ring0")) == []
    finally:
        world.close()


def test_session_example_runs_and_the_arm_follows_its_pose_command():
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(_block("### The session: one core every driver shares"), namespace)
    session = namespace["session"]
    try:
        assert "SERVO" in out.getvalue()
        assert namespace["description"].scope_node == "ECM/tool_tip"
        assert session.time_s == 0.0  # after the reset
    finally:
        session.close()


def test_port_example_builds_a_urdf_chain_and_reaches_through_the_port():
    """The README named an ``iiwa`` the package does not have; the example now builds one."""
    namespace: dict = {}
    exec(_block("### An arm without a remote centre of motion, through a port"), namespace)
    result = namespace["result"]
    assert result.success and result.pos_error < 1e-4
