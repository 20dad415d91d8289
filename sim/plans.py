"""Demonstration plans: how the scripted operators complete each bundled exercise.

A plan is a function of a :class:`~sim.demo.Demonstrator`; it looks at the world (ring
positions, peg tops, needle and marks) before every motion, like a surgeon who watches
the screen, and commands task-level primitives that the synthetic operators turn into
human-like hand motion. ``plan_for`` picks a plan by the scenario's ``plan.kind``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scenarios.errors import ScenarioError
from scenarios.schema import Scenario
from sim.demo import Demonstrator

UP = np.array([0.0, 0.0, 1.0])
JAW_OPEN_RAD = 0.7
JAW_RELEASE_RAD = 1.2  # wide: a grasp releases only past the angle it closed at + a margin
JAW_CLOSED_RAD = -0.3


def jaws_down_across(direction_W) -> np.ndarray:
    """Tool orientation (3x3, world): jaws pointing down, opening along ``direction_W``."""
    n = np.asarray(direction_W, dtype=float).copy()
    n[2] = 0.0
    n /= np.linalg.norm(n)
    z = -UP
    return np.column_stack([np.cross(n, z), n, z])


def _wall_normal(world, body: str, wall: int) -> np.ndarray:
    return world.landmark(body, f"wall{wall}") - world.landmark(body, "center")


def grasp(
    demo: Demonstrator,
    arm: str,
    body: str,
    landmark: str,
    across_W,
    approach_m: float = 0.03,
    depth_m: float = 0.006,
) -> bool:
    """Open, come down on ``body:landmark`` with the jaws across ``across_W``, close.

    Returns whether the world reports the grasp.
    """
    world = demo.session.world
    point = world.landmark(body, landmark)
    R = jaws_down_across(across_W)
    demo.grip(arm, JAW_OPEN_RAD)
    demo.move_tip(arm, point + approach_m * UP, rotation_W=R)
    point = world.landmark(body, landmark)  # it may have moved while we approached
    demo.move_tip(arm, point + depth_m * UP, width_m=0.002)
    demo.grip(arm, JAW_CLOSED_RAD)
    return demo.until(lambda: arm in demo.session.holders(body), timeout_s=1.0)


def release(demo: Demonstrator, arm: str, body: str, retreat_m: float = 0.03) -> None:
    """Open the jaw, wait until the object is let go, back off upwards."""
    demo.grip(arm, JAW_RELEASE_RAD)
    demo.until(lambda: arm not in demo.session.holders(body), timeout_s=1.0)
    tip = demo.session.tip_target_W(arm)[:3, 3]
    demo.move_tip(arm, tip + retreat_m * UP)


def carry_to(demo: Demonstrator, arm: str, body: str, goal_W, width_m: float = 0.003) -> None:
    """Move a held object's centre to ``goal_W`` by moving the tool tip (offset kept)."""
    world = demo.session.world
    tip = demo.session.tip_target_W(arm)[:3, 3]
    offset = tip - world.landmark(body, "center")
    demo.move_tip(arm, np.asarray(goal_W) + offset, width_m=width_m)


def transfer_ring(demo: Demonstrator, ring: int, to_peg: int, giver: str, taker: str) -> None:
    """Lift a ring with ``giver``, hand it to ``taker`` above the board, place it on a peg."""
    world = demo.session.world
    body = f"board/ring{ring}"
    center = world.landmark(body, "center")
    # the giver takes the wall facing its own side; the taker the one facing its side
    walls = range(3)
    side = 1.0 if demo.session.arms[giver].X_WR[0, 3] > 0 else -1.0
    giver_wall = max(walls, key=lambda w: side * _wall_normal(world, body, w)[0])
    if not grasp(demo, giver, body, f"grip{giver_wall}", _wall_normal(world, body, giver_wall)):
        return
    board_top = world.landmark("board", "top")
    handover = np.array([0.0, center[1], board_top[2] + 0.06])
    carry_to(demo, giver, body, center + 0.04 * UP)
    carry_to(demo, giver, body, handover)
    taker_wall = max(
        (w for w in walls if w != giver_wall), key=lambda w: -side * _wall_normal(world, body, w)[0]
    )
    if not grasp(
        demo,
        taker,
        body,
        f"grip{taker_wall}",
        _wall_normal(world, body, taker_wall),
        approach_m=0.0,
        depth_m=0.0,
    ):
        return
    release(demo, giver, body)
    peg = world.landmark("board", f"peg{to_peg}")
    carry_to(demo, taker, body, peg + 0.015 * UP)
    carry_to(demo, taker, body, peg - 0.006 * UP, width_m=0.002)
    release(demo, taker, body)


def peg_transfer(demo: Demonstrator) -> None:
    """Six rings from the left pegs to the right ones and back, handing over mid-air."""
    s = demo.session
    left, right = sorted(s.driven, key=lambda a: s.arms[a].X_WR[0, 3])
    for ring in range(6):
        if demo.stopped:
            return
        transfer_ring(demo, ring, ring + 6, giver=left, taker=right)
    for ring in range(6):
        if demo.stopped:
            return
        transfer_ring(demo, ring, ring, giver=right, taker=left)


PLANS: dict[str, Callable[[Demonstrator], None]] = {
    "peg_transfer": peg_transfer,
}


def plan_for(scenario: Scenario) -> Callable[[Demonstrator], None]:
    """The demonstration plan named by ``scenario.plan['kind']``."""
    kind = scenario.plan.get("kind")
    plan = PLANS.get(kind)
    if plan is None:
        raise ScenarioError(
            f"scenario {scenario.name!r} has no demonstration plan ({kind!r}); known plans are "
            f"{sorted(PLANS)}. Synthetic operators need one; a master device does not."
        )
    return plan
