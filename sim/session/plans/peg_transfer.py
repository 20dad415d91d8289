"""Peg transfer: six rings across and back, each handed over in mid-air.

The plan is closed-loop, as a trainee works: before every move it looks where the ring
is now. A missed grasp is tried again on another wall; a ring that is dropped is picked
up again from where it lies (by either hand that can reach it); a ring that does not
settle over its peg is lifted and placed again. What the plan had to repeat, or could
not do, it reports through :meth:`~sim.session.demo.Demonstrator.note`.

The two hands work at once (:meth:`~sim.session.demo.Demonstrator.parallel`), as a
practised trainee does: while the taker carries a ring over its peg and puts it down, the
giver backs out of the handover and picks up the next ring; the taker then waits by the
next handover point. What paces the exercise is the giver's round trip (back to the
pegs, grasp, lift, carry to the handover). A grip is tried only where the instrument's
shaft stays clear of the pegs (:func:`shaft_clearance_m`: on the far side of a ring the
wrist leans back over the ring's own peg) and, where there is a choice, where the jaws
stay in the endoscope's view - waiting over the pegs, and holding the ring over the peg
it goes to (:func:`in_view`): the rubric counts every second out of view.

Grip geometry (FLS ring: 30 mm side, 2.5 mm wall, 6 mm high, on a 2 mm peg; PSM fingers
10 mm long, 3 mm wide, 1.5 mm thick, turning about the tool-tip frame, the jaw pivot).
The jaws come down along their own axis onto the top of a wall, opening across it, and
stop with the pivot :data:`GRIP_DEPTH_M` above the wall's top. pybullet gives the
fingers' collision meshes a 1 mm margin (:data:`FINGER_MARGIN_M`): in contact they are
5 mm wide and 3.5 mm thick. Three things must clear with margin:

- the wall, between the fingers: the gap at the height of its top edge. At the 0.7 rad
  opening and 6 mm depth the plan used before, there was none (the fingers landed on
  the wall whenever the hand was a little off: rings tilted up to 73 degrees, knocked
  off their pegs, grasps missed);
- the peg, in the ring's hole, and
- the next wall, at the hole's corner. The inner finger's tip reaches almost to the
  middle of the hole: near the middle of the wall it meets the peg, near the corner the
  next wall. The grip point sits between the two (:func:`grip_along_m`).

Opening wider widens the gap round the wall but swings the inner finger into the peg
and the next wall; a higher pivot widens the gap and holds less of the wall. At 8 mm and
0.7 rad the three margins balance at about 0.6 mm each (1.5 mm were the finger meshes
exact), so the jaws stop over the wall (:data:`HOVER_M`) for the hand to aim within
:data:`AIM_WIDTH_M`, then go the last few millimetres straight in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kinematics.transforms import pose
from sim.errors import lookup
from sim.session.demo import Demonstrator
from sim.session.plans.common import (
    JAW_CLOSED_RAD,
    JAW_RELEASE_RAD,
    UP,
    carry_to,
    ik_path,
    open_until_let_go,
    turn_between,
    unless_interrupted,
)
from sim.world.scene import PegBoardSpec

#: Jaw opening (rad) the hand comes down on a wall with (the PSM opens to 1.396 rad).
RING_JAW_OPEN_RAD = 0.7
#: PSM finger: length from the pivot (m), thickness across the jaw, half its width (see
#: ``assets/generate_robots.py``, the Large Needle Driver's ~10 mm jaws).
FINGER_LENGTH_M, FINGER_THICKNESS_M, FINGER_HALF_WIDTH_M = 0.010, 0.0015, 0.0015
#: pybullet's collision margin round the instruments' mesh links (m; measured with
#: ``getClosestPoints``: a finger touches 1 mm before its mesh does).
FINGER_MARGIN_M = 0.001
#: Height (m) of the jaw pivot above the top of the wall it holds, along the tool axis:
#: the fingertips end 1.4 mm (2.4 mm with the margin) below the wall's top.
GRIP_DEPTH_M = 0.008
#: Where the jaws stop to aim (m beyond the grip pose, back along the tool axis): the
#: fingertips (with their margin) 2 mm above the wall.
HOVER_M = (
    (FINGER_LENGTH_M + FINGER_MARGIN_M) * math.cos(RING_JAW_OPEN_RAD / 2) + 0.002 - (GRIP_DEPTH_M)
)
#: Least room (m) between the inner fingertip and a peg for a grip to be tried: a ring
#: resting off-centre on its peg brings the peg up to 4 mm nearer one side of a wall.
MIN_PEG_GAP_M = 0.0003
#: The instruments' shaft radius (m; ``assets/generate_robots.py``: the 8 mm shaft), how
#: far back from the wrist it is checked against the pegs (m), and the least room (m) a
#: grip must leave between it and a peg or the board: pybullet's 1 mm collision margin
#: and 1 mm to spare.
SHAFT_RADIUS_M, SHAFT_CHECK_M = 0.004, 0.04
SHAFT_CLEARANCE_M = FINGER_MARGIN_M + 0.001
#: Index of the shaft's link (the roll link) in ``Chain.link_frames`` of a PSM.
ROLL_LINK = 3
#: How precisely (m) a held ring is carried to where it is handed over (the giver's move).
HANDOVER_WIDTH_M = 0.003
#: Where the jaws wait before going in on a ring in mid-air (m, back along the tool axis
#: from the grip; over the pegs they wait higher, :data:`PEG_CLEARANCE_M`): the hover
#: point and twice the handover's width more, room for where the carried ring arrives.
APPROACH_M = HOVER_M + 2 * HANDOVER_WIDTH_M
#: Height (m) of the waiting jaw pivot over the peg tops: 10 mm fingers and 15 mm for the
#: scatter of a long reach (measured: fingertips 5 mm low on a 24 cm hand reach).
PEG_CLEARANCE_M = 0.025
#: How far (m) outwards, away from the ring's middle, the jaws wait over a ring on a peg
#: (besides the point above the wall; the grip's y axis, level): the approach to that
#: point ends within half its :data:`APPROACH_WIDTH_M` of it, so the aim down to the wall
#: always comes in from outside the ring, the inner finger no nearer the peg than where
#: it aims. From straight above it came in from anywhere within 3 mm, and with the
#: aim's sideways bend (~0.6 mm over its 32 mm) the inner finger, a few tenths of a
#: millimetre from the peg where it aims, came down on the peg (22-30 N in 3 of 24
#: runs). In mid-air (no peg) the jaws wait straight above.
APPROACH_OUT_M = 0.006
#: Precision (m) of the moves that put the jaws over a wall and take them down onto it:
#: the operator corrects until within half of it, half the 0.6 mm margins.
AIM_WIDTH_M = 0.0006
#: Precision (m) of the move to where the jaws wait before aiming: only where the aim
#: starts (the aim targets the hover point, from wherever it starts); its fingertips'
#: height over the pegs has the scatter :data:`PEG_CLEARANCE_M` was sized for, which does
#: not depend on it. (It was 1.8 mm: ~0.3 s of corrections on each approach.)
APPROACH_WIDTH_M = 0.006
#: Share of a hand's stroke (:meth:`~sim.session.demo.Demonstrator.stroke_m`) a stretch of
#: work may span from its middle and still be planned as clutch-free: room for the hand's
#: scatter (3% of a reach for the expert) and the ring's place varying.
STROKE_FIT_SHARE = 0.95
#: Precision (m) of lifting a ring off its peg: the hole leaves 4.2 mm round a centred peg.
LIFT_WIDTH_M = 0.002
#: Precision (m) of where a lift ends, in the air over the pegs: only a waypoint, the
#: carry after it aims (the lift's sideways scatter does not depend on it).
LIFT_END_WIDTH_M = 0.006
#: How far (rad) the tool may lean from vertical, along the wall, to reach a grip (the
#: fingertips swing towards the wall's middle; the grip point moves out to make up).
TILTS_RAD = (0.0, 0.35, 0.7)
#: Grasp attempts per pick-up or handover before the plan tries something else.
GRASP_TRIES = 3
#: Rounds of "pick up, hand over, place" per ring before the plan gives the ring up.
ROUNDS = 4
#: How long (s) a giver waits for the taker to hold a ring (three grasp attempts fit),
#: and how often (s) a hand looks whether a ring is held or let go of.
TAKE_TIMEOUT_S, RELEASE_LOOK_S = 15.0, 0.02
#: Pause (s) before the next round when neither hand could even try to pick a ring up.
LOOK_AGAIN_S = 0.5
#: The ring centre's height (m) over the board while it is handed over: where a ring is
#: lifted to anyway (:func:`lift`: its bottom 10 mm over the 25 mm pegs), so the carry to
#: the handover is level and each hand's round trip ~2 cm shorter each way than at the
#: 60 mm used before (which needed a clutch more per ring at 3:1).
HANDOVER_HEIGHT_M = 0.041
#: How far (m) towards the giver's side a ring from an outer peg is handed over. The
#: giver's round trip paces the exercise; from an outer peg (9 cm from the board's middle)
#: it spans 2.7 strokes of the hand at 3:1 (two clutches there, one back), and the taker,
#: going on to an inner peg (5 cm), has time to spare: 2 cm of the way are the taker's
#: (seeds 0-3: 87.0, 88.0, 89.3, 89.3 s with it; 91.9, 90.3, 89.4, 90.8 without, with
#: :func:`on_peg`'s stricter check of before; 3 cm: 92.5, 92.3, 100.9, 91.9).
HANDOVER_SHIFT_M = 0.02
#: How close (m) a planned carry's IK must come to each pose on the way
#: (:func:`carries_to`): half the session's 1 mm unreachable tolerance.
CARRY_TOLERANCE_M = 0.0005
#: How far (m) open jaws back off along their axis: out of a ring on a peg (clear of the
#: peg top on the way out), and out of a ring in mid-air at the handover (the
#: fingertips, 2.4 mm below the wall's top with their margin, then 9.6 mm over it).
BACK_OFF_M, HANDOVER_BACK_OFF_M = 0.025, 0.012
#: How far (m) above its peg's top a ring's bottom is carried before it is put down.
OVER_PEG_M = 0.01
#: How far (m) above the board the ring's bottom is let go of when placed on a peg.
PLACE_DROP_M = 0.008


def _finger(jaw_open_rad: float = RING_JAW_OPEN_RAD) -> tuple[float, float]:
    """How far (m) the inner finger reaches across, from the tool axis, at its tip
    (collision margin included), and half its width."""
    half = jaw_open_rad / 2
    length = FINGER_LENGTH_M + FINGER_MARGIN_M
    thick = FINGER_THICKNESS_M + FINGER_MARGIN_M
    return length * math.sin(half) + thick * math.cos(half), FINGER_HALF_WIDTH_M + (FINGER_MARGIN_M)


@dataclass(frozen=True)
class Grip:
    """A way to take a ring: the wall, the point on its top edge (world, m), the tool
    orientation (3x3, world; z along the jaws, y across the wall) and how far back along
    the jaws (m) they wait before going in."""

    wall: int
    point_W: np.ndarray
    R_W: np.ndarray
    approach_m: float = APPROACH_M
    #: how far (m) outwards, away from the ring's middle, the jaws wait besides (see
    #: :data:`APPROACH_OUT_M`)
    out_m: float = 0.0

    @property
    def tip_W(self) -> np.ndarray:
        """Where the tool tip (jaw pivot) goes to hold the wall (m)."""
        return self.point_W - GRIP_DEPTH_M * self.R_W[:, 2]

    @property
    def approach_W(self) -> np.ndarray:
        """Offset (m) from :attr:`tip_W` to where the jaws wait before going in."""
        back = -self.approach_m * self.R_W[:, 2]
        if not self.out_m:
            return back
        out = np.array([self.R_W[0, 1], self.R_W[1, 1], 0.0])  # level: no lower over the pegs
        return back + self.out_m * out / np.linalg.norm(out)


def board_spec(world, ring: str) -> PegBoardSpec:
    """The peg board a ring belongs to (its name is ``<board>/ring<k>``)."""
    board = ring.rpartition("/")[0]
    return lookup({o.name: o for o in world.scene.objects}, board, "body")


def ring_up(world, ring: str) -> np.ndarray:
    """The ring's axis, pointing upwards (a ring has no top or bottom face)."""
    z = world.body_pose(ring)[:3, 2]
    return z if z[2] >= 0 else -z


