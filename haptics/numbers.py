"""What counts as a number on the master side, in one place.

Device samples, force-feedback inputs and configuration fields all arrive from code the
project does not control (a bus message, a user's script). ``True`` is an ``int`` in
Python and numpy has its own scalar types, so "is this a number" needs the same careful
answer everywhere: a Python or numpy integer or float, never a bool.
"""

from __future__ import annotations

import math

import numpy as np


def is_real(value) -> bool:
    """A Python or numpy integer or float, not a bool (finite or not)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def is_finite_real(value) -> bool:
    """:func:`is_real` and finite: what a configuration number must be."""
    return is_real(value) and math.isfinite(value)


def is_integer(value) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def as_float(value) -> float:
    """``value`` as a float when it is a number (huge integers become inf), else NaN: the
    callers then treat it as any other non-finite input."""
    if type(value) is float:
        return value
    if not is_real(value):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
