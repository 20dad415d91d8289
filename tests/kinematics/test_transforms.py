"""``is_rotation``: what configuration checks accept as a mapping rotation."""

import math

import numpy as np
import pytest

from kinematics import KinematicsError
from kinematics.transforms import (
    axis_angle,
    axis_rotation,
    is_rotation,
    quat_xyzw_to_matrix,
    rot_x,
    rot_z,
)


def test_rotations_pass_and_scaled_mirrored_or_broken_matrices_fail():
    assert is_rotation(np.eye(3))
    assert is_rotation((rot_z(0.7) @ rot_x(-2.1))[:3, :3])
    assert is_rotation(rot_z(0.3)[:3, :3].tolist())  # any array-like
    assert not is_rotation(1.0001 * np.eye(3), 1e-6)  # a scale
    assert not is_rotation(np.diag([1.0, 1.0, -1.0]))  # a mirror
    assert not is_rotation(np.eye(4))
    nan = np.eye(3)
    nan[0, 1] = math.nan
    assert not is_rotation(nan)
    assert not is_rotation(np.zeros((3, 3)))


@pytest.mark.parametrize("q", [[0, 0, 0, 0], [math.nan, 0, 0, 1], [math.inf, 0, 0, 1]])
def test_a_zero_or_non_finite_quaternion_is_refused(q):
    """[0, 0, 0, 0] raised ZeroDivisionError; a NaN one gave a NaN matrix silently."""
    with pytest.raises(KinematicsError, match=r"not a rotation"):
        quat_xyzw_to_matrix(q)


@pytest.mark.parametrize("below_pi", [0.0, 1e-9, 1e-7, 1e-4, 0.3, 0.8])
def test_axis_angle_matches_scipy_just_below_a_half_turn(below_pi):
    """At pi - 1e-9 the axis from the skew part was off by ~1e-7 (1e-15 elsewhere)."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(int(below_pi * 1e9) % 1000)
    for axis in rng.normal(size=(50, 3)):
        axis /= np.linalg.norm(axis)
        rotvec = Rotation.from_rotvec(axis * (math.pi - below_pi))
        got_axis, got_angle = axis_angle(rotvec.as_matrix())
        assert got_angle == pytest.approx(math.pi - below_pi, abs=1e-12)
        if below_pi > 0:  # at pi itself the axis' sign is a free choice
            np.testing.assert_allclose(got_axis, axis, atol=1e-12)
        np.testing.assert_allclose(
            axis_rotation(got_axis, got_angle), rotvec.as_matrix(), atol=1e-12
        )