def grip_along_m(spec: PegBoardSpec, jaw_open_rad: float = RING_JAW_OPEN_RAD) -> float:
    """Where along a wall (m from its middle) the inner fingertip, inside the ring's
    hole, is as far from the peg as from the next wall (ring frame: the wall's centre
    line at ``y = -d``, the peg at the origin, the next inner face at 30 degrees)."""
    hole = spec.ring_side_m / (2 * math.sqrt(3)) - spec.ring_wall_m  # inner inradius
    reach, half_width = _finger(jaw_open_rad)
    y = hole + spec.ring_wall_m / 2 - reach  # the fingertip's innermost point
    # peg: the finger's near edge at x - w, so sqrt((x - w)^2 + y^2) from the peg axis;
    # next wall: cos30 (x + w) - sin30 y from the centre, against its inradius
    best = max(
        (
            min(
                math.hypot(max(x - half_width, 0.0), y) - spec.peg_radius_m,
                hole - (math.cos(math.radians(30)) * (x + half_width) - 0.5 * y),
            ),
            x,
        )
        for x in np.linspace(0.0, hole, 400)
    )
    return float(best[1])


def _peg_gap(inner_W, inward, along, peg_W) -> float:
    """Horizontal distance (m) from a peg's axis to the inner finger's footprint: the
    part of it from ``inner_W`` (its innermost point) back 3 mm towards the wall, the
    finger's width along the wall."""
    d = np.asarray(peg_W, float) - inner_W
    d[2] = 0.0
    half_width = _finger()[1]
    a = float(np.clip(d @ along, -half_width, half_width))
    b = float(np.clip(d @ inward, -0.003, 0.0))
    return float(np.linalg.norm(d - a * along - b * inward))


