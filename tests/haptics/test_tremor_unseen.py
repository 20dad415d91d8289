"""The default tremor filter on the unseen generator, on seeds nothing was tuned or benched on.

Generator B (:mod:`haptics.tremor.unseen`) was written independently of the tuning
generator A and never used to choose a number; these seeds (2026) are not the bench's (0).
Ten 15 s traces per set, scored after 2 s of settling, as ``bench/tremor.py`` does.

Two kinds of assertion:

- floors the default meets with margin (a regression guard: they fail if the filter gets
  worse; the comparison with the previous default and the baselines is the bench's job);
- issue 14's bars, marked ``xfail(strict=True)`` where the default does not meet them yet:
  the day a filter meets them, the test passes unexpectedly and fails the suite, so the
  marker cannot be forgotten.

Worst-trace floors. Two things make a trace hard: a centre at 6.5-7 Hz (the band's lower
edge, next to the voluntary band, with a second harmonic inside 6-16 Hz that a single
resonator does not model), and a fast stroke of the hand while the tremor is small (the
voluntary model lags the stroke's onset: on one 53 µm trace of these seeds a single
second carries a 340 µm error). Measured worst traces: 5.2 dB and 1.85x RMS error here
(broadband), 5.5 dB and 1.06x on the bench's seeds; 9.4 and 10.4 dB narrow-band. The
floors (4 dB and 2.5x broadband, 7 dB and 1.0x narrow-band) catch a filter that loses
lock or diverges on a trace while allowing for those.

Means (the two-model default): measured 11.6 dB at 0.65x (broadband) and 17.3 dB at
0.45x (narrow-band) on these seeds, 12.7 dB at 0.57x and 18.4 dB at 0.43x on the bench's
20 x 30 s (seed 0), 12.4 dB and 17.2 dB over five such draws (seeds 0-4; the one-model
default before it: 10.9 / 16.6 here, 11.7 / 16.6 over seeds 0-4). A 20-trace mean moves
by +-1 dB from draw to draw, so the bar tests ask for the bar plus 1 dB on these seeds;
the floors leave 1.5-2.5 dB for other machines' last bits and for the short traces'
scatter.
"""

from __future__ import annotations

import pytest

from bench.tremor import score_traces
from haptics.tremor.sets import make_traces

SEED = 2026
TRACES = 10
DURATION_S = 15.0


@pytest.fixture(scope="module")
def unseen_scores():
    """{set: per-trace (attenuation dB, lag ms, RMS error m, RMS ratio) of the default}."""
    scores = {}
    for set_name in ("unseen_narrow", "unseen_broadband"):
        traces = make_traces(set_name, TRACES, DURATION_S, SEED)
        scores[set_name] = score_traces("default", {}, traces)
    return scores


def test_default_on_unseen_broadband_tremor(unseen_scores):
    s = unseen_scores["unseen_broadband"]
    attenuation, lag, ratio = s[:, 0].mean(), s[:, 1].mean(), s[:, 3].mean()
    assert attenuation >= 9.0, s[:, 0]
    assert abs(lag) <= 2.0, s[:, 1]
    assert ratio <= 0.8, s[:, 3]
    assert s[:, 0].min() >= 4.0, s[:, 0]
    assert s[:, 3].max() <= 2.5, s[:, 3]


def test_default_on_unseen_narrow_band_tremor(unseen_scores):
    s = unseen_scores["unseen_narrow"]
    assert s[:, 0].mean() >= 14.0, s[:, 0]
    assert abs(s[:, 1].mean()) <= 2.0, s[:, 1]
    assert s[:, 3].mean() <= 0.6, s[:, 3]
    assert s[:, 0].min() >= 7.0, s[:, 0]
    assert s[:, 3].max() <= 1.0, s[:, 3]


@pytest.mark.xfail(
    strict=True,
    reason="issue 14 bar not met with margin: the default reaches 11.8 dB at 0.55x RMS error "
    "on these unseen broadband traces, 11.6-13.7 dB at 0.50-0.55x on five bench-size draws "
    "(bench/RESULTS.md, 'the brisk hand')",
)
def test_issue_14_bar_broadband(unseen_scores):
    s = unseen_scores["unseen_broadband"]
    assert s[:, 0].mean() >= 12.0 + 1.0  # the bar, with a 1 dB margin for other machines
    assert abs(s[:, 1].mean()) <= 5.0
    assert s[:, 3].mean() <= 0.6 - 0.05


@pytest.mark.xfail(
    strict=True,
    reason="issue 14 bar not met: the default reaches 17.3 dB on these unseen narrow-band "
    "traces, 15.7-18.4 dB (pooled 17.3) on five bench-size draws (bench/RESULTS.md, 'the "
    "brisk hand')",
)
def test_issue_14_bar_narrow_band(unseen_scores):
    assert unseen_scores["unseen_narrow"][:, 0].mean() >= 18.0 + 1.0
