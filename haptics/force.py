"""Force feedback: the instrument's contact force, felt in the surgeon's hand.

Two halves, because the loops run in different processes at different rates:

- :class:`ForceFeedback` (server side, one per arm, once per physics step): takes the
  force the environment exerts on the instrument tip, expressed in the arm's RCM frame
  ``R`` (N; the session gets it from its contact model, rotated by ``R_RW``), and turns it
  into a force and torque on the master handle in the master frame ``M``:

  1. rotated into M through the inverse of the camera alignment the arm's teleoperation
     uses (``R_MR = (R_RC @ R_CM)^T``): the hand feels the reaction in the direction it
     sees it on the screen. A tip pressed down into tissue (down in the image) is pushed
     up by it, and the hand is pushed along the camera's "up" in M;
  2. scaled by ``force_scale`` (torque by ``torque_scale``);
  3. plus an optional virtual wall: when teleoperation clamps the target at its workspace
     box, a spring (``wall_stiffness_n_m``, N/m, in M) pushes the hand back inside;
  4. saturated (``max_force_n``, ``max_torque_nm``), low-passed (first order,
     ``cutoff_hz``) and rate-limited (``max_force_rate_n_s``), both over the time since
     the last call capped at one physics period (``max_step_s``): a stalled loop slows
     the ramp, it never makes one message jump;
  5. zero unless the arm is FOLLOWING and the force is fresh and finite (clutched,
     holding, aligning, disabled or stale all give zero at once, and following resumes
     from zero through the rate limit: no kick).

  The result goes out as the device's CRTK ``servo_cf``.

- :class:`ForceRenderer` (device side, 1 kHz): renders the latest ``servo_cf`` with a
  small local spring along its direction, F = F_last + K (x_last - x)·n n, so the force
  stays smooth and responsive when the server's rate drops; drops to zero when the
  server falls silent (or says the session ended); and slew-limits what it commands: the
  magnitude may fall at once, but a rise or a turn is limited to
  ``max_force_rate_n_s`` per second, so a late burst of messages, or the first one after
  a silence, ramps in instead of kicking the hand.

Units SI (N, N·m, m, s); frames as in DESIGN.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numba import njit

from haptics.errors import HapticsError
from haptics.master import HAND_RIGID_TOLERANCE
from haptics.numbers import as_float, is_finite_real, is_real
from haptics.teleop import kernels as K
from haptics.teleop.output import FOLLOWING
from kinematics.transforms import is_rotation

_F64 = np.dtype(np.float64)

#: the torque the saturation force makes at the fingertips on a handle of this radius (m)
#: gives the default torque limits
HANDLE_RADIUS_M = 0.03


@dataclass(frozen=True)
class ForceFeedbackConfig:
    """Settings of the server-side force pipeline (SI units).

    Attributes:
        force_scale: hand force per tip force. Default 1/3: with the session's 3:1
            motion scale (tip moves 1/3 of the hand) this makes the coupling passive and
            transparent in power, F_hand · v_hand = F_tip · v_tip.
        torque_scale: hand torque per tip torque; 1.0 with rotation unscaled (1:1), for
            the same reason.
        max_force_n: saturation of the hand force (N). 3 N: just under the 3.3 N peak of a
            Geomagic Touch-class desktop device, and far below what hurts.
        max_torque_nm: saturation of the hand torque (N·m): the saturation force at a
            3 cm handle radius.
        max_force_rate_n_s: how fast the force may change (N/s). 200 N/s takes the full
            3 N in 15 ms, the shortest force-feedback delay found noticeable (15-72 ms).
        max_torque_rate_nm_s: the same for the torque (the force rate at 3 cm).
        cutoff_hz: first-order low-pass on force and torque (Hz): 30 Hz (5 ms time
            constant) smooths the physics' contact chatter well inside the 15 ms.
        wall_stiffness_n_m: spring pushing the hand back when teleoperation clamps the
            target at its workspace wall (N/m, in M); 0 turns it off. 200 N/m reaches
            the 3 N saturation 15 mm past the wall, a fifth of the ~1 N/mm a
            Touch-class device renders stably.
        max_force_age_s: a force measured longer ago than this (loop clock) is stale.
        max_step_s: the longest time step one call's low-pass and rate limit take (s),
            however long ago the call before was: the nominal period between two
            ``servo_cf``, which go out at least once per physics step. The loop clock's
            own step let a 20 ms stall through as one 0 -> 2.93 N message; capped, one
            message changes by at most ``max_force_rate_n_s * max_step_s`` (0.4 N at the
            default 2 ms, 500 Hz physics) and a stall only slows the ramp down. The
            server sets it to its physics period (:func:`for_physics_rate`).
        R_CM: rotation from the master frame to the camera frame: the teleoperation's
            ``TeleopConfig.R_CM`` for this arm.
    """

    force_scale: float = 1.0 / 3.0
    torque_scale: float = 1.0
    max_force_n: float = 3.0
    max_torque_nm: float = 3.0 * HANDLE_RADIUS_M
    max_force_rate_n_s: float = 200.0
    max_torque_rate_nm_s: float = 200.0 * HANDLE_RADIUS_M
    cutoff_hz: float = 30.0
    wall_stiffness_n_m: float = 200.0
    max_force_age_s: float = 0.02
    max_step_s: float = 0.002
    R_CM: tuple = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))

    def __post_init__(self) -> None:
        for name in (
            "max_force_n",
            "max_torque_nm",
            "max_force_rate_n_s",
            "max_torque_rate_nm_s",
            "cutoff_hz",
            "max_force_age_s",
            "max_step_s",
        ):
            _require(name, getattr(self, name), positive=True)
        for name in ("force_scale", "torque_scale", "wall_stiffness_n_m"):
            _require(name, getattr(self, name), positive=False)
        R = np.asarray(self.R_CM, dtype=float)
        if not is_rotation(R, 1e-6):
            raise HapticsError(
                "ForceFeedbackConfig.R_CM must be a 3x3 rotation (orthonormal, det +1), "
                f"the arm's TeleopConfig.R_CM; got {R!r}."
            )

    @property
    def max_force_step_n(self) -> float:
        """The most the force of one ``servo_cf`` differs from the one before while the
        arm follows (N): the rate limit over one capped step."""
        return self.max_force_rate_n_s * self.max_step_s


def for_physics_rate(config: ForceFeedbackConfig, physics_hz: float) -> ForceFeedbackConfig:
    """``config`` with its step cap (``max_step_s``) at one physics period: ``servo_cf``
    goes out at least once per physics step, so a longer time between two is a stall."""
    return replace(config, max_step_s=1.0 / float(physics_hz))


def _require(name: str, value, positive: bool) -> None:
    ok = is_finite_real(value) and (value > 0 if positive else value >= 0)
    if not ok:
        bound = "positive" if positive else "non-negative"
        raise HapticsError(
            f"ForceFeedbackConfig.{name} must be a {bound} finite number, got {value!r}."
        )


def _vector3(value):
    """``value`` as a float64 (3,) array (not checked for NaN), or None."""
    if type(value) is np.ndarray and value.dtype == _F64 and value.shape == (3,):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind not in "fiu":
        return None
    try:
        value = np.array(value, dtype=np.float64)
    except Exception:
        return None
    return value if value.shape == (3,) else None


def _finite_vector3(value):
    """``value`` as a finite float64 (3,) array, or None."""
    v = _vector3(value)
    return v if v is not None and np.isfinite(v).all() else None


def _matrix4(value):
    """``value`` as a C-contiguous float64 4x4 array (not checked), or None."""
    if type(value) is not np.ndarray or value.dtype != _F64:
        if isinstance(value, np.ndarray) and value.dtype.kind not in "fiu":
            return None
        try:
            value = np.array(value, dtype=np.float64)
        except Exception:
            return None
    if value.shape != (4, 4):
        return None
    if not value.flags.c_contiguous:
        value = np.ascontiguousarray(value)
    return value


# state vector of the server-side pipeline
_LP_F, _LP_T, _OUT_F, _OUT_T, _STATE_SIZE = 0, 3, 6, 9, 12


#: _shape() results besides 0 (fine) and 1 (saturated)
_BAD_INPUT, _BAD_CAMERA = -1, -2


#: (N, N·m) a force or torque component whose low-pass has decayed below this is exactly
#: zero: the first-order tail never reaches 0 (a probe read -1.6e-119 N long after contact
#: ended), and a device that tests ``force != 0`` would render contact that is over.
_FLUSH = 1e-9


@njit(cache=True)
def _shape(S, P, f, tau, wall, X_RC, R_CM, dt):
    """Check, map, scale, saturate, low-pass and rate-limit one tick.

    Returns 1 if the force or torque was saturated, 0 if not, ``_BAD_INPUT`` (a NaN/inf
    force, torque or wall) or ``_BAD_CAMERA`` (``X_RC`` not finite and rigid); nothing
    changes in the last two cases. ``P`` = (force_scale, torque_scale, max_f, max_tau,
    rate_f, rate_tau, cutoff_hz, k_wall, rigid tolerance).
    """
    for i in range(3):
        if not (math.isfinite(f[i]) and math.isfinite(tau[i]) and math.isfinite(wall[i])):
            return _BAD_INPUT
    if K.rigid_status(X_RC, P[8]):
        return _BAD_CAMERA
    # R_RM = R_RC @ R_CM; the hand gets R_RM^T applied to the tip's force
    R = np.empty((3, 3))
    for a in range(3):
        for b in range(3):
            R[a, b] = X_RC[a, 0] * R_CM[0, b] + X_RC[a, 1] * R_CM[1, b] + X_RC[a, 2] * R_CM[2, b]
    xf = np.empty(3)
    xt = np.empty(3)
    for b in range(3):
        sf = 0.0
        st = 0.0
        for a in range(3):
            sf += R[a, b] * f[a]
            st += R[a, b] * tau[a]
        xf[b] = P[0] * sf - P[7] * wall[b]
        xt[b] = P[1] * st
    saturated = 0
    for x, limit in ((xf, P[2]), (xt, P[3])):
        n = math.sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2])
        if n > limit:
            saturated = 1
            for i in range(3):
                x[i] *= limit / n
    alpha = 1.0 - math.exp(-2.0 * math.pi * P[6] * dt)
    for x, lp, out, rate in ((xf, _LP_F, _OUT_F, P[4]), (xt, _LP_T, _OUT_T, P[5])):
        d2 = 0.0
        for i in range(3):
            S[lp + i] += alpha * (x[i] - S[lp + i])
            d2 += (S[lp + i] - S[out + i]) ** 2
        most = rate * dt
        k = 1.0
        if d2 > most * most:
            k = most / math.sqrt(d2)
        for i in range(3):
            S[out + i] += k * (S[lp + i] - S[out + i])
            if abs(S[out + i]) < _FLUSH and abs(S[lp + i]) < _FLUSH:
                S[out + i] = 0.0  # the low-pass's tail ends: -1.6e-119 N is no force
                S[lp + i] = 0.0
    return saturated


@dataclass(slots=True)
class ForceOutput:
    """The force to render on the master handle this tick (treat as read-only).

    Attributes:
        time_s: loop time (s).
        force_n: force on the hand (3,), in the master frame M (N).
        torque_nm: torque on the hand (3,), in M (N·m).
        active: feedback is on (FOLLOWING, fresh and finite input); zeros otherwise.
        saturated: the force or torque was cut to its limit this tick.
        reason: why feedback is off ('' when active).
    """

    time_s: float
    force_n: np.ndarray
    torque_nm: np.ndarray
    active: bool
    saturated: bool
    reason: str


class ForceFeedback:
    """Server-side force feedback for one arm (see the module docstring).

    Args:
        config: the settings; ``config.R_CM`` must be the arm's teleoperation ``R_CM``.
    """

    def __init__(self, config: ForceFeedbackConfig | None = None) -> None:
        self.config = c = config or ForceFeedbackConfig()
        self._P = np.array(
            [
                c.force_scale,
                c.torque_scale,
                c.max_force_n,
                c.max_torque_nm,
                c.max_force_rate_n_s,
                c.max_torque_rate_nm_s,
                c.cutoff_hz,
                c.wall_stiffness_n_m,
                HAND_RIGID_TOLERANCE,
            ]
        )
        self._R_CM = np.ascontiguousarray(np.asarray(c.R_CM, dtype=float))
        self._S = np.zeros(_STATE_SIZE)
        self._last_now = math.nan

    def reset(self) -> None:
        """Forget the filter state: the next active tick starts from zero force."""
        self._S[:] = 0.0

    def step(
        self,
        now_s: float,
        force_on_tip_R_n,
        X_RC,
        state: str,
        *,
        torque_on_tip_R_nm=None,
        wall_excess_m=None,
        force_time_s: float | None = None,
    ) -> ForceOutput:
        """One tick of force feedback. Never raises: unusable input gives zero force.

        Args:
            now_s: loop time (s).
            force_on_tip_R_n: force the environment exerts on the instrument tip (3,),
                in the arm's RCM frame R (N).
            X_RC: the camera pose in R that the arm's teleoperation maps through
                (``TeleopOutput.X_RC``).
            state: the arm's teleoperation state (``TeleopOutput.state``).
            torque_on_tip_R_nm: torque on the tip (3,), in R (N·m); None for none.
            wall_excess_m: how far the hand is past the workspace wall, in M (hand
                metres; ``TeleopOutput.wall_excess_m``); None for none.
            force_time_s: when the force was measured (loop clock); default ``now_s``.
        """
        now = as_float(now_s)
        dt = now - self._last_now
        if math.isfinite(now):
            self._last_now = now
        dt = min(dt, self.config.max_step_s) if dt > 0.0 else 0.0  # NaN -> 0
        f = _vector3(force_on_tip_R_n)
        tau = _ZERO3 if torque_on_tip_R_nm is None else _vector3(torque_on_tip_R_nm)
        wall = _ZERO3 if wall_excess_m is None else _vector3(wall_excess_m)
        X = _matrix4(X_RC)
        reason = ""
        if not (isinstance(state, str) and state == FOLLOWING):
            reason = f"teleoperation is {state if isinstance(state, str) else 'in no state'}"
        elif f is None or tau is None or wall is None:
            reason = "force, torque or wall input is not a 3-vector"
        elif X is None:
            reason = "camera pose X_RC is not a 4x4 array"
        elif not math.isfinite(now):
            reason = f"loop clock is {now_s!r}"
        elif force_time_s is not None and not now - as_float(force_time_s) <= (
            self.config.max_force_age_s
        ):
            reason = "tip force is stale"
        else:
            result = _shape(self._S, self._P, f, tau, wall, X, self._R_CM, dt)
            if result >= 0:
                S = self._S
                return ForceOutput(
                    now, S[_OUT_F : _OUT_F + 3].copy(), S[_OUT_T : _OUT_T + 3].copy(), True,
                    result == 1, "",
                )  # fmt: skip
            reason = (
                "force, torque or wall input is not finite"
                if result == _BAD_INPUT
                else "camera pose X_RC is not a finite rigid 4x4 transform"
            )
        self._S[:] = 0.0
        return ForceOutput(now, np.zeros(3), np.zeros(3), False, False, reason)

    def step_teleop(
        self, out, force_on_tip_R_n, *, torque_on_tip_R_nm=None, force_time_s=None
    ) -> ForceOutput:
        """:meth:`step` with the time, camera, state and wall taken from the arm's
        :class:`~haptics.teleop.TeleopOutput` of this tick."""
        try:
            now, X_RC, state, wall = out.time_s, out.X_RC, out.state, out.wall_excess_m
        except AttributeError:
            now, X_RC, state, wall = math.nan, None, "unknown", None
        return self.step(
            now,
            force_on_tip_R_n,
            X_RC,
            state,
            torque_on_tip_R_nm=torque_on_tip_R_nm,
            wall_excess_m=wall,
            force_time_s=force_time_s,
        )


_ZERO3 = np.zeros(3)
_ZERO3.setflags(write=False)


class ForceRenderer:
    """Device-side force rendering at 1 kHz from the latest ``servo_cf`` the server sent.

    Between two messages the force follows a local spring model of the contact: the last
    force ``F_last`` and the hand position ``x_last`` when it arrived give
    ``F = F_last + K (x_last - x)·n n`` with ``n = F_last / |F_last|``: pushing further
    into the contact (against ``n``) raises the force, yielding lowers it, never below
    zero along ``n`` (a contact only pushes) and never above ``max_force_n``. ``servo_cf``
    carries no stiffness: K is ``stiffness_n_m`` unless the caller of :meth:`receive`
    gives its own (from its own contact model), clipped to ``[0, max_stiffness_n_m]``.

    What :meth:`render` returns is slew-limited on the device clock: the force's
    magnitude may fall at once (the server's zero for a clutch, a hold or a pause, this
    renderer's own timeout, the session's end), but it rises or turns by at most
    ``max_force_rate_n_s * min(dt, max_step_s)`` per call, ``dt`` the time since the last
    call. The server limits its own messages the same way, but on a loaded machine they
    arrive in bursts and after silences: without this the first message after the
    ``max_age_s`` timeout put the full 3 N on the hand in one tick.

    Args:
        stiffness_n_m: default local stiffness K (N/m), hand side. 50 N/m: a soft-tissue
            contact of ~450 N/m at the tip, seen through a 3:1 motion scale and a 1/3
            force scale (K_hand = force_scale · translation_scale · K_tip).
        max_force_n: saturation (N).
        max_age_s: with no message for this long (s, device clock) the force is zero,
            and it ramps back in through the slew limit when messages come again.
        max_stiffness_n_m: bound on K (N/m): ~1 N/mm is what a Touch-class device
            renders stably (from memory of the device class, not a datasheet); a larger
            K given to :meth:`receive` is clipped.
        max_force_rate_n_s: slew limit of a rising or turning force (N/s): the server's
            200 N/s (``hello``'s ``force_feedback.max_force_rate_n_s``), 3 N in 15 ms.
        max_step_s: the longest ``dt`` one call's slew takes (s): two periods of a
            1 kHz loop, so one late tick rises by at most 0.4 N at 200 N/s.

    Raises:
        HapticsError: a setting out of range.
    """

    def __init__(
        self,
        stiffness_n_m: float = 50.0,
        max_force_n: float = 3.0,
        max_age_s: float = 0.1,
        max_stiffness_n_m: float = 1000.0,
        max_force_rate_n_s: float = 200.0,
        max_step_s: float = 0.002,
    ) -> None:
        for name, value in (
            ("max_force_n", max_force_n),
            ("max_age_s", max_age_s),
            ("max_stiffness_n_m", max_stiffness_n_m),
            ("max_force_rate_n_s", max_force_rate_n_s),
            ("max_step_s", max_step_s),
        ):
            if not (is_finite_real(value) and value > 0):
                raise HapticsError(
                    f"ForceRenderer {name} must be a positive number, got {value!r}."
                )
        if not (is_real(stiffness_n_m) and 0 <= stiffness_n_m <= max_stiffness_n_m):
            raise HapticsError(
                f"ForceRenderer stiffness_n_m must lie in [0, {max_stiffness_n_m}] N/m, "
                f"got {stiffness_n_m!r}."
            )
        self.stiffness_n_m = float(stiffness_n_m)
        self.max_force_n = float(max_force_n)
        self.max_age_s = float(max_age_s)
        self.max_stiffness_n_m = float(max_stiffness_n_m)
        self.max_force_rate_n_s = float(max_force_rate_n_s)
        self.max_step_s = float(max_step_s)
        self._force = (0.0, 0.0, 0.0)
        self._x = (0.0, 0.0, 0.0)
        self._k = self.stiffness_n_m
        self._t = math.nan
        self._out = np.zeros(3)  # what render() returned last (N, M)
        self._t_out = math.nan  # and when (device clock)

    @property
    def max_step_n(self) -> float:
        """The most one :meth:`render` raises or turns the force (N)."""
        return self.max_force_rate_n_s * self.max_step_s

    def receive(self, force_n, hand_position_m, now_s: float, stiffness_n_m=None) -> bool:
        """Take a new ``servo_cf`` (force in M, N) that arrived with the hand at
        ``hand_position_m`` (M, m) at device time ``now_s``; ``stiffness_n_m`` overrides
        the local stiffness for this message. False (and ignored) when anything is not
        finite; never raises."""
        f, x, t = _finite_vector3(force_n), _finite_vector3(hand_position_m), as_float(now_s)
        if f is None or x is None or not math.isfinite(t):
            return False
        k = self.stiffness_n_m
        if stiffness_n_m is not None:
            k = as_float(stiffness_n_m)
            if math.isnan(k):
                return False
            k = min(max(k, 0.0), self.max_stiffness_n_m)
        n = math.sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2])
        s = self.max_force_n / n if n > self.max_force_n else 1.0
        self._force = (f[0] * s, f[1] * s, f[2] * s)
        self._x = (float(x[0]), float(x[1]), float(x[2]))
        self._k, self._t = k, t
        return True

    def forget(self) -> None:
        """Drop the last message: the force is zero until the next one (and ramps in).
        For the server's ``session/ending``: the session is over, whatever came last."""
        self._force = (0.0, 0.0, 0.0)
        self._t = math.nan

    def render(self, hand_position_m, now_s: float) -> np.ndarray:
        """The force (3,) to command on the device now (N, in M), slew-limited (see the
        class docstring). Never raises."""
        x, t = _finite_vector3(hand_position_m), as_float(now_s)
        target = self._spring_force(x, t)
        dt = t - self._t_out
        dt = min(dt, self.max_step_s) if dt > 0.0 else 0.0  # NaN, first call, backwards -> 0
        if math.isfinite(t):
            self._t_out = t
        self._out = _slewed(self._out, target, self.max_force_rate_n_s * dt)
        return self._out.copy()

    def _spring_force(self, x, t: float) -> np.ndarray:
        """The local spring's force for hand position ``x`` at ``t`` (zero when stale)."""
        age = t - self._t
        if x is None or not (0.0 <= age <= self.max_age_s):  # stale, or no message, or NaN
            return np.zeros(3)
        fx, fy, fz = self._force
        magnitude = math.sqrt(fx * fx + fy * fy + fz * fz)
        if magnitude < 1e-12:
            return np.zeros(3)
        nx, ny, nz = fx / magnitude, fy / magnitude, fz / magnitude
        x0 = self._x
        push = (x0[0] - x[0]) * nx + (x0[1] - x[1]) * ny + (x0[2] - x[2]) * nz
        along = min(max(magnitude + self._k * push, 0.0), self.max_force_n)
        return np.array([along * nx, along * ny, along * nz])


def _slewed(current: np.ndarray, target: np.ndarray, most_n: float) -> np.ndarray:
    """From ``current`` towards ``target`` (N): first shrunk at once to the target's
    magnitude if that is smaller (letting go of the hand is never held back), then moved
    by at most ``most_n`` (a rise or a turn)."""
    now_n = float(np.linalg.norm(current))
    goal_n = float(np.linalg.norm(target))
    start = current * (goal_n / now_n) if goal_n < now_n else current
    step = target - start
    size = float(np.linalg.norm(step))
    if size <= most_n:
        return target.copy()
    return start + step * (most_n / size)
