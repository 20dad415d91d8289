"""Teleoperation: from the surgeon's hand on the master to a tool-tip target, sample by sample.

``Teleoperation.step(samples, now_s, X_RC)`` runs once per loop tick with every
:class:`~haptics.master.MasterSample` that arrived since the last tick, in order. Each
sample goes, at the device's rate, through:

1. the watchdog: a malformed sample (wrong type or shape, NaN/inf, a pose that is not
   rigid within 1e-4, a handle over 10 m away), one stamped in the future, a step whose
   newest sample is stale, a loop clock that is NaN or runs backwards, or silence for
   ``gap_timeout_s`` (100 ms) makes the instrument hold (state HOLDING). Repeats of the
   last sample and samples older than it are skipped;
2. the tremor filter (position, designed for ``rate_hz``), which is not trusted: a
   NaN/inf or malformed output resets it and holds;
3. the state machine (below) with the clutch;
4. camera-frame mapping: the hand's displacement since the reference, in the master
   frame ``M`` (aligned with the viewer), is rotated into the arm's RCM frame ``R``
   through ``R_RM = R_RC @ R_CM`` and scaled by ``translation_scale``; the hand's
   rotation since the reference is conjugated the same way (``rotation_scale``, 1:1);
5. the workspace box in R (the target waits at the wall; the mapping is kept);
6. rate limits counted in sample time: the position moves at most
   ``max_tip_speed_m_s * dt`` and the orientation turns at most
   ``max_tip_angular_speed_rad_s * dt`` towards the goal, ``dt`` being the time between
   the sample stamps (at most ``max_sample_interval_s``), plus what earlier samples left
   unused, up to ``limit_carry_s`` worth (stamp jitter is no speed);
7. the jaw follows the gripper at no more than ``max_jaw_rate_rad_s``;
8. a device measured to sample more than 1.5 loop periods apart (``loop_rate_hz``, which
   a session sets to its physics rate: a 125 Hz VR controller) has each followed step
   spread over its sample period, position linearly and rotation by slerp, instead of
   taken at once (:mod:`haptics.teleop.ramp`): the tool moves every physics step, one
   sample period behind. Anything that stops following stops the ramp where it is.

The output is the target ``X_RT`` (4x4, m) after the last sample (for a spread device,
where its ramp is at ``now_s``): always finite and rigid
to machine precision (rotations are renormalised unit quaternions, xyzw), plus the jaw,
the state, events, how many samples were used and which was the last. ``step`` never
raises: whatever comes in, the worst outcome is an instrument that holds still and says
why.

Operating states (dVRK-like; :data:`STATES`):

- ``DISABLED``: not enabled yet, or disabled on request (:meth:`Teleoperation.disable`).
  ``TeleopConfig.start_enabled`` starts in ALIGNING instead.
- ``ALIGNING``: enabled (:meth:`Teleoperation.enable`); the instrument waits until the
  hand's orientation seen through the camera is within ``align_tolerance_rad`` (10°) of
  the tool's; ``TeleopOutput.align_error_rad`` says how far it is, and
  :meth:`Teleoperation.aligned_hand_rotation` how to hold the hand. The small residual
  at that moment is kept as an offset (relative mapping from then on), so the tool does
  not jump. ``align_tolerance_rad=None`` follows at once (in-process sessions: the
  synthetic operators' hands start at the identity), the whole angle kept as an offset;
  the ``following`` event then says "no alignment gate" and gives that angle, where a
  gated one gives the angle the gate judged (within the tolerance).
- ``FOLLOWING``: the instrument follows the hand.
- ``CLUTCHED``: while the clutch is pressed; on release the orientation is checked
  again (FOLLOWING if aligned, else ALIGNING).
- ``HOLDING``: the watchdog stopped the instrument; it resumes only after a clutch press
  and release with good samples, through ALIGNING.

Every state change is a :class:`TeleopEvent` whose kind is the new state in lower case;
limits reached, refused camera poses, filter resets and caught internal errors are
events too. Units: SI (m, rad, s); frames ``X_AB`` = pose of B in A (DESIGN.md).

A camera change while following re-anchors the mapping at the last sample, so the tool
never jumps and no hand motion is lost; a non-rigid camera pose is refused.
"""

from __future__ import annotations

from haptics.teleop.config import TeleopConfig
from haptics.teleop.output import (
    ALIGNING,
    CLUTCHED,
    DISABLED,
    FOLLOWING,
    HOLDING,
    STATES,
    TeleopEvent,
    TeleopOutput,
)
from haptics.teleop.pipeline import Teleoperation

__all__ = [
    "ALIGNING",
    "CLUTCHED",
    "DISABLED",
    "FOLLOWING",
    "HOLDING",
    "STATES",
    "TeleopConfig",
    "TeleopEvent",
    "TeleopOutput",
    "Teleoperation",
]
