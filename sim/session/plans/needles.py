"""Needle plans: pick-up and handover, and driving a curved needle through tissue.

The needle is seen as a surgeon sees it: a circular arc through its ``tip``, ``middle``
and ``tail`` landmarks (centre halfway between tip and tail), so a plan can name any
point along it by its angle from the tip. A needle is driven by turning it about its own
centre, the tip leading, along the arc from the entry mark to the exit mark: the tool
follows the rotation with the grasp held fixed, as a wrist turns a needle driver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kinematics.transforms import axis_rotation, inverse, pose
from sim.errors import UnknownNameError
from sim.session.demo import Demonstrator
from sim.session.plans.common import (
    UP,
    close_on,
    jaw_orientations,
    reachable,
    reachable_poses,
    release,
    unless_interrupted,
)

#: Where along the jaw (m from the wrist-yaw pivot that is the tool-tip frame) the jaws
#: hold the needle: near the fingertips (0.8 mm from their ends), so the fingers reach a
#: needle lying on the pad without pressing into it.
JAW_HOLD_M = 0.0092
#: How high (m) the drive's lead pose holds the needle's tip over the tissue, a little way
#: back along its arc from the entry mark (:func:`lead_angle`): the tip must not touch the
#: tissue while the needle comes down onto that pose (the last move's worst overshoot, for
#: the expert hand over :data:`FINAL_APPROACH_M`, is ~0.7 mm with tremor). It was a fixed
#: 0.15 rad before: 0.96 mm on the bundled pad (marks 12 mm apart), but 0.54 mm with marks
#: 6 mm apart and 0.36 mm with 4 mm, where the approach could push the tip in.
LEAD_CLEARANCE_M = 0.001
#: The needle comes down over the entry mark in two moves: a long one to this height
#: (m) above the drive's lead pose, then a short one onto it. A hand's end-point scatter
#: and overshoot grow with the length of the move (the expert's: ~3% and 4% of it, in
#: :mod:`haptics.operators`): coming down 30 mm at once overshot the lead pose by 1.9 mm
#: on some seeds, pushing the tip into the tissue, and the correction pulled it back
#: out (an "exit" 12 mm from the exit mark, averaged into the exit error). Over 5 mm
#: the same scatter is ~0.3 mm, under the ~1 mm the lead pose leaves above the tissue.
FINAL_APPROACH_M = 0.005


@dataclass(frozen=True)
class Arc:
    """A curved needle's circle in the world: ``point(a)`` is the arc point at angle
    ``a`` (rad) from the tip towards the middle; ``normal`` = e1 x e2."""

    center: np.ndarray
    radius_m: float
    e1: np.ndarray  # centre -> tip
    e2: np.ndarray  # in the plane, towards the middle

    @property
    def normal(self) -> np.ndarray:
        """The circle's plane normal, e1 x e2 (unit; world frame): the axis the needle
        turns about as it is driven through."""
        return np.cross(self.e1, self.e2)

    def point(self, a: float) -> np.ndarray:
        """The arc's point (world frame, m) at angle ``a`` (rad) from the tip, towards the
        middle."""
        return self.center + self.radius_m * (math.cos(a) * self.e1 + math.sin(a) * self.e2)

    def tangent(self, a: float) -> np.ndarray:
        """The unit tangent (world frame) at angle ``a`` (rad), pointing the way ``a``
        grows (from the tip towards the middle): the direction the needle moves."""
        return -math.sin(a) * self.e1 + math.cos(a) * self.e2


def needle_arc(world, needle: str) -> Arc:
    """The needle's circle now, from its tip, middle and tail landmarks."""
    tip, middle, tail = (world.landmark(needle, k) for k in ("tip", "middle", "tail"))
    center = (tip + tail) / 2
    e1 = tip - center
    radius = float(np.linalg.norm(e1))
    e1 = e1 / radius
    e2 = middle - center
    e2 = e2 - (e2 @ e1) * e1
    return Arc(center, radius, e1, e2 / np.linalg.norm(e2))


def _grip_orientations(demo: Demonstrator, arm: str, arc: Arc, a: float, lift_m: float):
    """Reachable tool orientations that hold the arc at angle ``a`` with jaws across the
    wire, fingers from above (leaning towards the port for reach)."""
    port = demo.session.arms[arm].X_WR[:3, 3]
    point = arc.point(a)
    across = np.cross(UP, arc.tangent(a))
    if np.linalg.norm(across) < 1e-6:  # the wire runs vertically here: any horizontal
        across = np.array([1.0, 0.0, 0.0])
    for R in jaw_orientations(port, point, across, (0.0, 0.3, 0.6)):
        tip = point - JAW_HOLD_M * R[:, 2]
        if reachable(demo, arm, [tip + lift_m * UP, tip], R):
            yield R


