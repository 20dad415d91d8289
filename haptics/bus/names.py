"""How many distinct client names (``<dev>`` of ``<dev>/...`` topics) a server keeps state for.

Every name a client sends under gets its own state on the server (a device's clock map and
counters, a viewer's frame-timing record), kept for the session and stored with it. A lab
has a handful of devices and viewers; an allowed client that sends under thousands of
made-up names would otherwise grow the server's memory, the stored record and the final
``session/score`` without bound (a probe: 466 -> 921 MiB, a 49.6 MB record, and a score too
large to send). So the server admits at most :data:`MAX_NAMES` names at a time, with the
names of its own device map always among them (a flood of names that arrives first cannot
lock a trainee's device out); messages under any other name are dropped and counted as
``too_many_names`` (docs/bus.md).

The budget counts live names: a name not heard from for :data:`IDLE_S` gives its slot to the
next new name (1000 short-lived viewers used it up for the rest of a session, and a later
viewer's reports were dropped). Its state is kept, for the record, as a retired name, up to
:data:`RETIRED_KEPT` of them (the most recently heard); a retired name that sends again is
live again with its state. Beyond that the oldest retired name is forgotten: the holders of
per-name state drop it (:meth:`NameLimit.pop_forgotten`), and it is counted. So the state
is bounded by ``MAX_NAMES + RETIRED_KEPT`` names whatever the churn.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable

__all__ = ["IDLE_S", "MAX_NAMES", "RETIRED_KEPT", "NameLimit"]

#: Most distinct client names a server keeps live state for (its device map's included).
MAX_NAMES = 32
#: (s) A name not heard from for this long frees its slot for a new name: a device sends
#: its pedals at >= 10 Hz and a viewer its frame timing at about 1 Hz, so a name silent
#: for 10 s has stopped.
IDLE_S = 10.0
#: Retired names (silent, their slot given away) whose state is still kept for the record.
RETIRED_KEPT = 32


class NameLimit:
    """The admitted client names: at most ``limit`` live ones (reserved names included),
    and up to ``retired_kept`` retired ones whose state is kept.

    Args:
        limit: most names live at a time (:data:`MAX_NAMES`).
        reserved: names always admitted (the server's device map); they count towards
            ``limit`` and never retire.
        idle_s: a name silent this long (s, by the ``now_s`` given to :meth:`admit`) frees
            its slot for a new name (:data:`IDLE_S`).
        retired_kept: most retired names kept (:data:`RETIRED_KEPT`).
    """

    def __init__(
        self,
        limit: int = MAX_NAMES,
        reserved: Iterable[str] = (),
        idle_s: float = IDLE_S,
        retired_kept: int = RETIRED_KEPT,
    ) -> None:
        self.limit = int(limit)
        self.idle_s = float(idle_s)
        self.retired_kept = int(retired_kept)
        #: the names always admitted (the server's device map)
        self.reserved: frozenset[str] = frozenset()
        self._live: OrderedDict[str, float] = OrderedDict()  # unreserved: last heard (s)
        self._retired: OrderedDict[str, None] = OrderedDict()  # oldest first
        # taken by the server after every read; bounded all the same (one read's messages)
        self._forgotten: deque[str] = deque(maxlen=10_000)
        #: retired names whose state was dropped (more than ``retired_kept``)
        self.forgotten = 0
        self.reserve(reserved)

    def reserve(self, names: Iterable[str]) -> None:
        """Admit ``names`` whatever came before (the server's mapped devices)."""
        names = frozenset(names)
        self.reserved |= names
        for name in names:
            self._live.pop(name, None)
            self._retired.pop(name, None)

    def admit(self, name: str, now_s: float = 0.0) -> bool:
        """True when messages under ``name`` may be kept: a reserved or live name, or a
        new (or retired) one while fewer than ``limit`` are live or one of them has been
        silent for ``idle_s`` (it retires). ``now_s``: the receiver's monotonic clock (s)."""
        live = self._live
        if name in live:
            live[name] = now_s
            live.move_to_end(name)
            return True
        if name in self.reserved:
            return True
        if len(self.reserved) + len(live) >= self.limit:
            oldest = next(iter(live), None)
            if oldest is None or now_s - live[oldest] < self.idle_s:
                return False
            del live[oldest]
            self._retire(oldest)
        self._retired.pop(name, None)
        live[name] = now_s
        return True

    def _retire(self, name: str) -> None:
        self._retired[name] = None
        while len(self._retired) > self.retired_kept:
            gone, _ = self._retired.popitem(last=False)
            self._forgotten.append(gone)
            self.forgotten += 1

    def pop_forgotten(self) -> list[str]:
        """The retired names forgotten since the last call: their holders drop their state."""
        out = list(self._forgotten)
        self._forgotten.clear()
        return out

    @property
    def names(self) -> frozenset[str]:
        """The names admitted now: reserved and live (retired ones not included)."""
        return self.reserved | frozenset(self._live)

    @property
    def retired(self) -> tuple[str, ...]:
        """The retired names whose state is kept, oldest first."""
        return tuple(self._retired)
