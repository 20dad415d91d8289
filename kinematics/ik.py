"""Inverse kinematics for any :class:`~kinematics.chain.Chain`, fast enough for a 1 kHz loop.

``solve_ik`` solves one target (warm-started from the current joints in a control loop,
or cold with seeded restarts); ``solve_ik_batch`` solves many in parallel over cores.
The restarts follow a failed warm start too: a control loop passes a small ``restarts``
(see :func:`solve_ik`), or an unreachable target costs milliseconds.
Both never raise from inside the solver: an unreachable target comes back with
``success=False`` and the closest solution found, always within the joint limits.
Invalid input (NaN, wrong shape, a non-rigid matrix) raises
:class:`~kinematics.errors.KinematicsError` (a ``ValueError``) before any solving.

With ``rcm=p_port`` the chain is taken to carry a straight instrument whose shaft runs
along the tool frame's z axis (pointing from the port towards the tip): the tip reaches
the target position while the shaft passes through the port, which is how a
laparoscopic tool is held by an arm without a mechanical remote centre of motion. When
the tool transform reaches along that axis (a 30 cm tool: the shaft runs from the flange
to the tip), the port must lie on that stretch of shaft: a target deeper below the port
than the shaft is long is unreachable (the port would sit behind the flange, on the
robot). A tool with no forward length along its axis (none at all, or the ECM's scope
frame) bounds nothing. The solver does not know which side of the port the patient is
on: a tip above the port, with the flange below it, is a solution too.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from kinematics import _ik_kernels as IK
from kinematics.chain import Chain
from kinematics.errors import KinematicsError
from kinematics.seeds import MAX_SEED, is_seed
from kinematics.transforms import check_pose, refuse_complex

#: A target (or port) farther than this from the base (m) is refused as input, not solved.
MAX_TARGET_M = IK.MAX_TARGET_M
#: Per-attempt cap on solver iterations (each iteration is one FK + residual evaluation).
DEFAULT_MAX_ITERS = 60
#: Extra random starts after the first attempt (cold or warm) fails.
DEFAULT_RESTARTS = 300

_NO_PORT = np.zeros(3)
_EMPTY_Q0: dict[int, np.ndarray] = {}


@dataclass(slots=True)
class IKResult:
    """Outcome of one IK solve.

    Attributes:
        q: joint values (rad or m), always within the chain's limits.
        success: True when every tolerance was met.
        pos_error: tip position error (m).
        rot_error: orientation error (rad); with ``rcm=``, the roll error about the shaft
            (0 when no roll was asked for).
        iterations: solver iterations used over all attempts.
        rcm_error: distance (m) from the port to the instrument shaft, the stretch from
            the flange to the tip when the tool has a length (see the module's note);
            None without ``rcm=``.
    """

    q: np.ndarray
    success: bool
    pos_error: float
    rot_error: float
    iterations: int
    rcm_error: float | None = None


@dataclass(slots=True)
class IKBatchResult:
    """Outcome of a batch solve: the fields of :class:`IKResult` as arrays over N targets."""

    q: np.ndarray
    success: np.ndarray
    pos_error: np.ndarray
    rot_error: np.ndarray
    iterations: np.ndarray
    rcm_error: np.ndarray | None = None

    def __len__(self) -> int:
        return self.q.shape[0]

    def __getitem__(self, k: int) -> IKResult:
        return IKResult(
            self.q[k],
            bool(self.success[k]),
            float(self.pos_error[k]),
            float(self.rot_error[k]),
            int(self.iterations[k]),
            None if self.rcm_error is None else float(self.rcm_error[k]),
        )


#: Status codes about the target itself (others are about q0 or the port).
_TARGET_STATUSES = (
    IK.STATUS_TARGET_NONFINITE,
    IK.STATUS_TARGET_NOT_RIGID,
    IK.STATUS_TARGET_TOO_FAR,
)


def check_seed(seed) -> int:
    """``seed`` as an int, or a KinematicsError saying what a seed must be
    (:func:`kinematics.seeds.is_seed`: the restart streams are keyed on int64)."""
    if not is_seed(seed):
        raise KinematicsError(
            f"seed must be an integer in [0, 2**63), got {seed!r} ({type(seed).__name__}); "
            "pass e.g. seed=0, or derive one with int(rng.integers(2**63))."
        )
    return int(seed)


def _status_error(status: int, what: str, value) -> KinematicsError:
    if status == IK.STATUS_TARGET_TOO_FAR:
        position = np.asarray(value, dtype=np.float64)[:3, 3]
        return KinematicsError(
            f"{what} position {position.tolist()} m is more than {IK.MAX_TARGET_M:g} m from "
            "the base in some coordinate: beyond any arm's workspace. Targets are in metres "
            "in the chain's base frame; check the units and the frame."
        )
    if status in (IK.STATUS_TARGET_NONFINITE, IK.STATUS_TARGET_NOT_RIGID):
        try:
            check_pose(value, what)
        except KinematicsError as exc:
            return exc
        return KinematicsError(f"{what} is not a finite rigid 4x4 transform.")
    if status == IK.STATUS_Q0_NONFINITE:
        return KinematicsError(f"q0 for {what} contains NaN or inf; pass finite joint values.")
    return KinematicsError(f"rcm port point contains NaN or inf: {value!r}.")


def _count(value, name: str, least: int) -> int:
    """``value`` as an int >= ``least``, or a KinematicsError: a count is not cut from a
    float (``59.5`` ran 59 iterations) nor read from a string."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise KinematicsError(
            f"{name} must be an integer >= {least}, got {value!r} ({type(value).__name__})."
        )
    return int(value)


