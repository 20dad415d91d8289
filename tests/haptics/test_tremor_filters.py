"""Tremor filters: the shared interface, agreement with theory, and the default's performance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from haptics.errors import HapticsError
from haptics.signals import TremorModel, voluntary_reaches
from haptics.tremor import FILTERS, make_filter
from haptics.tremor.metrics import attenuation_db, lag_ms, rms_error_m

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


@pytest.mark.parametrize("name", ALL)
def test_nan_sample_is_refused_and_state_untouched(name, rng):
    f = make_filter(name)
    x = rng.normal(size=(100, 3)) * 1e-4
    f.filter(x[:50])
    ref = make_filter(name)
    ref.filter(x[:50])
    with pytest.raises(HapticsError, match="NaN"):
        f.step([np.nan, 0, 0])
    np.testing.assert_array_equal(f.step(x[50]), ref.step(x[50]))
    with pytest.raises(HapticsError, match="row 3"):
        f.filter(np.where(np.arange(10)[:, None] == 3, np.inf, 0.0) * np.ones((10, 3)))


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
    assert f.tremor_frequency_hz == pytest.approx(freq, abs=0.15)


def test_wflc_reduces_a_tremor_near_its_start_frequency():
    # WFLC's known limits: it converges only near its start frequency, and its high-pass
    # prefilter shifts the phase of the tremor it models, which caps the cancellation
    _, x = _sine(9.0, seconds=8)
    y = make_filter("wflc").filter(x)
    assert np.std(y[5000:]) < 0.7 * np.std(x[5000:])


def _traces(n, seed, seconds=20):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        v = voluntary_reaches(seconds, RATE, rng)
        out.append((v, v + TremorModel.random(rng).sample(len(v), RATE, rng)))
    return out


def test_default_beats_the_bars_on_unseen_traces():
    scores = []
    f = make_filter("default")
    for v, x in _traces(6, seed=2024):
        f.reset()
        y = f.filter(x)
        s = 2000
        scores.append(
            (
                attenuation_db(x[s:], y[s:], v[s:], RATE),
                lag_ms(y[s:], v[s:], RATE),
                rms_error_m(y[s:], v[s:]) / rms_error_m(x[s:], v[s:]),
            )
        )
    att, lag, ratio = np.mean(scores, axis=0)
    assert att >= 15.0 and abs(lag) <= 5.0 and ratio <= 0.5, (att, lag, ratio)


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
        make_filter("default", tremor_rms_m=-1)
    with pytest.raises(HapticsError, match=r"\(N, 3\)"):
        make_filter("none").filter(np.zeros((5, 2)))
