"""Teleoperation: mapping, scaling, limits in physical units, the watchdog, every sample."""

from __future__ import annotations

import math

import numpy as np
import pytest

from haptics.errors import HapticsError
from haptics.master import MasterSample
from haptics.teleop import HOLDING, TeleopConfig, Teleoperation
from haptics.tremor import make_filter
from kinematics import psm, solve_ik
from kinematics.transforms import axis_rotation, check_pose, pose, rot_x, rot_y, rot_z

DT = 1e-3
START = pose(None, [0.0, 0.0, -0.1])
#: the old behaviour: following from the first sample, no alignment gate, no filter
FREE = {"tremor_filter": "none", "start_enabled": True, "align_tolerance_rad": None}


def _sample(t, p, clutch=False, gripper=0.0, R=None, seq=-1):
    return MasterSample(t, pose(np.eye(3) if R is None else R, p), gripper, clutch, seq)


def _run(teleop, positions, t0=0.0, clutch=None, X_RC=None, R=None, dt=DT):
    outs = []
    for k, p in enumerate(positions):
        t = t0 + k * dt
        c = False if clutch is None else bool(clutch[k])
        outs.append(teleop.step(_sample(t, p, c, R=R), t, X_RC))
    return outs


def _line(start, end, n):
    return np.linspace(start, end, n)


def _angle(R):
    return math.acos(min(1.0, max(-1.0, (np.trace(R) - 1.0) / 2.0)))


def _assert_rigid(X):
    R = X[:3, :3]
    assert np.isfinite(X).all()
    assert np.abs(R.T @ R - np.eye(3)).max() < 1e-12
    assert abs(np.linalg.det(R) - 1.0) < 1e-12
    np.testing.assert_array_equal(X[3], [0.0, 0.0, 0.0, 1.0])


# ---- mapping ---------------------------------------------------------------------------
def test_scaling_is_exact():
    tele = Teleoperation(TeleopConfig(**FREE), START, np.eye(4))
    outs = _run(tele, _line([0, 0, 0], [0.05, -0.02, 0.01], 400))
    moved = outs[-1].X_RT[:3, 3] - START[:3, 3]
    np.testing.assert_allclose(moved, 0.2 * np.array([0.05, -0.02, 0.01]), atol=1e-15)
    tele = Teleoperation(TeleopConfig(translation_scale=0.5, **FREE), START, np.eye(4))
    outs = _run(tele, _line([0, 0, 0], [0.02, 0, 0], 200))
    assert outs[-1].X_RT[0, 3] == pytest.approx(0.01, abs=1e-15)


CAMERAS = [
    np.eye(4),
    rot_x(math.pi) @ rot_z(0.4),
    rot_y(0.7) @ rot_x(2.5),
    rot_z(-1.2) @ rot_y(-0.3),
]


@pytest.mark.parametrize("X_RC", CAMERAS)
def test_hand_moving_right_moves_tool_right_on_screen(X_RC):
    """A move along the camera's x axis (the master's x) moves the tip along the camera's x."""
    X_RC = X_RC.copy()
    X_RC[:3, 3] = [0.01, 0.02, -0.05]
    tele = Teleoperation(TeleopConfig(tremor_filter="none", start_enabled=True), START, X_RC)
    R_hand = tele.aligned_hand_rotation()
    outs = _run(tele, _line([0, 0, 0], [0.03, 0, 0], 300), X_RC=X_RC, R=R_hand)
    assert outs[0].state == "FOLLOWING"  # the aligned hand passes the gate at once
    d_R = outs[-1].X_RT[:3, 3] - START[:3, 3]
    d_C = X_RC[:3, :3].T @ d_R  # tool displacement seen in the camera frame
    np.testing.assert_allclose(d_C, [0.006, 0, 0], atol=1e-12)


def test_orientation_follows_the_hand_in_camera_frame():
    X_RC = rot_y(0.5)
    tele = Teleoperation(TeleopConfig(**FREE), START, X_RC)
    tele.step(_sample(0.0, [0, 0, 0]), 0.0)
    out = _run(tele, np.zeros((100, 3)), t0=DT, R=rot_z(0.3)[:3, :3])[-1]  # 0.3 rad, 0.1 s
    expected = X_RC[:3, :3] @ rot_z(0.3)[:3, :3] @ X_RC[:3, :3].T @ START[:3, :3]
    np.testing.assert_allclose(out.X_RT[:3, :3], expected, atol=1e-12)


