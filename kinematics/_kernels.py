"""numba kernels for forward kinematics and Jacobians of packed serial chains.

A chain is packed into two contiguous float64 arrays so that numba functions take few
arguments (dispatch cost matters inside a 1 kHz loop):

* ``frames`` (dof + 1, 3, 4): for joint ``i`` the fixed transform from the previous
  joint's moving frame to joint ``i``'s frame, *before* the joint moves; row ``dof`` is
  the tool transform (tip link to tool tip).
* ``joints`` (dof, JOINT_FIELDS): unit axis in joint ``i``'s frame (3), type
  (0 revolute, 1 prismatic), lower and upper limit, and the finite range used to draw
  random restarts (lower, upper) — continuous joints have infinite limits but a finite
  sampling range.

Rotations travel as 9-tuples in row-major order: numba keeps them in registers, which
is several times faster than tiny heap arrays here.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

REVOLUTE = 0.0
PRISMATIC = 1.0

AXIS, TYPE, LOWER, UPPER, SAMPLE_LO, SAMPLE_HI = 0, 3, 4, 5, 6, 7
JOINT_FIELDS = 8

IDENTITY_ROT = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@njit(cache=True, inline="always")
def rot_mul(a, b):
    """Product of two row-major 3x3 rotations given as 9-tuples."""
    return (
        a[0] * b[0] + a[1] * b[3] + a[2] * b[6],
        a[0] * b[1] + a[1] * b[4] + a[2] * b[7],
        a[0] * b[2] + a[1] * b[5] + a[2] * b[8],
        a[3] * b[0] + a[4] * b[3] + a[5] * b[6],
        a[3] * b[1] + a[4] * b[4] + a[5] * b[7],
        a[3] * b[2] + a[4] * b[5] + a[5] * b[8],
        a[6] * b[0] + a[7] * b[3] + a[8] * b[6],
        a[6] * b[1] + a[7] * b[4] + a[8] * b[7],
        a[6] * b[2] + a[7] * b[5] + a[8] * b[8],
    )


@njit(cache=True, inline="always")
def axis_angle_rot(x, y, z, angle_rad):
    """Rodrigues rotation about the unit axis (x, y, z) by ``angle_rad``, as a 9-tuple."""
    c = math.cos(angle_rad)
    s = math.sin(angle_rad)
    t = 1.0 - c
    return (
        t * x * x + c,
        t * x * y - s * z,
        t * x * z + s * y,
        t * x * y + s * z,
        t * y * y + c,
        t * y * z - s * x,
        t * x * z - s * y,
        t * y * z + s * x,
        t * z * z + c,
    )


@njit(cache=True, inline="always")
def _apply_frame(R, p, F):
    """Compose the running pose (R, p) with the fixed 3x4 transform ``F``."""
    px = p[0] + R[0] * F[0, 3] + R[1] * F[1, 3] + R[2] * F[2, 3]
    py = p[1] + R[3] * F[0, 3] + R[4] * F[1, 3] + R[5] * F[2, 3]
    pz = p[2] + R[6] * F[0, 3] + R[7] * F[1, 3] + R[8] * F[2, 3]
    Fr = (F[0, 0], F[0, 1], F[0, 2], F[1, 0], F[1, 1], F[1, 2], F[2, 0], F[2, 1], F[2, 2])
    return rot_mul(R, Fr), (px, py, pz)


@njit(cache=True)
def forward(frames, joints, q, axes_w, origins_w):
    """Tip pose of the chain at ``q`` and, per joint, its world axis and origin.

    Args:
        frames, joints: the packed chain (see module docstring).
        q: joint values (rad or m), shape (dof,).
        axes_w: output (dof, 3), unit joint axes in the base frame (for the Jacobian).
        origins_w: output (dof, 3), joint frame origins in the base frame (m).

    Returns:
        (R, p): tip rotation as a row-major 9-tuple and tip position (m) as a 3-tuple.
    """
    n = joints.shape[0]
    R = IDENTITY_ROT
    p = (0.0, 0.0, 0.0)
    for i in range(n):
        R, p = _apply_frame(R, p, frames[i])
        ux = joints[i, 0]
        uy = joints[i, 1]
        uz = joints[i, 2]
        wx = R[0] * ux + R[1] * uy + R[2] * uz
        wy = R[3] * ux + R[4] * uy + R[5] * uz
        wz = R[6] * ux + R[7] * uy + R[8] * uz
        axes_w[i, 0] = wx
        axes_w[i, 1] = wy
        axes_w[i, 2] = wz
        origins_w[i, 0] = p[0]
        origins_w[i, 1] = p[1]
        origins_w[i, 2] = p[2]
        if joints[i, 3] == REVOLUTE:
            R = rot_mul(R, axis_angle_rot(ux, uy, uz, q[i]))
        else:
            p = (p[0] + wx * q[i], p[1] + wy * q[i], p[2] + wz * q[i])
    return _apply_frame(R, p, frames[n])


@njit(cache=True)
def jacobian_into(joints, axes_w, origins_w, p, J, row_scale_linear):
    """Geometric Jacobian at the tip point ``p``: linear rows 0-2 (scaled), angular 3-5.

    ``row_scale_linear`` lets the IK weight metres against radians without a copy.
    """
    n = joints.shape[0]
    for i in range(n):
        wx = axes_w[i, 0]
        wy = axes_w[i, 1]
        wz = axes_w[i, 2]
        if joints[i, 3] == REVOLUTE:
            dx = p[0] - origins_w[i, 0]
            dy = p[1] - origins_w[i, 1]
            dz = p[2] - origins_w[i, 2]
            J[0, i] = (wy * dz - wz * dy) * row_scale_linear
            J[1, i] = (wz * dx - wx * dz) * row_scale_linear
            J[2, i] = (wx * dy - wy * dx) * row_scale_linear
            J[3, i] = wx
            J[4, i] = wy
            J[5, i] = wz
        else:
            J[0, i] = wx * row_scale_linear
            J[1, i] = wy * row_scale_linear
            J[2, i] = wz * row_scale_linear
            J[3, i] = 0.0
            J[4, i] = 0.0
            J[5, i] = 0.0


@njit(cache=True, inline="always")
def _store_pose(R, p, X):
    for a in range(3):
        for b in range(3):
            X[a, b] = R[3 * a + b]
        X[a, 3] = p[a]
        X[3, a] = 0.0
    X[3, 3] = 1.0


@njit(cache=True)
def fk_single(frames, joints, q):
    """4x4 tip pose in the base frame for one joint vector."""
    n = joints.shape[0]
    axes_w = np.empty((n, 3))
    origins_w = np.empty((n, 3))
    R, p = forward(frames, joints, q, axes_w, origins_w)
    X = np.empty((4, 4))
    _store_pose(R, p, X)
    return X


@njit(cache=True, parallel=True)
def fk_many(frames, joints, Q):
    """4x4 tip poses for many joint vectors (N, dof), in parallel over cores."""
    N = Q.shape[0]
    n = joints.shape[0]
    out = np.empty((N, 4, 4))
    for k in prange(N):
        axes_w = np.empty((n, 3))
        origins_w = np.empty((n, 3))
        R, p = forward(frames, joints, Q[k], axes_w, origins_w)
        _store_pose(R, p, out[k])
    return out


@njit(cache=True)
def link_frames(frames, joints, q):
    """Poses of every moving frame: (dof + 1, 4, 4), joint i's child frame then the tool tip."""
    n = joints.shape[0]
    out = np.empty((n + 1, 4, 4))
    R = IDENTITY_ROT
    p = (0.0, 0.0, 0.0)
    for i in range(n):
        R, p = _apply_frame(R, p, frames[i])
        ux = joints[i, 0]
        uy = joints[i, 1]
        uz = joints[i, 2]
        if joints[i, 3] == REVOLUTE:
            R = rot_mul(R, axis_angle_rot(ux, uy, uz, q[i]))
        else:
            wx = R[0] * ux + R[1] * uy + R[2] * uz
            wy = R[3] * ux + R[4] * uy + R[5] * uz
            wz = R[6] * ux + R[7] * uy + R[8] * uz
            p = (p[0] + wx * q[i], p[1] + wy * q[i], p[2] + wz * q[i])
        _store_pose(R, p, out[i])
    R, p = _apply_frame(R, p, frames[n])
    _store_pose(R, p, out[n])
    return out


