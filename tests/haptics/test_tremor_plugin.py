"""A researcher's own tremor filter, in plain numpy, named ``"module:factory"``: made by
``make_filter`` and ``TeleopConfig``, behind the built-ins' guard."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from haptics.errors import HapticsError
from haptics.master import MasterSample
from haptics.teleop import TeleopConfig, Teleoperation
from haptics.tremor import make_filter
from haptics.tremor.python_filter import PythonFilter
from kinematics.transforms import pose
from tests import user_plugins

START = pose(None, [0.0, 0.0, -0.1])
FREE = {"start_enabled": True, "align_tolerance_rad": None, "translation_scale": 1.0}
AVERAGE = "tests.user_plugins:moving_average"


def _run(config, positions, dt=1e-3):
    tele = Teleoperation(config, START, np.eye(4))
    return [
        tele.step(MasterSample(k * dt, pose(np.eye(3), p), 0.0, False, k), k * dt)
        for k, p in enumerate(positions)
    ]


def test_a_moving_average_through_teleop_config_smooths_the_tool_as_it_should():
    """A 5-sample average turns a 1 mm step of the hand into a ramp of five 0.2 mm steps."""
    user_plugins.CALLS.clear()
    hand = np.zeros((20, 3))
    hand[10:, 0] = 0.001
    config = TeleopConfig(tremor_filter=AVERAGE, tremor_params={"window": 5}, **FREE)
    x = np.array([o.X_RT[0, 3] for o in _run(config, hand)]) - START[0, 3]
    np.testing.assert_allclose(x[9:16], [0, 0.2e-3, 0.4e-3, 0.6e-3, 0.8e-3, 1e-3, 1e-3], atol=1e-12)
    unfiltered = TeleopConfig(tremor_filter="none", **FREE)
    x_none = np.array([o.X_RT[0, 3] for o in _run(unfiltered, hand)]) - START[0, 3]
    assert x_none[10] == pytest.approx(1e-3, abs=1e-12)  # the same pipeline without it
    assert user_plugins.CALLS["moving_average"] == 1


def test_a_filter_returning_nan_is_reset_and_the_arm_holds_with_an_event():
    config = TeleopConfig(tremor_filter="tests.user_plugins:goes_nan", **FREE)
    tele = Teleoperation(config, START, np.eye(4))
    user = tele._filter.user
    hand = np.linspace([0, 0, 0], [0.01, 0, 0], 200)
    outs = [
        tele.step(MasterSample(k * 1e-3, pose(np.eye(3), p), 0.0, False, k), k * 1e-3)
        for k, p in enumerate(hand)
    ]
    at = [k for k, o in enumerate(outs) if any(e.kind == "filter_reset" for e in o.events)]
    assert len(at) == 1 and 90 < at[0] < 100  # its 100th call (the pipeline's warm-up is one)
    faulty = outs[at[0]]
    assert [e.kind for e in faulty.events] == ["filter_reset", "holding"]
    assert "goes_nan returned [nan, nan, nan]" in faulty.events[0].detail
    assert user.resets >= 1 and tele._filter.faults == 1
    assert outs[-1].holding and all(np.isfinite(o.X_RT).all() for o in outs)
    np.testing.assert_array_equal(outs[-1].X_RT, outs[at[0] - 1].X_RT)  # held where it was


def test_a_finite_output_far_from_its_sample_is_a_fault_too():
    """A Session API probe: a filter returning [1e6, 0, 0] was trusted and drove the tool
    23 mm into the workspace wall; the event also said "produced NaN/inf" for a filter
    that had raised or returned the wrong shape."""
    config = TeleopConfig(tremor_filter="tests.user_plugins:runs_away", **FREE)
    outs = _run(config, np.linspace([0, 0, 0], [0.01, 0, 0], 200))
    faulty = [o for o in outs if any(e.kind == "filter_reset" for e in o.events)]
    assert len(faulty) == 1
    detail = faulty[0].events[0].detail
    assert "runs_away returned [1000.0, 0.0, 0.0], over 0.1 m from its sample" in detail
    assert "NaN/inf" not in detail
    assert outs[-1].holding and np.abs(outs[-1].X_RT[:3, 3] - START[:3, 3]).max() < 0.02


def test_whole_trace_filtering_holds_over_a_fault_and_refuses_bad_samples():
    f = make_filter("tests.user_plugins:goes_nan", 1000.0, good_samples=3)
    assert isinstance(f, PythonFilter) and f.rate_hz == 1000.0
    signal = np.arange(18.0).reshape(6, 3)
    signal[4] = np.nan  # a broken sample: refused, never seen by the user's filter
    out = f.filter(signal)
    np.testing.assert_array_equal(out[[0, 1, 3]], signal[[0, 1, 3]])
    np.testing.assert_array_equal(out[2], out[1])  # the fault row holds
    np.testing.assert_array_equal(out[4], out[3])  # the refused row holds
    assert f.faults == 1 and f.refused_samples == 1


def test_a_fault_on_the_first_row_passes_it_through_and_only_no_good_row_fails():
    """A filter that gave NaN on its first call only read "failed" for the whole trace
    in the benchmarks ("no earlier row had a good output to hold")."""
    f = make_filter("tests.user_plugins:goes_nan", 1000.0, good_samples=1)
    signal = np.arange(18.0).reshape(6, 3)
    out = f.filter(signal)
    np.testing.assert_array_equal(out, signal)  # row 0 unfiltered, then a 1-sample average
    assert f.faults == 1
    with pytest.raises(HapticsError, match="no row of the signal had a good output"):
        make_filter("tests.user_plugins:always_nan", 1000.0).filter(signal)


@pytest.mark.parametrize(
    "spec, params, message",
    [
        ("tests.nowhere:make", {}, "cannot be imported"),
        ("tests.user_plugins:moving_averag", {}, "Did you mean 'moving_average'"),
        (AVERAGE, {"width": 3}, "rate_hz and the parameters \\['width'\\]"),
        ("tests.user_plugins:NOT_CALLABLE", {}, "not a callable factory"),
        ("builtins:dict", {}, "without \\['step', 'reset'\\]"),
    ],
)
def test_a_bad_filter_factory_says_what_is_wrong(spec, params, message):
    with pytest.raises(HapticsError, match=message):
        make_filter(spec, 1000.0, **params)


def test_a_bad_parameter_value_is_not_reported_as_a_signature_problem():
    """``window_s="10ms"`` read "the factory must take rate_hz and the parameters
    ['window_s'] as keywords: can't multiply sequence ...": every TypeError raised inside
    the factory was blamed on its signature."""
    spec = "tests.user_plugins:windowed"
    with pytest.raises(HapticsError) as raised:
        make_filter(spec, 1000.0, window_s="10ms")
    said = str(raised.value)
    assert "must take rate_hz" not in said
    assert "the factory raised TypeError: can't multiply sequence" in said
    assert "(with parameters {'window_s': '10ms'})" in said
    # a keyword the signature has not is still the signature's problem, before any call
    with pytest.raises(HapticsError, match="rate_hz and the parameters \\['window'\\]"):
        make_filter(spec, 1000.0, window=3)
    assert make_filter(spec, 1000.0, window_s=0.01) is not None


def test_a_teleop_config_naming_a_filter_pickles():
    config = TeleopConfig(tremor_filter=AVERAGE, tremor_params={"window": 5})
    assert pickle.loads(pickle.dumps(config)) == config
