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


def closest_names(
    name: str,
    valid: Iterable[str],
    n: int = 3,
    *,
    cutoff: float = 0.5,
    fold_case: bool = False,
) -> str:
    """Return a human hint such as `` Did you mean 'a'?`` for an unknown ``name``, or "".

    The one "closest name" helper of the project (kinematics, haptics, scenarios and sim
    errors all end their lists of valid names with it), here because kinematics is the
    lowest package and this needs only difflib.

    Args:
        name: The name the caller gave.
        valid: The names that exist.
        n: How many suggestions to offer at most.
        cutoff: difflib's similarity (0..1) a suggestion needs.
        fold_case: when nothing is close, try again ignoring case (``FLS`` finds
            ``fls``, ``psm1`` finds ``PSM1``): case counts only when it decides.
    """
    valid = list(valid)
    matches = difflib.get_close_matches(str(name), valid, n=n, cutoff=cutoff)
    if not matches and fold_case:
        lower = {v.lower(): v for v in reversed(valid)}
        found = difflib.get_close_matches(str(name).lower(), list(lower), n=n, cutoff=cutoff)
        matches = [lower[m] for m in found]
    if not matches:
        return ""
    return " Did you mean " + " or ".join(repr(m) for m in matches) + "?"