def ring_grips(world, ring: str, walls=(0, 1, 2), avoid_W=None, X_WB=None) -> list[Grip]:
    """Grips on ``walls`` of ``ring`` as it lies now (or at pose ``X_WB``, 4x4, where it
    will be), jaws along its axis, upright or leaning along the wall by each of
    :data:`TILTS_RAD`; two per wall, either side of its middle (:func:`grip_along_m`),
    those nearer ``avoid_W`` (the other instrument) last within a wall. The jaws wait
    high enough for their fingertips to pass over the pegs. The caller keeps the
    reachable ones."""
    spec = board_spec(world, ring)
    X = world.body_pose(ring) if X_WB is None else np.asarray(X_WB, float)
    marks = world.bodies[world.body_id(ring)].landmarks

    def at(key):
        return X[:3, :3] @ marks[key] + X[:3, 3]

    up = X[:3, 2] if X[2, 2] >= 0 else -X[:3, 2]
    center = at("center")
    along_m = grip_along_m(spec)
    # how far the fingertips lie along the tool axis beyond the wall's top edge
    beyond = FINGER_LENGTH_M * math.cos(RING_JAW_OPEN_RAD / 2) - GRIP_DEPTH_M
    peg_top_z = world.landmark(spec.name, "peg0")[2]
    pegs = [world.landmark(spec.name, f"peg{k}") for k in range(12)]
    pegs = [p for p in pegs if np.hypot(*(p - center)[:2]) < spec.ring_side_m]
    reach = _finger()[0]
    out = []
    for wall in walls:
        # the landmark is the middle of the wall's +z face: its mid-height, then the top
        mid = at(f"wall{wall}") - 0.5 * spec.ring_height_m * X[:3, 2]
        n = mid - center
        n -= (n @ up) * up
        n /= np.linalg.norm(n)
        along = np.cross(up, n)
        top = mid + 0.5 * spec.ring_height_m * up
        sides = [1.0, -1.0]
        if avoid_W is not None:
            sides.sort(key=lambda k: -np.linalg.norm(top + k * along_m * along - avoid_W))
        for k in sides:
            # a ring resting off-centre brings the peg nearer one side of the wall
            tip_inner = top + k * along_m * along - (reach - spec.ring_wall_m / 2) * n
            if any(
                _peg_gap(tip_inner, -n, k * along, p) < MIN_PEG_GAP_M + spec.peg_radius_m
                for p in pegs
            ):
                continue
            for tilt in TILTS_RAD:
                # leaning, the fingertips swing towards the middle: the grip moves out
                point = top + k * (along_m + beyond * math.sin(tilt)) * along
                z = -math.cos(tilt) * up - math.sin(tilt) * k * along
                R = np.column_stack([np.cross(n, z), n, z])
                tip = point - GRIP_DEPTH_M * z
                # fingertips (10 mm below the pivot) over the peg tops, with margin
                rise = max(-z[2], 0.3)
                approach = max(APPROACH_M, (peg_top_z + PEG_CLEARANCE_M - tip[2]) / rise)
                out.append(Grip(wall, point, R, approach, APPROACH_OUT_M if pegs else 0.0))
    return out


def carries_to(demo: Demonstrator, arm: str, ring: str, g: Grip, then_W) -> bool:
    """Whether ``arm``, holding ``ring`` by grip ``g``, can carry its centre to ``then_W``
    with the tool's orientation kept, as the session's IK follows a carry: each pose
    solved from the last, without restarts. A wrist that meets its limit on the way
    stalls there (PSM1 at its wrist pitch limit, 80°, fell 1-3 mm short along a carry
    to the handover, and the taker missed the ring three times), even when the end
    pose is reachable from elsewhere."""
    q = grip_q(demo, arm, g)
    if q is None:
        return False
    offset = np.asarray(then_W, float) - demo.session.world.landmark(ring, "center")
    carry = [pose(g.R_W, g.tip_W + f * offset) for f in (0.25, 0.5, 0.75, 1.0)]
    return ik_path(demo, arm, carry, q, restarts=0, tolerance_m=CARRY_TOLERANCE_M) is not None


