"""What a master device (or a synthetic operator, or a VR controller) produces each tick.

A :class:`MasterSample` is exactly what a device will publish on the bus: CRTK
``measured_cp`` of its handle, the gripper angle and the clutch pedal, stamped with the
device's clock. Frames: ``M`` is the master's base frame, whose axes the console aligns
with the viewer (camera) frame; ``H`` is the handle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class MasterSample:
    """One reading of a master device.

    Attributes:
        time_s: device timestamp (s), on the same clock as the teleoperation loop.
        X_MH: 4x4 pose of the handle in the master base frame (m).
        gripper_rad: gripper opening angle (rad); 0 is closed.
        clutch: True while the clutch pedal is pressed (instrument disengaged).
    """

    time_s: float
    X_MH: np.ndarray
    gripper_rad: float = 0.0
    clutch: bool = False

    def problem(self) -> str:
        """Why this sample cannot be used ('' when it can): NaN, inf or a non-rigid pose."""
        X = np.asarray(self.X_MH, dtype=float)
        if X.shape != (4, 4):
            return f"pose has shape {X.shape}, expected (4, 4)"
        if not (math.isfinite(self.time_s) and math.isfinite(self.gripper_rad)):
            return "time or gripper is NaN/inf"
        if not np.isfinite(X).all():
            return "pose contains NaN/inf"
        R = X[:3, :3]
        if np.abs(R.T @ R - np.eye(3)).max() > 1e-4 or np.linalg.det(R) < 0:
            return "pose rotation is not orthonormal"
        return ""
