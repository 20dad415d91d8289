"""Resolve a user's ``"package.module:name"`` string to the callable it names.

Researchers plug their own code in by naming it (a controller, an IK solver, a tremor
filter factory): a string pickles, so a configuration that names one crosses to sweep
workers, Ray and ``AsyncVectorEnv`` processes, each of which resolves it again. One
resolver for every kind of plug-in, so each says what is wrong the same way (no
module, a module that raised while imported, no such name, not callable). It lives in
the lowest package (standard library only) so that ``haptics`` and ``sim`` both use it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from kinematics.errors import closest_names


def load_callable(
    spec: str,
    what: str,
    example: str,
    error: type[Exception],
    role: str = "function",
) -> Callable:
    """The callable that ``spec`` (``"package.module:name"``) names.

    Args:
        spec: the string the user gave.
        what: what it is for, at the start of every message (``"IK solver"``).
        example: a valid spec to show in the message about a malformed one.
        error: the exception type to raise (the calling package's base exception).
        role: what the named attribute is (``"function"``, ``"factory"``).

    Raises:
        error: a malformed spec, a module that cannot be imported or that raised while
            imported (chained), no such attribute (its callables are listed, the closest
            suggested), or an attribute that is not callable.
    """
    module_name, sep, attr = str(spec).partition(":")
    if not sep or not module_name or not attr:
        raise error(f"{what} {spec!r} must be 'package.module:{role}', e.g. {example!r}.")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise error(
            f"{what} module {module_name!r} cannot be imported ({exc}); is it on "
            "PYTHONPATH or installed?"
        ) from None
    except Exception as exc:  # a user's module: a syntax error, or one raised at import
        raise error(
            f"{what} module {module_name!r} failed while it was imported: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not hasattr(module, attr):
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise error(
            f"module {module_name!r} has no {role} {attr!r}; its callables are {names}."
            + closest_names(attr, names)
        )
    target = getattr(module, attr)
    if not callable(target):
        raise error(
            f"{what} {spec!r} names a {type(target).__name__}, not a callable {role}; "
            f"give the {role} itself."
        )
    return target