def grip_q(demo: Demonstrator, arm: str, g: Grip) -> np.ndarray | None:
    """Joint values (rad / m) of ``arm`` at grip ``g``, reached through its approach (IK
    warm-started along the way, as :func:`~sim.session.plans.common.reachable_poses`);
    None when out of reach."""
    return ik_path(demo, arm, [pose(g.R_W, g.tip_W + g.approach_W), pose(g.R_W, g.tip_W)])


def shaft_clearance_m(demo: Demonstrator, arm: str, q, spec: PegBoardSpec) -> float:
    """Least room (m) between ``arm``'s shaft, at joint values ``q``, and the pegs and top
    of board ``spec``: its first :data:`SHAFT_CHECK_M` back from the wrist. Holding a
    ring on a peg's far side, the wrist leans back over that peg towards the port: the
    shaft's end came down on the peg top (75 N) and the jaws stopped 4 mm short of the
    wall they were sent to, a missed grasp."""
    world = demo.session.world
    a = demo.session.arms[arm]
    roll = (a.X_WR @ a.chain.link_frames(q)[ROLL_LINK])[:3, 3]
    toward_port = a.X_WR[:3, 3] - roll
    toward_port /= np.linalg.norm(toward_port)
    points = roll + np.linspace(0.0, SHAFT_CHECK_M, 21)[:, None] * toward_port
    board_top = world.landmark(spec.name, "top")[2]
    room = float(points[:, 2].min() - board_top)
    for k in range(12):
        top = world.landmark(spec.name, f"peg{k}")
        across = np.hypot(points[:, 0] - top[0], points[:, 1] - top[1])
        above = np.maximum(points[:, 2] - top[2], 0.0)
        room = min(room, float((np.hypot(across, above)).min()) - spec.peg_radius_m)
    return room - SHAFT_RADIUS_M


def reachable_grips(demo: Demonstrator, arm: str, grips: list[Grip], spec=None) -> list[Grip]:
    """The first reachable orientation of each grip point (IK check of the approach
    and the grip pose; with the board ``spec``, the shaft clear of its pegs by
    :data:`SHAFT_CLEARANCE_M`), in the given order."""
    seen, out = set(), []
    for g in grips:
        key = (g.wall, tuple(np.round(g.point_W, 6)))
        if key in seen:
            continue
        q = grip_q(demo, arm, g)
        if q is None:
            continue
        if spec is not None and shaft_clearance_m(demo, arm, q, spec) < SHAFT_CLEARANCE_M:
            continue
        seen.add(key)
        out.append(g)
    return out


def best_grips(demo: Demonstrator, arm: str, ring: str, walls, avoid_arm=None) -> list[Grip]:
    """Reachable grips of ``arm`` on ``ring`` as it lies now, best first (see
    :func:`ring_grips`), away from where ``avoid_arm``'s tip is; those whose jaws stay in
    the endoscope's view, waiting and holding, before the others."""
    s = demo.session
    avoid = None if avoid_arm is None else demo.tip_W(avoid_arm)[:3, 3]
    spec = board_spec(s.world, ring)
    grips = reachable_grips(demo, arm, ring_grips(s.world, ring, walls, avoid), spec)
    return sorted(grips, key=lambda g: not in_view(demo, [g.tip_W + g.approach_W, g.tip_W]))


def in_view(demo: Demonstrator, points_W) -> bool:
    """Whether all the points (world, m) are in the endoscope's view now (True when the
    scene's camera is not held by an arm). Over the outer pegs the jaws wait high, at
    the side of the view: out of it there, the rubric counts every second."""
    s = demo.session
    scope = s.arms.get(s.camera_arm) if s.camera_arm else None
    if scope is None:
        return True
    return bool(np.all(scope.frustum().contains(np.asarray(points_W, float))))


def take(
    demo: Demonstrator,
    arm: str,
    ring: str,
    walls,
    avoid_arm: str | None = None,
    meanwhile=None,
    worse=None,
    then_W=None,
) -> bool:
    """Grasp ``ring`` with ``arm`` on one of ``walls`` (in order of preference), looking
    at the ring again before every attempt; on a miss, the next grip. ``meanwhile()``
    queues the other hand's move during the first approach; ``worse(grip)``, when given,
    puts the grips it says True of last; ``then_W``: where the ring's centre goes once
    lifted (see :func:`close_on_wall`). True when held."""
    s = demo.session
    for attempt in range(GRASP_TRIES):
        if demo.stopped:
            return False
        grips = best_grips(demo, arm, ring, walls, avoid_arm)
        if then_W is not None:  # grips that carry the ring there without a wrist limit first
            grips.sort(key=lambda g: not carries_to(demo, arm, ring, g, then_W))
        if worse is not None:
            grips.sort(key=worse)
        if not grips:
            seen_mm = np.round(1000 * s.world.body_pose(ring)[:3, 3], 1).tolist()
            demo.note(f"{arm} cannot reach a wall of {ring} to grasp it (seen at {seen_mm} mm)")
            return False
        grip = grips[attempt % len(grips)]
        if attempt:
            demo.note(f"{arm} missed {ring}; tries wall {grip.wall} (attempt {attempt + 1})")

        def tip_at(grip=grip):
            # look again: the same grip on the ring as it lies now
            now = ring_grips(s.world, ring, [grip.wall])
            if not now:
                raise GripGoneError(
                    f"{ring} moved: no room for {arm}'s jaws on wall {grip.wall} now"
                )
            best = min(now, key=lambda g: np.linalg.norm(g.point_W - grip.point_W))
            return best.point_W - GRIP_DEPTH_M * grip.R_W[:, 2]

        def attempt_grip(grip=grip, tip_at=tip_at) -> bool:
            nonlocal meanwhile  # the other hand's move is queued once, on the first try
            other, meanwhile = meanwhile, None
            return close_on_wall(demo, arm, ring, grip, tip_at, other, then_W)

        if unless_interrupted(demo, arm, ring, attempt_grip):
            return True
    return False


