"""The one exception type of the ``sim`` package.

It subclasses ``ValueError`` because what it reports is a bad value handed in by the
caller (an unknown object type, a negative size, a NaN command, a missing mesh file);
callers that only know the standard library can still catch it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from kinematics.errors import closest_names

__all__ = ["SimError", "UnknownNameError", "closest_names", "lookup"]

V = TypeVar("V")


class SimError(ValueError):
    """A simulation input was invalid; the message says what, what was expected and the fix."""


class UnknownNameError(SimError):
    """A name looked up by :func:`lookup` does not exist: ``what`` it was to name
    (``"body"``) and the ``name``, so a caller can say whose need it was (a demonstration
    plan asking for a ring the scenario does not have) without reading the message."""

    def __init__(self, message: str, what: str = "", name: str = "") -> None:
        super().__init__(message, what, name)
        self.what, self.name = what, name

    def __str__(self) -> str:
        return str(self.args[0])


def lookup(mapping: Mapping[str, V], name: str, what: str) -> V:
    """``mapping[name]``, or a :class:`SimError` listing the valid names and the closest.

    Args:
        what: what the names are, for the message (``"arm"``, ``"body"``, ...).
    """
    try:
        return mapping[name]
    except KeyError:
        raise UnknownNameError(
            f"no {what} named {name!r}; valid names are {sorted(mapping)}."
            + closest_names(str(name), mapping),
            what,
            str(name),
        ) from None
