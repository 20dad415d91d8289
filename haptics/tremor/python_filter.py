"""Your own tremor filter in plain Python/numpy, behind the built-ins' guard.

The minimal filter a researcher writes::

    class MyFilter:
        def step(self, sample):   # one hand position (3,) in metres -> filtered (3,)
            ...
        def reset(self):          # forget the past; the next sample starts afresh
            ...

    def make(rate_hz, **params):  # the factory: the sample rate (Hz) and your parameters
        return MyFilter(...)

It is named by ``"package.module:make"`` wherever a filter name goes
(``TeleopConfig.tremor_filter`` with ``tremor_params`` as the keywords,
``make_filter``, ``surgisim bench tremor --filter``). The factory is called again with
the measured rate when a device samples at another rate than configured.

:class:`PythonFilter` gives it the built-ins' interface (``step``, ``filter``, ``reset``,
``refused_samples``) and their guard (see :mod:`haptics.tremor.base`): it only ever sees
finite, sane samples (bad ones are refused and the last good output held), and an output
that is not three finite numbers, one further than :data:`MAX_OUTPUT_OFFSET_M` from its
sample, or an exception, is a *fault*: the filter is reset.
``step`` then returns NaN, so the teleoperation loop does what it does for any filter
that produces NaN (a ``filter_reset`` event, the arm holds until the clutch is pressed
and released); ``filter`` holds the last good output over the faulty row (before any,
passes the sample through), as a built-in's guard does, since a whole trace has no arm
to hold. ``faults`` counts them and ``last_fault`` says what the latest was.
"""

from __future__ import annotations

import math

import numpy as np

from haptics.errors import HapticsError
from haptics.tremor.base import MAX_ABS_POSITION_M, TremorFilter

_NAN3 = np.full(3, np.nan)
#: The furthest a filter's output may lie from the sample it was given (m): tremor is
#: under a millimetre, and even a 100 ms lag on a hand moving at 0.5 m/s, a quick reach,
#: is 5 cm; a master's workspace is ~20 cm. A finite 1e6 m output was trusted and drove
#: the tool into the workspace wall.
MAX_OUTPUT_OFFSET_M = 0.1


class PythonFilter(TremorFilter):
    """A user's filter object (``step`` and ``reset``) behind the guard.

    Args:
        user: the object the factory returned.
        name: how it was named (``"package.module:make"``), for tables and messages.
        rate_hz: the sample rate it was made for (Hz).
        params: the keywords it was made with.
    """

    def __init__(self, user, name: str, rate_hz: float, params: dict) -> None:
        super().__init__(rate_hz, params)
        missing = [m for m in ("step", "reset") if not callable(getattr(user, m, None))]
        if missing:
            raise HapticsError(
                f"tremor filter {name!r} made a {type(user).__name__} without {missing}; a "
                "filter needs step(sample (3,) m) -> (3,) and reset()."
            )
        self.user, self.name = user, name
        self.faults = 0
        self.last_fault = ""
        self._last = np.zeros(3)
        self._has_output = False
        self._refused = 0
        self._last_refused = False

    def reset(self) -> None:
        """Forget the past (and the refusal count): the user's ``reset`` is called."""
        self._has_output = False
        self._refused = 0
        self._last_refused = False
        self.user.reset()

    @property
    def refused_samples(self) -> int:
        return self._refused

    @property
    def last_sample_refused(self) -> bool:
        return self._last_refused

    def step(self, sample) -> np.ndarray:
        """Filter one 3-D sample (m): a new finite (3,) array, or NaN after a fault (the
        filter was reset; see the module docstring).

        Raises:
            HapticsError: the sample is not 3 numbers, or it is refused before the filter
                has had any good sample.
        """
        x = np.array(sample, dtype=np.float64)
        if x.shape != (3,):
            raise HapticsError(f"a sample is one 3-D position (3,), got shape {x.shape}.")
        if not all(math.isfinite(v) and abs(v) <= MAX_ABS_POSITION_M for v in x):
            self._refused += 1
            self._last_refused = True
            if not self._has_output:
                raise HapticsError(
                    f"sample {x.tolist()} is NaN, inf or beyond {MAX_ABS_POSITION_M} m and "
                    "the filter has no good output yet to hold; start it with a valid position."
                )
            return self._last.copy()
        self._last_refused = False
        try:
            y = np.array(self.user.step(x), dtype=np.float64)
        except Exception as exc:  # the user's code: any failure is a fault, not a crash
            return self._fault(f"raised {type(exc).__name__}: {exc}")
        if y.shape != (3,):
            return self._fault(f"returned shape {y.shape}, not (3,)")
        if not np.isfinite(y).all():
            return self._fault(f"returned {y.tolist()}")
        if np.abs(y - x).max() > MAX_OUTPUT_OFFSET_M:
            return self._fault(
                f"returned {y.tolist()}, over {MAX_OUTPUT_OFFSET_M} m from its sample {x.tolist()}"
            )
        self._last[:] = y
        self._has_output = True
        return y

    def _fault(self, problem: str) -> np.ndarray:
        self.faults += 1
        self.last_fault = f"{self.name} {problem}"
        try:
            self.user.reset()
        except Exception as exc:
            self.last_fault += f" and its reset raised {type(exc).__name__}: {exc}"
        return _NAN3.copy()

    def filter(self, signal) -> np.ndarray:
        """Filter a whole (N, 3) trace causally, continuing from the current state; a
        refused or faulty row holds the last good output (a faulty row before any good
        output passes its sample through unfiltered, and counts in ``faults``).

        Raises:
            HapticsError: wrong shape, a refused row (NaN, inf) before any good one, or
                no good output on any row.
        """
        x = np.ascontiguousarray(signal, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != 3:
            raise HapticsError(f"signal must have shape (N, 3) in metres, got {x.shape}.")
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            y = self.step(x[i])
            if not np.isfinite(y).all():
                # the last good output; before any, the sample itself (unfiltered): a
                # filter that faulted on its first row only read "failed" for the whole
                # trace, though ``faults`` counts that row like any other
                y = self._last.copy() if self._has_output else x[i].copy()
            out[i] = y
        if x.shape[0] and not self._has_output:
            raise HapticsError(
                f"no row of the signal had a good output (the last: {self.last_fault})."
            )
        return out

    def __repr__(self) -> str:
        return f"PythonFilter({self.name!r}, rate_hz={self.rate_hz}, params={self.params!r})"