def close_on_wall(
    demo: Demonstrator, arm: str, ring: str, grip: Grip, tip_at, meanwhile=None, then_W=None
):
    """One grasp attempt: to the waiting point (jaws opening, the tool turning; the other
    hand's ``meanwhile()`` move at the same time), down to just over the wall to aim,
    in, close, wait for the hold. ``tip_at()`` is where the grip is now (looked at before
    each move). On a miss, open and back off the way the jaws came. True when held.

    A hand that clutches ahead centres itself on the way down to the wall; with
    ``then_W`` (where the ring's centre goes once lifted: the handover point), on the
    whole way there - down, grip, lift, carry - when that fits in one stroke of the hand
    (:func:`trip_centre`): the carry then needs no clutch of its own.

    When the ring has moved so that the grip is no longer there (``tip_at`` raises
    :class:`GripGoneError`: jaws aiming over a wall nudged the ring on its peg, which now
    stands where the inner finger would go), the attempt is a miss, noted."""
    try:
        return _close_on_wall(demo, arm, ring, grip, tip_at, meanwhile, then_W)
    except GripGoneError as gone:
        demo.note(str(gone))
        _back_off_open(demo, arm, grip)
        return False


class GripGoneError(Exception):
    """The grip a grasp attempt was aiming for is not on the ring as it lies now."""


def _back_off_open(demo: Demonstrator, arm: str, grip: Grip) -> None:
    """After a missed grasp: jaws open, back the way they came (along the approach)."""
    back = demo.tip_W(arm)[:3, 3] + grip.approach_W
    demo.move_tip(arm, back, jaw_rad=RING_JAW_OPEN_RAD)


def _close_on_wall(demo, arm, ring, grip, tip_at, meanwhile, then_W) -> bool:
    axis = grip.R_W[:, 2]
    centre = tip_at() + 0.5 * grip.approach_W  # the way down to the wall
    if then_W is not None:
        centre = trip_centre(demo, arm, ring, grip, tip_at(), then_W, centre)
    waiting = meanwhile is None and _waiting_over(demo, arm, tip_at() - HOVER_M * axis, grip)
    if not waiting:
        with demo.together():
            demo.move_tip(
                arm,
                tip_at() + grip.approach_W,
                APPROACH_WIDTH_M,
                rotation_W=grip.R_W,
                jaw_rad=RING_JAW_OPEN_RAD,
                centre_W=centre,
            )
            if meanwhile is not None:
                meanwhile()
    # jaws already waiting just over a ring in mid-air (the taker at a handover) go
    # straight in, no stop to aim, when the hand's scatter over the last ~10 mm is within
    # the aim's width (the expert's 3%: 0.3 mm; a novice's 12%: 1.2 mm, it stops to aim)
    straight_in = waiting and grip.approach_m <= APPROACH_M
    if not (straight_in and demo.scatter_m(arm, grip.approach_m) <= AIM_WIDTH_M):
        demo.move_tip(arm, tip_at() - HOVER_M * axis, AIM_WIDTH_M)
    demo.move_tip(arm, tip_at(), AIM_WIDTH_M)
    demo.grip(arm, JAW_CLOSED_RAD)
    if demo.until(lambda: arm in demo.session.holders(ring), timeout_s=1.0):
        return True
    _back_off_open(demo, arm, grip)
    return False


def trip_centre(demo: Demonstrator, arm: str, ring: str, grip: Grip, tip_W, then_W, default_W):
    """The middle (m, world) of ``arm``'s way from the jaws' waiting point over ``grip``
    down to the grip (tool tip at ``tip_W``), up off the peg (:func:`lift`) and on until
    the ring's centre is at ``then_W``, when all of it fits in one stroke of the hand
    (within :data:`STROKE_FIT_SHARE` of :meth:`Demonstrator.stroke_m` of that middle);
    otherwise ``default_W``. At 3:1 a stroke is 3.3 cm of instrument travel: the trip
    from an inner peg to the handover fits, one from an outer peg does not."""
    stroke = demo.stroke_m(arm)
    if stroke is None:
        return default_W
    world = demo.session.world
    spec = board_spec(world, ring)
    center = world.landmark(ring, "center")
    clear_z = lifted_z(world, spec)
    tip_W = np.asarray(tip_W, float)
    points = np.array(
        [
            tip_W + grip.approach_W,
            tip_W,
            tip_W + max(0.0, clear_z - center[2]) * UP,
            tip_W + (np.asarray(then_W, float) - center),
        ]
    )
    middle = 0.5 * (points.min(axis=0) + points.max(axis=0))
    if np.linalg.norm(points - middle, axis=1).max() > STROKE_FIT_SHARE * stroke:
        return default_W
    return middle


def _waiting_over(demo: Demonstrator, arm: str, hover_W, grip: Grip) -> bool:
    """Whether ``arm``'s jaws already wait open, turned for ``grip``, over the point where
    they will aim (``hover_W``): no further than the approach back along their axis, within
    twice the handover's width of it. Coming straight down to aim from there, the
    fingertips stay above the wall (a ring handed over arrives within the handover's
    width of where the jaws were sent to wait)."""
    X = demo.tip_W(arm)
    axis = grip.R_W[:, 2]
    d = X[:3, 3] - hover_W
    back = -float(d @ axis)
    aside = float(np.linalg.norm(d + back * axis))
    turned = np.trace(X[:3, :3].T @ grip.R_W)  # 1 + 2 cos(angle between)
    return bool(
        0.0 <= back <= grip.approach_m
        and aside <= 2 * HANDOVER_WIDTH_M
        and turned >= 1 + 2 * math.cos(0.05)
        and demo.jaw_rad(arm) >= RING_JAW_OPEN_RAD - 0.1
    )


def held_wall(demo: Demonstrator, arm: str, ring: str) -> int:
    """The wall of ``ring`` nearest ``arm``'s jaws (the one it holds)."""
    world = demo.session.world
    tip = demo.measured_tip_W(arm)[:3, 3]
    return min(range(3), key=lambda w: np.linalg.norm(world.landmark(ring, f"wall{w}") - tip))


