"""Properties of teleoperation for any input: finite rigid targets within the rate limits,
and no exception out of ``step()`` whatever it is given."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from haptics.master import MasterSample
from haptics.teleop import TeleopConfig, Teleoperation
from kinematics.transforms import pose, quat_xyzw_to_matrix

START = pose(quat_xyzw_to_matrix([0.1, -0.3, 0.2, 0.9]), [0.01, 0.0, -0.1])
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _angle(R):
    return math.acos(min(1.0, max(-1.0, (np.trace(R) - 1.0) / 2.0)))


unit = st.floats(-1.0, 1.0, allow_nan=False)
quaternions = st.tuples(unit, unit, unit, unit).filter(lambda q: sum(x * x for x in q) > 1e-3)


def _hand_pose(q, scale, x, y, z):
    return pose(quat_xyzw_to_matrix(q) * scale, [x, y, z])


#: A handle pose: any rotation, possibly off-rigid by up to 5e-5 (passes the 1e-4 check),
#: anywhere in a metre-sized box.
hand_poses = st.builds(
    _hand_pose,
    quaternions,
    st.floats(1 - 5e-5, 1 + 5e-5),
    st.floats(-0.5, 0.5),
    st.floats(-0.5, 0.5),
    st.floats(-0.5, 0.5),
)


@st.composite
def streams(draw):
    """Steps of (samples, now_s, X_RC, action): stamps that repeat, jump or crawl."""
    steps, t, seq = [], 0.0, 0
    for _ in range(draw(st.integers(1, 20))):
        samples = []
        for _ in range(draw(st.integers(0, 4))):
            t += draw(st.sampled_from([0.0, 1e-4, 1e-3, 2e-3]) | st.floats(0.0, 0.2))
            seq += draw(st.sampled_from([0, 1, 1, 1]))
            samples.append(
                MasterSample(
                    t,
                    draw(hand_poses),
                    draw(st.floats(-1.0, 2.0)),
                    draw(st.booleans()),
                    draw(st.sampled_from([-1, seq])),
                )
            )
        t_now = t + draw(st.floats(0.0, 0.04))
        camera = draw(st.none() | st.builds(lambda q: pose(quat_xyzw_to_matrix(q)), quaternions))
        action = draw(st.sampled_from([None] * 8 + ["enable", "disable"]))
        steps.append((samples, t_now, camera, action))
        t = t_now
    return steps


@PROPERTY
@given(
    stream=streams(),
    tremor_filter=st.sampled_from(["none", "default"]),
    tolerance=st.sampled_from([None, math.radians(10.0), math.radians(90.0)]),
    enabled=st.booleans(),
)
def test_targets_stay_finite_rigid_and_within_the_rate_limits(
    stream, tremor_filter, tolerance, enabled
):
    config = TeleopConfig(
        tremor_filter=tremor_filter,
        align_tolerance_rad=tolerance,
        start_enabled=enabled,
        translation_scale=0.5,
    )
    tele = Teleoperation(config, START, np.eye(4))
    previous, last_used_t = START, None
    # the limits are a budget over sample time: what a sample leaves unused carries over,
    # up to limit_carry_s of it, so over any run of steps the tip moves at most
    # v_max x (their time + limit_carry_s): the largest excess of any run ending here
    # (a running maximum suffix sum) must stay within the carry
    move_excess = turn_excess = 0.0
    carry_m = config.max_tip_speed_m_s * config.limit_carry_s
    carry_rad = config.max_tip_angular_speed_rad_s * config.limit_carry_s
    for samples, now, camera, action in stream:
        if action == "enable":
            tele.enable()
        elif action == "disable":
            tele.disable()
        out = tele.step(samples, now, camera)
        X = out.X_RT
        R = X[:3, :3]
        assert np.isfinite(X).all()
        assert np.abs(R.T @ R - np.eye(3)).max() < 1e-12
        assert abs(np.linalg.det(R) - 1.0) < 1e-12
        np.testing.assert_array_equal(X[3], [0.0, 0.0, 0.0, 1.0])
        assert "internal_error" not in [e.kind for e in out.events]
        moved = float(np.linalg.norm(X[:3, 3] - previous[:3, 3]))
        turned = _angle(previous[:3, :3].T @ R)
        if out.samples_used == 0:
            elapsed = 0.0  # nothing new: no time to move in
        elif last_used_t is None:  # the first sample used ever has no time before it
            elapsed = out.used_time_s - min(s.time_s for s in samples)
        else:
            elapsed = out.used_time_s - last_used_t
        # each step forgiven its rounding (the angle: acos near 0), so none accumulates
        w_max = config.max_tip_angular_speed_rad_s
        move_excess = max(move_excess, 0.0) + moved - config.max_tip_speed_m_s * elapsed - 1e-12
        turn_excess = max(turn_excess, 0.0) + turned - w_max * elapsed - 2e-7
        assert move_excess <= carry_m
        assert turn_excess <= carry_rad
        if out.samples_used:
            last_used_t = out.used_time_s
        previous = X


finite_or_not = st.floats(allow_nan=True, allow_infinity=True)
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    finite_or_not,
    st.text(max_size=4),
    st.binary(max_size=4),
    st.lists(finite_or_not, max_size=5),
    st.lists(st.lists(finite_or_not, min_size=4, max_size=4), min_size=4, max_size=4),
    arrays(
        st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.complex128]),
        array_shapes(min_dims=0, max_dims=3, max_side=5),
    ),
    arrays(np.float64, (4, 4), elements=finite_or_not),
    st.just(np.eye(4)),
    st.just(np.eye(4)[:, ::-1]),  # non-contiguous, a reflection
    st.builds(lambda: np.frombuffer(np.eye(4).tobytes()).reshape(4, 4)),  # read-only
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.just(object()),
)
samples_of_any_kind = st.builds(MasterSample, anything, anything, anything, anything, anything)
one_step_input = st.one_of(
    anything,
    samples_of_any_kind,
    st.lists(st.one_of(samples_of_any_kind, anything), max_size=4),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(one_step_input, anything, anything), min_size=1, max_size=6))
def test_nothing_raises_out_of_step(steps):
    tele = Teleoperation(TeleopConfig(start_enabled=True, align_tolerance_rad=None), START,
                         np.eye(4))  # fmt: skip
    for samples, now, camera in steps:
        out = tele.step(samples, now, camera)
        assert np.isfinite(out.X_RT).all()
        R = out.X_RT[:3, :3]
        assert np.abs(R.T @ R - np.eye(3)).max() < 1e-12
        assert "internal_error" not in [e.kind for e in out.events], out.events