def test_clutch_reengage_causes_no_jump():
    config = TeleopConfig(start_enabled=True)  # default tremor filter on, alignment gate on
    tele = Teleoperation(config, START, np.eye(4))
    rng = np.random.default_rng(0)
    n = 3000
    path = _line([0, 0, 0], [0.04, 0.01, 0], n) + rng.normal(size=(n, 3)) * 5e-5
    clutch = np.zeros(n, dtype=bool)
    clutch[1000:1600] = True
    path[1000:1600] += _line([0, 0, 0], [-0.05, 0, 0], 600)  # hand recentres while clutched
    path[1600:] += [-0.05, 0, 0]
    outs = _run(tele, path, clutch=clutch)
    targets = np.array([o.X_RT[:3, 3] for o in outs])
    held = targets[1000:1600]
    assert np.ptp(held, axis=0).max() < 1e-6  # instrument holds while clutched
    assert np.linalg.norm(targets[1600] - targets[1599]) < 1e-6  # no jump on re-engage
    kinds = [e.kind for o in outs for e in o.events]
    assert kinds == ["following", "clutched", "following"]


def test_camera_move_never_makes_the_tool_jump_and_loses_no_motion():
    tele = Teleoperation(TeleopConfig(**FREE), START, np.eye(4))
    outs = _run(tele, _line([0, 0, 0], [0.02, 0, 0], 100))
    new_cam = rot_z(0.8)
    out = tele.step(_sample(0.1, [0.02, 0, 0]), 0.1, new_cam)
    assert np.linalg.norm(out.X_RT[:3, 3] - outs[-1].X_RT[:3, 3]) < 1e-12
    # the camera keeps turning while the hand moves: every bit of hand motion is mapped
    # through the camera of its step, none is dropped at the re-anchoring
    cams = [rot_z(0.8 + 0.01 * k) for k in range(1, 51)]
    p = np.array([0.02, 0.0, 0.0])
    expected = out.X_RT[:3, 3].copy()
    for k, cam in enumerate(cams, start=1):
        step = np.array([0.0, 2e-4, 0.0])
        expected += 0.2 * cam[:3, :3] @ step
        p = p + step
        out = tele.step(_sample(0.1 + k * DT, p), 0.1 + k * DT, cam)
    np.testing.assert_allclose(out.X_RT[:3, 3], expected, atol=1e-12)


# ---- every sample, in order ----------------------------------------------------------------
def test_every_sample_goes_through_the_filter_in_order():
    """Two samples per step (1 kHz device, 500 Hz loop): the filter sees all of them."""
    config = TeleopConfig(start_enabled=True, tremor_filter="butterworth",
                          tremor_params={"cutoff_hz": 6.0})  # fmt: skip
    tele = Teleoperation(config, START, np.eye(4))
    rng = np.random.default_rng(3)
    n = 400
    path = _line([0, 0, 0], [0.01, 0.005, 0], n) + rng.normal(size=(n, 3)) * 1e-4
    samples = [_sample(k * DT, path[k], seq=k) for k in range(n)]
    outs = [tele.step(samples[k : k + 2], (k + 1) * DT) for k in range(0, n, 2)]
    reference = make_filter("butterworth", 1000.0, cutoff_hz=6.0).filter(path)
    np.testing.assert_allclose(outs[-1].master_filtered_m, reference[-1], atol=1e-15)
    assert all(o.samples_used == 2 for o in outs)
    assert outs[-1].used_seq == n - 1 and outs[-1].used_time_s == (n - 1) * DT


def test_batches_and_single_samples_give_the_same_target():
    rng = np.random.default_rng(4)
    n = 300
    path = np.cumsum(rng.normal(size=(n, 3)) * 2e-4, axis=0)
    samples = [_sample(k * DT, path[k], seq=k) for k in range(n)]
    one = Teleoperation(TeleopConfig(start_enabled=True), START, np.eye(4))
    for s in samples:
        out_one = one.step(s, s.time_s)
    batched = Teleoperation(TeleopConfig(start_enabled=True), START, np.eye(4))
    for k in range(0, n, 3):
        out_batch = batched.step(samples[k : k + 3], samples[min(k + 2, n - 1)].time_s)
    np.testing.assert_array_equal(out_one.X_RT, out_batch.X_RT)


