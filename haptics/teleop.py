"""Teleoperation: from the surgeon's hand on the master to a tool-tip target, one step per sample.

Per step (1 kHz): watchdog -> tremor filter -> clutch -> camera-frame alignment -> motion
scaling -> workspace limit -> tool-tip speed limit -> jaw mapping. Output: the tool-tip
target ``X_RT`` in the arm's remote-centre-of-motion frame ``R`` and a jaw angle, plus
events. The pipeline never emits NaN: anything doubtful makes the instrument hold still.

Mapping. Motion is relative to references captured when the clutch is released: the
handle's displacement since then, expressed in the master frame ``M`` (aligned with the
viewer, i.e. the camera frame ``C``), is rotated into ``R`` through the camera pose
``X_RC`` and scaled. Moving the hand right therefore moves the instrument right in the
endoscope image whatever the camera pose. Orientation changes map the same way (scaled
by ``rotation_scale``, 1:1 by default). When the camera pose changes, references are
re-captured (the dVRK likewise suspends teleoperation while the endoscope moves), so a
camera move never makes the instrument jump.

Limits. The workspace limit clamps the target to a box in ``R`` without losing the
mapping (the tool waits at the boundary until the hand comes back). The speed limit
rate-limits the target: a jump of the hand becomes a motion at the limit speed.

Watchdog. A NaN/inf or non-rigid sample, a sample older than ``max_sample_age_s`` or
stamped in the future, or no new sample for ``gap_timeout_s`` makes the instrument hold
still and reports why; motion resumes only after a fresh clutch (press, then release).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from haptics.errors import HapticsError
from haptics.master import MasterSample
from haptics.tremor import make_filter
from kinematics.transforms import axis_angle, axis_rotation


@dataclass(frozen=True)
class TeleopConfig:
    """Settings of the pipeline (SI units).

    Attributes:
        translation_scale: tool displacement per hand displacement (0.2 on the dVRK).
        rotation_scale: tool rotation per hand rotation (1.0 = unscaled).
        tremor_filter: name for :func:`haptics.tremor.make_filter` ("none" disables).
        tremor_params: parameters of that filter.
        rate_hz: nominal sample rate (Hz), for the filter design.
        workspace_lower_m, workspace_upper_m: corners of the allowed tool-tip box in R.
        max_tip_speed_m_s: tool-tip speed limit (m/s).
        max_sample_age_s: samples older than this (now - time_s) are stale.
        gap_timeout_s: without a new sample for this long, hold.
        future_tolerance_s: samples stamped further ahead than this are refused.
        gripper_max_rad: gripper angle that maps to a fully open jaw (60° on the dVRK MTM).
        jaw_closed_rad, jaw_open_rad: jaw angles at gripper 0 and at ``gripper_max_rad``.
        R_CM: rotation from the master frame to the camera frame (identity when the
            console is aligned with the viewer, as it is by construction).
    """

    translation_scale: float = 0.2
    rotation_scale: float = 1.0
    tremor_filter: str = "default"
    tremor_params: dict = field(default_factory=dict)
    rate_hz: float = 1000.0
    workspace_lower_m: tuple[float, float, float] = (-0.12, -0.12, -0.25)
    workspace_upper_m: tuple[float, float, float] = (0.12, 0.12, -0.02)
    max_tip_speed_m_s: float = 0.2
    max_sample_age_s: float = 0.03
    gap_timeout_s: float = 0.05
    future_tolerance_s: float = 0.005
    gripper_max_rad: float = math.radians(60.0)
    jaw_closed_rad: float = -0.35
    jaw_open_rad: float = 1.39626
    R_CM: tuple = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))

    def __post_init__(self) -> None:
        positive = {
            "translation_scale": self.translation_scale,
            "rotation_scale": self.rotation_scale,
            "rate_hz": self.rate_hz,
            "max_tip_speed_m_s": self.max_tip_speed_m_s,
            "max_sample_age_s": self.max_sample_age_s,
            "gap_timeout_s": self.gap_timeout_s,
            "gripper_max_rad": self.gripper_max_rad,
        }
        for name, value in positive.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise HapticsError(f"TeleopConfig.{name} must be a positive number, got {value!r}.")
        lo, hi = np.asarray(self.workspace_lower_m), np.asarray(self.workspace_upper_m)
        if lo.shape != (3,) or hi.shape != (3,) or not np.all(lo < hi):
            raise HapticsError(
                "TeleopConfig.workspace_lower_m must be below workspace_upper_m on every axis, "
                f"got {self.workspace_lower_m} and {self.workspace_upper_m}."
            )


@dataclass(frozen=True)
class TeleopEvent:
    """Something the trainee, the scorer or the log should know about.

    ``kind``: ``engaged``, ``disengaged`` (clutch pressed), ``hold`` (watchdog; ``detail``
    says why), ``workspace_limit``, ``speed_limit``.
    """

    time_s: float
    kind: str
    detail: str = ""


@dataclass(frozen=True)
class TeleopOutput:
    """Result of one step: where the tool tip should be and what happened.

    Attributes:
        time_s: loop time of the step (s).
        X_RT: 4x4 tool-tip target in the RCM frame (m); never NaN.
        jaw_rad: jaw angle target (rad).
        engaged: the instrument follows the hand.
        holding: the watchdog froze the instrument; ``hold_reason`` says why.
        events: events raised during this step.
        master_filtered_m: tremor-filtered handle position in M (m), or None when held.
    """

    time_s: float
    X_RT: np.ndarray
    jaw_rad: float
    engaged: bool
    holding: bool
    hold_reason: str
    events: tuple[TeleopEvent, ...]
    master_filtered_m: np.ndarray | None


def _scaled_rotation(R: np.ndarray, scale: float) -> np.ndarray:
    """R^scale through the axis-angle form (scale 1 returns R)."""
    if scale == 1.0:
        return R
    axis, angle = axis_angle(R)
    if angle < 1e-12:
        return np.eye(3)
    return axis_rotation(axis, angle * scale)


class Teleoperation:
    """The master-to-instrument pipeline for one arm.

    Args:
        config: the settings.
        X_RT_start: the instrument's current tool-tip pose in R (the target starts here).
        X_RC: the camera pose in this arm's RCM frame (m).
    """

    def __init__(self, config: TeleopConfig, X_RT_start, X_RC) -> None:
        self.config = config
        self._filter = make_filter(config.tremor_filter, config.rate_hz, **config.tremor_params)
        self._R_CM = np.asarray(config.R_CM, dtype=float)
        self._lower = np.asarray(config.workspace_lower_m, dtype=float)
        self._upper = np.asarray(config.workspace_upper_m, dtype=float)
        self._target = self._checked_pose(X_RT_start, "X_RT_start").copy()
        self._X_RC = self._checked_pose(X_RC, "X_RC").copy()
        self._goal_p = self._target[:3, 3].copy()  # unlimited goal the rate limiter chases
        self._jaw = config.jaw_closed_rad
        self._engaged = False
        self._holding = False
        self._hold_reason = ""
        self._clutch_seen_since_hold = False
        self._last_sample_time = -math.inf
        self._last_step_time = -math.inf
        self._last_new_sample_at = None
        self._ref_master: tuple[np.ndarray, np.ndarray] | None = None
        self._ref_tool: tuple[np.ndarray, np.ndarray] | None = None
        self._limits_active: set[str] = set()

    @staticmethod
    def _checked_pose(X, what: str) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.shape != (4, 4) or not np.isfinite(X).all():
            raise HapticsError(f"{what} must be a finite 4x4 pose, got {X!r}.")
        return X

    # ---- state -------------------------------------------------------------------------
    @property
    def engaged(self) -> bool:
        """True while the instrument follows the hand."""
        return self._engaged

    @property
    def X_RT(self) -> np.ndarray:
        """The current tool-tip target in the RCM frame (4x4, m; a copy)."""
        return self._target.copy()

    @property
    def X_RC(self) -> np.ndarray:
        """The camera pose in R that hand motion is mapped through now (4x4, m; a copy).

        For an instrument it follows the endoscope (see :meth:`set_camera`); the scope's
        own pipeline keeps the view it started with, so a caller that turns a wanted tool
        motion into a hand motion must map through this frame, not the live camera.
        """
        return self._X_RC.copy()

    @property
    def holding(self) -> bool:
        """True while the watchdog holds the instrument."""
        return self._holding

    def set_camera(self, X_RC) -> None:
        """Update the camera pose in R; the mapping re-anchors so the tool does not jump."""
        X = self._checked_pose(X_RC, "X_RC")
        if not np.array_equal(X, self._X_RC):
            self._X_RC = X.copy()
            self._ref_master = None  # re-captured at the next sample

    def release_to(self, X_RT) -> None:
        """Another source (a controller's ``servo_cp``) moved the instrument: disengage, and
        continue from ``X_RT`` (4x4 in R) when the master takes over again (after a fresh
        clutch release), so the tool does not jump back to where the hand left it."""
        X = self._checked_pose(X_RT, "X_RT")
        self._target = X.copy()
        self._goal_p = X[:3, 3].copy()
        self._engaged = False
        self._ref_master = None

    # ---- the step ----------------------------------------------------------------------
    def step(self, sample: MasterSample | None, now_s: float, X_RC=None) -> TeleopOutput:
        """Advance one tick at loop time ``now_s`` with the latest ``sample`` (or None)."""
        events: list[TeleopEvent] = []
        if X_RC is not None:
            self.set_camera(X_RC)
        fresh = sample is not None and sample.time_s != self._last_sample_time
        reason = self._watchdog(sample, now_s)
        filtered = None
        if reason:
            self._enter_hold(now_s, reason, events)
        elif fresh:
            filtered = self._filter.step(np.asarray(sample.X_MH, dtype=float)[:3, 3])
            self._last_sample_time = sample.time_s
            self._clutch(sample, filtered, now_s, events)
            if self._engaged:
                self._follow(sample, filtered, now_s, events)
        self._last_step_time = now_s
        return TeleopOutput(
            now_s,
            self._target.copy(),
            self._jaw,
            self._engaged,
            self._holding,
            self._hold_reason,
            tuple(events),
            filtered,
        )

    def _watchdog(self, sample: MasterSample | None, now_s: float) -> str:
        c = self.config
        if sample is None or sample.time_s == self._last_sample_time:
            if (
                self._last_new_sample_at is not None
                and now_s - self._last_new_sample_at > c.gap_timeout_s
            ):
                return f"no sample for {1000 * (now_s - self._last_new_sample_at):.0f} ms"
            return "no sample yet" if self._last_new_sample_at is None else ""
        problem = sample.problem()
        if problem:
            return f"invalid sample: {problem}"
        if sample.time_s > now_s + c.future_tolerance_s:
            return f"sample stamped {1000 * (sample.time_s - now_s):.1f} ms in the future"
        if now_s - sample.time_s > c.max_sample_age_s:
            return f"stale sample ({1000 * (now_s - sample.time_s):.0f} ms old)"
        self._last_new_sample_at = now_s
        if self._holding:
            # resume only after a fresh clutch cycle with good samples
            if sample.clutch:
                self._clutch_seen_since_hold = True
                return ""
            if not self._clutch_seen_since_hold:
                return self._hold_reason
            self._holding = False
            self._hold_reason = ""
            self._filter.reset()
        return ""

    def _enter_hold(self, now_s: float, reason: str, events: list) -> None:
        if reason == "no sample yet":
            return  # nothing to hold yet: the target stays where the arm is
        if not self._holding:
            events.append(TeleopEvent(now_s, "hold", reason))
        self._holding = True
        self._hold_reason = reason
        self._clutch_seen_since_hold = False
        if self._engaged:
            self._engaged = False
        self._goal_p = self._target[:3, 3].copy()

    def _clutch(self, sample: MasterSample, filtered: np.ndarray, now_s: float, events) -> None:
        if self._holding:
            return
        if sample.clutch and self._engaged:
            self._engaged = False
            self._goal_p = self._target[:3, 3].copy()
            events.append(TeleopEvent(now_s, "disengaged", "clutch pressed"))
        elif not sample.clutch and not self._engaged:
            self._engaged = True
            self._ref_master = None
            events.append(TeleopEvent(now_s, "engaged", "clutch released"))

    def _capture(self, sample: MasterSample, filtered: np.ndarray) -> None:
        R_MH = np.asarray(sample.X_MH, dtype=float)[:3, :3]
        self._ref_master = (filtered.copy(), R_MH.copy())
        self._ref_tool = (self._target[:3, 3].copy(), self._target[:3, :3].copy())
        self._goal_p = self._target[:3, 3].copy()

    def _follow(self, sample: MasterSample, filtered: np.ndarray, now_s: float, events) -> None:
        c = self.config
        if self._ref_master is None:
            self._capture(sample, filtered)
        p_ref_M, R_ref_MH = self._ref_master
        p_ref_R, R_ref_RT = self._ref_tool
        R_RM = self._X_RC[:3, :3] @ self._R_CM
        # position: scaled hand displacement, master frame -> camera -> RCM
        goal = p_ref_R + c.translation_scale * (R_RM @ (filtered - p_ref_M))
        clamped = np.clip(goal, self._lower, self._upper)
        self._limit_event("workspace_limit", not np.array_equal(clamped, goal), now_s, events)
        self._goal_p = clamped
        # speed: rate-limit the target towards the goal
        step = self._goal_p - self._target[:3, 3]
        max_step = c.max_tip_speed_m_s / c.rate_hz
        distance = float(np.linalg.norm(step))
        limited = distance > max_step
        if limited:
            step *= max_step / distance
        self._limit_event("speed_limit", limited, now_s, events)
        # orientation: the hand's rotation since the reference, expressed in R
        R_MH = np.asarray(sample.X_MH, dtype=float)[:3, :3]
        delta_M = _scaled_rotation(R_MH @ R_ref_MH.T, c.rotation_scale)
        target = self._target.copy()
        target[:3, 3] = self._target[:3, 3] + step
        target[:3, :3] = R_RM @ delta_M @ R_RM.T @ R_ref_RT
        if np.isfinite(target).all():
            self._target = target
        g = min(max(sample.gripper_rad / c.gripper_max_rad, 0.0), 1.0)
        self._jaw = c.jaw_closed_rad + g * (c.jaw_open_rad - c.jaw_closed_rad)

    def _limit_event(self, kind: str, active: bool, now_s: float, events: list) -> None:
        if active and kind not in self._limits_active:
            self._limits_active.add(kind)
            events.append(TeleopEvent(now_s, kind, "limit reached"))
        elif not active:
            self._limits_active.discard(kind)
