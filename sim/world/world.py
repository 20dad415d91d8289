"""The physics world: one pybullet client, a fixed time step, arms, objects and events.

A :class:`World` is built from a scene description (:class:`~sim.world.scene.SceneSpec` or a
dict). It runs pybullet in DIRECT mode by default (``gui=True`` opens a window), always
through its own client id, so several worlds can live in one process. Time advances in
fixed steps of ``1 / rate_hz``; the same description and the same commands give
bit-identical states (pybullet is deterministic on one thread; the world asks it for
deterministic overlapping pairs, and randomness comes only from the world's seeded
``numpy.random.Generator``).

Typical loop::

    world = World(scene)
    psm = world.arms["PSM1"]
    psm.servo_cp(X_WT_goal)
    psm.servo_jaw(0.0)
    world.step()
    world.contacts(); world.tip_forces(); world.pop_events()
"""

from __future__ import annotations

from collections.abc import Mapping
from time import perf_counter

import numpy as np

from sim.errors import SimError, lookup
from sim.world.arm import Arm
from sim.world.bodies import BodyInfo
from sim.world.contacts import (
    Contact,
    clear_of_environment,
    read_contacts,
    tip_forces,
    touches_environment,
)
from sim.world.frustum import Frustum
from sim.world.grasp import Event, GraspTracker
from sim.world.pinned_lists import PinnedLists
from sim.world.scene import SceneSpec, scene_from_dict
from sim.world.tissue import TissueTracker

#: How often a settled arm is measured (s); moving arms are measured every step. Between
#: readings a settled arm's ``measured_cp``/``measured_js`` keep the last reading, so one
#: struck by another instrument (still "settled": nothing commands it) reads up to this
#: late (1.9 mm at a 0.14 m/s knock). Sensing it every step, or checking it for contacts,
#: would cost a pybullet query per idle arm per step.
SETTLED_SENSE_S = 0.01


