"""The robot models the simulator knows, and loading them into a pybullet world.

A :class:`RobotModel` ties a generated URDF (``assets/robots/<model>.urdf``, link frames
equal to the kinematics chain's) to the chain used for IK, and says which links are the
instrument's distal end (where tip forces are summed) and which joints are jaw fingers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assets import ROBOTS_DIR
from kinematics import Chain, ecm, psm
from kinematics.transforms import matrix_to_quat_xyzw, pose, rpy_to_matrix
from sim.errors import SimError, lookup
from sim.world.scene import PORT_LOOK_AT_MIN_M


@dataclass(frozen=True)
class RobotModel:
    """A simulated arm type.

    Attributes:
        name: model name (``"psm"``, ``"ecm"``).
        urdf: generated URDF path.
        chain: factory of the kinematics chain (RCM frame to tool tip).
        jaw_joints: the jaw finger joints (empty for the ECM); each turns by half the jaw
            angle.
        distal_links: links whose contact forces make up the tip force estimate.
        jaw_limits_rad: range of the commanded jaw angle (rad); fingers stop at 0.
    """

    name: str
    urdf: Path
    chain: Callable[[], Chain]
    jaw_joints: tuple[str, ...] = ()
    distal_links: tuple[str, ...] = ()
    jaw_limits_rad: tuple[float, float] = (0.0, 0.0)


def _models() -> dict[str, RobotModel]:
    from kinematics.models import PSM_JAW_LIMITS_RAD

    return {
        "psm": RobotModel(
            "psm",
            ROBOTS_DIR / "psm.urdf",
            psm,
            ("jaw_left", "jaw_right"),
            ("wrist_pitch_link", "wrist_yaw_link", "tool_tip", "jaw_left_link", "jaw_right_link"),
            PSM_JAW_LIMITS_RAD,
        ),
        "ecm": RobotModel("ecm", ROBOTS_DIR / "ecm.urdf", ecm, (), ("roll_link",)),
    }


def robot_model(name: str) -> RobotModel:
    """The :class:`RobotModel` called ``name``; unknown names list the valid ones."""
    return lookup(_models(), name, "robot model")


def port_pose(position_m, rpy_rad=(0.0, 0.0, 0.0), look_at_m=None) -> np.ndarray:
    """``X_WR``: the pose of an arm's RCM frame at a port.

    Args:
        position_m: the port (RCM) position in the world (m).
        rpy_rad: orientation as roll-pitch-yaw (rad) when ``look_at_m`` is None; the
            identity puts the shaft straight down (-z) at yaw = pitch = 0.
        look_at_m: a world point the shaft aims at when yaw = pitch = 0; the RCM frame's
            z axis then points from that point to the port, its x axis stays horizontal.
    """
    p = np.asarray(position_m, dtype=float)
    if look_at_m is None:
        return pose(rpy_to_matrix(*rpy_rad), p)
    z = p - np.asarray(look_at_m, dtype=float)
    if np.linalg.norm(z) < PORT_LOOK_AT_MIN_M:  # ArmSpec refuses it first, same tolerance
        raise SimError(
            f"port_look_at_m {list(look_at_m)} equals the port position; aim at a point "
            "below the port."
        )
    z /= np.linalg.norm(z)
    # x horizontal (perpendicular to the vertical plane holding the shaft); y completes it
    x = np.cross((0.0, 0.0, 1.0), z) if abs(z[2]) < 0.999 else np.array([1.0, 0.0, 0.0])
    x -= (x @ z) * z
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return pose(np.column_stack([x, y, z]), p)


@dataclass
class LoadedRobot:
    """A robot in a pybullet world: body id and name-to-index maps."""

    body: int
    joints: dict[str, int]
    links: dict[str, int]
    max_velocity: dict[str, float]
    max_effort: dict[str, float]


def load_robot(pb, client: int, model: RobotModel, X_WR: np.ndarray) -> LoadedRobot:
    """Load ``model`` with its base (RCM) frame at ``X_WR`` (fixed base)."""
    body = pb.loadURDF(
        str(model.urdf),
        basePosition=X_WR[:3, 3].tolist(),
        baseOrientation=matrix_to_quat_xyzw(X_WR[:3, :3]).tolist(),
        useFixedBase=True,
        flags=pb.URDF_USE_INERTIA_FROM_FILE | pb.URDF_ENABLE_SLEEPING,
        physicsClientId=client,
    )
    joints, links, vmax, effort = {}, {"rcm": -1}, {}, {}
    for j in range(pb.getNumJoints(body, physicsClientId=client)):
        info = pb.getJointInfo(body, j, physicsClientId=client)
        name, link = info[1].decode(), info[12].decode()
        links[link] = j
        if info[2] != pb.JOINT_FIXED:
            joints[name] = j
            effort[name] = float(info[10])
            vmax[name] = float(info[11]) if info[11] > 0 else math.inf
    return LoadedRobot(body, joints, links, vmax, effort)
