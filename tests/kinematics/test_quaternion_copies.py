"""The numba copies of the rotation <-> quaternion conversion agree with
:mod:`kinematics.transforms` (the one numpy version; ``sim.xr.frames`` had a third copy).

The kernels cannot call numpy helpers, so each keeps its own Shepperd branch: the tool-tip
state (``kinematics._kernels.tip_state_world``, inlined) and teleoperation
(``haptics.teleop.kernels.quat_from_matrix`` / ``store_matrix``). Random rotations and the
half turns, where the trace is -1 and a careless branch divides by zero or picks a sign.
"""

from __future__ import annotations

import math

import numpy as np

from haptics.teleop import kernels as TK
from kinematics import _kernels as K
from kinematics import psm
from kinematics.transforms import axis_rotation, matrix_to_quat_xyzw, quat_xyzw_to_matrix


def _rotations() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = [quat_xyzw_to_matrix(q) for q in rng.normal(size=(200, 4))]
    for axis in ([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -1, 1], [0, 1, 1]):
        axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
        out += [axis_rotation(axis, math.pi), axis_rotation(axis, math.pi - 1e-9)]
    return [*out, np.eye(3)]


ROTATIONS = _rotations()


def _same_rotation(q, p) -> bool:
    """Equal as rotations: q and -q are one rotation (at w = 0 both have w >= 0)."""
    return min(np.abs(q - p).max(), np.abs(q + p).max()) < 1e-9


def test_the_numpy_pair_round_trips_with_w_not_negative():
    for R in ROTATIONS:
        q = matrix_to_quat_xyzw(R)
        assert q[3] >= 0 and abs(np.linalg.norm(q) - 1) < 1e-12
        np.testing.assert_allclose(quat_xyzw_to_matrix(q), R, atol=1e-9)


def test_the_tool_tip_state_kernel_converts_like_transforms():
    chain = psm()
    q = chain.random_q(np.random.default_rng(3))
    R_RT = chain.fk(q)[:3, :3]
    for R in ROTATIONS:
        X_WR = np.eye(4)
        X_WR[:3, :3] = R @ R_RT.T  # so the tip's world rotation is R
        state = K.tip_state_world(chain.frames, chain.joint_table, q, np.zeros(len(q)), X_WR)
        q_kernel = state[3:7]
        assert q_kernel[3] >= 0
        R_WT = X_WR[:3, :3] @ R_RT
        assert _same_rotation(q_kernel, matrix_to_quat_xyzw(R_WT))
        np.testing.assert_allclose(quat_xyzw_to_matrix(q_kernel), R_WT, atol=1e-9)


def test_the_teleoperation_kernels_convert_like_transforms():
    for R in ROTATIONS:
        q = np.array(TK.quat_from_matrix(R))
        assert q[3] >= 0
        assert _same_rotation(q, matrix_to_quat_xyzw(R))
        out = np.zeros((4, 4))
        TK.store_matrix(tuple(matrix_to_quat_xyzw(R)), out)
        np.testing.assert_allclose(out[:3, :3], R, atol=1e-12)
