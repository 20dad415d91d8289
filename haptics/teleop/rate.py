"""How fast a master device really samples, measured from its samples' own stamps.

A tremor filter is designed for one sample rate: its bands, time constants and models
are in samples. Fed at another rate, every frequency it sees is scaled by the ratio: a
VR controller sampled at 125 Hz into a filter designed for 1 kHz shows the filter a
10 Hz tremor at 80 Hz (outside its band, so untouched) and a 1 Hz reach at 8 Hz (inside
it, so "removed"): measured, 8-24x the unfiltered error and 4 mm at the hand. A server
cannot trust a configured rate (a desktop device paced by a Python thread on a loaded
machine, a headset's controller thread, a device written from the wire contract alone),
so the teleoperation pipeline measures it and re-designs its filter for what it finds.
"""

from __future__ import annotations

import math

#: samples per measurement window: 0.5 s at 125 Hz, 64 ms at 1 kHz
RATE_WINDOW = 64
#: a filter designed for a rate further than this share from the measured one is re-made
#: (20%: the filter's 6-16 Hz band then sits within 5-19 Hz)
RATE_TOLERANCE = 0.2
#: two consecutive windows agreeing within this share establish a rate (one window can
#: straddle a stall, a burst or a device restart)
RATE_AGREEMENT = 0.1


class SampleRateMeter:
    """The sample rate of one device's stream, from windows of :data:`RATE_WINDOW` stamps.

    Call :meth:`count` with the stamp (s) of every sample taken, in order, and
    :meth:`restart` after anything that breaks the stream (a gap, a fault): the rate is
    only reported once two consecutive windows agree.
    """

    __slots__ = ("_n", "_previous", "_t0")

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        """Forget the current window and the previous one."""
        self._n = 0
        self._t0 = math.nan
        self._previous = math.nan

    def count(self, t_s: float) -> float | None:
        """Count one sample stamped ``t_s``; at the end of a window its rate (Hz) when
        it agrees with the previous window's, else None."""
        n = self._n
        if n == 0:
            self._t0 = t_s
            self._n = 1
            return None
        n += 1
        if n < RATE_WINDOW:
            self._n = n
            return None
        span = t_s - self._t0
        self._t0 = t_s  # the window's last sample starts the next one
        self._n = 1
        if not span > 0.0:
            self._previous = math.nan
            return None
        rate = (RATE_WINDOW - 1) / span
        previous, self._previous = self._previous, rate
        if abs(rate - previous) <= RATE_AGREEMENT * previous:  # NaN: False
            return rate
        return None
