"""Tremor filters: the shared interface, bad samples, agreement with theory, the default's basics.

The default's performance on the unseen trace sets is in ``test_tremor_unseen.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from haptics.errors import HapticsError
from haptics.signals import voluntary_reaches
from haptics.tremor import FILTERS, make_filter
from haptics.tremor.base import MAX_ABS_POSITION_M
from haptics.tremor.metrics import rms_error_m
from haptics.tremor.sets import make_traces

RATE = 1000.0
ALL = ["default", *FILTERS]


def _sine(freq_hz, seconds=6.0, amp=1e-4, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    x = np.zeros((len(t), 3))
    x[:, 0] = amp * np.sin(2 * math.pi * freq_hz * t)
    x[:, 1] = 0.5 * amp * np.cos(2 * math.pi * freq_hz * t)
    return t, x


@pytest.mark.parametrize("name", ALL)
def test_step_and_filter_agree_bit_for_bit(name, rng):
    x = rng.normal(size=(3000, 3)) * 1e-4 + np.linspace(0, 0.02, 3000)[:, None]
    a = make_filter(name)
    bulk = a.filter(x)
    b = make_filter(name)
    stepped = np.array([b.step(s) for s in x])
    np.testing.assert_array_equal(bulk, stepped)


@pytest.mark.parametrize("name", ALL)
def test_causal_and_reset(name, rng):
    x = rng.normal(size=(2000, 3)) * 1e-4
    f = make_filter(name)
    full = f.filter(x)
    f.reset()
    y = x.copy()
    y[1500:] += 0.01  # the future changes ...
    np.testing.assert_array_equal(f.filter(y)[:1500], full[:1500])  # ... the past does not


@pytest.mark.parametrize("name", ALL)
def test_starts_at_the_first_sample_without_transient(name):
    x = np.tile([0.05, -0.02, 0.1], (500, 1))
    out = make_filter(name).filter(x)
    np.testing.assert_allclose(out, x, atol=1e-12)


BAD = [np.nan, np.inf, -np.inf, 1e200, 1.01 * MAX_ABS_POSITION_M]


@pytest.fixture(scope="module")
def hand_trace():
    """Ten seconds of tuning-set hand motion with broadband tremor (m)."""
    return make_traces("broadband", 1, 10.0, seed=99)[0][1]


@pytest.mark.parametrize("bad", BAD, ids=["nan", "inf", "-inf", "1e200", "beyond-limit"])
@pytest.mark.parametrize("name", ALL)
def test_bad_sample_is_refused_holds_the_output_and_leaves_the_state_alone(name, bad, hand_trace):
    x = hand_trace[:3000]
    f, ref = make_filter(name), make_filter(name)
    last = f.filter(x[:2000])[-1]
    ref.filter(x[:2000])
    sample = x[2000].copy()
    sample[1] = bad
    held = f.step(sample)
    np.testing.assert_array_equal(held, last)  # the last good output, finite
    assert f.last_sample_refused and f.refused_samples == 1
    # recovery: the refused sample left no trace, the filter goes on exactly as if unseen
    np.testing.assert_array_equal(f.filter(x[2000:]), ref.filter(x[2000:]))
    assert not f.last_sample_refused and f.refused_samples == 1
    f.reset()
    assert f.refused_samples == 0


@pytest.mark.parametrize("name", ALL)
def test_bad_rows_in_a_trace_hold_the_output_like_step_does(name, hand_trace):
    x = hand_trace[:1500].copy()
    x[700, 0] = np.nan
    x[701] = np.inf
    x[1200, 2] = -1e200
    bulk = make_filter(name)
    y = bulk.filter(x)
    assert np.isfinite(y).all() and bulk.refused_samples == 3
    np.testing.assert_array_equal(y[700], y[699])
    np.testing.assert_array_equal(y[701], y[699])
    np.testing.assert_array_equal(y[1200], y[1199])
    stepper = make_filter(name)
    np.testing.assert_array_equal(np.array([stepper.step(s) for s in x]), y)


@pytest.mark.parametrize("name", ALL)
def test_a_bad_sample_before_any_good_one_raises_and_harms_nothing(name):
    f = make_filter(name)
    with pytest.raises(HapticsError, match="no good output yet"):
        f.step([np.nan, 0.0, 0.0])
    with pytest.raises(HapticsError, match="row 0"):
        f.filter(np.full((5, 3), np.inf))
    x = np.tile([0.01, 0.02, -0.03], (50, 1))
    np.testing.assert_allclose(f.filter(x), x, atol=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_a_finite_glitch_is_forgotten_within_seconds(name, hand_trace):
    # a one-sample 1 m spike is accepted (finite, within the limit) but must not stay:
    # the adaptive models clamp their estimates to physiological ranges
    glitched = hand_trace.copy()
    glitched[2000] += [1.0, -1.0, 0.5]
    clean = make_filter(name).filter(hand_trace)
    y = make_filter(name).filter(glitched)
    assert np.isfinite(y).all()
    assert np.abs(y[-1000:] - clean[-1000:]).max() < 50e-6  # 7-8 s later


def test_butterworth_gain_and_lag_match_theory():
    f = make_filter("butterworth", cutoff_hz=6.0, order=2)
    for freq in (3.0, 6.0, 12.0):
        _, x = _sine(freq)
        y = f.filter(x)
        f.reset()
        measured = np.std(y[3000:, 0]) / np.std(x[3000:, 0])
        theory = 1 / math.sqrt(1 + (freq / 6.0) ** 4)  # analogue Butterworth magnitude
        assert measured == pytest.approx(abs(f.frequency_response([freq])[0]), rel=0.01)
        assert measured == pytest.approx(theory, rel=0.05)
    # low-frequency group delay of a 2nd-order Butterworth: sqrt(2) / (2 pi fc)
    t = np.arange(20000) / RATE
    ramp = np.zeros((len(t), 3))
    ramp[:, 0] = 0.05 * t
    y = f.filter(ramp)
    delay_ms = (ramp[-1, 0] - y[-1, 0]) / 0.05 * 1000
    assert delay_ms == pytest.approx(math.sqrt(2) / (2 * math.pi * 6.0) * 1000, rel=0.02)


def test_bandstop_notches_its_centre_and_passes_outside():
    f = make_filter("bandstop", low_hz=7.0, high_hz=13.0, order=2)
    _, x = _sine(math.sqrt(7 * 13))
    assert np.std(f.filter(x)[3000:, 0]) < 0.01 * np.std(x[3000:, 0])
    f.reset()
    _, x = _sine(1.0)
    assert np.std(f.filter(x)[3000:, 0]) == pytest.approx(np.std(x[3000:, 0]), rel=0.01)


def test_one_euro_is_a_first_order_low_pass_at_rest():
    # with beta = 0 it is an exponential smoother with cut-off min_cutoff_hz
    f = make_filter("one_euro", min_cutoff_hz=2.0, beta=0.0)
    _, x = _sine(2.0, seconds=8)
    gain = np.std(f.filter(x)[4000:, 0]) / np.std(x[4000:, 0])
    assert gain == pytest.approx(1 / math.sqrt(2), rel=0.03)


@pytest.mark.parametrize("freq", [6.5, 9.0, 12.5, 14.0])
def test_default_finds_a_pure_tremor_anywhere_in_the_band(freq):
    _, x = _sine(freq, seconds=8)
    f = make_filter("default")
    y = f.filter(x)
    assert np.std(y[5000:]) < 0.1 * np.std(x[5000:])  # better than -20 dB
    # axes 0 and 1 carry the tone; a pure tone is as narrow as the model may go
    np.testing.assert_allclose(f.tremor_frequency_hz[:2], freq, atol=0.05)
    np.testing.assert_allclose(f.tremor_bandwidth_hz[:2], 0.2)
    np.testing.assert_allclose(
        f.tremor_rms_m[:2], [1e-4 / math.sqrt(2), 0.5e-4 / math.sqrt(2)], rtol=0.1
    )


def test_wflc_reduces_a_tremor_near_its_start_frequency():
    # WFLC's known limits: it converges only near its start frequency, and its high-pass
    # prefilter shifts the phase of the tremor it models, which caps the cancellation
    _, x = _sine(9.0, seconds=8)
    y = make_filter("wflc").filter(x)
    assert np.std(y[5000:]) < 0.7 * np.std(x[5000:])


def test_default_leaves_pure_voluntary_motion_alone():
    v = voluntary_reaches(20, RATE, np.random.default_rng(4))
    y = make_filter("default").filter(v)
    assert rms_error_m(y, v) < 30e-6  # reaches of centimetres, error of tens of µm


def test_other_rates_are_supported():
    rate = 500.0
    t = np.arange(int(8 * rate)) / rate
    x = np.zeros((len(t), 3))
    x[:, 2] = 1e-4 * np.sin(2 * math.pi * 10 * t)
    y = make_filter("default", rate_hz=rate).filter(x)
    assert np.std(y[2500:, 2]) < 0.2 * np.std(x[2500:, 2])


def test_make_filter_errors_name_the_fix():
    with pytest.raises(HapticsError, match="Did you mean 'butterworth'"):
        make_filter("butterwort")
    with pytest.raises(HapticsError, match=r"has no parameter 'cutoff'.*Did you mean 'cutoff_hz'"):
        make_filter("butterworth", cutoff=5)
    with pytest.raises(HapticsError, match="Nyquist"):
        make_filter("butterworth", rate_hz=100.0, cutoff_hz=60.0)
    with pytest.raises(HapticsError, match="positive"):
        make_filter("default", start_tremor_rms_m=-1)
    with pytest.raises(HapticsError, match="alias"):
        make_filter("default", coherence_lag_s=0.2)
    with pytest.raises(HapticsError, match=r"\(N, 3\)"):
        make_filter("none").filter(np.zeros((5, 2)))


def test_default_stays_stable_over_five_minutes():
    # the default keeps a full Kalman covariance: check that rounding does not make it
    # drift or lose positive definiteness over a long session
    v, x = make_traces("broadband", 1, 300.0, seed=11)[0]
    y = make_filter("default").filter(x)
    assert np.isfinite(y).all()
    minute = 60_000
    early = rms_error_m(y[minute : 2 * minute], v[minute : 2 * minute])
    early_raw = rms_error_m(x[minute : 2 * minute], v[minute : 2 * minute])
    late = rms_error_m(y[-minute:], v[-minute:])
    late_raw = rms_error_m(x[-minute:], v[-minute:])
    assert late / late_raw < 1.3 * early / early_raw
    assert late / late_raw < 1.0  # still removing tremor (0.81 measured)


def test_default_hands_its_weight_to_the_moving_model_as_a_stroke_stops():
    """The two-model default: as a 4 cm stroke brakes to a stop (the jerk its one-second
    average of q cannot follow) the still-hand model loses nearly all its weight, and wins
    it back after a second of rest; the weights stay probabilities throughout. Measured on
    five other seeds: minimum 0.01-0.02 at the stop, 0.89-0.93 over the last 1.5 s."""
    from haptics.signals import ResonatorTremor, minimum_jerk

    n, onset, duration = 7000, 4.0, 0.4
    t = np.arange(n) / RATE
    voluntary = np.zeros((n, 3))
    moving = t >= onset
    voluntary[moving] = minimum_jerk(
        np.zeros(3), np.array([0.04, 0.0, 0.0]), duration, t[moving] - onset
    )
    x = voluntary + ResonatorTremor().sample(n, RATE, np.random.default_rng(2027))
    f = make_filter("default", RATE)
    still = np.empty((n, 3))
    for i in range(n):
        f.step(x[i])
        still[i] = f.still_probability
    assert np.all(np.isfinite(still)) and still.min() > 0.0 and still.max() < 1.0
    around_the_stop = slice(int(onset * RATE), int((onset + duration + 0.2) * RATE))
    assert still[around_the_stop, 0].min() < 0.2
    assert still[int(5.5 * RATE) :, 0].mean() > 0.7


@pytest.mark.parametrize("shape", ["step", "reach"])
@pytest.mark.parametrize("size_m", [0.001, 0.01, 0.05])
def test_default_follows_a_brisk_move_after_rest_without_overshoot(shape, size_m):
    """A hand that sets off briskly after a rest, when the filter has learnt that it is
    still: the estimate may lie no further from the sample than a few tremor sigmas, so
    with no tremor it follows within a tenth of a millimetre. Before that bound a 1 cm
    reach in 0.1 s overshot by 4.6 mm and a 5 cm step came out as a 36 cm excursion."""
    from haptics.signals import minimum_jerk

    n, onset = 6000, 3.0
    t = np.arange(n) / RATE
    x = np.zeros((n, 3))
    moving = t >= onset
    if shape == "step":
        x[moving, 0] = size_m
    else:
        x[moving] = minimum_jerk(np.zeros(3), [size_m, 0.0, -size_m], 0.1, t[moving] - onset)
    y = make_filter("default").filter(x)
    assert np.abs(y - x).max() < 1e-4
    assert y[:, 0].max() < size_m + 1e-4 and y[:, 0].min() > -1e-4


@pytest.mark.parametrize("rest_s", [2.0, 6.0])
def test_a_brisk_reach_under_a_sinusoidal_tremor_stays_within_the_stated_bound(rest_s):
    """The README's numbers: a 3 cm reach in 150 ms after a rest, under a 0.5 mm, 9 Hz
    sinusoid. The estimate lies within five times the filter's running tremor sigma of
    the sample; that sigma reads 1.48x a sinusoid's RMS, and the reach's own 6-16 Hz power
    raises it by at most exp(1.5 x duration / power_time_s) (the running median moves by
    a fixed factor a sample). With ~0.25 s of transient: 5 x 1.48 x 0.354 mm x exp(0.375)
    = 3.8 mm. A researcher measured 3.45 mm where the README said 2.9 mm (one phase);
    these phases and rests are not theirs."""
    n = int((rest_s + 2.0) * RATE)
    t = np.arange(n) / RATE
    s = np.clip((t - rest_s) / 0.15, 0.0, 1.0)
    bound_m = 5 * 1.48 * 0.0005 / np.sqrt(2) * np.exp(1.5 * 0.25)
    after = t > rest_s
    for phase in np.linspace(0.1, 2 * np.pi + 0.1, 20, endpoint=False):
        x = np.zeros((n, 3))
        x[:, 0] = 0.03 * (10 * s**3 - 15 * s**4 + 6 * s**5) + 0.0005 * np.sin(
            2 * np.pi * 9 * t + phase
        )
        y = make_filter("default", RATE).filter(x)
        assert np.abs(y[after, 0] - x[after, 0]).max() < bound_m
        assert (y[after, 0] - 0.03).max() < bound_m + 0.0005  # past the target


def test_default_on_quick_reaches_after_rests_stays_within_millimetres():
    """The ``brisk`` check set (generator A tremor on 1-5 cm reaches in 0.1-0.4 s after
    1-3 s rests; seeds nothing was tuned on). No filter helps here (every one has more
    RMS error than none: the tremor is small next to a quick reach's transient), but the
    default must not add millimetres: it did 6-11 mm before the estimate was bounded by
    the tremor's size (on these traces now: at most 1.5 mm, RMS 1.4-2.1x unfiltered;
    with no tremor at all 0.03-0.21 mm)."""
    traces = make_traces("brisk", 4, 20.0, seed=2041)
    skip = 2000
    ratios = []
    for voluntary, measured in traces:
        y = make_filter("default").filter(measured)
        v, x, y = voluntary[skip:], measured[skip:], y[skip:]
        assert np.sqrt(np.max(np.sum((y - v) ** 2, axis=1))) < 2.5e-3
        ratios.append(rms_error_m(y, v) / rms_error_m(x, v))
        clean = make_filter("default").filter(voluntary)[skip:]
        assert np.abs(clean - v).max() < 5e-4  # no tremor: within half a millimetre
    assert np.mean(ratios) < 3.0


def test_default_tremor_bound_must_be_positive():
    with pytest.raises(HapticsError, match="tremor_bound_sigmas"):
        make_filter("default", tremor_bound_sigmas=0.0)
