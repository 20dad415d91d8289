"""Tremor filters for the teleoperation loop, behind one interface.

``make_filter(name, rate_hz=1000.0, **params)`` builds one; ``name="default"`` is the
project's best (:class:`~haptics.tremor.resonator.ResonatorKalmanFilter`: a Kalman filter
whose tremor model is a resonator with the tremor's own frequency, line width and size).
Every filter has ``step(sample)`` for the loop, ``filter(signal)`` for a whole (N, 3) trace (causal:
output i depends only on inputs <= i) and ``reset()``. Parameters are physical units.
NaN, inf or absurd samples are refused, never filtered (see :mod:`haptics.tremor.base`).
"""

from __future__ import annotations

import difflib

from haptics.errors import HapticsError
from haptics.tremor.base import TremorFilter

__all__ = ["FILTERS", "TremorFilter", "make_filter"]

#: name -> "module:Class"; imported on demand so that listing filters costs nothing
FILTERS = {
    "none": "haptics.tremor.passthrough:PassThrough",
    "butterworth": "haptics.tremor.linear:ButterworthLowPass",
    "bandstop": "haptics.tremor.linear:ButterworthBandStop",
    "one_euro": "haptics.tremor.one_euro:OneEuroFilter",
    "wflc": "haptics.tremor.wflc:WFLCFilter",
    "adaptive_kalman": "haptics.tremor.kalman:AdaptiveKalmanFilter",
    "resonator_kalman": "haptics.tremor.resonator:ResonatorKalmanFilter",
}
DEFAULT_FILTER = "resonator_kalman"


def make_filter(name: str = "default", rate_hz: float = 1000.0, **params) -> TremorFilter:
    """Build the tremor filter ``name`` for samples at ``rate_hz``.

    Raises:
        HapticsError: unknown name (lists the valid ones and the closest) or bad
            parameter (names it, its unit and the valid range).
    """
    import importlib
    import inspect

    key = DEFAULT_FILTER if name == "default" else name
    target = FILTERS.get(key)
    if target is None:
        valid = ["default", *FILTERS]
        close = difflib.get_close_matches(str(name), valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise HapticsError(f"unknown tremor filter {name!r}; valid names are {valid}.{hint}")
    module, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module), cls_name)
    accepted = [p for p in inspect.signature(cls).parameters if p != "rate_hz"]
    unknown = [p for p in params if p not in accepted]
    if unknown:
        close = difflib.get_close_matches(unknown[0], accepted, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise HapticsError(
            f"tremor filter {key!r} has no parameter {unknown[0]!r}; its parameters are "
            f"{accepted}.{hint}"
        )
    return cls(rate_hz=rate_hz, **params)
