"""Teleoperation operating states (dVRK-like): DISABLED, ALIGNING, FOLLOWING, CLUTCHED, HOLDING."""

from __future__ import annotations

import math

import numpy as np
import pytest

from haptics.master import MasterSample
from haptics.teleop import (
    ALIGNING,
    CLUTCHED,
    DISABLED,
    FOLLOWING,
    HOLDING,
    TeleopConfig,
    Teleoperation,
)
from kinematics.transforms import axis_rotation, pose, rot_x, rot_y, rot_z

DT = 1e-3
START = pose(rot_y(0.4)[:3, :3] @ rot_z(1.1)[:3, :3], [0.01, -0.02, -0.1])
CAMERA = rot_x(2.6) @ rot_z(0.3)
NO_FILTER = {"tremor_filter": "none"}


def _angle(R):
    return math.acos(min(1.0, max(-1.0, (np.trace(R) - 1.0) / 2.0)))


class Hand:
    """A scripted hand: position, orientation, gripper and clutch, one sample per call."""

    def __init__(self, tele, R=None):
        self.tele, self.t, self.p = tele, 0.0, np.zeros(3)
        self.R = np.eye(3) if R is None else R
        self.gripper, self.clutch, self.outs = 0.0, False, []

    def steps(self, n=1, **change):
        for name, value in change.items():
            setattr(self, name, value)
        for _ in range(n):
            sample = MasterSample(self.t, pose(self.R, self.p), self.gripper, self.clutch)
            self.outs.append(self.tele.step(sample, self.t))
            self.t += DT
        return self.outs[-1]

    def kinds(self, since=0):
        return [e.kind for o in self.outs[since:] for e in o.events]


def _tele(**kw):
    return Teleoperation(TeleopConfig(**{**NO_FILTER, **kw}), START, CAMERA)


def test_starts_disabled_and_does_not_move_until_enabled():
    tele = _tele()
    assert tele.state == DISABLED
    hand = Hand(tele, tele.aligned_hand_rotation())
    out = hand.steps(50, p=np.array([0.02, 0.0, 0.0]))
    assert out.state == DISABLED and not out.engaged
    np.testing.assert_allclose(out.X_RT, START, atol=1e-15)
    tele.enable()
    out = hand.steps()
    assert [e.kind for e in out.events] == ["aligning", "following"]
    assert out.events[0].time_s == hand.outs[-2].time_s  # stamped with the last step's time
    fresh = _tele()
    fresh.enable()  # before any step: the event gets the time of the step that reports it
    out = fresh.step(MasterSample(0.25, pose(fresh.aligned_hand_rotation())), 0.25)
    assert [(e.kind, e.time_s) for e in out.events] == [("aligning", 0.25), ("following", 0.25)]
    assert out.state == FOLLOWING
    assert _tele(start_enabled=True).state == ALIGNING


@pytest.mark.parametrize(
    "camera",
    [np.eye(4), CAMERA, rot_y(-1.3) @ rot_x(0.2), rot_z(math.pi) @ rot_y(math.pi / 2)],
)
def test_a_hand_held_as_aligned_hand_rotation_says_follows_at_once(camera):
    tele = Teleoperation(TeleopConfig(start_enabled=True, **NO_FILTER), START, camera)
    R = tele.aligned_hand_rotation()
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    out = Hand(tele, R).steps()
    assert out.state == FOLLOWING and out.align_error_rad < 1e-9


def test_with_the_gate_off_following_does_not_claim_an_alignment():
    """In-process operators follow at once (no gate): the event says so and gives the
    hand's angle to the tool as the offset it is, not as "aligned within 128°"."""
    tele = _tele(start_enabled=True, align_tolerance_rad=None)
    out = Hand(tele).steps()  # the identity hand, far from the tool
    assert out.state == FOLLOWING and math.degrees(out.align_error_rad) > 30.0
    (event,) = out.events
    assert "aligned" not in event.detail and "no alignment gate" in event.detail
    assert f"{math.degrees(out.align_error_rad):.1f}°" in event.detail


def test_aligning_waits_for_the_hand_and_keeps_the_residual_so_the_tool_does_not_jump():
    tele = _tele(start_enabled=True)
    aligned = tele.aligned_hand_rotation()
    axis = np.array([0.3, -0.5, 0.81])
    axis /= np.linalg.norm(axis)
    hand = Hand(tele, aligned @ axis_rotation(axis, math.radians(40.0)))
    out = hand.steps(20)
    assert out.state == ALIGNING
    assert out.align_error_rad == pytest.approx(math.radians(40.0), abs=1e-9)
    # the hand turns slowly towards alignment: following starts just inside 10°
    for deg in np.arange(40.0, 0.0, -0.25):
        out = hand.steps(R=aligned @ axis_rotation(axis, math.radians(deg)))
        if out.state == FOLLOWING:
            break
    assert 9.75 <= deg <= 10.0
    assert [e.kind for e in out.events] == ["following"]
    # the event states the angle the gate judged, within the gate
    assert (
        out.events[0].detail
        == f"hand aligned with the tool: {deg:.1f}° apart, within the 10.0° gate"
    )
    np.testing.assert_allclose(out.X_RT, START, atol=1e-12)  # no jump: the residual is kept
    # from then on the mapping is relative: a further hand turn turns the tool the same way
    turn = axis_rotation(np.array([0.0, 0.0, 1.0]), 0.2)
    out = hand.steps(200, R=turn @ hand.R)
    R_RM = CAMERA[:3, :3]
    np.testing.assert_allclose(out.X_RT[:3, :3], R_RM @ turn @ R_RM.T @ START[:3, :3], atol=1e-12)


