"""How many distinct client names (``<dev>`` of ``<dev>/...`` topics) a server keeps state for.

Every name a client sends under gets its own state on the server (a device's clock map and
counters, a viewer's frame-timing record), kept for the session and stored with it. A lab
has a handful of devices and viewers; an allowed client that sends under thousands of
made-up names would otherwise grow the server's memory, the stored record and the final
``session/score`` without bound (a probe: 466 -> 921 MiB, a 49.6 MB record, and a score too
large to send). So the server admits at most :data:`MAX_NAMES` names, first come first
served, with the names of its own device map always among them (a flood of names that
arrives first cannot lock a trainee's device out); messages under any other name are
dropped and counted as ``too_many_names`` (docs/bus.md).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MAX_NAMES", "NameLimit"]

#: Most distinct client names a server keeps state for (its device map's always included).
MAX_NAMES = 32


class NameLimit:
    """The set of admitted client names, at most ``limit`` (plus reserved names beyond it).

    Args:
        limit: most names admitted in all (:data:`MAX_NAMES`).
        reserved: names always admitted (the server's device map); they count towards
            ``limit``.
    """

    def __init__(self, limit: int = MAX_NAMES, reserved: Iterable[str] = ()) -> None:
        self.limit = int(limit)
        self._names: set[str] = set()
        #: the names always admitted (the server's device map)
        self.reserved: frozenset[str] = frozenset()
        self.reserve(reserved)

    def reserve(self, names: Iterable[str]) -> None:
        """Admit ``names`` whatever came before (the server's mapped devices)."""
        names = frozenset(names)
        self.reserved |= names
        self._names.update(names)

    def admit(self, name: str) -> bool:
        """True when messages under ``name`` may be kept: a name seen before, or a new one
        while fewer than ``limit`` are admitted."""
        if name in self._names:
            return True
        if len(self._names) >= self.limit:
            return False
        self._names.add(name)
        return True

    @property
    def names(self) -> frozenset[str]:
        """The names admitted so far."""
        return frozenset(self._names)
