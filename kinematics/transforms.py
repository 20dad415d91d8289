"""Homogeneous transforms in numpy: the small vocabulary every other module speaks.

Frames follow DESIGN.md: ``X_AB`` is the pose of frame B in frame A as a 4x4 matrix.
Angles are radians, lengths metres. Quaternions are ``xyzw`` (pybullet's order).
"""

from __future__ import annotations

import math

import numpy as np

from kinematics.errors import KinematicsError

#: Largest deviation of R^T R from identity (and of det R from 1) accepted as rigid.
#: Loose enough for poses that went through single precision (pybullet), tight enough
#: to catch a scaled or sheared matrix.
RIGID_TOLERANCE = 1e-5


def rot_x(angle_rad: float) -> np.ndarray:
    """4x4 rotation about x by ``angle_rad``."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1]], dtype=float)


def rot_y(angle_rad: float) -> np.ndarray:
    """4x4 rotation about y by ``angle_rad``."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, 0, s, 0], [0, 1, 0, 0], [-s, 0, c, 0], [0, 0, 0, 1]], dtype=float)


def rot_z(angle_rad: float) -> np.ndarray:
    """4x4 rotation about z by ``angle_rad``."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float)


def translation(x_m: float, y_m: float, z_m: float) -> np.ndarray:
    """4x4 pure translation by (x, y, z) metres."""
    X = np.eye(4)
    X[:3, 3] = (x_m, y_m, z_m)
    return X


def rpy_to_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """3x3 rotation from URDF fixed-axis roll-pitch-yaw: ``Rz(yaw) @ Ry(pitch) @ Rx(roll)``."""
    return (rot_z(yaw) @ rot_y(pitch) @ rot_x(roll))[:3, :3]


def matrix_to_rpy(R: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`rpy_to_matrix`; at pitch = ±pi/2 the roll is set to 0."""
    pitch = math.atan2(-R[2, 0], math.hypot(R[0, 0], R[1, 0]))
    if math.hypot(R[0, 0], R[1, 0]) < 1e-12:
        roll = 0.0
        yaw = math.atan2(-R[0, 1], R[1, 1])
    else:
        roll = math.atan2(R[2, 1], R[2, 2])
        yaw = math.atan2(R[1, 0], R[0, 0])
    return roll, pitch, yaw


def pose(R: np.ndarray | None = None, p: np.ndarray | None = None) -> np.ndarray:
    """Assemble a 4x4 pose from a 3x3 rotation and a position in metres."""
    X = np.eye(4)
    if R is not None:
        X[:3, :3] = R
    if p is not None:
        X[:3, 3] = p
    return X


