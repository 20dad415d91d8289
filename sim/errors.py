"""The one exception type of the ``sim`` package.

It subclasses ``ValueError`` because what it reports is a bad value handed in by the
caller (an unknown object type, a negative size, a NaN command, a missing mesh file);
callers that only know the standard library can still catch it.
"""

from __future__ import annotations

from kinematics.errors import closest_names

__all__ = ["SimError", "closest_names"]


class SimError(ValueError):
    """A simulation input was invalid; the message says what, what was expected and the fix."""
