"""The teleoperation pipeline of one arm: samples in, a tool-tip target out, never an exception.

See :mod:`haptics.teleop` for the pipeline, the states and the units.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import replace

import numpy as np

from haptics.errors import HapticsError
from haptics.master import HAND_RIGID_TOLERANCE, MAX_HAND_DISTANCE_M, MasterSample
from haptics.numbers import as_float, is_real
from haptics.teleop import kernels as K
from haptics.teleop import ramp as R
from haptics.teleop.config import TeleopConfig
from haptics.teleop.output import (
    ALIGNING,
    CLUTCHED,
    DISABLED,
    FOLLOWING,
    HOLDING,
    TeleopEvent,
    TeleopOutput,
)
from haptics.teleop.rate import RATE_TOLERANCE, SampleRateMeter
from haptics.tremor import make_filter

_F64 = np.dtype(np.float64)
_ZERO3 = np.zeros(3)
_ZERO3.setflags(write=False)

#: A batch longer than this is cut (an iterator that never ends must not hang the loop):
#: 100 s of samples at 1 kHz.
MAX_BATCH = 100_000

#: How the watchdog's hold reasons begin (a ``holding`` event's ``detail``): the device's
#: samples stopped, or the newest came too old. Both mean the samples reach the session
#: late; a device process reads them to tell a busy machine from a refusing server.
NO_SAMPLE = "no sample for"
STALE_SAMPLE = "stale sample"
LATE_SAMPLE_REASONS = (STALE_SAMPLE, NO_SAMPLE)

_LIMIT_KINDS = (
    (K.WALL, "workspace_limit"),
    (K.SPEED, "speed_limit"),
    (K.ANGULAR, "angular_speed_limit"),
)

#: (s) a limit is reported again only once it has been off this long: a hand held past
#: the workspace wall with the tool on the board took the target in and out of the wall
#: sample by sample, and 29 ``workspace_limit`` events went out in 0.7 s, each a session
#: event. One entry is one event, however the limit chatters while it lasts.
LIMIT_REARM_S = 0.5


def _as_matrix(X):
    """``X`` as a writeable C-contiguous float64 4x4 array, or None (cheap when it already is:
    numba compiles one kernel per array layout, so everything is brought to one)."""
    if type(X) is not np.ndarray or X.dtype != _F64:
        if isinstance(X, np.ndarray) and X.dtype.kind not in "fiu":
            return None  # complex, bool, strings, objects: not a pose
        try:
            X = np.array(X, dtype=np.float64)
        except Exception:  # any garbage: strings, ragged lists, objects that raise
            return None
    if X.shape != (4, 4):
        return None
    flags = X.flags
    if not (flags.c_contiguous and flags.writeable):
        X = np.array(X, dtype=np.float64, order="C")
    return X


def _read(sample):
    """``(time_s, X_MH, gripper_rad, clutch, seq)`` of ``sample`` with the right types, or a
    string saying what is wrong with it."""
    if not isinstance(sample, MasterSample):
        return f"not a MasterSample but {type(sample).__name__}"
    t, g, c, seq = sample.time_s, sample.gripper_rad, sample.clutch, sample.seq
    if type(t) is not float:
        if not is_real(t):
            return f"time_s is {type(t).__name__}, expected a number"
        t = as_float(t)
    if type(g) is not float:
        if not is_real(g):
            return f"gripper_rad is {type(g).__name__}, expected a number"
        g = as_float(g)
    if not math.isfinite(g):
        return f"gripper_rad is {g}"
    if c is not True and c is not False:
        if isinstance(c, np.bool_) or (is_real(c) and c in (0, 1)):
            c = bool(c)
        else:
            return f"clutch is {type(c).__name__}, expected a bool"
    if type(seq) is not int:
        if isinstance(seq, (int, np.integer)) and not isinstance(seq, (bool, np.bool_)):
            seq = int(seq)
        else:
            return f"seq is {type(seq).__name__}, expected an int"
    X = _as_matrix(sample.X_MH)
    if X is None:
        return "pose is not a 4x4 array of numbers"
    return t, X, g, c, seq


def _as_batch(samples):
    """The samples of one step as a sequence: a sequence as it is, one sample or None, or
    anything else (each element, or the thing itself, is then refused as a sample)."""
    if samples is None:
        return ()
    if isinstance(samples, (list, tuple)):
        return samples
    if isinstance(samples, MasterSample):
        return (samples,)
    try:
        return tuple(itertools.islice(iter(samples), MAX_BATCH))
    except Exception:
        return (samples,)


def _has_press(batch) -> bool:
    """Whether a sample of ``batch`` that :func:`_read` accepts has the clutch pressed."""
    return any(type(fields := _read(s)) is not str and fields[3] for s in batch)


def _checked_rigid(X, what: str) -> np.ndarray:
    """``X`` as a rigid 4x4 (renormalised), or raise saying what is wrong."""
    M = _as_matrix(X)
    if M is None:
        raise HapticsError(f"{what} must be a 4x4 pose (m), got {X!r}.")
    code = K.rigid_status(M, HAND_RIGID_TOLERANCE)
    if code:
        problem = K.HAND_PROBLEMS.get(code, "not rigid")
        raise HapticsError(f"{what} must be a finite rigid 4x4 pose, but its {problem}: {M!r}.")
    return K.rigid_copy(M)


def _fmt_ms(seconds: float) -> str:
    return f"{1000.0 * seconds:.0f} ms"


class Teleoperation:
    """The master-to-instrument pipeline for one arm, with dVRK-like operating states.

    Args:
        config: the settings.
        X_RT_start: the instrument's current tool-tip pose in R (the target starts here).
        X_RC: the camera pose in this arm's RCM frame (m).
        jaw_start_rad: the jaw's current angle (rad); ``config.jaw_closed_rad`` if None.

    Raises:
        HapticsError: a start pose that is not a finite rigid 4x4 transform (the only
            place this class raises: :meth:`step` never does).
    """

    def __init__(
        self, config: TeleopConfig, X_RT_start, X_RC, *, jaw_start_rad: float | None = None
    ) -> None:
        if not isinstance(config, TeleopConfig):
            raise HapticsError(f"config must be a TeleopConfig, got {type(config).__name__}.")
        self.config = config
        self._filter = make_filter(config.tremor_filter, config.rate_hz, **config.tremor_params)
        #: the rate the filter is designed for (Hz): the configured one until the device's
        #: own is measured (:mod:`haptics.teleop.rate`)
        self._filter_rate_hz = float(config.rate_hz)
        self._rate_meter = SampleRateMeter()
        self._rate_wanted: float | None = None  # a measured rate to re-make the filter for
        #: the device period (s) each followed step is spread over (:mod:`..ramp`); 0.0:
        #: not spread. Set from the measured rate only, never the configured one (a rate
        #: configured wrong must not slow a fast device), and kept across holds, as the
        #: filter's design is: the same device comes back at the same rate.
        self._spread_s = 0.0
        self._ramp = np.zeros(R.RAMP_SIZE)
        self._ramp[R.SPAN_S] = 1.0
        self._ramp_on = False  # a ramp runs: the output is on it, short of the target
        c = config
        self._P = np.array(
            [
                c.translation_scale,
                c.rotation_scale,
                c.max_tip_speed_m_s,
                c.max_tip_angular_speed_rad_s,
                *c.workspace_lower_m,
                *c.workspace_upper_m,
                c.limit_carry_s,
            ],
            dtype=np.float64,
        )
        assert self._P.size == K.PARAM_SIZE
        R_CM = np.eye(4)
        R_CM[:3, :3] = np.asarray(c.R_CM, dtype=float)
        self._R_CM = np.ascontiguousarray(K.rigid_copy(R_CM)[:3, :3])
        self._tolerance = c.align_gate_rad
        self._jaw_span = c.jaw_open_rad - c.jaw_closed_rad
        self._S = np.zeros(K.STATE_SIZE)
        self._S[K.Q_HAND + 3] = 1.0
        self._hand_p = self._S[K.P_HAND : K.P_HAND + 3]  # a view: what the filter reads
        self._X = self._S[K.X_TGT : K.X_TGT + 16].reshape(4, 4)  # a view: the target pose
        K.set_target(self._S, _checked_rigid(X_RT_start, "X_RT_start"))
        self._X_RC_in = np.full((4, 4), np.nan)  # the last camera input accepted, as given
        self._X_RC = self._X_RC_in
        self._accept_camera(_as_matrix(X_RC), _checked_rigid(X_RC, "X_RC"))
        jaw = c.jaw_closed_rad if jaw_start_rad is None else jaw_start_rad
        if not math.isfinite(as_float(jaw)):
            raise HapticsError(f"jaw_start_rad must be a finite angle (rad), got {jaw!r}.")
        self._jaw = float(jaw)
        self._state = ALIGNING if c.start_enabled else DISABLED
        self._hold_reason = ""
        self._press_seen = False  # a clutch press with good samples since the last fault
        self._press_ignored = False  # a press in a stale batch was reported in this state
        self._rebase = False  # the camera changed while following: re-anchor the mapping
        self._recapture = False  # the filter was re-made while following: anchor afresh
        self._limits = 0  # follow() flags active at the last followed sample
        #: per limit kind, when it last stopped acting while following (LIMIT_REARM_S)
        self._limit_off_s = [-math.inf] * len(_LIMIT_KINDS)
        self._camera_refused = False
        self._last_t = -math.inf  # device time of the last sample used
        self._last_seq = -1
        self._last_now = -math.inf  # loop time of the last step with a usable clock
        self._last_use_now: float | None = None  # loop time a sample was last used
        self._align_error = math.nan
        self._pending: list[TeleopEvent] = []  # from enable()/disable(), out with the next step
        self._X_RT_out = self._X.copy()
        self._warm_up()

    def _warm_up(self) -> None:
        """Run every kernel and the filter once on scratch data, so that numba's compiling
        or cache loading happens here and not in the first real-time step (~0.5 s)."""
        S = self._S.copy()
        X = np.eye(4)
        K.hand_status(X, S, HAND_RIGID_TOLERANCE, MAX_HAND_DISTANCE_M)
        K.camera_status(X, X, HAND_RIGID_TOLERANCE)
        K.capture(S, S[K.P_HAND : K.P_HAND + 3])
        K.rebase(S)
        K.align_error(S)
        K.follow(S, self._P, np.zeros(3), 0.001)
        K.all_finite3(np.zeros(3))
        Rm = self._ramp.copy()
        R.ramp_mark(Rm, S, 0.0, True)
        R.ramp_mark(Rm, S, 0.0, False)
        R.ramp_aim(Rm, S, self._P, 0.0, 0.008)
        R.ramp_pose(Rm, 0.0, X)
        with contextlib.suppress(Exception):  # the filter is checked at every real sample
            self._filter.step(self._hand_p.copy())
            self._filter.reset()

    # ---- state -------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """The operating state: DISABLED, ALIGNING, FOLLOWING, CLUTCHED or HOLDING."""
        return self._state

    @property
    def filter_rate_hz(self) -> float:
        """The sample rate (Hz) the tremor filter is designed for now: the configured one
        until the device's own has been measured and found different."""
        return self._filter_rate_hz

    @property
    def engaged(self) -> bool:
        """True while the instrument follows the hand (state FOLLOWING)."""
        return self._state == FOLLOWING

    @property
    def holding(self) -> bool:
        """True while the watchdog holds the instrument (state HOLDING)."""
        return self._state == HOLDING

    @property
    def hold_reason(self) -> str:
        """Why the watchdog holds ('' when it does not)."""
        return self._hold_reason if self._state == HOLDING else ""

    @property
    def align_error_rad(self) -> float:
        """Angle between the hand (seen through the camera) and the tool at the last sample
        (rad); NaN before any sample."""
        return self._align_error

    @property
    def X_RT(self) -> np.ndarray:
        """The current tool-tip target in the RCM frame (4x4, m; a copy): the last
        step's output, on its way to the filtered target while a slow device's step is
        spread (:mod:`haptics.teleop.ramp`)."""
        return self._X_RT_out.copy() if self._ramp_on else self._X.copy()

    @property
    def spread_s(self) -> float:
        """The period (s) each followed step of the target is spread over, the device's
        measured sample period; 0.0 while the target steps at once (a device no slower
        than 1.5 loop periods, no ``loop_rate_hz``, or no rate measured yet)."""
        return self._spread_s

    @property
    def X_RC(self) -> np.ndarray:
        """The camera pose in R that hand motion is mapped through now (4x4, m; a copy).

        For an instrument it follows the endoscope (see :meth:`set_camera`); the scope's
        own pipeline keeps the view it started with, so a caller that turns a wanted tool
        motion into a hand motion must map through this frame, not the live camera.
        """
        return self._X_RC.copy()

    def aligned_hand_rotation(self, X_RC=None) -> np.ndarray:
        """The handle orientation in M (3x3) that is aligned with the tool target now.

        Seen through the camera ``X_RC`` (default: the one in use) and ``config.R_CM``, a
        hand held this way matches the tool, so ALIGNING passes at once. Synthetic
        operators and the desktop mouse device present their hand this way.

        Raises:
            HapticsError: ``X_RC`` is not a finite rigid 4x4 pose.
        """
        X = self._X_RC if X_RC is None else _checked_rigid(X_RC, "X_RC")
        return K.aligned_hand(self._S, X, self._R_CM)

    def enable(self, now_s: float | None = None) -> None:
        """Ask to teleoperate: DISABLED -> ALIGNING (then FOLLOWING once aligned).

        The event goes out with the next :meth:`step`; ``now_s`` stamps it (default: the
        last step's time). No effect in any other state.
        """
        if self._state == DISABLED:
            self._press_seen = False
            self._set_state(ALIGNING, "enabled", self._event_time(now_s), self._pending)

    def expect_samples(self, now_s: float) -> None:
        """The arm's device is known to be live (heard from before this arm was enabled, or
        sending through a pause) and its samples are due from ``now_s`` on: the gap watchdog
        runs from then, as if a sample had been used, so that a device falling silent before
        its first sample reaches this arm holds the arm too. Without it, an arm enabled
        after the server's wait for devices stayed ALIGNING through any silence and followed
        a returning device with no clutch cycle (found by a bus fuzzer). A non-finite
        ``now_s`` is ignored, and so is a call once a sample was used.
        """
        now = as_float(now_s)
        if self._last_use_now is None and math.isfinite(now):
            self._last_use_now = now

    def disable(self, now_s: float | None = None) -> None:
        """Stop teleoperating: any state -> DISABLED; the instrument holds where it is."""
        if self._state != DISABLED:
            self._hold_reason = ""
            self._limits = 0
            self._set_state(DISABLED, "disabled on request", self._event_time(now_s), self._pending)

    def restart(self, reason: str, now_s: float | None = None) -> None:
        """The stream was stopped on purpose (the session paused) and goes on now: forget
        the hand's past and capture the mapping afresh, so that where the hand went
        meanwhile does not move the tool (1 cm of catching up after a 3 cm move during a
        pause, at 3:1). The tremor filter and the rate meter start again; a following
        arm aligns again (at once if the hand still matches the tool: no press needed),
        and the gap watchdog waits for the first sample.
        """
        self._rate_meter.restart()
        with contextlib.suppress(Exception):  # the next sample through it is checked anyway
            self._filter.reset()
        self._limits = 0
        self._last_use_now = None
        if self._state == FOLLOWING:
            self._set_state(ALIGNING, reason, self._event_time(now_s), self._pending)

    def release_to(self, X_RT, now_s: float | None = None) -> None:
        """Another source (a controller's ``servo_cp``) moved the instrument: make ``X_RT``
        (4x4 in R) the target and stop following, so that when the master takes over
        again the tool continues from there instead of jumping back to where the hand
        left it. FOLLOWING becomes ALIGNING (the hand must match the tool's new
        orientation; the mapping is captured afresh); other states are kept.

        Raises:
            HapticsError: ``X_RT`` is not a finite rigid 4x4 pose.
        """
        X_RT = _checked_rigid(X_RT, "X_RT")
        self._ramp_on = False  # the new target is the output at once
        K.set_target(self._S, X_RT)
        self._X_RT_out = self._X.copy()
        self._rebase = False
        self._limits = 0
        if self._state == FOLLOWING:
            detail = "another source moved the instrument"
            self._set_state(ALIGNING, detail, self._event_time(now_s), self._pending)

    def stop_ramp(self) -> None:
        """Stop a spread step where the output last was, and make that the target.

        For a caller that found the last output unusable (the session: an unreachable
        goal, or one past the jump guard): the arm holds, and the ramp must not carry on
        towards a target it may not reach either. The mapping is kept: the next sample
        moves the target on from here. Everything in the pipeline that stops following
        does this itself. No effect when no step is being spread.
        """
        if self._ramp_on:
            self._ramp_on = False
            K.set_target(self._S, self._X_RT_out)
            self._X[:] = self._X_RT_out  # the output stays exactly where it was sent

    def set_camera(self, X_RC) -> bool:
        """Update the camera pose in R; the mapping re-anchors so the tool does not jump.

        Returns False (and keeps the previous camera) when ``X_RC`` is not a finite rigid
        pose; the next step reports a ``camera_refused`` event. Never raises.
        """
        events: list[TeleopEvent] = []
        ok = self._update_camera(X_RC, self._event_time(None), events)
        self._pending.extend(events)
        return ok

    # ---- the step ----------------------------------------------------------------------
    def step(self, samples, now_s: float, X_RC=None) -> TeleopOutput:
        """Advance one loop tick at loop time ``now_s`` (s).

        Args:
            samples: every :class:`~haptics.master.MasterSample` that arrived since the
                last step, in arrival order (a sequence); one sample or None also work.
                Each goes through the tremor filter, the state machine and the limits in
                order; repeats of the last sample used (same ``seq``, or same
                ``time_s`` when not numbered) and samples older than it are skipped.
            now_s: the loop clock (s), on the devices' clock. NaN or running backwards
                holds.
            X_RC: the camera pose in R now (4x4), or None to keep the current one.

        Returns:
            The target after the last sample, the state and the events. Never raises:
            anything unusable makes the instrument hold still and says why.
        """
        try:
            return self._step(samples, now_s, X_RC)
        except Exception as exc:  # the last line of defence: the loop must survive anything
            return self._internal_error(now_s, exc)

    def _step(self, samples, now_s, X_RC) -> TeleopOutput:
        if (
            X_RC is None
            and self._state == FOLLOWING
            and not self._pending
            and type(samples) is tuple
            and len(samples) == 1
            and type(now_s) is float
        ):
            out = self._follow_one(samples[0], now_s)
            if out is not None:
                return out
        events = self._pending
        self._pending = []
        now = as_float(now_s)
        if events and math.isfinite(now):  # enable() before the first step had no time
            events = [e if math.isfinite(e.time_s) else replace(e, time_s=now) for e in events]
        clock_ok = False
        if not math.isfinite(now):
            self._fault(f"loop clock is {now_s!r}, not a finite time", self._last_now, events)
        elif now < self._last_now:
            back = self._last_now - now
            self._fault(f"loop clock ran backwards by {_fmt_ms(back)}", now, events)
            self._last_now = now  # adopt the new clock; resuming needs a clutch cycle
            if self._last_use_now is not None:
                self._last_use_now = now
        else:
            self._last_now = now
            clock_ok = True
        if X_RC is not None:
            self._update_camera(X_RC, now if clock_ok else self._last_now, events)
        used, filtered, used_t, used_seq = 0, None, math.nan, -1
        if clock_ok:
            batch = _as_batch(samples)
            stale = self._stale(batch, now) if batch else ""
            if stale:
                self._report_ignored_press(batch, stale, now, events)
                self._fault(stale, now, events)
            else:
                for sample in batch:
                    p = self._take(sample, now, events)
                    if p is not None:
                        used += 1
                        filtered = p
                        used_t, used_seq = self._last_t, self._last_seq
            if used:
                self._last_use_now = now
                self._align_error = K.align_error(self._S)
            elif (
                self._last_use_now is not None
                and now - self._last_use_now > self.config.gap_timeout_s
            ):
                self._fault(f"{NO_SAMPLE} {_fmt_ms(now - self._last_use_now)}", now, events)
        return self._output(now, events, filtered, used, used_t, used_seq)

    def _follow_one(self, sample, now: float) -> TeleopOutput | None:
        """The common step, following with one new well-formed sample and no camera
        change, without the general path's per-sample bookkeeping (a session step's
        budget is tens of microseconds). The same checks and the same arithmetic as
        :meth:`_step`; None, with nothing changed, for anything else (a repeat, an old,
        stale or future sample, a clutch press, a clock that is not moving forward, a
        pose that is not a plain rigid float64 4x4): the general path then judges it.
        """
        if type(sample) is not MasterSample or not now >= self._last_now:  # NaN: not >=
            return None
        t, X, g, seq = sample.time_s, sample.X_MH, sample.gripper_rad, sample.seq
        if (
            type(t) is not float
            or type(g) is not float
            or type(seq) is not int
            or sample.clutch is not False
            or type(X) is not np.ndarray
            or X.dtype != _F64
            or X.shape != (4, 4)
        ):
            return None
        flags = X.flags
        if not (flags.c_contiguous and flags.writeable):
            return None
        c = self.config
        if not (math.isfinite(t) and math.isfinite(g)):
            return None
        if (seq == self._last_seq) if seq >= 0 else (t == self._last_t):
            return None  # a repeat: the gap watchdog judges silence
        if t < self._last_t or now - t > c.max_sample_age_s or t > now + c.future_tolerance_s:
            return None
        if K.hand_status(X, self._S, HAND_RIGID_TOLERANCE, MAX_HAND_DISTANCE_M):
            return None  # S is only written for a usable pose
        # from here on the sample is taken, exactly as _step and _take take it
        self._last_now = now
        events: list[TeleopEvent] = []
        dt = self._count_sample(t, seq, now, events)
        try:
            p = self._filter.step(self._hand_p)
        except Exception as exc:
            p = self._filter_fault(f"raised {type(exc).__name__}", now, events)
        else:
            if not (type(p) is np.ndarray and p.shape == (3,) and p.dtype == _F64):
                p = self._filter_fault("returned a malformed result", now, events)
            elif not self._follow(p, g, dt, now, events):
                p = self._filter_fault("produced NaN/inf", now, events)
        if p is None:
            if (
                self._last_use_now is not None
                and now - self._last_use_now > self.config.gap_timeout_s
            ):
                self._fault(f"{NO_SAMPLE} {_fmt_ms(now - self._last_use_now)}", now, events)
            return self._output(now, events, None, 0, math.nan, -1)
        self._last_use_now = now
        self._align_error = K.align_error(self._S)
        return self._output(now, events, p, 1, t, seq)

    def _stale(self, batch, now: float) -> str:
        """The hold reason when the newest new sample of the batch is too old, else ''.

        Only the newest counts: after a slow step the older samples of a backlog are
        history the filter needs, not stale commands.
        """
        last = batch[-1]
        if not isinstance(last, MasterSample):
            return ""
        t, seq = as_float(last.time_s), last.seq
        numbered = isinstance(seq, (int, np.integer)) and seq >= 0
        if (seq == self._last_seq) if numbered else (t == self._last_t):
            return ""  # a repeat: the gap watchdog judges silence
        age = now - t
        if age > self.config.max_sample_age_s:
            return f"{STALE_SAMPLE} ({_fmt_ms(age)} old)"
        return ""

    def _report_ignored_press(self, batch, stale: str, now: float, events: list) -> None:
        """Say so when a held arm ignores a clutch press because its samples came stale.

        A held arm resumes after a fresh clutch press and release; a press whose samples
        reach the loop too late (a stall of the server or the network, longer than the
        sample age limit) is ignored with the rest of that batch, as stale input must be.
        The arm then stays held although the trainee did what resumes it: the event tells
        them to press again (once per hold, however long the press lasted).
        """
        if self._state != HOLDING or self._press_ignored or not _has_press(batch):
            return
        self._press_ignored = True
        events.append(
            TeleopEvent(
                now,
                "clutch_ignored",
                f"clutch press ignored while holding ({stale}); press and release it again",
                HOLDING,
            )
        )

    def _take(self, sample, now: float, events: list):
        """Check one sample, filter it and run the state machine on it; the filtered
        position (3,) when it was used, else None."""
        fields = _read(sample)
        if type(fields) is str:
            self._fault(f"invalid sample: {fields}", now, events)
            return None
        t, X, g, c, seq = fields
        if (seq == self._last_seq) if seq >= 0 else (t == self._last_t):
            return None  # the same sample again
        if not math.isfinite(t):
            self._fault(f"invalid sample: time_s is {t}", now, events)
            return None
        if t < self._last_t:
            return None  # older than one already used: out of order
        if t > now + self.config.future_tolerance_s:
            self._fault(f"sample stamped {_fmt_ms(t - now)} in the future", now, events)
            return None
        code = K.hand_status(X, self._S, HAND_RIGID_TOLERANCE, MAX_HAND_DISTANCE_M)
        if code:
            self._fault(f"invalid sample: {K.HAND_PROBLEMS[code]}", now, events)
            return None
        dt = self._count_sample(t, seq, now, events)
        # the tremor filter is trusted for nothing: its output must be a finite (3,) array
        # (finiteness is checked by follow() when following, the common case, else here)
        try:
            p = self._filter.step(self._hand_p)
        except Exception as exc:
            return self._filter_fault(f"raised {type(exc).__name__}", now, events)
        if not (type(p) is np.ndarray and p.shape == (3,) and p.dtype == _F64):
            return self._filter_fault("returned a malformed result", now, events)
        if self._state != FOLLOWING and not K.all_finite3(p):
            return self._filter_fault("produced NaN/inf", now, events)
        if self._advance(p, g, c, dt, now, events):
            return p
        return self._filter_fault("produced NaN/inf", now, events)

    def _count_sample(self, t: float, seq: int, now: float, events: list) -> float:
        """The bookkeeping of a sample being taken, the one copy for the fast path and the
        general one (they had each written it, and differed already in where the filter
        re-make was checked): its interval since the last (s, capped at
        ``max_sample_interval_s``), the rate meter, a filter re-made for a newly
        measured rate."""
        dt = t - self._last_t if self._last_t > -math.inf else 0.0
        dt = min(dt, self.config.max_sample_interval_s)
        self._last_t, self._last_seq = t, seq
        measured = self._rate_meter.count(t)
        if measured is not None:
            self._note_rate(measured)
            if self._rate_wanted is not None:
                self._remake_filter(now, events)
        return dt

    def _note_rate(self, measured_hz: float) -> None:
        """A rate measured from the samples: re-make the filter when it was designed for
        a rate further than :data:`RATE_TOLERANCE` from it (the pass-through filter has
        no rate). The same rate sets how a slow device's steps are spread."""
        loop = self.config.loop_rate_hz
        period = 1.0 / measured_hz
        spread = loop is not None and period * loop > R.SPREAD_MIN_LOOP_PERIODS
        self._spread_s = period if spread else 0.0
        designed = self._filter_rate_hz
        if self.config.tremor_filter == "none" or abs(measured_hz - designed) <= (
            RATE_TOLERANCE * designed
        ):
            self._rate_wanted = None
        else:
            self._rate_wanted = measured_hz

    def _remake_filter(self, now: float, events: list) -> None:
        """The tremor filter designed afresh for the measured sample rate; it starts with
        the sample being taken. A rate too low to see 6-16 Hz tremor leaves the hand
        unfiltered.

        While following too: the rate is known only after two windows of samples (1 s at
        125 Hz), and a device's first clutch press comes sooner, so waiting for the next
        press or hold left a 125 Hz device on the 1 kHz design for as long as the trainee
        did not clutch again (its 10 Hz tremor passed at 0.98 mm where the right design
        leaves 0.12 mm). The new filter's first output is not the old one's (the old
        removed tremor the new one has not seen yet), so the mapping is re-anchored at
        that sample, as at a clutch release: the tool does not move."""
        rate, self._rate_wanted = self._rate_wanted, None
        c = self.config
        before = self._filter_rate_hz
        try:
            self._filter = make_filter(c.tremor_filter, rate, **c.tremor_params)
            detail = f"tremor filter re-made for the device's {rate:.0f} Hz (was {before:.0f} Hz)"
        except HapticsError as exc:
            self._filter = make_filter("none", rate)
            detail = (
                f"the device samples at {rate:.0f} Hz, too slow for the tremor filter "
                f"({exc}): the hand goes unfiltered"
            )
        self._filter_rate_hz = rate
        if self._state == FOLLOWING:
            self.stop_ramp()  # the tool stays where it was last sent
            self._recapture = True
            detail += "; the hand re-anchored where it is, the tool stays"
        events.append(TeleopEvent(now, "filter_rate", detail, self._state))

    def _filter_fault(self, problem: str, now: float, events: list) -> None:
        detail = getattr(self._filter, "last_fault", "")  # a Python filter says what failed
        if detail:
            problem = f"faulted: {detail}"  # its NaN is the guard's, the fault is this
        try:
            self._filter.reset()
        except Exception:
            problem += " and could not be reset"
        events.append(TeleopEvent(now, "filter_reset", f"tremor filter {problem}", self._state))
        self._fault(f"tremor filter {problem}", now, events)

    def _advance(self, p, gripper: float, clutch: bool, dt: float, now: float, events) -> bool:
        """The state machine, for one good sample with filtered position ``p``; False when
        ``p`` turned out NaN/inf."""
        state = self._state
        if state == FOLLOWING:
            if not clutch:
                return self._follow(p, gripper, dt, now, events)
            if not K.all_finite3(p):
                return False
            self._limits = 0
            self._set_state(CLUTCHED, "clutch pressed", now, events)
            return True
        if state == DISABLED:
            return True
        if state == HOLDING:
            if clutch:
                self._press_seen = True
                return True
            if not self._press_seen:
                return True
            self._press_seen = False
            self._hold_reason = ""
            self._set_state(ALIGNING, "clutch pressed and released after the hold", now, events)
            state = ALIGNING
        if clutch:
            if state == ALIGNING:
                self._set_state(CLUTCHED, "clutch pressed", now, events)
            return True
        error = K.align_error(self._S)
        if error <= self._tolerance:
            K.capture(self._S, p)
            self._rebase = False
            self._set_state(FOLLOWING, self._engaged_detail(error), now, events)
            return self._follow(p, gripper, dt, now, events)
        if state == CLUTCHED:
            self._set_state(
                ALIGNING,
                f"clutch released with the hand {math.degrees(error):.1f}° from the tool "
                f"(tolerance {math.degrees(self._tolerance):.1f}°)",
                now,
                events,
            )
        return True

    def _engaged_detail(self, error: float) -> str:
        """What the FOLLOWING event says about the alignment gate that let it through.

        With the gate on, the angle it judged (within the tolerance, by definition). With
        the gate off (``align_tolerance_rad=None``: in-process synthetic operators, whose
        hands start at the identity) nothing was judged: the relative mapping is captured
        from the hand as it is, so its angle to the tool is said as an offset, not as an
        alignment (a report read "aligned within 128.5°" before).
        """
        angle = math.degrees(error)
        if math.isinf(self._tolerance):
            return (
                f"following at once, no alignment gate: the hand's {angle:.1f}° from the tool "
                "is kept as an offset"
            )
        return (
            f"hand aligned with the tool: {angle:.1f}° apart, within the "
            f"{math.degrees(self._tolerance):.1f}° gate"
        )

    def _follow(self, p, gripper: float, dt: float, now: float, events: list) -> bool:
        if self._recapture:  # a new filter's first output: it anchors the hand afresh
            self._recapture = False
            if not K.all_finite3(p):
                return False
            K.capture(self._S, p)
            self._rebase = False
        if self._rebase:
            K.rebase(self._S)
            self._rebase = False
        spread = self._spread_s
        if spread:  # the ramp leaves from where the output is now
            R.ramp_mark(self._ramp, self._S, now, self._ramp_on)
        flags = K.follow(self._S, self._P, p, dt)
        if flags & K.FILTER_BAD:
            return False
        if flags & K.NONFINITE:
            self._fault("mapped target is not finite (hand or camera out of range)", now, events)
            return True
        if spread:
            R.ramp_aim(self._ramp, self._S, self._P, now, spread)
            self._ramp_on = True
        elif self._ramp_on:  # the device became fast: the target steps at once again
            self._ramp_on = False
        if flags != self._limits:
            self._note_limits(flags, now, events)
        c = self.config
        share = min(max(gripper / c.gripper_max_rad, 0.0), 1.0)
        change = c.jaw_closed_rad + share * self._jaw_span - self._jaw
        most = c.max_jaw_rate_rad_s * dt
        self._jaw += min(max(change, -most), most)
        return True

    def _note_limits(self, flags: int, now: float, events: list) -> None:
        """A limit that starts to act is reported, unless it stopped acting less than
        :data:`LIMIT_REARM_S` ago (the same entry, chattering); one that stops acting
        starts its re-arm time."""
        off_since = self._limit_off_s
        for i, (bit, kind) in enumerate(_LIMIT_KINDS):
            if flags & bit and not self._limits & bit:
                if not now - off_since[i] < LIMIT_REARM_S:
                    events.append(TeleopEvent(now, kind, "limit reached", FOLLOWING))
            elif self._limits & bit and not flags & bit:
                off_since[i] = now
        self._limits = flags

    # ---- faults, states, camera ------------------------------------------------------------
    def _fault(self, reason: str, now: float, events: list) -> None:
        """The watchdog's answer to anything doubtful: hold until a fresh clutch cycle."""
        self._press_seen = False
        self._rate_meter.restart()  # a window across a gap would measure the gap
        if self._state in (DISABLED, HOLDING):
            return
        self._hold_reason = reason
        self._limits = 0
        with contextlib.suppress(Exception):  # the next sample through it is checked anyway
            self._filter.reset()
        self._set_state(HOLDING, reason, now, events)

    def _set_state(self, state: str, detail: str, now: float, events: list) -> None:
        if state != FOLLOWING:
            self.stop_ramp()  # a hold, a clutch or a disable stops a spread step at once
        self._state = state
        self._press_ignored = False
        events.append(TeleopEvent(now, state.lower(), detail, state))

    def _event_time(self, now_s) -> float:
        now = as_float(now_s)
        if math.isfinite(now):
            return now
        return self._last_now if self._last_now > -math.inf else math.nan

    def _update_camera(self, X_RC, now: float, events: list) -> bool:
        X = _as_matrix(X_RC)
        status = (
            K.CAMERA_BAD if X is None else K.camera_status(X, self._X_RC_in, HAND_RIGID_TOLERANCE)
        )
        if status == K.CAMERA_SAME:
            self._camera_refused = False
            return True
        if status == K.CAMERA_BAD:
            if not self._camera_refused:
                self._camera_refused = True
                events.append(
                    TeleopEvent(
                        now,
                        "camera_refused",
                        "camera pose X_RC is not a finite rigid 4x4 transform; "
                        "kept the previous one",
                        self._state,
                    )
                )
            return False
        self._camera_refused = False
        self._accept_camera(X, K.rigid_copy(X))
        if self._state == FOLLOWING:
            self._rebase = True
        return True

    def _accept_camera(self, X_in: np.ndarray, X_rigid: np.ndarray) -> None:
        self._X_RC_in = X_in.copy()
        X_rigid.setflags(write=False)
        self._X_RC = X_rigid
        K.set_camera(self._S, X_rigid, self._R_CM)

    # ---- output --------------------------------------------------------------------------
    def _output(self, now, events, filtered, used, used_t, used_seq) -> TeleopOutput:
        state = self._state
        wall = _ZERO3
        if state == FOLLOWING and self._limits & K.WALL:
            wall = self._S[K.WALL_M : K.WALL_M + 3].copy()
            wall.setflags(write=False)
        if self._ramp_on:
            X_RT = np.empty((4, 4))
            if R.ramp_pose(self._ramp, now, X_RT):  # arrived: the target itself, exactly
                self._ramp_on = False
                X_RT = self._X.copy()
        else:
            X_RT = self._X.copy()
        self._X_RT_out = X_RT
        return TeleopOutput(
            now,
            X_RT,
            self._jaw,
            state,
            state == FOLLOWING,
            state == HOLDING,
            self._hold_reason if state == HOLDING else "",
            tuple(events),
            filtered,
            used,
            used_t,
            used_seq,
            self._align_error,
            wall,
            self._X_RC,
        )

    def _internal_error(self, now_s, exc: Exception) -> TeleopOutput:
        """Hold and report a bug instead of letting it stop the loop."""
        now = as_float(now_s)
        reason = f"internal error: {type(exc).__name__}: {exc}"
        events = [TeleopEvent(now, "internal_error", reason, self._state)]
        try:
            self._fault(reason, now, events)
            return self._output(now, events, None, 0, math.nan, -1)
        except Exception:
            self._state = HOLDING
            self._hold_reason = reason
            return TeleopOutput(
                now, self._X_RT_out.copy(), self._jaw, HOLDING, False, True, reason,
                (TeleopEvent(now, "holding", reason, HOLDING),), None, 0, math.nan, -1,
                math.nan, _ZERO3, self._X_RC,
            )  # fmt: skip
