"""The interface every tremor filter shares, and the machinery that runs them in numba.

A filter is a numba step kernel ``step(state, coef, x, out)`` over flat float64 arrays:
``coef`` holds the design (fixed at construction, in physical units converted to per-
sample quantities), ``state`` the memory, ``x`` one 3-D position sample (m) and ``out``
the filtered sample. ``step()`` calls the kernel once per sample inside the 1 kHz loop;
``filter()`` runs the same kernel over a whole trace inside numba, so both give
bit-identical outputs. Filters initialise themselves from their first sample after
construction or ``reset()`` (no transient from the origin: a teleoperation filter that
started from zero would yank the instrument).

Bad samples. No filter ever emits a non-finite value and no sample can poison a filter's
memory. A sample that is NaN, inf or absurd (any coordinate beyond
:data:`MAX_ABS_POSITION_M` in magnitude, e.g. a 1e200 from a broken driver) is *refused*:
the filter's state is left untouched, the output is the last good output, and the refusal
is counted (``refused_samples``) and flagged (``last_sample_refused``). Were a kernel ever
to produce a non-finite value from good samples, the guard would discard its state (the
next good sample re-initialises it) and hold the last good output the same way. A refused
sample before any good one has nothing to hold: it raises :class:`HapticsError`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from haptics.errors import HapticsError


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


#: no hand or tool position is 100 m from its origin; larger values are refused (m)
MAX_ABS_POSITION_M = 100.0

# guard array: [has a good output, last good output x y z, refused count, last refused]
_G_HAS, _G_OUT, _G_COUNT, _G_LAST = 0, 1, 4, 5
GUARD_SIZE = 6

#: what a guarded step did
STEP_OK, STEP_REFUSED, STEP_NO_OUTPUT = 0, 1, 2


@njit(cache=True, inline="always")
def sample_ok(x) -> bool:
    """The guard's first half: is ``x`` a sample a filter may see (finite, not absurd)?

    Each filter module runs its kernel between this and :func:`settle` in a cached
    guarded step of its own (:func:`guarded_run` loops it over a trace). A single generic
    guard taking the kernel as an argument cannot be cached by numba ("dynamic globals"),
    and compiling it cost ~0.5 s at every session's start. The guard runs inside numba:
    checking in Python cost more than the filtering itself. numba judges a cache by the
    file of the cached function only: after editing this guard, delete the filter
    modules' ``__pycache__`` (a fresh checkout has none).
    """
    good = True
    for i in range(3):
        if not (math.isfinite(x[i]) and abs(x[i]) <= MAX_ABS_POSITION_M):
            good = False
    return good


@njit(cache=True, inline="always")
def settle(ran, state, guard, out) -> int:
    """The guard's second half, after the kernel ran (``ran``) or the sample was refused:
    keep a good output, or hold the last good one (see the module docstring)."""
    good = ran
    if good:
        for i in range(3):
            if not math.isfinite(out[i]):
                good = False
        if not good:
            state[:] = 0.0  # a kernel fault: forget, re-initialise on the next sample
    if good:
        guard[_G_HAS] = 1.0
        guard[_G_LAST] = 0.0
        for i in range(3):
            guard[_G_OUT + i] = out[i]
        return STEP_OK
    guard[_G_COUNT] += 1.0
    guard[_G_LAST] = 1.0
    if guard[_G_HAS] == 0.0:
        return STEP_NO_OUTPUT
    for i in range(3):
        out[i] = guard[_G_OUT + i]
    return STEP_REFUSED


@njit
def guarded_run(guarded_step, state, coef, guard, signal, out):
    """A whole trace through a filter's guarded step: the first row that had no output to
    hold, or -1. One loop for every filter; compiled per process on first use, which only
    whole-trace filtering (benches, analysis) pays: numba cannot cache a function that
    takes another as an argument."""
    for i in range(signal.shape[0]):
        if guarded_step(state, coef, guard, signal[i], out[i]) == STEP_NO_OUTPUT:
            return i
    return -1


class TremorFilter:
    """Causal filter of 3-D positions sampled at a fixed rate.

    Subclasses set ``name``, build ``self._coef`` and ``self._state_size`` in
    ``__init__`` and provide ``_guarded``: a cached numba function of their own module,
    ``(state, coef, guard, x, out) -> STEP_*``, their kernel between :func:`sample_ok` and
    :func:`settle`. ``filter()`` runs the same function per row (:func:`guarded_run`), so
    ``step()`` and ``filter()`` agree bit for bit.

    Attributes:
        rate_hz: sample rate the filter was designed for (Hz).
        params: the design parameters, in physical units.
    """

    name = "filter"
    _guarded = None  # the subclass's kernel behind the guard (a cached numba function)

    def __init__(self, rate_hz: float, params: dict[str, Any]) -> None:
        if not (np.isfinite(rate_hz) and rate_hz > 0):
            raise HapticsError(f"rate_hz must be a positive number of hertz, got {rate_hz!r}.")
        self.rate_hz = float(rate_hz)
        self.params = dict(params)
        self._coef = np.zeros(1)
        self._state_size = 1
        self._state = np.zeros(1)
        self._guard = np.zeros(GUARD_SIZE)

    def _finish_init(self, coef: np.ndarray, state_size: int) -> None:
        self._coef = np.ascontiguousarray(coef, dtype=np.float64)
        self._state_size = int(state_size)
        self._state = np.zeros(self._state_size)
        # read off the class: a numba dispatcher found on an instance binds like a method
        self._guarded_step = type(self)._guarded

    def reset(self) -> None:
        """Forget the past (and the refusal count): the next sample re-initialises the filter."""
        self._state[:] = 0.0
        self._guard[:] = 0.0

    @property
    def refused_samples(self) -> int:
        """How many samples were refused (NaN, inf, absurd) since construction or reset."""
        return int(self._guard[_G_COUNT])

    @property
    def last_sample_refused(self) -> bool:
        """True when the latest sample was refused and its output is the last good one."""
        return bool(self._guard[_G_LAST])

    def step(self, sample) -> np.ndarray:
        """Filter one 3-D sample (m); returns a new (3,) array, always finite.

        A NaN, inf or absurd sample is refused (see the module docstring): the output is
        the last good one and :attr:`last_sample_refused` is set.

        Raises:
            HapticsError: the sample is not 3 numbers, or it is refused before the filter
                has had any good sample (there is no output to hold).
        """
        x = np.asarray(sample, dtype=np.float64)
        if x.shape != (3,):
            raise HapticsError(f"a sample is one 3-D position (3,), got shape {x.shape}.")
        out = np.empty(3)
        if self._guarded_step(self._state, self._coef, self._guard, x, out) == STEP_NO_OUTPUT:
            raise HapticsError(
                f"sample {x.tolist()} is NaN, inf or beyond {MAX_ABS_POSITION_M} m and the "
                "filter has no good output yet to hold; start it with a valid position."
            )
        return out

    def filter(self, signal) -> np.ndarray:
        """Filter a whole (N, 3) trace causally, continuing from the current state.

        Sample i of the output depends only on samples <= i; refused rows hold the last
        good output, exactly as :meth:`step` would. Call ``reset()`` first to filter an
        independent trace.

        Raises:
            HapticsError: wrong shape, or a refused row before any good one.
        """
        x = np.ascontiguousarray(signal, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != 3:
            raise HapticsError(f"signal must have shape (N, 3) in metres, got {x.shape}.")
        out = np.empty_like(x)
        bad = guarded_run(self._guarded_step, self._state, self._coef, self._guard, x, out)
        if bad >= 0:
            raise HapticsError(
                f"signal row {bad} is NaN, inf or beyond {MAX_ABS_POSITION_M} m and no earlier "
                "row was valid, so there is no output to hold; start the trace with a valid "
                "position."
            )
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