def grasp_needle(
    demo: Demonstrator,
    arm: str,
    needle: str,
    a: float,
    approach_m: float = 0.015,
    tries: int = 2,
    orientations=None,
) -> bool:
    """Grasp ``needle`` at arc angle ``a`` (rad from the tip) from above, trying the given
    tool ``orientations`` (default: reachable ones). True when held."""
    world = demo.session.world
    arc = needle_arc(world, needle)
    if orientations is None:
        orientations = _grip_orientations(demo, arm, arc, a, approach_m)
    for _, R in zip(range(tries), orientations, strict=False):

        def attempt(R=R) -> bool:
            def tip_at() -> np.ndarray:
                return needle_arc(world, needle).point(a) - JAW_HOLD_M * R[:, 2]

            return close_on(demo, arm, needle, tip_at, approach_m * UP, R)

        if unless_interrupted(demo, arm, needle, attempt):
            return True
        if demo.stopped:
            return False
    return False


def _needle(world) -> str:
    """The needle the plan handles (:func:`~sim.session.plans.find_needle`), or an
    :class:`UnknownNameError` the plan's guard words as the scenario's lack."""
    from sim.session.plans import find_needle

    needle = find_needle(world.object_names())
    if needle is None:
        raise UnknownNameError("no needle in the scene", "body", "PAD/needle")
    return needle


def needle_handover(demo: Demonstrator) -> None:
    """Left instrument picks the needle up near its tail, the right one takes it near the
    tip in mid-air, then hands it back; each lets go once the other holds it."""
    s = demo.session
    world = s.world
    left, right = sorted(s.driven, key=lambda a: s.arms[a].X_WR[0, 3])
    needle = _needle(world)
    if not grasp_needle(demo, left, needle, math.radians(135)):
        return
    air = world.landmark(needle, "middle") + np.array([0.0, 0.01, 0.045])
    demo.move_tip(right, air + np.array([0.04, 0.0, 0.03]), width_m=0.01)
    tip = demo.tip_W(left)[:3, 3]
    demo.move_tip(left, air + (tip - needle_arc(world, needle).center))
    for giver, taker, a in ((left, right, 45), (right, left, 135)):
        if demo.stopped:
            return
        if not grasp_needle(demo, taker, needle, math.radians(a)):
            demo.note(f"{taker} could not take {needle} from {giver}: the plan stops here")
            return
        release(demo, giver, needle, retreat_m=0.02)


# ---- driving through tissue --------------------------------------------------------------


def drive_axis(entry_W, exit_W, radius_m: float):
    """Centre and rotation axis of a needle circle through ``entry_W`` and ``exit_W``
    (marks on a horizontal tissue surface), centre above the surface; turning the tip
    about the axis by +angle carries it from entry down through the tissue to exit."""
    half = np.linalg.norm(exit_W - entry_W) / 2
    if half >= radius_m:
        raise ValueError(f"marks {2 * half:.4f} m apart: too far for a {radius_m} m needle")
    center = (entry_W + exit_W) / 2 + math.sqrt(radius_m**2 - half**2) * UP
    u = (exit_W - entry_W) / (2 * half)
    axis = np.cross(UP, u)
    v0 = entry_W - center
    if np.cross(v0, exit_W - center) @ axis < 0:
        axis = -axis
    return center, axis, 2 * math.asin(half / radius_m)


def lead_angle(center_W, entry_W, radius_m: float, clearance_m: float) -> float:
    """How far back (rad) along a needle circle centred at ``center_W`` (above the
    horizontal tissue surface through ``entry_W``) its point is ``clearance_m`` (m) over the
    surface: the tip at angle b from straight down is ``h - radius cos b`` over it (``h`` the
    centre's height), and at the entry mark ``cos b = h / radius``."""
    h = float((np.asarray(center_W, float) - np.asarray(entry_W, float)) @ UP)
    return math.acos((h - clearance_m) / radius_m) - math.acos(h / radius_m)


def _needle_pose_W(arc: Arc) -> np.ndarray:
    return pose(np.column_stack([arc.e1, arc.e2, arc.normal]), arc.center)