def test_repeats_and_out_of_order_samples_are_skipped():
    tele = Teleoperation(TeleopConfig(**FREE), START, np.eye(4))
    a, b = _sample(0.0, [0, 0, 0], seq=1), _sample(0.001, [0.001, 0, 0], seq=2)
    assert tele.step([a, b], 0.001).samples_used == 2
    out = tele.step([a, b], 0.002)  # the same two again
    assert out.samples_used == 0 and np.isnan(out.used_time_s) and out.used_seq == -1
    older = _sample(0.0005, [0.5, 0, 0], seq=7)
    out = tele.step(older, 0.003)
    assert out.samples_used == 0 and out.state == "FOLLOWING"


def test_an_unchanged_latest_sample_passed_every_step_counts_as_silence():
    config = TeleopConfig(**FREE)
    tele = Teleoperation(config, START, np.eye(4))
    last = _sample(0.0, [0, 0, 0])
    for k in range(150):
        out = tele.step(last, k * DT)
        if k * DT <= config.gap_timeout_s:
            assert not out.holding, k
    assert out.holding and "no sample" in out.hold_reason


# ---- limits in physical units --------------------------------------------------------------
def test_speed_limit_holds_under_a_step_input():
    config = TeleopConfig(max_tip_speed_m_s=0.05, **FREE)
    tele = Teleoperation(config, START, np.eye(4))
    tele.step(_sample(0.0, [0, 0, 0]), 0.0)
    outs = _run(tele, np.tile([0.1, 0, 0], (1000, 1)), t0=DT)  # the hand jumps 10 cm
    targets = np.array([START[:3, 3]] + [o.X_RT[:3, 3] for o in outs])
    steps = np.linalg.norm(np.diff(targets, axis=0), axis=1)
    assert steps.max() <= 0.05 * DT * (1 + 1e-9)
    assert targets[-1][0] == pytest.approx(0.02, abs=1e-12)  # and it gets there (0.2 x 10 cm)
    assert "speed_limit" in [e.kind for o in outs for e in o.events]


@pytest.mark.parametrize("jump_m", [0.002, 0.03])
def test_the_default_filter_takes_a_hand_jump_after_rest_without_overshoot(jump_m):
    """A VR controller that regains tracking, or a master that glitches, after the hand
    has rested: the tool goes to where the hand now is (at the speed limit) and no
    further. The default tremor filter once overshot such a jump: 3 cm of hand took the
    tool 11.8 mm where 6 mm was asked."""
    config = TeleopConfig(start_enabled=True, align_tolerance_rad=None)
    tele = Teleoperation(config, START, np.eye(4))
    _run(tele, np.zeros((3000, 3)))  # three seconds still
    outs = _run(tele, np.tile([jump_m, 0.0, 0.0], (2000, 1)), t0=3.0)
    x = np.array([o.X_RT[0, 3] for o in outs]) - START[0, 3]
    scaled = 0.2 * jump_m
    assert x.max() <= scaled + 1e-5  # no further than the hand went (scaled), within 10 µm
    assert x.min() >= -1e-5
    assert x[-1] == pytest.approx(scaled, abs=1e-5)


@pytest.mark.parametrize("device_rate_hz", [100.0, 1000.0, 10_000.0])
def test_speed_limit_counts_seconds_not_samples(device_rate_hz):
    """At 10 kHz the old limit (a step per sample at rate_hz) let the tip run at 2 m/s."""
    dt = 1.0 / device_rate_hz
    tele = Teleoperation(TeleopConfig(**FREE), START, np.eye(4))  # limit 0.2 m/s
    tele.step(_sample(0.0, [0, 0, 0]), 0.0)
    n = int(0.05 * device_rate_hz)  # 50 ms after a 10 cm jump of the hand
    outs = _run(tele, np.tile([0.1, 0, 0], (n, 1)), t0=dt, dt=dt)
    moved = outs[-1].X_RT[0, 3] - START[0, 3]
    elapsed = outs[-1].used_time_s
    assert moved <= 0.2 * elapsed * (1 + 1e-9)
    assert moved >= 0.2 * elapsed * 0.99  # and it does move at the limit