@njit(cache=True)
def jacobian_single(frames, joints, q):
    """(6, dof) geometric Jacobian at the tool tip, base frame, linear rows first."""
    n = joints.shape[0]
    axes_w = np.empty((n, 3))
    origins_w = np.empty((n, 3))
    _, p = forward(frames, joints, q, axes_w, origins_w)
    J = np.empty((6, n))
    jacobian_into(joints, axes_w, origins_w, p, J, 1.0)
    return J


@njit(cache=True)
def tip_state_world(frames, joints, q, qd, X_WR):
    """Tool-tip pose and twist in the world, in one call (what a grasp follows each step).

    Args:
        X_WR: the chain base's pose in the world (4x4).

    Returns:
        (13,) array: position (3, m), quaternion xyzw (4, w >= 0), linear velocity (3,
        m/s) and angular velocity (3, rad/s), all in the world frame.
    """
    n = joints.shape[0]
    axes_w = np.empty((n, 3))
    origins_w = np.empty((n, 3))
    R, p = forward(frames, joints, q, axes_w, origins_w)
    J = np.empty((6, n))
    jacobian_into(joints, axes_w, origins_w, p, J, 1.0)
    out = np.empty(13)
    for a in range(3):
        out[a] = X_WR[a, 0] * p[0] + X_WR[a, 1] * p[1] + X_WR[a, 2] * p[2] + X_WR[a, 3]
    Rw = np.empty((3, 3))
    for a in range(3):
        for b in range(3):
            Rw[a, b] = X_WR[a, 0] * R[b] + X_WR[a, 1] * R[3 + b] + X_WR[a, 2] * R[6 + b]
    tr = Rw[0, 0] + Rw[1, 1] + Rw[2, 2]
    if tr > 0.0:
        s = 2.0 * math.sqrt(tr + 1.0)
        w, x = 0.25 * s, (Rw[2, 1] - Rw[1, 2]) / s
        y, z = (Rw[0, 2] - Rw[2, 0]) / s, (Rw[1, 0] - Rw[0, 1]) / s
    elif Rw[0, 0] > Rw[1, 1] and Rw[0, 0] > Rw[2, 2]:
        s = 2.0 * math.sqrt(1.0 + Rw[0, 0] - Rw[1, 1] - Rw[2, 2])
        w, x = (Rw[2, 1] - Rw[1, 2]) / s, 0.25 * s
        y, z = (Rw[0, 1] + Rw[1, 0]) / s, (Rw[0, 2] + Rw[2, 0]) / s
    elif Rw[1, 1] > Rw[2, 2]:
        s = 2.0 * math.sqrt(1.0 + Rw[1, 1] - Rw[0, 0] - Rw[2, 2])
        w, x = (Rw[0, 2] - Rw[2, 0]) / s, (Rw[0, 1] + Rw[1, 0]) / s
        y, z = 0.25 * s, (Rw[1, 2] + Rw[2, 1]) / s
    else:
        s = 2.0 * math.sqrt(1.0 + Rw[2, 2] - Rw[0, 0] - Rw[1, 1])
        w, x = (Rw[1, 0] - Rw[0, 1]) / s, (Rw[0, 2] + Rw[2, 0]) / s
        y, z = (Rw[1, 2] + Rw[2, 1]) / s, 0.25 * s
    sign = 1.0 if w >= 0.0 else -1.0
    out[3], out[4], out[5], out[6] = sign * x, sign * y, sign * z, sign * w
    for k in range(2):  # linear, then angular velocity: R_WR (J qd)
        t0 = t1 = t2 = 0.0
        for i in range(n):
            t0 += J[3 * k, i] * qd[i]
            t1 += J[3 * k + 1, i] * qd[i]
            t2 += J[3 * k + 2, i] * qd[i]
        for a in range(3):
            out[7 + 3 * k + a] = X_WR[a, 0] * t0 + X_WR[a, 1] * t1 + X_WR[a, 2] * t2
    return out
