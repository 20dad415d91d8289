"""Smooth tool-tip paths for arms driven by ``servo_cp`` (controllers, demonstrations).

A scripted controller moves the tool tip as a skilled hand does: a minimum-jerk profile
in position (Flash & Hogan 1985) with the orientation turned along the same profile
about one fixed axis (the shortest rotation), timed by Fitts' law so that long, precise
moves take longer. Pure numpy: it needs no physics engine.
"""

from __future__ import annotations

import math

import numpy as np

from haptics.signals import minimum_jerk
from kinematics.transforms import axis_angle, axis_rotation

#: Fitts' law coefficients of a skilled reach (s): the expert operator's
#: (``haptics.operators.PRESETS["expert"]``).
FITTS_A_S = 0.12
FITTS_B_S = 0.10


def fitts_duration_s(
    distance_m: float, width_m: float, a_s: float = FITTS_A_S, b_s: float = FITTS_B_S
) -> float:
    """Movement time (s) for a reach of ``distance_m`` to a target ``width_m`` wide:
    a + b log2(D / W + 1)."""
    return a_s + b_s * math.log2(max(distance_m, 0.0) / max(width_m, 1e-6) + 1.0)


def servo_path(X_start: np.ndarray, X_goal: np.ndarray, duration_s: float, rate_hz: float):
    """Poses (n, 4, 4) from ``X_start`` to ``X_goal`` (4x4) over ``duration_s`` at
    ``rate_hz``, the last one exactly ``X_goal``: position along a minimum-jerk profile,
    orientation turned about the fixed axis of the relative rotation along the same
    profile."""
    n = max(1, round(duration_s * rate_hz))
    t = np.arange(1, n + 1) / rate_hz
    duration = n / rate_hz
    positions = minimum_jerk(X_start[:3, 3], X_goal[:3, 3], duration, t)
    shape = minimum_jerk(0.0, 1.0, duration, t)[:, 0]
    axis, angle = axis_angle(X_goal[:3, :3] @ X_start[:3, :3].T)
    out = np.zeros((n, 4, 4))
    out[:, 3, 3] = 1.0
    out[:, :3, 3] = positions
    for k in range(n):
        out[k, :3, :3] = axis_rotation(axis, angle * shape[k]) @ X_start[:3, :3]
    out[-1] = X_goal
    return out
