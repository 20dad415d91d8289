"""The tremor trace generators: each makes what its docstring says, and A and B differ.

Generator A (:class:`haptics.signals.ResonatorTremor`) is the tuning generator, generator B
(:class:`haptics.tremor.unseen.SinusoidTremor`) the unseen one. Their spectral lines must
have the width asked for, and their shapes must differ (A's resonator has a Lorentzian
line with heavy tails, B's sinusoids a Gaussian one), so that a filter tuned on A is
really judged on something else.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal as sps

from haptics.errors import HapticsError
from haptics.signals import ResonatorTremor, overlapping_reaches, voluntary_reaches
from haptics.tremor.sets import SETS, make_traces
from haptics.tremor.unseen import SinusoidTremor, lognormal_reaches

RATE = 1000.0


def _still_line(kind: str, width_hz: float):
    """A tremor of ``kind`` with a still centre at 9 Hz, no envelope, no harmonic."""
    if kind == "A":
        return ResonatorTremor(
            rms_m=1e-4,
            centre_hz=9.0,
            bandwidth_hz=width_hz,
            drift_hz=0.0,
            modulation=0.0,
            harmonic=0.0,
            axis_spread_hz=0.0,
        )
    return SinusoidTremor(
        rms_m=1e-4,
        centre_hz=9.0,
        bandwidth_hz=width_hz,
        wander_hz=0.0,
        envelope_depth=0.0,
        harmonic=0.0,
        source_spread_hz=0.0,
    )


def _spectrum(x: np.ndarray):
    f, P = sps.welch(x, fs=RATE, nperseg=min(len(x), 2**14), axis=0)
    return f, P.sum(axis=1)


@pytest.mark.parametrize("kind", ["A", "B"])
@pytest.mark.parametrize("width_hz", [0.5, 2.0])
def test_the_line_has_the_width_asked_for(kind, width_hz):
    # average the periodograms of several traces: one trace's line is too ragged
    rng = np.random.default_rng(1)
    P = 0.0
    for _ in range(3):
        f, p = _spectrum(_still_line(kind, width_hz).sample(40_000, RATE, rng))
        P = P + p
    smooth = np.convolve(P, np.ones(3) / 3, mode="same")
    above = f[smooth >= smooth.max() / 2]
    assert 8.5 < f[np.argmax(smooth)] < 9.5
    assert above.max() - above.min() == pytest.approx(width_hz, rel=0.35)


@pytest.mark.parametrize("width_hz", [0.5, 2.0])
def test_a_has_heavy_lorentzian_tails_and_b_does_not(width_hz):
    rng = np.random.default_rng(2)
    tails = {}
    for kind in ("A", "B"):
        f, P = _spectrum(_still_line(kind, width_hz).sample(40_000, RATE, rng))
        far = np.abs(f - 9.0) > 3 * width_hz
        tails[kind] = P[far].sum() / P.sum()
    # Lorentzian: 1 - (2 / pi) atan(6) = 10.5% beyond 3 widths; Gaussian: ~0
    assert tails["A"] > 0.05
    assert tails["B"] < 0.01


@pytest.mark.parametrize("model", [ResonatorTremor, SinusoidTremor])
def test_tremor_is_scaled_seeded_and_physiological(model):
    x = model.random(np.random.default_rng(3)).sample(20_000, RATE, np.random.default_rng(4))
    again = model.random(np.random.default_rng(3)).sample(20_000, RATE, np.random.default_rng(4))
    np.testing.assert_array_equal(x, again)
    m = model.random(np.random.default_rng(3))
    assert math.sqrt(np.mean(np.sum(x**2, axis=1))) == pytest.approx(m.rms_m, rel=1e-9)
    assert 50e-6 <= m.rms_m <= 200e-6
    f, P = _spectrum(x)
    assert 5.5 < f[np.argmax(P)] < 13.0


def test_generator_a_axes_are_independent():
    rng = np.random.default_rng(5)
    corr = []
    for _ in range(6):
        x = ResonatorTremor.random(rng).sample(20_000, RATE, rng)
        c = np.corrcoef(x.T)
        corr.extend(abs(c[i, j]) for i, j in ((0, 1), (0, 2), (1, 2)))
    assert np.mean(corr) < 0.1


@pytest.mark.parametrize(
    "generator",
    [voluntary_reaches, overlapping_reaches, lognormal_reaches],
    ids=lambda g: g.__name__,
)
def test_voluntary_motion_lies_below_2_hz_and_in_the_workspace(generator):
    rng = np.random.default_rng(6)
    for _ in range(3):
        v = generator(30.0, RATE, rng)
        f, P = sps.welch(v - v.mean(axis=0), fs=RATE, nperseg=8192, axis=0)
        P = P.sum(axis=1)
        assert P[f < 2.0].sum() / P.sum() > 0.989  # measured-facts: 98.9% below 2 Hz
        assert np.abs(v).max() < 0.1
        speed = np.linalg.norm(np.diff(v, axis=0), axis=1) * RATE
        assert 0.02 < speed.max() < 0.5  # hand speeds of centimetres to decimetres per second


def test_sets_tell_tuning_from_unseen_and_draw_their_own_streams():
    assert {name for name, s in SETS.items() if s.unseen} == {"unseen_narrow", "unseen_broadband"}
    assert all(SETS[n].generator == "A" for n in ("narrow", "broadband"))
    a = make_traces("broadband", 1, 3.0, seed=7)[0]
    b = make_traces("unseen_broadband", 1, 3.0, seed=7)[0]
    again = make_traces("broadband", 1, 3.0, seed=7)[0]
    np.testing.assert_array_equal(a[1], again[1])
    assert not np.allclose(a[1] - a[0], b[1] - b[0])
    with pytest.raises(HapticsError, match="valid sets are"):
        make_traces("unseen", 1, 3.0, seed=7)


def test_generators_refuse_nonsense():
    with pytest.raises(HapticsError, match="bandwidth_hz"):
        ResonatorTremor(bandwidth_hz=-1.0)
    with pytest.raises(HapticsError, match="bandwidth_hz"):
        SinusoidTremor(bandwidth_hz=0.0)