def peg_under(world, ring: str) -> str | None:
    """The peg passing through ``ring``'s hole now, if any (landmark name)."""
    spec = board_spec(world, ring)
    board = spec.name
    center = world.landmark(ring, "center")
    hole = spec.ring_side_m / (2 * math.sqrt(3)) - spec.ring_wall_m
    for k in range(12):
        top = world.landmark(board, f"peg{k}")
        if np.hypot(*(center - top)[:2]) < hole and center[2] < top[2] + spec.ring_height_m:
            return f"peg{k}"
    return None


def on_peg(demo: Demonstrator, ring: str, peg: str) -> bool:
    """``ring`` rests around ``peg``, let go: the peg through its hole, the ring below
    the peg's top."""
    world = demo.session.world
    if demo.session.holders(ring):
        return False
    spec = board_spec(world, ring)
    top = world.landmark(spec.name, peg)
    center = world.landmark(ring, "center")
    return peg_in_hole(world, ring, top, spec) and bool(center[2] < top[2])


def peg_in_hole(world, ring: str, peg_W, spec: PegBoardSpec) -> bool:
    """Whether a peg whose axis passes through ``peg_W`` (m, world) fits in ``ring``'s
    triangular hole as the ring lies: its axis at least the peg's radius inside each of
    the three inner faces, less pybullet's collision margin (:data:`FINGER_MARGIN_M`: a
    ring resting against its peg lies up to that much further). The circle of the
    hole's radius less the peg's, used before, took a ring resting against its peg for
    one not placed (4.17 mm from the peg's axis against 4.16: placed again, ~10 s)."""
    center = world.landmark(ring, "center")
    up = ring_up(world, ring)
    hole = spec.ring_side_m / (2 * math.sqrt(3)) - spec.ring_wall_m  # inner inradius
    d = np.asarray(peg_W, float) - center
    d -= (d @ up) * up
    for wall in range(3):
        n = world.landmark(ring, f"wall{wall}") - center
        n -= (n @ up) * up
        if float(d @ n) / float(np.linalg.norm(n)) > hole - spec.peg_radius_m + FINGER_MARGIN_M:
            return False
    return True


def lifted_z(world, spec: PegBoardSpec) -> float:
    """Height (m, world) of a lifted ring's centre: its bottom 10 mm over the peg tops."""
    return float(world.landmark(spec.name, "peg0")[2] + spec.ring_height_m + 0.01)


def lift(demo: Demonstrator, arm: str, ring: str) -> None:
    """Lift a just-grasped ring clear of the pegs: off its peg along the peg's axis,
    first centring the hole on the peg when it sits off-centre (the wall would drag on
    the peg: a held ring pushed into a peg is torn from the jaws)."""
    world = demo.session.world
    spec = board_spec(world, ring)
    center = world.landmark(ring, "center")
    peg = peg_under(world, ring)
    clear_z = lifted_z(world, spec)
    if peg is None:
        carry_to(demo, arm, ring, center + max(0.02, clear_z - center[2]) * UP, width_m=0.002)
        return
    top = world.landmark(spec.name, peg)
    hole = spec.ring_side_m / (2 * math.sqrt(3)) - spec.ring_wall_m
    clearance = hole - spec.peg_radius_m - float(np.hypot(*(center - top)[:2]))
    if clearance < LIFT_WIDTH_M:
        axis = np.array([top[0], top[1], center[2] + 0.004])
        carry_to(demo, arm, ring, axis, width_m=AIM_WIDTH_M)
        center = axis
    carry_to(demo, arm, ring, np.array([center[0], center[1], clear_z]), width_m=LIFT_END_WIDTH_M)


def level(demo: Demonstrator, arm: str, ring: str, goal_W, width_m: float = 0.003) -> None:
    """Carry the held ring to ``goal_W`` turning it level on the way (a tilted ring
    does not go over a peg)."""
    turn = turn_between(ring_up(demo.session.world, ring), UP)
    carry_to(demo, arm, ring, goal_W, width_m=width_m, turn_W=turn)


def above_peg(demo: Demonstrator, arm: str, ring: str, peg: str) -> None:
    """Carry the held ring over ``peg``, level, its bottom :data:`OVER_PEG_M` above the peg's top
    (may be queued inside :meth:`Demonstrator.together`)."""
    world = demo.session.world
    spec = board_spec(world, ring)
    top = world.landmark(spec.name, peg)
    level(demo, arm, ring, top + (spec.ring_height_m / 2 + OVER_PEG_M) * UP)


def place(demo: Demonstrator, arm: str, ring: str, peg: str) -> None:
    """Put the held ring (already over ``peg``) down the peg to just above the board, let
    go and back the jaws off."""
    carry_to(demo, arm, ring, place_point(demo, ring, peg), width_m=LIFT_WIDTH_M)
    # only as wide as the jaws came in: the grip's room round the peg was balanced at
    # that opening; a wider one swings the inner finger into the peg, and the back-off
    # then drags it along the peg (20-35 N on 2 of 60 runs with the jaw at the dVRK's rate)
    open_jaws(demo, arm, ring, RING_JAW_OPEN_RAD)
    back_off(demo, arm)


def put_on_peg(demo: Demonstrator, arm: str, ring: str, peg: str) -> None:
    """Carry the ring ``arm`` holds over ``peg``, level, put it down and let go; wait a
    moment for it to settle round the peg."""
    above_peg(demo, arm, ring, peg)
    if demo.session.holders(ring) == {arm}:
        place(demo, arm, ring, peg)
        demo.until(lambda: on_peg(demo, ring, peg), timeout_s=0.5)


def open_jaws(demo: Demonstrator, arm: str, ring: str, jaw_rad: float = JAW_RELEASE_RAD) -> None:
    """Open the jaws to ``jaw_rad`` and wait for the ring to be let go of (a ring's grasp
    lets go once the jaw opens a little past the ~0.5 rad it held the wall at), looking
    every :data:`RELEASE_LOOK_S` (:func:`~sim.session.plans.common.open_until_let_go`)."""
    open_until_let_go(demo, arm, ring, jaw_rad, RELEASE_LOOK_S)