def _check_settings(pos_tol, rot_tol, max_iters, restarts) -> tuple[float, float, int, int]:
    if not all(isinstance(t, numbers.Real) for t in (pos_tol, rot_tol)):
        raise KinematicsError(
            f"pos_tol and rot_tol must be numbers (m, rad), got {pos_tol!r}, {rot_tol!r}."
        )
    pos_tol, rot_tol = float(pos_tol), float(rot_tol)
    if not (pos_tol > 0 and rot_tol > 0 and np.isfinite(pos_tol) and np.isfinite(rot_tol)):
        raise KinematicsError(
            f"pos_tol and rot_tol must be positive and finite, got {pos_tol}, {rot_tol}."
        )
    return pos_tol, rot_tol, _count(max_iters, "max_iters", 1), _count(restarts, "restarts", 0)


def _rcm_target(X_target, rcm) -> tuple[np.ndarray, int, np.ndarray]:
    """Target matrix and mode for an RCM solve: a 3-vector is position only, 4x4 adds roll."""
    refuse_complex(rcm, "rcm")
    refuse_complex(X_target, "X_target")
    port = np.ascontiguousarray(rcm, dtype=np.float64).reshape(-1)
    if port.shape != (3,):
        raise KinematicsError(f"rcm must be a port point (x, y, z) in metres, got {rcm!r}.")
    if not np.isfinite(port).all():
        raise KinematicsError(f"rcm port point contains NaN or inf: {port.tolist()}.")
    if np.abs(port).max() > IK.MAX_TARGET_M:
        raise KinematicsError(
            f"rcm port point {port.tolist()} m is more than {IK.MAX_TARGET_M:g} m from the "
            "base: check the units (metres) and the frame (the chain's base)."
        )
    X = np.asarray(X_target, dtype=np.float64)
    if X.shape == (3,):
        if not np.isfinite(X).all():
            raise KinematicsError(f"target position contains NaN or inf: {X.tolist()}.")
        full = np.eye(4)
        full[:3, 3] = X
        return full, IK.MODE_RCM_POSITION, port
    if X.shape != (4, 4):
        raise KinematicsError(
            "with rcm=, X_target must be a tip position (3,) or a 4x4 pose whose x axis "
            f"sets the roll about the shaft; got shape {X.shape}."
        )
    _refuse_undefined_roll(X, port, "X_target")
    return np.ascontiguousarray(X), IK.MODE_RCM_ROLL, port


#: With ``rcm=`` and a 4x4 target, the least sine of the angle between the target's x axis
#: and the shaft (port to tip) that still sets a roll: the solver's roll residual is
#: taken as 0 below it, so any roll would "succeed".
MIN_ROLL_AXIS_SINE = 1e-6


def _refuse_undefined_roll(X: np.ndarray, port: np.ndarray, what: str) -> None:
    """Refuse a 4x4 target whose x axis runs along the shaft from ``port`` to its tip:
    the roll about the shaft is then undefined (a tip on the port sets no shaft and is
    left to the solver). Plain float arithmetic: this runs before every roll solve, where
    numpy's per-call overhead was 40 µs against a warm solve's tens."""
    (xx, _, _, tx), (xy, _, _, ty), (xz, _, _, tz) = X[:3].tolist()
    px, py, pz = port.tolist()
    ux, uy, uz = tx - px, ty - py, tz - pz
    cx, cy, cz = xy * uz - xz * uy, xz * ux - xx * uz, xx * uy - xy * ux
    shaft_sq, x_sq = ux * ux + uy * uy + uz * uz, xx * xx + xy * xy + xz * xz
    cross_sq = cx * cx + cy * cy + cz * cz
    if shaft_sq > 1e-18 and cross_sq < MIN_ROLL_AXIS_SINE**2 * shaft_sq * x_sq:
        raise KinematicsError(
            f"{what}: its x axis {[xx, xy, xz]} runs along the shaft from the port to the "
            "tip, so it sets no roll about the shaft. Give an x axis normal to the shaft "
            "(kinematics.rcm.tool_pose_through_port builds one), or pass the tip position "
            "alone for no roll."
        )


