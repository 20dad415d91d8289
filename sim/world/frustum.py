"""The view frustum of a camera (the ECM's scope): pure numpy, no physics engine.

Kept free of pybullet so that a renderer or a scorer in another process can ask "is the
instrument tip in view?" from a pose alone.

Camera frame ``C`` (the scope tip frame of the dVRK ECM): ``z`` is the viewing direction
(out of the scope), ``x`` points right and ``y`` down in the image (the OpenCV
convention). Lengths are metres, angles radians unless a name says degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.errors import SimError


@dataclass(frozen=True)
class Frustum:
    """A pinhole camera's viewing volume.

    Attributes:
        X_WC: 4x4 pose of the camera frame in the world (m).
        fov_y_rad: full vertical field of view (rad), in (0, pi).
        aspect: image width / height (> 0); the horizontal field of view follows.
        near_m, far_m: distances along the viewing axis bounding what is in view (m).
    """

    X_WC: np.ndarray
    fov_y_rad: float
    aspect: float = 4.0 / 3.0
    near_m: float = 0.005
    far_m: float = 0.3

    def __post_init__(self) -> None:
        X = np.asarray(self.X_WC, dtype=float)
        if X.shape != (4, 4) or not np.isfinite(X).all():
            raise SimError(f"Frustum X_WC must be a finite 4x4 pose, got {self.X_WC!r}.")
        if not 0.0 < self.fov_y_rad < math.pi:
            raise SimError(
                f"Frustum fov_y_rad must lie in (0, pi) rad, got {self.fov_y_rad}; "
                "pass e.g. math.radians(70)."
            )
        if not self.aspect > 0.0:
            raise SimError(f"Frustum aspect must be > 0 (width / height), got {self.aspect}.")
        if not 0.0 < self.near_m < self.far_m:
            raise SimError(
                f"Frustum needs 0 < near_m < far_m (metres), got near_m={self.near_m}, "
                f"far_m={self.far_m}."
            )
        object.__setattr__(self, "X_WC", X)

    @property
    def fov_x_rad(self) -> float:
        """Full horizontal field of view (rad)."""
        return 2.0 * math.atan(self.aspect * math.tan(self.fov_y_rad / 2.0))

    def to_camera(self, points_W) -> np.ndarray:
        """Points (N, 3) or (3,) in the world expressed in the camera frame (m)."""
        P = np.asarray(points_W, dtype=float)
        R, p = self.X_WC[:3, :3], self.X_WC[:3, 3]
        return (P - p) @ R

    def contains(self, points_W) -> np.ndarray | bool:
        """Whether each world point (N, 3), or one point (3,), lies inside the frustum.

        A NaN point is never in view.
        """
        ty = math.tan(self.fov_y_rad / 2.0)
        return points_in_view(self.X_WC, self.aspect * ty, ty, self.near_m, self.far_m, points_W)

    def corners_W(self) -> np.ndarray:
        """The 8 corners (near face then far face; each top-left, top-right, bottom-right,
        bottom-left in the image) in the world frame (m), e.g. to draw the frustum."""
        ty = math.tan(self.fov_y_rad / 2.0)
        tx = self.aspect * ty
        corners = []
        for d in (self.near_m, self.far_m):
            for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                corners.append((sx * tx * d, sy * ty * d, d))
        C = np.array(corners)
        return C @ self.X_WC[:3, :3].T + self.X_WC[:3, 3]


def points_in_view(X_WC, tan_half_x, tan_half_y, near_m, far_m, points_W) -> np.ndarray | bool:
    """Whether world points (N, 3), or one point (3,), lie inside the view of a camera at
    ``X_WC`` whose half-angles have the given tangents and whose depth range is
    [``near_m``, ``far_m``] (m). The one definition of "in view" (no validation: the
    session calls it at 100 Hz with settings checked once; :class:`Frustum` checks them).
    """
    P = np.asarray(points_W, dtype=float)
    if P.shape == (3,) or (P.ndim == 2 and len(P) <= 4):  # a few tips: plain floats are faster
        return _few_in_view(X_WC, tan_half_x, tan_half_y, near_m, far_m, P)
    P = (P - X_WC[:3, 3]) @ X_WC[:3, :3]
    x, y, z = P[..., 0], P[..., 1], P[..., 2]
    with np.errstate(invalid="ignore"):
        inside = (
            (z >= near_m)
            & (z <= far_m)
            & (np.abs(x) <= tan_half_x * z)
            & (np.abs(y) <= tan_half_y * z)
        )
    return bool(inside) if inside.ndim == 0 else inside


def _few_in_view(X_WC, tan_half_x, tan_half_y, near_m, far_m, P) -> np.ndarray | bool:
    """:func:`points_in_view` for one point or a handful, without numpy temporaries."""
    R = X_WC[:3, :3].tolist()
    o = X_WC[:3, 3].tolist()
    out = []
    for p in (P[None, :] if P.ndim == 1 else P).tolist():
        d = (p[0] - o[0], p[1] - o[1], p[2] - o[2])
        x = d[0] * R[0][0] + d[1] * R[1][0] + d[2] * R[2][0]
        y = d[0] * R[0][1] + d[1] * R[1][1] + d[2] * R[2][1]
        z = d[0] * R[0][2] + d[1] * R[1][2] + d[2] * R[2][2]
        out.append(near_m <= z <= far_m and abs(x) <= tan_half_x * z and abs(y) <= tan_half_y * z)
    return out[0] if P.ndim == 1 else np.array(out)