def back_off(demo: Demonstrator, arm: str, distance_m: float = BACK_OFF_M) -> None:
    """Back the (open) jaws off along their axis by ``distance_m``, out of the ring."""
    X = demo.tip_W(arm)
    demo.move_tip(arm, X[:3, 3] - distance_m * X[:3, 2], 0.005)


def let_go(demo: Demonstrator, arm: str, ring: str) -> None:
    """Open the jaws, wait for the ring to be let go of, back the jaws off."""
    open_jaws(demo, arm, ring)
    back_off(demo, arm)


def holds_another(demo: Demonstrator, arm: str, ring: str) -> bool:
    """Whether ``arm`` holds a ring of ``ring``'s board other than ``ring``."""
    spec = board_spec(demo.session.world, ring)
    others = (f"{spec.name}/ring{k}" for k in range(len(spec.rings_on)))
    return any(arm in demo.session.holders(o) for o in others if o != ring)


def _side(demo: Demonstrator, arm: str) -> float:
    return 1.0 if demo.session.arms[arm].X_WR[0, 3] > 0 else -1.0


def _walls_facing(demo: Demonstrator, ring: str, side: float, walls=(0, 1, 2)) -> list[int]:
    """``walls`` ordered by how much they face the ``side`` (+1 right, -1 left)."""
    world = demo.session.world
    center = world.landmark(ring, "center")
    return sorted(walls, key=lambda w: -side * (world.landmark(ring, f"wall{w}") - center)[0])


def _waiting_point(demo: Demonstrator, ring: str, taker: str) -> np.ndarray:
    """Where the receiving hand waits: beside the handover point, on its own side, a
    little higher, out of the giver's way."""
    return handover_point(demo, ring) + np.array([0.05 * _side(demo, taker), 0.0, 0.03])


def handover_point(demo: Demonstrator, ring: str) -> np.ndarray:
    """Where the ring's centre is handed over: above the board's middle, level with the
    ring's row; :data:`HANDOVER_SHIFT_M` towards its side when it lies by an outer peg
    (the outer of the board's peg columns: the giver's way is the longer one)."""
    world = demo.session.world
    spec = board_spec(world, ring)
    board_top = world.landmark(spec.name, "top")
    center = world.landmark(ring, "center")
    pegs = (world.landmark(spec.name, f"peg{k}") for k in range(len(spec.rings_on) * 2))
    columns = sorted({round(abs(float(p[0])), 4) for p in pegs})
    x = 0.0
    if len(columns) > 1 and abs(center[0]) > 0.5 * (columns[-2] + columns[-1]):
        x = math.copysign(HANDOVER_SHIFT_M, center[0])
    return np.array([x, center[1], board_top[2] + HANDOVER_HEIGHT_M])


def place_point(demo: Demonstrator, ring: str, peg: str) -> np.ndarray:
    """Where ``ring``'s centre is let go of over ``peg`` (m, world; see :func:`place`)."""
    world = demo.session.world
    spec = board_spec(world, ring)
    top = world.landmark(spec.name, peg)
    board_top = world.landmark(spec.name, "top")[2]
    return np.array([top[0], top[1], board_top + spec.ring_height_m / 2 + PLACE_DROP_M])


def pick_up(
    demo: Demonstrator, ring: str, arms: list[str], meanwhile=None, then_W=None
) -> str | None:
    """Grasp ``ring`` where it lies with the first of ``arms`` that manages (the wall
    facing that arm first) and lift it clear; ``meanwhile()`` queues the other hand's
    move during the first approach; ``then_W``: where the ring goes next (see
    :func:`close_on_wall`). Returns the arm, or None."""
    for arm in arms:
        if demo.stopped:
            return None
        other = next((a for a in arms if a != arm), None)
        walls = _walls_facing(demo, ring, _side(demo, arm))
        if take(demo, arm, ring, walls, avoid_arm=other, meanwhile=meanwhile, then_W=then_W):
            lift(demo, arm, ring)
            return arm
        meanwhile = None
    return None


def hand_over(demo: Demonstrator, ring: str, giver: str, taker: str, peg: str | None = None):
    """Carry the ring held by ``giver`` to the handover point; ``taker`` grasps another
    wall from above (one that keeps its jaws in view when it holds the ring over ``peg``,
    where it goes next, if there is one); ``giver`` opens its jaws as soon as the taker
    holds the ring, while the taker's squeeze goes on (they stay round the wall: backing
    off is the giver's next move). False (the giver still holding, unless the ring was
    knocked out) when the taker could not take it."""
    s = demo.session
    world = s.world
    # the taker comes to where it will take the ring as the giver brings it
    turn = turn_between(ring_up(world, ring), UP)
    X_WB = world.body_pose(ring)
    giver_tip = turn @ (demo.tip_W(giver)[:3, 3] - X_WB[:3, 3])
    X_WB[:3, :3] = turn @ X_WB[:3, :3]
    X_WB[:3, 3] = handover_point(demo, ring)
    held = held_wall(demo, giver, ring)
    walls = _walls_facing(demo, ring, _side(demo, taker), [w for w in range(3) if w != held])
    avoid = X_WB[:3, 3] + giver_tip
    spec = board_spec(world, ring)
    grips = reachable_grips(demo, taker, ring_grips(world, ring, walls, avoid, X_WB), spec)
    out_of_view = None
    if peg is not None:
        over = world.landmark(spec.name, peg) + (spec.ring_height_m / 2 + OVER_PEG_M) * UP

        def out_of_view(g: Grip, center=None) -> bool:
            # where the jaws will be, holding the ring over the peg by this grip
            center = world.landmark(ring, "center") if center is None else center
            return not in_view(demo, [over + g.tip_W - center])

        grips.sort(key=lambda g: out_of_view(g, X_WB[:3, 3]))
    with demo.together():
        level(demo, giver, ring, X_WB[:3, 3], HANDOVER_WIDTH_M)
        if grips:
            g = grips[0]
            demo.move_tip(
                taker, g.tip_W + g.approach_W, 0.003, rotation_W=g.R_W, jaw_rad=RING_JAW_OPEN_RAD
            )
        else:
            demo.move_tip(taker, _waiting_point(demo, ring, taker), 0.01)
    if s.holders(ring) != {giver}:
        return False
    taken: list[bool] = []

    def taker_takes():
        taken.append(take(demo, taker, ring, walls, avoid_arm=giver, worse=out_of_view))

    def giver_lets_go():
        # the giver opens as soon as the taker holds the ring, not once the taker's
        # squeeze is over (~0.1-0.2 s sooner, each ring)
        held = demo.until(
            lambda: taker in s.holders(ring) or bool(taken), TAKE_TIMEOUT_S, RELEASE_LOOK_S
        )
        if held and taker in s.holders(ring):
            open_jaws(demo, giver, ring)

    demo.parallel({taker: taker_takes, giver: giver_lets_go})
    if not (taken and taken[0]):
        demo.move_tip(taker, _waiting_point(demo, ring, taker), 0.01)
        return False
    return True


