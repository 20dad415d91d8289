"""What a valid scenario's world will do that its author probably did not mean, found by
building that world once (pybullet, no step taken).

:mod:`sim.world.scenario_check` checks names and places from plain data; some mistakes
only show in the bodies themselves:

- **overlaps**: two bodies that start inside one another (a block placed in the board, a
  ring on top of another, an instrument's tip in the tissue). The physics pushes them
  apart at the first step, a jolt that can throw a ring off its peg before the trainee
  has done anything, and nothing in the session says why.
- **out of reach**: a movable object that no arm with jaws can reach from its port, so
  the exercise cannot be done (an object inside ``workspace_m`` but 20 cm from the ports
  validated); likewise an ``entered`` region no tip it names can come within
  ``radius_m`` of (z = 0.39 m, 20 cm above the ports, validated).

Both are warnings (:class:`~scenarios.errors.ScenarioWarning`, at the YAML line of the
object or arm), not errors: the file still loads and runs. ``surgisim scenario
validate`` prints them beside :func:`scenarios.lint.scenario_warnings`, and beside the
steps a session has done before anyone moves (:mod:`sim.session.done_at_start`: it runs
the session, which the world does not import).
"""

from __future__ import annotations

import numpy as np

from scenarios.errors import ScenarioError, ScenarioWarning
from scenarios.lint import dotted, entered_regions, region_off_the_scene, warning_at
from scenarios.schema import Scenario
from sim.world.scenario_scene import build_scene_spec

#: Depth (m) at which two bodies count as starting inside one another. Resting contact
#: reads a few tenths of a millimetre (a ring on the ring-walk course: -0.14 mm) and
#: pybullet's contact solver absorbs that; a millimetre is a visible jolt.
OVERLAP_WARN_M = 1e-3
#: How far (m) the closest tool-tip position may fall from the nearest place the jaws
#: could take a body (:func:`_grasp_points`) before the body counts as out of reach.
REACH_SLACK_M = 5e-3


def world_warnings(scenario: Scenario, seed: int = 0) -> list[ScenarioWarning]:
    """Overlapping bodies and unreachable objects of ``scenario``'s world at ``seed``.

    Builds the world (a pybullet DIRECT client, closed again; ~0.1 s) and takes no step.
    The scenario must already have passed :func:`sim.world.scenario_check.check_scenario`.

    Raises:
        ScenarioError: the world cannot be built at all (a run would fail the same way).
    """
    from sim.errors import SimError
    from sim.world.world import World

    spec = build_scene_spec(scenario, seed)
    try:
        world = World(spec)
    except SimError as exc:  # a run would stop here too: an error, not a warning
        line, col = scenario.position_of(("scene",))
        raise ScenarioError(
            f"scene: the world cannot be built: {exc}", scenario.source_file, line, col
        ) from None
    try:
        where = _yaml_places(scenario, world)
        return (
            _overlaps(scenario, world, where)
            + _out_of_reach(scenario, world, where)
            + _regions_out_of_reach(scenario, world)
        )
    finally:
        world.close()


def _yaml_places(scenario: Scenario, world) -> dict[str, tuple[str, tuple]]:
    """Each body's name -> (how the YAML calls it, where the YAML writes it): a board's
    ring ``board/ring2`` is written by the board's entry in ``scene.objects``."""
    places: dict[str, tuple[str, tuple]] = {}
    for i, arm in enumerate(scenario.scene.arms):
        places[arm.name] = (f"scene.arms[{i}] ({arm.name})", ("scene", "arms", i))
    objects = {obj.id: i for i, obj in enumerate(scenario.scene.objects)}
    for info in world.bodies.values():
        owner = info.name.partition("/")[0]
        if owner in objects:
            i = objects[owner]
            places[info.name] = (f"scene.objects[{i}] ({owner})", ("scene", "objects", i))
    return places


#: the port in an arm's RCM frame: its origin
_PORT = np.zeros(3)


def _grasp_points(p_W, low, high) -> list:
    """Where jaws might take a body: its origin and the centres of its bounding box's
    six faces, pulled in by half the box's smallest extent (a jaw closes on material, not
    on the box's corner). Reach to the origin alone, allowing half the box's diagonal,
    let a 10 cm rod whose nearest end was 19 mm out of reach pass."""
    centre = 0.5 * (low + high)
    half = 0.5 * (high - low)
    inset = float(half.min())
    points = [np.asarray(p_W, dtype=float)]
    for axis in range(3):
        for sign in (-1.0, 1.0):
            p = centre.copy()
            p[axis] += sign * max(half[axis] - inset, 0.0)
            points.append(p)
    return points


