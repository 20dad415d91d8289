"""Teleoperation: clutch, alignment, scaling, limits and the watchdog."""

from __future__ import annotations

import math

import numpy as np
import pytest

from haptics.errors import HapticsError
from haptics.master import MasterSample
from haptics.teleop import TeleopConfig, Teleoperation
from kinematics.transforms import pose, rot_x, rot_y, rot_z

DT = 1e-3
START = pose(None, [0.0, 0.0, -0.1])
NO_FILTER = {"tremor_filter": "none"}


def _sample(t, p, clutch=False, gripper=0.0, R=None):
    return MasterSample(t, pose(np.eye(3) if R is None else R, p), gripper, clutch)


def _run(teleop, positions, t0=0.0, clutch=None, X_RC=None):
    outs = []
    for k, p in enumerate(positions):
        t = t0 + k * DT
        c = False if clutch is None else bool(clutch[k])
        outs.append(teleop.step(_sample(t, p, c), t, X_RC))
    return outs


def _line(start, end, n):
    return np.linspace(start, end, n)


def test_scaling_is_exact():
    tele = Teleoperation(TeleopConfig(**NO_FILTER), START, np.eye(4))
    outs = _run(tele, _line([0, 0, 0], [0.05, -0.02, 0.01], 400))
    moved = outs[-1].X_RT[:3, 3] - START[:3, 3]
    np.testing.assert_allclose(moved, 0.2 * np.array([0.05, -0.02, 0.01]), atol=1e-15)
    tele = Teleoperation(TeleopConfig(translation_scale=0.5, **NO_FILTER), START, np.eye(4))
    outs = _run(tele, _line([0, 0, 0], [0.02, 0, 0], 200))
    assert outs[-1].X_RT[0, 3] == pytest.approx(0.01, abs=1e-15)


@pytest.mark.parametrize(
    "X_RC",
    [np.eye(4), rot_x(math.pi) @ rot_z(0.4), rot_y(0.7) @ rot_x(2.5), rot_z(-1.2) @ rot_y(-0.3)],
)
def test_hand_moving_right_moves_tool_right_on_screen(X_RC):
    """A move along the camera's x axis (the master's x) moves the tip along the camera's x."""
    X_RC = X_RC.copy()
    X_RC[:3, 3] = [0.01, 0.02, -0.05]
    tele = Teleoperation(TeleopConfig(**NO_FILTER), START, X_RC)
    outs = _run(tele, _line([0, 0, 0], [0.03, 0, 0], 300), X_RC=X_RC)
    d_R = outs[-1].X_RT[:3, 3] - START[:3, 3]
    d_C = X_RC[:3, :3].T @ d_R  # tool displacement seen in the camera frame
    np.testing.assert_allclose(d_C, [0.006, 0, 0], atol=1e-12)


def test_orientation_follows_the_hand_in_camera_frame():
    X_RC = rot_y(0.5)
    tele = Teleoperation(TeleopConfig(**NO_FILTER), START, X_RC)
    tele.step(_sample(0.0, [0, 0, 0]), 0.0)
    out = tele.step(_sample(DT, [0, 0, 0], R=rot_z(0.3)[:3, :3]), DT)
    expected = X_RC[:3, :3] @ rot_z(0.3)[:3, :3] @ X_RC[:3, :3].T @ START[:3, :3]
    np.testing.assert_allclose(out.X_RT[:3, :3], expected, atol=1e-12)


def test_clutch_reengage_causes_no_jump():
    tele = Teleoperation(TeleopConfig(), START, np.eye(4))  # default tremor filter on
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
    assert kinds.count("disengaged") == 1 and kinds.count("engaged") == 2


def test_camera_move_never_makes_the_tool_jump():
    tele = Teleoperation(TeleopConfig(**NO_FILTER), START, np.eye(4))
    outs = _run(tele, _line([0, 0, 0], [0.02, 0, 0], 100))
    new_cam = rot_z(0.8)
    out = tele.step(_sample(0.1, [0.02, 0, 0]), 0.1, new_cam)
    assert np.linalg.norm(out.X_RT[:3, 3] - outs[-1].X_RT[:3, 3]) < 1e-12


