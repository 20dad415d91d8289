"""Control of one simulated arm: joint and Cartesian servo commands, the jaw, measurements.

Commands follow CRTK names. A command sets a *goal*; every physics step the arm moves
its *setpoint* towards the goal no faster than each joint's velocity limit (the jaw at
``jaw_rate_rad_s``) and hands the setpoint to pybullet's position motors, whose force is
capped by the joint's effort limit. So a far goal gives a smooth, limited motion, and a
stream of goals at 1 kHz (teleoperation) is tracked closely.

Cartesian commands (``servo_cp``) go through ``kinematics`` IK warm-started from the
current joint goal. Measurements (``measured_cp``) use double-precision FK of the measured
joints, not pybullet's single-precision link states.

Frames: ``W`` world, ``R`` the arm's remote centre of motion (its base link ``rcm``),
``T`` the tool tip (``tool_tip``; the scope tip for the ECM). Units: m, rad, s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import itemgetter

import numpy as np

from kinematics import IKResult, solve_ik
from kinematics import _ik_kernels as IK
from kinematics import _kernels as K
from kinematics.errors import KinematicsError
from kinematics.ik import DEFAULT_MAX_ITERS
from kinematics.transforms import inverse
from scenarios.schema import ENDOSCOPE_FOV_DEG
from sim.errors import SimError
from sim.world import _kernels as W
from sim.world.frustum import Frustum
from sim.world.robots import LoadedRobot, RobotModel
from sim.world.scene import PSM_JAW_RATE_RAD_S

#: IK tolerances for tracked goals: the solver's defaults (10 µm, 0.1 mrad).
IK_POS_TOL_M = 1e-5
IK_ROT_TOL_RAD = 1e-4
_NO_PORT = np.zeros(3)  # the pose mode has no port point
#: Tolerances and steps of the first, warm-started solve of a tracked goal (a stream of
#: goals that each move a little): tracked to 10 nm and 0.1 µrad, far below what the
#: motors resolve, so the joint goal follows every goal rather than every 10 µm of one.
TRACK_POS_TOL_M = 1e-8
TRACK_ROT_TOL_RAD = 1e-7
TRACK_MAX_ITERS = 3
#: A tracked goal the local solve misses may be reached by a restart in another
#: configuration; one that takes the joints longer than this at their speed limits to get
#: to (s) is refused: a hand turned past the roll limit swung the tool 258° back at up to
#: 560°/s once its goal came into reach the other way round. At the PSM's limits 0.25 s
#: is 0.75 rad of roll or wrist, 0.375 rad of yaw or pitch, 5 cm of insertion; a
#: teleoperated goal moves far less between samples.
MAX_JUMP_S = 0.25
#: Position-motor gains handed to pybullet (dimensionless, per step): stiff tracking.
POSITION_GAIN = 0.5
VELOCITY_GAIN = 1.0
#: Time without motor commands after which an arm counts as settled (s): its motors have
#: brought it to rest well before (the position gains track within a few steps).
SETTLE_S = 0.5
#: Motor sends between wake-up calls while an arm keeps moving (well under Bullet's 2 s
#: sleeping delay at any physics rate above 250 Hz).
WAKE_EVERY = 250
FRAMES = ("world", "rcm")
#: Jaw opening beyond the angle the jaws hold an object at that releases it (rad).
RELEASE_MARGIN_RAD = 0.05
#: a joint's position and velocity in what ``getJointStates`` returns
_POSITION, _VELOCITY = itemgetter(0), itemgetter(1)


@dataclass(frozen=True)
class CameraSettings:
    """The view of an arm's scope (ECM): full vertical field of view, aspect, clip range."""

    fov_deg: float = ENDOSCOPE_FOV_DEG
    aspect: float = 4.0 / 3.0
    near_m: float = 0.005
    far_m: float = 0.3


