"""The 1€ filter (Casiez, Roussel & Vogel, CHI 2012): an adaptive low-pass whose cut-off
rises with speed, popular in VR and input devices. A baseline here.

Its paper's tuning starts at min cut-off 1 Hz and beta 0, then raises beta until the lag
of fast motion is acceptable. At beta 0 it is a fixed 1 Hz low-pass that removes tremor
well but lags by >100 ms (the expert failed needle-handover through it): no one deploys
that, so the default here is adaptive, by a documented rule rather than fitted to any
trace: the cut-off reaches the tremor band's lower edge, 6 Hz, at a hand speed of 5 cm/s
(:data:`DEFAULT_BETA`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from haptics.errors import HapticsError
from haptics.tremor.base import TremorFilter, require_positive, sample_ok, settle

#: cut-off increase per unit speed (Hz per m/s): (6 Hz - 1 Hz) / 0.05 m/s
DEFAULT_BETA = 100.0


@njit(cache=True, inline="always")
def _alpha(cutoff_hz, dt):
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


@njit(cache=True)
def one_euro_step(state, coef, x, out):
    """State: [initialised, x_hat (3), dx_hat (3)]; coef: [dt, min_cutoff, beta, d_cutoff]."""
    dt, min_cutoff, beta, d_cutoff = coef[0], coef[1], coef[2], coef[3]
    if state[0] == 0.0:
        state[0] = 1.0
        for ax in range(3):
            state[1 + ax] = x[ax]
            state[4 + ax] = 0.0
            out[ax] = x[ax]
        return
    a_d = _alpha(d_cutoff, dt)
    for ax in range(3):
        previous = state[1 + ax]
        dx = (x[ax] - previous) / dt
        dx_hat = state[4 + ax] + a_d * (dx - state[4 + ax])
        a = _alpha(min_cutoff + beta * abs(dx_hat), dt)
        value = previous + a * (x[ax] - previous)
        state[1 + ax] = value
        state[4 + ax] = dx_hat
        out[ax] = value


@njit(cache=True)
def _guarded_step(state, coef, guard, x, out):
    ran = sample_ok(x)
    if ran:
        one_euro_step(state, coef, x, out)
    return settle(ran, state, guard, out)


class OneEuroFilter(TremorFilter):
    """1€ filter per axis.

    Args:
        rate_hz: sample rate (Hz).
        min_cutoff_hz: cut-off at rest (Hz); the paper suggests starting at 1 Hz.
        beta: cut-off increase per unit speed (Hz per m/s); the paper starts at 0 (a
            fixed low-pass) and raises it; :data:`DEFAULT_BETA` by default.
        d_cutoff_hz: cut-off of the speed estimate (Hz), 1 Hz in the paper.
    """

    name = "one_euro"
    _guarded = _guarded_step

    def __init__(
        self,
        rate_hz: float = 1000.0,
        min_cutoff_hz: float = 1.0,
        beta: float = DEFAULT_BETA,
        d_cutoff_hz: float = 1.0,
    ) -> None:
        super().__init__(
            rate_hz, {"min_cutoff_hz": min_cutoff_hz, "beta": beta, "d_cutoff_hz": d_cutoff_hz}
        )
        min_cutoff_hz = require_positive("min_cutoff_hz", min_cutoff_hz, "Hz")
        d_cutoff_hz = require_positive("d_cutoff_hz", d_cutoff_hz, "Hz")
        if not (np.isfinite(beta) and beta >= 0):
            raise HapticsError(f"beta must be >= 0 (Hz per m/s), got {beta!r}.")
        self._finish_init(np.array([1.0 / self.rate_hz, min_cutoff_hz, beta, d_cutoff_hz]), 7)
