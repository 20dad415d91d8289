"""The session: one run of a scenario, and the one core that every driver shares.

A real-time server (devices on the bus), a renderer, a Gymnasium agent and the headless
demonstrator all drive the same :class:`Session`:

- ``step(commands) -> StepState``: one physics step. Commands per arm (see
  :mod:`sim.session.commands`): master samples through teleoperation, a tool-tip pose
  (``servo_cp``), joint targets (``servo_jp``) and the jaw — mixable, one arm by a person
  and another by an algorithm. Nothing a device or controller sends raises out of
  ``step``: what cannot be used holds the arm and becomes an event.
- ``reset(seed)``: the next episode in the same physics client, bit for bit the same as
  a fresh session with that seed.
- ``trace()``, ``live metrics`` (in every :class:`StepState`), ``body_poses()``.

Per physics step: each teleoperated arm's new master samples go through its pipeline
(judged on the session clock: simulated time headless, a monotonic wall clock live) to a
tool-tip target, IK (warm-started) to joint goals, and the jaw; direct commands go
straight to IK or the joints; the world steps (motors, pybullet, grasps, tissue) and
measures every arm once. At the observation rate (``observe_rate_hz``) the session reads
contacts and tip forces, checks what is in view, writes a trace row, ticks the exercise
engine and carries out its actions; live metrics are refreshed from the new trace rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from haptics.master import MasterSample
from haptics.teleop import TeleopConfig, Teleoperation
from kinematics import solve_ik
from kinematics.errors import KinematicsError
from kinematics.ik import DEFAULT_MAX_ITERS, check_seed
from kinematics.solvers import checked_joints, load_ik_solver
from kinematics.transforms import pose, rpy_to_matrix
from scenarios.live import COUNTED_EVENTS, MetricAccumulator
from scenarios.metrics import MIN_METRICS_RATE_HZ, TREMOR_BAND_HZ
from scenarios.schema import Scenario
from scenarios.scoring import score_session
from scenarios.script import ExerciseRunner
from scenarios.trace import SessionTrace, TraceEvent
from scenarios.visual import CameraModel, SceneDescription
from sim.errors import SimError
from sim.session.commands import ArmCommand, normalise
from sim.session.recorder import TraceRecorder
from sim.session.state import ArmState, ExerciseState, StepState
from sim.session.view import SessionView
from sim.world.arm import (
    IK_POS_TOL_M,
    IK_ROT_TOL_RAD,
    MAX_JUMP_S,
    TRACK_MAX_ITERS,
    TRACK_POS_TOL_M,
)
from sim.world.contacts import INSTRUMENT_INSTRUMENT
from sim.world.frustum import points_in_view
from sim.world.scenario_scene import build_scene_spec

log = logging.getLogger(__name__)

#: A grasped object counts as lifted off what it rested on once this far from it (m):
#: below that, hand tremor while lifting makes and breaks contact a few times.
LIFT_CLEARANCE_M = 0.001

#: events a driver records of its devices (:meth:`Session.note_device`)
DEVICE_EVENTS = ("device_lost", "device_back")

_CONTACT_KEYS = {
    "instrument-object": "contact_object",
    "instrument-instrument": "contact_instrument",
    "instrument-environment": "contact_environment",
}

#: Instrument motion per hand motion: the da Vinci's default ("normal", 3:1). The dVRK's
#: own 0.2 makes a 10 cm ring transfer 50 cm of hand travel: four clutch strokes.
INSTRUMENT_TRANSLATION_SCALE = 1.0 / 3.0

#: Scope motion per hand motion. The view is moved by centimetres to frame a target, not
#: placed to a tenth of a millimetre, so the scope is driven at a coarser scale than the
#: instruments: at 0.2 a 5 cm camera move would take 25 cm of hand travel, about three
#: clutch strokes.
SCOPE_TRANSLATION_SCALE = 0.5


#: Teleoperation of an in-process session (synthetic operators, tests): following from the
#: start, no alignment gate (the synthetic operators' hands start at the identity, not at
#: the instrument's orientation), and a 50 ms gap watchdog (one sample per physics step).
#: A live server keeps the dVRK-like defaults instead (DISABLED until enabled, a 10°
#: alignment gate, a 100 ms watchdog): see ``sim.server.server.live_session_config``.
IN_PROCESS_TELEOP = {"start_enabled": True, "align_tolerance_rad": None, "gap_timeout_s": 0.05}


def _effective_config(config: SessionConfig, physics_rate_hz: float) -> SessionConfig:
    """``config`` with its teleoperations as a session builds them: sampled at the
    master's rate (``master_rate_hz``, else the physics rate) and applied every physics
    step (a device measured to sample slower has each of its steps spread over its
    period: ``haptics.teleop.ramp``)."""
    rates = {
        "rate_hz": config.master_rate_hz or physics_rate_hz,
        "loop_rate_hz": physics_rate_hz,
    }
    return dataclasses.replace(
        config,
        teleop=dataclasses.replace(config.teleop, **rates),
        scope_teleop=dataclasses.replace(config.scope_teleop, **rates),
    )


def speed_limit_conditions(teleop: TeleopConfig) -> dict:
    """The tool tip's speed limit as a stored session's conditions keep it (``teleop``):
    the report draws it on the speed plot. ``max_tip_speed_m_s`` caps the teleoperation
    target counted in sample time, and unused allowance carries over up to
    ``limit_carry_s`` worth, so over any span T the target moves at most
    max x (T + carry); the tip, following the target, can briefly run faster while it
    catches up."""
    return {
        "max_tip_speed_m_s": float(teleop.max_tip_speed_m_s),
        "limit_carry_s": float(teleop.limit_carry_s),
    }


def _instrument_teleop() -> TeleopConfig:
    return TeleopConfig(translation_scale=INSTRUMENT_TRANSLATION_SCALE, **IN_PROCESS_TELEOP)


def _scope_teleop() -> TeleopConfig:
    return TeleopConfig(translation_scale=SCOPE_TRANSLATION_SCALE, **IN_PROCESS_TELEOP)


@dataclass(frozen=True)
class SessionConfig:
    """How a session runs.

    Attributes:
        teleop: the teleoperation settings of every master-driven instrument.
        scope_teleop: those of a master-driven endoscope (ECM).
        master_rate_hz: the rate master devices publish at (Hz), for the teleoperation
            filters; None: the physics rate (the headless synthetic operators publish one
            sample per physics step).
        observe_rate_hz: how often contacts, tip forces, "in view" and the exercise
            engine are updated (Hz); None: every physics step (a live server's force
            feedback needs every step).
        record_rate_hz: trace rows per simulated second (Hz), at most the observation
            rate: 100 Hz is what the metrics need (tremor up to 16 Hz, smoothness at the
            published 100 Hz); 32 Hz or less (and an observation rate that low) is
            refused, the tremor metric cannot be measured there. Both rates are whole
            fractions of the rate they are counted in (physics, observation): another
            is rounded to one, with a :class:`RateAdjustedWarning` saying so. A row
            holds the largest tip force and every contact seen since the previous row,
            so nothing observed in between is lost.
        metrics_rate_hz: how often live metrics and the score estimate are refreshed (Hz).
        pose_rate_hz: how often ``StepState.node_poses`` is refreshed (Hz; a viewer draws
            at 60 Hz); None: every physics step.
        ik_restarts: IK restarts per step when the warm start fails (kept small: the
            target moves little between steps).
        unreachable_tolerance_m: a pose goal the IK misses by more than this (m) is
            unreachable: the arm holds and an event says so.
        ik_solver: your own IK solver, ``"package.module:function"`` with
            :func:`kinematics.solve_ik`'s signature (see :mod:`kinematics.solvers`), for
            ``servo_cp`` goals and teleoperation; None (or ``"builtin"``, the CLI's
            word for it, kept as None): the built-in solver. A name, not
            the function, so the configuration pickles (sweeps, vector envs); resolved
            once when the session is made. Its answers are checked: one that raises, is
            malformed or reports no success holds the arm (an ``unreachable`` event).
    """

    teleop: TeleopConfig = field(default_factory=_instrument_teleop)
    scope_teleop: TeleopConfig = field(default_factory=_scope_teleop)
    master_rate_hz: float | None = None
    observe_rate_hz: float | None = 100.0
    record_rate_hz: float = 100.0
    metrics_rate_hz: float = 10.0
    pose_rate_hz: float | None = 60.0
    ik_restarts: int = 2
    unreachable_tolerance_m: float = 1e-3
    ik_solver: str | None = None

    def __post_init__(self) -> None:
        """Refuse numbers no session can run on: a NaN tolerance made every pose goal
        "unreachable" without a word, a rate of 0 divided by zero at the first step."""
        positive = {
            "master_rate_hz": self.master_rate_hz,
            "observe_rate_hz": self.observe_rate_hz,
            "record_rate_hz": self.record_rate_hz,
            "metrics_rate_hz": self.metrics_rate_hz,
            "pose_rate_hz": self.pose_rate_hz,
            "unreachable_tolerance_m": self.unreachable_tolerance_m,
        }
        optional = ("master_rate_hz", "observe_rate_hz", "pose_rate_hz")
        for name, value in positive.items():
            if value is None and name in optional:
                continue
            if not _positive_finite(value):
                extra = " (or None)" if name in optional else ""
                raise SimError(
                    f"SessionConfig.{name} must be a positive finite number{extra}, got {value!r}."
                )
        for name in ("record_rate_hz", "observe_rate_hz"):  # rows come at most this often
            _check_metrics_rate(f"SessionConfig.{name}", getattr(self, name))
        from sim.session.plugins import IK_SOLVER

        if self.ik_solver == IK_SOLVER.builtin:  # the sweep's word works here too
            object.__setattr__(self, "ik_solver", None)
        if not isinstance(self.ik_restarts, int) or self.ik_restarts < 0:
            raise SimError(
                f"SessionConfig.ik_restarts must be an int >= 0, got {self.ik_restarts!r}."
            )


def _check_metrics_rate(what: str, rate_hz: float | None) -> None:
    """Refuse a trace row rate the metrics cannot use: a session at 25 Hz ran to its end,
    then scoring failed (the tremor band-pass needs its 16 Hz edge below half the rate)."""
    if rate_hz is not None and rate_hz <= MIN_METRICS_RATE_HZ:
        raise SimError(
            f"{what} is {rate_hz:g} Hz; trace rows must come faster than "
            f"{MIN_METRICS_RATE_HZ:g} Hz (twice the tremor band's {TREMOR_BAND_HZ[1]:g} Hz "
            "edge) for the session to be scored: 100 Hz is what the metrics were made for."
        )


def _row_steps(config: SessionConfig, physics_rate_hz: float) -> tuple[int, int]:
    """(physics steps per observation, observations per trace row) for ``config``;
    refuses a trace row rate the metrics cannot use once rounded."""
    observe = config.observe_rate_hz
    observe_every = (
        1 if observe is None else _whole_fraction("observe_rate_hz", observe, physics_rate_hz)
    )
    observe_hz = physics_rate_hz / observe_every
    record_every = _whole_fraction("record_rate_hz", config.record_rate_hz, observe_hz)
    _check_metrics_rate("the session's trace row rate", observe_hz / record_every)
    return observe_every, record_every


def _whole_fraction(what: str, requested_hz: float, base_hz: float) -> int:
    """How many ``base_hz`` ticks make one ``requested_hz`` tick (at least 1), warning when
    that does not give ``requested_hz`` itself: a rate is a whole fraction of the one it
    is counted in (``observe_rate_hz=40`` at 500 Hz physics gives 41.67 Hz; the trace
    carries the rate it really has, and the metrics use that)."""
    every = max(1, round(base_hz / requested_hz))
    realised_hz = base_hz / every
    if not math.isclose(realised_hz, requested_hz, rel_tol=1e-6):
        warnings.warn(
            f"SessionConfig.{what} {requested_hz:g} Hz is not a whole fraction of "
            f"{base_hz:g} Hz, so the session uses {realised_hz:.6g} Hz (one in every {every}); "
            "the trace and its metrics carry that rate.",
            RateAdjustedWarning,
            stacklevel=4,
        )
    return every


class RateAdjustedWarning(UserWarning):
    """A session rate was rounded to a whole fraction of the rate it is counted in."""


def _positive_finite(value) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


#: how far past a joint limit (a share of the joint's range) a servo_jp goal is clipped
#: onto it rather than refused
JP_LIMIT_MARGIN = 0.01


def _checked_seed(seed) -> int:
    """A seed as the IK's own check reads one (an integer in [0, 2**63)), as a SimError:
    ``2.5``, ``"2019"`` and ``True`` were taken silently, and -1 failed deep in numpy."""
    try:
        return check_seed(seed)
    except KinematicsError as exc:
        raise SimError(str(exc)) from None


def _handle_position(sample) -> tuple[float, float, float] | None:
    """The handle position (m, M) of a master sample, None when its pose is not usable."""
    try:
        X = np.asarray(sample.X_MH, dtype=float)
    except (TypeError, ValueError, AttributeError):
        return None
    if X.shape == (4, 4):
        x, y, z = float(X[0, 3]), float(X[1, 3]), float(X[2, 3])
        if math.isfinite(x) and math.isfinite(y) and math.isfinite(z):
            return x, y, z
    return None


def _held_part(commands):
    """What of ``commands`` applies again on a repeated step: pose, joint and jaw goals
    hold; master samples were used once."""
    if not isinstance(commands, dict):
        return None
    out = {}
    for name, command in commands.items():
        if isinstance(command, ArmCommand) and (command.direct or command.jaw_rad is not None):
            out[name] = dataclasses.replace(command, master=())
    return out


class Session:
    """One run of ``scenario`` with seed ``seed``.

    Args:
        scenario: the loaded scenario.
        seed: seed of the world — same seed, same run, bit for bit. It places objects
            only where the scenario asks for random placement (a peg board's
            ``ring_jitter_m``); the bundled scenarios place everything exactly.
        config: how the session runs.
        clock: a function returning the session clock in seconds (e.g.
            ``time.monotonic`` for a live session); None uses simulated time. Master
            samples are stamped on this clock, and the teleoperation watchdog judges
            stale, future and missing samples on it.

    Attributes:
        world: the physics world (:class:`sim.world.World`).
        arms: the world's arms by name.
        driven: names of the arms a master can drive (the scenario's ``hand:``).
        teleops: the teleoperation pipeline of each driven arm.
        runner: the exercise engine; ``finished`` when completed or failed.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int = 0,
        config: SessionConfig | None = None,
        clock=None,
    ) -> None:
        from sim.world import World

        self.scenario = scenario
        self.config = config or SessionConfig()
        if clock is not None and not callable(clock):
            raise SimError(
                f"clock must be a callable returning seconds (e.g. time.monotonic), got "
                f"{type(clock).__name__}."
            )
        self._clock = clock
        self._clock_failure: str | None = None
        #: the user's IK solver (``config.ik_solver``), None for the built-in one
        self._ik_solver = None
        if self.config.ik_solver is not None:
            self._ik_solver = load_ik_solver(self.config.ik_solver)
        seed = _checked_seed(seed)
        #: physics steps per observation, observations per trace row (checked before the
        #: world is built: a refused rate leaves nothing open)
        self._row_steps = _row_steps(self.config, float(scenario.scene.physics_rate_hz))
        self.world = World(build_scene_spec(scenario, seed))
        self._start(seed)

    # ---- episodes ---------------------------------------------------------------------------
    def _start(self, seed: int) -> None:
        """Everything an episode starts from (called by the constructor and by reset)."""
        scenario, world, config = self.scenario, self.world, self.config
        self.seed = seed
        self.arms = world.arms
        self._arm_names = list(world.arms)
        self.driven = [a.name for a in scenario.scene.arms if a.driven]
        camera = scenario.scene.camera
        self.camera_arm = camera.arm
        self._X_WC_fixed = None
        if camera.pose is not None:
            self._X_WC_fixed = pose(rpy_to_matrix(*camera.pose.rpy_rad), camera.pose.position_m)
        if self._X_WC_fixed is not None:
            fov, aspect, near, far = camera.fov_deg, 4.0 / 3.0, camera.near_m, camera.far_m
        else:
            c = self.arms[self.camera_arm].camera
            fov, aspect, near, far = c.fov_deg, c.aspect, c.near_m, c.far_m
        tan_y = math.tan(math.radians(fov) / 2.0)
        #: the endoscope's view for "in view": half-angle tangents (x, y) and depth range (m)
        self._view = (aspect * tan_y, tan_y, near, far)
        X_WC = self.camera_pose_W()
        #: ``config`` as the session runs it: the teleoperations at the master's rate
        #: (``master_rate_hz``, else the physics rate: a headless session's filters run at
        #: 500 Hz, not the 1 kHz of ``TeleopConfig``'s default), what a recording keeps
        self.effective_config = _effective_config(config, world.rate_hz)
        self.teleops: dict[str, Teleoperation] = {}
        for name in self.driven:
            arm = self.arms[name]
            effective = self.effective_config
            # the scope's own teleoperation maps in the view it had when it started
            self.teleops[name] = Teleoperation(
                effective.teleop if arm.has_jaw else effective.scope_teleop,
                arm.measured_cp("rcm"),
                arm.X_RW @ X_WC,
            )
        self._teleop_out: dict[str, object] = {}
        #: per teleoperated arm, the camera pose (``X_WC`` bytes) its pipeline was last given
        self._camera_given: dict[str, bytes] = {}
        self._last_target: dict[str, bytes] = {}
        self._source: dict[str, str] = {name: "IDLE" for name in self._arm_names}
        self._unreachable: set[str] = set()
        #: (arm, what) a command part the arm cannot take, or its IK solver raising, was
        #: said for (once: a device mapped to an arm no master drives sends it 1000 times
        #: a second)
        self._said_cannot_take: set[tuple[str, str]] = set()
        self._used_seq: dict[str, int] = {name: -1 for name in self._arm_names}
        self.runner = ExerciseRunner(scenario.exercise)
        rate = world.rate_hz
        self._observe_every, self._record_every = self._row_steps
        self.observe_rate_hz = rate / self._observe_every
        self.record_rate_hz = self.observe_rate_hz / self._record_every
        self._observations = 0
        recorded = {a.name: a.kind for a in scenario.scene.arms if a.traced}
        capacity = int(min(scenario.exercise.time_limit_s, 600) * self.record_rate_hz) + 1
        self.recorder = TraceRecorder(recorded, self.record_rate_hz, capacity)
        #: what was seen since the last trace row: per instrument the largest tip force (N)
        #: and the contact kinds touched
        self._seen_force = {name: 0.0 for name in recorded}
        self._seen_contacts: dict[str, set[str]] = {name: set() for name in recorded}
        thresholds = scenario.scoring.thresholds
        self._live = MetricAccumulator(
            recorded,
            self.record_rate_hz,
            force_threshold_n=thresholds.excessive_force_n,
            idle_speed_m_s=thresholds.idle_speed_m_s,
            movement_speed_m_s=thresholds.movement_speed_m_s,
            graspable=bool(world.object_names()),
        )
        self._metrics_every = max(1, round(self.record_rate_hz / config.metrics_rate_hz))
        poses = config.pose_rate_hz
        self._pose_every = 1 if poses is None else max(1, round(rate / poses))
        self._description = None  # the scene description, made when first asked for
        self._pose_reader = None
        self._metrics: dict[str, float] = {}
        self._score_estimate: float | None = None
        #: what the last refresh saw (completion time or None, any rows, the score counts),
        #: until its values are computed: when first read (nobody reads them headless)
        self._metrics_due: tuple | None = None
        self._live_events: list[TraceEvent] = []  # counted at the next refresh
        self._holders: dict[str, set[str]] = {}
        #: objects just grasped, not yet clear of the scenery they rested on: lifting a
        #: ring off its wire is no collision; touching it again once it was clear is
        self._lifting: set[str] = set()
        self._pending_events: list[TraceEvent] = []  # world events for the engine's next tick
        self._step_events: list[TraceEvent] = []  # the events of the current step
        self._commanded_events: list[TraceEvent] = []  # from ``command``: the next step's
        self._last_master: dict[str, np.ndarray] = {}
        #: per arm, the simulated time its raw handle position last came from a sample
        self._last_master_time_s: dict[str, float] = {}
        #: per arm, the raw handle positions since the last trace row: (x, y, z) summed (m,
        #: M) and how many
        self._master_sum: dict[str, list] = {}
        self._forces: dict[str, np.ndarray] = {name: np.zeros(3) for name in self._arm_names}
        #: the same with instrument clashes: what the masters feel (ArmState.feedback_force_n)
        self._feedback_forces = self._forces
        self._in_view: dict[str, bool] = {name: True for name in self._arm_names}
        self._contacts: tuple = ()
        self._observed_time_s = world.time_s
        self.view = SessionView(self)
        self._emit(self.runner.start(self.view))
        self._observe()
        self._node_poses = self.node_poses()
        self._poses_time_s = world.time_s
        self._poses_step = world.step_count

    def reset(self, seed: int | None = None) -> StepState:
        """Start a new episode in the same physics client (``seed`` None: the same seed).

        The pybullet scene is rebuilt in place (pybullet 3.2.7 cannot restore its own
        state bit for bit: ``restoreState`` refuses scenes with maximal-coordinate bodies,
        and resetting poses by hand keeps contact caches that change the last bits), so
        a reset run equals a fresh ``Session`` with that seed exactly; the scenario, the
        compiled kernels and the configuration are kept.
        """
        seed = self.seed if seed is None else _checked_seed(seed)
        self.world.reset(seed)
        self._start(seed)
        return self.state()

    # ---- clock and state ---------------------------------------------------------------------
    @property
    def time_s(self) -> float:
        """Simulated time (s)."""
        return self.world.time_s

    def now_s(self) -> float:
        """The session clock (s): simulated time headless, the live clock otherwise.

        A clock that raises or answers no number reads NaN, which teleoperation's
        watchdog holds on, as it does a NaN clock: a faulty clock never raises out of
        ``step()`` (a ``clock_failed`` event says what it did, once until it recovers)."""
        if self._clock is None:
            return self.world.time_s
        try:
            now = float(self._clock())
        except Exception as exc:  # the caller's clock: anything may come out of it
            failure = f"the session clock failed: {type(exc).__name__}: {exc}"[:300]
            if failure != self._clock_failure:
                self._clock_failure = failure
                self._event("clock_failed", reason=failure)
            return math.nan
        self._clock_failure = None
        return now

    @property
    def finished(self) -> bool:
        """The exercise was completed or failed."""
        return self.runner.finished

    def camera_pose_W(self) -> np.ndarray:
        """``X_WC``: the endoscope's view frame (ECM tip, or the fixed camera), measured at
        the end of the last step."""
        if self._X_WC_fixed is not None:
            return self._X_WC_fixed
        return self.arms[self.camera_arm].measured_cp("world")

    def tip_target_W(self, arm: str) -> np.ndarray:
        """Where the arm's tool tip is asked to be now (4x4, world): the teleoperation's
        target while a master drives it, else where its joint goal puts the tip."""
        teleop = self.teleops.get(arm)
        if teleop is not None and self._source[arm] != "SERVO":
            return self.arms[arm].X_WR @ teleop.X_RT
        return self.arms[arm].goal_cp("world")

    def holders(self, obj: str) -> set[str]:
        """Arms holding ``obj`` now."""
        return set(self._holders.get(obj, ()))

    # ---- the step ---------------------------------------------------------------------------
    def step(self, commands=None) -> StepState:
        """Advance one physics step (see the module docstring); never raises on bad input.

        Args:
            commands: a mapping arm name -> :class:`~sim.session.commands.ArmCommand`, a
                :class:`~haptics.master.MasterSample` or a list of samples; arms without
                a command hold (a teleoperated arm's watchdog keeps time).
        """
        self.advance(commands)
        return self.state()

    def advance(self, commands=None, steps: int = 1) -> None:
        """Advance ``steps`` physics steps with the same commands, without building a
        :class:`StepState` (in-process drivers that read the session directly, and agents
        that repeat an action, skip that cost; ``state()`` gives it when wanted, with the
        events of all ``steps``). Master samples in ``commands`` are used on the first
        step only."""
        given = self._advance(commands)
        if steps <= 1:
            return
        held = _held_part(given)  # checked once: a refused command is refused once
        events = list(self._step_events)
        for _ in range(steps - 1):
            self._advance(held)
            events.extend(self._step_events)
        # ``state()`` after ``advance(..., k)`` holds the events of all k steps: a command
        # refused on the first was otherwise never seen by an agent repeating it
        self._step_events = events

    def command(self, commands) -> None:
        """Apply commands now, between physics steps, without stepping.

        A live server feeds each device sample through teleoperation as it arrives
        (filter, state machine, watchdog and limits, judged on the session clock at that
        moment) instead of holding it up to a physics period for the next tick; the next
        ``step`` solves IK for the latest target and moves the world. Arms not named keep
        what they have. Events raised here belong to the next step's events.
        Never raises, like ``step``.
        """
        with self._for_next_step():
            given, refused = normalise(commands, self._arm_names, bare_samples=True)
            for refusal in refused:
                self._event("command_refused", arm=refusal.arm, reason=refusal.reason)
            if given:
                now, X_WC = self.now_s(), self.camera_pose_W()
                for name, command in given.items():
                    self._drive(name, command, now, X_WC, solve=False)

    def refuse(self, arm: str, reason: str) -> None:
        """Record that a driver refused an input meant for ``arm`` (which then holds): a
        ``command_refused`` event among the next step's events. For drivers that turn
        their own inputs into commands (an environment's action with a NaN in it) and
        must say why an arm did not move, as the session does for its own refusals."""
        with self._for_next_step():
            self._event("command_refused", arm=arm, reason=reason)

    def note_device(self, kind: str, device: str, arm: str, **data) -> None:
        """Record what a driver saw of a device (``device_lost``: silent past the
        teleoperation gap timeout, its arm holding; ``device_back``: heard again) among
        the next step's events, so that a report's hold reads as a lost device, not a
        plain hold."""
        if kind not in DEVICE_EVENTS:
            raise ValueError(f"device event kind {kind!r}: expected one of {DEVICE_EVENTS}")
        with self._for_next_step():
            self._event(kind, device=device, arm=arm, **data)

    @contextlib.contextmanager
    def _for_next_step(self):
        """Events raised between physics steps (``command``, ``refuse``) belong to the next
        step's events, not to the last step's, which a caller may already have read."""
        step_events, self._step_events = self._step_events, self._commanded_events
        try:
            yield
        finally:
            self._commanded_events, self._step_events = self._step_events, step_events

    def _advance(self, commands) -> dict:
        """One physics step; returns the commands as normalised (what was used)."""
        world = self.world
        self._step_events, self._commanded_events = self._commanded_events, []
        now = self.now_s()
        given, refused = normalise(commands, self._arm_names, bare_samples=True)
        for refusal in refused:
            self._event("command_refused", arm=refusal.arm, reason=refusal.reason)
        X_WC = self.camera_pose_W()
        for name in self._arm_names:
            self._drive(name, given.get(name), now, X_WC)
        world.step()
        for event in world.pop_events():
            self._on_world_event(event)
        if world.step_count % self._observe_every == 0:
            self._observe()
        return given

    def _drive(
        self,
        name: str,
        command: ArmCommand | MasterSample | None,
        now: float,
        X_WC,
        solve: bool = True,
    ) -> None:
        """Apply one arm's command (a bare master sample stands for an :class:`ArmCommand`
        with that one sample); ``solve=False`` (between steps) runs teleoperation but
        leaves IK to the next step (the world does not move before it: a joint goal
        solved now would be replaced unused)."""
        arm = self.arms[name]
        teleop = self.teleops.get(name)
        if isinstance(command, MasterSample):
            if teleop is not None:
                self._teleoperate(name, arm, teleop, (command,), now, X_WC, solve)
            else:
                self._no_master(name)
            return
        if command is not None:
            if command.master and teleop is None:
                self._no_master(name)
            if command.jaw_rad is not None and not arm.has_jaw:
                self._cannot_take(name, f"{name} has no jaw: jaw_rad is ignored")
        if command is not None and command.direct:
            self._source[name] = "SERVO"
            if command.servo_jp is not None:
                self._servo_jp(arm, command.servo_jp)
            else:
                X_RT = command.servo_cp if command.frame == "rcm" else arm.X_RW @ command.servo_cp
                self._servo_cp(arm, X_RT)
            if teleop is not None:
                teleop.release_to(arm.goal_cp("rcm"))  # a master takes over from here
            if command.jaw_rad is not None and arm.has_jaw:
                arm.servo_jaw(command.jaw_rad)
            return
        if teleop is not None and (command is not None or self._source[name] != "SERVO"):
            # a servo-driven arm holds its goal until the next command of either kind
            samples = command.master if command is not None else ()
            self._teleoperate(name, arm, teleop, samples, now, X_WC, solve)
        if command is not None and command.jaw_rad is not None and arm.has_jaw:
            arm.servo_jaw(command.jaw_rad)

    def _no_master(self, name: str) -> None:
        self._cannot_take(
            name,
            f"no master drives {name} in this scenario: master samples are ignored "
            "(it takes servo_cp or servo_jp goals)",
        )

    def _add_master_positions(self, name: str, samples) -> None:
        """Add the raw handle positions of ``samples`` (before filtering: the tremor metric
        needs them) to those the next trace row averages (see :meth:`_record_row`)."""
        total = self._master_sum.get(name)
        for sample in samples:
            p = _handle_position(sample)
            if p is not None:
                if total is None:
                    total = self._master_sum[name] = [0.0, 0.0, 0.0, 0]
                total[0] += p[0]
                total[1] += p[1]
                total[2] += p[2]
                total[3] += 1

    def _cannot_take(self, name: str, reason: str) -> None:
        """A command part this arm cannot take: said (once per arm and kind of part, in
        an episode), not silently dropped."""
        if (name, reason) not in self._said_cannot_take:
            self._said_cannot_take.add((name, reason))
            self._event("command_refused", arm=name, reason=reason)

    def _teleoperate(self, name, arm, teleop, samples, now, X_WC, solve: bool = True) -> None:
        X_RC = camera = None
        if name != self.camera_arm:
            # the camera moves rarely: the pipeline is given it only when it changed since
            # it was last given (None keeps the one it has; nothing else sets it)
            camera = X_WC.tobytes()
            if camera != self._camera_given.get(name):
                X_RC = arm.X_RW @ X_WC
        try:
            out = teleop.step(samples, now, X_RC)  # every new sample, in order
        except Exception as exc:  # a device must never end a session
            log.exception("teleoperation of %s failed; the arm holds", name)
            self._event("command_refused", arm=name, reason=f"teleoperation error: {exc}")
            self._camera_given.pop(name, None)
            return
        self._teleop_out[name] = out
        if X_RC is not None:
            self._camera_given[name] = camera
        if out.events:
            for event in out.events:
                # the pipeline stamps on the session clock; the trace counts simulated
                # time (a live clock reads seconds since boot: 45264 s into a 3 s run)
                at = event.time_s
                if self._clock is not None:
                    at = min(self.world.time_s, self.world.time_s + (at - now))
                self._event(event.kind, at, arm=name, detail=event.detail)
                if event.kind == "internal_error":
                    self._camera_given.pop(name, None)  # give it again next time
        if out.samples_used:
            # the seq is the last sample used, also when it came between steps (``command``)
            self._add_master_positions(name, samples)
            self._used_seq[name] = out.used_seq
        self._source[name] = "teleop"
        if not solve:
            return
        target = out.X_RT.tobytes()  # comparing bytes is several times cheaper than arrays
        if target != self._last_target.get(name):
            self._last_target[name] = target
            if arm.has_jaw:
                taken = self._servo_cp(arm, out.X_RT, tracked=True)
            else:  # a scope: position the tip, the shaft stays through the port
                taken = self._servo_scope(arm, out.X_RT[:3, 3])
            if not taken:
                # the arm holds its last goal (unreachable, the jump guard, a solver
                # that failed): a slow device's spread step stops here, not carrying on
                teleop.stop_ramp()
        if arm.has_jaw:
            arm.servo_jaw(out.jaw_rad)

    def _servo_cp(self, arm, X_RT, tracked: bool = False) -> bool:
        """A pose goal in R; ``tracked``: a teleoperated hand's, which never swings the
        arm to a far configuration (``MAX_JUMP_S``); a direct goal may (the arm ramps
        there at its speed limits, as the caller asked). False when the arm holds
        instead."""
        if self._ik_solver is not None:
            q = self._solve_with_plugin(arm, X_RT, None)
            if q is not None:
                arm.set_goal_js(q)
            return q is not None
        try:
            q, error_m = arm.solve_cp(X_RT, MAX_JUMP_S if tracked else None)
        except KinematicsError as exc:
            self._event("command_refused", arm=arm.name, reason=str(exc))
            return False
        if self._reachable(arm.name, error_m, jump_s=arm.refused_jump_s):
            arm.set_goal_js(q)
            return True
        return False

    def _servo_scope(self, arm, p_RT) -> bool:
        """A tip position goal in R for a scope; False when the arm holds instead."""
        if self._ik_solver is not None:
            q = self._solve_with_plugin(arm, p_RT, np.zeros(3))
            if q is not None:
                arm.servo_jp(q)
            return q is not None
        # as an instrument's tracked goals are (``Arm.solve_cp``): tracked closely first
        # (the solver's 10 µm tolerance alone moved the camera in jumps), then a full
        # solve, whose answer in a far configuration is refused
        q0, rcm = arm.goal_js(), np.zeros(3)
        tight = {"pos_tol": TRACK_POS_TOL_M, "max_iters": TRACK_MAX_ITERS}
        result = solve_ik(arm.chain, p_RT, q0, rcm=rcm, restarts=0, **tight)
        jump_s = None
        if result.pos_error > IK_POS_TOL_M:
            full = solve_ik(arm.chain, p_RT, q0, rcm=rcm, restarts=self.config.ik_restarts)
            motion_s = float(np.max(np.abs(full.q - q0) / arm.velocity_limits))
            if motion_s <= MAX_JUMP_S:  # a scope's goals here are always a hand's
                result = full
            else:
                jump_s = motion_s
        if self._reachable(arm.name, result.pos_error, result.q, jump_s=jump_s):
            arm.servo_jp(result.q)
            return True
        return False

    def _solve_with_plugin(self, arm, target, rcm) -> np.ndarray | None:
        """The joints the user's solver gives for ``target`` (a tip pose in R, or with
        ``rcm`` a tip position), or None when the arm must hold: the solver raised,
        returned something unusable or no success, or its answer misses the goal (the
        error is measured here by FK, not taken from the solver)."""
        spec = self.config.ik_solver
        try:
            result = self._ik_solver(
                arm.chain,
                target,
                arm.goal_js(),
                pos_tol=IK_POS_TOL_M,
                rot_tol=IK_ROT_TOL_RAD,
                max_iters=DEFAULT_MAX_ITERS,
                restarts=self.config.ik_restarts,
                seed=0,
                rcm=rcm,
            )
        except Exception as exc:  # a user's solver must never end a session
            # the event says why; the log says it once per arm and episode (a solver that
            # raised every 50th call wrote 143 lines), the traceback only when debugging
            debugging = log.isEnabledFor(logging.DEBUG)
            if (arm.name, "raised") not in self._said_cannot_take:
                self._said_cannot_take.add((arm.name, "raised"))
                log.warning("IK solver %s raised; %s holds", spec, arm.name, exc_info=debugging)
            self._hold(arm.name, f"IK solver {spec} raised {type(exc).__name__}: {exc}")
            return None
        q, problem = checked_joints(result, arm.chain)
        if q is None:
            self._hold(arm.name, f"IK solver {spec} {problem}")
            return None
        p_goal = target[:3, 3] if rcm is None else target
        error_m = float(np.linalg.norm(arm.chain.fk(q)[:3, 3] - p_goal))
        return q if self._reachable(arm.name, error_m) else None

    def _reachable(self, name: str, error_m: float, q=None, jump_s: float | None = None) -> bool:
        """Judge an IK answer: an unreachable goal holds the arm (one event each time the
        goals become unreachable). ``jump_s``: the goal is reachable only in another
        configuration that far away (s of joint motion, ``Arm.solve_cp``)."""
        tolerance = self.config.unreachable_tolerance_m
        if error_m <= tolerance:
            self._unreachable.discard(name)
            return True
        reason = f"goal missed by {1000 * error_m:.3f} mm (> {1000 * tolerance:g} mm)"
        if jump_s is not None:
            reason += (
                f"; it is reachable only with the arm in another configuration, {jump_s:.1f} s"
                " of joint motion away (a wrist turned past its limit): the arm does not "
                "swing there; clutch and turn back"
            )
        self._hold(name, reason)
        return False

    def _hold(self, name: str, reason: str) -> None:
        """The arm's goal cannot be reached: it holds, and an ``unreachable`` event says
        why (once each time its goals become unreachable, not at every step)."""
        if name not in self._unreachable:
            self._unreachable.add(name)
            self._event("unreachable", arm=name, reason=reason)

    def _servo_jp(self, arm, q) -> None:
        chain = arm.chain
        if q.shape != (chain.dof,):
            self._event(
                "command_refused",
                arm=arm.name,
                reason=f"servo_jp needs {chain.dof} values for joints "
                f"{chain.joint_names}, got {q.shape[0]}",
            )
            return
        # a goal just past a limit (rounding, a mapped range) is clipped onto it; one far
        # past it is no goal this arm can have (servo_jp = [1e200] * 6 drove an arm to
        # its limits): refused, the arm holds
        margin = JP_LIMIT_MARGIN * (chain.upper - chain.lower)
        far = np.flatnonzero((q < chain.lower - margin) | (q > chain.upper + margin))
        if far.size:
            k = int(far[0])
            self._event(
                "command_refused",
                arm=arm.name,
                reason=f"servo_jp: joint {chain.joint_names[k]!r} goal {q[k]:.6g} is beyond "
                f"its range [{chain.lower[k]:.6g}, {chain.upper[k]:.6g}]; the arm holds",
            )
            return
        arm.servo_jp(q)

    # ---- observation ------------------------------------------------------------------------
    def _observe(self) -> None:
        """Contacts and tip forces (every observation: force feedback needs them); at each
        trace row also what is in view, the row itself, the exercise engine and, at the
        metrics rate, the live metrics."""
        world, rec = self.world, self.recorder
        contacts = world.contacts()
        # tissue and object handling force (recorded, judged); instrument clashes are
        # recorded as contacts, and fed back to the masters on top of it
        self._forces = {**self._forces, **world.tip_forces(contacts, clashes=False)}
        self._feedback_forces = self._forces
        if any(c.kind == INSTRUMENT_INSTRUMENT for c in contacts):
            self._feedback_forces = {**self._forces, **world.tip_forces(contacts)}
        self._contacts = tuple(contacts)
        self._observed_time_s = world.time_s
        self._note_contacts(contacts)
        self._observations += 1
        if self._observations % self._record_every != 1 % self._record_every:
            return
        tips = np.array([self.arms[n].measured_tip_W() for n in self._arm_names])
        visible = points_in_view(self.camera_pose_W(), *self._view, tips)
        self._in_view = {
            n: True if n == self.camera_arm else bool(v)
            for n, v in zip(self._arm_names, visible, strict=True)
        }
        self._record_row()
        self._emit(self.runner.tick(self.view))
        if self.runner.finished or rec.n % self._metrics_every == 0:
            self._refresh_metrics()

    def _note_contacts(self, contacts) -> None:
        """Remember the largest force and every contact kind until the next trace row."""
        seen = self._seen_contacts
        for name in seen:
            f = self._forces[name]
            force = math.sqrt(f.dot(f))  # np.linalg.norm's own arithmetic, without its checks
            if force > self._seen_force[name]:
                self._seen_force[name] = force
        for contact in contacts:
            key = _CONTACT_KEYS.get(contact.kind)
            if key and contact.instrument in seen:
                seen[contact.instrument].add(key)
                if contact.kind == "instrument-instrument" and contact.other in seen:
                    seen[contact.other].add(key)
        for obj, arms in self._holders.items():
            if not arms:
                continue
            if obj in self._lifting:
                if self.world.clear_of_environment(obj, LIFT_CLEARANCE_M):
                    self._lifting.discard(obj)
                continue
            if self.world.touches_environment(obj):
                for name in arms & seen.keys():
                    seen[name].add("contact_held_environment")

    def _record_row(self) -> None:
        rec = self.recorder
        i = rec.row(self.world.time_s)
        for name in rec.kinds:
            arm = self.arms[name]
            row = rec.data[name]  # the recorder's columns, written directly (per row)
            row["tip_position_m"][i] = arm.measured_tip_W()
            row["jaw_rad"][i] = arm.measured_jaw()
            row["tip_force_n"][i] = self._seen_force[name]
            row["in_view"][i] = self._in_view[name]
            if name in self.teleops:
                row["clutch"][i] = not self.teleops[name].engaged
                # the mean of the handle positions since the previous row (a boxcar over
                # the row), not the last one: point-sampled at the row rate, a device's
                # 90-110 Hz vibration aliased onto 6-16 Hz and read as tremor
                total = self._master_sum.pop(name, None)
                if total is not None:
                    self._last_master[name] = np.array(total[:3]) / total[3]
                    self._last_master_time_s[name] = self.world.time_s
                # a device silent for longer than its pipeline waits before holding gives
                # no handle position (NaN), not its last one frozen: a frozen hand would
                # read as a still hand without tremor
                silent_s = self.world.time_s - self._last_master_time_s.get(name, -math.inf)
                if silent_s <= self.teleops[name].config.gap_timeout_s:
                    row["master_position_m"][i] = self._last_master[name]
            for key in self._seen_contacts[name]:
                row[key][i] = True
            self._seen_force[name] = 0.0
            self._seen_contacts[name] = set()

    def _refresh_metrics(self) -> None:
        """Feed the events and trace rows since the last refresh to the live metrics.

        Their values and the score estimate are computed when first read
        (:meth:`_current_metrics`), as they stood at this refresh: the accumulator changes
        only here, so computing them later gives the same numbers."""
        rec, live, runner = self.recorder, self._live, self.runner
        for event in self._live_events:
            live.add_event(event.kind, event.data, event.time_s)
        self._live_events.clear()
        a, b = live.rows, rec.n
        if runner.completed:  # the score counts up to completion, as compute_metrics does
            b = int(np.searchsorted(rec.time_s[:b], runner.completion_time_s, side="right"))
        if b > a:
            live.update(
                rec.time_s[a:b],
                {name: {k: v[a:b] for k, v in arrays.items()} for name, arrays in rec.data.items()},
            )
        self._metrics_due = (
            runner.completion_time_s if runner.completed else None,
            rec.n > 0,
            runner.completed or not runner.failed,
        )

    def _current_metrics(self) -> dict[str, float]:
        """The live metrics of the last refresh (computing them and the score estimate if
        not done yet)."""
        due = self._metrics_due
        if due is not None:
            self._metrics_due = None
            completion_time_s, any_rows, counts = due
            self._metrics = self._live.values(completion_time_s)
            if not all(math.isfinite(v) for v in self._metrics.values()):
                # a NaN tip position or force (a physics blow-up): the session cannot be
                # scored on those metrics (scoring it says so); a live read must not raise
                self._score_estimate = None
            elif any_rows:
                estimate = score_session(self._metrics, True, self.scenario.scoring)
                self._score_estimate = estimate.score if counts else 0.0
        return self._metrics

    # ---- events -----------------------------------------------------------------------------
    def _event(self, kind: str, time_s: float | None = None, **data) -> None:
        event = TraceEvent(self.world.time_s if time_s is None else float(time_s), kind, data)
        self.recorder.events.append(event)
        self._step_events.append(event)
        self._count_live(event)

    def _count_live(self, event: TraceEvent) -> None:
        """Keep ``event`` for the live metrics' next refresh when they count its kind
        (clutch presses, drops, needle marks, timers), whatever made it."""
        if event.kind in COUNTED_EVENTS:
            self._live_events.append(event)

    def _on_world_event(self, event) -> None:
        holders = self._holders.setdefault(event.object, set())
        if event.kind == "grasp":
            if not holders:
                self._lifting.add(event.object)
            holders.add(event.arm)
        elif event.kind == "release":
            holders.discard(event.arm)
        elif event.kind == "drop":
            holders.clear()
        data = {"object": event.object, "arm": event.arm, **event.data}
        if event.reason:
            data["reason"] = event.reason
        happened = TraceEvent(float(event.time_s), event.kind, data)
        self.recorder.events.append(happened)  # for the trace
        self._step_events.append(happened)
        self._pending_events.append(happened)  # for the exercise engine's next tick
        self._count_live(happened)

    def _emit(self, outcome) -> None:
        for event in outcome.events:
            self.recorder.events.append(event)
            self._step_events.append(event)
            self._count_live(event)
        for action in outcome.actions:
            self._carry_out(action)

    def _carry_out(self, action) -> None:
        """Spawn, move or remove an object in the world (scenario actions)."""
        world = self.world
        if action.move is not None:
            X = pose(rpy_to_matrix(*action.move.pose.rpy_rad), action.move.pose.position_m)
            world.move_body(action.move.object, X)
            self._event("moved", object=action.move.object)
        elif action.remove is not None:
            world.remove_body(action.remove)
            self._event("removed", object=action.remove)
            self._scene_changed()
        elif action.spawn is not None:
            spawn = action.spawn
            world.spawn(
                {
                    "type": spawn.type,
                    "name": spawn.id,
                    "position_m": list(spawn.pose.position_m),
                    "rpy_rad": list(spawn.pose.rpy_rad),
                    **spawn.params,
                }
            )
            self._event("spawned", object=spawn.id)
            self._scene_changed()

    def _scene_changed(self) -> None:
        """A body came or went: viewers need a new scene description."""
        self._description = self._pose_reader = None
        self._event("scene_changed")

    # ---- what callers read ------------------------------------------------------------------
    def state(self) -> StepState:
        """The session now, as plain data (see :class:`~sim.session.state.StepState`).

        Node poses are read here when the last reading is a pose period old (steps taken
        with :meth:`advance` alone never pay for them)."""
        world = self.world
        if world.step_count - self._poses_step >= self._pose_every:
            self._node_poses = self.node_poses()
            self._poses_time_s = world.time_s
            self._poses_step = world.step_count
        arms = {name: self._arm_state(name) for name in self._arm_names}
        runner = self.runner
        metrics = dict(self._current_metrics())
        step = runner.current_step
        exercise = ExerciseState(
            runner.step_index,
            len(self.scenario.exercise.steps),
            step.id if step is not None else "",
            step.instruction if step is not None else "",
            runner.completed,
            runner.failed,
            runner.completion_time_s,
        )
        return StepState(
            self.world.time_s,
            self.world.step_count,
            self.now_s(),
            arms,
            tuple(self._step_events),
            self._contacts,
            self.scene_description().node_names,
            self._node_poses,
            self._poses_time_s,
            self._observed_time_s,
            exercise,
            metrics,
            self._score_estimate,
            runner.finished,
        )

    def _arm_state(self, name: str) -> ArmState:
        arm = self.arms[name]
        X_RT = arm.measured_cp("rcm")
        source = self._source[name]
        following = aligned = False
        out = self._teleop_out.get(name)
        if source == "teleop":
            if out is None:
                source = "IDLE"
            else:
                source, following = out.state, out.engaged
                gate = self.teleops[name].config.align_gate_rad
                error = out.align_error_rad
                aligned = following or (math.isfinite(error) and error <= gate)
        holding = tuple(sorted(o for o, arms in self._holders.items() if name in arms))
        return ArmState(
            name,
            arm.model.name,
            arm.chain.joint_names,
            arm.measured_js()[0],
            arm.X_WR @ X_RT,
            X_RT,
            arm.measured_jaw(),
            self._forces[name].copy(),
            self._in_view[name],
            source,
            following,
            aligned,
            holding,
            self._used_seq[name],
            arm.jaw_release_rad(),
            self._feedback_forces[name].copy(),
        )

    def scene_description(self) -> SceneDescription:
        """Everything a renderer in another process (or a Python without pybullet) needs to
        draw this scene from node poses: per body and arm link its meshes, names and
        materials, and the endoscope's camera model (see :mod:`scenarios.visual`). The
        same for every episode of the session, until a scenario action spawns or
        removes a body (a ``scene_changed`` event says so)."""
        if self._description is None:
            from sim.world.visuals import camera_model, describe_scene

            mount = self.scenario.scene.camera
            if mount.arm is not None:
                camera = camera_model(self.world, mount.arm)
            else:
                camera = CameraModel(
                    math.radians(mount.fov_deg),
                    4.0 / 3.0,
                    mount.near_m,
                    mount.far_m,
                    X_WC=self._X_WC_fixed,
                )
            self._description = describe_scene(self.world, camera, self.scenario.name)
        return self._description

    def body_poses(self) -> dict[str, np.ndarray]:
        """Every body's pose now (4x4, world) by name: objects and scenery, not the arms."""
        world = self.world
        return {
            info.name: world.body_pose(info.name)
            for info in world.bodies.values()
            if info.role != "instrument"
        }

    def node_poses(self) -> np.ndarray:
        """``X_WN`` (N, 4, 4, world) of the scene description's nodes now, in its order."""
        if self._pose_reader is None:
            from sim.world.visuals import PoseReader

            self._pose_reader = PoseReader(self.world, self.scene_description())
        return self._pose_reader()

    def trace(self) -> SessionTrace:
        """Everything recorded so far, as a trace for scoring and reports."""
        return self.recorder.finish(
            self.runner.completed, self.runner.completion_time_s, self.world.object_names()
        )

    def trace_snapshot(self) -> SessionTrace:
        """The trace so far without copying its rows (for a checkpoint written in another
        thread); use :meth:`trace` for anything kept."""
        return self.recorder.finish(
            self.runner.completed,
            self.runner.completion_time_s,
            self.world.object_names(),
            copy=False,
        )

    def last_teleop(self, arm: str):
        """The arm's teleoperation output of the last step (:class:`haptics.teleop.TeleopOutput`),
        or None before its first step (force feedback reads its state and camera)."""
        return self._teleop_out.get(arm)

    def live_metrics(self) -> dict[str, float]:
        """The live metrics now, fed with every trace row written so far."""
        self._refresh_metrics()
        return dict(self._current_metrics())

    def close(self) -> None:
        """Release the physics client."""
        self.world.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
