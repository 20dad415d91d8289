"""Camera targeting: drive the endoscope so that each target in turn sits in the middle
of the view, close up, and stays there.

The scope pivots about its port (the remote centre of motion), and its view axis is the
shaft: the camera looks along the line from the port through the scope tip. So centring
a target means putting the tip on the line from the port to the target, and zooming
means sliding the tip along that line. The plan reads what each step asks (which object
to centre, how close the tip must be) from the step's trigger, aims, looks again, and
corrects until the step is done, as a trainee would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scenarios.schema import Trigger
from sim.errors import SimError
from sim.session.demo import Demonstrator

#: Aim well inside the tolerance, so that hand scatter and tremor leave margin.
AIM_SHARE = 0.4
#: Corrective looks per target before waiting on whatever the aim gives.
MAX_AIMS = 6
#: Closest the scope tip comes to a target (m): the view needs it, the target is solid.
STANDOFF_M = 0.04
#: Share of a zoom region's half-chord kept clear of its edges, for hand scatter.
REGION_MARGIN = 0.4


@dataclass(frozen=True)
class ViewGoal:
    """What a step asks of the camera.

    Attributes:
        object: the object (or landmark) to centre.
        tolerance_rad: largest angle between the view axis and the object.
        region_center_m, region_radius_m: a sphere (world, m) the scope tip must be in,
            e.g. "close up"; None when the step does not ask for one.
    """

    object: str
    tolerance_rad: float
    region_center_m: np.ndarray | None = None
    region_radius_m: float | None = None


def view_goal(trigger: Trigger, scope: str) -> ViewGoal | None:
    """The first ``centered`` condition in ``trigger`` (through ``all``/``any``/``held``),
    with the scope's ``entered`` region beside it when there is one."""
    parts = [trigger]
    centered = region = None
    while parts:
        t = parts.pop(0)
        if t.centered is not None and centered is None:
            centered = t.centered
        if t.entered is not None and t.entered.instrument in (scope, "any") and region is None:
            region = t.entered.region
        parts += [*(t.all or []), *(t.any or [])]
        if t.held is not None:
            parts.append(t.held.trigger)
    if centered is None:
        return None
    return ViewGoal(
        centered.object,
        math.radians(centered.tolerance_deg),
        None if region is None else np.asarray(region.center_m, float),
        None if region is None else region.radius_m,
    )


def tip_on_view_line(port_W, target_W, distance_m: float, region=None) -> np.ndarray:
    """Where the scope tip must be (world, m) to look straight at ``target_W`` from the
    port: on the line port -> target, ``distance_m`` from the port, but never closer to
    the target than :data:`STANDOFF_M`; with ``region`` (centre, radius), moved the least
    that brings it well inside that sphere (an expert zooms no more than asked)."""
    port_W = np.asarray(port_W, float)
    line = np.asarray(target_W, float) - port_W
    reach = float(np.linalg.norm(line))
    u = line / reach
    lo, hi = 0.0, reach - STANDOFF_M
    if region is not None:
        center, radius = region
        # |port + s u - center| = radius: s = b -+ sqrt(b^2 - c)
        b = u @ (center - port_W)
        c = (center - port_W) @ (center - port_W) - radius**2
        if b * b > c:
            half = math.sqrt(b * b - c)
            margin = REGION_MARGIN * half
            lo, hi = max(lo, b - half + margin), min(hi, b + half - margin)
    distance_m = min(max(distance_m, lo), hi) if lo <= hi else hi
    return port_W + distance_m * u


def aim(demo: Demonstrator, scope: str, goal: ViewGoal) -> bool:
    """Swing (and insert) the scope until ``goal`` is met with margin; True when it is."""
    s = demo.session
    port = s.arms[scope].X_WR[:3, 3]
    region = None if goal.region_center_m is None else (goal.region_center_m, goal.region_radius_m)
    for _ in range(MAX_AIMS):
        if demo.stopped:
            return False
        target = s.view.object_position(goal.object)
        depth = float(np.linalg.norm(s.camera_pose_W()[:3, 3] - port))
        tip = tip_on_view_line(port, target, depth, region)
        # the reach's precision: the lateral offset that keeps the target well centred
        width = AIM_SHARE * goal.tolerance_rad * float(np.linalg.norm(target - tip))
        demo.move_tip(scope, tip, width_m=min(max(width, 0.001), 0.01))
        if _met(demo, scope, goal, AIM_SHARE * 2):
            return True
    return _met(demo, scope, goal, 1.0)


def _met(demo: Demonstrator, scope: str, goal: ViewGoal, share: float) -> bool:
    """The goal holds with its tolerance (and region radius) scaled by ``share`` (<= 1)."""
    s = demo.session
    if s.view.camera_angle_to(goal.object) > share * goal.tolerance_rad:
        return False
    if goal.region_center_m is None:
        return True
    distance = np.linalg.norm(s.camera_pose_W()[:3, 3] - goal.region_center_m)
    return bool(distance <= min(share, 1.0) * goal.region_radius_m)


def camera_targeting(demo: Demonstrator) -> None:
    """Each step in turn: aim at its target, then hold still until the step is done,
    re-aiming if the view drifts off the target."""
    s = demo.session
    scope = s.camera_arm
    if scope not in s.driven:
        raise SimError(
            f"camera_targeting drives the endoscope, but the camera arm {scope!r} is not "
            "teleoperated; set 'teleoperated: true' on it in the scenario."
        )
    runner = s.runner
    for index, step in enumerate(s.scenario.exercise.steps):
        goal = view_goal(step.done_when, scope)
        if goal is None:
            continue  # not a camera step: nothing this plan can do for it
        while not demo.stopped and runner.step_index <= index:
            aim(demo, scope, goal)
            demo.until(
                lambda goal=goal, index=index: (
                    runner.step_index > index or not _met(demo, scope, goal, 1.0)
                ),
                timeout_s=5.0,
            )
