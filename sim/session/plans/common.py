"""Task primitives shared by the demonstration plans: reachable grips, a grasp attempt,
release, carry a held object. Each looks at the world before it moves."""

from __future__ import annotations

import math

import numpy as np

from kinematics.transforms import axis_rotation
from sim.session.demo import Demonstrator

UP = np.array([0.0, 0.0, 1.0])
JAW_OPEN_RAD = 0.7
JAW_RELEASE_RAD = 1.2  # wide: a grasp releases only past the angle it closed at + a margin
JAW_CLOSED_RAD = -0.3
JAW_FULL_RAD = 1.4  # past the PSM's widest (1.396 rad): the master's gripper opens all the way


def jaws_down_across(direction_W, tilt_towards_W=None, tilt_rad: float = 0.0) -> np.ndarray:
    """Tool orientation (3x3, world): jaws pointing down, opening along ``direction_W``,
    optionally tilted by ``tilt_rad`` so the jaws lean back towards ``tilt_towards_W``
    (the instrument's port: a tilted wrist reaches further)."""
    z = -UP
    if tilt_towards_W is not None and tilt_rad:
        back = np.asarray(tilt_towards_W, dtype=float).copy()
        back[2] = 0.0
        if np.linalg.norm(back) > 1e-9:
            z = np.cos(tilt_rad) * z + np.sin(tilt_rad) * back / np.linalg.norm(back)
            z /= np.linalg.norm(z)
    n = np.asarray(direction_W, dtype=float).copy()
    n[2] = 0.0
    n = n - (n @ z) * z
    n /= np.linalg.norm(n)
    return np.column_stack([np.cross(n, z), n, z])


def reachable(demo: Demonstrator, arm: str, points_W, R_W) -> bool:
    """Whether ``arm`` can put its tip at every point with orientation ``R_W`` (IK check)."""
    from kinematics.transforms import pose

    return reachable_poses(demo, arm, [pose(R_W, point) for point in points_W])


def reachable_poses(demo: Demonstrator, arm: str, poses_W) -> bool:
    """Whether ``arm`` can put its tool tip at every pose (4x4, world) in turn, each IK
    solve warm-started from the last (a path, not isolated poses)."""
    return ik_path(demo, arm, poses_W) is not None


def ik_path(
    demo: Demonstrator, arm: str, poses_W, q=None, restarts: int = 20, tolerance_m=None
) -> np.ndarray | None:
    """Joint values (rad / m) of ``arm`` at the last of ``poses_W`` (4x4, world), each
    IK solve warm-started from the one before (from ``q``, default the arm's goal), or
    None when one is missed: not solved (``tolerance_m`` None) or further than
    ``tolerance_m`` (m) from its pose. ``restarts=0`` follows a path as the session's
    step-to-step IK does; more finds a pose reachable from anywhere."""
    from kinematics import solve_ik

    a = demo.session.arms[arm]
    q = a.goal_js() if q is None else q
    for X_WT in poses_W:
        result = solve_ik(a.chain, a.X_RW @ X_WT, q, restarts=restarts)
        if not (result.success if tolerance_m is None else result.pos_error <= tolerance_m):
            return None
        q = result.q
    return q


def jaw_orientations(port_W, point_W, across_W, tilts_rad):
    """Candidate tool orientations for a grip at ``point_W``: jaws down, opening along
    ``across_W`` or its opposite (the jaw is symmetric: the same grip, rolled over),
    leaning back towards the port by each of ``tilts_rad`` in turn (a tilted wrist
    reaches further). Callers keep the ones their arm can reach."""
    for tilt in tilts_rad:
        for across in (across_W, -across_W):
            yield jaws_down_across(across, port_W - point_W, tilt)


def grasp_at(
    demo: Demonstrator,
    arm: str,
    body: str,
    grips,
    approach_m: float = 0.03,
    depth_m: float = 0.006,
    tries: int = 3,
) -> bool:
    """Grasp ``body`` at the first of ``grips`` ((landmark, tool orientation 3x3) pairs)
    that works: come down from ``approach_m`` above the landmark to ``depth_m`` above it
    with the jaws open, close; on a miss open, back off and take the next grip. The
    landmark is looked at again before the last approach (the object may have moved).
    True when grasped."""
    world = demo.session.world
    for _, (landmark, R) in zip(range(tries), grips, strict=False):

        def attempt(landmark=landmark, R=R) -> bool:
            def tip_at() -> np.ndarray:
                return world.landmark(body, landmark) + depth_m * UP

            return close_on(demo, arm, body, tip_at, (approach_m - depth_m) * UP, R)

        if unless_interrupted(demo, arm, body, attempt):
            return True
        if demo.stopped:
            return False
    return False


#: Grasp attempts made again because the server held the arm during them (its device
#: fell silent on a machine too busy to keep up): they say nothing about the grip.
MAX_INTERRUPTED_GRASPS = 3


