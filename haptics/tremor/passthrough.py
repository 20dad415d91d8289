"""The "none" filter: output equals input. The baseline every table starts from."""

from __future__ import annotations

import numpy as np
from numba import njit

from haptics.tremor.base import TremorFilter, sample_ok, settle


@njit(cache=True)
def passthrough_step(state, coef, x, out):
    """Copy the sample."""
    for ax in range(3):
        out[ax] = x[ax]


@njit(cache=True)
def _guarded_step(state, coef, guard, x, out):
    ran = sample_ok(x)
    if ran:
        passthrough_step(state, coef, x, out)
    return settle(ran, state, guard, out)


class PassThrough(TremorFilter):
    """No filtering (the unfiltered baseline)."""

    name = "none"
    _guarded = _guarded_step

    def __init__(self, rate_hz: float = 1000.0) -> None:
        super().__init__(rate_hz, {})
        self._finish_init(np.zeros(1), 1)
