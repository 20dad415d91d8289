"""Controllers as master devices: a hand's grip pose, trigger and buttons to the bus
messages of a dVRK-style master (``<dev>/measured_cp``, ``gripper``, ``clutch``,
``camera``), with the grip re-based at clutch-in so the trainee's natural hold is aligned.

The alignment problem. The training server follows a hand only once its orientation,
seen through the camera, is within 10° of the instrument's (dVRK behaviour; a real MTM
has motorised wrist joints that turn the handle to match the instrument). A VR
controller has no motors, and asking the trainee to find the instrument's orientation
within 10° by hand is slow and frustrating. So the client re-bases the grip instead:

- ``R_MG``: the controller's grip orientation in the master frame M (levelled, fixed
  to where the trainee faces, see :func:`sim.xr.frames.heading_frame`).
- ``R_aligned = R_CM^T R_WC^T R_WT``: the handle orientation in M that matches the
  instrument ``T`` seen from the endoscope ``C`` (``R_CM`` comes from the server's
  ``hello``; it is the identity for a console aligned with the viewer).
- The published orientation is ``R_MG @ R_off`` with a grip offset ``R_off``. While the
  clutch button is held, ``R_off = R_MG^T R_aligned`` is recomputed at every sample, so
  the published hand is aligned however the controller is held; when the clutch is
  released ``R_off`` freezes, and the server sees an aligned hand and follows.
- From then on, turning the controller turns the instrument by the same rotation in M
  (``R_MG' = ΔR R_MG`` publishes ``ΔR R_MG R_off``): the natural hold at clutch-in is
  the instrument's orientation, and motion is 1:1 in orientation, scaled in position by
  the server.

A hand is never re-based while following (the clutch is the only way), so a controller
cannot silently change what the instrument does. Positions are never re-based: the
server maps displacements from clutch-in, as with any master.

Force feedback: a controller has no motors either; ``servo_cf``'s force magnitude is
rendered as vibration (:func:`vibration_amplitude`), a cue rather than a force.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kinematics.transforms import rotation_angle

#: Gripper angle (rad) of a fully open master handle: the dVRK MTM's 60°, the value the
#: server's teleoperation maps to a fully open jaw (``TeleopConfig.gripper_max_rad``).
GRIPPER_OPEN_RAD = math.radians(60.0)


@dataclass
class HandSample:
    """What one hand sends in one tick (the bus payloads' values).

    Attributes:
        X_MG: the published handle pose in M (4x4, m): grip position, re-based orientation.
        gripper_rad: the gripper opening (rad), 0 = closed.
        clutch: the clutch button.
        camera: the camera-pedal button.
    """

    X_MG: np.ndarray
    gripper_rad: float
    clutch: bool
    camera: bool


class MasterHand:
    """One controller as one master device (see the module docstring).

    Args:
        device: the bus device name (``MTMR``, ``MTML``).
        arm: the instrument arm it drives (from the server's ``hello``), or None.
        R_CM: rotation from M to the camera frame (3x3, from ``hello``'s teleop settings).
    """

    def __init__(self, device: str, arm: str | None, R_CM=None) -> None:
        self.device = device
        self.arm = arm
        self.R_CM = np.eye(3) if R_CM is None else np.asarray(R_CM, dtype=np.float64)
        self.R_off = np.eye(3)
        self.rebased = False
        self._clutch = False

    def aligned_rotation(self, X_WT, X_WC) -> np.ndarray:
        """The handle orientation in M (3x3) aligned with the instrument ``X_WT`` seen from
        the endoscope ``X_WC`` (both world poses, 4x4)."""
        R_CT = np.asarray(X_WC)[:3, :3].T @ np.asarray(X_WT)[:3, :3]
        return self.R_CM.T @ R_CT

    def sample(
        self,
        X_MG,
        trigger: float,
        clutch: bool,
        camera: bool,
        X_WT=None,
        X_WC=None,
    ) -> HandSample:
        """One tick: the grip pose in M (4x4), the trigger (0 released .. 1 pulled), the
        buttons, and the instrument and endoscope poses (world, 4x4; None while unknown:
        the grip cannot be re-based then and keeps its offset)."""
        X = np.asarray(X_MG, dtype=np.float64)
        if clutch and X_WT is not None and X_WC is not None:
            self.R_off = X[:3, :3].T @ self.aligned_rotation(X_WT, X_WC)
            self.rebased = True
        self._clutch = bool(clutch)
        out = X.copy()
        out[:3, :3] = X[:3, :3] @ self.R_off
        t = min(max(float(trigger), 0.0), 1.0)
        return HandSample(out, (1.0 - t) * GRIPPER_OPEN_RAD, bool(clutch), bool(camera))

    def align_error_rad(self, X_MG_published, X_WT, X_WC) -> float:
        """Angle (rad) between a published handle and the aligned one (what the server's
        gate measures, up to the target/measured difference)."""
        R = np.asarray(X_MG_published)[:3, :3]
        return rotation_angle(R.T @ self.aligned_rotation(X_WT, X_WC))


#: (N) full vibration when the server says nothing of its force limit: its default
#: ``max_force_n`` (haptics.force.ForceFeedbackConfig), the most ``servo_cf`` ever carries
DEFAULT_FULL_VIBRATION_N = 3.0


def full_vibration_n(hello: dict) -> float:
    """The force (N) that vibrates a controller fully: the server's ``servo_cf`` limit
    from its ``hello`` (``force_feedback.max_force_n``), so the cue saturates exactly when
    the force does. A 4 N saturation against the 3 N limit left the top quarter of the
    vibration unreachable."""
    limit = hello.get("force_feedback", {}).get("max_force_n")
    if isinstance(limit, (int, float)) and math.isfinite(limit) and limit > 0.5:
        return float(limit)
    return DEFAULT_FULL_VIBRATION_N


def vibration_amplitude(
    force_n, saturation_n: float = DEFAULT_FULL_VIBRATION_N, deadband_n: float = 0.15
) -> float:
    """Controller vibration amplitude (0..1) for a force-feedback vector (N).

    Linear from ``deadband_n`` (contact noise and gravity compensation residue stay
    silent) to ``saturation_n`` (full amplitude: the server's force limit, see
    :func:`full_vibration_n`).
    """
    f = float(np.linalg.norm(np.asarray(force_n, dtype=np.float64)))
    if not math.isfinite(f) or f <= deadband_n:
        return 0.0
    return min(1.0, (f - deadband_n) / (saturation_n - deadband_n))