def interruptions(demo: Demonstrator) -> int:
    """How often the session has found the demonstrator's arms held and engaged them
    again (a live session over the bus; an in-process session never holds them)."""
    return getattr(demo.session, "interruptions", 0)


def unless_interrupted(demo: Demonstrator, arm: str, body: str, attempt) -> bool:
    """Make one grasp ``attempt()`` (True when held); when it failed while the server
    held the arm, make it again (up to :data:`MAX_INTERRUPTED_GRASPS` times) instead of
    counting it as a miss. Before this, a device process on a busy machine could spend
    all of a plan's tries on holds and end the plan with the object untouched."""
    for again in range(MAX_INTERRUPTED_GRASPS + 1):
        before = interruptions(demo)
        if attempt():
            return True
        if demo.stopped or interruptions(demo) == before or again == MAX_INTERRUPTED_GRASPS:
            return False
        demo.note(f"{arm}'s grasp of {body} was interrupted (the arm was held): again")
    return False


def close_on(demo: Demonstrator, arm: str, body: str, tip_at, approach_W, R_W) -> bool:
    """One grasp attempt: come to ``tip_at() + approach_W`` with the tool turned to
    ``R_W``, opening the jaw on the way (people open the jaws as they reach, not before
    they set off), go in to ``tip_at()`` (a callable: looked at again after the
    approach), close and wait for the hold. On a miss, open and back off the way the
    jaws came in. True when grasped."""
    demo.move_tip(arm, tip_at() + np.asarray(approach_W), rotation_W=R_W, jaw_rad=JAW_OPEN_RAD)
    demo.move_tip(arm, tip_at(), width_m=0.002)
    demo.grip(arm, JAW_CLOSED_RAD)
    if demo.until(lambda: arm in demo.session.holders(body), timeout_s=1.0):
        return True
    away = np.asarray(approach_W, float)
    away = 0.02 * away / max(float(np.linalg.norm(away)), 1e-9)
    demo.move_tip(arm, demo.tip_W(arm)[:3, 3] + away, jaw_rad=JAW_OPEN_RAD)
    return False


def release(demo: Demonstrator, arm: str, body: str, retreat_m: float = 0.03) -> None:
    """Open the jaw, wait until the object is let go, back off upwards."""
    open_until_let_go(demo, arm, body)
    tip = demo.tip_W(arm)[:3, 3]
    demo.move_tip(arm, tip + retreat_m * UP)


def open_until_let_go(
    demo: Demonstrator, arm: str, body: str, jaw_rad: float = JAW_RELEASE_RAD, look_s=0.05
) -> bool:
    """Open ``arm``'s jaw to ``jaw_rad`` and wait up to a second (looking every
    ``look_s``) for ``body`` to be let go of; True when it is. A grasp lets go once the
    jaw opens a little past the angle it closed at, but one made while a clash pried the
    fingers apart holds wider: still held after a second, the jaw opens fully (the world
    lets go of any grasp then), and the plan notes it."""

    def let_go() -> bool:
        return arm not in demo.session.holders(body)

    demo.grip(arm, jaw_rad)
    if demo.until(let_go, 1.0, look_s) or demo.stopped:
        return let_go()
    demo.note(f"{arm} still holds {body} at {jaw_rad:.2f} rad: opens fully")
    demo.grip(arm, JAW_FULL_RAD)
    return demo.until(let_go, 1.0, look_s)


def turn_between(axis_now_W, axis_goal_W) -> np.ndarray:
    """The smallest rotation (3x3) taking one direction to another, either way round (a
    ring's axis has no preferred sense)."""
    a = np.asarray(axis_now_W, float) / np.linalg.norm(axis_now_W)
    b = np.asarray(axis_goal_W, float) / np.linalg.norm(axis_goal_W)
    if a @ b < 0:
        b = -b
    n = np.cross(a, b)
    sin = float(np.linalg.norm(n))
    if sin < 1e-9:
        return np.eye(3)
    return axis_rotation(n / sin, math.atan2(sin, float(a @ b)))


def carry_to(
    demo: Demonstrator,
    arm: str,
    body: str,
    goal_W,
    width_m: float = 0.003,
    turn_W=None,
) -> None:
    """Move a held object's centre to ``goal_W`` by moving the tool tip (offset kept),
    turning the object about its centre by ``turn_W`` (3x3, world) on the way if given."""
    world = demo.session.world
    X_WT = demo.tip_W(arm)
    offset = X_WT[:3, 3] - world.landmark(body, "center")
    if turn_W is None:
        demo.move_tip(arm, np.asarray(goal_W) + offset, width_m=width_m)
        return
    turn_W = np.asarray(turn_W, dtype=float)
    demo.move_tip(
        arm, np.asarray(goal_W) + turn_W @ offset, width_m=width_m, rotation_W=turn_W @ X_WT[:3, :3]
    )