def solve_ik(
    chain: Chain,
    X_target,
    q0=None,
    *,
    pos_tol: float = 1e-5,
    rot_tol: float = 1e-4,
    max_iters: int = DEFAULT_MAX_ITERS,
    restarts: int = DEFAULT_RESTARTS,
    seed: int = 0,
    rcm=None,
) -> IKResult:
    """Joint values that put the chain's tool tip at ``X_target``.

    Args:
        chain: the arm.
        X_target: target ``X_base_tip`` (4x4, metres). With ``rcm=``, a tip position (3,)
            or a 4x4 pose whose x axis gives the roll about the shaft.
        q0: start joints (warm start, e.g. the current state in a control loop); ``None``
            starts from the middle of the joint ranges. Either way, when that first
            attempt fails, up to ``restarts`` seeded random starts follow: a warm start
            does not lower them.
        pos_tol: position tolerance (m).
        rot_tol: orientation tolerance (rad).
        max_iters: iterations per attempt (an int >= 1).
        restarts: random restarts after the first attempt fails (an int >= 0). An
            unreachable target runs every one of them: with the default 300 that is
            about 5-25 ms (PSM, a tip 1 cm past full insertion), 5-25 missed ticks of a
            1 kHz loop, where a reachable warm solve takes microseconds. In a control
            loop pass a few (the sim passes 0-2; ``restarts=2``: ~0.1 ms, and the same
            closest answer in that case).
        seed: seed of the restart stream, an integer in [0, 2**63); the same seed gives
            the same answer, bit for bit.
        rcm: port point (m, base frame) that the instrument shaft must pass through.

    Returns:
        An :class:`IKResult`; ``success`` is False for an unreachable target, with the
        closest solution found in ``q``.

    Raises:
        KinematicsError: (a ``ValueError``) NaN/inf, complex, wrong shape or non-rigid
            input, a target more than ``MAX_TARGET_M`` (1e6 m) from the base, a bad seed,
            a ``max_iters`` or ``restarts`` that is not an int, or with ``rcm=`` a 4x4
            target whose x axis runs along the shaft from the port to the tip (it sets no
            roll; ``MIN_ROLL_AXIS_SINE``).
    """
    # this function runs inside 1 kHz loops: the common path avoids every avoidable call
    if type(seed) is not int or not 0 <= seed <= MAX_SEED:
        seed = check_seed(seed)
    if not (
        pos_tol == 1e-5
        and rot_tol == 1e-4
        and type(max_iters) is int  # 60.0 equals the default but is no count
        and max_iters == DEFAULT_MAX_ITERS
        and type(restarts) is int
        and restarts == DEFAULT_RESTARTS
    ):
        pos_tol, rot_tol, max_iters, restarts = _check_settings(
            pos_tol, rot_tol, max_iters, restarts
        )
    if rcm is None:
        if type(X_target) is np.ndarray and X_target.dtype.kind == "c":
            refuse_complex(X_target, "X_target")
        X = np.asarray(X_target, dtype=np.float64)
        if X.shape != (4, 4):
            raise KinematicsError(f"X_target must be a 4x4 pose, got shape {X.shape}.")
        mode, port = IK.MODE_POSE, _NO_PORT
    else:
        X, mode, port = _rcm_target(X_target, rcm)
    dof = chain.dof
    if q0 is None:
        q0_arr = _EMPTY_Q0.get(dof)
        if q0_arr is None:
            q0_arr = _EMPTY_Q0.setdefault(dof, np.zeros(dof))
        has_q0 = False
    else:
        if type(q0) is np.ndarray and q0.dtype.kind == "c":
            refuse_complex(q0, "q0")
        q0_arr = np.asarray(q0, dtype=np.float64)
        if q0_arr.shape != (dof,):
            raise KinematicsError(
                f"q0 must have shape ({dof},) for joints {chain.joint_names}, "
                f"got shape {q0_arr.shape}."
            )
        has_q0 = True
    out = IK.solve_one(
        chain.frames,
        chain.joint_table,
        X,
        q0_arr,
        has_q0,
        mode,
        port,
        pos_tol,
        rot_tol,
        max_iters,
        restarts,
        seed,
    )
    status, success, pos_error, rot_error, rcm_error, iterations = out[: IK.OUT_Q].tolist()
    if status:
        status = int(status)
        on_target = status in _TARGET_STATUSES
        raise _status_error(status, "X_target" if on_target else "target", X if on_target else q0)
    q = out[IK.OUT_Q :]
    success = success > 0.5
    if mode != IK.MODE_POSE:
        shaft_m = shaft_length_m(chain)
        if shaft_m > 0.0:
            rcm_error = max(rcm_error, _behind_flange_m(chain.fk(q), port, shaft_m))
            success = success and rcm_error <= pos_tol
    return IKResult(
        q,
        success,
        pos_error,
        rot_error,
        int(iterations),
        None if mode == IK.MODE_POSE else rcm_error,
    )