def drive_path(
    arc: Arc,
    X_WT_held,
    entry_W,
    exit_W,
    lead_clearance_m: float = LEAD_CLEARANCE_M,
    overshoot_rad: float = 0.45,
    step_rad: float = 0.2,
) -> list[np.ndarray]:
    """Tool poses (4x4, world) that drive a needle held as it is now (``arc``, with the
    tool at ``X_WT_held``) from where its tip is ``lead_clearance_m`` (m) over the tissue
    just before ``entry_W`` to ``overshoot_rad`` past ``exit_W``, turning it about its
    centre in steps of about ``step_rad``."""
    X_NT = inverse(_needle_pose_W(arc)) @ np.asarray(X_WT_held)  # the grasp, needle frame
    entry_W, exit_W = np.asarray(entry_W, float), np.asarray(exit_W, float)
    center, axis, sweep = drive_axis(entry_W, exit_W, arc.radius_m)
    lead_rad = lead_angle(center, entry_W, arc.radius_m, lead_clearance_m)
    e1 = axis_rotation(axis, -lead_rad) @ (entry_W - center)
    e1 /= np.linalg.norm(e1)
    e2 = axis_rotation(axis, -math.pi / 2) @ e1  # the needle's body trails the tip
    X_WN0 = pose(np.column_stack([e1, e2, np.cross(e1, e2)]), center)
    total = lead_rad + sweep + overshoot_rad
    path = []
    for angle in np.linspace(0.0, total, max(2, math.ceil(total / step_rad)) + 1):
        X_WN = pose(axis_rotation(axis, angle)) @ pose(None, -center) @ X_WN0
        X_WN[:3, 3] += center
        path.append(X_WN @ X_NT)
    return path


def _lifted(X: np.ndarray, up_m: float) -> np.ndarray:
    out = X.copy()
    out[:3, 3] += up_m * UP
    return out


def drivable_grasp(demo: Demonstrator, arm: str, needle: str, entry_W, exit_W, clearance_m):
    """A grasp angle (rad from the tip) and tool orientation from which ``arm`` can both
    pick the needle up and drive it from ``entry_W`` to ``exit_W``; None if there is none."""
    arc = needle_arc(demo.session.world, needle)
    for a in np.radians((150, 135, 165, 120)):
        for R in _grip_orientations(demo, arm, arc, a, clearance_m):
            X_WT = pose(R, arc.point(a) - JAW_HOLD_M * R[:, 2])
            path = drive_path(arc, X_WT, entry_W, exit_W)
            if reachable_poses(demo, arm, [_lifted(path[0], clearance_m), *path]):
                return float(a), R
    return None


def drive_needle(
    demo: Demonstrator, arm: str, needle: str, entry_W, exit_W, clearance_m: float = 0.03
) -> None:
    """Lift the held needle, turn it over the entry mark in the air, set its tip just above
    the mark (the last few millimetres as a short move of their own:
    :data:`FINAL_APPROACH_M`) and drive it through to the exit mark (see
    :func:`drive_path`)."""
    world = demo.session.world
    X_WT = demo.session.arms[arm].measured_cp("world")
    path = drive_path(needle_arc(world, needle), X_WT, entry_W, exit_W)
    # a held needle passes through tissue: it must not swing through the pad on the way
    demo.move_tip(arm, X_WT[:3, 3] + clearance_m * UP)
    demo.move_tip(arm, path[0][:3, 3] + clearance_m * UP, rotation_W=path[0][:3, :3])
    demo.move_tip(arm, path[0][:3, 3] + FINAL_APPROACH_M * UP, rotation_W=path[0][:3, :3])
    for X in path:
        demo.move_tip(arm, X[:3, 3], width_m=0.001, rotation_W=X[:3, :3])


def needle_tissue(demo: Demonstrator) -> None:
    """The driver (``plan.driver``) picks the needle up where it can drive it from, drives
    it from ``plan.entry`` to ``plan.exit`` (mark names), and the other instrument takes it
    by the part that came out while the driver lets go (the exercise's last step)."""
    s = demo.session
    world = s.world
    plan = s.scenario.plan
    driver = plan.driver or s.driven[0]
    if driver not in s.driven:
        raise UnknownNameError(f"no driven arm {driver!r}", "driven arm (plan.driver)", driver)
    helper = next((a for a in s.driven if a != driver), None)
    if helper is None:
        raise UnknownNameError(f"no arm besides {driver!r}", "second driven arm", "")
    needle = _needle(world)
    pad = needle.rpartition("/")[0]
    entry = world.landmark(pad, plan.entry)
    exit_ = world.landmark(pad, plan.exit)
    grip = drivable_grasp(demo, driver, needle, entry, exit_, clearance_m=0.03)
    if grip is None or not grasp_needle(demo, driver, needle, grip[0], orientations=[grip[1]]):
        return
    drive_needle(demo, driver, needle, entry, exit_)
    if demo.stopped or not grasp_needle(demo, helper, needle, PULL_GRIP_RAD, approach_m=0.01):
        return
    release(demo, driver, needle, retreat_m=0.0)


#: Where the pulling instrument takes a needle that has come out (rad from the tip).
PULL_GRIP_RAD = 0.15
