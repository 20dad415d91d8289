"""Camera and light geometry for the renderer: pure numpy, OpenGL conventions at the edge.

The camera frame ``C`` is the scope tip's (:mod:`sim.world.frustum`): ``z`` looks out of
the scope, ``x`` right, ``y`` down in the image. OpenGL's eye frame looks down ``-z`` with
``y`` up, so the view matrix is ``diag(1, -1, -1, 1) @ inv(X_WC)``.

Stereo: a stereo endoscope has two parallel optical channels side by side. Their
separation (baseline) on clinical 3D laparoscopes and the da Vinci scope is about 5 mm
("existing 3D laparoscopes which use 5-mm camera separation": Effect of reduced
stereoscopic camera separation on ring placement with a surgical telerobot, Surg Endosc
2008;22(11):2396-2400, doi:10.1007/s00464-008-0032-8). The eyes here are parallel
(rectified, not converged): each is the scope frame moved by half the baseline along its
``x`` axis, so a point at depth ``Z`` has disparity ``f b / Z`` pixels (left image minus
right), and a viewer sets convergence by shifting the images, as a stereo display does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Default stereo baseline (m) of the endoscope's two channels (see the module docstring).
STEREO_BASELINE_M = 0.005

#: camera frame (x right, y down, z forward) to OpenGL eye frame (x right, y up, -z forward)
GL_FROM_CAMERA = np.diag([1.0, -1.0, -1.0, 1.0])


def perspective(fov_y_rad: float, aspect: float, near_m: float, far_m: float) -> np.ndarray:
    """OpenGL projection matrix (4x4, row-major) of a symmetric pinhole frustum."""
    f = 1.0 / math.tan(fov_y_rad / 2.0)
    P = np.zeros((4, 4))
    P[0, 0] = f / aspect
    P[1, 1] = f
    P[2, 2] = (far_m + near_m) / (near_m - far_m)
    P[2, 3] = 2.0 * far_m * near_m / (near_m - far_m)
    P[3, 2] = -1.0
    return P


def view_matrix(X_WC: np.ndarray) -> np.ndarray:
    """OpenGL view matrix (world to eye, 4x4) of a camera at ``X_WC`` (frame ``C``)."""
    X = np.asarray(X_WC, dtype=np.float64)
    R, p = X[:3, :3], X[:3, 3]
    X_CW = np.eye(4)
    X_CW[:3, :3] = R.T
    X_CW[:3, 3] = -R.T @ p
    return GL_FROM_CAMERA @ X_CW


def linear_depth(depth_buffer: np.ndarray, near_m: float, far_m: float) -> np.ndarray:
    """Window depths in [0, 1] to distances along the view axis (m); 1 (nothing) is inf."""
    d = np.asarray(depth_buffer, dtype=np.float64)
    ndc = 2.0 * d - 1.0
    with np.errstate(divide="ignore"):
        z = 2.0 * near_m * far_m / (far_m + near_m - ndc * (far_m - near_m))
    return np.where(d >= 1.0, np.inf, z).astype(np.float32)


def stereo_eyes(X_WC: np.ndarray, baseline_m: float = STEREO_BASELINE_M):
    """``(X_WL, X_WR)``: the left and right eye poses of a parallel stereo scope whose
    centre is ``X_WC`` (each moved by half the baseline along the camera's x axis)."""
    X = np.asarray(X_WC, dtype=np.float64)
    left, right = X.copy(), X.copy()
    half = 0.5 * float(baseline_m) * X[:3, 0]
    left[:3, 3] -= half
    right[:3, 3] += half
    return left, right


@dataclass(frozen=True)
class EndoscopeLight:
    """The scope's light: a spot at the scope tip, pointing where the camera looks.

    Endoscopes carry their light down fibres that end beside the lenses, so the light
    moves with the camera and falls off with the square of the distance: near tissue is
    bright, the far field dark. A light on the optical axis casts shadows the camera
    cannot see (each hides behind its object); the offset of the outlet from the lens is
    what makes an instrument's shadow visible, and with it the depth cue.

    Attributes:
        offset_C_m: light outlet position in the camera frame (m). A real 8-12 mm scope
            has its fibres 3-5 mm off the axis; rendered that way (``(0, -0.004, 0)``) the
            peg-transfer view, 15-20 cm from the board, showed no visible shadow at all.
            The default moves the outlet 2 cm above the lens (``-y``): an overhead
            shadow-casting light, the arrangement that improved task performance in
            Mishra et al. (below), so shadows fall below objects in the image, as viewers
            expect of light from above.
        reference_distance_m: distance at which surfaces show their base colour
            (the exposure; the inverse-square law scales everything else). 15 cm: the
            peg-transfer scope's distance to the board at the centre of its view.
        edge_intensity: light at the image corners relative to the centre (spot
            fall-off; real scopes light the centre best).
        ambient: light that reaches every surface after bouncing (fraction of direct).
        max_gain: cap on the inverse-square gain very close to the scope (saturation).
        shadow_contrast: share of the direct light a shadow removes. Task performance is
            best with shadows of 22-42% contrast, worse with none or with 65%
            (Mishra et al., Optimum shadow-casting illumination for endoscopic task
            performance, Arch Surg 2004;139(8):889, doi:10.1001/archsurg.139.8.889).
    """

    offset_C_m: tuple[float, float, float] = (0.0, -0.02, 0.0)
    reference_distance_m: float = 0.15
    edge_intensity: float = 0.5
    ambient: float = 0.06
    max_gain: float = 3.0
    shadow_contrast: float = 0.4

    def spot_falloff(self, fov_y_rad: float, aspect: float) -> float:
        """Coefficient ``a`` of the cone fall-off ``1 - a sin(angle)**2`` that leaves
        ``edge_intensity`` at the image corner (a smooth, cheap bell)."""
        t = math.tan(fov_y_rad / 2.0)
        corner = math.atan(t * math.hypot(1.0, aspect))
        return (1.0 - self.edge_intensity) / math.sin(corner) ** 2

    def pose(self, X_WC: np.ndarray) -> np.ndarray:
        """``X_WL``: the light's pose (camera orientation, at the outlet)."""
        X = np.array(X_WC, dtype=np.float64)
        X[:3, 3] = X[:3, 3] + X[:3, :3] @ np.asarray(self.offset_C_m, dtype=np.float64)
        return X