def inverse(X: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4x4 transform (transpose the rotation, no general inversion)."""
    Xi = np.eye(4)
    Xi[:3, :3] = X[:3, :3].T
    Xi[:3, 3] = -X[:3, :3].T @ X[:3, 3]
    return Xi


def quat_xyzw_to_matrix(q_xyzw) -> np.ndarray:
    """3x3 rotation from a quaternion in ``xyzw`` order (normalised here).

    Plain float arithmetic and one array: numpy's per-element scalars cost several times
    more for nine numbers, and the bus turns every device sample (2 kHz a server) into a
    pose with this.

    Raises:
        KinematicsError: a zero, NaN or infinite quaternion (no rotation to normalise to).
    """
    x, y, z, w = (float(v) for v in q_xyzw)
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if not 0.0 < n < math.inf:  # NaN fails this too
        raise KinematicsError(
            f"quaternion {[x, y, z, w]} (xyzw) has norm {n}: not a rotation; pass a finite "
            "non-zero quaternion."
        )
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array(
        (
            (1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)),
            (2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)),
            (2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)),
        )
    )


def matrix_to_quat_xyzw(R: np.ndarray) -> np.ndarray:
    """Quaternion in ``xyzw`` order (w >= 0) from a 3x3 rotation, stable for all angles."""
    m = R
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = 2.0 * math.sqrt(tr + 1.0)
        w, x = 0.25 * s, (m[2, 1] - m[1, 2]) / s
        y, z = (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        w, x = (m[2, 1] - m[1, 2]) / s, 0.25 * s
        y, z = (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        w, x = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s
        y, z = 0.25 * s, (m[1, 2] + m[2, 1]) / s
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        w, x = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s
        y, z = (m[1, 2] + m[2, 1]) / s, 0.25 * s
    q = np.array([x, y, z, w])
    return q if w >= 0 else -q


def rotation_angle(R: np.ndarray) -> float:
    """Angle in radians of the rotation ``R`` (0..pi), accurate near 0 and near pi."""
    sin_half_sum = np.linalg.norm(R - R.T) / (2.0 * math.sqrt(2.0))
    cos_ = (np.trace(R) - 1.0) / 2.0
    return math.atan2(sin_half_sum, cos_)


#: Above this angle (rad) :func:`axis_angle` reads the axis from the quaternion. The skew
#: part's rounding grows as 1e-16 / sin(angle): ~2e-13 here, 1e-7 at pi - 1e-9. Below it
#: the skew part is kept, bit for bit as before: the bundled sessions turn up to
#: pi - 0.0037 between goals, and a lower threshold changed their metrics' last bits.
_QUATERNION_AXIS_RAD = math.pi - 5e-4


def axis_angle(R: np.ndarray) -> tuple[np.ndarray, float]:
    """Unit axis and angle (rad, 0..pi) of the rotation ``R``, half turns included.

    For a (near) zero angle the axis is arbitrary and returned as x. Past
    ``_QUATERNION_AXIS_RAD`` the axis comes from the quaternion's vector part
    (``sin(angle / 2) * axis``, of length ~1 there), not from the skew part of ``R``
    (``2 sin(angle) * axis``, which vanishes at a half turn: at pi - 1e-9 it left the
    axis off by ~1e-7).
    """
    angle = rotation_angle(R)
    if angle > _QUATERNION_AXIS_RAD:
        v = matrix_to_quat_xyzw(R)[:3]
        return v / np.linalg.norm(v), angle
    w = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    norm = np.linalg.norm(w)
    if norm < 1e-9:
        return np.array([1.0, 0.0, 0.0]), angle
    return w / norm, angle


def axis_rotation(axis, angle_rad: float) -> np.ndarray:
    """3x3 rotation about the unit ``axis`` by ``angle_rad`` (Rodrigues)."""
    x, y, z = axis
    K = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle_rad) * K + (1 - math.cos(angle_rad)) * K @ K


def refuse_complex(value, what: str) -> None:
    """A complex array is refused, not cut to its real part (numpy does that with only a
    ComplexWarning, and the solver then answered for another target)."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "c":
        raise KinematicsError(f"{what} is complex ({value.dtype}); pass real numbers.")


def check_pose(X, what: str = "pose") -> np.ndarray:
    """Return ``X`` as a float64 4x4 array, or raise if it is not a finite rigid transform.

    Why here: a NaN or a scaled matrix reaching the numba solver would silently produce
    garbage joint targets; every public entry point validates first.

    Raises:
        KinematicsError: wrong shape, NaN/inf, bottom row not ``[0 0 0 1]``, or a rotation
            block that is not orthonormal with determinant +1.
    """
    refuse_complex(X, what)
    X = np.asarray(X, dtype=np.float64)
    if X.shape != (4, 4):
        raise KinematicsError(f"{what} must be a 4x4 homogeneous transform, got shape {X.shape}.")
    if not np.isfinite(X).all():
        raise KinematicsError(f"{what} contains NaN or inf: {X.tolist()}. Pass finite values.")
    problem = rigidity_problem(X)
    if problem:
        raise KinematicsError(f"{what} is not a rigid transform: {problem}.")
    return X


def is_rotation(R, tolerance: float = RIGID_TOLERANCE) -> bool:
    """``R`` is a finite 3x3 rotation: orthonormal within ``tolerance``, determinant +1
    (configuration checks: a mapping rotation with a scale or a mirror in it would scale
    or mirror every hand motion)."""
    R = np.asarray(R, dtype=float)
    return bool(
        R.shape == (3, 3)
        and np.isfinite(R).all()
        and np.abs(R.T @ R - np.eye(3)).max() <= tolerance
        and np.linalg.det(R) > 0
    )


def rigidity_problem(X: np.ndarray) -> str:
    """Describe why the finite 4x4 ``X`` is not rigid, or return '' when it is."""
    if np.abs(X[3] - (0.0, 0.0, 0.0, 1.0)).max() > RIGID_TOLERANCE:
        return f"bottom row is {X[3].tolist()}, expected [0, 0, 0, 1]"
    R = X[:3, :3]
    orth = np.abs(R.T @ R - np.eye(3)).max()
    if orth > RIGID_TOLERANCE:
        return f"rotation block is not orthonormal (max |R^T R - I| = {orth:.3g})"
    if np.linalg.det(R) < 0:
        return "rotation block has determinant -1 (a reflection)"
    return ""
