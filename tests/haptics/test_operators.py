"""Synthetic operators: reproducible per seed, human-like, and skill levels that differ."""

from __future__ import annotations

import numpy as np
import pytest

from haptics.errors import HapticsError
from haptics.operators import PRESETS, Grip, Pause, Reach, SyntheticOperator, random_plan
from haptics.teleop import TeleopConfig, Teleoperation
from kinematics.transforms import pose


def _render(skill, seed, plan_seed=7):
    plan = random_plan(np.random.default_rng(plan_seed))
    return SyntheticOperator(skill, rng=np.random.default_rng(seed)).render(plan)


@pytest.mark.parametrize("skill", sorted(PRESETS))
def test_same_seed_same_samples(skill):
    a, b = _render(skill, 3), _render(skill, 3)
    for field in ("time_s", "position_m", "gripper_rad", "clutch"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    c = _render(skill, 4)
    assert not np.array_equal(a.position_m[: len(c)], c.position_m[: len(a)])


def _ldlj(speed, rate_hz):
    """Log dimensionless jerk of a speed profile (Balasubramanian et al. 2015)."""
    dt = 1 / rate_hz
    duration = len(speed) * dt
    jerk = np.diff(speed, 2) / dt**2
    return -np.log(duration**3 / speed.max() ** 2 * np.sum(jerk**2) * dt)


def test_expert_is_faster_shorter_and_smoother_than_novice():
    stats = {}
    for skill in ("expert", "novice"):
        lengths, times, smooth = [], [], []
        for seed in range(6):
            tr = _render(skill, seed, plan_seed=100 + seed)
            moving = ~tr.clutch
            steps = np.linalg.norm(np.diff(tr.voluntary_m, axis=0), axis=1)[moving[1:]]
            lengths.append(steps.sum())
            times.append(tr.time_s[-1])
            smooth.append(_ldlj(steps * 1000.0, 1000.0))
        stats[skill] = np.mean(lengths), np.mean(times), np.mean(smooth)
    (le, te, se), (ln, tn, sn) = stats["expert"], stats["novice"]
    assert le < ln and te < tn and se > sn, stats


def test_tremor_is_physiological():
    tr = _render("intermediate", 11)
    rms = np.sqrt(np.mean(np.sum(tr.tremor_m**2, axis=1)))
    assert 50e-6 <= rms <= 200e-6
    f = np.fft.rfftfreq(len(tr.tremor_m), 1e-3)
    power = np.sum(np.abs(np.fft.rfft(tr.tremor_m, axis=0)) ** 2, axis=1)
    assert power[(f >= 6) & (f <= 14)].sum() / power.sum() > 0.95


def test_reaches_land_within_their_target_and_clutch_at_the_edge():
    op = SyntheticOperator("expert", rng=np.random.default_rng(1))
    far = (0.3, 0.0, 0.0)  # beyond the hand's workspace: needs clutching
    tr = op.render([Reach(far, width_m=0.004), Pause(0.2)])
    assert tr.clutch.any()
    # drive a teleoperation loop with it: the instrument ends at 0.2 x the virtual target
    start = pose(None, [0.0, 0.0, -0.1])
    config = TeleopConfig(
        workspace_lower_m=(-1, -1, -1), workspace_upper_m=(1, 1, 1), start_enabled=True
    )
    tele = Teleoperation(config, start, np.eye(4))
    for s in tr.samples():
        out = tele.step(s, s.time_s)
    moved = out.X_RT[:3, 3] - start[:3, 3]
    assert np.linalg.norm(moved - 0.2 * np.array(far)) < 0.2 * 0.004


def test_grip_moves_the_gripper():
    tr = SyntheticOperator("expert", rng=np.random.default_rng(0)).render(
        [Grip(1.0, 0.2), Pause(0.1), Grip(0.0, 0.2)]
    )
    assert tr.gripper_rad.max() == pytest.approx(1.0)
    assert tr.gripper_rad[-1] == pytest.approx(0.0)
    assert np.all(np.abs(np.diff(tr.gripper_rad)) < 0.02)  # smooth, not a step


def test_errors():
    with pytest.raises(HapticsError, match="valid presets"):
        SyntheticOperator("surgeon", rng=np.random.default_rng(0))
    with pytest.raises(HapticsError, match="Generator"):
        SyntheticOperator("expert", rng=42)
    with pytest.raises(HapticsError, match="unknown plan action"):
        SyntheticOperator("expert", rng=np.random.default_rng(0)).render(["jump"])


def test_rendering_in_segments_equals_rendering_at_once():
    plan = random_plan(np.random.default_rng(5), n_reaches=6)
    whole = SyntheticOperator("novice", rng=np.random.default_rng(9)).render(plan)
    op = SyntheticOperator("novice", rng=np.random.default_rng(9))
    parts = [op.render(plan[:7]), op.render(plan[7:])]
    for field in ("time_s", "position_m", "gripper_rad", "clutch"):
        np.testing.assert_array_equal(
            getattr(whole, field), np.concatenate([getattr(p, field) for p in parts])
        )
    assert op.time_s == pytest.approx(whole.time_s[-1] + 1e-3)


def _end_after_reach(profile, target, centre=None, seed=3):
    """Where the hand (not the virtual hand) is once a reach from the centre is done."""
    op = SyntheticOperator(profile, rng=np.random.default_rng(seed))
    op.render([Reach(target, width_m=0.004, centre_m=centre)])
    return op.hand_m, op.virtual_hand_m


def test_clutching_ahead_ends_a_long_reach_centred_in_the_workspace():
    """An expert places the clutch so that a long reach ends as near the middle of the
    hand's workspace as one clutch allows (room for the precise work that follows): a
    20 cm reach, a 10 cm stroke then a clutch as far back as the rest, ends at the
    centre; the same operator without the habit (a clutch half the radius back, then on)
    ends it half a radius out."""
    import dataclasses

    from haptics.operators import PRESETS

    expert = PRESETS["expert"]
    assert expert.clutch_ahead and not PRESETS["novice"].clutch_ahead
    plain = dataclasses.replace(expert, clutch_ahead=False)
    radius = expert.workspace_radius_m
    for target in [(0.2, 0.0, 0.0), (0.0, -0.2, 0.0), (0.12, 0.0, 0.16)]:
        hand, virtual = _end_after_reach(expert, target)
        assert np.linalg.norm(virtual - target) < 0.004  # it got there
        assert np.linalg.norm(hand) < 0.2 * radius
        hand_plain, _ = _end_after_reach(plain, target)
        assert np.linalg.norm(hand_plain) > 0.4 * radius


def test_a_reach_with_a_centre_leaves_that_centre_in_the_middle():
    """``centre_m``: the middle of the work that follows (e.g. the way down to a wall);
    the expert's hand is then centred on it, not on the reach's target."""
    from haptics.operators import PRESETS

    target, centre = (0.15, 0.0, 0.0), (0.15, 0.0, -0.06)
    hand, virtual = _end_after_reach(PRESETS["expert"], target, centre)
    assert np.linalg.norm(virtual - target) < 0.004
    # the centre, in hand coordinates, is the virtual centre less the clutch offset
    centre_hand = np.asarray(centre) - (virtual - hand)
    assert np.linalg.norm(centre_hand) < 0.2 * PRESETS["expert"].workspace_radius_m
