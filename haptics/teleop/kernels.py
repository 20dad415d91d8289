"""The numeric core of teleoperation, in numba: per-sample checks, mapping and limits.

Why numba: the session runs the pipeline at 500-1000 Hz for two or three arms inside a
step budget of tens of microseconds; the same arithmetic on small numpy arrays costs
about 1 µs per operation. Rotations are unit quaternions in ``xyzw`` order, passed as
4-tuples inside the kernels (no allocation). Every rotation that enters is converted to
a quaternion and renormalised, and every rotation that leaves is rebuilt from a unit
quaternion, so targets are rigid to machine precision whatever came in.

State lives in one float64 vector ``S`` per arm (offsets below) and the limits in one
vector ``P``: one array argument each keeps a kernel call cheap (numba's dispatcher
pays per argument). :class:`~haptics.teleop.pipeline.Teleoperation` owns both.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from haptics.master import MAX_HAND_DISTANCE_M

# ---- offsets in the state vector S ------------------------------------------------------
P_TGT = 0  # target position in R (m), 3
Q_TGT = 3  # target orientation R_RT (quaternion xyzw), 4
P_REF_M = 7  # filtered hand position at the reference (m, M), 3
P_REF_R = 10  # target position at the reference (m, R), 3
Q_REF_MH = 13  # hand orientation at the reference, 4
Q_REF_RT = 17  # target orientation at the reference, 4
Q_RM = 21  # rotation from the master frame M to R: R_RC @ R_CM, 4
Q_HAND = 25  # orientation of the last accepted sample (renormalised), 4
P_LAST_M = 29  # filtered hand position at the last followed sample, 3
Q_LAST_HAND = 32  # hand orientation at the last followed sample, 4
WALL_M = 36  # how far the hand is past the workspace wall (m, M, hand metres), 3
P_HAND = 39  # position of the last accepted sample (m, M), unfiltered, 3
X_TGT = 42  # the target as a 4x4 pose, row-major (kept up to date for the output), 16
MOVE_LEFT = 58  # the translation limit left unused by earlier samples (m), carried over
TURN_LEFT = 59  # the rotation limit left unused by earlier samples (rad), carried over
STATE_SIZE = 60

# ---- offsets in the limits vector P -----------------------------------------------------
SCALE = 0  # translation scale
ROT_SCALE = 1  # rotation scale
V_MAX = 2  # tip speed limit (m/s)
W_MAX = 3  # tip angular speed limit (rad/s)
LOWER = 4  # workspace box lower corner in R (m), 3
UPPER = 7  # workspace box upper corner in R (m), 3
CARRY_S = 10  # how much unused limit carries over to the next samples, in seconds of it
PARAM_SIZE = 11

# ---- results ------------------------------------------------------------------------------
#: follow() flags
WALL = 1
SPEED = 2
ANGULAR = 4
NONFINITE = 8  # the mapped target came out NaN/inf: nothing was changed
FILTER_BAD = 16  # the filtered position given was NaN/inf: nothing was changed
#: a limit is reported when the wanted motion exceeds it by more than this fraction and
#: 1e-12 (m or rad); the motion is clipped regardless. Stamp differences and renormalised
#: rotations carry rounding in their last bits.
FLAG_MARGIN = 1e-6

#: hand_status() codes -> what was wrong
HAND_PROBLEMS = {
    1: "pose contains NaN/inf",
    2: "pose bottom row is not [0, 0, 0, 1]",
    3: "pose rotation is not orthonormal",
    4: "pose rotation is a reflection (det < 0)",
    5: f"handle is more than {MAX_HAND_DISTANCE_M:g} m from the master base",
}

#: camera_status() codes
CAMERA_SAME = 0
CAMERA_NEW = 1
CAMERA_BAD = 2


# ---- quaternions (xyzw 4-tuples) ---------------------------------------------------------
@njit(cache=True, inline="always")
def qget(S, i):
    """The quaternion stored at ``S[i:i+4]``."""
    return (S[i], S[i + 1], S[i + 2], S[i + 3])


@njit(cache=True, inline="always")
def qput(S, i, q):
    """Store the quaternion ``q`` at ``S[i:i+4]``."""
    S[i], S[i + 1], S[i + 2], S[i + 3] = q[0], q[1], q[2], q[3]


@njit(cache=True, inline="always")
def qmul(a, b):
    """Hamilton product ``a ⊗ b`` (rotate by b, then by a)."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


