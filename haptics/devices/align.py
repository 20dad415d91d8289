"""The handle orientation that the teleoperation's alignment gate accepts, seen from the bus.

The server's teleoperation (``haptics.teleop``) follows only once the hand, seen through
the camera, is turned like the instrument (within ``align_tolerance_rad``, 10° by
default). :meth:`haptics.teleop.Teleoperation.aligned_hand_rotation` computes that
orientation from its own state; a device computes the same from what the bus shows it:

``R_MH = R_CM^T · R_WC^T · R_WT``

with ``R_WT`` the instrument tip's orientation (``<arm>/measured_cp``, world), ``R_WC`` the
camera's (the endoscope's ``measured_cp``, or a fixed camera's pose from the scenario) and
``R_CM`` the arm's master-to-camera rotation from the server's ``hello`` (``teleop``). The
remote-centre frame cancels out: ``R_RC^T R_RT = R_WC^T R_WT``.
"""

from __future__ import annotations

import numpy as np


def aligned_hand_rotation(R_WT, R_WC, R_CM=None) -> np.ndarray:
    """The handle orientation in M (3x3) aligned with an instrument seen by a camera.

    Args:
        R_WT: the instrument tip's orientation in the world (3x3, or a 4x4 pose).
        R_WC: the camera's orientation in the world (3x3, or a 4x4 pose).
        R_CM: master-to-camera rotation (3x3); identity when None.
    """
    R_WT = np.asarray(R_WT, dtype=float)[:3, :3]
    R_WC = np.asarray(R_WC, dtype=float)[:3, :3]
    R = R_WC.T @ R_WT
    if R_CM is not None:
        R = np.asarray(R_CM, dtype=float).T @ R
    # re-orthonormalise (inputs went through single-precision quaternions on the bus)
    u, _, vt = np.linalg.svd(R)
    out = u @ vt
    if np.linalg.det(out) < 0:  # pragma: no cover - only for non-rotations given in
        u[:, -1] *= -1
        out = u @ vt
    return out


def rotation_error_rad(R_a, R_b) -> float:
    """Angle (rad) of the rotation between two orientations (3x3)."""
    R = np.asarray(R_a, dtype=float)[:3, :3].T @ np.asarray(R_b, dtype=float)[:3, :3]
    return float(np.arccos(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0)))