def test_angular_speed_limit_turns_a_glitch_into_a_bounded_turn():
    """A 178° hand turn in one sample used to turn the target 178° in one step."""
    config = TeleopConfig(**FREE)
    w_max = config.max_tip_angular_speed_rad_s
    tele = Teleoperation(config, START, np.eye(4))
    tele.step(_sample(0.0, [0, 0, 0]), 0.0)
    turned = axis_rotation(np.array([0.0, 0.6, 0.8]), math.radians(178.0))
    previous = START[:3, :3]
    outs = _run(tele, np.zeros((1000, 3)), t0=DT, R=turned)
    for out in outs:
        step = _angle(previous.T @ out.X_RT[:3, :3])
        assert step <= w_max * DT * (1 + 1e-6) + 1e-12
        previous = out.X_RT[:3, :3]
    assert "angular_speed_limit" in [e.kind for e in outs[0].events]
    np.testing.assert_allclose(outs[-1].X_RT[:3, :3], turned, atol=1e-9)  # 1 s later: there


def test_workspace_limit_clamps_without_losing_the_mapping():
    config = TeleopConfig(workspace_upper_m=(0.005, 0.12, -0.02), **FREE)
    tele = Teleoperation(config, START, np.eye(4))
    out_path = _line([0, 0, 0], [0.1, 0, 0], 500)
    outs = _run(tele, np.r_[out_path, out_path[::-1]])
    xs = np.array([o.X_RT[0, 3] for o in outs])
    assert xs.max() <= 0.005 + 1e-15
    assert xs[-1] == pytest.approx(0.0, abs=1e-12)  # back to the start with the hand
    assert "workspace_limit" in [e.kind for o in outs for e in o.events]
    # how far the hand is past the wall, in hand metres and in M
    at_far_end = outs[499]
    assert at_far_end.wall_excess_m[0] == pytest.approx(0.1 - 0.005 / 0.2, abs=1e-12)
    assert not outs[-1].wall_excess_m.any()


def test_a_hand_chattering_at_the_wall_is_one_workspace_limit_event_per_entry():
    """A hand held at the wall with the tool on the board took the target in and out of
    the wall sample by sample: 29 ``workspace_limit`` events in 0.7 s, each a session
    event. Now one per entry: again only after the limit was off for LIMIT_REARM_S."""
    from haptics.teleop.pipeline import LIMIT_REARM_S

    config = TeleopConfig(workspace_upper_m=(0.005, 0.12, -0.02), **FREE)
    wall_hand_m = 0.005 / config.translation_scale  # the hand where the target meets x = 5 mm
    tele = Teleoperation(config, START, np.eye(4))
    approach = _line([0, 0, 0], [wall_hand_m - 1e-4, 0, 0], 200)
    chatter = [[wall_hand_m + (1e-4 if k % 6 < 3 else -1e-4), 0, 0] for k in range(700)]
    away = [[0.0, 0.0, 0.0]] * round(2 * LIMIT_REARM_S / DT)  # off for twice the re-arm
    outs = _run(tele, np.r_[approach, chatter, away, chatter])
    kinds = [e.kind for o in outs for e in o.events]
    assert kinds.count("workspace_limit") == 2, kinds.count("workspace_limit")


def test_a_slightly_scaled_hand_rotation_still_gives_a_rigid_target():
    """A rotation scaled by 1 + 3e-5 passes the 1e-4 sample check; the target it made was
    not rigid enough for the IK ('X_target is not a rigid transform'), aborting a session."""
    tele = Teleoperation(TeleopConfig(**FREE), START, np.eye(4))
    R = rot_z(0.05)[:3, :3] @ rot_x(0.02)[:3, :3]
    out = None
    for k in range(200):
        out = tele.step(_sample(k * DT, [0, 0, 0], R=R * (1 + 3e-5)), k * DT)
    _assert_rigid(out.X_RT)
    check_pose(out.X_RT, "target")
    solve_ik(psm(), out.X_RT, restarts=0, max_iters=5)  # does not raise


