"""What the pipeline reports: operating states, events and the per-step output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Not enabled yet, or disabled on request: the instrument does not move.
DISABLED = "DISABLED"
#: Enabled; waiting for the hand's orientation (seen through the camera) to match the tool's.
ALIGNING = "ALIGNING"
#: The instrument follows the hand.
FOLLOWING = "FOLLOWING"
#: The clutch pedal is pressed: the hand moves freely, the instrument stays.
CLUTCHED = "CLUTCHED"
#: The watchdog stopped the instrument; it resumes after a clutch press and release.
HOLDING = "HOLDING"

#: All operating states, in the order a session normally meets them.
STATES = (DISABLED, ALIGNING, FOLLOWING, CLUTCHED, HOLDING)

#: Event kinds that are not state changes (a state change's kind is the new state in
#: lower case: ``disabled``, ``aligning``, ``following``, ``clutched``, ``holding``).
LIMIT_EVENTS = ("workspace_limit", "speed_limit", "angular_speed_limit")
OTHER_EVENTS = ("camera_refused", "filter_reset", "filter_rate", "internal_error", "clutch_ignored")


@dataclass(frozen=True)
class TeleopEvent:
    """Something the trainee, the scorer or the log should know about.

    Attributes:
        time_s: loop time (s) of the step it happened in.
        kind: a state change (the new state in lower case: ``disabled``, ``aligning``,
            ``following``, ``clutched``, ``holding``), a limit reached
            (``workspace_limit``, ``speed_limit``, ``angular_speed_limit``; reported when
            it starts to act, once per entry: a limit that chatters is reported again
            only after it was off for ``pipeline.LIMIT_REARM_S``, 0.5 s),
            ``camera_refused`` (a non-rigid or NaN camera pose was ignored and the
            previous one kept) or ``filter_reset`` (the tremor filter produced NaN/inf
            and was reset; a ``holding`` event follows), ``filter_rate``
            (the device's measured sample rate differs from the one the tremor filter was
            designed for, so the filter was re-made for it; while following, the
            mapping re-anchors there and the tool does not move),
            ``internal_error`` (a bug in the pipeline was caught; the arm holds) or
            ``clutch_ignored`` (a held arm's clutch press came in samples too old to use:
            the arm stays held until the trainee presses and releases it again).
        detail: why, in words (the hold reason, the alignment error, ...).
        state: the operating state after the event.
    """

    time_s: float
    kind: str
    detail: str = ""
    state: str = ""


@dataclass(slots=True)
class TeleopOutput:
    """Result of one step: where the tool tip should be and what happened.

    A plain (mutable, slotted) dataclass because one is built per step in a tight loop;
    treat it as read-only.

    Attributes:
        time_s: loop time of the step (s), as passed in (NaN if it was not a number).
        X_RT: 4x4 tool-tip target in the RCM frame (m); always finite and rigid
            (``|R^T R - I|`` at machine precision, det +1).
        jaw_rad: jaw angle target (rad).
        state: the operating state after the step (one of :data:`STATES`).
        engaged: the instrument follows the hand (``state == FOLLOWING``).
        holding: the watchdog holds the instrument (``state == HOLDING``).
        hold_reason: why it holds ('' otherwise).
        events: events raised during this step (and by enable()/disable() before it).
        master_filtered_m: tremor-filtered handle position in M (m) after the last
            sample used, or None when no sample was used.
        samples_used: how many samples went through the filter in this step.
        used_time_s: ``time_s`` of the last sample used (NaN if none).
        used_seq: ``seq`` of the last sample used (-1 if none or not numbered).
        align_error_rad: angle between the hand's orientation seen through the camera
            and the tool target's (rad), at the last sample used; NaN before any sample.
        wall_excess_m: how far the hand is past the workspace wall (3,), in M and in
            hand metres (the target is clamped there); zero inside. Read-only.
        X_RC: the camera pose in R the step mapped through (4x4; the one actually used,
            so a refused camera does not appear here). Read-only, shared between steps.
    """

    time_s: float
    X_RT: np.ndarray
    jaw_rad: float
    state: str
    engaged: bool
    holding: bool
    hold_reason: str
    events: tuple[TeleopEvent, ...]
    master_filtered_m: np.ndarray | None
    samples_used: int
    used_time_s: float
    used_seq: int
    align_error_rad: float
    wall_excess_m: np.ndarray
    X_RC: np.ndarray