@pytest.mark.parametrize(
    "bad",
    [
        lambda t: _sample(t, [np.nan, 0, 0]),
        lambda t: MasterSample(t, np.diag([2.0, 1, 1, 1]), 0.0, False),
        lambda t: MasterSample(t, pose(None, [0, 0, 0]), float("inf"), False),
        lambda t: _sample(t - 0.2, [0.001, 0, 0]),  # stale
        lambda t: _sample(t + 0.5, [0.001, 0, 0]),  # from the future
    ],
)
def test_bad_samples_hold_the_instrument_and_never_emit_nan(bad):
    tele = Teleoperation(TeleopConfig(), START, np.eye(4))
    outs = _run(tele, _line([0, 0, 0], [0.01, 0, 0], 200))
    before = outs[-1].X_RT.copy()
    out = tele.step(bad(0.2), 0.2)
    assert out.holding and out.hold_reason
    assert [e.kind for e in out.events] == ["hold"]
    np.testing.assert_array_equal(out.X_RT, before)
    # good samples do not resume motion without a fresh clutch
    outs = _run(tele, _line([0.01, 0, 0], [0.03, 0, 0], 100), t0=0.201)
    assert all(o.holding for o in outs)
    assert all(np.isfinite(o.X_RT).all() for o in outs)
    np.testing.assert_array_equal(outs[-1].X_RT, before)
    # press and release the clutch: motion resumes from where the tool is, no jump
    clutch = np.r_[np.ones(20, bool), np.zeros(200, bool)]
    outs = _run(tele, _line([0.03, 0, 0], [0.05, 0, 0], 220), t0=0.302, clutch=clutch)
    assert not outs[-1].holding and outs[-1].engaged
    assert np.linalg.norm(outs[20].X_RT[:3, 3] - before[:3, 3]) < 1e-5
    assert outs[-1].X_RT[0, 3] > before[0, 3] + 0.003


def test_a_50_ms_gap_holds():
    tele = Teleoperation(TeleopConfig(), START, np.eye(4))
    _run(tele, _line([0, 0, 0], [0.01, 0, 0], 100))
    last = None
    for k in range(1, 80):  # the device falls silent
        last = tele.step(None, 0.099 + k * DT)
        if k <= 49:
            assert not last.holding, k
        if k == 51:
            assert last.holding and "no sample" in last.hold_reason


def test_speed_limit_holds_under_a_step_input():
    config = TeleopConfig(max_tip_speed_m_s=0.05, **NO_FILTER)
    tele = Teleoperation(config, START, np.eye(4))
    tele.step(_sample(0.0, [0, 0, 0]), 0.0)
    outs = _run(tele, np.tile([0.1, 0, 0], (1000, 1)), t0=DT)  # the hand jumps 10 cm
    targets = np.array([START[:3, 3]] + [o.X_RT[:3, 3] for o in outs])
    steps = np.linalg.norm(np.diff(targets, axis=0), axis=1)
    assert steps.max() <= 0.05 * DT + 1e-15
    assert targets[-1][0] == pytest.approx(0.02, abs=1e-12)  # and it gets there (0.2 x 10 cm)
    assert "speed_limit" in [e.kind for o in outs for e in o.events]


def test_workspace_limit_clamps_without_losing_the_mapping():
    config = TeleopConfig(workspace_upper_m=(0.005, 0.12, -0.02), **NO_FILTER)
    tele = Teleoperation(config, START, np.eye(4))
    out_path = _line([0, 0, 0], [0.1, 0, 0], 500)
    outs = _run(tele, np.r_[out_path, out_path[::-1]])
    xs = np.array([o.X_RT[0, 3] for o in outs])
    assert xs.max() <= 0.005 + 1e-15
    assert xs[-1] == pytest.approx(0.0, abs=1e-12)  # back to the start with the hand
    assert "workspace_limit" in [e.kind for o in outs for e in o.events]


def test_jaw_follows_gripper_within_range():
    config = TeleopConfig(**NO_FILTER)
    tele = Teleoperation(config, START, np.eye(4))
    out = tele.step(_sample(0.0, [0, 0, 0], gripper=config.gripper_max_rad), 0.0)
    assert out.jaw_rad == pytest.approx(config.jaw_open_rad)
    out = tele.step(_sample(DT, [0, 0, 0], gripper=2.0), DT)
    assert out.jaw_rad == pytest.approx(config.jaw_open_rad)
    out = tele.step(_sample(2 * DT, [0, 0, 0], gripper=0.0), 2 * DT)
    assert out.jaw_rad == pytest.approx(config.jaw_closed_rad)


def test_config_errors():
    with pytest.raises(HapticsError, match="translation_scale"):
        TeleopConfig(translation_scale=0)
    with pytest.raises(HapticsError, match="workspace_lower_m"):
        TeleopConfig(workspace_lower_m=(0, 0, 0), workspace_upper_m=(0, 1, 1))
    with pytest.raises(HapticsError, match="X_RC"):
        Teleoperation(TeleopConfig(), START, np.full((4, 4), np.nan))
