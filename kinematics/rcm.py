"""Geometry of a straight instrument through a port (remote centre of motion).

Convention: the instrument shaft runs along the tool frame's z axis, pointing from the
port towards the tip (the direction of insertion), as on the dVRK PSM with its wrist
straight. These helpers build target poses for :func:`kinematics.solve_ik` with ``rcm=``
and measure how far a tool pose is from passing through a port.
"""

from __future__ import annotations

import math

import numpy as np

from kinematics.errors import KinematicsError


def tool_pose_through_port(p_port, p_tip, roll_rad: float = 0.0) -> np.ndarray:
    """The tool-tip pose ``X_base_tip`` whose shaft passes through ``p_port`` to ``p_tip``.

    The z axis points from the port to the tip; the x axis is the base frame's x axis
    (or y when the shaft is nearly along x) projected normal to the shaft, then rotated by
    ``roll_rad`` about the shaft.

    Raises:
        KinematicsError: the tip coincides with the port (no shaft direction).
    """
    p_port = np.asarray(p_port, dtype=float)
    p_tip = np.asarray(p_tip, dtype=float)
    shaft = p_tip - p_port
    length = np.linalg.norm(shaft)
    if not np.isfinite(length) or length < 1e-9:
        raise KinematicsError(
            f"tip {p_tip.tolist()} must lie beyond the port {p_port.tolist()} along the shaft."
        )
    z = shaft / length
    ref = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = ref - ref.dot(z) * z
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c, s = math.cos(roll_rad), math.sin(roll_rad)
    X = np.eye(4)
    X[:3, 0] = c * x + s * y
    X[:3, 1] = -s * x + c * y
    X[:3, 2] = z
    X[:3, 3] = p_tip
    return X


def port_distance(X_base_tip, p_port) -> float:
    """Distance (m) from the port to the shaft ray behind the tip (to the tip if ahead of it)."""
    X = np.asarray(X_base_tip, dtype=float)
    u = X[:3, 3] - np.asarray(p_port, dtype=float)
    z = X[:3, 2]
    s = float(u @ z)
    if s < 0:
        return float(np.linalg.norm(u))
    return float(np.linalg.norm(u - s * z))


def sample_port_targets(
    p_port,
    n: int,
    rng: np.random.Generator,
    *,
    cone_half_angle_rad: float = math.radians(35.0),
    depth_range_m: tuple[float, float] = (0.02, 0.12),
    axis=(0.0, 0.0, -1.0),
) -> np.ndarray:
    """Random tool poses (n, 4, 4) through a port, for benchmarks and tests.

    Shaft directions are uniform over the spherical cap of ``cone_half_angle_rad``
    around ``axis`` (default: straight down), insertion depths beyond the port uniform
    in ``depth_range_m``, roll uniform in [-pi, pi). Whether an arm can reach them is a
    separate question (check with a full-pose :func:`kinematics.solve_ik_batch`).
    """
    p_port = np.asarray(p_port, dtype=float)
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    theta = np.arccos(1 - rng.random(n) * (1 - math.cos(cone_half_angle_rad)))
    phi = rng.random(n) * 2 * math.pi
    local = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], 1)
    frame = tool_pose_through_port(np.zeros(3), axis)[:3, :3]  # z = axis
    shafts = local @ frame.T
    depth = rng.uniform(*depth_range_m, n)
    roll = rng.uniform(-math.pi, math.pi, n)
    return np.array(
        [tool_pose_through_port(p_port, p_port + depth[k] * shafts[k], roll[k]) for k in range(n)]
    )
