"""Chains from modified DH and URDF, and the errors users see when they get one wrong."""

from __future__ import annotations

import numpy as np
import pytest

from kinematics import Chain, DHRow, KinematicsError, psm
from kinematics.models import PSM_ROWS, PSM_TOOL_ROTATION
from kinematics.transforms import pose
from kinematics.urdf import chain_from_urdf_string, chain_to_urdf

from .arms import IIWA_LINKS, IIWA_URDF, iiwa


def test_dh_rows_accept_dataclass_mapping_and_tuple(rng):
    as_dicts = [r.__dict__ for r in PSM_ROWS]
    as_tuples = [
        (r.alpha, r.a, r.theta, r.d, r.offset, r.kind[0].upper(), r.lower, r.upper, r.name)
        for r in PSM_ROWS
    ]
    ref = psm()
    for rows in (as_dicts, as_tuples):
        chain = Chain.from_modified_dh(rows, pose(PSM_TOOL_ROTATION))
        q = ref.random_q(rng)
        np.testing.assert_array_equal(chain.fk(q), ref.fk(q))
        assert chain.joint_names == ref.joint_names


def test_dh_errors_name_the_row_and_the_fix():
    with pytest.raises(KinematicsError, match=r"unknown field 'alpah'.*Did you mean 'alpha'"):
        Chain.from_modified_dh([{"alpah": 0, "a": 0, "theta": 0, "d": 0}])
    with pytest.raises(KinematicsError, match="kind 'X' is not valid"):
        Chain.from_modified_dh([DHRow(0, 0, 0, 0, kind="X")])
    with pytest.raises(KinematicsError, match="finite numbers"):
        Chain.from_modified_dh([DHRow(float("nan"), 0, 0, 0)])
    with pytest.raises(KinematicsError, match="lower <= upper"):
        Chain.from_modified_dh([DHRow(0, 0, 0, 0, lower=1, upper=-1)])
    with pytest.raises(KinematicsError, match="no movable joints"):
        Chain.from_modified_dh([])


def test_urdf_unknown_link_lists_existing_links():
    with pytest.raises(KinematicsError) as info:
        Chain.from_urdf(IIWA_URDF, "lbr_iiwa_link_0", "lbr_iiwa_link_77")
    message = str(info.value)
    assert "'lbr_iiwa_link_77' is not a link" in message
    assert "lbr_iiwa_link_7" in message and "Did you mean" in message


def test_urdf_tip_not_below_base():
    with pytest.raises(KinematicsError, match="is not below"):
        Chain.from_urdf(IIWA_URDF, "lbr_iiwa_link_5", "lbr_iiwa_link_2")


def test_urdf_empty_chain():
    with pytest.raises(KinematicsError, match="no movable joints"):
        Chain.from_urdf(IIWA_URDF, "lbr_iiwa_link_3", "lbr_iiwa_link_3")


def test_urdf_only_fixed_joints_between_links():
    text = """<robot name="r"><link name="a"/><link name="b"/>
      <joint name="j" type="fixed"><parent link="a"/><child link="b"/></joint></robot>"""
    with pytest.raises(KinematicsError, match="only fixed joints"):
        chain_from_urdf_string(text, "a", "b")


def test_urdf_unsupported_and_malformed():
    floating = """<robot name="r"><link name="a"/><link name="b"/>
      <joint name="j" type="floating"><parent link="a"/><child link="b"/></joint></robot>"""
    with pytest.raises(KinematicsError, match="type 'floating'"):
        chain_from_urdf_string(floating, "a", "b")
    with pytest.raises(KinematicsError, match="not valid XML"):
        chain_from_urdf_string("<robot><link", "a", "b")
    with pytest.raises(KinematicsError, match="expected <robot>"):
        chain_from_urdf_string("<sdf/>", "a", "b")
    bad_origin = """<robot name="r"><link name="a"/><link name="b"/>
      <joint name="j" type="revolute"><parent link="a"/><child link="b"/>
      <origin xyz="0 zero 0"/><limit lower="-1" upper="1"/></joint></robot>"""
    with pytest.raises(KinematicsError, match="origin xyz"):
        chain_from_urdf_string(bad_origin, "a", "b")
    with pytest.raises(KinematicsError, match="cannot read URDF"):
        Chain.from_urdf("/nonexistent/robot.urdf", "a", "b")