@njit(cache=True, inline="always")
def qconj(q):
    """Inverse of a unit quaternion."""
    return (-q[0], -q[1], -q[2], q[3])


@njit(cache=True, inline="always")
def qnormalize(q):
    """``q`` scaled to unit length, with w >= 0 (the same rotation); identity for 0."""
    n = math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
    if not n > 0.0:
        return (0.0, 0.0, 0.0, 1.0)
    if q[3] < 0.0:
        n = -n
    return (q[0] / n, q[1] / n, q[2] / n, q[3] / n)


@njit(cache=True, inline="always")
def qrotate(q, x, y, z):
    """Rotate the vector (x, y, z) by the unit quaternion ``q``."""
    qx, qy, qz, qw = q
    # t = 2 q_v x v; v' = v + w t + q_v x t
    tx = 2.0 * (qy * z - qz * y)
    ty = 2.0 * (qz * x - qx * z)
    tz = 2.0 * (qx * y - qy * x)
    return (
        x + qw * tx + (qy * tz - qz * ty),
        y + qw * ty + (qz * tx - qx * tz),
        z + qw * tz + (qx * ty - qy * tx),
    )


@njit(cache=True, inline="always")
def qangle(q):
    """Rotation angle of the unit quaternion ``q`` (rad, 0..pi), accurate near 0 and pi."""
    v = math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2])
    return 2.0 * math.atan2(v, abs(q[3]))


@njit(cache=True, inline="always")
def qpow(q, s):
    """The rotation ``q`` scaled to ``s`` times its angle (shortest arc)."""
    if q[3] < 0.0:
        q = (-q[0], -q[1], -q[2], -q[3])
    v = math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2])
    if v < 1e-300:
        return (0.0, 0.0, 0.0, 1.0)
    half = s * math.atan2(v, q[3])
    k = math.sin(half) / v
    return (q[0] * k, q[1] * k, q[2] * k, math.cos(half))