def test_jaw_follows_gripper_within_range_at_a_capped_rate():
    config = TeleopConfig(**FREE)
    tele = Teleoperation(config, START, np.eye(4))
    jaws = [o.jaw_rad for o in _run_gripper(tele, config.gripper_max_rad, 600)]
    steps = np.abs(np.diff([config.jaw_closed_rad, *jaws]))
    assert steps.max() <= config.max_jaw_rate_rad_s * DT * (1 + 1e-9)  # no snap
    assert jaws[-1] == pytest.approx(config.jaw_open_rad)  # gets there
    t0 = 0.6
    out = _run_gripper(tele, 2.0, 600, t0)[-1]  # beyond the gripper's range: fully open
    assert out.jaw_rad == pytest.approx(config.jaw_open_rad)
    out = _run_gripper(tele, 0.0, 600, 2 * t0)[-1]
    assert out.jaw_rad == pytest.approx(config.jaw_closed_rad)


def _run_gripper(tele, gripper, n, t0=0.0):
    return [
        tele.step(_sample(t0 + k * DT, [0, 0, 0], gripper=gripper), t0 + k * DT) for k in range(n)
    ]


# ---- the watchdog ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        lambda t: _sample(t, [np.nan, 0, 0]),
        lambda t: MasterSample(t, np.diag([2.0, 1, 1, 1]), 0.0, False),
        lambda t: MasterSample(t, pose(None, [0, 0, 0]), float("inf"), False),
        lambda t: _sample(t - 0.2, [0.001, 0, 0]),  # stale
        lambda t: _sample(t + 0.5, [0.001, 0, 0]),  # from the future
        lambda t: MasterSample(t, "garbage", None, "yes"),
        lambda t: [_sample(t - 0.0005, [0.01, 0, 0]), 42],
    ],
)
def test_bad_samples_hold_the_instrument_and_never_emit_nan(bad):
    tele = Teleoperation(TeleopConfig(start_enabled=True), START, np.eye(4))
    outs = _run(tele, _line([0, 0, 0], [0.01, 0, 0], 200))
    before = outs[-1].X_RT.copy()
    out = tele.step(bad(0.2), 0.2)
    assert out.holding and out.hold_reason and out.state == HOLDING
    assert [e.kind for e in out.events] == ["holding"]
    # only a good sample ahead of the bad one in the batch moves it, within the speed limit
    np.testing.assert_allclose(out.X_RT, before, atol=0.2 * 0.0005)
    held = out.X_RT.copy()
    # good samples do not resume motion without a fresh clutch
    outs = _run(tele, _line([0.01, 0, 0], [0.03, 0, 0], 100), t0=0.201)
    assert all(o.holding for o in outs)
    assert all(np.isfinite(o.X_RT).all() for o in outs)
    np.testing.assert_array_equal(outs[-1].X_RT, held)
    # press and release the clutch: alignment, then motion from where the tool is, no jump
    clutch = np.r_[np.ones(20, bool), np.zeros(200, bool)]
    outs = _run(tele, _line([0.03, 0, 0], [0.05, 0, 0], 220), t0=0.302, clutch=clutch)
    kinds = [e.kind for o in outs for e in o.events]
    assert kinds == ["aligning", "following"]
    assert not outs[-1].holding and outs[-1].engaged
    assert np.linalg.norm(outs[20].X_RT[:3, 3] - held[:3, 3]) < 1e-5
    assert outs[-1].X_RT[0, 3] > held[0, 3] + 0.003


@pytest.mark.parametrize("gap_timeout_s", [0.05, 0.1])
def test_a_silent_device_holds_after_the_gap_timeout(gap_timeout_s):
    tele = Teleoperation(TeleopConfig(start_enabled=True, gap_timeout_s=gap_timeout_s), START,
                         np.eye(4))  # fmt: skip
    _run(tele, _line([0, 0, 0], [0.01, 0, 0], 100))
    last_used = 0.099
    for k in range(1, 200):  # the device falls silent
        now = last_used + k * DT
        out = tele.step(None, now)
        if now - last_used <= gap_timeout_s - 1e-9:
            assert not out.holding, k
        if now - last_used > gap_timeout_s + 1e-9:
            assert out.holding and "no sample" in out.hold_reason
    assert TeleopConfig().gap_timeout_s == 0.1  # live devices: 100 ms


