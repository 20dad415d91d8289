"""What a session step returns: plain arrays and dataclasses, no physics engine inside.

The same :class:`StepState` feeds every consumer: the real-time server publishes it on
the bus, the renderer draws its poses, the Gymnasium environment turns it into
observations and rewards, the recorder writes it. It pickles (multiprocessing, Ray) and
holds no pybullet object.

Rates. Arm joints, tool-tip poses, jaws and teleoperation states are measured every
physics step, except for an arm that has had no command for half a second and holds
nothing ("settled"): it is read every 10 ms (``sim.world.world.SETTLED_SENSE_S``), so
one struck by another instrument reads up to 10 ms late. Contacts, tip forces, "in
view", body poses, the exercise and the live metrics are observed at the session's
observation rate (``SessionConfig.observe_rate_hz``, 100 Hz by default headless; the live
server raises it for force feedback), and carry the time they were observed
(``observed_time_s``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scenarios.trace import TraceEvent

#: Teleoperation states an arm reports (dVRK-like), plus the direct-command sources.
OPERATING_STATES = (
    "DISABLED",
    "ALIGNING",
    "FOLLOWING",
    "CLUTCHED",
    "HOLDING",
    "SERVO",  # driven by servo_cp / servo_jp (a controller or an agent)
    "IDLE",  # no command source yet
)


@dataclass(frozen=True, slots=True)
class ArmState:
    """One arm after a step.

    Attributes:
        name: the arm's name (``"PSM1"``).
        kind: ``"psm"`` or ``"ecm"``.
        joint_names: the chain's joints, in order.
        measured_js: measured joint positions (rad / m).
        X_WT: measured tool-tip (scope-tip for an ECM) pose in the world (4x4, m).
        X_RT: the same in the arm's remote-centre-of-motion frame (4x4, m).
        jaw_rad: measured jaw opening (rad; 0 without a jaw).
        tip_force_n: force on the tip from tissue and objects (N, world frame): what
            they push and pull on the instrument (pressed down into a pad it points up;
            a held needle's weight points down), the force a master feeds back (its
            magnitude is what the tip exerts on them). Clashes with other instruments
            are contacts, not force: this is what the trace records and the metrics
            judge. At ``observed_time_s``.
        in_view: the tip is inside the endoscope's view, at ``observed_time_s``.
        operating_state: one of :data:`OPERATING_STATES`.
        following: the instrument follows its master now.
        aligned: the master's orientation matches the instrument's (within tolerance).
        holding: names of the objects the jaws hold.
        used_seq: ``seq`` of the last master sample this arm used (-1: none).
        jaw_release_rad: while the jaws hold something, the jaw goal (rad) above which
            they let it go (None when they hold nothing). The fingers rest on the held
            object, so the opening they hold at is the object's width where it was
            gripped (0.45 rad on a needle, wider on a ring), not the jaw goal: a goal of
            0 squeezes, and only a goal past this opening releases.
        feedback_force_n: the force fed back to the arm's master (N, world frame):
            ``tip_force_n`` plus what another instrument pushes on this one's distal
            links (both masters feel a clash, in opposite directions); None: as
            ``tip_force_n``.
    """

    name: str
    kind: str
    joint_names: tuple[str, ...]
    measured_js: np.ndarray
    X_WT: np.ndarray
    X_RT: np.ndarray
    jaw_rad: float
    tip_force_n: np.ndarray
    in_view: bool
    operating_state: str
    following: bool
    aligned: bool
    holding: tuple[str, ...] = ()
    used_seq: int = -1
    jaw_release_rad: float | None = None
    feedback_force_n: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class ExerciseState:
    """Where the trainee is in the exercise.

    Attributes:
        step_index: index of the current step (== ``steps_total`` when all are done).
        steps_total: number of steps.
        step_id, instruction: the current step's id and instruction ('' when done).
        completed: every step done.
        failed: why the exercise failed (time limit), or None.
        completion_time_s: simulated time of completion, or None.
    """

    step_index: int
    steps_total: int
    step_id: str
    instruction: str
    completed: bool
    failed: str | None
    completion_time_s: float | None


@dataclass(frozen=True, slots=True)
class StepState:
    """The session after one step.

    Attributes:
        time_s: simulated time (s).
        step_count: physics steps since the start.
        clock_s: the session clock at this step (simulated time headless, a monotonic
            wall clock live).
        arms: per arm, its :class:`ArmState`.
        events: what happened in this step (grasps, drops, teleoperation states,
            exercise steps, refused commands, ...), in order.
        contacts: instrument contacts at ``observed_time_s`` (:class:`sim.world.contacts.Contact`).
        node_names: the scene description's nodes (bodies by name, then arm links as
            ``ARM/LINK``; see ``Session.scene_description()``).
        node_poses: their poses ``X_WN`` (N, 4, 4, world), at ``poses_time_s``.
        poses_time_s: when the poses were read (the session's pose rate, 60 Hz by default).
        observed_time_s: when contacts, forces, "in view", poses and metrics were observed.
        exercise: the exercise's progress.
        metrics: live metrics (the accumulable ones; see :mod:`scenarios.live`).
        score_estimate: the score the session would get if it were completed now, or
            None while there is nothing to score (or a metric is NaN: a NaN tip position
            or force, which the session cannot be scored on).
        finished: the exercise was completed or failed.
    """

    time_s: float
    step_count: int
    clock_s: float
    arms: dict[str, ArmState]
    events: tuple[TraceEvent, ...]
    contacts: tuple
    node_names: tuple[str, ...]
    node_poses: np.ndarray
    poses_time_s: float
    observed_time_s: float
    exercise: ExerciseState
    metrics: dict[str, float] = field(default_factory=dict)
    score_estimate: float | None = None
    finished: bool = False

    def pose(self, name: str) -> np.ndarray:
        """The pose (4x4, world) of a body (``"board/ring3"``) or arm link (``"PSM1/roll_link"``)
        at ``poses_time_s``; a KeyError lists the names."""
        try:
            return self.node_poses[self.node_names.index(name)]
        except ValueError:
            raise KeyError(f"no node named {name!r}; nodes are {list(self.node_names)}") from None

    @property
    def body_poses(self) -> dict[str, np.ndarray]:
        """Every body's pose (4x4, world) by name (arm links left out)."""
        return {
            n: X
            for n, X in zip(self.node_names, self.node_poses, strict=True)
            if "/" not in n or n.split("/")[0] not in self.arms
        }