class Arm:
    """One arm in a :class:`~sim.world.world.World`, mounted with its RCM at ``X_WR``.

    Create arms through the world (``World.add_arm`` or a scene description).

    Attributes:
        name: the arm's name (``"PSM1"``).
        model: its :class:`~sim.world.robots.RobotModel`.
        chain: the kinematics chain (RCM frame to tool tip) used for IK and FK.
        body: the pybullet body id.
        X_WR: RCM (port) pose in the world, 4x4.
        velocity_limits, effort_limits: per chain joint (rad/s or m/s; N m or N).
        jaw_rate_rad_s: the jaw's opening/closing speed limit.
        ik_restarts: random restarts allowed when the warm IK start fails.
    """

    def __init__(
        self,
        pb,
        client: int,
        name: str,
        model: RobotModel,
        loaded: LoadedRobot,
        X_WR: np.ndarray,
        *,
        q0=None,
        jaw_rad: float = 0.0,
        jaw_rate_rad_s: float = PSM_JAW_RATE_RAD_S,
        camera: CameraSettings | None = None,
        ik_restarts: int = 2,
    ) -> None:
        self._pb, self._client = pb, client
        self.name, self.model = name, model
        self.chain = model.chain()
        self.body = loaded.body
        self.links = loaded.links
        self.X_WR = np.array(X_WR, dtype=float)
        self.X_RW = inverse(self.X_WR)
        names = self.chain.joint_names
        self._joint_index = [loaded.joints[n] for n in names]
        self._jaw_index = [loaded.joints[n] for n in model.jaw_joints]
        self._all_index = self._joint_index + self._jaw_index
        self.velocity_limits = np.array([loaded.max_velocity[n] for n in names])
        self.effort_limits = np.array([loaded.max_effort[n] for n in names])
        self._jaw_effort = [loaded.max_effort[n] for n in model.jaw_joints]
        self._finger_upper = model.jaw_limits_rad[1] / 2
        if not jaw_rate_rad_s > 0 or not math.isfinite(jaw_rate_rad_s):
            raise SimError(f"arm {name!r}: jaw_rate_rad_s must be > 0, got {jaw_rate_rad_s}.")
        self.jaw_rate_rad_s = float(jaw_rate_rad_s)
        self.camera = camera or CameraSettings()
        self.ik_restarts = ik_restarts
        q = self._default_q() if q0 is None else self._check_q(q0, "q0")
        self._goal = q.copy()
        self._setpoint = q.copy()  # changed in place only (never shared)
        self._step: np.ndarray | None = None  # setpoint change of the last step
        self._step_buffer = np.zeros(self.chain.dof)
        self._joints_moving = False
        self._jaw_goal = self._jaw_setpoint = self._clip_jaw(jaw_rad) if self.has_jaw else 0.0
        #: jaw angle (rad) at which a grasp froze the fingers; None when holding nothing
        self.jaw_hold_rad: float | None = None
        self._jaw_closing = False
        self._send_pending = True
        self._sending = False
        #: set by :meth:`solve_cp` when it refused a far configuration (s of motion)
        self.refused_jump_s: float | None = None
        self._sends_since_wake = 0
        self._quiet_steps = 0
        self._dt = 1e-3
        for index, value in zip(self._joint_index, q, strict=True):
            pb.resetJointState(self.body, index, float(value), physicsClientId=client)
        for index in self._jaw_index:
            pb.resetJointState(self.body, index, self._finger_target(), physicsClientId=client)
        self._frames, self._table = self.chain.frames, self.chain.joint_table
        self._lower, self._upper = self.chain.lower, self.chain.upper
        # what every motor send repeats, built once
        n_all = len(self._all_index)
        self._n_jaw = len(self._jaw_index)
        self._forces = [*self.effort_limits.tolist(), *self._jaw_effort]
        self._position_gains = [POSITION_GAIN] * n_all
        self._velocity_gains = [VELOCITY_GAIN] * n_all
        self._zero_velocities = [0.0] * n_all
        self._jaw_zero_velocities = [0.0] * self._n_jaw
        # compile (or load) the setpoint kernel now, not in the first timed step
        W.ramp(q, q.copy(), self.velocity_limits, 1e-3, self._step_buffer.copy())
        self.sense()
        self._send(self._dt)  # no setpoint step yet: zero feed-forward velocity

    # ---- validation ---------------------------------------------------------------
    @property
    def has_jaw(self) -> bool:
        """True for an instrument with jaws (PSM)."""
        return bool(self._jaw_index)

    def _default_q(self) -> np.ndarray:
        return np.clip(np.zeros(self.chain.dof), self.chain.lower, self.chain.upper)

    def _check_q(self, q, what: str) -> np.ndarray:
        try:
            q = self.chain.check_q(q, what)
        except KinematicsError as exc:
            raise SimError(f"arm {self.name!r}: {exc} Nothing was commanded.") from None
        return np.clip(q, self.chain.lower, self.chain.upper)

    def _clip_jaw(self, angle_rad: float) -> float:
        if not isinstance(angle_rad, (int, float, np.floating)) or not math.isfinite(angle_rad):
            raise SimError(
                f"arm {self.name!r}: jaw angle must be a finite number (rad), got {angle_rad!r}. "
                "Nothing was commanded."
            )
        lo, hi = self.model.jaw_limits_rad
        return float(min(max(angle_rad, lo), hi))

    # ---- commands -------------------------------------------------------------------
    def servo_jp(self, q) -> None:
        """Joint position goal (rad / m, chain joint order); clipped to the joint limits.

        Raises:
            SimError: wrong shape or NaN/inf; the previous goal is kept.
        """
        self._set_goal(self._check_q(q, "servo_jp goal"))

    def _set_goal(self, q: np.ndarray) -> None:
        self._goal = q
        # bytes compare: several times cheaper than array_equal at 1 kHz
        self._joints_moving = q.tobytes() != self._setpoint.tobytes()

    def servo_cp(self, X, frame: str = "world") -> IKResult:
        """Tool-tip pose goal (4x4, m) in ``frame`` (``"world"`` or ``"rcm"``).

        IK starts from the current joint goal; the solution (or, for an unreachable
        pose, the closest configuration found, always within limits) becomes the joint
        goal. Check ``result.success`` / ``result.pos_error`` to see how close it gets.

        Raises:
            SimError: unknown frame, NaN/inf or a non-rigid matrix; the robot keeps its
                previous goal and does not move because of this call.
        """
        if frame not in FRAMES:
            raise SimError(f"arm {self.name!r}: frame {frame!r} is not one of {FRAMES}.")
        X = np.asarray(X, dtype=np.float64)
        if X.shape != (4, 4) or not np.isfinite(X).all():
            raise SimError(
                f"arm {self.name!r}: servo_cp goal must be a finite 4x4 pose (m), got "
                f"{X.tolist()}. Nothing was commanded; the arm holds its goal."
            )
        X_RT = self.X_RW @ X if frame == "world" else X
        try:
            # the solver validates the target (finite, rigid) before it solves anything
            result = solve_ik(self.chain, X_RT, self._goal, restarts=self.ik_restarts)
        except KinematicsError as exc:
            raise SimError(
                f"arm {self.name!r} servo_cp goal ({frame} frame): {exc} Nothing was "
                "commanded; the arm holds its goal."
            ) from None
        self._set_goal(np.clip(result.q, self.chain.lower, self.chain.upper))
        return result

    def solve_cp(
        self, X_RT: np.ndarray, max_jump_s: float | None = None
    ) -> tuple[np.ndarray, float]:
        """IK for a stream of trusted tool-tip goals in R (teleoperation, 500-1000 Hz).

        The goal must already be a finite rigid 4x4 (the teleoperation pipeline and the
        session's command check guarantee it), so this calls the solver kernel directly,
        warm-started from the current joint goal. Nothing is commanded: the caller decides
        what to do with an answer that misses the goal.

        Returns:
            The joints (within limits) and the tool-tip position error of that answer (m).
            With ``max_jump_s`` (a tracked goal: teleoperation), an answer more than
            that far away (s of joint motion at the speed limits) is refused: the close
            answer is returned instead and :attr:`refused_jump_s` says how far the other
            was; else it is None.

        Raises:
            KinematicsError: the goal is not finite or not rigid after all.
        """
        # first a few warm-started steps to a tight tolerance: a goal within the solver's
        # 10 µm of the joint goal used to leave it unchanged, so a slowly moving target
        # moved the tool in 10 µm jumps every few steps (a smooth 2 cm/s reach read LDLJ
        # -16.5 against -5.8 for its speed profile)
        self.refused_jump_s = None
        out = self._solve_pose(X_RT, TRACK_POS_TOL_M, TRACK_ROT_TOL_RAD, TRACK_MAX_ITERS, 0)
        if not out[IK.OUT_STATUS] and not self._reached(out):
            # not tracked closely: a full solve, with its restarts
            full = self._solve_pose(
                X_RT, IK_POS_TOL_M, IK_ROT_TOL_RAD, DEFAULT_MAX_ITERS, self.ik_restarts
            )
            jump_s = self.motion_s(full[IK.OUT_Q :])
            if max_jump_s is None or jump_s <= max_jump_s:
                out = full
            else:
                # another configuration (the wrist rolled 258° the other way at a roll
                # limit): swinging there is no tracking of a hand; the close answer
                # stays (it misses), and the caller, holding the arm, says why
                self.refused_jump_s = jump_s
        if out[IK.OUT_STATUS]:
            raise KinematicsError(
                f"arm {self.name!r}: tool-tip goal is not a finite rigid transform: "
                f"{np.asarray(X_RT).tolist()}"
            )
        # every trial step of the solver is projected onto the joint limits: no clip needed
        return out[IK.OUT_Q :], float(out[2])

    def _solve_pose(
        self, X_RT, pos_tol_m: float, rot_tol_rad: float, max_iters: int, restarts: int
    ):
        """The IK kernel on a pose goal in R (``X_RT``, m), warm-started from the joint
        goal, to ``pos_tol_m`` (m) and ``rot_tol_rad`` (rad)."""
        return IK.solve_one(
            self._frames,
            self._table,
            X_RT,
            self._goal,
            True,
            IK.MODE_POSE,
            _NO_PORT,
            pos_tol_m,
            rot_tol_rad,
            max_iters,
            restarts,
            0,
        )

    @staticmethod
    def _reached(out) -> bool:
        """A kernel answer within the solver's tolerances (10 µm, 0.1 mrad)."""
        return out[2] <= IK_POS_TOL_M and out[3] <= IK_ROT_TOL_RAD

    def motion_s(self, q: np.ndarray) -> float:
        """How long the joints would take, at their speed limits, from the joint goal to
        ``q`` (s): the IK jump guard's measure, and how a caller shortens a step the
        joints cannot make in time (each joint ramps at its own limit, so a step that
        takes one of them longer leaves the commanded line)."""
        return float(np.max(np.abs(q - self._goal) / self.velocity_limits))

    def set_goal_js(self, q: np.ndarray) -> None:
        """Joint goal from a trusted source (an IK answer within limits); see ``servo_jp``
        for the checked command."""
        self._set_goal(q)

    def goal_cp(self, frame: str = "world") -> np.ndarray:
        """The tool-tip pose the joint goal puts the tip at (4x4, m)."""
        X_RT = K.fk_single(self._frames, self._table, self._goal)
        return X_RT if frame == "rcm" else self.X_WR @ X_RT

    def servo_jaw(self, angle_rad: float) -> None:
        """Jaw angle goal (rad, full opening between the fingers), clipped to the jaw range.

        Values below 0 close the jaw fully (the dVRK uses them to squeeze harder).
        """
        if not self.has_jaw:
            raise SimError(f"arm {self.name!r} ({self.model.name}) has no jaw.")
        self._jaw_goal = self._clip_jaw(angle_rad)

    # ---- measurements -----------------------------------------------------------------
    def sense(self) -> None:
        """Read the joints once (one pybullet query for arm and jaw joints together).

        The world calls this after every physics step: every measurement until the next
        step (the session, the grasp tracker, viewers) reads this cache instead of asking
        pybullet again, and the tool-tip pose is computed at most once per step.
        """
        states = self._pb.getJointStates(self.body, self._all_index, physicsClientId=self._client)
        n = len(self._joint_index)
        joints = states[:n]
        self._q = np.fromiter(map(_POSITION, joints), np.float64, n)
        self._qd = np.fromiter(map(_VELOCITY, joints), np.float64, n)
        self._jaw = float(states[n][0] + states[n + 1][0]) if self._jaw_index else 0.0
        self._X_RT = None
        self._X_WT = None

    @property
    def settled(self) -> bool:
        """No motor command for :data:`SETTLE_S` and nothing held: the arm rests, and only a
        collision could move it. The world measures a settled arm less often (every
        :data:`~sim.world.world.SETTLED_SENSE_S`). Settled means "not commanded", not "still":
        an idle arm struck by another instrument stays settled while it moves."""
        return self._quiet_steps * self._dt >= SETTLE_S and self.jaw_hold_rad is None

    def measured_js(self) -> tuple[np.ndarray, np.ndarray]:
        """Measured joint positions (rad / m) and velocities (rad/s, m/s), chain order."""
        return self._q.copy(), self._qd.copy()

    def measured_cp(self, frame: str = "world") -> np.ndarray:
        """Measured tool-tip pose (4x4, m): ``X_WT`` or ``X_RT``, double-precision FK.

        As of the arm's last reading: every physics step while it moves, but only every
        :data:`~sim.world.world.SETTLED_SENSE_S` (10 ms) while it is :attr:`settled`. An idle
        arm pushed by another instrument therefore reads up to 10 ms late: 1.9 mm off its
        true pose at a 0.14 m/s knock (measured), exact again at each reading. Joint
        readings (:meth:`measured_js`, :meth:`measured_jaw`) lag the same way."""
        if frame == "world":
            return self._tip_W().copy()
        if frame != "rcm":
            raise SimError(f"arm {self.name!r}: frame {frame!r} is not one of {FRAMES}.")
        if self._X_RT is None:
            self._X_RT = K.fk_single(self._frames, self._table, self._q)
        return self._X_RT.copy()

    def _tip_W(self) -> np.ndarray:
        """``X_WT`` computed at most once per reading (the cache itself: do not change it)."""
        if self._X_WT is None:
            if self._X_RT is None:
                self._X_RT = K.fk_single(self._frames, self._table, self._q)
            self._X_WT = self.X_WR @ self._X_RT
        return self._X_WT

    def measured_tip_W(self) -> tuple[float, float, float]:
        """Measured tool-tip position in the world (m) as three floats: what the recorder
        and the view test read at the trace rate, without copying the pose."""
        X = self._tip_W()
        return X[0, 3], X[1, 3], X[2, 3]

    def tip_state_W(self) -> np.ndarray:
        """Measured tool-tip position (3, m), quaternion xyzw (4), linear (3, m/s) and
        angular (3, rad/s) velocity in the world, as one (13,) array from one kernel call
        (a held object follows this every step)."""
        return K.tip_state_world(self._frames, self._table, self._q, self._qd, self.X_WR)

    def measured_twist(self) -> tuple[np.ndarray, np.ndarray]:
        """Tool-tip linear (m/s) and angular (rad/s) velocity in the world frame."""
        twist = K.jacobian_single(self._frames, self._table, self._q) @ self._qd
        R = self.X_WR[:3, :3]
        return R @ twist[:3], R @ twist[3:]

    def setpoint_js(self) -> np.ndarray:
        """The joint setpoint the motors track now (rad / m)."""
        return self._setpoint.copy()

    def goal_js(self) -> np.ndarray:
        """The joint goal the setpoint moves towards (rad / m)."""
        return self._goal.copy()

    def measured_jaw(self) -> float:
        """Measured jaw opening (rad): the sum of the two finger angles; 0 without a jaw."""
        return self._jaw

    @property
    def jaw_goal_rad(self) -> float:
        """The commanded jaw angle (rad)."""
        return self._jaw_goal

    @property
    def jaw_setpoint_rad(self) -> float:
        """The rate-limited jaw angle the fingers track now (rad)."""
        return self._jaw_setpoint

    def jaw_release_rad(self) -> float | None:
        """While the jaws hold something, the jaw angle (rad) their setpoint must open past
        to let it go: the angle they hold at (the object's width where it was gripped)
        plus :data:`RELEASE_MARGIN_RAD`. None when they hold nothing. A goal of 0 only
        squeezes harder, so a controller reads this to know how far to open."""
        hold = self.jaw_hold_rad
        return None if hold is None else hold + RELEASE_MARGIN_RAD

    @property
    def jaw_closing(self) -> bool:
        """True while the jaw setpoint moves towards closed."""
        return self._jaw_closing

    def frustum(self) -> Frustum:
        """The scope's view frustum at the measured tip pose (camera frame = tip frame)."""
        c = self.camera
        return Frustum(self.measured_cp(), math.radians(c.fov_deg), c.aspect, c.near_m, c.far_m)

    # ---- per-step control -------------------------------------------------------------
    def _finger_target(self) -> float:
        jaw = self._jaw_setpoint
        if self.jaw_hold_rad is not None:
            jaw = max(jaw, self.jaw_hold_rad)  # fingers rest on the held object
        return min(max(jaw / 2, 0.0), self._finger_upper)

    def control(self, dt: float) -> None:
        """Advance the setpoints by one step of ``dt`` seconds and update the motors."""
        self._dt = dt
        send = self._send_pending
        if self._joints_moving:
            # one kernel: the numpy version (abs, compare, all, clip, add) cost ~5 µs
            step = self._step = self._step_buffer
            if W.ramp(self._goal, self._setpoint, self.velocity_limits, dt, step):
                self._joints_moving = False  # landed exactly on the goal
            send = True
        elif self._step is not None:
            self._step = None  # one last send with zero feed-forward velocity
            send = True
        if self.has_jaw:
            jaw_delta = self._jaw_goal - self._jaw_setpoint
            self._jaw_closing = jaw_delta < 0
            if jaw_delta:
                limit = self.jaw_rate_rad_s * dt
                self._jaw_setpoint += min(max(jaw_delta, -limit), limit)
                send = True
        if send:
            self._send(dt_s=dt)
            self._quiet_steps = 0
        else:
            self._quiet_steps += 1
        self._sending = send

    def _send(self, dt_s: float) -> None:
        """Send the motor targets; the feed-forward velocity is the last setpoint step
        over ``dt_s`` (the control step, s): no default, since a wrong one (it was 1 s)
        scales every joint's velocity target silently."""
        self._send_pending = False
        finger = self._finger_target()
        n_jaw = self._n_jaw
        if self._step is None:
            velocity = self._zero_velocities
        else:
            velocity = [*(self._step / dt_s).tolist(), *self._jaw_zero_velocities]
        # a resting arm sleeps (cheap steps); new motor targets alone would not wake it.
        # Bullet puts a body to sleep after 2 s below its sleeping speed: waking it at the
        # first send after a pause and then every WAKE_EVERY sends keeps a slowly moving
        # arm awake at a fraction of the cost of waking it every step.
        if self._sends_since_wake >= WAKE_EVERY or not self._sending:
            self._pb.changeDynamics(
                self.body,
                -1,
                activationState=self._pb.ACTIVATION_STATE_WAKE_UP,
                physicsClientId=self._client,
            )
            self._sends_since_wake = 0
        self._sends_since_wake += 1
        self._pb.setJointMotorControlArray(
            self.body,
            self._all_index,
            self._pb.POSITION_CONTROL,
            targetPositions=[*self._setpoint.tolist(), *([finger] * n_jaw)],
            targetVelocities=velocity,
            forces=self._forces,
            positionGains=self._position_gains,
            velocityGains=self._velocity_gains,
            physicsClientId=self._client,
        )

    def request_send(self) -> None:
        """Resend the motor targets on the next step (after a grasp changes the fingers)."""
        self._send_pending = True
