"""Weighted-frequency Fourier linear combiner (WFLC) driving a Fourier linear combiner
(FLC): the adaptive tremor canceller of Riviere, Rader & Thakor (IEEE TBME 1998).

Per axis, the input is high-passed (removing voluntary motion) and the WFLC adapts a
sinusoid's frequency and amplitude to it by LMS; an FLC at the WFLC's frequency models
the tremor and its estimate is subtracted from the raw input. No lag by construction,
but only a narrow band is cancelled. Step sizes are normalised by the running input
power so that they do not depend on the tremor's size in metres.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy import signal as sps

from haptics.tremor.base import (
    TremorFilter,
    require_band,
    require_below_nyquist,
    require_positive,
    sample_ok,
    settle,
    sos_cascade,
)

# coef: [dt, mu_freq, mu_amp, power_forgetting, f_min, f_max, f_start, hp sos (6)]
# state per axis (stride 9): z1 z2 (high-pass), omega (rad/sample), phase, w_s, w_c,
#   flc_s, flc_c, power; plus state[0] = initialised
_STRIDE = 9


@njit(cache=True)
def wflc_step(state, coef, x, out):
    """One sample of WFLC->FLC on each axis."""
    dt, mu_f, mu_a, forget = coef[0], coef[1], coef[2], coef[3]
    w_min = 2.0 * math.pi * coef[4] * dt
    w_max = 2.0 * math.pi * coef[5] * dt
    first = state[0] == 0.0
    state[0] = 1.0
    for ax in range(3):
        b = 1 + ax * _STRIDE
        if first:
            state[b + 2] = 2.0 * math.pi * coef[6] * dt
            for k in range(3, _STRIDE):
                state[b + k] = 0.0
        s = sos_cascade(state, b, coef, 7, 1, x[ax], first)
        omega = state[b + 2]
        phase = state[b + 3] + omega
        if phase > 2.0 * math.pi:
            phase -= 2.0 * math.pi
        sn = math.sin(phase)
        cs = math.cos(phase)
        power = state[b + 8] + forget * (s * s - state[b + 8])
        norm = 1.0 / (power + 1e-30)  # the frequency gradient is in m^2: normalise it
        # WFLC: amplitude and frequency by LMS on its own error
        w_s = state[b + 4]
        w_c = state[b + 5]
        err = s - (w_s * sn + w_c * cs)
        omega += 2.0 * mu_f * norm * err * (w_s * cs - w_c * sn)
        omega = min(max(omega, w_min), w_max)
        # with unit-amplitude references the amplitude step is scale-free (m per m)
        state[b + 4] = w_s + 2.0 * mu_a * sn * err
        state[b + 5] = w_c + 2.0 * mu_a * cs * err
        # FLC at the WFLC's frequency: the tremor estimate
        f_s = state[b + 6]
        f_c = state[b + 7]
        tremor = f_s * sn + f_c * cs
        flc_err = s - tremor
        state[b + 6] = f_s + 2.0 * mu_a * sn * flc_err
        state[b + 7] = f_c + 2.0 * mu_a * cs * flc_err
        state[b + 2] = omega
        state[b + 3] = phase
        state[b + 8] = power
        out[ax] = x[ax] - tremor


@njit(cache=True)
def _guarded_step(state, coef, guard, x, out):
    ran = sample_ok(x)
    if ran:
        wflc_step(state, coef, x, out)
    return settle(ran, state, guard, out)


class WFLCFilter(TremorFilter):
    """WFLC frequency tracking + FLC cancellation, per axis.

    Args:
        rate_hz: sample rate (Hz).
        mu_frequency: normalised frequency step size (rad/sample per unit error).
        mu_amplitude: amplitude step size (dimensionless, per sample).
        highpass_hz: cut-off of the 2nd-order high-pass removing voluntary motion (Hz).
        frequency_range_hz: (min, max) tracked frequency (Hz).
        start_frequency_hz: initial frequency estimate (Hz).
        power_time_s: time constant of the input power estimate used to normalise (s).
    """

    name = "wflc"
    _guarded = _guarded_step

    def __init__(
        self,
        rate_hz: float = 1000.0,
        mu_frequency: float = 1e-3,
        mu_amplitude: float = 1e-2,
        highpass_hz: float = 3.0,
        frequency_range_hz: tuple[float, float] = (4.0, 16.0),
        start_frequency_hz: float = 9.0,
        power_time_s: float = 0.5,
    ) -> None:
        super().__init__(
            rate_hz,
            {
                "mu_frequency": mu_frequency,
                "mu_amplitude": mu_amplitude,
                "highpass_hz": highpass_hz,
                "frequency_range_hz": tuple(frequency_range_hz),
                "start_frequency_hz": start_frequency_hz,
                "power_time_s": power_time_s,
            },
        )
        highpass_hz = require_below_nyquist("highpass_hz", highpass_hz, self.rate_hz)
        lo, hi = require_band("frequency_range_hz", frequency_range_hz, self.rate_hz)
        power_time_s = require_positive("power_time_s", power_time_s, "s")
        sos = sps.butter(2, highpass_hz, btype="highpass", fs=self.rate_hz, output="sos")
        coef = np.concatenate(
            [
                [
                    1.0 / self.rate_hz,
                    require_positive("mu_frequency", mu_frequency, "rad/sample"),
                    require_positive("mu_amplitude", mu_amplitude, "(dimensionless)"),
                    1.0 / (power_time_s * self.rate_hz),
                    lo,
                    hi,
                    min(max(start_frequency_hz, lo), hi),
                ],
                sos.ravel(),
            ]
        )
        self._finish_init(coef, 1 + 3 * _STRIDE)