def test_an_arm_expecting_samples_holds_when_its_device_never_sends_and_needs_a_clutch():
    """A device heard before its arm was enabled (the server's wait for devices) that then
    falls silent: the arm held in ALIGNING too, and a returning device with its hand
    aligned did not follow before a clutch cycle. Without ``expect_samples`` the arm
    stayed ALIGNING through 16 s of silence and followed the returning hand at once."""
    config = TeleopConfig(tremor_filter="none", start_enabled=True, align_tolerance_rad=0.5)
    tele = Teleoperation(config, START, np.eye(4))
    tele.expect_samples(1.0)
    for k in range(1, 200):  # no sample ever reaches this arm
        out = tele.step(None, 1.0 + k * DT)
        if k * DT < config.gap_timeout_s - 1e-9:
            assert out.state == "ALIGNING", k
    assert out.holding and "no sample" in out.hold_reason
    # the device comes back with the hand aligned and the clutch never pressed: held
    R = tele.aligned_hand_rotation()
    outs = _run(tele, np.zeros((50, 3)), t0=1.2, R=R)
    assert all(o.holding for o in outs)
    clutch = np.r_[np.ones(10, bool), np.zeros(40, bool)]
    outs = _run(tele, np.zeros((50, 3)), t0=1.25, R=R, clutch=clutch)
    assert outs[-1].state == "FOLLOWING"


def test_expect_samples_does_not_restart_a_watchdog_that_already_runs():
    tele = Teleoperation(TeleopConfig(**FREE), START, np.eye(4))
    _run(tele, _line([0, 0, 0], [0.01, 0, 0], 100))  # last sample used at 0.099
    tele.expect_samples(0.19)  # too late to count as a sample: the silence began at 0.099
    tele.expect_samples(math.nan)
    assert tele.step(None, 0.2).holding


def test_a_stale_backlog_is_history_but_a_stale_newest_sample_holds():
    tele = Teleoperation(TeleopConfig(**FREE), START, np.eye(4))
    tele.step(_sample(0.0, [0, 0, 0]), 0.0)
    # a slow step: 50 samples arrive at once, the oldest 50 ms old, the newest fresh
    backlog = [_sample(k * DT, [k * 1e-5, 0, 0]) for k in range(1, 51)]
    out = tele.step(backlog, 0.0505)
    assert out.state == "FOLLOWING" and out.samples_used == 50
    late = [_sample(0.051 + k * DT, [0, 0, 0]) for k in range(5)]
    out = tele.step(late, 0.051 + 0.1)  # the newest is 96 ms old
    assert out.holding and "stale" in out.hold_reason


@pytest.mark.parametrize("clock", [math.nan, math.inf, "soon", None])
def test_a_broken_clock_holds_and_does_not_switch_the_watchdog_off(clock):
    """One step with now_s=NaN used to disable the gap watchdog for good."""
    config = TeleopConfig(**FREE)
    tele = Teleoperation(config, START, np.eye(4))
    _run(tele, _line([0, 0, 0], [0.01, 0, 0], 100))
    out = tele.step(_sample(0.1, [0.01, 0, 0]), clock)
    assert out.holding and "clock" in out.hold_reason
    # resume with a clutch cycle, then let the device fall silent: the watchdog still works
    clutch = np.r_[np.ones(5, bool), np.zeros(20, bool)]
    outs = _run(tele, np.tile([0.01, 0, 0], (25, 1)), t0=0.101, clutch=clutch)
    assert outs[-1].engaged
    t = 0.125
    for k in range(1, 150):
        out = tele.step(None, t + k * DT)
    assert out.holding and "no sample" in out.hold_reason


def test_a_clock_running_backwards_holds():
    tele = Teleoperation(TeleopConfig(**FREE), START, np.eye(4))
    _run(tele, _line([0, 0, 0], [0.01, 0, 0], 100))
    out = tele.step(_sample(0.1, [0.01, 0, 0]), 0.05)
    assert out.holding and "backwards" in out.hold_reason


