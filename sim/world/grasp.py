"""Sticky grasps, and the grasp / release / drop events they produce.

Frictional grasps of small objects slip in pybullet, so surgical simulators on it hold
a grasped object with a fixed constraint (as SurRoL does). The rule here:

- **grasp**: an instrument whose jaw is closing (or squeezing: the jaw setpoint below
  the measured opening) touches one object with *both* fingers, from opposite sides.
  The object is then held at its current pose relative to the tool tip; collisions
  between it and that instrument are switched off (no jitter from fingers pressing into
  a held body) and the fingers stop at the angle they had.

  The hold is a fixed constraint from the arm's tool-tip link to the object (so pybullet
  loads the arm with the object). pybullet 3.2.7
  never corrects the position error of a multibody-to-rigid-body fixed constraint: one
  jolt (lifting a ring off the board) left a permanent 1.4 mm / 0.04 rad offset in our
  measurements. So after every step the held object is put back exactly on its grasp
  pose, with the tool tip's velocity: it follows the tool without drift or jitter
  (measured: within 1e-6 m and rad while carried at 0.1 m/s).
- **release**: the jaw setpoint opens past the holding angle by ``RELEASE_MARGIN_RAD``.
- **drop**: an object falls free of the jaws: released (by its last holder) and then
  falling more than ``drop_height_m`` within ``FALL_WINDOW_S`` (reason ``"fell"``),
  torn out of the jaws (``"slipped"``: the net force of its contacts with anything but
  the fingers exceeds ``GRASP_MAX_FORCE_N``, it was pushed more than
  ``GRASP_MAX_PENETRATION_M`` into rigid scenery or another rigid object, or it was
  knocked ``SLIP_DISTANCE_M`` off its grasp pose), or
  leaving the scene's workspace box (``"left_workspace"``).

A second instrument may grasp an object that the first still holds (a handover); the
object stays held until its last holder opens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.world.arm import RELEASE_MARGIN_RAD

GRASP = "grasp"
RELEASE = "release"
DROP = "drop"

#: A setpoint this far below the measured jaw counts as squeezing (rad).
SQUEEZE_TOLERANCE_RAD = 0.01
#: A finger contact counts for grasping when the surfaces are this close (m); pybullet
#: also reports predicted contacts up to a few millimetres apart.
GRASP_CONTACT_DISTANCE_M = 1e-4
#: Net contact force on a held object that tears it from the jaws (N): a needle driver
#: grips with ~10 N, so with friction it holds against about twice that. Careful handling
#: stays far below: rings carried, handed over and placed by the demonstration plan
#: meet at most 0.4 N (peg transfer, seeds 0-1).
GRASP_MAX_FORCE_N = 20.0
#: Depth (m) a held object may sit inside rigid scenery or another rigid object (anything
#: but the fingers and soft tissue) before it counts as torn from the jaws. Putting a held
#: object back on its grasp pose every step lets a tool press it into the board: pybullet
#: resolves such penetration by split impulse, which never shows in the contact normal
#: force, so ``GRASP_MAX_FORCE_N`` alone let a ring sink 3.8 mm into the board (5.7 mm
#: into resting rings, launching them at 0.3 m/s) while held. Careful handling stays far
#: below: the deepest contact of a held object in 12 expert runs of the bundled scenarios
#: (seeds 8100-8110, peg transfer also with 1 mm ring jitter and at 1000 Hz) was 0.11 mm,
#: and the scripted ``pick``, which squeezes a ring against the board, 0.33 mm.
GRASP_MAX_PENETRATION_M = 0.001
#: Distance between the held object and where the grasp holds it that means a slip (m).
SLIP_DISTANCE_M = 0.005
#: How often objects are checked for leaving the workspace (s): one pose query per object
#: every physics step cost as much as the grasps themselves; 10 ms is soon enough for a
#: ring that fell off the board.
WORKSPACE_CHECK_S = 0.01
#: How long after a release a fall still counts as a drop (s).
FALL_WINDOW_S = 1.0


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to an object.

    Attributes:
        time_s: simulation time (s) at the end of the step that saw it.
        kind: ``"grasp"``, ``"release"`` or ``"drop"``.
        object: the object's name.
        object_id: the object's pybullet body id.
        arm: the instrument's name, or ``""`` (a drop after the last release names the
            arm that released it; leaving the workspace names none).
        reason: for drops: ``"fell"``, ``"slipped"`` or ``"left_workspace"``.
        data: more about the event, by kind (a needle entry names its mark and distance; a
            ``"slipped"`` drop the net contact force ``force_n`` and the depth ``depth_m``
            the held object was in rigid contact).
    """

    time_s: float
    kind: str
    object: str
    object_id: int
    arm: str = ""
    reason: str = ""
    data: dict = field(default_factory=dict)


