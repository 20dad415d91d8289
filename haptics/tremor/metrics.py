"""How a tremor filter is judged, on traces where the true voluntary motion is known.

Used by ``bench/tremor.py``, ``bench/tremor_file.py`` and the tests, so the numbers in the
tables and in the tests mean the same thing. Where the voluntary motion is not known (a
recording of a real hand), :func:`estimate_voluntary_m` stands in for it.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

#: where tremor is looked for (Hz): physiological tremor lies in 8-12 Hz, within 6-16 Hz
TREMOR_BAND_HZ = (6.0, 16.0)
#: the default cut-off (Hz) of the voluntary-motion estimate: below the tremor band
VOLUNTARY_HZ = 2.0


def band_power(x: np.ndarray, rate_hz: float, band_hz: tuple[float, float]) -> float:
    """Power (m^2) of an (N, 3) signal within ``band_hz``, by Welch's method, summed over axes."""
    nperseg = min(len(x), 4096)
    f, P = sps.welch(x, fs=rate_hz, nperseg=nperseg, axis=0)
    mask = (f >= band_hz[0]) & (f <= band_hz[1])
    return float(P[mask].sum())


def attenuation_db(
    measured: np.ndarray,
    filtered: np.ndarray,
    voluntary: np.ndarray,
    rate_hz: float,
    band_hz: tuple[float, float] = TREMOR_BAND_HZ,
) -> float:
    """Tremor attenuation (dB): band power of the error before vs after filtering.

    The error is the signal minus the true voluntary motion, so only what the filter does
    to the tremor counts, not what the voluntary motion has in the band.
    """
    before = band_power(measured - voluntary, rate_hz, band_hz)
    after = band_power(filtered - voluntary, rate_hz, band_hz)
    return float(10.0 * np.log10(before / max(after, 1e-300)))


def lag_ms(filtered: np.ndarray, voluntary: np.ndarray, rate_hz: float, max_lag_ms=200.0) -> float:
    """Lag (ms) of the output behind the voluntary motion, by cross-correlation of velocities.

    Velocities (first differences) give a sharp correlation peak; the peak is refined by
    a parabola through its neighbours, so sub-sample lags are resolved. Negative = lead.

    Every lag is scored on the same stretch of output (the ends that some lag would
    slide past are left out for all), and normalised by the size of the voluntary
    velocity it is compared with, so that a pure delay scores highest at exactly that
    delay (Cauchy-Schwarz). A plain sum over the overlap favoured short lags, since a
    longer one sums fewer samples: it read a 5 ms delay of a 0.5 Hz motion as 0.25 ms
    and a 20 ms one as 10 ms.

    Raises:
        ValueError: the traces are too short to tell ``max_lag_ms`` of lag (both
            directions) from the motion.
    """
    dy = np.diff(filtered, axis=0)
    dv = np.diff(voluntary, axis=0)
    max_lag = int(max_lag_ms * rate_hz / 1000.0)
    min_lag = -(max_lag // 4)
    lags = np.arange(min_lag, max_lag + 1)
    start, stop = max_lag, len(dv) + min_lag  # output samples every lag can be scored on
    if stop - start < max(2, max_lag):
        raise ValueError(
            f"lag_ms: {len(dv) + 1} samples at {rate_hz:g} Hz are too short to measure up to"
            f" {max_lag_ms:g} ms of lag (need at least {(2 * max_lag - min_lag + 1)} samples)"
        )
    y = dy[start:stop]
    windows = [dv[start - L : stop - L] for L in lags]
    scale = np.array([np.sqrt(np.sum(w * w)) for w in windows])
    scale[scale == 0.0] = np.inf  # a still stretch of voluntary motion matches nothing
    corr = np.array([np.sum(y * w) for w in windows]) / scale
    k = int(np.argmax(corr))
    shift = 0.0
    if 0 < k < len(corr) - 1:
        denom = corr[k - 1] - 2 * corr[k] + corr[k + 1]
        if denom != 0:
            shift = 0.5 * (corr[k - 1] - corr[k + 1]) / denom
    return float((lags[k] + shift) * 1000.0 / rate_hz)


def rms_error_m(filtered: np.ndarray, voluntary: np.ndarray) -> float:
    """RMS (m) of the 3-D distance between the output and the true voluntary motion."""
    return float(np.sqrt(np.mean(np.sum((filtered - voluntary) ** 2, axis=1))))


def max_error_m(filtered: np.ndarray, voluntary: np.ndarray) -> float:
    """The largest 3-D distance (m) between the output and the true voluntary motion: an
    RMS hides a brief overshoot that moves the instrument millimetres."""
    return float(np.sqrt(np.max(np.sum((filtered - voluntary) ** 2, axis=1))))


def estimate_voluntary_m(
    measured: np.ndarray, rate_hz: float, cutoff_hz: float = VOLUNTARY_HZ, order: int = 4
) -> np.ndarray:
    """An estimate (m, (N, 3)) of the voluntary motion in a recording whose truth is unknown.

    A zero-phase low-pass (a Butterworth of ``order`` run forward and backward, scipy's
    ``sosfiltfilt``) at ``cutoff_hz``. Physiological tremor lies in 8-12 Hz, and within
    6-16 Hz in nearly every hand, while deliberate surgical hand motion lies mostly below
    2 Hz: a 2 Hz cut keeps the motion and drops the tremor. Order 4 (8 run both ways):
    an order-2 cut took 4% off a 0.9 Hz motion (0.4 mm of a 1 cm one), order 4 takes
    0.2%, and still removes 57 dB at 6 Hz. Zero phase, so the estimate
    itself lags nothing and a filter's lag is measured against the hand, not against the
    estimator. What it misjudges: voluntary motion above ``cutoff_hz`` (a brisk move)
    counts as tremor, so attenuation and error against the estimate are what a filter
    does to *everything* above the cut-off, not to tremor alone.

    Raises:
        HapticsError: ``cutoff_hz`` not between 0 and the Nyquist frequency.
    """
    from haptics.tremor.base import require_below_nyquist

    cutoff_hz = require_below_nyquist("the voluntary-motion cut-off", cutoff_hz, rate_hz)
    sos = sps.butter(order, cutoff_hz, fs=rate_hz, output="sos")
    measured = np.asarray(measured, dtype=float)
    # scipy's default padding (27 samples) left a 5 mm transient in the last second of a
    # 1 cm, 0.9 Hz motion; 4 / cutoff_hz of odd padding leaves ~0.6 mm at the very ends
    # (and ~20 µm a second in), so the ends are still not to be scored: see
    # :func:`estimate_edge_s`
    padlen = min(len(measured) - 1, int(4.0 * rate_hz / cutoff_hz))
    return sps.sosfiltfilt(sos, measured, axis=0, padlen=padlen)


def estimate_edge_s(cutoff_hz: float = VOLUNTARY_HZ) -> float:
    """How long (s) at each end of a recording :func:`estimate_voluntary_m` is unreliable:
    a zero-phase filter sees past both ends, which it can only guess. Leave this much out
    of any measurement against the estimate."""
    return 2.0 / cutoff_hz
