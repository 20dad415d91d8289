"""Settings of the teleoperation pipeline, in SI units, checked when built."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from haptics.errors import HapticsError
from haptics.numbers import is_finite_real, is_real
from kinematics.transforms import is_rotation

#: dVRK ``TeleOperationPSM::JawRate``: 2π rad/s (360°/s), the cap the dVRK puts on the jaw
#: while it follows the gripper (sawIntuitiveResearchKit, mtsIntuitiveResearchKit.h).
DVRK_JAW_RATE_RAD_S = 2.0 * math.pi


@dataclass(frozen=True)
class TeleopConfig:
    """Settings of the pipeline (SI units).

    Attributes:
        translation_scale: tool displacement per hand displacement (0.2 on the dVRK).
        rotation_scale: tool rotation per hand rotation (1.0 = unscaled, as on the dVRK;
            with another value the hand cannot stay aligned with the tool, so set
            ``align_tolerance_rad=None``).
        tremor_filter: name for :func:`haptics.tremor.make_filter` ("none" disables), or
            your own filter's factory as ``"package.module:make"`` (called with
            ``rate_hz`` and ``tremor_params`` as keywords; see
            :mod:`haptics.tremor.python_filter`). A name, so the configuration pickles.
        tremor_params: parameters of that filter.
        rate_hz: the device's sample rate (Hz): the filter is designed for it, and every
            sample is pushed through it. The pipeline measures the real rate from the
            samples' stamps and re-makes the filter when it is more than 20% off
            (:mod:`haptics.teleop.rate`), so this is where it starts, not a promise.
        workspace_lower_m, workspace_upper_m: corners of the allowed tool-tip box in R (m).
        max_tip_speed_m_s: tool-tip speed limit (m/s), counted in sample time.
        max_tip_angular_speed_rad_s: limit on how fast the tool's orientation target
            turns (rad/s), counted in sample time. Its job is catching up after a glitch
            or a jump, not slowing normal work, so it sits above what a wrist does in
            quick normal motion. Default 4π rad/s (720°/s, two turns a second): no
            published figure for a surgeon's peak handle angular speed was at hand; a
            minimum-jerk quarter turn of the wrist in 0.25 s, a quick reorientation,
            peaks at 1.875·(π/2)/0.25 ≈ 11.8 rad/s, just under it (the project's
            synthetic expert peaks at 9.4 rad/s in peg transfer; the dVRK's cap for the
            jaw, half this, slowed it). A sample that turns the hand 178° at once (a
            glitch) now turns the tool's target over a quarter of a second; the tool
            follows as fast as its wrist joints can (~0.5 s for 95° on the PSM).
        max_jaw_rate_rad_s: how fast the jaw follows the gripper (rad/s); also what keeps
            the jaw from snapping to the gripper when following starts. Default the
            dVRK's ``JawRate``, 2π rad/s.
        max_sample_age_s: a step whose newest sample is older than this (now - time_s)
            holds: the device's data is stale.
        gap_timeout_s: without a new sample for this long (loop clock), hold. 100 ms
            by default for a live device; a headless session may set its own.
        future_tolerance_s: samples stamped further ahead of the loop clock than this hold.
        max_sample_interval_s: two samples further apart than this count as this far
            apart for the speed limits, so the first sample after a pause cannot make
            the target leap (m/s x a long interval).
        limit_carry_s: the speed limits are counted over sample time, and what a sample
            leaves unused of its own (``max_tip_speed_m_s`` x its interval) carries over
            to the next ones, up to this much time's worth (10 ms: 2 mm at 0.2 m/s).
            The tremor filter moves its output by about the same step every sample, so a
            device whose stamps jitter (a late sample, then one right after it) made a
            normal step look far too fast; over any span T the tip still moves at most
            ``max_tip_speed_m_s`` x (T + this), so fast motion is limited as before.
        align_tolerance_rad: the hand's orientation seen through the camera must be
            within this angle of the tool's before following starts (10° by default;
            the dVRK uses 5° with a motorised wrist that aligns the hand for the user).
            None or ``math.inf`` disables the gate.
        start_enabled: start in ALIGNING instead of DISABLED (no :meth:`enable` call).
        gripper_max_rad: gripper angle that maps to a fully open jaw (60° on the dVRK MTM).
        jaw_closed_rad, jaw_open_rad: jaw angles at gripper 0 and at ``gripper_max_rad``.
        R_CM: rotation from the master frame to the camera frame (identity when the
            console is aligned with the viewer, as it is by construction).
        loop_rate_hz: how often the target is applied (Hz): the physics rate, which the
            session sets. A device whose measured sample period is more than 1.5 loop
            periods has each step of its target spread over that period (first-order
            hold, :mod:`haptics.teleop.ramp`) instead of jumping once per sample; None
            (a pipeline on its own) never spreads.
    """

    translation_scale: float = 0.2
    rotation_scale: float = 1.0
    tremor_filter: str = "default"
    tremor_params: dict = field(default_factory=dict)
    rate_hz: float = 1000.0
    workspace_lower_m: tuple[float, float, float] = (-0.12, -0.12, -0.25)
    workspace_upper_m: tuple[float, float, float] = (0.12, 0.12, -0.02)
    max_tip_speed_m_s: float = 0.2
    max_tip_angular_speed_rad_s: float = 4.0 * math.pi
    max_jaw_rate_rad_s: float = DVRK_JAW_RATE_RAD_S
    max_sample_age_s: float = 0.03
    gap_timeout_s: float = 0.1
    future_tolerance_s: float = 0.005
    max_sample_interval_s: float = 0.02
    limit_carry_s: float = 0.01
    align_tolerance_rad: float | None = math.radians(10.0)
    start_enabled: bool = False
    gripper_max_rad: float = math.radians(60.0)
    jaw_closed_rad: float = -0.35
    jaw_open_rad: float = 1.39626
    R_CM: tuple = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    loop_rate_hz: float | None = None

    def __post_init__(self) -> None:
        positive = {
            "translation_scale": (self.translation_scale, ""),
            "rotation_scale": (self.rotation_scale, ""),
            "rate_hz": (self.rate_hz, "Hz"),
            "max_tip_speed_m_s": (self.max_tip_speed_m_s, "m/s"),
            "max_tip_angular_speed_rad_s": (self.max_tip_angular_speed_rad_s, "rad/s"),
            "max_jaw_rate_rad_s": (self.max_jaw_rate_rad_s, "rad/s"),
            "max_sample_age_s": (self.max_sample_age_s, "s"),
            "gap_timeout_s": (self.gap_timeout_s, "s"),
            "max_sample_interval_s": (self.max_sample_interval_s, "s"),
            "limit_carry_s": (self.limit_carry_s, "s"),
            "gripper_max_rad": (self.gripper_max_rad, "rad"),
        }
        for name, (value, unit) in positive.items():
            if not (is_finite_real(value) and value > 0):
                unit = f" ({unit})" if unit else ""
                raise HapticsError(
                    f"TeleopConfig.{name} must be a positive finite number{unit}, got {value!r}."
                )
        for name in ("future_tolerance_s", "jaw_closed_rad", "jaw_open_rad"):
            value = getattr(self, name)
            if not (is_finite_real(value)):
                raise HapticsError(f"TeleopConfig.{name} must be a finite number, got {value!r}.")
        if self.future_tolerance_s < 0:
            raise HapticsError(
                f"TeleopConfig.future_tolerance_s must be >= 0 s, got {self.future_tolerance_s}."
            )
        loop = self.loop_rate_hz
        if loop is not None and not (is_finite_real(loop) and loop > 0):
            raise HapticsError(
                "TeleopConfig.loop_rate_hz must be a positive finite number (Hz), or None "
                f"to never spread a slow device's samples; got {loop!r}."
            )
        tol = self.align_tolerance_rad
        if tol is not None and not (is_real(tol) and tol > 0 and not math.isnan(tol)):
            raise HapticsError(
                "TeleopConfig.align_tolerance_rad must be a positive angle in radians, or None "
                f"(or math.inf) to follow without waiting for alignment; got {tol!r}."
            )
        lo, hi = np.asarray(self.workspace_lower_m), np.asarray(self.workspace_upper_m)
        if lo.shape != (3,) or hi.shape != (3,) or not np.all(lo < hi):
            raise HapticsError(
                "TeleopConfig.workspace_lower_m must be below workspace_upper_m on every axis, "
                f"got {self.workspace_lower_m} and {self.workspace_upper_m}."
            )
        R = np.asarray(self.R_CM, dtype=float)
        if not is_rotation(R, 1e-6):
            raise HapticsError(
                f"TeleopConfig.R_CM must be a 3x3 rotation matrix (orthonormal, det +1), got {R!r}."
            )

    @property
    def align_gate_rad(self) -> float:
        """The alignment tolerance as a number (``math.inf`` when the gate is off)."""
        return math.inf if self.align_tolerance_rad is None else float(self.align_tolerance_rad)
