"""numba inverse-kinematics kernels: damped least squares with seeded restarts.

The solver is Levenberg-Marquardt on a tolerance-normalised residual (metres are
multiplied by ``rot_tol / pos_tol`` so that reaching both tolerances is the same
size of problem), with the damping proportional to the current cost (Sugihara 2011:
quadratic convergence near a solution, gradient-like steps far from one). Each trial
step is projected onto the joint limits and accepted only if the cost drops, so the
answer always respects the limits and the cost never rises. A stalled attempt is
abandoned for a fresh start drawn from a counter-based random stream (splitmix64),
so results are bit-identical for a given seed whatever the thread schedule.

Modes:
  * ``MODE_POSE``: tip position and orientation (6 residuals).
  * ``MODE_RCM_POSITION``: tip position, plus the shaft (the tool frame's z axis, which
    points from the port towards the tip) passing through a port point.
  * ``MODE_RCM_ROLL``: as above, plus the roll of the tool about its shaft, taken from
    the target's x axis projected onto the plane normal to the shaft.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from kinematics._kernels import (
    LOWER,
    SAMPLE_HI,
    SAMPLE_LO,
    UPPER,
    forward,
    jacobian_into,
    rot_mul,
)

MODE_POSE = 0
MODE_RCM_POSITION = 1
MODE_RCM_ROLL = 2

# status codes returned before any solving
STATUS_OK = 0
STATUS_TARGET_NONFINITE = 1
STATUS_TARGET_NOT_RIGID = 2
STATUS_Q0_NONFINITE = 3
STATUS_PORT_NONFINITE = 4
STATUS_TARGET_TOO_FAR = 5

#: Farthest target position (m, any coordinate) the solver accepts: a thousand kilometres
#: is beyond any arm's workspace, and errors stay finite (squares of distances up to
#: ~1e154 m would overflow to inf).
MAX_TARGET_M = 1e6

#: Tolerance on R^T R - I and on the bottom row for a target to count as rigid.
RIGID_TOL = 1e-5

_MU_START = 1.0
_MU_MAX = 1e12
_LAMBDA_FLOOR = 1e-12
_STALL_RATIO = 0.995
_STALL_LIMIT = 6
#: Chance that a joint starts at one of its limits on the corner-seeking restarts.
_CORNER_PROBABILITY = 0.4
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, inline="always")
def _splitmix(x):
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def stream_key(seed, index):
    """Random-stream key for target ``index`` under ``seed`` (both int64)."""
    return _splitmix(_splitmix(np.uint64(seed)) ^ np.uint64(index))


@njit(cache=True, inline="always")
def _uniform(key, counter):
    """The ``counter``-th uniform double in [0, 1) of stream ``key``."""
    return float(_splitmix(key + np.uint64(counter) * _GOLDEN) >> np.uint64(11)) * (
        1.0 / 9007199254740992.0
    )


@njit(cache=True)
def pose_status(X):
    """0 if X is a finite rigid 4x4 transform within :data:`MAX_TARGET_M` of the base, else
    the status code saying why not."""
    for a in range(4):
        for b in range(4):
            if not math.isfinite(X[a, b]):
                return STATUS_TARGET_NONFINITE
    for a in range(3):
        if abs(X[a, 3]) > MAX_TARGET_M:
            return STATUS_TARGET_TOO_FAR
    if (
        abs(X[3, 0]) > RIGID_TOL
        or abs(X[3, 1]) > RIGID_TOL
        or abs(X[3, 2]) > RIGID_TOL
        or abs(X[3, 3] - 1.0) > RIGID_TOL
    ):
        return STATUS_TARGET_NOT_RIGID
    for a in range(3):
        for b in range(3):
            dot = X[0, a] * X[0, b] + X[1, a] * X[1, b] + X[2, a] * X[2, b]
            expected = 1.0 if a == b else 0.0
            if abs(dot - expected) > RIGID_TOL:
                return STATUS_TARGET_NOT_RIGID
    det = (
        X[0, 0] * (X[1, 1] * X[2, 2] - X[1, 2] * X[2, 1])
        - X[0, 1] * (X[1, 0] * X[2, 2] - X[1, 2] * X[2, 0])
        + X[0, 2] * (X[1, 0] * X[2, 1] - X[1, 1] * X[2, 0])
    )
    if det < 0.0:
        return STATUS_TARGET_NOT_RIGID
    return STATUS_OK


@njit(cache=True)
def _residual(mode, R, p, X, port, w, r, geo):
    """Fill residual ``r`` at tip pose (R, p); return (cost, pos_err, rot_err, rcm_err).

    ``geo`` receives quantities the Jacobian needs: for the RCM modes, u = p - port (0:3),
    the shaft coordinate s = u.z (3), and the roll terms a, b (4, 5).
    """
    ex = p[0] - X[0, 3]
    ey = p[1] - X[1, 3]
    ez = p[2] - X[2, 3]
    r[0] = w * ex
    r[1] = w * ey
    r[2] = w * ez
    pos_err = math.sqrt(ex * ex + ey * ey + ez * ez)
    rot_err = 0.0
    rcm_err = 0.0
    if mode == MODE_POSE:
        # E = R @ X_R^T: rotation taking the target orientation to the current one (world)
        e = rot_mul(
            R, (X[0, 0], X[1, 0], X[2, 0], X[0, 1], X[1, 1], X[2, 1], X[0, 2], X[1, 2], X[2, 2])
        )
        vx = 0.5 * (e[7] - e[5])
        vy = 0.5 * (e[2] - e[6])
        vz = 0.5 * (e[3] - e[1])
        s = math.sqrt(vx * vx + vy * vy + vz * vz)
        c = 0.5 * (e[0] + e[4] + e[8] - 1.0)
        angle = math.atan2(s, c)
        if s > 1e-9:
            k = angle / s
            r[3] = vx * k
            r[4] = vy * k
            r[5] = vz * k
        elif c > 0.0:
            r[3] = vx
            r[4] = vy
            r[5] = vz
        else:  # angle ~ pi: axis from the dominant column of (E + I) / 2
            col = 0
            if e[4] > e[0] and e[4] >= e[8]:
                col = 1
            elif e[8] > e[0] and e[8] > e[4]:
                col = 2
            d = math.sqrt(max(0.5 * (e[4 * col] + 1.0), 1e-300))
            for a in range(3):
                r[3 + a] = angle * 0.5 * (e[3 * a + col] + (1.0 if a == col else 0.0)) / d
        rot_err = angle
        m = 6
    else:
        zx = R[2]
        zy = R[5]
        zz = R[8]
        ux = p[0] - port[0]
        uy = p[1] - port[1]
        uz = p[2] - port[2]
        s_along = ux * zx + uy * zy + uz * zz
        px_ = ux - s_along * zx
        py_ = uy - s_along * zy
        pz_ = uz - s_along * zz
        r[3] = w * px_
        r[4] = w * py_
        r[5] = w * pz_
        geo[0] = ux
        geo[1] = uy
        geo[2] = uz
        geo[3] = s_along
        if s_along >= 0.0:
            rcm_err = math.sqrt(px_ * px_ + py_ * py_ + pz_ * pz_)
        else:  # port ahead of the tip: the tool has not entered through it
            rcm_err = math.sqrt(ux * ux + uy * uy + uz * uz)
        m = 6
        if mode == MODE_RCM_ROLL:
            # tool x and y axes against the target's x axis
            tx = X[0, 0]
            ty = X[1, 0]
            tz = X[2, 0]
            a_ = R[1] * tx + R[4] * ty + R[7] * tz
            b_ = R[0] * tx + R[3] * ty + R[6] * tz
            geo[4] = a_
            geo[5] = b_
            if a_ * a_ + b_ * b_ > 1e-12:
                r[6] = math.atan2(a_, b_)
            else:
                r[6] = 0.0
            rot_err = abs(r[6])
            m = 7
    cost = 0.0
    for i in range(m):
        cost += r[i] * r[i]
    return 0.5 * cost, pos_err, rot_err, rcm_err


@njit(cache=True)
def _jacobian(mode, R, p, X, joints, axes_w, origins_w, w, geo, J):
    """Residual Jacobian ``J`` (rows as in :func:`_residual`) at the current state."""
    n = joints.shape[0]
    jacobian_into(joints, axes_w, origins_w, p, J, w)
    if mode == MODE_POSE:
        return
    zx = R[2]
    zy = R[5]
    zz = R[8]
    ux = geo[0]
    uy = geo[1]
    uz = geo[2]
    s_along = geo[3]
    for i in range(n):
        # J rows 0-2 hold w * Jv, rows 3-5 hold Jw
        vx = J[0, i] / w
        vy = J[1, i] / w
        vz = J[2, i] / w
        ox = J[3, i]
        oy = J[4, i]
        oz = J[5, i]
        dzx = oy * zz - oz * zy
        dzy = oz * zx - ox * zz
        dzz = ox * zy - oy * zx
        vdotz = vx * zx + vy * zy + vz * zz
        udz = ux * dzx + uy * dzy + uz * dzz
        J[3, i] = w * (vx - vdotz * zx - udz * zx - s_along * dzx)
        J[4, i] = w * (vy - vdotz * zy - udz * zy - s_along * dzy)
        J[5, i] = w * (vz - vdotz * zz - udz * zz - s_along * dzz)
        if mode == MODE_RCM_ROLL:
            a_ = geo[4]
            b_ = geo[5]
            den = a_ * a_ + b_ * b_
            if den > 1e-12:
                tx = X[0, 0]
                ty = X[1, 0]
                tz = X[2, 0]
                xx, xy, xz = R[0], R[3], R[6]
                yx, yy, yz = R[1], R[4], R[7]
                # d(y.t) = omega . (y x t); d(x.t) = omega . (x x t)
                da = ox * (yy * tz - yz * ty) + oy * (yz * tx - yx * tz) + oz * (yx * ty - yy * tx)
                db = ox * (xy * tz - xz * ty) + oy * (xz * tx - xx * tz) + oz * (xx * ty - xy * tx)
                J[6, i] = (b_ * da - a_ * db) / den
            else:
                J[6, i] = 0.0


@njit(cache=True)
def _cholesky_solve(A, b, x, n):
    """Solve A x = b for symmetric positive-definite A (n x n) in place; False if not SPD."""
    for j in range(n):
        s = A[j, j]
        for k in range(j):
            s -= A[j, k] * A[j, k]
        if s <= 0.0:
            return False
        d = math.sqrt(s)
        A[j, j] = d
        for i in range(j + 1, n):
            t = A[i, j]
            for k in range(j):
                t -= A[i, k] * A[j, k]
            A[i, j] = t / d
    for i in range(n):
        t = b[i]
        for k in range(i):
            t -= A[i, k] * x[k]
        x[i] = t / A[i, i]
    for i in range(n - 1, -1, -1):
        t = x[i]
        for k in range(i + 1, n):
            t -= A[k, i] * x[k]
        x[i] = t / A[i, i]
    return True


@njit(cache=True)
def _bounded_step(JtJ, g, lam, q, joints, A, gg, dq, active):
    """Damped step ``(JtJ + lam I) dq = g`` with joints pinned at a limit held still.

    A joint sitting on a limit whose step would push it further out is taken out of the
    active set and the step re-solved for the others, so targets whose only solutions lie
    on the boundary of the joint box (a corner, a fully retracted insertion) are reached
    instead of stalling under clipping. Returns False when the system is not positive
    definite (the caller raises the damping).
    """
    n = q.shape[0]
    for i in range(n):
        active[i] = True
    for _ in range(n + 1):
        for a in range(n):
            for b in range(a + 1):
                A[a, b] = JtJ[a, b] if (active[a] and active[b]) else 0.0
            if active[a]:
                A[a, a] += lam
                gg[a] = g[a]
            else:
                A[a, a] = 1.0
                gg[a] = 0.0
        if not _cholesky_solve(A, gg, dq, n):
            return False
        changed = False
        for i in range(n):
            if active[i] and (
                (q[i] <= joints[i, LOWER] and dq[i] < 0.0)
                or (q[i] >= joints[i, UPPER] and dq[i] > 0.0)
            ):
                active[i] = False
                changed = True
        if not changed:
            return True
    return True


@njit(cache=True, inline="always")
def _done(mode, pos_err, rot_err, rcm_err, pos_tol, rot_tol):
    if pos_err > pos_tol:
        return False
    if mode == MODE_POSE:
        return rot_err <= rot_tol
    if rcm_err > pos_tol:
        return False
    return mode == MODE_RCM_POSITION or rot_err <= rot_tol


@njit(cache=True)
def solve_kernel(
    frames,
    joints,
    X,
    q0,
    has_q0,
    mode,
    port,
    pos_tol,
    rot_tol,
    max_iters,
    restarts,
    key,
    q_out,
    stats,
):
    """Solve one target; writes the best joints to ``q_out`` and
    ``stats = [success, pos_err, rot_err, rcm_err, iterations]``."""
    n = joints.shape[0]
    m = 7 if mode == MODE_RCM_ROLL else 6
    w = rot_tol / pos_tol
    # one allocation per shape; the views below cost nothing
    vectors = np.empty((6, n))
    q, q_try, g, gg, dq = vectors[0], vectors[1], vectors[2], vectors[3], vectors[4]
    frames3 = np.empty((4, n, 3))
    axes, origins, axes_try, origins_try = frames3[0], frames3[1], frames3[2], frames3[3]
    small = np.zeros((4, 7))
    r, r_try, geo, geo_try = small[0], small[1], small[2], small[3]
    J = np.zeros((m, n))
    squares = np.empty((2, n, n))
    JtJ, A = squares[0], squares[1]
    active = np.empty(n, dtype=np.bool_)
    best_cost = np.inf
    best = (np.inf, np.inf, np.inf)
    iterations = 0
    draws = 0
    for attempt in range(restarts + 1):
        for i in range(n):
            lo = joints[i, SAMPLE_LO]
            hi = joints[i, SAMPLE_HI]
            if attempt == 0 and has_q0:
                v = q0[i]
            elif attempt == 0:
                v = 0.5 * (lo + hi)
            else:
                v = lo + (hi - lo) * _uniform(key, draws)
                if attempt % 2 == 0:
                    # every other restart pins some joints to a limit: solutions in corners
                    # of the joint box are rarely found from the interior
                    u = _uniform(key, draws + 1)
                    if u < 0.5 * _CORNER_PROBABILITY:
                        v = joints[i, LOWER] if math.isfinite(joints[i, LOWER]) else v
                    elif u < _CORNER_PROBABILITY:
                        v = joints[i, UPPER] if math.isfinite(joints[i, UPPER]) else v
                draws += 2
            q[i] = min(max(v, joints[i, LOWER]), joints[i, UPPER])
        R, p = forward(frames, joints, q, axes, origins)
        cost, pe, re, ce = _residual(mode, R, p, X, port, w, r, geo)
        mu = _MU_START
        stall = 0
        steps = 0
        while True:
            if cost < best_cost:
                best_cost = cost
                best = (pe, re, ce)
                q_out[:] = q
            if _done(mode, pe, re, ce, pos_tol, rot_tol):
                stats[0] = 1.0
                stats[1] = pe
                stats[2] = re
                stats[3] = ce
                stats[4] = iterations
                q_out[:] = q
                return
            if steps >= max_iters or stall >= _STALL_LIMIT or mu > _MU_MAX:
                break
            _jacobian(mode, R, p, X, joints, axes, origins, w, geo, J)
            for a in range(n):
                s = 0.0
                for k in range(m):
                    s += J[k, a] * r[k]
                g[a] = -s
                for b in range(a + 1):
                    s = 0.0
                    for k in range(m):
                        s += J[k, a] * J[k, b]
                    JtJ[a, b] = s
            # trial steps with growing damping until the cost drops
            while steps < max_iters and mu <= _MU_MAX:
                steps += 1
                iterations += 1
                if not _bounded_step(
                    JtJ, g, mu * cost + _LAMBDA_FLOOR, q, joints, A, gg, dq, active
                ):
                    mu *= 10.0
                    continue
                for i in range(n):
                    q_try[i] = min(max(q[i] + dq[i], joints[i, LOWER]), joints[i, UPPER])
                R_t, p_t = forward(frames, joints, q_try, axes_try, origins_try)
                cost_t, pe_t, re_t, ce_t = _residual(mode, R_t, p_t, X, port, w, r_try, geo_try)
                if cost_t < cost:
                    stall = stall + 1 if cost_t > _STALL_RATIO * cost else 0
                    q, q_try = q_try, q
                    axes, axes_try = axes_try, axes
                    origins, origins_try = origins_try, origins
                    r, r_try = r_try, r
                    geo, geo_try = geo_try, geo
                    R = R_t
                    p = p_t
                    cost, pe, re, ce = cost_t, pe_t, re_t, ce_t
                    mu = max(mu * 0.3, 1e-6)
                    break
                mu *= 8.0
    stats[0] = 0.0
    stats[1] = best[0]
    stats[2] = best[1]
    stats[3] = best[2]
    stats[4] = iterations


#: Layout of the array returned by :func:`solve_one`: status, then stats, then q.
OUT_STATUS, OUT_STATS, OUT_Q = 0, 1, 6


@njit(cache=True)
def solve_one(
    frames, joints, X, q0, has_q0, mode, port, pos_tol, rot_tol, max_iters, restarts, seed
):
    """Validate and solve one target.

    Returns one array (a single boxing on the way back to Python):
    ``[status, success, pos_err, rot_err, rcm_err, iterations, q...]``.
    """
    n = joints.shape[0]
    out = np.zeros(OUT_Q + n)
    status = pose_status(X)
    if status == STATUS_OK and has_q0:
        for i in range(n):
            if not math.isfinite(q0[i]):
                status = STATUS_Q0_NONFINITE
    if status == STATUS_OK and mode != MODE_POSE:
        for i in range(3):
            if not math.isfinite(port[i]):
                status = STATUS_PORT_NONFINITE
    out[OUT_STATUS] = status
    if status != STATUS_OK:
        return out
    solve_kernel(
        frames,
        joints,
        X,
        q0,
        has_q0,
        mode,
        port,
        pos_tol,
        rot_tol,
        max_iters,
        restarts,
        stream_key(seed, 0),
        out[OUT_Q:],
        out[OUT_STATS:OUT_Q],
    )
    return out


@njit(cache=True, parallel=True)
def solve_many(
    frames, joints, Xs, Q0, has_q0, mode, port, pos_tol, rot_tol, max_iters, restarts, seed
):
    """Solve N targets in parallel; target k uses random stream (seed, k).

    Inputs must be validated by the caller (:func:`batch_status`).
    """
    N = Xs.shape[0]
    n = joints.shape[0]
    Q = np.zeros((N, n))
    stats = np.zeros((N, 5))
    for k in prange(N):
        solve_kernel(
            frames,
            joints,
            Xs[k],
            Q0[k],
            has_q0,
            mode,
            port,
            pos_tol,
            rot_tol,
            max_iters,
            restarts,
            stream_key(seed, k),
            Q[k],
            stats[k],
        )
    return Q, stats


@njit(cache=True)
def batch_status(Xs, Q0, has_q0):
    """(index, status) of the first invalid target or start, or (-1, 0) when all are valid."""
    for k in range(Xs.shape[0]):
        status = pose_status(Xs[k])
        if status != STATUS_OK:
            return k, status
        if has_q0:
            for i in range(Q0.shape[1]):
                if not math.isfinite(Q0[k, i]):
                    return k, STATUS_Q0_NONFINITE
    return -1, STATUS_OK
