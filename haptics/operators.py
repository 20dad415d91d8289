"""Synthetic operators: a human-like hand on the master, for tests, demos and benchmarks.

An operator renders a plan (reach here, close the gripper, pause) into the stream of
:class:`~haptics.master.MasterSample` a real device would publish: minimum-jerk
sub-movements timed by Fitts' law, endpoint scatter that grows with distance (the
speed-accuracy trade-off), overshoots and corrective sub-movements, curved paths,
hesitations, clutching when the hand would leave its workspace, gripper motion, and
physiological tremor (:class:`~haptics.signals.TremorModel`). Skill presets differ in
all of these, so an ``expert`` measurably moves faster, shorter and smoother than a
``novice``. Everything is drawn from the ``numpy.random.Generator`` passed in: the same
seed gives the same samples, bit for bit.

Reach targets are "virtual" hand positions in the master frame M (metres): where the
hand would have to be if it never clutched. Clutching shifts the hand back towards the
middle of its workspace without moving the instrument, so the operator keeps an offset.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from haptics.errors import HapticsError
from haptics.master import MasterSample
from haptics.signals import TremorModel, minimum_jerk
from kinematics.transforms import axis_angle, axis_rotation

GRIPPER_OPEN_RAD = math.radians(60.0)
GRIPPER_CLOSED_RAD = 0.0


@dataclass(frozen=True)
class Reach:
    """Move the hand's virtual position to ``target_m`` (M frame, m) within ``width_m``,
    turning the handle to ``rotation`` (3x3 in M) on the way when given, and opening or
    closing the gripper to ``grip_rad`` as the hand sets off (people open the jaws on the
    way to what they will grasp, not before they leave). ``centre_m``: see below."""

    target_m: tuple[float, float, float]
    width_m: float = 0.004
    rotation: tuple | None = None
    grip_rad: float | None = None
    #: where the work that follows this reach centres (M frame, m, like ``target_m``): an
    #: operator who clutches ahead centres its hand there rather than on the target
    centre_m: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Grip:
    """Open or close the gripper to ``angle_rad`` over ``duration_s``."""

    angle_rad: float
    duration_s: float = 0.25


@dataclass(frozen=True)
class Pause:
    """Hold still (tremor continues) for ``duration_s``."""

    duration_s: float


Action = Reach | Grip | Pause

#: Strokes (clutch cycles) one reach may take before the hand stretches to the goal.
MAX_CLUTCHES_PER_REACH = 6


@dataclass(frozen=True)
class SkillProfile:
    """How an operator moves. Times in s, lengths in m.

    Attributes:
        fitts_a_s, fitts_b_s: movement time = a + b log2(distance / width + 1).
        endpoint_error_ratio: endpoint scatter (std) per metre of movement.
        overshoot_probability, overshoot_ratio: chance and size (per metre) of overshooting.
        path_curvature_ratio: lateral deviation of the path per metre of movement (std).
        hesitation_probability, hesitation_s: chance and range of a pause before a reach.
        tremor_rms_m: range of the tremor RMS drawn for the operator.
        workspace_radius_m: how far from its centre the hand goes before clutching.
        max_corrections: corrective sub-movements before giving up on precision.
        recentre_share: a hand that waits (a pause of at least :data:`RECENTRE_PAUSE_S`,
            e.g. while the other hand works) further than this share of the workspace
            radius from its centre clutches back to the centre meanwhile; None: it never
            does. Keeping the hands centred is what the master-workspace-range metric of
            robotic simulators rewards, and that range separates novices from experts
            (Finnegan et al. 2013).
        clutch_ahead: clutches are placed so that a reach ends at the workspace's centre
            (or at the reach's ``centre_m``, the middle of the work that follows; as near
            as one clutch allows): a reach that fits in the workspace's radius but not
            where the hand is now, or whose centre lies beyond half the radius, starts
            (given) with one clutch; a longer one is made in strokes, the last clutch bringing the
            hand as far back as the rest of the reach. The precise work that follows a
            gross move then starts with the hand centred, not at the edge of its
            workspace (where the next few centimetres would need a clutch in the middle
            of aiming). Without it a clutch brings the
            hand half the radius back from the centre and a reach may end at the edge.
    """

    name: str
    fitts_a_s: float
    fitts_b_s: float
    endpoint_error_ratio: float
    overshoot_probability: float
    overshoot_ratio: float
    path_curvature_ratio: float
    hesitation_probability: float
    hesitation_s: tuple[float, float]
    tremor_rms_m: tuple[float, float]
    workspace_radius_m: float = 0.10
    max_corrections: int = 3
    recentre_share: float | None = None
    clutch_ahead: bool = False


#: Shortest pause (s) in which a waiting hand re-centres: one clutch cycle fits in it.
RECENTRE_PAUSE_S = 0.6

#: The presets side by side: one row a :class:`SkillProfile` field, one column a skill
#: level (the order of :data:`PRESET_NAMES`), so that how the levels differ reads at a
#: glance. ``max_corrections`` is the same for all and stays at its default.
PRESET_NAMES = ("expert", "intermediate", "novice")
# fmt: off
_PRESET_TABLE: dict[str, tuple] = {
    #                          expert          intermediate     novice
    "fitts_a_s":              (0.12,           0.20,            0.30),
    "fitts_b_s":              (0.10,           0.16,            0.26),
    "endpoint_error_ratio":   (0.03,           0.06,            0.12),
    "overshoot_probability":  (0.10,           0.30,            0.50),
    "overshoot_ratio":        (0.04,           0.08,            0.15),
    "path_curvature_ratio":   (0.02,           0.07,            0.15),
    "hesitation_probability": (0.05,           0.20,            0.40),
    "hesitation_s":           ((0.1, 0.3),     (0.2, 0.8),      (0.3, 1.5)),
    "tremor_rms_m":           ((50e-6, 80e-6), (80e-6, 130e-6), (120e-6, 200e-6)),
    # a novice stretches further before clutching
    "workspace_radius_m":     (0.10,           0.10,            0.12),
    "recentre_share":         (0.5,            0.7,             None),
    "clutch_ahead":           (True,           False,           False),
}
# fmt: on

PRESETS = {
    name: SkillProfile(name, **{field: row[k] for field, row in _PRESET_TABLE.items()})
    for k, name in enumerate(PRESET_NAMES)
}


def skill(name_or_profile: str | SkillProfile) -> SkillProfile:
    """Look a preset up by name (the error lists the valid ones)."""
    if isinstance(name_or_profile, SkillProfile):
        return name_or_profile
    profile = PRESETS.get(name_or_profile)
    if profile is None:
        raise HapticsError(
            f"unknown operator skill {name_or_profile!r}; valid presets are {sorted(PRESETS)}."
        )
    return profile


@dataclass(frozen=True)
class OperatorTrace:
    """What an operator did, sample by sample (all arrays share the first axis).

    Attributes:
        time_s: sample times (s).
        position_m: handle position in M including tremor (m) - what the device reports.
        voluntary_m: the same without tremor (m) - ground truth for filter evaluation.
        tremor_m: the tremor alone (m).
        gripper_rad: gripper angle (rad).
        clutch: clutch pedal pressed.
        rotation: (N, 3, 3) handle orientation in M.
    """

    time_s: np.ndarray
    position_m: np.ndarray
    voluntary_m: np.ndarray
    tremor_m: np.ndarray
    gripper_rad: np.ndarray
    clutch: np.ndarray
    rotation: np.ndarray

    def __len__(self) -> int:
        return len(self.time_s)

    def sample(self, i: int) -> MasterSample:
        """The i-th sample as a device would publish it."""
        X = np.eye(4)
        X[:3, :3] = self.rotation[i]
        X[:3, 3] = self.position_m[i]
        return MasterSample(
            float(self.time_s[i]), X, float(self.gripper_rad[i]), bool(self.clutch[i])
        )

    def samples(self) -> Iterator[MasterSample]:
        """All samples in order."""
        for i in range(len(self)):
            yield self.sample(i)


class SyntheticOperator:
    """A seeded, human-like master operator.

    Args:
        skill: preset name (``expert``, ``intermediate``, ``novice``) or a profile.
        rng: the random generator; everything the operator does is drawn from it.
        rate_hz: sample rate of the device (Hz).
        start_m: initial hand position in M (m).
    """

    def __init__(
        self,
        skill_level: str | SkillProfile = "expert",
        *,
        rng: np.random.Generator,
        rate_hz: float = 1000.0,
        start_m=(0.0, 0.0, 0.0),
    ) -> None:
        if not isinstance(rng, np.random.Generator):
            raise HapticsError(
                "rng must be a numpy.random.Generator (seed it for reproducibility)."
            )
        self.profile = skill(skill_level)
        self.rng = rng
        self.rate_hz = float(rate_hz)
        self.tremor = TremorModel.random(rng)
        self.tremor = TremorModel(
            rms_m=float(rng.uniform(*self.profile.tremor_rms_m)),
            frequency_hz=self.tremor.frequency_hz,
            frequency_drift_hz=self.tremor.frequency_drift_hz,
            amplitude_drift=self.tremor.amplitude_drift,
        )
        self._start = np.asarray(start_m, dtype=float)
        # tremor has its own stream so that rendering a plan in segments draws exactly
        # what rendering it at once draws
        self._tremor_rng = np.random.default_rng(rng.integers(2**63))
        # what persists between render() calls, so a session can render plan segments
        # one at a time (closed loop: each from where the instrument really is)
        self._state = {
            "hand": self._start.copy(),
            "offset": np.zeros(3),
            "grip": GRIPPER_CLOSED_RAD,
            "rot": np.eye(3),
            "emitted": 0,  # samples emitted so far (within and across renders)
        }
        self._samples = 0  # samples emitted so far: time = count / rate, no float drift
        self._tremor = np.zeros((0, 3))
        self._tremor_used = 0

    @property
    def hand_m(self) -> np.ndarray:
        """Current hand position in M (m), without tremor."""
        return self._state["hand"].copy()

    @property
    def hand_rotation(self) -> np.ndarray:
        """Current handle orientation in M (3x3)."""
        return self._state["rot"].copy()

    @property
    def virtual_hand_m(self) -> np.ndarray:
        """Where the hand would be had it never clutched: the reach-target frame (m)."""
        return self._state["hand"] + self._state["offset"]

    @property
    def time_s(self) -> float:
        """Time of the next sample (s)."""
        return self._samples / self.rate_hz

    def _tremor_samples(self, n: int) -> np.ndarray:
        """The next n tremor samples of one continuous stream (drawn in 60 s blocks)."""
        while len(self._tremor) - self._tremor_used < n:
            block = self.tremor.sample(int(60 * self.rate_hz), self.rate_hz, self._tremor_rng)
            self._tremor = np.concatenate([self._tremor[self._tremor_used :], block])
            self._tremor_used = 0
        out = self._tremor[self._tremor_used : self._tremor_used + n]
        self._tremor_used += n
        return out

    # ---- rendering ----------------------------------------------------------------------
    def render(self, plan: Sequence[Action]) -> OperatorTrace:
        """Turn a plan into a sampled trace (hand, gripper, clutch, tremor).

        Successive calls continue where the previous one stopped (hand, clutch offset,
        gripper, clock and tremor), so a plan may be rendered one segment at a time.
        """
        state = self._state
        pieces_p: list[np.ndarray] = []
        pieces_g: list[np.ndarray] = []
        pieces_c: list[np.ndarray] = []
        pieces_r: list[np.ndarray] = []

        def emit(positions, clutch=False, grip=None, rotations=None):
            n = len(positions)
            state["emitted"] += n
            pieces_p.append(positions)
            pieces_c.append(np.full(n, clutch))
            pieces_g.append(np.full(n, state["grip"]) if grip is None else grip)
            if rotations is None:
                rotations = np.broadcast_to(state["rot"], (n, 3, 3))
            pieces_r.append(rotations)
            if n:
                state["hand"] = positions[-1].copy()
                state["rot"] = np.array(rotations[-1])

        for action in plan:
            if isinstance(action, Pause):
                self._pause(action.duration_s, state, emit)
            elif isinstance(action, Grip):
                n = max(1, round(action.duration_s * self.rate_hz))
                s = np.arange(1, n + 1) / n
                shape = s**3 * (10 - 15 * s + 6 * s * s)
                grip = state["grip"] + (action.angle_rad - state["grip"]) * shape
                emit(np.repeat(state["hand"][None, :], n, axis=0), grip=grip)
                state["grip"] = float(action.angle_rad)
            elif isinstance(action, Reach):
                first = len(pieces_p)
                self._reach(action, state, emit)
                if action.grip_rad is not None:
                    self._grip_along(pieces_g[first:], pieces_c[first:], action.grip_rad, state)
            else:
                raise HapticsError(f"unknown plan action {action!r}; use Reach, Grip or Pause.")
        if not pieces_p:  # nothing to do: one sample where the hand is
            emit(state["hand"][None, :].copy())
        voluntary = np.concatenate(pieces_p)
        n = len(voluntary)
        tremor = self._tremor_samples(n)
        time_s = (self._samples + np.arange(n)) / self.rate_hz
        self._samples += n
        return OperatorTrace(
            time_s=time_s,
            position_m=voluntary + tremor,
            voluntary_m=voluntary,
            tremor_m=tremor,
            gripper_rad=np.concatenate(pieces_g),
            clutch=np.concatenate(pieces_c),
            rotation=np.concatenate(pieces_r),
        )

    def _grip_along(self, grips: list, clutches: list, angle_rad: float, state: dict) -> None:
        """Move the gripper to ``angle_rad`` over the first :class:`Grip`-long stretch of
        a rendered reach in which the clutch is up (the jaw follows the gripper only
        then), in place, in the reach's gripper pieces."""
        if not grips:
            state["grip"] = float(angle_rad)
            return
        g = np.concatenate(grips)
        free = np.flatnonzero(~np.concatenate(clutches))
        n = max(1, round(Grip(angle_rad).duration_s * self.rate_hz))
        start = int(free[0]) if len(free) else len(g) - 1
        s = np.clip((np.arange(len(g)) - start + 1) / n, 0.0, 1.0)
        shape = s**3 * (10 - 15 * s + 6 * s * s)
        g = state["grip"] + (angle_rad - state["grip"]) * shape
        k = 0
        for piece in grips:
            piece[:] = g[k : k + len(piece)]
            k += len(piece)
        state["grip"] = float(angle_rad)

    def _hold(self, p: np.ndarray, duration_s: float) -> np.ndarray:
        return np.repeat(p[None, :], max(0, round(duration_s * self.rate_hz)), axis=0)

    def _movement(self, p0, p1, width_m: float) -> np.ndarray:
        """One curved minimum-jerk sub-movement from p0 to p1, timed by Fitts' law.

        ``self._turn`` (start and end rotation) turns the handle along the way."""
        prof = self.profile
        distance = float(np.linalg.norm(p1 - p0))
        duration = prof.fitts_a_s + prof.fitts_b_s * math.log2(distance / width_m + 1.0)
        n = max(2, round(duration * self.rate_hz))
        t = np.arange(1, n + 1) / self.rate_hz
        path = minimum_jerk(p0, p1, duration, t)
        if distance > 0:
            lateral = self.rng.normal(size=3)
            direction = (p1 - p0) / distance
            lateral -= lateral.dot(direction) * direction
            lateral *= prof.path_curvature_ratio * distance / max(np.linalg.norm(lateral), 1e-12)
            s = np.clip(t / duration, 0, 1)
            sigma = s**3 * (10 - 15 * s + 6 * s * s)
            path = path + (4 * sigma * (1 - sigma))[:, None] * lateral
        return path

    def _rotations(self, R0: np.ndarray, R1: np.ndarray, n: int) -> np.ndarray:
        """n orientations from R0 to R1 along the minimum-jerk time shape (slerp)."""
        s = np.arange(1, n + 1) / n
        sigma = s**3 * (10 - 15 * s + 6 * s * s)
        axis, angle = axis_angle(R1 @ R0.T)
        if angle < 1e-12:
            return np.broadcast_to(R1, (n, 3, 3)).copy()
        out = np.empty((n, 3, 3))
        for i, a in enumerate(angle * sigma):
            out[i] = axis_rotation(axis, a) @ R0
        return out

    def _reach(self, action: Reach, state: dict, emit) -> None:
        prof = self.profile
        target_virtual = np.asarray(action.target_m, dtype=float)
        if self.rng.random() < prof.hesitation_probability:
            emit(self._hold(state["hand"], self.rng.uniform(*prof.hesitation_s)))
        goal = target_virtual - state["offset"]
        centre = target_virtual if action.centre_m is None else np.asarray(action.centre_m, float)
        if prof.clutch_ahead:
            radius = prof.workspace_radius_m
            d = centre - state["offset"] - state["hand"]
            outside = np.linalg.norm(goal - self._start) > radius
            off_centre = (
                action.centre_m is not None
                and np.linalg.norm(centre - state["offset"] - self._start) > 0.5 * radius
            )
            if (outside or off_centre) and 1e-9 < np.linalg.norm(d) <= radius:
                # one clutch first: what follows is then centred in the workspace
                self._clutch_to(self._start - d, state, emit)
                goal = target_virtual - state["offset"]
        for _ in range(MAX_CLUTCHES_PER_REACH):
            if np.linalg.norm(goal - self._start) <= prof.workspace_radius_m:
                break
            # a long reach is made in strokes: to the edge of the hand's workspace, clutch
            # back, go on (a 10 cm tool move at 0.2 scale is 50 cm of hand travel)
            edge = self._workspace_exit(state["hand"], goal)
            if edge is not None:
                stroke = self._movement(state["hand"], edge, 0.02)
                turn = None
                if action.rotation is not None:  # the wrist turns along the way, pro rata
                    share = np.linalg.norm(edge - state["hand"]) / np.linalg.norm(
                        goal - state["hand"]
                    )
                    R_part = _partial_turn(state["rot"], np.asarray(action.rotation, float), share)
                    turn = self._rotations(state["rot"], R_part, len(stroke))
                emit(stroke, rotations=turn)
            self._clutch_towards(goal, state, emit, centre - state["offset"])
            goal = target_virtual - state["offset"]
        hand = state["hand"]
        distance = float(np.linalg.norm(goal - hand))
        if distance < 1e-9:
            if action.rotation is not None:  # turning in place
                n = round((prof.fitts_a_s + prof.fitts_b_s) * self.rate_hz)
                turn = self._rotations(state["rot"], np.asarray(action.rotation, float), n)
                emit(np.repeat(hand[None, :], n, axis=0), rotations=turn)
            return
        direction = (goal - hand) / distance
        end = goal + self.rng.normal(size=3) * prof.endpoint_error_ratio * distance / math.sqrt(3)
        if self.rng.random() < prof.overshoot_probability:
            end = end + direction * prof.overshoot_ratio * distance
        path = self._movement(hand, end, action.width_m)
        turn = None
        if action.rotation is not None:
            turn = self._rotations(state["rot"], np.asarray(action.rotation, float), len(path))
        emit(path, rotations=turn)
        for _ in range(prof.max_corrections):
            error = float(np.linalg.norm(goal - state["hand"]))
            if error <= action.width_m / 2:
                break
            emit(self._hold(state["hand"], 0.08))  # reaction time before a correction
            end = goal + self.rng.normal(size=3) * prof.endpoint_error_ratio * error / math.sqrt(3)
            emit(self._movement(state["hand"], end, action.width_m))

    def _workspace_exit(self, hand: np.ndarray, goal: np.ndarray) -> np.ndarray | None:
        """Where the straight line from ``hand`` to ``goal`` leaves the workspace sphere;
        None when the hand is already at its edge (nothing to gain before clutching)."""
        radius = self.profile.workspace_radius_m
        d = goal - hand
        f = hand - self._start
        a, b, c = d @ d, 2 * f @ d, f @ f - radius**2
        disc = b * b - 4 * a * c
        if a < 1e-18 or disc < 0:
            return None
        t = (-b + math.sqrt(disc)) / (2 * a)
        if t <= 0.05:  # within 5% of the way: not worth a stroke
            return None
        return hand + min(t, 1.0) * d

    def _pause(self, duration_s: float, state: dict, emit) -> None:
        """Hold still for ``duration_s``; a hand far from its centre re-centres meanwhile
        when the profile has that habit and the pause fits a clutch cycle."""
        share = self.profile.recentre_share
        off = float(np.linalg.norm(state["hand"] - self._start))
        n_total = round(duration_s * self.rate_hz)
        near = share is None or off <= share * self.profile.workspace_radius_m
        if near or duration_s < RECENTRE_PAUSE_S:
            emit(self._hold(state["hand"], duration_s))
            return
        n0 = state["emitted"]
        self._clutch_to(self._start.copy(), state, emit)
        used = state["emitted"] - n0
        emit(self._hold(state["hand"], max(0, n_total - used) / self.rate_hz))

    def _clutch_towards(self, goal: np.ndarray, state: dict, emit, centre=None) -> None:
        """Press the clutch, bring the hand back so that ``goal`` fits, release (clutching
        ahead: so that ``centre``, or ``goal``, comes as near the middle as one clutch
        allows)."""
        radius = self.profile.workspace_radius_m
        away = goal - self._start
        new_hand = self._start - 0.5 * radius * away / np.linalg.norm(away)
        rest = (goal if centre is None else centre) - state["hand"]
        if self.profile.clutch_ahead and np.linalg.norm(rest) > 1e-9:
            # as far back as the rest of the reach: it ends at the centre (or crosses it)
            length = float(np.linalg.norm(rest))
            new_hand = self._start - min(length, radius) * rest / length
        self._clutch_to(new_hand, state, emit)

    def _clutch_to(self, new_hand: np.ndarray, state: dict, emit) -> None:
        """Press the clutch, bring the hand to ``new_hand`` (the instrument stays), release."""
        hand = state["hand"]
        emit(self._hold(hand, 0.05), clutch=True)
        duration = 0.3 + 0.1 * self.rng.random()
        n = max(2, round(duration * self.rate_hz))
        t = np.arange(1, n + 1) / self.rate_hz
        emit(minimum_jerk(hand, new_hand, duration, t), clutch=True)
        # the hand settles before the pedal comes up: the tremor filter is still catching
        # up with the repositioning, and what it has not caught up with would move the tool
        emit(self._hold(new_hand, 0.1), clutch=True)
        state["offset"] = state["offset"] + (hand - new_hand)


def _partial_turn(R0: np.ndarray, R1: np.ndarray, share: float) -> np.ndarray:
    """The orientation ``share`` (0..1) of the way from ``R0`` to ``R1`` (slerp)."""
    axis, angle = axis_angle(R1 @ R0.T)
    return axis_rotation(axis, share * angle) @ R0 if angle > 1e-12 else R1


def random_plan(rng: np.random.Generator, n_reaches: int = 8, span_m: float = 0.15) -> list[Action]:
    """A reach-and-grip plan over a workspace of ``span_m`` (for demos and benchmarks)."""
    plan: list[Action] = []
    for i in range(n_reaches):
        plan.append(Reach(tuple(rng.uniform(-span_m / 2, span_m / 2, 3)), width_m=0.004))
        plan.append(Grip(GRIPPER_OPEN_RAD if i % 2 == 0 else GRIPPER_CLOSED_RAD))
        plan.append(Pause(float(rng.uniform(0.1, 0.4))))
    return plan
