"""Classic linear baselines: Butterworth low-pass and band-stop, as second-order sections.

The design comes from scipy (bilinear transform); the run-time is a numba transposed
direct-form II cascade per axis. Both trade tremor for lag: a 2nd-order 6 Hz low-pass
costs ~30-36 ms of lag on voluntary motion, which is why they are baselines only.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy import signal as sps

from haptics.errors import HapticsError
from haptics.tremor.base import (
    TremorFilter,
    require_band,
    require_below_nyquist,
    sample_ok,
    settle,
    sos_cascade,
)


@njit(cache=True)
def sos_step(state, coef, x, out):
    """One sample through the SOS cascade in ``coef`` (rows b0 b1 b2 a0 a1 a2, flattened).

    State: ``[initialised, then per axis and section: z1, z2]``.
    """
    n_sections = coef.shape[0] // 6
    first = state[0] == 0.0
    state[0] = 1.0
    for ax in range(3):
        out[ax] = sos_cascade(state, 1 + ax * n_sections * 2, coef, 0, n_sections, x[ax], first)


@njit(cache=True)
def _guarded_step(state, coef, guard, x, out):
    ran = sample_ok(x)
    if ran:
        sos_step(state, coef, x, out)
    return settle(ran, state, guard, out)


class SOSFilter(TremorFilter):
    """A linear filter given as second-order sections (scipy ``sos`` layout)."""

    _guarded = _guarded_step

    def _use_sos(self, sos: np.ndarray) -> None:
        sos = np.asarray(sos, dtype=float)
        self._finish_init(sos.ravel(), 1 + 3 * 2 * len(sos))

    def frequency_response(self, freqs_hz) -> np.ndarray:
        """Complex response at ``freqs_hz`` (for tests against theory)."""
        sos = self._coef.reshape(-1, 6)
        _, h = sps.sosfreqz(sos, worN=np.asarray(freqs_hz, dtype=float), fs=self.rate_hz)
        return h


class ButterworthLowPass(SOSFilter):
    """Butterworth low-pass: ``cutoff_hz`` (-3 dB point), ``order`` (poles)."""

    name = "butterworth"

    def __init__(self, rate_hz: float = 1000.0, cutoff_hz: float = 6.0, order: int = 2) -> None:
        super().__init__(rate_hz, {"cutoff_hz": cutoff_hz, "order": order})
        cutoff_hz = require_below_nyquist("cutoff_hz", cutoff_hz, self.rate_hz)
        if int(order) != order or not 1 <= order <= 8:
            raise HapticsError(f"order must be an integer from 1 to 8, got {order!r}.")
        self._use_sos(
            sps.butter(int(order), cutoff_hz, btype="lowpass", fs=self.rate_hz, output="sos")
        )


class ButterworthBandStop(SOSFilter):
    """Butterworth band-stop between ``low_hz`` and ``high_hz`` (order per band edge)."""

    name = "bandstop"

    def __init__(
        self, rate_hz: float = 1000.0, low_hz: float = 7.0, high_hz: float = 13.0, order: int = 2
    ) -> None:
        super().__init__(rate_hz, {"low_hz": low_hz, "high_hz": high_hz, "order": order})
        low_hz, high_hz = require_band("(low_hz, high_hz)", (low_hz, high_hz), self.rate_hz)
        if int(order) != order or not 1 <= order <= 8:
            raise HapticsError(f"order must be an integer from 1 to 8, got {order!r}.")
        self._use_sos(
            sps.butter(
                int(order), [low_hz, high_hz], btype="bandstop", fs=self.rate_hz, output="sos"
            )
        )