class World:
    """A pybullet world built from a scene description.

    Args:
        scene: a :class:`~sim.world.scene.SceneSpec`, a dict for
            :func:`~sim.world.scene.scene_from_dict`, or None for an empty world with a floor.
        gui: open pybullet's GUI instead of running headless (DIRECT).

    Attributes:
        scene: the validated description.
        pb: the pybullet module; ``client``: this world's physics client id.
        dt: the fixed time step (s); ``rate_hz`` its inverse.
        rng: the world's ``numpy.random.Generator`` (seeded from the description).
        arms: arms by name; ``bodies``: :class:`BodyInfo` by body id.
    """

    def __init__(self, scene: SceneSpec | Mapping | None = None, *, gui: bool = False) -> None:
        import pybullet as pb

        if scene is None:
            scene = SceneSpec()
        elif isinstance(scene, Mapping):
            scene = scene_from_dict(scene)
        elif not isinstance(scene, SceneSpec):
            raise SimError(
                f"World(scene=...) takes a SceneSpec, a dict or None, got {type(scene).__name__}."
            )
        self.scene = scene
        self.pb = pb
        self.client = pb.connect(pb.GUI if gui else pb.DIRECT)
        if self.client < 0:
            raise SimError("pybullet could not start a physics client (GUI without a display?).")
        self._closed = False
        #: mesh lists handed to pybullet, kept across resets (pybullet never frees them)
        self.pinned_lists = PinnedLists()
        self._build(scene.physics.seed)

    # ---- lifecycle ------------------------------------------------------------------
    def _build(self, seed: int) -> None:
        from sim.world.builder import populate

        pb, c, physics = self.pb, self.client, self.scene.physics
        pb.resetSimulation(physicsClientId=c)
        self.rate_hz = float(physics.rate_hz)
        self.dt = 1.0 / self.rate_hz
        pb.setPhysicsEngineParameter(
            fixedTimeStep=self.dt,
            numSolverIterations=physics.solver_iterations,
            solverResidualThreshold=physics.solver_residual,
            contactBreakingThreshold=physics.contact_breaking_m,
            numSubSteps=0,
            deterministicOverlappingPairs=1,
            physicsClientId=c,
        )
        pb.setGravity(*physics.gravity_m_s2, physicsClientId=c)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.step_count = 0
        #: wall time spent inside pybullet's stepSimulation (s): the physics' own cost,
        #: against which the session's overhead is measured (``surgisim bench session``)
        self.physics_wall_s = 0.0
        #: a settled arm (at rest, holding nothing) is measured this often (steps): only a
        #: collision can move it, and 10 ms is soon enough to notice
        self._sense_settled_every = max(1, round(SETTLED_SENSE_S * self.rate_hz))
        self.arms: dict[str, Arm] = {}
        #: per arm, the links whose contacts count as force at its tip
        self.distal_links: dict[str, frozenset[str]] = {}
        self.bodies: dict[int, BodyInfo] = {}
        self._names: dict[str, int] = {}
        self._link_names: dict[int, dict[int, str]] = {}
        self._collision_links: dict[int, set[str]] = {}
        #: poses of static scenery (mass 0: nothing moves it but move_body), read once
        self._static_poses: dict[int, np.ndarray] = {}
        self._static_landmarks: dict[tuple[str, str], np.ndarray] = {}
        populate(self)
        self.object_ids = [b for b, info in self.bodies.items() if info.role == "object"]
        self.grasps = GraspTracker(self, physics.drop_height_m, self.scene.workspace_m)
        self.tissue = TissueTracker(self)

    def reset(self, seed: int | None = None) -> None:
        """Rebuild the scene from its description: time 0, no grasps, no events.

        Args:
            seed: a new seed for the world's generator (default: the description's).
                The same seed gives the same state, bit for bit.
        """
        self._check_open()
        self._build(self.scene.physics.seed if seed is None else seed)

    def close(self) -> None:
        """Disconnect the pybullet client (idempotent)."""
        if not self._closed:
            self._closed = True
            self.pb.disconnect(physicsClientId=self.client)

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise SimError("this World is closed; create a new one.")

    # ---- registry (used by the builder) ----------------------------------------------
    def register(self, body: int, info: BodyInfo) -> None:
        """Record a body's name and role; names must be unique."""
        if info.name in self._names:
            raise SimError(f"a body named {info.name!r} already exists; names must be unique.")
        self.bodies[body] = info
        self._names[info.name] = body
        names = {-1: "base"}
        collide = set()
        for j in range(self.pb.getNumJoints(body, physicsClientId=self.client)):
            link = self.pb.getJointInfo(body, j, physicsClientId=self.client)[12].decode()
            names[j] = link
            if self.pb.getCollisionShapeData(body, j, physicsClientId=self.client):
                collide.add(link)
        self._link_names[body] = names
        self._collision_links[body] = collide

    def add_arm(self, arm: Arm) -> None:
        """Register an arm built by the builder."""
        self.arms[arm.name] = arm
        self.distal_links[arm.name] = frozenset(arm.model.distal_links)

    def link_names(self, body: int) -> dict[int, str]:
        """Link index to link name for a body (``-1`` is ``"base"``)."""
        return self._link_names.get(body, {})

    def collision_links(self, body: int) -> set[str]:
        """Names of a body's links that have collision shapes."""
        return self._collision_links.get(body, set())

    # ---- stepping ---------------------------------------------------------------------
    @property
    def time_s(self) -> float:
        """Simulated time (s): the number of steps times the fixed step."""
        return self.step_count * self.dt

    def step(self, n: int = 1) -> None:
        """Advance ``n`` fixed steps: arm control, physics, grasp and drop detection."""
        self._check_open()
        pb, c, dt = self.pb, self.client, self.dt
        arms = list(self.arms.values())
        for _ in range(n):
            for arm in arms:
                arm.control(dt)
            start = perf_counter()
            pb.stepSimulation(physicsClientId=c)
            self.physics_wall_s += perf_counter() - start
            self.step_count += 1
            every = self.step_count % self._sense_settled_every == 0
            for arm in arms:
                if every or not arm.settled:
                    arm.sense()
            self.grasps.update()
            if self.tissue.pairs:
                self.tissue.update()

    # ---- reading ----------------------------------------------------------------------
    def body_id(self, name: str) -> int:
        """The pybullet body id of a named body or arm."""
        return lookup(self._names, name, "body")

    def body_pose(self, name: str) -> np.ndarray:
        """``X_WB`` (4x4, m) of a named body's frame (static scenery is read once)."""
        body = self._names[name] if name in self._names else self.body_id(name)
        X = self._static_poses.get(body)
        if X is not None:
            return X.copy()
        pb = self.pb
        (x, y, z), orn = pb.getBasePositionAndOrientation(body, physicsClientId=self.client)
        r = pb.getMatrixFromQuaternion(orn)  # row-major 3x3, in C
        X = np.array(
            ((r[0], r[1], r[2], x), (r[3], r[4], r[5], y), (r[6], r[7], r[8], z), (0, 0, 0, 1.0))
        )
        if self.bodies[body].role == "environment":
            self._static_poses[body] = X.copy()
        return X

    # ---- changing the scene (scenario actions) --------------------------------------------
    def spawn(self, data: Mapping) -> list[str]:
        """Create an object from a description dict (as in a scene's ``objects``) while the
        world runs; returns the names of the bodies made (a board makes several).

        Raises:
            SimError: a bad description, or a name already taken.
        """
        from sim.world.boards import bodies_for
        from sim.world.builder import add_body
        from sim.world.scene import object_from_dict

        self._check_open()
        spec = object_from_dict(data, "spawned object")
        made = []
        for geometry in bodies_for(spec, self.rng):
            body = add_body(self, geometry)
            if geometry.role == "object":
                self.object_ids.append(body)
            made.append(geometry.name)
        return made

    def move_body(self, name: str, X_WB) -> None:
        """Put a body at a new pose (4x4, world), at rest."""
        from kinematics.transforms import matrix_to_quat_xyzw

        self._check_open()
        X = np.asarray(X_WB, dtype=float)
        if X.shape != (4, 4) or not np.isfinite(X).all():
            raise SimError(f"move_body({name!r}): the pose must be a finite 4x4, got {X!r}.")
        body = self.body_id(name)
        pb, c = self.pb, self.client
        pb.resetBasePositionAndOrientation(
            body, X[:3, 3].tolist(), matrix_to_quat_xyzw(X[:3, :3]).tolist(), physicsClientId=c
        )
        pb.resetBaseVelocity(body, (0, 0, 0), (0, 0, 0), physicsClientId=c)
        self._static_poses.pop(body, None)
        self._static_landmarks = {k: v for k, v in self._static_landmarks.items() if k[0] != name}

    def has_body(self, name: str) -> bool:
        """Whether a body of that name is in the world (``remove_body`` takes one out)."""
        return name in self._names

    def remove_body(self, name: str) -> None:
        """Take a body out of the world (an object is let go by any jaw holding it)."""
        self._check_open()
        body = self.body_id(name)
        info = self.bodies[body]
        if info.role == "instrument":
            raise SimError(f"remove_body({name!r}): an arm cannot be removed.")
        for arm_name in self.grasps.held_by(body):
            self.grasps._release(self.arms[arm_name], body, "release")
        self.pb.removeBody(body, physicsClientId=self.client)
        del self.bodies[body], self._names[name]
        self._link_names.pop(body, None)
        self._collision_links.pop(body, None)
        self._static_poses.pop(body, None)
        self._static_landmarks = {k: v for k, v in self._static_landmarks.items() if k[0] != name}
        if body in self.object_ids:
            self.object_ids.remove(body)
        self.tissue.forget(body)

    def landmark(self, name: str, key: str) -> np.ndarray:
        """World position (m) of a body's named landmark (``world.landmark("board", "peg7")``).

        Landmarks of static scenery are computed once (the exercise engine asks for peg
        positions at 100 Hz)."""
        cached = self._static_landmarks.get((name, key))
        if cached is not None:
            return cached.copy()
        body = self.body_id(name)
        point = lookup(self.bodies[body].landmarks, key, f"landmark of {name!r}")
        X = self.body_pose(name)
        p = X[:3, :3] @ np.asarray(point, dtype=float) + X[:3, 3]
        if body in self._static_poses:
            self._static_landmarks[(name, key)] = p.copy()
        return p

    def landmarks(self, name: str) -> dict[str, np.ndarray]:
        """Every named landmark of a body, by name, as world positions (m): what a
        controller reads to find the points an exercise's steps name (a peg, a needle's
        ``tip``, ``middle`` and ``tail``) without knowing the names beforehand."""
        body = self.body_id(name)
        return {key: self.landmark(name, key) for key in self.bodies[body].landmarks}

    def object_names(self) -> list[str]:
        """Names of the movable (graspable) objects."""
        return [self.bodies[b].name for b in self.object_ids]

    def state(self) -> np.ndarray:
        """Every body's pose and velocity and every arm joint, as one float64 array.

        Layout: for each body in id order, position (3), quaternion xyzw (4), linear and
        angular velocity (6); then for each body with joints, every joint's position and
        velocity; then the time. Two runs are identical when these arrays are equal.
        """
        pb, c = self.pb, self.client
        parts = []
        for body in sorted(self.bodies):
            pos, orn = pb.getBasePositionAndOrientation(body, physicsClientId=c)
            lin, ang = pb.getBaseVelocity(body, physicsClientId=c)
            parts += [*pos, *orn, *lin, *ang]
        for body in sorted(self.bodies):
            n = pb.getNumJoints(body, physicsClientId=c)
            if n:
                for s in pb.getJointStates(body, list(range(n)), physicsClientId=c):
                    parts += [s[0], s[1]]
        parts.append(self.time_s)
        return np.array(parts, dtype=np.float64)

    def contacts(self) -> list[Contact]:
        """Instrument contacts after the last step (see :mod:`sim.world.contacts`)."""
        return read_contacts(self)

    def touches_environment(self, name: str) -> bool:
        """Whether the named object touches static scenery after the last step."""
        return touches_environment(self, self.body_id(name))

    def clear_of_environment(self, name: str, clearance_m: float) -> bool:
        """Whether the named object is more than ``clearance_m`` (m) from static scenery."""
        return clear_of_environment(self, self.body_id(name), clearance_m)

    def tip_forces(
        self, contacts: list[Contact] | None = None, *, clashes: bool = True
    ) -> dict[str, np.ndarray]:
        """Estimated force (N, world frame) at each instrument's tip, by arm name
        (see :func:`sim.world.contacts.tip_forces`)."""
        return tip_forces(self, contacts, clashes=clashes)

    @property
    def events(self) -> list[Event]:
        """Grasp, release, drop and needle entry/exit events not yet popped, in time order."""
        return sorted(self.grasps.events + self.tissue.events, key=lambda e: e.time_s)

    def pop_events(self) -> list[Event]:
        """Events since the last call (and forget them)."""
        if not self.grasps.events and not self.tissue.events:
            return []  # the common case, every step
        out = self.events
        self.grasps.events, self.tissue.events = [], []
        return out

    def arm(self, name: str) -> Arm:
        """The arm called ``name``; an unknown name lists the arms and the closest one."""
        return lookup(self.arms, name, "arm")

    def camera(self, arm: str = "ECM") -> Frustum:
        """The view frustum of an arm's scope (default the arm named ``"ECM"``)."""
        return self.arm(arm).frustum()

    def in_view(self, points_W, arm: str = "ECM"):
        """Whether world points (N, 3) or one point (3,) are inside the scope's view."""
        return self.camera(arm).contains(points_W)

    def tips_in_view(self, camera: str = "ECM") -> dict[str, bool]:
        """For every instrument with a jaw, whether its tool tip is inside the scope's view."""
        frustum = self.camera(camera)
        return {
            name: bool(frustum.contains(arm.measured_cp()[:3, 3]))
            for name, arm in self.arms.items()
            if arm.has_jaw
        }
