"""Built-in dVRK arm models, from the dVRK's published modified-DH parameters.

Both arms are expressed in their remote-centre-of-motion frame ``R``: ``chain.fk(q)``
returns ``X_RT``, the tool tip in the RCM frame. The RCM is mechanical on these arms, so
the instrument shaft always passes through the frame origin.
"""

from __future__ import annotations

import math

import numpy as np

from kinematics.chain import Chain
from kinematics.dh import DHRow, chain_from_modified_dh
from kinematics.transforms import pose

HALF_PI = math.pi / 2

#: Jaw opening limits of the Large Needle Driver 400006 (rad); the jaw does not move the tip frame.
PSM_JAW_LIMITS_RAD = (-0.698132, 1.39626)

#: Distance between the wrist pitch and wrist yaw axes of the Large Needle Driver (m).
PSM_LND_PITCH_YAW_M = 0.0091

#: Tool-tip offset of the PSM: maps the last DH frame onto the dVRK tool-tip convention.
PSM_TOOL_ROTATION = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])

#: Scope offset of the Classic ECM, straight scope.
ECM_SCOPE_ROTATION = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])

PSM_ROWS = (
    DHRow(HALF_PI, 0.0, 0.0, 0.0, HALF_PI, "revolute", -1.588, 1.588, "yaw"),
    DHRow(-HALF_PI, 0.0, 0.0, 0.0, -HALF_PI, "revolute", -0.925025, 0.925025, "pitch"),
    DHRow(HALF_PI, 0.0, 0.0, 0.0, -0.4318, "prismatic", 0.0, 0.24, "insertion"),
    DHRow(0.0, 0.0, 0.0, 0.4162, 0.0, "revolute", -4.53786, 4.53786, "roll"),
    DHRow(-HALF_PI, 0.0, 0.0, 0.0, -HALF_PI, "revolute", -1.39626, 1.39626, "wrist_pitch"),
    DHRow(
        -HALF_PI,
        PSM_LND_PITCH_YAW_M,
        0.0,
        0.0,
        -HALF_PI,
        "revolute",
        -1.39626,
        1.39626,
        "wrist_yaw",
    ),
)

ECM_ROWS = (
    DHRow(HALF_PI, 0.0, 0.0, 0.0, HALF_PI, "revolute", -1.5708, 1.5708, "yaw"),
    DHRow(-HALF_PI, 0.0, 0.0, 0.0, -HALF_PI, "revolute", -0.76794, 1.1344, "pitch"),
    DHRow(HALF_PI, 0.0, 0.0, 0.0, -0.3822, "prismatic", 0.0, 0.255, "insertion"),
    DHRow(0.0, 0.0, 0.0, 0.3829, 0.0, "revolute", -1.552, 1.552, "roll"),
)


def psm() -> Chain:
    """dVRK Classic PSM with the Large Needle Driver (400006), tool tip in the RCM frame.

    Joints: yaw, pitch (rad), insertion (m), roll, wrist_pitch, wrist_yaw (rad).
    """
    return chain_from_modified_dh(PSM_ROWS, pose(PSM_TOOL_ROTATION), name="PSM", base_link="rcm")


def ecm() -> Chain:
    """dVRK Classic ECM with a straight scope, scope tip in the RCM frame.

    Joints: yaw, pitch (rad), insertion (m), roll (rad).
    """
    return chain_from_modified_dh(ECM_ROWS, pose(ECM_SCOPE_ROTATION), name="ECM", base_link="rcm")