def _overlaps(scenario: Scenario, world, where) -> list[ScenarioWarning]:
    """Pairs of bodies (not two pieces of fixed scenery, not an arm with itself) that start
    more than :data:`OVERLAP_WARN_M` inside one another, the deepest point of each pair."""
    pb, client = world.pb, world.client
    pb.performCollisionDetection(physicsClientId=client)
    deepest: dict[tuple[int, int], float] = {}
    for contact in pb.getContactPoints(physicsClientId=client):
        a, b, depth_m = contact[1], contact[2], -contact[8]
        if a == b or depth_m <= OVERLAP_WARN_M:
            continue
        roles = {world.bodies[a].role, world.bodies[b].role}
        if roles == {"environment"}:
            continue
        pair = (min(a, b), max(a, b))
        deepest[pair] = max(deepest.get(pair, 0.0), depth_m)
    warnings = []
    built_together: dict[str, list] = {}  # owner -> [(depth, first, second)]
    for (a, b), depth_m in sorted(deepest.items(), key=lambda item: -item[1]):
        first, second = world.bodies[a].name, world.bodies[b].name
        owner = first.partition("/")[0]
        if "/" in first and owner == second.partition("/")[0] and first in where:
            built_together.setdefault(owner, []).append((depth_m, first, second))
            continue
        # the warning sits at the body that more likely moved: an object before scenery
        if world.bodies[a].role == "environment" or first not in where:
            first, second = second, first
        if first not in where:
            continue  # the floor against the floor's neighbour: nothing the YAML wrote
        said, loc = where[first]
        warnings.append(
            warning_at(
                scenario,
                loc,
                f"{said}: {first!r} starts {depth_m * 1e3:.1f} mm inside {second!r}: the "
                "physics pushes them apart at the first step, a jolt nobody caused (a ring "
                "can leave its peg). Move one so they do not overlap.",
            )
        )
    for owner, pairs in built_together.items():
        # bodies one object builds from its params (a board's rings): one warning, at
        # its params, since none of them can be moved on its own
        depth_m, first, second = pairs[0]
        said, loc = where[first]
        many = f"{len(pairs)} pairs, the deepest" if len(pairs) > 1 else "one pair"
        warnings.append(
            warning_at(
                scenario,
                (*loc, "params"),
                f"{said}: bodies {owner!r} builds start inside one another ({many} "
                f"{first!r} {depth_m * 1e3:.1f} mm inside {second!r}): the physics pushes "
                "them apart at the first step. Its params (sizes, spacing, the rings' "
                "places) make them overlap: change those.",
            )
        )
    return warnings


def _ik_miss_m(solve_ik, arm, p_W) -> float:
    """How far (m) ``arm``'s tool tip stays from ``p_W`` at best; infinite when the point
    is beyond what inverse kinematics takes at all (a port kilometres from the scene: the
    schema bounds positions, but an object's params can still place a body far)."""
    from kinematics.errors import KinematicsError

    try:
        return float(
            solve_ik(arm.chain, arm.X_RW[:3, :3] @ p_W + arm.X_RW[:3, 3], rcm=_PORT).pos_error
        )
    except KinematicsError:
        return float("inf")


def _out_of_reach(scenario: Scenario, world, where) -> list[ScenarioWarning]:
    """Movable objects none of whose grasp points (:func:`_grasp_points`) an arm with
    jaws reaches within :data:`REACH_SLACK_M` (inverse kinematics through each port)."""
    from kinematics import solve_ik

    jaw_arms = [arm for arm in world.arms.values() if arm.has_jaw]
    if not jaw_arms:
        return []
    pb, client = world.pb, world.client
    warnings = []
    for body, info in world.bodies.items():
        if info.role != "object" or info.name not in where:
            continue
        low, high = (np.asarray(c) for c in pb.getAABB(body, physicsClientId=client))
        p_W = world.body_pose(info.name)[:3, 3]
        misses = []
        for arm in jaw_arms:
            miss_m = min(_ik_miss_m(solve_ik, arm, p) for p in _grasp_points(p_W, low, high))
            if miss_m <= REACH_SLACK_M:
                break
            misses.append(
                f"{arm.name} {miss_m * 1e3:.0f} mm short" if miss_m < 1e3 else f"{arm.name} far"
            )
        else:
            said, loc = where[info.name]
            position = ", ".join(f"{v:.3f}" for v in p_W)
            warnings.append(
                warning_at(
                    scenario,
                    loc,
                    f"{said}: {info.name!r} at [{position}] m is out of reach of every arm "
                    f"with jaws ({', '.join(misses)}): it can never be grasped. Move it "
                    "towards the ports, or move a port (its arm's port.position_m).",
                )
            )
    return warnings


def _regions_out_of_reach(scenario: Scenario, world) -> list[ScenarioWarning]:
    """``entered`` regions that the tip of the instrument named (of every arm for ``any``)
    never comes within the region's radius of, plus :data:`REACH_SLACK_M` (inverse
    kinematics through each port): the step or event can never happen. Regions wholly
    below the floor are :func:`scenarios.lint.regions_out_of_the_scene`'s warning."""
    from kinematics import solve_ik

    warnings = []
    for loc, entered in entered_regions(scenario):
        centre = np.asarray(entered.region.center_m, dtype=float)
        if region_off_the_scene(centre, float(entered.region.radius_m)) is not None:
            continue  # below the floor: the scenario check said so
        names = list(world.arms) if entered.instrument == "any" else [entered.instrument]
        misses = {name: _ik_miss_m(solve_ik, world.arms[name], centre) for name in names}
        if min(misses.values()) <= entered.region.radius_m + REACH_SLACK_M:
            continue
        short = ", ".join(
            f"{n} {m * 1e3:.0f} mm short" if m < 1e3 else f"{n} far" for n, m in misses.items()
        )
        warnings.append(
            warning_at(
                scenario,
                (*loc, "region", "center_m"),
                f"{dotted(loc)}.region: no tip can reach it from its port ({short}; radius "
                f"{entered.region.radius_m * 1e3:g} mm): it is never entered. Move center_m "
                "towards the task (positions are in metres, z up), or move a port.",
            )
        )
    return warnings
