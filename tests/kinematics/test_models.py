"""The dVRK PSM and ECM against the published reference poses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kinematics import psm
from kinematics.models import ECM_ROWS, PSM_JAW_LIMITS_RAD, ecm


def test_psm_home_pose():
    X = psm().fk(np.zeros(6))
    np.testing.assert_allclose(X[:3, 3], [0, 0, 0.0065], atol=1e-12)
    np.testing.assert_allclose(X[:3, :3], [[0, 1, 0], [1, 0, 0], [0, 0, -1]], atol=1e-12)


def test_psm_insertion_moves_tip_down_the_shaft():
    X = psm().fk([0, 0, 0.12, 0, 0, 0])
    np.testing.assert_allclose(X[:3, 3], [0, 0, -0.1135], atol=1e-12)


def test_psm_yaw_swings_the_shaft():
    X = psm().fk([-math.pi / 6, 0, 0.12, 0, 0, 0])
    np.testing.assert_allclose(X[:3, 3], [-0.05675, 0, -0.098294], atol=1e-6)


def test_psm_shaft_passes_through_rcm_whatever_the_outer_joints():
    arm = psm()
    rng = np.random.default_rng(3)
    for _ in range(50):
        q = arm.random_q(rng)
        q[3:] = 0.0  # wrist straight: the tip frame's z axis is the shaft
        X = arm.fk(q)
        z, p = X[:3, 2], X[:3, 3]
        assert np.linalg.norm(p - (p @ z) * z) < 1e-12


def test_psm_interface():
    arm = psm()
    assert arm.dof == 6
    assert arm.joint_names == ["yaw", "pitch", "insertion", "roll", "wrist_pitch", "wrist_yaw"]
    np.testing.assert_allclose(arm.lower, [-1.588, -0.925025, 0, -4.53786, -1.39626, -1.39626])
    np.testing.assert_allclose(arm.upper, [1.588, 0.925025, 0.24, 4.53786, 1.39626, 1.39626])
    assert arm.is_prismatic.tolist() == [False, False, True, False, False, False]
    assert pytest.approx((-0.698132, 1.39626)) == PSM_JAW_LIMITS_RAD
    assert arm.base_link == "rcm"


def test_ecm_home_and_insertion():
    arm = ecm()
    assert arm.joint_names == ["yaw", "pitch", "insertion", "roll"]
    X0 = arm.fk(np.zeros(4))
    # insertion offset -0.3822 then roll d 0.3829: the scope tip sits 0.7 mm beyond the RCM
    np.testing.assert_allclose(X0[:3, 3], [0, 0, -0.0007], atol=1e-12)
    X1 = arm.fk([0, 0, 0.1, 0])
    np.testing.assert_allclose(X1[:3, 3], [0, 0, -0.1007], atol=1e-12)
    np.testing.assert_allclose(arm.lower, [r.lower for r in ECM_ROWS])
    np.testing.assert_allclose(arm.upper, [r.upper for r in ECM_ROWS])


def test_ecm_scope_looks_along_the_shaft():
    arm = ecm()
    X = arm.fk([0.3, -0.2, 0.1, 0.4])
    p = X[:3, 3]
    # the viewing axis (z) points along the line from the RCM out to the scope tip
    assert X[:3, 2] @ (p / np.linalg.norm(p)) == pytest.approx(1.0, abs=1e-12)
