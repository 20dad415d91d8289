"""Scene descriptions to pybullet bodies: the floor, arms at their ports, objects.

Geometry comes from :mod:`sim.world.boards` (trimesh visuals, primitive collision shapes);
this module only talks to pybullet. Bodies with the same collision geometry (the six
rings of a peg board) share one collision shape.
"""

from __future__ import annotations

import numpy as np

from kinematics.transforms import matrix_to_quat_xyzw
from sim.errors import SimError
from sim.world.arm import Arm, CameraSettings
from sim.world.boards import ENVIRONMENT, BodyGeometry, Shape, bodies_for
from sim.world.bodies import BodyInfo
from sim.world.robots import load_robot, port_pose, robot_model
from sim.world.scene import ArmSpec

#: Friction of the instrument links: jaws hold better with more. Only the base (which
#: touches nothing) gets it: pybullet 3.2.7 ignores ``lateralFriction`` on a multibody's
#: links when ``changeDynamics`` also sets ``collisionMargin``, so the links, jaws
#: included, keep pybullet's default 0.5 (what docs/scenarios.md states). Giving them 1.0
#: would change every session's trace: left to a deliberate change.
INSTRUMENT_FRICTION = 1.0
#: Collision margin of convex-hull (mesh) shapes (m). pybullet's default of 1 mm inflates
#: every hull by 1 mm: on 1.5 mm jaw fingers that closes a 2.5 mm grasp early.
HULL_COLLISION_MARGIN_M = 1e-4
#: Children pybullet keeps in one compound collision shape: it silently drops the rest
#: (a 16-segment wire lost its last three segments, and rings fell through it there).
MAX_COMPOUND_SHAPES = 16


def populate(world) -> None:
    """Create every body of ``world.scene`` in ``world`` (called on build and reset)."""
    pb, c = world.pb, world.client
    if world.scene.physics.floor:
        plane = pb.createCollisionShape(pb.GEOM_PLANE, physicsClientId=c)
        floor = pb.createMultiBody(0.0, plane, physicsClientId=c)
        world.register(floor, BodyInfo("floor", ENVIRONMENT))
    for spec in world.scene.arms:
        add_arm(world, spec)
    cache: dict[int, int] = {}
    for spec in world.scene.objects:
        for geometry in bodies_for(spec, world.rng):
            add_body(world, geometry, cache)


def add_arm(world, spec: ArmSpec) -> Arm:
    """Load an arm's URDF with its RCM at the port and register it."""
    model = robot_model(spec.model)
    X_WR = port_pose(spec.port_position_m, spec.port_rpy_rad, spec.port_look_at_m)
    loaded = load_robot(world.pb, world.client, model, X_WR)
    for link in loaded.links.values():
        world.pb.changeDynamics(
            loaded.body,
            link,
            lateralFriction=INSTRUMENT_FRICTION,
            collisionMargin=HULL_COLLISION_MARGIN_M,
            physicsClientId=world.client,
        )
    world.register(loaded.body, BodyInfo(spec.name, "instrument"))
    q0 = spec.q
    if q0 is None:
        chain = model.chain()
        q0 = np.zeros(chain.dof)
        q0[chain.joint_names.index("insertion")] = spec.insertion_m
    elif len(q0) != len(model.chain().joint_names):
        names = model.chain().joint_names
        raise SimError(
            f"arm {spec.name!r}: field 'q' needs {len(names)} values for joints {names}, "
            f"got {len(q0)}."
        )
    arm = Arm(
        world.pb,
        world.client,
        spec.name,
        model,
        loaded,
        X_WR,
        q0=q0,
        jaw_rad=spec.jaw_rad,
        jaw_rate_rad_s=spec.jaw_rate_rad_s,
        camera=CameraSettings(spec.fov_deg, spec.aspect, spec.near_m, spec.far_m),
    )
    world.add_arm(arm)
    return arm


