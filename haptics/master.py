"""What a master device (or a synthetic operator, or a VR controller) produces each tick.

A :class:`MasterSample` is exactly what a device will publish on the bus: CRTK
``measured_cp`` of its handle, the gripper angle and the clutch pedal, stamped with the
device's clock and numbered. Frames: ``M`` is the master's base frame, whose axes the
console aligns with the viewer (camera) frame; ``H`` is the handle.

A sample is plain data and checks nothing when it is built (a device process must never
die on a bad reading): :meth:`MasterSample.problem` says whether it can be used, and the
teleoperation watchdog refuses the ones that cannot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from haptics.numbers import is_integer, is_real

#: Largest deviation of R^T R from identity accepted for a handle orientation. Loose
#: enough for a pose that went through single precision on the bus; the teleoperation
#: re-orthonormalises every accepted rotation, so the target is rigid to machine precision.
HAND_RIGID_TOLERANCE = 1e-4

#: A handle reported further than this from its base (m) is not a reading of a desk-sized
#: device; such a sample is refused rather than letting 1e300 overflow the mapping.
MAX_HAND_DISTANCE_M = 10.0


@dataclass(frozen=True, slots=True)
class MasterSample:
    """One reading of a master device.

    Attributes:
        time_s: device timestamp (s), on the same clock as the teleoperation loop.
        X_MH: 4x4 pose of the handle in the master base frame (m).
        gripper_rad: gripper opening angle (rad); 0 is closed.
        clutch: True while the clutch pedal is pressed (instrument disengaged).
        seq: the device's sample number (increasing), or -1 when it does not number
            them; carried through to :attr:`haptics.teleop.TeleopOutput.used_seq` so a
            server can report which device sample a step used.
    """

    time_s: float
    X_MH: np.ndarray
    gripper_rad: float = 0.0
    clutch: bool = False
    seq: int = -1

    def problem(self) -> str:
        """Why this sample cannot be used ('' when it can): NaN, inf, wrong types or shapes,
        a non-rigid pose or a handle implausibly far from its base. Never raises."""
        try:
            X = np.asarray(self.X_MH, dtype=float)
        except (TypeError, ValueError):
            return f"pose is not a 4x4 array of numbers, got {type(self.X_MH).__name__}"
        if X.shape != (4, 4):
            return f"pose has shape {X.shape}, expected (4, 4)"
        for name in ("time_s", "gripper_rad"):
            value = getattr(self, name)
            if not is_real(value):
                return f"{name} is {type(value).__name__}, expected a number"
            if not math.isfinite(value):
                return f"{name} is {value}"
        if not _is_flag(self.clutch):
            return f"clutch is {type(self.clutch).__name__}, expected a bool"
        if not (is_integer(self.seq)):
            return f"seq is {type(self.seq).__name__}, expected an int"
        if not np.isfinite(X).all():
            return "pose contains NaN/inf"
        if np.abs(X[3] - (0.0, 0.0, 0.0, 1.0)).max() > HAND_RIGID_TOLERANCE:
            return "pose bottom row is not [0, 0, 0, 1]"
        R = X[:3, :3]
        if np.abs(R.T @ R - np.eye(3)).max() > HAND_RIGID_TOLERANCE or np.linalg.det(R) < 0:
            return "pose rotation is not orthonormal"
        if np.linalg.norm(X[:3, 3]) > MAX_HAND_DISTANCE_M:
            return f"handle is more than {MAX_HAND_DISTANCE_M:g} m from the master base"
        return ""


def _is_flag(value) -> bool:
    return isinstance(value, (bool, np.bool_)) or (is_integer(value) and value in (0, 1))
