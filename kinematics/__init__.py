"""Pure kinematics for surgical arms: serial chains, forward kinematics, Jacobians and IK.

This package depends on numpy and numba only (no pybullet, ZeroMQ, OpenGL or OpenXR),
so it can run inside the 1 kHz teleoperation loop, in a viewer process, or on a
researcher's laptop. Heavy modules are imported lazily on first attribute access so
that ``import kinematics`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kinematics.numba_cache import use_user_cache

use_user_cache()  # before any kernel compiles: never into the installed package

__all__ = [
    "Chain",
    "DHRow",
    "IKBatchResult",
    "IKResult",
    "Joint",
    "KinematicsError",
    "ecm",
    "psm",
    "solve_ik",
    "solve_ik_batch",
]

_LAZY = {
    "Chain": "kinematics.chain",
    "Joint": "kinematics.chain",
    "DHRow": "kinematics.dh",
    "KinematicsError": "kinematics.errors",
    "IKResult": "kinematics.ik",
    "IKBatchResult": "kinematics.ik",
    "solve_ik": "kinematics.ik",
    "solve_ik_batch": "kinematics.ik",
    "psm": "kinematics.models",
    "ecm": "kinematics.models",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from kinematics.chain import Chain, Joint
    from kinematics.dh import DHRow
    from kinematics.errors import KinematicsError
    from kinematics.ik import IKBatchResult, IKResult, solve_ik, solve_ik_batch
    from kinematics.models import ecm, psm


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kinematics' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
