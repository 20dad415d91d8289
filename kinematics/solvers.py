"""Your own inverse-kinematics solver in place of :func:`~kinematics.ik.solve_ik`.

A solver is any callable with ``solve_ik``'s signature::

    def my_ik(chain, X_target, q0=None, *, pos_tol, rot_tol, max_iters, restarts,
              seed, rcm=None) -> IKResult

``chain`` is the arm's :class:`~kinematics.chain.Chain` (``fk``, ``jacobian``, ``lower``,
``upper``, ``dof``); ``X_target`` the tool-tip pose in the chain's base frame (4x4, m), or
with ``rcm=`` (a port point, m) a tip position (3,); ``q0`` the joints to start from
(the current goal in a control loop). Every keyword is always passed: take ``**kwargs``
for those you ignore. Return a :class:`~kinematics.ik.IKResult` (``q`` and ``success``
are read; the errors are measured again by whoever uses the answer).

It is named by a ``"package.module:function"`` string (``SessionConfig.ik_solver``,
``surgisim bench ik --solver``): a string pickles, so a configuration naming a solver
crosses to sweep workers and vector-env processes, each resolving it once.

The solver is trusted for nothing: :func:`checked_joints` turns what it returned into
joints within the limits, or says why it cannot be used (the session then holds the arm
and records an ``unreachable`` event, as for any target out of reach).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from kinematics.chain import Chain
from kinematics.entry_points import load_callable
from kinematics.errors import KinematicsError
from kinematics.ik import IKResult

#: the built-in solver, by the name a plug-in would have
BUILTIN_SOLVER_SPEC = "kinematics.ik:solve_ik"


class IKSolver(Protocol):
    """What :func:`load_ik_solver` returns: ``solve_ik``'s signature."""

    def __call__(
        self,
        chain: Chain,
        X_target,
        q0=None,
        *,
        pos_tol: float,
        rot_tol: float,
        max_iters: int,
        restarts: int,
        seed: int,
        rcm=None,
    ) -> IKResult: ...


def load_ik_solver(spec: str) -> IKSolver:
    """The solver ``spec`` (``"package.module:function"``) names.

    Raises:
        KinematicsError: a malformed spec, no such module (or one that raised while
            imported), no such function, or something that is not callable.
    """
    return load_callable(spec, "IK solver", BUILTIN_SOLVER_SPEC, KinematicsError)


def checked_joints(result, chain: Chain) -> tuple[np.ndarray | None, str]:
    """The joints of a solver's answer, clipped onto the limits, or None and why not.

    An answer is usable when it reports ``success`` and its ``q`` is ``chain.dof``
    finite numbers; anything else (no ``q``, a wrong shape, NaN, ``success`` False) is
    refused with a reason a person can act on.
    """
    q = getattr(result, "q", None)
    if q is None or not hasattr(result, "success"):
        return None, f"returned a {type(result).__name__}, not an IKResult (q, success, ...)"
    try:
        q = np.array(q, dtype=np.float64)
    except (TypeError, ValueError):
        return None, f"returned q that is not numbers: {q!r}"
    if q.shape != (chain.dof,):
        return (
            None,
            f"returned q of shape {q.shape}; joints {chain.joint_names} need ({chain.dof},)",
        )
    if not np.isfinite(q).all():
        return None, f"returned q with NaN or inf: {q.tolist()}"
    try:
        success = bool(result.success)
    except Exception:  # an array of several, or a type that refuses bool()
        success = False
    if not success:
        return None, f"found no solution (success={result.success!r})"
    return np.clip(q, chain.lower, chain.upper), ""
