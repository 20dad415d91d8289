"""The generated URDFs in pybullet are exactly the kinematics chains, alone and mounted."""

from __future__ import annotations

import numpy as np
import pybullet as pb
import pytest

from assets import ROBOTS_DIR
from kinematics import ecm, psm
from kinematics.transforms import pose, quat_xyzw_to_matrix
from sim.world.robots import port_pose
from sim.world.scripted import peg_transfer_scene
from sim.world.world import World

CHAINS = {"psm": psm, "ecm": ecm}


def _link_pose(client, body, link) -> np.ndarray:
    s = pb.getLinkState(body, link, computeForwardKinematics=True, physicsClientId=client)
    return pose(quat_xyzw_to_matrix(s[5]), s[4])


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_urdf_link_frames_equal_chain_fk(name, rng):
    chain = CHAINS[name]()
    client = pb.connect(pb.DIRECT)
    try:
        body = pb.loadURDF(
            str(ROBOTS_DIR / f"{name}.urdf"), useFixedBase=True, physicsClientId=client
        )
        info = [
            pb.getJointInfo(body, j, physicsClientId=client)
            for j in range(pb.getNumJoints(body, physicsClientId=client))
        ]
        joint_index = {i[1].decode(): i[0] for i in info}
        link_index = {i[12].decode(): i[0] for i in info}
        links = [i[12].decode() for i in info if i[1].decode() in chain.joint_names] + ["tool_tip"]
        assert len(links) == chain.dof + 1
        for _ in range(30):
            q = chain.random_q(rng)
            for joint, value in zip(chain.joint_names, q, strict=True):
                pb.resetJointState(body, joint_index[joint], value, physicsClientId=client)
            frames = chain.link_frames(q)
            for k, link in enumerate(links):
                np.testing.assert_allclose(
                    _link_pose(client, body, link_index[link]), frames[k], atol=2e-6
                )
    finally:
        pb.disconnect(client)


def test_mounted_arms_report_the_pose_pybullet_sees(rng):
    with World(peg_transfer_scene()) as world:
        for arm in world.arms.values():
            q = arm.chain.random_q(rng)
            for index, value in zip(arm._joint_index, q, strict=True):
                pb.resetJointState(arm.body, index, value, physicsClientId=world.client)
            arm.sense()  # joints moved behind the world's back: measure them again
            X_pb = _link_pose(world.client, arm.body, arm.links["tool_tip"])
            np.testing.assert_allclose(arm.measured_cp(), X_pb, atol=2e-6)
            np.testing.assert_allclose(arm.measured_cp("rcm"), arm.chain.fk(q), atol=1e-12)


def test_port_pose_aims_the_shaft_at_the_target():
    port, target = np.array([-0.09, -0.08, 0.14]), np.array([-0.02, 0.0, 0.01])
    X_WR = port_pose(port, look_at_m=target)
    chain = psm()
    q = np.zeros(chain.dof)
    q[2] = 0.15
    tip = (X_WR @ chain.fk(q))[:3, 3]
    direction = (tip - port) / np.linalg.norm(tip - port)
    np.testing.assert_allclose(
        direction, (target - port) / np.linalg.norm(target - port), atol=1e-9
    )
    assert abs(X_WR[2, 0]) < 1e-12  # x axis horizontal
    np.testing.assert_allclose(X_WR[:3, :3].T @ X_WR[:3, :3], np.eye(3), atol=1e-12)