def test_urdf_continuous_joint_has_infinite_limits_and_finite_restart_range():
    text = """<robot name="r"><link name="a"/><link name="b"/>
      <joint name="spin" type="continuous"><parent link="a"/><child link="b"/>
      <axis xyz="0 0 2"/></joint></robot>"""
    chain = chain_from_urdf_string(text, "a", "b")
    assert chain.lower[0] == -np.inf and chain.upper[0] == np.inf
    np.testing.assert_allclose(chain.joints[0].axis, [0, 0, 1])  # normalised
    assert chain.random_q(np.random.default_rng(0), 100).max() <= np.pi


def test_round_trip_through_urdf(rng):
    arm = psm()
    back = chain_from_urdf_string(chain_to_urdf(arm), "rcm", "tool_tip")
    assert back.joint_names == arm.joint_names
    np.testing.assert_allclose(back.lower, arm.lower)
    for _ in range(20):
        q = arm.random_q(rng)
        np.testing.assert_allclose(back.fk(q), arm.fk(q), atol=1e-15)


@pytest.mark.parametrize("tool_m", [None, 0.3])
def test_iiwa_chain_round_trips_through_urdf_and_pybullet(tool_m, tmp_path, rng):
    """The README's iiwa chain ends on its last joint's own link: the written URDF
    declared ``lbr_iiwa_link_7`` twice (with_tool kept that name for a tip 30 cm on), and
    neither chain_from_urdf nor pybullet could load it."""
    import pybullet as pb

    from kinematics.transforms import translation

    arm = iiwa() if tool_m is None else iiwa().with_tool(translation(0, 0, tool_m))
    path = tmp_path / "iiwa.urdf"
    path.write_text(chain_to_urdf(arm))
    back = Chain.from_urdf(path, arm.base_link, arm.tip_link)
    client = pb.connect(pb.DIRECT)
    try:
        body = pb.loadURDF(str(path), useFixedBase=True, physicsClientId=client)
        links = [
            pb.getJointInfo(body, j, physicsClientId=client)[12].decode()
            for j in range(pb.getNumJoints(body, physicsClientId=client))
        ]
        for _ in range(10):
            q = arm.random_q(rng)
            np.testing.assert_allclose(back.fk(q), arm.fk(q), atol=1e-12)
            for j, value in enumerate(q):
                pb.resetJointState(body, j, value, physicsClientId=client)
            state = pb.getLinkState(
                body, len(links) - 1, computeForwardKinematics=True, physicsClientId=client
            )
            np.testing.assert_allclose(state[4], arm.fk(q)[:3, 3], atol=1e-6)
    finally:
        pb.disconnect(client)
    assert len(set(links)) == len(links) and links[-1] == arm.tip_link + (
        "_tool" if tool_m is None else ""
    )
    assert arm.tip_link == IIWA_LINKS[1] + ("" if tool_m is None else "_tool")


def test_chain_to_urdf_refuses_repeated_link_names():
    with pytest.raises(KinematicsError, match=r"name \['a'\] more than once"):
        chain_to_urdf(psm(), link_names=["rcm", "a", "b", "c", "d", "a", "e", "tip"])


def test_urdf_names_the_chain_after_its_robot():
    assert iiwa().name == "lbr_iiwa"
    nameless = '<robot><link name="a"/><link name="b"/>' + _joint("j", "a", "b") + "</robot>"
    assert chain_from_urdf_string(nameless, "a", "b", source="/x/arm.urdf").name == "arm"