def test_clutch_release_rechecks_the_orientation():
    tele = _tele(start_enabled=True)
    aligned = tele.aligned_hand_rotation()
    hand = Hand(tele, aligned)
    hand.steps(10)
    out = hand.steps(5, clutch=True)
    assert out.state == CLUTCHED
    hand.steps(5, R=rot_x(0.6)[:3, :3] @ aligned)  # the wrist turns 34° while clutched
    out = hand.steps(clutch=False)
    assert out.state == ALIGNING and "34.4°" in out.events[0].detail
    out = hand.steps(R=aligned)
    assert out.state == FOLLOWING
    assert hand.kinds() == ["following", "clutched", "aligning", "following"]
    # a clutch press while aligning is a clutch too
    hand.steps(5, R=rot_x(0.6)[:3, :3] @ aligned)
    hand.steps(clutch=True)
    assert hand.steps(clutch=False).state == ALIGNING


def test_holding_needs_a_clutch_press_and_release_then_alignment():
    tele = _tele(start_enabled=True, gap_timeout_s=0.1)
    aligned = tele.aligned_hand_rotation()
    hand = Hand(tele, aligned)
    hand.steps(10)
    for _ in range(120):  # the device is silent for 120 ms
        out = tele.step(None, hand.t)
        hand.t += DT
    assert out.state == HOLDING and "no sample" in out.hold_reason
    target = out.X_RT.copy()
    out = hand.steps(50, p=np.array([0.02, 0.0, 0.0]))  # it comes back: still holding
    assert out.state == HOLDING
    np.testing.assert_array_equal(out.X_RT, target)
    hand.steps(5, clutch=True)
    assert hand.outs[-1].state == HOLDING  # pressing is not enough
    since = len(hand.outs)
    out = hand.steps(clutch=False)
    assert out.state == FOLLOWING
    assert hand.kinds(since) == ["aligning", "following"]
    np.testing.assert_allclose(out.X_RT, target, atol=1e-12)


def test_a_press_in_stale_samples_keeps_the_hold_and_says_to_press_again():
    """A held arm's clutch press that reaches the loop in samples too old to use (a stall
    longer than the sample age limit) is ignored like the rest of that stale input, and
    the trainee is told once per hold; a fresh press and release then resumes."""
    tele = _tele(start_enabled=True, gap_timeout_s=0.1)
    hand = Hand(tele, tele.aligned_hand_rotation())
    hand.steps(10)
    for _ in range(300):  # the device is silent: the arm holds
        tele.step(None, hand.t)
        hand.t += DT
    target = tele.step(None, hand.t).X_RT.copy()
    assert tele.state == HOLDING

    def stale_batch(start_s, pressed):  # 50 samples, the newest 150+ ms old
        X = pose(hand.R, np.array([0.01, 0.0, 0.0]))
        return tuple(MasterSample(start_s + k * DT, X, 0.0, pressed) for k in range(50))

    quiet = tele.step(stale_batch(0.05, False), hand.t)  # stale, no press: nothing to say
    assert [e.kind for e in quiet.events] == []
    first = tele.step(stale_batch(0.10, True), hand.t)
    again = tele.step(stale_batch(0.11, True), hand.t)  # the same long press: said once
    assert [e.kind for e in first.events] == ["clutch_ignored"] and again.events == ()
    assert "stale sample" in first.events[0].detail and "again" in first.events[0].detail
    for out in (first, again):
        assert out.state == HOLDING
        np.testing.assert_array_equal(out.X_RT, target)
    hand.steps(3, clutch=True)
    assert hand.steps(clutch=False).state == FOLLOWING
    # a press while following is a clutch, not a resume: a stale one holds, unreported
    out = tele.step(stale_batch(hand.t - 0.2, True), hand.t)
    assert out.state == HOLDING and [e.kind for e in out.events] == ["holding"]
    # the next hold reports an ignored press again
    out = tele.step(stale_batch(hand.t - 0.15, True), hand.t)
    assert [e.kind for e in out.events] == ["clutch_ignored"]


