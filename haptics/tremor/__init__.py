"""Tremor filters for the teleoperation loop, behind one interface.

``make_filter(name, rate_hz=1000.0, **params)`` builds one; ``name="default"`` is the
project's best (:class:`~haptics.tremor.resonator.ResonatorKalmanFilter`: a Kalman filter
whose tremor model is a resonator with the tremor's own frequency, line width and size).
Every filter has ``step(sample)`` for the loop, ``filter(signal)`` for a whole (N, 3) trace (causal:
output i depends only on inputs <= i) and ``reset()``. Parameters are physical units.
NaN, inf or absurd samples are refused, never filtered (see :mod:`haptics.tremor.base`).

Your own filter, in plain Python: ``make_filter("package.module:make", rate_hz, **params)``
calls ``make(rate_hz=rate_hz, **params)`` and puts what it returns behind the same guard
(see :mod:`haptics.tremor.python_filter` for the protocol).
"""

from __future__ import annotations

from haptics.errors import HapticsError
from haptics.tremor.base import TremorFilter
from kinematics.errors import closest_names

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

    Args:
        name: a built-in's name (:data:`FILTERS`, or "default"), or your filter's factory
            as ``"package.module:make"`` (see :mod:`haptics.tremor.python_filter`).

    Raises:
        HapticsError: unknown name (lists the valid ones and the closest) or bad
            parameter (names it, its unit and the valid range); for a factory, one that
            cannot be loaded, that raised, or whose result has no ``step`` and ``reset``.
    """
    import importlib
    import inspect

    if ":" in str(name):
        return _make_user_filter(str(name), rate_hz, params)

    key = DEFAULT_FILTER if name == "default" else name
    target = FILTERS.get(key)
    if target is None:
        valid = ["default", *FILTERS]
        hint = closest_names(str(name), valid, n=1, cutoff=0.6)
        raise HapticsError(f"unknown tremor filter {name!r}; valid names are {valid}.{hint}")
    module, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module), cls_name)
    accepted = [p for p in inspect.signature(cls).parameters if p != "rate_hz"]
    unknown = [p for p in params if p not in accepted]
    if unknown:
        hint = closest_names(unknown[0], accepted, n=1, cutoff=0.6)
        raise HapticsError(
            f"tremor filter {key!r} has no parameter {unknown[0]!r}; its parameters are "
            f"{accepted}.{hint}"
        )
    return cls(rate_hz=rate_hz, **params)


def _make_user_filter(spec: str, rate_hz: float, params: dict) -> TremorFilter:
    """The filter a user's factory makes, behind the built-ins' guard."""
    import inspect

    from haptics.tremor.python_filter import PythonFilter
    from kinematics.entry_points import load_callable

    factory = load_callable(spec, "tremor filter", "mypkg.filters:make", HapticsError, "factory")
    signature_error = (
        f"tremor filter {spec!r}: the factory must take rate_hz and the parameters "
        f"{sorted(params)} as keywords"
    )
    # the signature is judged before the call: a TypeError raised inside a factory that
    # takes these keywords is a bad parameter value ("10ms" for window_s), not a signature
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # no signature to read (a C callable): the call judges
        signature = None
    if signature is not None:
        try:
            signature.bind(rate_hz=rate_hz, **params)
        except TypeError as exc:
            raise HapticsError(f"{signature_error}: {exc}") from None
    try:
        made = factory(rate_hz=rate_hz, **params)
    except TypeError as exc:
        if signature is None:
            raise HapticsError(f"{signature_error}: {exc}") from None
        raise HapticsError(
            f"tremor filter {spec!r}: the factory raised TypeError: {exc} (with parameters "
            f"{params!r})"
        ) from exc
    except HapticsError:
        raise
    except Exception as exc:
        raise HapticsError(
            f"tremor filter {spec!r}: the factory raised {type(exc).__name__}: {exc}"
            + (f" (with parameters {params!r})" if params else "")
        ) from exc
    if isinstance(made, TremorFilter):
        return made
    return PythonFilter(made, spec, rate_hz, params)
