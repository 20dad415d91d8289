"""``haptics.tremor.metrics.lag_ms``: a known delay is read back, on smooth and on
broadband motion, on short and long traces, whatever the gain.

A researcher's probe found the lag under-read on smooth motion (a 5 ms delay of a
0.5 Hz motion read 0.25 ms; 20 ms read 10 ms), so a 10-20 ms filter passed the bench's
5 ms lag bar. The signals here are made up for the test: nothing was tuned on them.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, lfilter

from haptics.tremor.metrics import lag_ms

RATE_HZ = 1000.0


def _smooth(t: np.ndarray) -> np.ndarray:
    """Slow voluntary motion (0.2-0.65 Hz), 3-D (m)."""
    return np.stack(
        [
            0.01 * np.sin(2 * np.pi * 0.5 * t),
            0.005 * np.cos(2 * np.pi * 0.65 * t + 1.0),
            0.003 * np.sin(2 * np.pi * 0.2 * t + 0.3),
        ],
        axis=1,
    )


def _broadband(t: np.ndarray, seed: int) -> np.ndarray:
    """A random walk smoothed to ~3 Hz, 3-D (m)."""
    rng = np.random.default_rng(seed)
    b, a = butter(2, 3.0, fs=RATE_HZ)
    return lfilter(b, a, np.cumsum(rng.normal(0.0, 1e-4, (len(t), 3)), axis=0), axis=0)


@pytest.mark.parametrize("duration_s", [1.0, 3.0, 18.0])
@pytest.mark.parametrize("delay_ms", [-20, 0, 5, 10, 20, 55, 150])
def test_a_pure_delay_of_smooth_motion_is_read_back(duration_s, delay_ms):
    t = np.arange(0.0, duration_s + 0.5, 1.0 / RATE_HZ)
    voluntary = _smooth(t)
    delayed = _smooth(t - delay_ms / 1000.0)
    assert lag_ms(delayed, voluntary, RATE_HZ) == pytest.approx(delay_ms, abs=0.05)
    # the size of the output does not move the reading (a filter's gain is not its lag)
    assert lag_ms(0.7 * delayed, voluntary, RATE_HZ) == pytest.approx(delay_ms, abs=0.05)


@pytest.mark.parametrize("seed", [601, 602])
@pytest.mark.parametrize("delay_samples", [0, 3, 12, 40])
def test_a_pure_delay_of_broadband_motion_is_read_back(seed, delay_samples):
    t = np.arange(0.0, 6.0, 1.0 / RATE_HZ)
    voluntary = _broadband(t, seed)
    delayed = np.vstack([np.repeat(voluntary[:1], delay_samples, 0), voluntary])[: len(t)]
    assert lag_ms(delayed, voluntary, RATE_HZ) == pytest.approx(delay_samples, abs=0.05)


def test_a_low_pass_reads_its_group_delay_on_short_and_long_traces():
    """A 2nd-order Butterworth at 6 Hz delays slow motion by its low-frequency group
    delay, sqrt(2) / (2 pi 6 Hz) = 37.5 ms; the reading must not depend on the length."""
    b, a = butter(2, 6.0, fs=RATE_HZ)
    expected = np.sqrt(2.0) / (2 * np.pi * 6.0) * 1000.0
    readings = []
    for duration_s in (3.0, 10.0, 30.0):
        t = np.arange(0.0, duration_s + 2.0, 1.0 / RATE_HZ)
        voluntary = _smooth(t)
        out = lfilter(b, a, voluntary - voluntary[0], axis=0) + voluntary[0]
        settled = slice(int(2.0 * RATE_HZ), None)  # as the bench: filters settle first
        readings.append(lag_ms(out[settled], voluntary[settled], RATE_HZ))
    assert readings == pytest.approx([expected] * 3, abs=1.5)


def test_a_trace_too_short_for_the_lag_window_is_refused():
    t = np.arange(0.0, 0.3, 1.0 / RATE_HZ)
    with pytest.raises(ValueError, match="too short"):
        lag_ms(_smooth(t), _smooth(t), RATE_HZ)