def transfer_ring(
    demo: Demonstrator,
    ring: int,
    to_peg: int,
    giver: str,
    taker: str,
    next_ring: int | None = None,
    taker_next: int | None = None,
) -> bool:
    """Lift ring ``ring`` with ``giver``, hand it to ``taker`` above the board, place it on
    peg ``to_peg``; pick it up again wherever it lands if anything goes wrong. While the
    taker places the ring, the giver picks up ring ``next_ring`` when given (the next
    transfer then starts with it in hand). With ``taker_next`` (the ring the taker
    takes next), the taker then goes to wait by that ring's handover point at
    once, while the giver still fetches it (it used to go there only as the giver
    brought the ring, a move with a clutch on the way: ~0.1-0.7 s a ring on the critical
    path). True when the ring rests on its peg."""
    board = getattr(demo.session.scenario.plan, "board", "board")  # plan.board
    body = f"{board}/ring{ring}"
    peg = f"peg{to_peg}"
    s = demo.session
    giver_next = None
    if next_ring is not None:
        nxt = f"{board}/ring{next_ring}"
        giver_next = lambda: pick_up(demo, nxt, [giver], then_W=handover_point(demo, nxt))  # noqa: E731

    def taker_places():
        put_on_peg(demo, taker, body, peg)
        if taker_next is None or demo.stopped:
            return
        then = f"{board}/ring{taker_next}"
        waiting = _waiting_point(demo, then, taker)
        # the hand centred between there and where it will take the ring (when it clutches
        # on the way): the move to take it, as the giver brings it, then needs no clutch
        # more often (seeds 0-3: 91.0 -> 90.1 s on average)
        spec = board_spec(s.world, then)
        taking = handover_point(demo, then) + (spec.ring_height_m / 2 + 2 * HOVER_M) * UP
        demo.move_tip(taker, waiting, 0.01, centre_W=0.5 * (waiting + taking))

    placer = None  # the hand that last put the ring down on the peg

    def placed() -> bool:
        # a ring put down by the other process's hand (one hand per device process) is
        # waited for a moment there: it may not have reached this process's view yet
        if placer is None:
            return on_peg(demo, body, peg)
        return demo.outcome(placer, lambda: on_peg(demo, body, peg))

    for attempt in range(ROUNDS):
        if demo.stopped:
            return False
        if placed():
            return True
        placer = None
        if attempt:
            demo.note(f"{body} is not on {peg} yet: round {attempt + 1}")
        holders = s.holders(body)
        if len(holders) > 1:
            let_go(demo, giver, body)
            holders = s.holders(body)
        if not holders:
            # the giver's hand first; a ring that fell on the taker's side may be nearer it;
            # a hand that already holds the next ring leaves it to the other
            arms = [a for a in (giver, taker) if not holds_another(demo, a, body)]
            waiting = _waiting_point(demo, body, taker)
            holder = pick_up(
                demo,
                body,
                arms,
                # the taker steps aside while the giver reaches for the ring
                meanwhile=None
                if arms[:1] != [giver]
                else lambda w=waiting: demo.move_tip(taker, w, 0.01),
                then_W=handover_point(demo, body),
            )
            if holder is None:
                demo.note(f"neither instrument could pick {body} up")
                # look again a moment later: a round that tried nothing would otherwise
                # follow at once and see the same (a device process once spent all its
                # rounds on ring 0 in the first milliseconds and ended the plan there)
                demo.wait(LOOK_AGAIN_S)
                continue
        else:
            holder = next(iter(holders))
        if holder == giver:
            if not hand_over(demo, body, giver, taker, peg):
                continue
            then = giver_next
            giver_next = None  # once: the giver goes on to the next ring now

            def giver_goes_on(then=then):
                back_off(demo, giver, HANDOVER_BACK_OFF_M)
                if then is not None:
                    then()

            demo.parallel({taker: taker_places, giver: giver_goes_on})
            placer = taker
        elif s.holders(body) == {taker}:
            put_on_peg(demo, taker, body, peg)
            placer = taker
    if placed():
        return True
    demo.note(f"gave up on {body}: not on {peg} after {ROUNDS} rounds")
    return False


def peg_transfer(demo: Demonstrator) -> None:
    """Six rings from the left pegs to the right ones and back, handing over mid-air; the
    hand that gives a ring away goes on to the next one while the other places it."""
    s = demo.session
    left, right = sorted(s.driven, key=lambda a: s.arms[a].X_WR[0, 3])
    moves = [(r, r + 6, left, right) for r in range(6)] + [(r, r, right, left) for r in range(6)]
    for k, (ring, peg, giver, taker) in enumerate(moves):
        if demo.stopped:
            return
        following = moves[k + 1] if k + 1 < len(moves) else None
        next_ring = following[0] if following and following[2] == giver else None
        taker_next = following[0] if following and following[3] == taker else None
        transfer_ring(demo, ring, peg, giver, taker, next_ring, taker_next)
