"""The one exception type of the kinematics package.

It subclasses ``ValueError`` because every failure it reports is a bad value handed in
by the caller (a NaN pose, an unknown link, a wrong shape); callers that only know the
standard library can still catch it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class KinematicsError(ValueError):
    """A kinematic input was invalid; the message says what, what was expected and the fix."""


def closest_names(name: str, valid: Iterable[str], n: int = 3) -> str:
    """Return a human hint such as ``did you mean 'a'?`` for an unknown ``name``.

    Args:
        name: The name the caller gave.
        valid: The names that exist.
        n: How many suggestions to offer at most.
    """
    matches = difflib.get_close_matches(name, list(valid), n=n, cutoff=0.5)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(repr(m) for m in matches) + "?"
