"""What a device process learns about the arms from the server's messages.

:class:`ArmWatch` keeps, per arm, the latest tool-tip pose (``<arm>/measured_cp``, world),
joint positions, jaw, operating state and ``used_seq``, with the local time each arrived;
and the camera pose (the endoscope arm's ``measured_cp``, or a fixed camera's pose given
by the caller). From these and the server's ``hello`` (``teleop``: ``R_CM`` per arm) it
gives the handle orientation the alignment gate accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from haptics.bus.contract import pose_from_payload
from haptics.devices.align import aligned_hand_rotation


@dataclass
class ArmSeen:
    """The latest of one arm, as received (times on the receiver's monotonic clock)."""

    X_WT: np.ndarray | None = None
    pose_s: float = -np.inf
    used_seq: int = -1
    joints: dict | None = None
    jaw_rad: float = 0.0
    state: str | None = None
    following: bool = False
    align_error_rad: float = float("nan")
    holding: tuple | None = None  # only when the server sends it (an extra field)
    aligned_hand: np.ndarray | None = None  # the server's aligned handle (an extra field)


class ArmWatch:
    """Arm states from server messages.

    Args:
        camera_arm: the endoscope arm whose ``measured_cp`` is the camera pose.
        X_WC_fixed: a fixed camera's pose (4x4, world) when there is no camera arm.
        R_CM: arm -> master-to-camera rotation (3x3), from ``hello``'s ``teleop``.
    """

    def __init__(self, camera_arm: str | None = None, X_WC_fixed=None, R_CM=None) -> None:
        self.camera_arm = camera_arm
        self.X_WC_fixed = None if X_WC_fixed is None else np.asarray(X_WC_fixed, float)
        self.R_CM = dict(R_CM or {})
        self.arms: dict[str, ArmSeen] = {}

    @classmethod
    def from_hello(cls, hello: dict, X_WC_fixed=None) -> ArmWatch:
        """Set up from a ``hello`` reply: the camera arm is the only ``ecm`` arm listed,
        ``R_CM`` per arm from ``teleop`` (identity when absent)."""
        scopes = [a.get("name") for a in hello.get("arms") or [] if a.get("kind") == "ecm"]
        teleop = hello.get("teleop") or {}
        R_CM = {arm: np.asarray(t["R_CM"], float) for arm, t in teleop.items() if "R_CM" in t}
        camera = scopes[0] if len(scopes) == 1 and X_WC_fixed is None else None
        return cls(camera, X_WC_fixed, R_CM)

    def arm(self, name: str) -> ArmSeen:
        """The record of arm ``name`` (empty until it is heard from)."""
        seen = self.arms.get(name)
        if seen is None:
            seen = self.arms[name] = ArmSeen()
        return seen

    def update(self, message) -> None:
        """Take one server message (others than arm topics are ignored)."""
        kind = message.name
        if kind not in ("measured_cp", "measured_js", "jaw/measured_js", "operating_state"):
            return
        seen = self.arm(message.component)
        p = message.payload
        if kind == "measured_cp":
            seen.X_WT = pose_from_payload(p)
            seen.pose_s = message.received_s
            seen.used_seq = int(p.get("used_seq", -1))
        elif kind == "measured_js":
            seen.joints = dict(zip(p["name"], p["position_rad"], strict=True))
        elif kind == "jaw/measured_js":
            seen.jaw_rad = float(p["position_rad"][0])
        else:
            seen.state = p["state"]
            seen.following = bool(p["following"])
            seen.align_error_rad = float(p["align_error_rad"])
            holding = p.get("holding")
            if isinstance(holding, list):
                seen.holding = tuple(str(h) for h in holding)
            q = p.get("aligned_hand_xyzw")
            if isinstance(q, list) and len(q) == 4:
                from kinematics.transforms import quat_xyzw_to_matrix

                seen.aligned_hand = quat_xyzw_to_matrix(q)

    def camera_pose(self) -> np.ndarray | None:
        """``X_WC`` now (4x4), or None before the camera arm was heard from."""
        if self.X_WC_fixed is not None:
            return self.X_WC_fixed
        if self.camera_arm is None:
            return None
        return self.arm(self.camera_arm).X_WT

    def aligned(self, arm: str) -> np.ndarray | None:
        """The handle orientation in M (3x3) aligned with ``arm``'s tool as the camera sees
        it: the server's own (``aligned_hand_xyzw``, an optional field of
        ``operating_state``) when it sends one, else computed from the measured tool and
        the camera; None while they have not been heard from."""
        seen = self.arm(arm)
        if seen.aligned_hand is not None:
            return seen.aligned_hand.copy()
        X_WT, X_WC = seen.X_WT, self.camera_pose()
        if X_WT is None or X_WC is None:
            return None
        return aligned_hand_rotation(X_WT, X_WC, self.R_CM.get(arm))