@njit(cache=True, inline="always")
def quat_from_matrix(R):
    """Unit quaternion (w >= 0) of the upper-left 3x3 block of ``R`` (Shepperd's method).

    For a nearly orthonormal block this is a projection onto the rotations; the result
    is renormalised, so what leaves is a rotation to machine precision.
    """
    m00, m01, m02 = R[0, 0], R[0, 1], R[0, 2]
    m10, m11, m12 = R[1, 0], R[1, 1], R[1, 2]
    m20, m21, m22 = R[2, 0], R[2, 1], R[2, 2]
    tr = m00 + m11 + m22
    if tr > 0.0:
        s = 2.0 * math.sqrt(tr + 1.0)
        q = (m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s, 0.25 * s
    elif m00 > m11 and m00 > m22:
        s = 2.0 * math.sqrt(1.0 + m00 - m11 - m22)
        q = 0.25 * s, (m01 + m10) / s, (m02 + m20) / s, (m21 - m12) / s
    elif m11 > m22:
        s = 2.0 * math.sqrt(1.0 + m11 - m00 - m22)
        q = (m01 + m10) / s, 0.25 * s, (m12 + m21) / s, (m02 - m20) / s
    else:
        s = 2.0 * math.sqrt(1.0 + m22 - m00 - m11)
        q = (m02 + m20) / s, (m12 + m21) / s, 0.25 * s, (m10 - m01) / s
    return qnormalize(q)


@njit(cache=True, inline="always")
def store_matrix(q, R):
    """Write the rotation matrix of the unit quaternion ``q`` into ``R[:3, :3]``."""
    x, y, z, w = q
    R[0, 0] = 1.0 - 2.0 * (y * y + z * z)
    R[0, 1] = 2.0 * (x * y - z * w)
    R[0, 2] = 2.0 * (x * z + y * w)
    R[1, 0] = 2.0 * (x * y + z * w)
    R[1, 1] = 1.0 - 2.0 * (x * x + z * z)
    R[1, 2] = 2.0 * (y * z - x * w)
    R[2, 0] = 2.0 * (x * z - y * w)
    R[2, 1] = 2.0 * (y * z + x * w)
    R[2, 2] = 1.0 - 2.0 * (x * x + y * y)


@njit(cache=True, inline="always")
def rotate_toward(q, goal, max_angle):
    """Turn ``q`` towards ``goal`` by at most ``max_angle`` (rad); returns (q', the angle
    that was wanted)."""
    d = qmul(qconj(q), goal)
    if d[3] < 0.0:
        d = (-d[0], -d[1], -d[2], -d[3])
    angle = qangle(d)
    if angle <= max_angle:
        return qnormalize(goal), angle
    v = math.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
    k = math.sin(0.5 * max_angle) / v
    step = (d[0] * k, d[1] * k, d[2] * k, math.cos(0.5 * max_angle))
    return qnormalize(qmul(q, step)), angle


# ---- checks ----------------------------------------------------------------------------------
@njit(cache=True)
def rigid_status(X, tolerance):
    """0 when ``X`` is a finite 4x4 rigid transform within ``tolerance``, else 1 (NaN/inf),
    2 (bottom row), 3 (rotation not orthonormal) or 4 (reflection)."""
    for a in range(4):
        for b in range(4):
            if not math.isfinite(X[a, b]):
                return 1
    if (
        abs(X[3, 0]) > tolerance
        or abs(X[3, 1]) > tolerance
        or abs(X[3, 2]) > tolerance
        or abs(X[3, 3] - 1.0) > tolerance
    ):
        return 2
    for a in range(3):
        for b in range(3):
            dot = X[0, a] * X[0, b] + X[1, a] * X[1, b] + X[2, a] * X[2, b]
            if abs(dot - (1.0 if a == b else 0.0)) > tolerance:
                return 3
    det = (
        X[0, 0] * (X[1, 1] * X[2, 2] - X[1, 2] * X[2, 1])
        - X[0, 1] * (X[1, 0] * X[2, 2] - X[1, 2] * X[2, 0])
        + X[0, 2] * (X[1, 0] * X[2, 1] - X[1, 1] * X[2, 0])
    )
    if det < 0.0:
        return 4
    return 0


@njit(cache=True)
def hand_status(X, S, tolerance, max_distance_m):
    """Check a handle pose (rigid within ``tolerance``, at most ``max_distance_m`` from the
    base); when usable store its renormalised orientation at ``Q_HAND`` and its position
    at ``P_HAND``. Returns 0 or a key of :data:`HAND_PROBLEMS`.

    (The limits are arguments, not globals: numba's cache would keep a global's old value
    after it changed in another file.)
    """
    code = rigid_status(X, tolerance)
    if code:
        return code
    if X[0, 3] * X[0, 3] + X[1, 3] * X[1, 3] + X[2, 3] * X[2, 3] > max_distance_m**2:
        return 5
    qput(S, Q_HAND, quat_from_matrix(X))
    S[P_HAND], S[P_HAND + 1], S[P_HAND + 2] = X[0, 3], X[1, 3], X[2, 3]
    return 0


@njit(cache=True)
def camera_status(X_new, X_last, tolerance):
    """``CAMERA_SAME`` when ``X_new`` equals the last accepted input exactly, ``CAMERA_NEW``
    when it differs and is rigid within ``tolerance``, else ``CAMERA_BAD``."""
    same = True
    for a in range(4):
        for b in range(4):
            if X_new[a, b] != X_last[a, b]:
                same = False
    if same:
        return CAMERA_SAME
    if rigid_status(X_new, tolerance):
        return CAMERA_BAD
    return CAMERA_NEW


@njit(cache=True)
def rigid_copy(X):
    """A new 4x4 with the rotation of ``X`` renormalised (rigid to machine precision)."""
    out = X.copy()
    store_matrix(quat_from_matrix(X), out)
    out[3, 0] = 0.0
    out[3, 1] = 0.0
    out[3, 2] = 0.0
    out[3, 3] = 1.0
    return out


# ---- the mapping -----------------------------------------------------------------------------
@njit(cache=True, inline="always")
def store_target_pose(S):
    """Write the target's 4x4 pose into ``S[X_TGT:X_TGT+16]`` (row-major)."""
    x, y, z, w = qget(S, Q_TGT)
    k = X_TGT
    S[k + 0] = 1.0 - 2.0 * (y * y + z * z)
    S[k + 1] = 2.0 * (x * y - z * w)
    S[k + 2] = 2.0 * (x * z + y * w)
    S[k + 3] = S[P_TGT]
    S[k + 4] = 2.0 * (x * y + z * w)
    S[k + 5] = 1.0 - 2.0 * (x * x + z * z)
    S[k + 6] = 2.0 * (y * z - x * w)
    S[k + 7] = S[P_TGT + 1]
    S[k + 8] = 2.0 * (x * z - y * w)
    S[k + 9] = 2.0 * (y * z + x * w)
    S[k + 10] = 1.0 - 2.0 * (x * x + y * y)
    S[k + 11] = S[P_TGT + 2]
    S[k + 12], S[k + 13], S[k + 14], S[k + 15] = 0.0, 0.0, 0.0, 1.0


@njit(cache=True)
def set_target(S, X):
    """Make the rigid 4x4 ``X`` the target."""
    S[P_TGT], S[P_TGT + 1], S[P_TGT + 2] = X[0, 3], X[1, 3], X[2, 3]
    qput(S, Q_TGT, quat_from_matrix(X))
    store_target_pose(S)


@njit(cache=True)
def set_camera(S, X_RC, R_CM):
    """Store the master-to-RCM rotation ``R_RC @ R_CM`` (both rigid)."""
    qput(S, Q_RM, qnormalize(qmul(quat_from_matrix(X_RC), quat_from_matrix(R_CM))))


@njit(cache=True)
def capture(S, p):
    """Start a relative mapping here: the hand at filtered position ``p`` (and orientation
    ``Q_HAND``) corresponds to the target as it is now."""
    for i in range(3):
        S[P_REF_M + i] = p[i]
        S[P_LAST_M + i] = p[i]
        S[P_REF_R + i] = S[P_TGT + i]
    for i in range(4):
        S[Q_REF_MH + i] = S[Q_HAND + i]
        S[Q_LAST_HAND + i] = S[Q_HAND + i]
        S[Q_REF_RT + i] = S[Q_TGT + i]
    S[MOVE_LEFT] = 0.0  # following starts with no limit saved up
    S[TURN_LEFT] = 0.0


@njit(cache=True)
def rebase(S):
    """Re-anchor the mapping at the last followed sample (after a camera change): the hand
    motion from that sample on is mapped through the new camera, nothing is lost and the
    target does not jump."""
    for i in range(3):
        S[P_REF_M + i] = S[P_LAST_M + i]
        S[P_REF_R + i] = S[P_TGT + i]
    for i in range(4):
        S[Q_REF_MH + i] = S[Q_LAST_HAND + i]
        S[Q_REF_RT + i] = S[Q_TGT + i]


@njit(cache=True)
def align_error(S):
    """Angle (rad) between the hand orientation seen through the camera and the target's."""
    hand_R = qmul(qget(S, Q_RM), qget(S, Q_HAND))
    return qangle(qmul(qconj(hand_R), qget(S, Q_TGT)))


@njit(cache=True)
def aligned_hand(S, X_RC, R_CM):
    """The handle orientation in M (3x3) that is aligned with the target seen from ``X_RC``."""
    q_RM = qmul(quat_from_matrix(X_RC), quat_from_matrix(R_CM))
    R = np.eye(3)
    store_matrix(qnormalize(qmul(qconj(q_RM), qget(S, Q_TGT))), R)
    return R


@njit(cache=True)
def follow(S, P, p, dt):
    """One followed sample: map the hand (filtered position ``p``, orientation ``Q_HAND``)
    to a goal, clamp it to the workspace box, and move the target towards it by at most
    ``V_MAX * dt`` and ``W_MAX * dt``, plus what earlier samples left unused of their own
    (at most ``CARRY_S`` seconds' worth). Returns ``WALL | SPEED | ANGULAR`` flags, or
    ``FILTER_BAD`` (``p`` is NaN/inf) or ``NONFINITE`` (the target came out NaN/inf), in
    which cases nothing is changed.

    Why the carry: the tremor filter runs in samples, not seconds, so its output moves
    by about the same step every sample; a device whose stamps jitter (a late sample,
    then one right after it) gives a normal step a tiny ``dt``, which looked like a
    speed far over the limit (2-3 ``speed_limit`` events a second at 8 mm/s). With the
    carry the limit holds over any span of sample time T as ``V_MAX * (T + CARRY_S)``:
    sustained speed is limited exactly as before, and a jump is still spread out.
    """
    if not (math.isfinite(p[0]) and math.isfinite(p[1]) and math.isfinite(p[2])):
        return FILTER_BAD
    flags = 0
    q_RM = qget(S, Q_RM)
    scale = P[SCALE]
    # position: the hand displacement since the reference, M -> R, scaled
    d = qrotate(q_RM, p[0] - S[P_REF_M], p[1] - S[P_REF_M + 1], p[2] - S[P_REF_M + 2])
    new_p = np.empty(3)
    excess = np.empty(3)
    dist2 = 0.0
    for i in range(3):
        goal = S[P_REF_R + i] + scale * d[i]
        clamped = min(max(goal, P[LOWER + i]), P[UPPER + i])
        excess[i] = goal - clamped
        if excess[i] != 0.0:
            flags |= WALL
        new_p[i] = clamped - S[P_TGT + i]  # the step the target would take
        dist2 += new_p[i] * new_p[i]
    carry = P[CARRY_S]
    max_step = min(S[MOVE_LEFT], P[V_MAX] * carry) + P[V_MAX] * dt
    k = 1.0
    if dist2 > max_step * max_step:
        dist = math.sqrt(dist2)
        k = max_step / dist
        if dist > max_step * (1.0 + FLAG_MARGIN) + 1e-12:  # not for rounding (stamps, poses)
            flags |= SPEED
    for i in range(3):
        new_p[i] = S[P_TGT + i] + k * new_p[i]
    # orientation: the hand's rotation since the reference, seen through the camera
    delta = qmul(qget(S, Q_HAND), qconj(qget(S, Q_REF_MH)))
    if P[ROT_SCALE] != 1.0:
        delta = qpow(delta, P[ROT_SCALE])
    goal_q = qmul(qmul(qmul(q_RM, delta), qconj(q_RM)), qget(S, Q_REF_RT))
    max_turn = min(S[TURN_LEFT], P[W_MAX] * carry) + P[W_MAX] * dt
    new_q, turn = rotate_toward(qget(S, Q_TGT), goal_q, max_turn)
    if turn > max_turn * (1.0 + FLAG_MARGIN) + 1e-12:
        flags |= ANGULAR
    wall = qrotate(qconj(q_RM), excess[0] / scale, excess[1] / scale, excess[2] / scale)
    ok = math.isfinite(new_q[0] + new_q[1] + new_q[2] + new_q[3])
    ok = ok and math.isfinite(new_p[0] + new_p[1] + new_p[2])
    ok = ok and math.isfinite(wall[0] + wall[1] + wall[2])
    if not ok:
        return NONFINITE
    S[MOVE_LEFT] = max_step - k * math.sqrt(dist2)
    S[TURN_LEFT] = max_turn - min(turn, max_turn)
    for i in range(3):
        S[P_TGT + i] = new_p[i]
        S[P_LAST_M + i] = p[i]
        S[WALL_M + i] = wall[i]
    qput(S, Q_TGT, new_q)
    for i in range(4):
        S[Q_LAST_HAND + i] = S[Q_HAND + i]
    store_target_pose(S)
    return flags


@njit(cache=True)
def all_finite3(p):
    """Whether the three entries of ``p`` are finite."""
    return math.isfinite(p[0]) and math.isfinite(p[1]) and math.isfinite(p[2])
