"""``is_rotation``: what configuration checks accept as a mapping rotation."""

import math

import numpy as np

from kinematics.transforms import is_rotation, rot_x, rot_z


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