@pytest.mark.parametrize("kind", ["revolute", "prismatic"])
def test_a_movable_urdf_joint_without_limit_is_refused_naming_it_and_the_file(kind):
    """The URDF spec requires <limit> on both: a revolute joint without one was read as
    unlimited and a prismatic one as locked at 0, silently (pybullet refuses the file)."""
    bare = f'<joint name="j" type="{kind}"><parent link="a"/><child link="b"/></joint>'
    text = f'<robot name="r">{LINKS}{bare}{_joint("k", "b", "c")}</robot>'
    with pytest.raises(KinematicsError, match=rf"arm.urdf: joint 'j' is {kind} but has no <limit"):
        chain_from_urdf_string(text, "a", "c", source="arm.urdf")
    # a joint off the path is not the chain's business
    assert chain_from_urdf_string(text, "b", "c").dof == 1


def test_one_sided_limits_are_refused_when_written_not_made_continuous():
    """A revolute joint limited to [0, inf) was written as continuous and read back as
    (-inf, inf)."""
    rows = [DHRow(0, 0, 0, 0, lower=0.0, upper=np.inf), DHRow(0, 0.1, 0, 0)]
    chain = Chain.from_modified_dh(rows)
    with pytest.raises(KinematicsError, match=r"limits \[0.0, inf\] cannot be written"):
        chain_to_urdf(chain)
    both = Chain.from_modified_dh([DHRow(0, 0, 0, 0), DHRow(0, 0.1, 0, 0, lower=-1, upper=1)])
    back = chain_from_urdf_string(chain_to_urdf(both), both.base_link, both.tip_link)
    np.testing.assert_array_equal(back.lower, [-np.inf, -1.0])


def test_axis_angle_round_trips_including_half_turns(rng):
    from kinematics.transforms import axis_angle, axis_rotation

    for _ in range(200):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        angle = rng.uniform(0.0, np.pi)
        R = axis_rotation(axis, angle)
        got_axis, got_angle = axis_angle(R)
        np.testing.assert_allclose(axis_rotation(got_axis, got_angle), R, atol=1e-9)
    half = axis_rotation(np.array([0.0, 0.6, 0.8]), np.pi)
    got_axis, got_angle = axis_angle(half)
    assert got_angle == pytest.approx(np.pi)
    np.testing.assert_allclose(abs(got_axis @ [0.0, 0.6, 0.8]), 1.0, atol=1e-9)


def _joint(name, parent, child):
    return (
        f'<joint name="{name}" type="revolute"><parent link="{parent}"/><child link="{child}"/>'
        '<axis xyz="0 0 1"/><limit lower="-1" upper="1" velocity="1" effort="1"/></joint>'
    )


LINKS = "".join(f'<link name="{n}"/>' for n in ("base", "a", "b", "c", "tip"))


def test_urdf_joint_cycle_above_the_tip_is_refused_naming_the_links(tmp_path):
    # tip hangs from b; b and c hang from each other: walking up never reaches base
    cycle = f'<robot name="r">{LINKS}{_joint("j0", "base", "a")}{_joint("j1", "b", "tip")}'
    cycle += f"{_joint('j2', 'c', 'b')}{_joint('j3', 'b', 'c')}</robot>"
    with pytest.raises(KinematicsError, match=r"cycle through the links b -> c -> b") as info:
        chain_from_urdf_string(cycle, "base", "tip")
    assert "'j2'" in str(info.value) and "'j3'" in str(info.value)
    path = tmp_path / "cycle.urdf"
    path.write_text(cycle)
    with pytest.raises(KinematicsError, match="cycle"):
        Chain.from_urdf(path, "base", "tip")
    through_tip = f'<robot name="r">{LINKS}{_joint("j1", "b", "tip")}'
    through_tip += f"{_joint('j2', 'c', 'b')}{_joint('j3', 'tip', 'c')}</robot>"
    with pytest.raises(KinematicsError, match=r"tip -> b -> c -> tip"):
        chain_from_urdf_string(through_tip, "base", "tip")


def test_urdf_link_with_two_parents_is_refused():
    two = f'<robot name="r">{LINKS}{_joint("j0", "base", "tip")}{_joint("j1", "a", "tip")}'
    with pytest.raises(KinematicsError, match=r"'tip' is the child of two joints, 'j0' and 'j1'"):
        chain_from_urdf_string(two + "</robot>", "base", "tip")