def shaft_length_m(chain: Chain) -> float:
    """How far the tool transform reaches along the tool's z axis (m): the instrument's
    shaft from the flange to the tip (0 for a tool frame that only turns the axes)."""
    R, t = chain.X_tip_tool[:3, :3], chain.X_tip_tool[:3, 3]
    return float(R[:, 2] @ t)


def _behind_flange_m(X_tip, port, shaft_m: float) -> float:
    """How far (m) the port lies beyond the shaft's flange end (0 when it is not)."""
    z, tip = X_tip[:3, 2], X_tip[:3, 3]
    if float((tip - port) @ z) <= shaft_m:
        return 0.0
    return float(np.linalg.norm(port - (tip - shaft_m * z)))


def solve_ik_batch(
    chain: Chain,
    X_targets,
    q0=None,
    *,
    pos_tol: float = 1e-5,
    rot_tol: float = 1e-4,
    max_iters: int = DEFAULT_MAX_ITERS,
    restarts: int = DEFAULT_RESTARTS,
    seed: int = 0,
    rcm=None,
) -> IKBatchResult:
    """:func:`solve_ik` for N targets at once, in parallel over all cores.

    Args:
        X_targets: (N, 4, 4) poses, or with ``rcm=`` (N, 3) positions / (N, 4, 4) poses.
        q0: None (cold), one start (dof,) for all, or one per target (N, dof).
        Other arguments as :func:`solve_ik`. Target k draws its restarts from stream
        (seed, k), so ``result[k]`` does not depend on the other targets or on threads.

    Returns:
        An :class:`IKBatchResult` with arrays over the N targets.
    """
    pos_tol, rot_tol, max_iters, restarts = _check_settings(pos_tol, rot_tol, max_iters, restarts)
    seed = check_seed(seed)
    refuse_complex(X_targets, "X_targets")
    refuse_complex(q0, "q0")
    X = np.asarray(X_targets, dtype=np.float64)
    port = _NO_PORT
    mode = IK.MODE_POSE
    if rcm is not None:
        if X.ndim == 2 and X.shape[1] == 3:
            full = np.tile(np.eye(4), (X.shape[0], 1, 1))
            full[:, :3, 3] = X
            _, mode, port = _rcm_target(np.zeros(3), rcm)
            X = full
        else:
            _, mode, port = _rcm_target(np.eye(4), rcm)
            if X.ndim == 3 and X.shape[1:] == (4, 4):
                for k in range(X.shape[0]):
                    _refuse_undefined_roll(X[k], port, f"X_targets[{k}]")
    if X.ndim != 3 or X.shape[1:] != (4, 4):
        raise KinematicsError(f"X_targets must have shape (N, 4, 4), got {X.shape}.")
    N = X.shape[0]
    X = np.ascontiguousarray(X)
    if q0 is None:
        Q0 = np.zeros((N, chain.dof))
        has_q0 = False
    else:
        Q0 = np.asarray(q0, dtype=np.float64)
        if Q0.shape == (chain.dof,):
            Q0 = np.broadcast_to(Q0, (N, chain.dof))
        if Q0.shape != (N, chain.dof):
            raise KinematicsError(
                f"q0 must have shape ({chain.dof},) or ({N}, {chain.dof}), got {Q0.shape}."
            )
        Q0 = np.ascontiguousarray(Q0)
        has_q0 = True
    index, status = IK.batch_status(X, Q0, has_q0)
    if index >= 0:
        on_target = status in _TARGET_STATUSES
        raise _status_error(status, f"X_targets[{index}]", X[index] if on_target else Q0[index])
    Q, stats = IK.solve_many(
        chain.frames,
        chain.joint_table,
        X,
        Q0,
        has_q0,
        mode,
        port,
        pos_tol,
        rot_tol,
        max_iters,
        restarts,
        int(seed),
    )
    success = stats[:, 0] > 0.5
    rcm_error = None if mode == IK.MODE_POSE else stats[:, 3]
    shaft_m = shaft_length_m(chain) if mode != IK.MODE_POSE else 0.0
    if shaft_m > 0.0 and N:
        rcm_error = rcm_error.copy()
        for k, X_tip in enumerate(chain.fk_batch(Q)):
            rcm_error[k] = max(rcm_error[k], _behind_flange_m(X_tip, port, shaft_m))
        success = success & (rcm_error <= pos_tol)
    return IKBatchResult(
        Q, success, stats[:, 1], stats[:, 2], stats[:, 4].astype(np.int64), rcm_error
    )
