"""Frames between OpenXR and surgisim: pure numpy, no OpenXR, no GL.

OpenXR spaces are right-handed with ``+y`` up; a view (an eye, the head) looks down its
``-z`` axis with ``x`` to the right. The simulator's camera frame ``C`` looks down ``+z``
with ``y`` down (:mod:`sim.render.camera`), and the master frame ``M`` of the bus contract
(docs/bus.md) has ``x`` to the trainee's right, ``y`` down and ``z`` away from the trainee.
Both differ from an OpenXR view frame by the same half turn about ``x``:
:data:`CAMERA_FROM_XR_VIEW`. Quaternions are xyzw everywhere (OpenXR's ``XrQuaternionf``
and the project's order agree; the conversions are :mod:`kinematics.transforms`, which
imports only numpy). Frames ``X_AB`` are the pose of B in A (4x4, metres).

Names used here: ``S`` the OpenXR reference space the client tracks in (LOCAL or STAGE),
``H`` the head (OpenXR view space), ``G`` a controller's grip, ``W`` the simulator's world.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kinematics.transforms import quat_xyzw_to_matrix

#: An OpenXR view frame (x right, y up, -z forward) to the camera/master convention (x right,
#: y down, z forward): ``X_SC = X_SV @ CAMERA_FROM_XR_VIEW``.
CAMERA_FROM_XR_VIEW = np.diag([1.0, -1.0, -1.0, 1.0])


def pose_matrix(position_m, orientation_xyzw) -> np.ndarray:
    """4x4 pose from a position (m) and a quaternion ``[x, y, z, w]``."""
    X = np.eye(4)
    X[:3, :3] = quat_xyzw_to_matrix(orientation_xyzw)
    X[:3, 3] = np.asarray(position_m, dtype=np.float64)
    return X


def fov_projection(left_rad, right_rad, up_rad, down_rad, near_m, far_m) -> np.ndarray:
    """OpenGL projection (4x4, row-major) of an OpenXR ``XrFovf`` (angles from the view
    axis; left and down are negative for a frustum around the axis). Unlike a symmetric
    :func:`sim.render.camera.perspective`, a headset eye's frustum is off-centre."""
    if not 0.0 < near_m < far_m:
        raise ValueError(f"need 0 < near_m < far_m, got {near_m}, {far_m}")
    lt, rt = math.tan(left_rad), math.tan(right_rad)
    dt, ut = math.tan(down_rad), math.tan(up_rad)
    if not (rt > lt and ut > dt):
        raise ValueError(f"empty field of view: left {left_rad}, right {right_rad}, "
                         f"up {up_rad}, down {down_rad}")  # fmt: skip
    P = np.zeros((4, 4))
    P[0, 0] = 2.0 / (rt - lt)
    P[0, 2] = (rt + lt) / (rt - lt)
    P[1, 1] = 2.0 / (ut - dt)
    P[1, 2] = (ut + dt) / (ut - dt)
    P[2, 2] = (far_m + near_m) / (near_m - far_m)
    P[2, 3] = 2.0 * far_m * near_m / (near_m - far_m)
    P[3, 2] = -1.0
    return P


def symmetric_fov(fov_y_rad: float, aspect: float) -> tuple[float, float, float, float]:
    """``(left, right, up, down)`` angles (rad) of a centred frustum with vertical field
    ``fov_y_rad`` and ``aspect`` = width / height (the endoscope image as a layer's fov)."""
    half_y = fov_y_rad / 2.0
    half_x = math.atan(math.tan(half_y) * aspect)
    return -half_x, half_x, half_y, -half_y


def heading_frame(X_SH, forward_offset_m: float = 0.0) -> np.ndarray:
    """``X_SM``: the master frame M of a trainee whose head is at ``X_SH``, fixed in the
    reference space: ``y`` straight down (gravity, the space's ``-y``), ``z`` the head's
    heading (its forward direction, levelled), ``x`` to the right; the origin below the
    head by 0.35 m (hands rest about there) and ``forward_offset_m`` ahead.

    Level, not tilted with the head: looking down at the hands must not turn the mapping.

    Raises:
        ValueError: the head looks straight up or down (no heading to take).
    """
    X = np.asarray(X_SH, dtype=np.float64)
    forward = -X[:3, 2]
    forward = np.array([forward[0], 0.0, forward[2]])
    n = np.linalg.norm(forward)
    if n < 1e-3:
        raise ValueError("the head looks straight up or down: no heading to align the hands with")
    z = forward / n
    y = np.array([0.0, -1.0, 0.0])
    x = np.cross(y, z)
    X_SM = np.eye(4)
    X_SM[:3, :3] = np.column_stack([x, y, z])
    X_SM[:3, 3] = X[:3, 3] + np.array([0.0, -0.35, 0.0]) + forward_offset_m * z
    return X_SM


@dataclass(frozen=True)
class BedsidePlacement:
    """Where the trainee stands in the simulator's world in bedside mode.

    The reference space's floor origin is put ``distance_m`` from the work area's centre,
    on the side the endoscope comes from (facing the same way as the scope, levelled), so
    the trainee sees the instruments around the scope at real scale, as an assistant at
    the table does (about half a metre from the ports); the floor lies ``work_height_m``
    below the work area, so a standing trainee's eyes (~1.6 m) look down on it from
    ~0.3 m above (a patient's abdomen on a table raised for the bedside team).

    Attributes:
        X_WS: the OpenXR reference space S in the world W (4x4; S is +y up, W +z up).
    """

    X_WS: np.ndarray

    @classmethod
    def beside(
        cls,
        centre_W,
        X_WC,
        distance_m: float = 0.5,
        work_height_m: float = 1.3,
    ) -> BedsidePlacement:
        """Stand ``distance_m`` behind the work-area centre along the scope's levelled
        view direction, the floor ``work_height_m`` under the centre (world z up)."""
        c = np.asarray(centre_W, dtype=np.float64)
        view = np.asarray(X_WC, dtype=np.float64)[:3, 2]
        heading = np.array([view[0], view[1], 0.0])
        if np.linalg.norm(heading) < 1e-3:  # a scope looking straight down: face +x
            heading = np.array([1.0, 0.0, 0.0])
        heading /= np.linalg.norm(heading)
        up = np.array([0.0, 0.0, 1.0])
        # S axes in W: x right of the heading, y up, z backwards (OpenXR: -z forward)
        x_S = np.cross(heading, up)
        R_WS = np.column_stack([x_S, up, -heading])
        X_WS = np.eye(4)
        X_WS[:3, :3] = R_WS
        X_WS[:3, 3] = c - distance_m * heading - work_height_m * up
        return cls(X_WS)

    def eye_in_world(self, X_SV) -> np.ndarray:
        """``X_WE`` in the renderer's camera convention for an OpenXR view pose ``X_SV``."""
        return self.X_WS @ np.asarray(X_SV, dtype=np.float64) @ CAMERA_FROM_XR_VIEW
