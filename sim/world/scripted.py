"""Scripted scenes and tool paths: the standard peg-transfer scene and smooth Cartesian moves.

Tests, benchmarks and demos drive the instruments the way a teleoperation loop would:
one Cartesian goal per physics step (IK warm-started each time), moving smoothly
(smoothstep in time) from the current goal to a target.
"""

from __future__ import annotations

import numpy as np

from kinematics.transforms import pose
from sim.world.scene import ArmSpec, PegBoardSpec, PhysicsSpec, SceneSpec

#: A tool orientation with the jaws pointing straight down (tool z = -world z).
R_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])


def peg_transfer_scene(rate_hz: float = 1000.0, seed: int = 0, **physics) -> SceneSpec:
    """FLS peg transfer in a box trainer: PSM1 (left), PSM2 (right), the ECM, a peg board.

    Ports sit 14 cm (PSMs) and 20 cm (ECM) above the board, aimed at its centre; the six
    rings start on the left pegs. The workspace is the board: a ring that falls off it is
    reported as dropped (``left_workspace``).
    """
    return SceneSpec(
        physics=PhysicsSpec(rate_hz=rate_hz, seed=seed, **physics),
        arms=(
            _psm_at_port("PSM1", side=-1.0),
            _psm_at_port("PSM2", side=1.0),
            ArmSpec(
                "ECM",
                "ecm",
                port_position_m=(0.0, -0.12, 0.20),
                port_look_at_m=(0.0, 0.0, 0.01),
                insertion_m=0.08,
            ),
        ),
        objects=(PegBoardSpec(name="board"),),
        # the board's footprint, from just below its top: a ring off the board is a drop
        workspace_m=((-0.125, -0.075, 0.006), (0.125, 0.075, 0.4)),
    )


def _psm_at_port(name: str, side: float) -> ArmSpec:
    """A PSM whose port is 9 cm to one side of the board centre, 8 cm forward, 14 cm up."""
    return ArmSpec(
        name,
        "psm",
        port_position_m=(side * 0.09, -0.08, 0.14),
        port_look_at_m=(side * 0.02, 0.0, 0.01),
        insertion_m=0.12,
    )


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