def _collision_shape(world, shapes: list[Shape]) -> int:
    pb, c = world.pb, world.client
    if len(shapes) == 1 and shapes[0].kind == "hull":
        vertices = world.pinned_lists(np.asarray(shapes[0].vertices, dtype=float))
        return pb.createCollisionShape(pb.GEOM_MESH, vertices=vertices, physicsClientId=c)
    kinds = {
        "box": pb.GEOM_BOX,
        "sphere": pb.GEOM_SPHERE,
        "cylinder": pb.GEOM_CYLINDER,
        "capsule": pb.GEOM_CAPSULE,
    }
    args = {
        "shapeTypes": [],
        "radii": [],
        "halfExtents": [],
        "lengths": [],
        "collisionFramePositions": [],
        "collisionFrameOrientations": [],
    }
    for s in shapes:
        args["shapeTypes"].append(kinds[s.kind])
        args["halfExtents"].append(list(s.size) if s.kind == "box" else [0.0, 0.0, 0.0])
        args["radii"].append(s.size[0] if s.kind != "box" else 0.0)
        args["lengths"].append(s.size[1] if s.kind in ("cylinder", "capsule") else 0.0)
        args["collisionFramePositions"].append(s.X_BS[:3, 3].tolist())
        args["collisionFrameOrientations"].append(matrix_to_quat_xyzw(s.X_BS[:3, :3]).tolist())
    if len(shapes) == 1:
        return pb.createCollisionShape(
            args["shapeTypes"][0],
            radius=args["radii"][0],
            halfExtents=args["halfExtents"][0],
            height=args["lengths"][0],
            collisionFramePosition=args["collisionFramePositions"][0],
            collisionFrameOrientation=args["collisionFrameOrientations"][0],
            physicsClientId=c,
        )
    return pb.createCollisionShapeArray(**args, physicsClientId=c)


def add_body(world, geometry: BodyGeometry, cache: dict[int, list[int]] | None = None) -> int:
    """Create one rigid body from its geometry and register it; return its body id.

    A static body with more collision primitives than one compound shape holds
    (:data:`MAX_COMPOUND_SHAPES`) gets the rest on fixed, massless child links; a movable
    object that large is refused (its grasp and mass model is one rigid base).
    """
    pb, c = world.pb, world.client
    cache = {} if cache is None else cache
    shapes = geometry.shapes
    if len(shapes) > MAX_COMPOUND_SHAPES and geometry.mass_kg > 0:
        raise SimError(
            f"object {geometry.name!r} has {len(shapes)} collision primitives; a movable "
            f"object may have at most {MAX_COMPOUND_SHAPES} (pybullet drops the rest). "
            "Use fewer segments, or make it static."
        )
    key = id(shapes)
    if key not in cache:
        cache[key] = [
            _collision_shape(world, shapes[i : i + MAX_COMPOUND_SHAPES])
            for i in range(0, len(shapes), MAX_COMPOUND_SHAPES)
        ]
    base_shape, *link_shapes = cache[key]
    n = len(link_shapes)
    mesh = geometry.visual_mesh()
    visual = pb.createVisualShape(
        pb.GEOM_MESH,
        vertices=world.pinned_lists(np.asarray(mesh.vertices, dtype=float)),
        indices=world.pinned_lists(np.asarray(mesh.faces).reshape(-1)),
        rgbaColor=list(geometry.visuals[0][1]),
        physicsClientId=c,
    )
    X = geometry.X_WB
    body = pb.createMultiBody(
        baseMass=geometry.mass_kg,
        baseCollisionShapeIndex=base_shape,
        baseVisualShapeIndex=visual,
        basePosition=X[:3, 3].tolist(),
        baseOrientation=matrix_to_quat_xyzw(X[:3, :3]).tolist(),
        # pybullet drops the links of a body in maximal coordinates
        useMaximalCoordinates=n == 0,
        flags=pb.URDF_ENABLE_SLEEPING,
        linkMasses=[0.0] * n,
        linkCollisionShapeIndices=link_shapes,
        linkVisualShapeIndices=[-1] * n,
        linkPositions=[[0.0, 0.0, 0.0]] * n,
        linkOrientations=[[0.0, 0.0, 0.0, 1.0]] * n,
        linkInertialFramePositions=[[0.0, 0.0, 0.0]] * n,
        linkInertialFrameOrientations=[[0.0, 0.0, 0.0, 1.0]] * n,
        linkParentIndices=[0] * n,
        linkJointTypes=[pb.JOINT_FIXED] * n,
        linkJointAxis=[[0.0, 0.0, 1.0]] * n,
        physicsClientId=c,
    )
    dynamics = {"lateralFriction": geometry.friction, "restitution": 0.0}
    if any(shape.kind == "hull" for shape in geometry.shapes):
        dynamics["collisionMargin"] = HULL_COLLISION_MARGIN_M
    if geometry.contact_stiffness_n_m is not None:
        dynamics.update(
            contactStiffness=geometry.contact_stiffness_n_m,
            contactDamping=geometry.contact_damping_n_s_m or 0.0,
        )
    if geometry.mass_kg > 0:
        dynamics.update(
            spinningFriction=1e-4,
            rollingFriction=1e-5,
            activationState=pb.ACTIVATION_STATE_ENABLE_SLEEPING,
        )
    for link in range(-1, n):
        pb.changeDynamics(body, link, physicsClientId=c, **dynamics)
    world.register(body, BodyInfo(geometry.name, geometry.role, geometry.landmarks, geometry))
    return body
