"""The interface every tremor filter shares, and the machinery that runs them in numba.

A filter is a numba step kernel ``step(state, coef, x, out)`` over flat float64 arrays:
``coef`` holds the design (fixed at construction, in physical units converted to per-
sample quantities), ``state`` the memory, ``x`` one 3-D position sample (m) and ``out``
the filtered sample. ``step()`` calls the kernel once per sample inside the 1 kHz loop;
``filter()`` runs the same kernel over a whole trace inside numba, so both give
bit-identical outputs. Filters initialise themselves from their first sample after
construction or ``reset()`` (no transient from the origin: a teleoperation filter that
started from zero would yank the instrument).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from haptics.errors import HapticsError

_RUNNERS: dict[Any, Any] = {}


@njit(cache=True, inline="always")
def sos_cascade(z, zi, c, ci, n_sections, u, start_steady):
    """Run ``u`` through ``n_sections`` biquads (transposed direct form II).

    ``z[zi:]`` holds (z1, z2) per section, ``c[ci:]`` the scipy sos rows (b0 b1 b2 a0 a1
    a2, a0 = 1). With ``start_steady`` the states are first set to their steady state for
    a constant input ``u``, so a filter starts without a transient.
    """
    for s in range(n_sections):
        k = ci + 6 * s
        b0, b1, b2, a1, a2 = c[k], c[k + 1], c[k + 2], c[k + 4], c[k + 5]
        j = zi + 2 * s
        if start_steady:
            y_ss = u * (b0 + b1 + b2) / (1.0 + a1 + a2)
            z[j + 1] = b2 * u - a2 * y_ss
            z[j] = b1 * u - a1 * y_ss + z[j + 1]
        y = b0 * u + z[j]
        z[j] = b1 * u - a1 * y + z[j + 1]
        z[j + 1] = b2 * u - a2 * y
        u = y
    return u


def runners_for(step_kernel):
    """numba wrappers of ``step_kernel``: a checked single step and a loop over a trace.

    The checked step refuses a non-finite sample inside numba (returns False without
    touching the state): checking it in Python cost more than the filtering itself.
    """
    runners = _RUNNERS.get(step_kernel)
    if runners is None:

        @njit
        def checked_step(state, coef, x, out):
            for i in range(3):
                if not math.isfinite(x[i]):
                    return False
            step_kernel(state, coef, x, out)
            return True

        @njit
        def run(state, coef, signal, out):
            for i in range(signal.shape[0]):
                step_kernel(state, coef, signal[i], out[i])

        runners = _RUNNERS[step_kernel] = (checked_step, run)
    return runners


class TremorFilter:
    """Causal filter of 3-D positions sampled at a fixed rate.

    Subclasses set ``name``, build ``self._coef`` and ``self._state_size`` in
    ``__init__`` and provide the numba ``_kernel``.

    Attributes:
        rate_hz: sample rate the filter was designed for (Hz).
        params: the design parameters, in physical units.
    """

    name = "filter"
    _kernel = None  # numba step kernel, set by subclasses

    def __init__(self, rate_hz: float, params: dict[str, Any]) -> None:
        if not (np.isfinite(rate_hz) and rate_hz > 0):
            raise HapticsError(f"rate_hz must be a positive number of hertz, got {rate_hz!r}.")
        self.rate_hz = float(rate_hz)
        self.params = dict(params)
        self._coef = np.zeros(1)
        self._state_size = 1
        self._state = np.zeros(1)
        self._out = np.zeros(3)

    def _finish_init(self, coef: np.ndarray, state_size: int) -> None:
        self._coef = np.ascontiguousarray(coef, dtype=np.float64)
        self._state_size = int(state_size)
        self._state = np.zeros(self._state_size)
        self._checked_step, self._run = runners_for(type(self)._kernel)

    def reset(self) -> None:
        """Forget the past: the next sample re-initialises the filter."""
        self._state[:] = 0.0

    def step(self, sample) -> np.ndarray:
        """Filter one 3-D sample (m); returns a new (3,) array.

        A NaN or inf sample is not filtered (it would poison the state for good): it
        raises, and the caller (the teleoperation watchdog) decides what to do.
        """
        x = np.asarray(sample, dtype=np.float64)
        if x.shape != (3,):
            raise HapticsError(f"a sample is one 3-D position (3,), got shape {x.shape}.")
        out = np.empty(3)
        if not self._checked_step(self._state, self._coef, x, out):
            raise HapticsError(f"sample contains NaN or inf: {x.tolist()}; it was not filtered.")
        return out

    def filter(self, signal) -> np.ndarray:
        """Filter a whole (N, 3) trace causally, continuing from the current state.

        Sample i of the output depends only on samples <= i. Call ``reset()`` first to
        filter an independent trace.
        """
        x = np.ascontiguousarray(signal, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != 3:
            raise HapticsError(f"signal must have shape (N, 3) in metres, got {x.shape}.")
        if not np.isfinite(x).all():
            bad = int(np.argmax(~np.isfinite(x).all(axis=1)))
            raise HapticsError(f"signal row {bad} contains NaN or inf; clean it before filtering.")
        out = np.empty_like(x)
        self._run(self._state, self._coef, x, out)
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}(rate_hz={self.rate_hz}, {args})"


def require_positive(name: str, value: float, unit: str) -> float:
    """Return ``value`` as float or raise naming the parameter and its unit."""
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise HapticsError(f"{name} must be a positive number of {unit}, got {value!r}.")
    return value


def require_below_nyquist(name: str, value_hz: float, rate_hz: float) -> float:
    """Check a frequency lies strictly between 0 and half the sample rate."""
    value_hz = require_positive(name, value_hz, "Hz")
    if value_hz >= rate_hz / 2:
        raise HapticsError(
            f"{name} = {value_hz} Hz must lie below the Nyquist frequency {rate_hz / 2} Hz."
        )
    return value_hz


def require_band(name: str, band_hz, rate_hz: float) -> tuple[float, float]:
    """Check a (low, high) band in Hz: both edges below Nyquist and low < high."""
    try:
        low, high = band_hz
    except (TypeError, ValueError):
        raise HapticsError(f"{name} must be (low, high) in Hz, got {band_hz!r}.") from None
    low = require_below_nyquist(f"{name}[0]", low, rate_hz)
    high = require_below_nyquist(f"{name}[1]", high, rate_hz)
    if not low < high:
        raise HapticsError(f"{name} must be (low, high) with low < high, got {tuple(band_hz)}.")
    return low, high