@dataclass
class _Hold:
    constraint: int | None  # None while another instrument carries the object
    X_tip_obj: tuple  # (position, quaternion xyzw) of the object in the tool-tip link frame
    links: list[int] = field(default_factory=list)


_ORIGIN = (0.0, 0.0, 0.0)


class GraspTracker:
    """Creates and removes grasp constraints and records events, once per step."""

    def __init__(self, world, drop_height_m: float, workspace_m=None) -> None:
        self.world = world
        self.pb, self.client = world.pb, world.client
        self.drop_height_m = drop_height_m
        self.workspace = None if workspace_m is None else np.asarray(workspace_m, float)
        self.holds: dict[str, dict[int, _Hold]] = {name: {} for name in world.arms}
        #: arms that released and have not closed their jaw since (no re-grasp meanwhile)
        self._opened: set[str] = set()
        #: (body, link) of every jaw finger in the world
        self._fingers = {
            (arm.body, arm.links[link])
            for arm in world.arms.values()
            if arm.has_jaw
            for link in ("jaw_left_link", "jaw_right_link")
        }
        self._falling: dict[int, tuple[float, float, str]] = {}  # body -> (z0, t0, arm)
        self._outside: set[int] = set()
        #: after a slip an arm must open its jaw past this angle before it grasps again
        self._reopen: dict[str, float] = {}
        self._workspace_every = max(1, round(WORKSPACE_CHECK_S * world.rate_hz))
        self.events: list[Event] = []
        #: the instruments with a jaw (the arms are fixed when the world is built)
        self._jawed = [(name, arm) for name, arm in world.arms.items() if arm.has_jaw]

    # ---- queries ---------------------------------------------------------------------
    def held_by(self, body: int) -> list[str]:
        """Names of the arms holding ``body``."""
        return [arm for arm, holds in self.holds.items() if body in holds]

    def held_objects(self, arm: str) -> list[int]:
        """Body ids held by ``arm``."""
        return list(self.holds[arm])

    def reaction_forces(self) -> dict[str, np.ndarray]:
        """Force (N, world) each holding arm feels from the objects it holds.

        Quasi-static: the object's weight plus the contact forces other bodies apply to
        it (inertia is left out); an object held by two arms loads each with half.
        """
        pb, c = self.pb, self.client
        gravity = np.asarray(self.world.scene.physics.gravity_m_s2, dtype=float)
        out = {}
        for arm, holds in self.holds.items():
            for body in holds:
                force = self.world.bodies[body].geometry.mass_kg * gravity
                for p in pb.getContactPoints(bodyA=body, physicsClientId=c):
                    force = force + p[9] * np.asarray(p[7])
                    force = force + p[10] * np.asarray(p[11]) + p[12] * np.asarray(p[13])
                out[arm] = out.get(arm, np.zeros(3)) + force / len(self.held_by(body))
        return out

    # ---- per step ----------------------------------------------------------------------
    def update(self) -> None:
        """Look for grasps, releases and drops after a physics step.

        New grasps are looked for first: when one instrument closes on an object another
        holds (a handover), the push of its fingers must not count as a slip from the
        first holder in the same step.
        """
        jawed = self._jawed
        for name, arm in jawed:
            if arm.jaw_closing:
                self._opened.discard(name)
            if not self.holds[name]:
                self._try_grasp(arm)
        for name, arm in jawed:
            holds = self.holds[name]
            if not holds:
                continue
            if arm.jaw_setpoint_rad > arm.jaw_release_rad():
                for body in list(holds):
                    self._release(arm, body, RELEASE)
            else:
                self._follow(arm)
        if self._falling:
            self._check_falls()
        if self.workspace is not None and self.world.step_count % self._workspace_every == 0:
            self._check_workspace()

    def _contacts(self, arm, link: str) -> dict[int, np.ndarray]:
        """The contact normal (world, from the object to the finger) of every object the
        finger ``link`` touches, by body id: of its deepest contact point, the one that
        carries the squeeze (pybullet lists a finger's points in no meaningful order)."""
        points = self.pb.getContactPoints(
            bodyA=arm.body, linkIndexA=arm.links[link], physicsClientId=self.client
        )
        deepest: dict[int, tuple] = {}
        for p in points:
            info = self.world.bodies.get(p[2])
            if info is None or info.role != "object" or p[8] > GRASP_CONTACT_DISTANCE_M:
                continue
            if p[2] not in deepest or p[8] < deepest[p[2]][8]:
                deepest[p[2]] = p
        return {body: np.asarray(p[7]) for body, p in deepest.items()}

    def _try_grasp(self, arm) -> None:
        reopen = self._reopen.get(arm.name)
        if reopen is not None:
            if arm.jaw_setpoint_rad <= reopen:
                return  # jaws still shut on what just slipped out: no grasp/slip chatter
            del self._reopen[arm.name]
        if arm.name in self._opened and not arm.jaw_closing:
            # just let go: the fingers, colliding with the object again, are pushed apart
            # and read as "squeezing"; a new grasp needs the jaw to close again (checked
            # first: it needs no pybullet query)
            return
        # a jaw that neither closes nor squeezes grasps nothing: checked before the contact
        # queries (the measured jaw is read once per step anyway; contacts cost a query each)
        measured = arm.measured_jaw()
        if not (arm.jaw_closing or arm.jaw_setpoint_rad < measured - SQUEEZE_TOLERANCE_RAD):
            return
        left = self._contacts(arm, "jaw_left_link")
        if not left:
            return
        right = self._contacts(arm, "jaw_right_link")
        both = [b for b in left if b in right and float(left[b] @ right[b]) < 0.0]
        if not both:
            return
        body = both[0]
        pb, c = self.pb, self.client
        links = [i for n, i in arm.links.items() if n in self.world.collision_links(arm.body)]
        for link in links:
            pb.setCollisionFilterPair(arm.body, body, link, -1, 0, physicsClientId=c)
        hold = _Hold(None, self._relative_pose(arm, body), links)
        self.holds[arm.name][body] = hold
        if len(self.held_by(body)) == 1:
            self._attach(arm, body, hold)
        # fingers pried apart past the jaw's range by a clash (2.06 rad was seen over the
        # bus, on a 1.40 rad jaw) hold at most where opening the jaw fully still lets go
        widest = arm.model.jaw_limits_rad[1] - 2 * RELEASE_MARGIN_RAD
        arm.jaw_hold_rad = min(max(measured, 0.0), widest)
        arm.request_send()
        self._falling.pop(body, None)
        self._event(GRASP, body, arm.name)

    def _relative_pose(self, arm, body: int) -> tuple:
        """The object's pose in the tool-tip link frame (position, xyzw)."""
        pb, c = self.pb, self.client
        tip_pos, tip_orn = self._tip(arm)
        pos, orn = pb.getBasePositionAndOrientation(body, physicsClientId=c)
        inv_pos, inv_orn = pb.invertTransform(tip_pos, tip_orn)
        return pb.multiplyTransforms(inv_pos, inv_orn, pos, orn)

    def _attach(self, arm, body: int, hold: _Hold) -> None:
        """Fix the object to the arm's tool-tip link at their current relative pose.

        Only one holder constrains an object: two rigid constraints from two arms would
        close a kinematic loop and fight each other's motors. A second holder (a
        handover) holds it logically and takes over when the first lets go.
        """
        pb, c = self.pb, self.client
        pos, orn = pb.getBasePositionAndOrientation(body, physicsClientId=c)
        # pybullet's constraint frames are relative to the links' centres of mass
        com_pos, com_orn = self._tip_com(arm)
        inv_pos, inv_orn = pb.invertTransform(com_pos, com_orn)
        rel_com = pb.multiplyTransforms(inv_pos, inv_orn, pos, orn)
        hold.constraint = pb.createConstraint(
            arm.body,
            arm.links["tool_tip"],
            body,
            -1,
            pb.JOINT_FIXED,
            _ORIGIN,
            rel_com[0],
            _ORIGIN,
            rel_com[1],
            physicsClientId=c,
        )
        pb.changeConstraint(hold.constraint, maxForce=GRASP_MAX_FORCE_N, physicsClientId=c)
        hold.X_tip_obj = self._relative_pose(arm, body)

    def _tip(self, arm, velocity: bool = False) -> tuple:
        """Tool-tip pose (position, xyzw) in the world, and its twist if asked.

        From double-precision FK of the measured joints (pybullet's link states are single
        precision: snapping to them would shake a held object by ~1e-8 m every step).
        """
        state = arm.tip_state_W().tolist()
        if not velocity:
            return state[0:3], state[3:7]
        return state[0:3], state[3:7], state[7:10], state[10:13]

    def _tip_com(self, arm) -> tuple:
        state = self.pb.getLinkState(
            arm.body,
            arm.links["tool_tip"],
            computeForwardKinematics=True,
            physicsClientId=self.client,
        )
        return state[0], state[1]

    def _release(self, arm, body: int, kind: str, reason: str = "", data=None) -> None:
        pb, c = self.pb, self.client
        hold = self.holds[arm.name].pop(body)
        self._opened.add(arm.name)
        if hold.constraint is not None:
            pb.removeConstraint(hold.constraint, physicsClientId=c)
        for link in hold.links:
            pb.setCollisionFilterPair(arm.body, body, link, -1, 1, physicsClientId=c)
        if not self.holds[arm.name]:
            arm.jaw_hold_rad = None
            arm.request_send()
        if kind == DROP and self.held_by(body):
            kind = RELEASE  # torn from one instrument, still held by the other
        self._event(kind, body, arm.name, reason, data)
        holders = self.held_by(body)
        if hold.constraint is not None and holders:
            other = self.world.arms[holders[0]]
            self._attach(other, body, self.holds[other.name][body])
        if kind == RELEASE and not holders:
            z = pb.getBasePositionAndOrientation(body, physicsClientId=c)[0][2]
            self._falling[body] = (z, self.world.time_s, arm.name)

    def _follow(self, arm) -> None:
        """Keep held objects on their grasp pose; report objects torn out of the jaws."""
        pb, c = self.pb, self.client
        tip_pos, tip_orn, v_tip, w_tip = self._tip(arm, velocity=True)
        for body, hold in list(self.holds[arm.name].items()):
            if hold.constraint is None:
                continue  # held by another instrument too, which carries it
            pos, orn = pb.multiplyTransforms(tip_pos, tip_orn, *hold.X_tip_obj)
            actual_pos = pb.getBasePositionAndOrientation(body, physicsClientId=c)[0]
            pushed, depth = self._load(body)
            if (
                pushed > GRASP_MAX_FORCE_N
                or depth > GRASP_MAX_PENETRATION_M
                or math.dist(actual_pos, pos) > SLIP_DISTANCE_M
            ):
                self._reopen[arm.name] = arm.jaw_release_rad()
                self._release(arm, body, DROP, "slipped", {"force_n": pushed, "depth_m": depth})
                continue
            lx, ly, lz = (pos[0] - tip_pos[0], pos[1] - tip_pos[1], pos[2] - tip_pos[2])
            (vx, vy, vz), (wx, wy, wz) = v_tip, w_tip
            pb.resetBasePositionAndOrientation(body, pos, orn, physicsClientId=c)
            pb.resetBaseVelocity(  # v + w x lever (np.cross costs ~10 µs on 3-vectors)
                body,
                (vx + wy * lz - wz * ly, vy + wz * lx - wx * lz, vz + wx * ly - wy * lx),
                (wx, wy, wz),
                physicsClientId=c,
            )

    def _load(self, body: int) -> tuple[float, float]:
        """Magnitude (N) of the net contact force on a held object, and how deep (m, 0 when
        clear) it sits inside anything rigid: what the grip must hold against.

        The vector sum, not the sum of magnitudes: an object pressed from two opposite
        sides (a ring wedged on a peg) loads the jaws with the difference, not the total.
        Another instrument's fingers closing on it are a handover starting, not a knock:
        they are left out. The depth leaves out soft (tissue) bodies, whose give is the
        contact model itself and shows in the force."""
        fx = fy = fz = 0.0
        depth = 0.0
        for p in self.pb.getContactPoints(bodyA=body, physicsClientId=self.client):
            if (p[2], p[4]) in self._fingers:
                continue
            n, f1, d1, f2, d2 = p[9], p[10], p[11], p[12], p[13]
            fx += n * p[7][0] + f1 * d1[0] + f2 * d2[0]
            fy += n * p[7][1] + f1 * d1[1] + f2 * d2[1]
            fz += n * p[7][2] + f1 * d1[2] + f2 * d2[2]
            if -p[8] > depth and self._rigid(p[2]):
                depth = -p[8]
        return math.sqrt(fx * fx + fy * fy + fz * fz), depth

    def _rigid(self, body: int) -> bool:
        """Whether a body has rigid contact (not the soft contact of tissue)."""
        info = self.world.bodies.get(body)
        return info is None or info.geometry is None or info.geometry.contact_stiffness_n_m is None

    def _check_falls(self) -> None:
        now = self.world.time_s
        for body, (z0, t0, arm) in list(self._falling.items()):
            z = self.pb.getBasePositionAndOrientation(body, physicsClientId=self.client)[0][2]
            if z0 - z > self.drop_height_m:
                del self._falling[body]
                self._event(DROP, body, arm, "fell")
            elif now - t0 > FALL_WINDOW_S:
                del self._falling[body]

    def _check_workspace(self) -> None:
        (x0, y0, z0), (x1, y1, z1) = self.workspace.tolist()
        for body in self.world.object_ids:
            x, y, z = self.pb.getBasePositionAndOrientation(body, physicsClientId=self.client)[0]
            outside = not (x0 <= x <= x1 and y0 <= y <= y1 and z0 <= z <= z1)
            if outside and body not in self._outside:
                self._outside.add(body)
                self._event(DROP, body, "", "left_workspace")
            elif not outside:
                self._outside.discard(body)

    def _event(self, kind: str, body: int, arm: str, reason: str = "", data=None) -> None:
        name = self.world.bodies[body].name
        event = Event(self.world.time_s, kind, name, body, arm, reason, dict(data or {}))
        self.events.append(event)
