"""Scripted tool paths (and the standard peg-transfer scene) for tests, benchmarks, examples.

Tests, benchmarks and demos drive the instruments the way a teleoperation loop would:
one Cartesian goal per physics step (IK warm-started each time), moving smoothly
(smoothstep in time) from the current goal to a target.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kinematics.transforms import pose
from sim.world.scene import SceneSpec

#: A tool orientation with the jaws pointing straight down (tool z = -world z).
R_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])


def peg_transfer_scene(rate_hz: float | None = None, seed: int = 0) -> SceneSpec:
    """The peg-transfer scene users run: the bundled scenario's (``peg-transfer.yaml``).

    PSM1 (right hand) and PSM2 (left hand) at ports 16 cm above the board, the ECM, an
    FLS peg board with six rings on the left pegs; 500 Hz physics unless ``rate_hz`` says
    otherwise. One source for tests, benchmarks and examples, so they exercise the scene
    a trainee practises in.
    """
    from scenarios.loader import load_scenario
    from sim.world.scenario_scene import build_scene_spec

    spec = build_scene_spec(load_scenario("peg-transfer"), seed)
    if rate_hz is not None:
        spec = dataclasses.replace(
            spec, physics=dataclasses.replace(spec.physics, rate_hz=float(rate_hz))
        )
    return spec


def wall_grip_rotation(world, ring: str, wall: int) -> np.ndarray:
    """Tool orientation (3x3, world) to grasp a ring's wall from above.

    The jaws point down, open across the wall (tool y along the wall's outward normal)
    and the tool x axis runs along the wall.
    """
    n = world.landmark(ring, f"wall{wall}") - world.landmark(ring, "center")
    n[2] = 0.0
    n /= np.linalg.norm(n)
    z = np.array([0.0, 0.0, -1.0])
    return np.column_stack([np.cross(n, z), n, z])


def _smoothstep(s: float) -> float:
    return s * s * (3.0 - 2.0 * s)


def move_tool(
    world,
    arm: str,
    position_m,
    seconds: float,
    rotation=None,
    jaw_rad: float | None = None,
    on_step=None,
) -> float:
    """Move an arm's tool tip to ``position_m`` (world) over ``seconds``, one goal a step.

    Args:
        rotation: goal orientation (3x3, world); default: keep the current goal's.
        jaw_rad: jaw goal to command at the start (None leaves the jaw alone).
        on_step: called with the world after every step (for recording).

    Returns:
        The largest IK position error (m) along the path.
    """
    a = world.arm(arm)
    X0 = a.X_WR @ a.chain.fk(a.goal_js())
    R = X0[:3, :3] if rotation is None else np.asarray(rotation, dtype=float)
    p0, p1 = X0[:3, 3], np.asarray(position_m, dtype=float)
    if jaw_rad is not None:
        a.servo_jaw(jaw_rad)
    steps = max(1, round(seconds * world.rate_hz))
    worst = 0.0
    for k in range(1, steps + 1):
        result = a.servo_cp(pose(R, p0 + _smoothstep(k / steps) * (p1 - p0)))
        worst = max(worst, result.pos_error)
        world.step()
        if on_step is not None:
            on_step(world)
    return worst


def hold(world, seconds: float, arm: str | None = None, jaw_rad: float | None = None) -> None:
    """Step for ``seconds``, first commanding ``arm``'s jaw to ``jaw_rad`` if given."""
    if arm is not None and jaw_rad is not None:
        world.arm(arm).servo_jaw(jaw_rad)
    world.step(max(1, round(seconds * world.rate_hz)))


def pick(world, arm: str, ring: str, wall: int, open_rad: float = 0.6) -> None:
    """Open the jaw over a ring's wall, descend, close on it and lift it 4 cm."""
    grip = world.landmark(ring, f"grip{wall}")
    up = np.array([0.0, 0.0, 1.0])
    R = wall_grip_rotation(world, ring, wall)
    move_tool(world, arm, grip + 0.03 * up, 0.8, rotation=R, jaw_rad=open_rad)
    move_tool(world, arm, grip + 0.006 * up, 0.5)
    hold(world, 0.4, arm, -0.3)
    move_tool(world, arm, grip + 0.046 * up, 0.5)


def place(world, arm: str, ring: str, peg_landmark: str, board: str = "board") -> None:
    """Carry a held ring over a peg of the board, lower it onto the peg and let go."""
    a = world.arm(arm)
    offset = a.measured_cp()[:3, 3] - world.landmark(ring, "center")
    peg = world.landmark(board, peg_landmark)
    up = np.array([0.0, 0.0, 1.0])
    move_tool(world, arm, peg + 0.02 * up + offset, 1.0)
    move_tool(world, arm, peg - 0.006 * up + offset, 0.5)
    hold(world, 0.5, arm, 1.0)
    move_tool(world, arm, a.X_WR[:3, 3] + 0.6 * (peg + 0.03 * up - a.X_WR[:3, 3]), 0.5)