def test_a_non_rigid_camera_is_refused_and_the_previous_one_kept():
    tele = Teleoperation(TeleopConfig(**FREE), START, np.eye(4))
    _run(tele, _line([0, 0, 0], [0.01, 0, 0], 50))
    sheared = np.eye(4)
    sheared[0, 1] = 0.3
    for bad in (sheared, np.full((4, 4), np.nan), np.eye(3), "camera"):
        out = tele.step(_sample(0.05, [0.011, 0, 0]), 0.05, bad)
        assert out.state == "FOLLOWING"
        np.testing.assert_array_equal(out.X_RC, np.eye(4))
    outs = _run(tele, _line([0.011, 0, 0], [0.02, 0, 0], 50), t0=0.051, X_RC=sheared)
    kinds = [e.kind for o in outs for e in o.events]
    assert kinds == []  # reported once, when it started
    assert outs[-1].X_RT[0, 3] == pytest.approx(0.2 * 0.02, abs=1e-12)  # mapped as before
    fresh = Teleoperation(TeleopConfig(**FREE), START, np.eye(4))
    assert [e.kind for e in fresh.step(_sample(0.0, [0, 0, 0]), 0.0, sheared).events] == [
        "camera_refused",
        "following",
    ]


class _FailingFilter:
    """A tremor filter that goes wrong after ``good`` samples (a test double)."""

    def __init__(self, good: int, bad_output):
        self.good, self.bad_output, self.resets, self.n = good, bad_output, 0, 0

    def step(self, x):
        self.n += 1
        if self.n > self.good:
            if isinstance(self.bad_output, Exception):
                raise self.bad_output
            return self.bad_output
        return np.array(x, dtype=float)

    def reset(self):
        self.resets += 1
        self.n = 0


@pytest.mark.parametrize(
    "bad_output",
    [np.array([np.nan, 0.0, 0.0]), np.array([np.inf, 0, 0]), np.zeros(2), [0, 0, 0],
     ZeroDivisionError("in the filter")],
)  # fmt: skip
def test_a_filter_that_goes_non_finite_is_reset_and_the_arm_holds(bad_output):
    tele = Teleoperation(TeleopConfig(**FREE), START, np.eye(4))
    failing = _FailingFilter(50, bad_output)
    tele._filter = failing
    outs = _run(tele, _line([0, 0, 0], [0.01, 0, 0], 60))
    out = outs[50]
    assert [e.kind for e in out.events] == ["filter_reset", "holding"]
    assert out.holding and "tremor filter" in out.hold_reason
    assert failing.resets >= 1
    assert all(np.isfinite(o.X_RT).all() for o in outs)


def test_config_errors():
    with pytest.raises(HapticsError, match="translation_scale"):
        TeleopConfig(translation_scale=0)
    with pytest.raises(HapticsError, match="max_tip_angular_speed_rad_s"):
        TeleopConfig(max_tip_angular_speed_rad_s=math.nan)
    with pytest.raises(HapticsError, match="align_tolerance_rad"):
        TeleopConfig(align_tolerance_rad=-1.0)
    with pytest.raises(HapticsError, match="workspace_lower_m"):
        TeleopConfig(workspace_lower_m=(0, 0, 0), workspace_upper_m=(0, 1, 1))
    with pytest.raises(HapticsError, match="R_CM"):
        TeleopConfig(R_CM=((2.0, 0, 0), (0, 1, 0), (0, 0, 1)))
    with pytest.raises(HapticsError, match="X_RC"):
        Teleoperation(TeleopConfig(), START, np.full((4, 4), np.nan))
    with pytest.raises(HapticsError, match="X_RT_start"):
        Teleoperation(TeleopConfig(), np.diag([1.0, 1.0, 1.1, 1.0]), np.eye(4))


def _circle_with_jittered_stamps(config, jitter_s: float, seconds: float = 4.0):
    """A 2 cm circle in 5 s (25 mm/s of hand, ~8 mm/s of tool at 1:3) sampled at 1 kHz
    by a device on a loaded machine: each sample is read late by an exponential delay
    (mean ``jitter_s``) and stamped when read, so a late sample is followed by one right
    after it. The hand position is exact for its stamp."""
    rng = np.random.default_rng(3)
    n = int(seconds * 1000)
    stamps = np.maximum.accumulate(np.arange(n) * 1e-3 + rng.exponential(jitter_s, n))
    tele = Teleoperation(config, START, np.eye(4))
    outs = []
    for k, t in enumerate(stamps):
        a = 2 * math.pi * 0.2 * t
        p = [0.02 * (math.cos(a) - 1), 0.02 * math.sin(a), 0.0]
        outs.append(tele.step(_sample(float(t), p, seq=k), float(t)))
    return stamps, outs


