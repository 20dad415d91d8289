"""Accumulates a session's per-step signals in preallocated arrays (growing by doubling),
then hands them over as a :class:`~scenarios.trace.SessionTrace`.

Appending to Python lists of small arrays cost more than the physics step at 1 kHz;
writing into rows of preallocated arrays does not.
"""

from __future__ import annotations

import numpy as np

from scenarios.trace import InstrumentTrace, SessionTrace, TraceEvent

_FIELDS = {
    "tip_position_m": (3, float),
    "jaw_rad": ((), float),
    "master_position_m": (3, float),
    "clutch": ((), bool),
    "tip_force_n": ((), float),
    "in_view": ((), bool),
    "contact_object": ((), bool),
    "contact_instrument": ((), bool),
    "contact_environment": ((), bool),
    "contact_held_environment": ((), bool),
}


class TraceRecorder:
    """Rows of signals per instrument, plus events.

    Args:
        instruments: name -> kind (``"psm"``/``"ecm"``) of the recorded instruments.
        rate_hz: rows per simulated second.
        capacity: initial number of rows (grows as needed).
    """

    def __init__(self, instruments: dict[str, str], rate_hz: float, capacity: int = 60_000):
        self.rate_hz = rate_hz
        self.kinds = dict(instruments)
        self.n = 0
        self._capacity = max(16, capacity)
        self.time_s = np.empty(self._capacity)
        self.data = {name: self._alloc(self._capacity) for name in instruments}
        self.events: list[TraceEvent] = []

    @staticmethod
    def _alloc(rows: int) -> dict[str, np.ndarray]:
        out = {}
        for key, (shape, dtype) in _FIELDS.items():
            full = (rows,) if shape == () else (rows, shape)
            out[key] = np.zeros(full, dtype=dtype)
        out["master_position_m"][:] = np.nan
        return out

    def _grow(self) -> None:
        new = self._capacity * 2
        self.time_s = np.resize(self.time_s, new)
        for name, arrays in self.data.items():
            bigger = self._alloc(new)
            for key, values in arrays.items():
                bigger[key][: self._capacity] = values
            self.data[name] = bigger
        self._capacity = new

    def row(self, time_s: float) -> int:
        """Start a new row at ``time_s``; returns its index (fill it with ``set``)."""
        if self.n == self._capacity:
            self._grow()
        i = self.n
        self.time_s[i] = time_s
        self.n += 1
        return i

    def set(self, name: str, key: str, i: int, value) -> None:
        """Write one signal of one instrument in row ``i``."""
        self.data[name][key][i] = value

    def event(self, time_s: float, kind: str, **data) -> None:
        """Record a discrete event."""
        self.events.append(TraceEvent(float(time_s), kind, data))

    def finish(
        self,
        completed: bool,
        completion_time_s: float | None,
        graspable: list[str],
        *,
        copy: bool = True,
    ) -> SessionTrace:
        """The recorded session, trimmed to the rows written.

        ``copy=False`` gives views of the rows instead of copies (a checkpoint written in
        another thread while recording goes on: rows already written never change, and a
        growing recorder moves to new arrays, leaving the viewed ones intact).
        """
        n = self.n
        instruments = {
            name: InstrumentTrace(
                **{k: (v[:n].copy() if copy else v[:n]) for k, v in arrays.items()},
                kind=self.kinds[name],
            )
            for name, arrays in self.data.items()
        }
        return SessionTrace(
            self.rate_hz,
            self.time_s[:n].copy() if copy else self.time_s[:n],
            instruments,
            list(self.events),
            completed,
            completion_time_s,
            list(graspable),
        )
