"""FK and Jacobians against pybullet and against an independent double-precision reference."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pybullet as pb
import pytest

from kinematics import ecm, psm
from kinematics.transforms import pose, rpy_to_matrix
from kinematics.urdf import chain_to_urdf

from .arms import IIWA_LINKS, IIWA_URDF, PANDA_LINKS, PANDA_URDF, iiwa, panda


def _axis_rotation(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K


def reference_fk(urdf_text: str, base: str, tip: str, q_by_joint: dict[str, float]) -> np.ndarray:
    """Straight-line numpy FK over the raw URDF tree: shares no code with the kernels."""
    root = ET.fromstring(urdf_text)
    by_child = {j.find("child").get("link"): j for j in root.findall("joint")}
    path = []
    link = tip
    while link != base:
        joint = by_child[link]
        path.append(joint)
        link = joint.find("parent").get("link")
    X = np.eye(4)
    for joint in reversed(path):
        origin = joint.find("origin")
        attrs = origin.attrib if origin is not None else {}
        xyz = [float(v) for v in attrs.get("xyz", "0 0 0").split()]
        rpy = [float(v) for v in attrs.get("rpy", "0 0 0").split()]
        X = X @ pose(rpy_to_matrix(*rpy), xyz)
        kind = joint.get("type")
        if kind == "fixed":
            continue
        axis_el = joint.find("axis")
        axis = [float(v) for v in axis_el.get("xyz").split()] if axis_el is not None else [1, 0, 0]
        qi = q_by_joint[joint.get("name")]
        M = np.eye(4)
        if kind == "prismatic":
            M[:3, 3] = np.asarray(axis) / np.linalg.norm(axis) * qi
        else:
            M[:3, :3] = _axis_rotation(axis, qi)
        X = X @ M
    return X


CASES = {
    "iiwa": (iiwa, lambda: IIWA_URDF.read_text(), IIWA_LINKS),
    "panda": (panda, lambda: PANDA_URDF.read_text(), PANDA_LINKS),
    "psm": (psm, lambda: chain_to_urdf(psm()), ("rcm", "tool_tip")),
    "ecm": (ecm, lambda: chain_to_urdf(ecm()), ("rcm", "tool_tip")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fk_equals_double_precision_reference(name, rng):
    make, urdf_text, (base, tip) = CASES[name]
    chain = make()
    text = urdf_text()
    for _ in range(50):
        q = chain.random_q(rng)
        expected = reference_fk(text, base, tip, dict(zip(chain.joint_names, q, strict=True)))
        np.testing.assert_allclose(chain.fk(q), expected, atol=1e-12)


@pytest.fixture
def bullet():
    client = pb.connect(pb.DIRECT)
    yield client
    pb.disconnect(client)


def _load(bullet, name, tmp_path):
    make, urdf_text, (_base, tip) = CASES[name]
    chain = make()
    path = tmp_path / f"{name}.urdf"
    path.write_text(urdf_text())
    if name in ("iiwa", "panda"):
        path = IIWA_URDF if name == "iiwa" else PANDA_URDF
    body = pb.loadURDF(str(path), useFixedBase=True, physicsClientId=bullet)
    index = {
        pb.getJointInfo(body, j, physicsClientId=bullet)[12].decode(): j
        for j in range(pb.getNumJoints(body, physicsClientId=bullet))
    }
    movable = [
        j
        for j in range(pb.getNumJoints(body, physicsClientId=bullet))
        if pb.getJointInfo(body, j, physicsClientId=bullet)[2] != pb.JOINT_FIXED
    ]
    return chain, body, index, movable, tip


def _set(bullet, body, chain, movable, q):
    names = chain.joint_names
    for j in movable:
        jname = pb.getJointInfo(body, j, physicsClientId=bullet)[1].decode()
        value = q[names.index(jname)] if jname in names else 0.0
        pb.resetJointState(body, j, value, physicsClientId=bullet)


def _link_pose(bullet, body, link_index):
    state = pb.getLinkState(body, link_index, computeForwardKinematics=True, physicsClientId=bullet)
    R = np.array(pb.getMatrixFromQuaternion(state[5])).reshape(3, 3)
    return pose(R, state[4])


@pytest.mark.parametrize("name", sorted(CASES))
def test_link_frames_equal_pybullet(name, bullet, tmp_path, rng):
    chain, body, index, movable, tip = _load(bullet, name, tmp_path)
    for _ in range(30):
        q = chain.random_q(rng)
        _set(bullet, body, chain, movable, q)
        frames = chain.link_frames(q)
        for i, link in enumerate([*chain.link_names, tip]):
            np.testing.assert_allclose(frames[i], _link_pose(bullet, body, index[link]), atol=2e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jacobian_equals_pybullet(name, bullet, tmp_path, rng):
    chain, body, index, movable, tip = _load(bullet, name, tmp_path)
    link = index[tip]
    # measured: pybullet 3.2.7 takes localPosition in the URDF link frame, not the COM frame
    names = [pb.getJointInfo(body, j, physicsClientId=bullet)[1].decode() for j in movable]
    for _ in range(20):
        q = chain.random_q(rng)
        _set(bullet, body, chain, movable, q)
        q_all = [q[chain.joint_names.index(n)] if n in chain.joint_names else 0.0 for n in names]
        zeros = [0.0] * len(q_all)
        lin, ang = pb.calculateJacobian(
            body, link, [0.0, 0.0, 0.0], q_all, zeros, zeros, physicsClientId=bullet
        )
        cols = [names.index(n) for n in chain.joint_names]
        expected = np.vstack([np.array(lin)[:, cols], np.array(ang)[:, cols]])
        np.testing.assert_allclose(chain.jacobian(q), expected, atol=1e-9)


def test_jacobian_matches_finite_differences(arm, rng):
    h = 1e-6
    for _ in range(30):
        q = arm.random_q(rng)
        J = arm.jacobian(q)
        X = arm.fk(q)
        for i in range(arm.dof):
            dq = np.zeros(arm.dof)
            dq[i] = h
            Xp, Xm = arm.fk(q + dq), arm.fk(q - dq)
            v = (Xp[:3, 3] - Xm[:3, 3]) / (2 * h)
            dR = (Xp[:3, :3] - Xm[:3, :3]) / (2 * h) @ X[:3, :3].T
            w = np.array([dR[2, 1], dR[0, 2], dR[1, 0]])
            np.testing.assert_allclose(J[:3, i], v, atol=1e-8)
            np.testing.assert_allclose(J[3:, i], w, atol=1e-8)


def test_fk_batch_equals_fk(arm, rng):
    Q = arm.random_q(rng, 64)
    X = arm.fk_batch(Q)
    for k in range(len(Q)):
        np.testing.assert_array_equal(X[k], arm.fk(Q[k]))


def test_with_tool_appends_transform(rng):
    arm = iiwa()
    tool = pose(rpy_to_matrix(0.1, 0.2, 0.3), [0.01, 0.02, 0.3])
    q = arm.random_q(rng)
    np.testing.assert_allclose(arm.with_tool(tool).fk(q), arm.fk(q) @ tool, atol=1e-14)
    assert arm.with_tool(tool).dof == arm.dof