@pytest.mark.parametrize("jitter_s", [0.0003, 0.001, 0.003])
def test_stamp_jitter_does_not_trip_the_speed_limit_of_a_slow_motion(jitter_s):
    """A probe traced a slow circle (~8 mm/s at the tool, 4% of the limit) at 1 kHz and
    got 2-3 ``speed_limit`` events a second: the tremor filter moves its output by about
    the same step every sample, and a sample stamped just after a late one made that
    step look 10-100x too fast. Measured before the fix: 171 events in 8 s at 0.3 ms of
    jitter, 1360 at 1 ms. The unused limit now carries over (``limit_carry_s``)."""
    config = TeleopConfig(translation_scale=1 / 3, start_enabled=True, align_tolerance_rad=None)
    stamps, outs = _circle_with_jittered_stamps(config, jitter_s)
    kinds = [e.kind for o in outs for e in o.events]
    assert "speed_limit" not in kinds and outs[-1].state == "FOLLOWING"
    assert np.diff(stamps).min() < 1e-4  # the jitter did make near-zero intervals


def test_the_carry_does_not_weaken_the_limit_on_fast_motion():
    """A hand that runs at 3x the limit for 0.4 s (the goal stops at the workspace wall
    after 0.2 s, still ahead of the tool), with jittered stamps: the tool moves at most
    v_max x (elapsed + limit_carry_s) over any span, and the limit is reported."""
    config = TeleopConfig(**FREE)  # 0.2 m/s at the tool
    v_max, carry = config.max_tip_speed_m_s, config.limit_carry_s
    rng = np.random.default_rng(4)
    stamps = np.maximum.accumulate(np.arange(400) * 1e-3 + rng.exponential(0.002, 400))
    tele = Teleoperation(config, START, np.eye(4))
    outs = [
        tele.step(_sample(float(t), [3 * v_max / 0.2 * t, 0.0, 0.0], seq=k), float(t))
        for k, t in enumerate(stamps)
    ]
    x = np.array([o.X_RT[0, 3] for o in outs])
    for span in (1, 10, 100, 399):
        moved = x[span:] - x[:-span]
        elapsed = stamps[span:] - stamps[:-span]
        assert np.all(moved <= v_max * (elapsed + carry) * (1 + 1e-9) + 1e-12), span
    assert x[-1] - x[0] >= v_max * (stamps[-1] - stamps[0]) * 0.99  # at the limit
    assert "speed_limit" in [e.kind for o in outs for e in o.events]


def test_after_a_restart_the_tool_carries_on_from_where_it_stopped():
    """A paused session drops the samples; the hand goes on moving. ``restart`` captures
    the mapping afresh: the tool does not catch up with the hand's move meanwhile."""
    tele = Teleoperation(
        TeleopConfig(start_enabled=True, align_tolerance_rad=math.radians(10.0)), START, np.eye(4)
    )
    outs = _run(tele, [[0.0, 0.0, 0.0]] * 300)
    assert outs[-1].state == "FOLLOWING"
    tele.restart("the session resumed", 0.3)
    outs = _run(tele, [[0.03, 0.0, 0.0]] * 300, t0=0.6)  # the hand moved 3 cm meanwhile
    kinds = [e.kind for o in outs for e in o.events]
    assert kinds[:2] == ["aligning", "following"] and outs[-1].state == "FOLLOWING"
    np.testing.assert_allclose(outs[-1].X_RT[:3, 3], START[:3, 3], atol=1e-9)
    outs = _run(tele, _line([0.03, 0.0, 0.0], [0.06, 0.0, 0.0], 600), t0=0.9)
    assert outs[-1].X_RT[0, 3] == pytest.approx(0.2 * 0.03, abs=5e-4)  # follows on at 5:1