def test_a_fault_during_the_clutch_cycle_restarts_it():
    tele = _tele(start_enabled=True)
    hand = Hand(tele, tele.aligned_hand_rotation())
    hand.steps(10)
    tele.step(MasterSample(hand.t, np.full((4, 4), np.nan)), hand.t)
    hand.t += DT
    hand.steps(3, clutch=True)
    tele.step(MasterSample(hand.t, np.full((4, 4), np.nan)), hand.t)  # again, mid-cycle
    hand.t += DT
    assert hand.steps(clutch=False).state == HOLDING
    hand.steps(3, clutch=True)
    assert hand.steps(clutch=False).state == FOLLOWING


def test_disable_and_enable():
    tele = _tele(start_enabled=True)
    hand = Hand(tele, tele.aligned_hand_rotation())
    hand.steps(10)
    tele.disable()
    assert tele.state == DISABLED
    out = hand.steps(20, p=np.array([0.03, 0.0, 0.0]))
    assert [e.kind for e in hand.outs[-20].events] == ["disabled"]
    np.testing.assert_allclose(out.X_RT, START, atol=1e-12)
    tele.enable(now_s=hand.t)
    out = hand.steps()
    assert (out.events[0].kind, out.events[0].detail) == ("aligning", "enabled")
    assert out.state == FOLLOWING
    np.testing.assert_allclose(out.X_RT, START, atol=1e-12)  # re-anchored: no jump


def test_no_alignment_gate_follows_whatever_the_orientation():
    for tolerance in (None, math.inf):
        tele = _tele(start_enabled=True, align_tolerance_rad=tolerance)
        out = Hand(tele, rot_x(2.0)[:3, :3]).steps()
        assert out.state == FOLLOWING
        np.testing.assert_allclose(out.X_RT, START, atol=1e-12)


def test_the_jaw_does_not_snap_to_the_gripper_when_following_starts():
    config = TeleopConfig(start_enabled=True, **NO_FILTER)
    tele = Teleoperation(config, START, CAMERA)
    hand = Hand(tele, tele.aligned_hand_rotation())
    out = hand.steps(gripper=config.gripper_max_rad)  # engaged with the gripper wide open
    assert out.state == FOLLOWING and out.jaw_rad == config.jaw_closed_rad
    span = config.jaw_open_rad - config.jaw_closed_rad
    n = math.ceil(span / (config.max_jaw_rate_rad_s * DT))
    out = hand.steps(n + 1)
    jaws = np.array([o.jaw_rad for o in hand.outs])
    assert np.abs(np.diff(jaws)).max() <= config.max_jaw_rate_rad_s * DT * (1 + 1e-9)
    assert jaws[n // 2] < config.jaw_open_rad - span / 3  # still on its way halfway through
    assert out.jaw_rad == pytest.approx(config.jaw_open_rad)


def test_every_state_change_comes_with_an_event():
    rng = np.random.default_rng(11)
    tele = _tele(start_enabled=False)
    aligned = tele.aligned_hand_rotation()
    hand = Hand(tele, aligned)
    previous = tele.state
    for k in range(3000):
        if k == 100:
            tele.enable()
        if k == 2500:
            tele.disable()
        r = rng.random()
        if r < 0.01:
            hand.clutch = not hand.clutch
        elif r < 0.015:
            hand.R = rot_x(rng.uniform(-0.5, 0.5))[:3, :3] @ aligned
        if rng.random() < 0.003:
            hand.t += 0.2  # a silent device
            out = tele.step(None, hand.t)
            hand.outs.append(out)
        else:
            hand.p = hand.p + rng.normal(size=3) * 1e-4
            out = hand.steps()
        changes = [e for e in out.events if e.kind == e.state.lower()]
        if out.state != previous:
            assert changes and changes[-1].state == out.state
        for e in out.events:
            assert math.isfinite(e.time_s) and e.detail
        previous = out.state
    kinds = set(hand.kinds())
    assert {"aligning", "following", "clutched", "holding", "disabled"} <= kinds


def test_release_to_continues_from_where_another_source_left_the_tool():
    tele = _tele(start_enabled=True)
    hand = Hand(tele, tele.aligned_hand_rotation())
    hand.steps(50, p=np.array([0.01, 0.0, 0.0]))
    moved = pose(rot_z(0.3)[:3, :3] @ START[:3, :3], [0.03, 0.01, -0.08])
    for _ in range(3):  # a controller's servo_cp, every step
        tele.release_to(moved)
    assert tele.state == ALIGNING
    np.testing.assert_allclose(tele.X_RT, moved, atol=1e-12)
    out = hand.steps()  # the hand still matches the old orientation: it waits
    assert out.state == ALIGNING and [e.kind for e in out.events] == ["aligning"]
    np.testing.assert_allclose(out.X_RT, moved, atol=1e-12)
    out = hand.steps(R=tele.aligned_hand_rotation())
    assert out.state == FOLLOWING
    np.testing.assert_allclose(out.X_RT, moved, atol=1e-12)  # no jump back
    out = hand.steps(100, p=hand.p + np.array([0.0, 0.003, 0.0]))
    np.testing.assert_allclose(
        out.X_RT[:3, 3], moved[:3, 3] + CAMERA[:3, :3] @ [0.0, 0.2 * 0.003, 0.0], atol=1e-12
    )
