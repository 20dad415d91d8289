"""IK benchmark: surgisim's numba solver against pybullet's calculateInverseKinematics.

For each arm (dVRK PSM, KUKA iiwa, Franka Panda) it draws joint vectors uniformly within
limits, takes their FK as targets, and solves them cold (no start) and warm (the truth
plus Gaussian noise, as in a 1 kHz loop). Success is checked independently here, with
double-precision FK: position within 1e-5 m, orientation within 1e-4 rad, every joint
within its limits. pybullet's solver runs in the same process on the same targets with
its best settings (``maxNumIterations=100``, ``residualThreshold=1e-10``, joint damping
1e-3), started from the same joints (set with ``resetJointState``: its
``currentPositions`` argument made it miss every target in our measurements).

``--solver package.module:function`` (repeatable) adds your own solvers (see
:mod:`kinematics.solvers`) to the same table, on the same targets and starts, called with
the built-in's settings (tolerances, ``max_iters``, ``restarts``, ``seed=0``) and judged
by the same independent check; a call that raises or returns unusable joints counts as
a failure (``errors`` in the JSON). They take no part in the bars; the RCM section
judges them on its rows beside the built-in (its targets tell an RCM solver from one that
follows the full pose).

Correct solves/s one at a time is, for every solver alike, the share of targets it
reached (the independent check: a wrong answer is no solve) over the mean call's own
duration, the slowest 0.1% of calls (at least one) left out (one preempted call on a
loaded machine moved the plain mean 14-fold and flipped a bar). The speed bar against
pybullet is that ratio in the same run, and it fails outright when the built-in's own
success is below its bar. The batch ratio (all cores over one thread) times runs of at
least ``BATCH_MIN_S`` on each side. ``--arms`` names each arm once (a repeat is dropped).

A last section puts a 0.3 m straight tool on the iiwa and solves tip targets through a
fixed port (``rcm=``), position only and position + roll. The position + roll targets'
z axes are tilted ``RCM_TILT_RAD`` off the shaft about their own x axes: an RCM solve
takes only their position and roll (x axis), so a solver that follows the full pose
instead leaves the port and fails the port check.

Run: ``surgisim bench ik`` (or ``python -m bench.ik``).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from rich.console import Console

from bench.report import finish, plugin_digests, print_table, start_run, timing_stats_us
from kinematics import Chain, psm, solve_ik, solve_ik_batch
from kinematics.ik import DEFAULT_MAX_ITERS, DEFAULT_RESTARTS
from kinematics.rcm import port_distance, sample_port_targets
from kinematics.solvers import load_ik_solver
from kinematics.transforms import matrix_to_quat_xyzw, rot_x, rotation_angle, translation
from kinematics.urdf import chain_to_urdf

POS_TOL_M = 1e-5
ROT_TOL_RAD = 1e-4
WARM_NOISE_RAD = 0.05
#: Warm-start noise on prismatic joints (m): 0.05 rad at the PSM's ~0.1 m lever arm.
WARM_NOISE_M = 0.005
RCM_TOOL_LENGTH_M = 0.3
RCM_PORT_M = (0.55, 0.0, 0.25)
#: How far (rad) the position+roll targets' z axes are turned off the shaft (about their x
#: axes, which set the roll and stay put): a full-pose solver following them misses the
#: port by depth * sin(tilt), >= 4.9 mm at the shallowest 2 cm.
RCM_TILT_RAD = 0.25

ARM_NAMES = ("psm", "iiwa", "panda")

BARS = {
    "success_warm": 1.0,
    "success_cold": 0.999,
    "warm_median_us": 10.0,
    "warm_speedup_vs_pybullet": 3.0,
    "cold_median_us": 40.0,
    "batch_speedup": 1.7,
    "rcm_success": 0.995,
    "rcm_error_m": 1e-5,
}


@dataclass
class Arm:
    """An arm under test: its chain and a pybullet URDF with the tip link named."""

    name: str
    chain: Chain
    urdf_path: Path
    tip_link: str


def _arms(names: list[str], workdir: Path) -> list[Arm]:
    import pybullet_data

    data = Path(pybullet_data.getDataPath())
    known = {
        "psm": lambda: Arm(
            "psm", psm(), _write(workdir / "psm.urdf", chain_to_urdf(psm())), "tool_tip"
        ),
        "iiwa": lambda: Arm(
            "iiwa",
            Chain.from_urdf(data / "kuka_iiwa/model.urdf", "lbr_iiwa_link_0", "lbr_iiwa_link_7"),
            data / "kuka_iiwa/model.urdf",
            "lbr_iiwa_link_7",
        ),
        "panda": lambda: Arm(
            "panda",
            Chain.from_urdf(data / "franka_panda/panda.urdf", "panda_link0", "panda_hand"),
            data / "franka_panda/panda.urdf",
            "panda_hand",
        ),
    }
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown arm(s) {unknown}; choose from {sorted(known)}")
    return [known[n]() for n in names]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _errors(chain: Chain, X: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tip position (m) and orientation (rad) errors of each answer by double-precision
    FK; NaN for an answer that has no joints (a plug-in that failed)."""
    pos, rot = np.full(len(X), np.nan), np.full(len(X), np.nan)
    valid = np.isfinite(Q).all(axis=1)
    X_got = chain.fk_batch(Q[valid])
    pos[valid] = np.linalg.norm(X_got[:, :3, 3] - X[valid, :3, 3], axis=1)
    rot[valid] = [
        rotation_angle(a[:3, :3] @ b[:3, :3].T) for a, b in zip(X_got, X[valid], strict=True)
    ]
    return pos, rot


def _success(chain: Chain, X: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Independent success check: double-precision FK, tolerances and limits."""
    pos, rot = _errors(chain, X, Q)
    limits = np.all((chain.lower <= Q) & (chain.upper >= Q), axis=1)
    return (pos <= POS_TOL_M) & (rot <= ROT_TOL_RAD) & limits


def _error_stats(chain: Chain, X: np.ndarray, Q: np.ndarray) -> dict[str, float]:
    """Median and p95 of the position and orientation errors (failed calls left out)."""
    pos, rot = _errors(chain, X, Q)
    out = {}
    for name, values in (("pos_error_m", pos), ("rot_error_rad", rot)):
        values = values[np.isfinite(values)]
        for label, q in (("median", 50), ("p95", 95)):
            out[f"{label}_{name}"] = float(np.percentile(values, q)) if values.size else math.nan
    return out


def _warm_starts(chain: Chain, Q: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = np.where(chain.is_prismatic, WARM_NOISE_M, WARM_NOISE_RAD)
    return np.clip(Q + rng.normal(size=Q.shape) * sigma, chain.lower, chain.upper)


#: The share of a run's slowest calls that :func:`_rate` leaves out (at least one call):
#: preemptions on a loaded machine, not the solver's cost
PREEMPTED_SHARE = 0.001


def _rate(durations_ns: np.ndarray, correct: np.ndarray) -> float:
    """Correct solves per second of a run: the share of its calls whose answer passed the
    independent check (``correct``, a mask over the calls) over the mean call's own
    duration, the slowest :data:`PREEMPTED_SHARE` of calls (at least one) left out. A
    wrong answer is no solve (a solver returning zeros with success=True read 176,420
    solves/s beside the built-in's 50,840), nor is a failed call (one that raised at once
    on every call read 341,845). The mean, because throughput is what the column says and
    a solver's slow targets are part of its cost (pybullet's warm iiwa calls: median 21
    µs, mean 40); the slowest calls left out, because one call preempted for 48 ms on a
    loaded machine otherwise decided the figure (5,913 solves/s at a median of 8.1 µs; a
    median-based rate, tried for a day, hid pybullet's slow targets and halved our
    ratio). Every solver (ours, pybullet's, a plug-in) is rated this way, so the loop
    around the calls (pybullet's ``resetJointState``, collecting answers) counts for none
    of them."""
    n = len(durations_ns)
    if n == 0:
        return 0.0
    share = float(np.count_nonzero(correct)) / n
    dropped = min(n - 1, max(1, math.ceil(PREEMPTED_SHARE * n)))
    kept = np.sort(np.asarray(durations_ns, dtype=np.float64))[: n - dropped]
    return share / max(float(kept.mean()) / 1e9, 1e-12)


def _usable_timing_stats(durations_ns: np.ndarray, usable: np.ndarray) -> dict:
    """:func:`timing_stats_us` over the calls that returned usable answers (a call that
    raised at once would pull the median down); ``None`` each when there were none."""
    if not np.any(usable):
        return dict.fromkeys(("median_us", "p95_us", "p99_us", "mean_us"))
    return timing_stats_us(np.asarray(durations_ns)[usable])


def _run_ours(chain, X, Q0):
    durations = np.empty(len(X), dtype=np.int64)
    Q = np.empty((len(X), chain.dof))
    for k in range(len(X)):
        t0 = time.perf_counter_ns()
        result = solve_ik(chain, X[k], None if Q0 is None else Q0[k])
        durations[k] = time.perf_counter_ns() - t0
        Q[k] = result.q
    return Q, durations


#: the built-in's settings, given to every solver (a plug-in's keywords are solve_ik's)
_SETTINGS = {
    "pos_tol": POS_TOL_M,
    "rot_tol": ROT_TOL_RAD,
    "max_iters": DEFAULT_MAX_ITERS,
    "restarts": DEFAULT_RESTARTS,
    "seed": 0,
}


def _timed_call(solver, chain, target, q0, rcm):
    """One call of ``solver`` with the built-in's settings, timed: ``(q, ns, failure)``,
    ``q`` the ``dof`` finite joints it returned (else None) and ``failure`` how it failed
    ("raised ...", "returned ..."; None when it did not). A plug-in's failure is that
    target's, not the benchmark's."""
    t0 = time.perf_counter_ns()
    try:
        result = solver(chain, target, q0, **_SETTINGS, rcm=rcm)
    except Exception as exc:
        return None, time.perf_counter_ns() - t0, f"raised {type(exc).__name__}: {exc}"
    ns = time.perf_counter_ns() - t0
    try:
        q = np.asarray(result.q, dtype=np.float64)
    except (AttributeError, TypeError, ValueError):
        return None, ns, "returned " + ("None" if result is None else "no q")
    if q.shape != (chain.dof,) or not np.isfinite(q).all():
        nan = " with NaN or inf" if q.shape == (chain.dof,) else ""
        return None, ns, f"returned q of shape {q.shape}{nan}"
    return q, ns, None


def _run_plugin(solver, chain, X, Q0):
    """A user's solver on each target, with the built-in's settings. A call that raises
    or returns no usable joints (not ``dof`` finite numbers) leaves a NaN row."""
    durations = np.empty(len(X), dtype=np.int64)
    Q = np.full((len(X), chain.dof), np.nan)
    errors = 0
    first_error = ""
    for k in range(len(X)):
        q, durations[k], failure = _timed_call(
            solver, chain, X[k], None if Q0 is None else Q0[k], None
        )
        if failure is None:
            Q[k] = q
        else:
            errors += 1
            first_error = first_error or failure
    return Q, durations, errors, first_error


#: the shortest timed batch run (s): shorter ones are dominated by scheduler noise here
BATCH_MIN_S = 0.15


def _tiles_for(run, min_s: float) -> int:
    """How many copies of the targets make one ``run(tiles)`` (seconds taken) last at
    least ``min_s``: grown from a measured run until one does. Each side of the batch
    ratio is sized on its own, from its own runs (not from a first call that also
    compiled and woke the thread pool, which left runs of well under 1 ms)."""
    tiles = 1
    while True:
        elapsed = run(tiles)
        if elapsed >= min_s:
            return tiles
        # aim 30% past the minimum, at most 100x more per try (a run of ~0 s)
        grow = min_s * 1.3 / max(elapsed, min_s / 100)
        tiles = max(tiles + 1, math.ceil(tiles * grow))


def _batch_rates(
    chain, X, Q0, repeats: int = 5, min_s: float = BATCH_MIN_S, solve=solve_ik_batch
) -> tuple[float, float, dict]:
    """Batch solves/s on all cores and on one thread, and how they were timed.

    Each side's targets are tiled until one timed run lasts >= ``min_s`` (sized
    separately: one thread needs fewer copies than all cores for the same time); then
    the two are measured interleaved, best of ``repeats`` each, so that a burst of load
    from elsewhere on this noisy machine hits both alike; a side whose best run still
    came out under ``min_s`` (sized during a burst of load) is grown and both measured
    again (up to 3 times).
    """
    previous = numba.get_num_threads()
    thread_counts = (previous, 1)

    def tiled(tiles):
        return np.concatenate([X] * tiles), None if Q0 is None else np.concatenate([Q0] * tiles)

    def run(tiles: int) -> float:
        Xt, Qt = tiled(tiles)
        start = time.perf_counter()
        solve(chain, Xt, Qt)
        return time.perf_counter() - start

    try:
        solve(chain, X, Q0)  # compiles and wakes the thread pool: not timed, not sized on
        tiles = {}
        for threads in thread_counts:
            numba.set_num_threads(threads)
            tiles[threads] = _tiles_for(run, min_s)
        for _ in range(3):  # a size read under a burst of load can time a best run short
            inputs = {threads: tiled(tiles[threads]) for threads in thread_counts}
            best = dict.fromkeys(thread_counts, float("inf"))
            for _ in range(repeats):
                for threads in thread_counts:
                    numba.set_num_threads(threads)
                    Xt, Qt = inputs[threads]
                    start = time.perf_counter()
                    solve(chain, Xt, Qt)
                    best[threads] = min(best[threads], time.perf_counter() - start)
            short = [t for t in thread_counts if best[t] < min_s]
            if not short:
                break
            for t in short:  # grow that side past the minimum and measure both again
                tiles[t] = math.ceil(tiles[t] * min_s * 1.3 / max(best[t], 1e-9))
    finally:
        numba.set_num_threads(previous)
    timing = {
        "threads": previous,
        "targets_timed": len(X) * tiles[previous],
        "best_run_s": best[previous],
        "targets_timed_1thread": len(X) * tiles[1],
        "best_run_1thread_s": best[1],
    }
    rates = {threads: len(X) * tiles[threads] / best[threads] for threads in thread_counts}
    return rates[previous], rates[1], timing


def _run_pybullet(arm: Arm, X, Q_start):
    import pybullet as pb

    client = pb.connect(pb.DIRECT)
    try:
        body = pb.loadURDF(str(arm.urdf_path), useFixedBase=True, physicsClientId=client)
        info = [
            pb.getJointInfo(body, j, physicsClientId=client)
            for j in range(pb.getNumJoints(body, physicsClientId=client))
        ]
        movable = [i[0] for i in info if i[2] != pb.JOINT_FIXED]
        names = [info[j][1].decode() for j in movable]
        cols = [names.index(n) for n in arm.chain.joint_names]
        tip = next(i[0] for i in info if i[12].decode() == arm.tip_link)
        damping = [1e-3] * len(movable)
        durations = np.empty(len(X), dtype=np.int64)
        Q = np.empty((len(X), arm.chain.dof))
        for k in range(len(X)):
            full = np.zeros(len(movable))
            full[cols] = Q_start[k]
            for j, value in zip(movable, full, strict=True):
                pb.resetJointState(body, j, value, physicsClientId=client)
            position = X[k, :3, 3].tolist()
            orientation = matrix_to_quat_xyzw(X[k, :3, :3]).tolist()
            t0 = time.perf_counter_ns()
            sol = pb.calculateInverseKinematics(
                body,
                tip,
                position,
                orientation,
                jointDamping=damping,
                maxNumIterations=100,
                residualThreshold=1e-10,
                physicsClientId=client,
            )
            durations[k] = time.perf_counter_ns() - t0
            Q[k] = np.asarray(sol)[cols]
        return Q, durations
    finally:
        pb.disconnect(client)


def _rcm_section(
    rcm_targets: int, rng: np.random.Generator, console: Console, plugins: dict | None = None
) -> dict:
    """iiwa + straight tool through a fixed port: cold and warm, position and position+roll,
    for the built-in solver and each plug-in (``rcm=`` is part of the solver signature).

    "Reachable" means an ordinary full-pose IK with many restarts finds the whole tool
    pose; its answer, plus noise, is the warm start (as in a control loop). The
    position+roll targets are those poses with their z axes tilted ``RCM_TILT_RAD`` off
    the shaft (:func:`_tilted_off_the_shaft`): as first written, their z axes ran through
    the port, and a pose-only solver that ignored ``rcm=`` passed these rows (63-100%).
    """
    chain = _arms(["iiwa"], Path("."))[0].chain.with_tool(translation(0, 0, RCM_TOOL_LENGTH_M))
    port = np.asarray(RCM_PORT_M)
    X = sample_port_targets(port, rcm_targets, rng)
    full = solve_ik_batch(chain, X, restarts=300, seed=99)
    X = X[full.success]
    X_tilted = _tilted_off_the_shaft(X)
    Q_warm = _warm_starts(chain, full.q[full.success], rng)
    out = {
        "targets": int(rcm_targets),
        "reachable": int(full.success.sum()),
        "port_m": list(RCM_PORT_M),
        "tool_length_m": RCM_TOOL_LENGTH_M,
        "roll_target_tilt_rad": RCM_TILT_RAD,
    }
    rows = []
    failures = []  # (solver, start, target, calls failed, the first failure)
    solvers = {"surgisim": solve_ik, **(plugins or {})}
    for name, solver in solvers.items():
        for start in ("cold", "warm"):
            for label, with_roll in (("position", False), ("position+roll", True)):
                ok, rcm_err, durations, errors, first = _rcm_run(
                    chain,
                    X_tilted if with_roll else X,
                    port,
                    with_roll,
                    None if start == "cold" else Q_warm,
                    solver,
                )
                # a plug-in's calls timed over those that returned usable answers
                usable = np.isfinite(rcm_err) if name != "surgisim" else np.ones(len(X), bool)
                stats = _usable_timing_stats(durations, usable)
                # no target reached: no largest error to show (0.00 read as a perfect one)
                max_err = float(rcm_err[ok].max()) if ok.any() else None
                result = {"success": float(ok.mean()), "max_rcm_error_m": max_err, **stats}
                if name != "surgisim":
                    result |= {"errors": errors, "first_error": first or None}
                    if errors:
                        failures.append((name, start, label, errors, first))
                if name == "surgisim":  # the bars' figures, where they always were
                    out[f"{start} {label}"] = result
                else:
                    out.setdefault("plugins", {}).setdefault(name, {})[f"{start} {label}"] = result
                rows.append(
                    (
                        name,
                        start,
                        label,
                        f"{100 * ok.mean():.2f}%" + _errors_note(errors, float(ok.mean())),
                        stats["median_us"],
                        stats["p99_us"],
                        "n/a" if max_err is None else max_err,
                    )
                )
    print_table(
        f"RCM IK, iiwa + {RCM_TOOL_LENGTH_M} m tool through a fixed port "
        f"({out['reachable']}/{rcm_targets} targets reachable)",
        ["solver", "start", "target", "success", "median µs", "p99 µs", "max rcm error m"],
        rows,
        console,
    )
    from rich.markup import escape

    for name, start, label, errors, first in failures:
        console.print(
            f"{escape(name)} RCM ({start} {label}): {errors:,} of {len(X):,} calls failed; "
            f"the first {escape(first)}",
            highlight=False,
        )
    return out


def _rcm_run(chain, X, port, with_roll: bool, Q0, solver=solve_ik):
    """Solve each target through the port; check position, roll, port distance and limits
    by FK (a plug-in's own report is not taken; a call that raises or returns no usable
    joints fails that target, and is counted: ``errors`` and the ``first`` failure, said
    as in the main table)."""
    durations = np.empty(len(X), dtype=np.int64)
    ok = np.zeros(len(X), dtype=bool)
    rcm_err = np.full(len(X), np.nan)
    errors, first = 0, ""
    for k in range(len(X)):
        target = X[k] if with_roll else X[k][:3, 3]
        q0 = None if Q0 is None else Q0[k]
        q, durations[k], failure = _timed_call(solver, chain, target, q0, port)
        if failure is not None:
            errors += 1
            first = first or failure
            continue
        X_got = chain.fk(q)
        rcm_err[k] = port_distance(X_got, port)
        ok[k] = (
            np.linalg.norm(X_got[:3, 3] - X[k][:3, 3]) <= POS_TOL_M
            and ((not with_roll) or _roll_error_rad(X_got, X[k]) <= ROT_TOL_RAD)
            and rcm_err[k] <= BARS["rcm_error_m"]
            and chain.within_limits(q)
        )
    return ok, rcm_err, durations, errors, first


def _tilted_off_the_shaft(X: np.ndarray) -> np.ndarray:
    """Tool poses (N, 4, 4) turned ``RCM_TILT_RAD`` about their own x axes: position and x
    axis (the roll) kept, z axis off the shaft, so only an RCM solve meets them in the
    port."""
    return X @ rot_x(RCM_TILT_RAD)


def _roll_error_rad(X_got: np.ndarray, X_target: np.ndarray) -> float:
    """The roll (rad) about the tool's shaft (its z axis) between a tip pose and a target:
    the angle of the target's x axis in the tool's xy plane, what the position+roll mode
    asks for (the solver's own roll residual), whatever the target's z axis (tilted off
    the shaft here; the shaft's direction is fixed by the tip and the port)."""
    x_target = X_target[:3, 0]
    return abs(math.atan2(X_got[:3, 1] @ x_target, X_got[:3, 0] @ x_target))


def run_ik_benchmark(
    targets: int = 10_000,
    arms: list[str] | None = None,
    rcm_targets: int = 2_000,
    seed: int = 0,
    json_path: Path | None = Path("bench/results/ik.json"),
    console: Console | None = None,
    strict: bool = False,
    solvers: list[str] | None = None,
) -> bool:
    """Run the benchmark, print tables, write JSON; return True when every bar holds.

    Args:
        solvers: your own IK solvers, ``"package.module:function"`` each (see
            :mod:`kinematics.solvers`), run on the same targets and starts as the others.
        strict: when False (default) the return value only reports the bars; the CLI uses
            it to choose its exit code only when asked to.
    """
    # ~160 columns with a plug-in's name: do not let a pipe's default 80 squeeze it
    console = console or Console(emoji=False, width=max(Console(emoji=False).width, 160))
    if rcm_targets < 0:
        raise ValueError(f"rcm_targets must be >= 0 (0 skips the RCM section), got {rcm_targets}")
    start_run(console)
    rng = np.random.default_rng(seed)
    rows, results, bars = [], [], []
    plugins = {spec: load_ik_solver(spec) for spec in solvers or ()}  # named errors first
    arms = list(dict.fromkeys(arms or ARM_NAMES))  # "psm,psm" runs the PSM once
    with tempfile.TemporaryDirectory() as tmp:
        arm_list = _arms(arms, Path(tmp))
        solve_ik(arm_list[0].chain, arm_list[0].chain.fk(np.zeros(arm_list[0].chain.dof)))  # JIT
        for arm in arm_list:
            chain = arm.chain
            Q_true = chain.random_q(rng, targets)
            X = chain.fk_batch(Q_true)
            mid = 0.5 * (chain.joint_table[:, 6] + chain.joint_table[:, 7])
            for mode in ("cold", "warm"):
                Q0 = None if mode == "cold" else _warm_starts(chain, Q_true, rng)
                Q, durations = _run_ours(chain, X, Q0)
                ok = _success(chain, X, Q)
                stats = timing_stats_us(durations)
                batch_all, batch_one, batch_timing = _batch_rates(chain, X, Q0)
                start = np.tile(mid, (targets, 1)) if Q0 is None else Q0
                Qp, durations_p = _run_pybullet(arm, X, start)
                ok_p = _success(chain, X, Qp)
                stats_p = timing_stats_us(durations_p)
                ours = {
                    "solver": "surgisim",
                    "arm": arm.name,
                    "mode": mode,
                    "success": float(ok.mean()),
                    **stats,
                    **_error_stats(chain, X, Q),
                    "solves_per_s": _rate(durations, ok),
                    "batch_solves_per_s": batch_all,
                    "batch_1thread_solves_per_s": batch_one,
                    "batch_timing": batch_timing,
                }
                theirs = {
                    "solver": "pybullet",
                    "arm": arm.name,
                    "mode": mode,
                    "success": float(ok_p.mean()),
                    **stats_p,
                    **_error_stats(chain, X, Qp),
                    "solves_per_s": _rate(durations_p, ok_p),
                }
                results += [ours, theirs]
                rows.append(_row(ours, (batch_one, batch_all)))
                rows.append(_row(theirs, ("-", "-")))
                for spec, solver in plugins.items():
                    Qu, durations_u, errors, first = _run_plugin(solver, chain, X, Q0)
                    ok_u = _success(chain, X, Qu)
                    user = {
                        "solver": spec,
                        "arm": arm.name,
                        "mode": mode,
                        "success": float(ok_u.mean()),
                        # timed over the calls that returned usable answers
                        **_usable_timing_stats(durations_u, np.isfinite(Qu).all(axis=1)),
                        **_error_stats(chain, X, Qu),
                        "solves_per_s": _rate(durations_u, ok_u),
                        "errors": errors,
                        "first_error": first or None,
                    }
                    results.append(user)
                    rows.append(_row(user, ("-", "-")))
                bars += _arm_bars(arm.name, mode, ours, theirs)
    print_table(
        f"IK on {targets:,} FK targets per arm "
        f"(success: {POS_TOL_M:g} m, {ROT_TOL_RAD:g} rad, limits)",
        [
            "arm",
            "start",
            "solver",
            "success",
            "median µs",
            "p95 µs",
            "p99 µs",
            "median pos err m",
            "median rot err rad",
            "correct solves/s one at a time",
            "batch solves/s 1 thread",
            "batch solves/s all cores",
        ],
        rows,
        console,
        caption="correct solves/s one at a time: the success share over the mean call's "
        "own duration, the slowest 0.1% of calls left out (a wrong or failed answer is no "
        "solve; the same for every solver); "
        "a plug-in's µs columns: over its calls that returned usable answers (n/a: none "
        f"did); batch: best of 5 runs of >= {BATCH_MIN_S:g} s each",
    )
    for r in results:
        if r.get("errors"):
            console.print(
                f"{r['solver']} on {r['arm']} ({r['mode']}): {r['errors']:,} of {targets:,} "
                f"calls failed; the first {r['first_error']}"
            )
    if rcm_targets > 0:
        rcm = _rcm_section(rcm_targets, rng, console, plugins)
    else:  # asked for: no RCM table, and none of its bars
        rcm = {"skipped": True, "targets": 0}
        console.print("RCM section skipped (--rcm-targets 0): its bars are not run")
    if not rcm.get("skipped"):
        for label in ("cold position", "cold position+roll", "warm position", "warm position+roll"):
            bars.append((f"rcm {label} success", rcm[label]["success"], ">=", BARS["rcm_success"]))
            worst = rcm[label]["max_rcm_error_m"]  # None: no target reached (fails the bar)
            bars.append(
                (
                    f"rcm {label} max error m",
                    math.nan if worst is None else worst,
                    "<=",
                    BARS["rcm_error_m"],
                )
            )
    bar_rows = [_judged(*b) for b in bars]
    for row in (r for r in bar_rows if len(r) > 5):  # why a bar failed where it says
        console.print(f"{row[0]}: {row[4]}, {row[5]}", markup=False, highlight=False)
    return finish(
        "ik",
        bar_rows,
        {
            "targets": targets,
            "arms": arms,
            "rcm_targets": rcm_targets,
            "seed": seed,
            "pos_tol_m": POS_TOL_M,
            "rot_tol_rad": ROT_TOL_RAD,
            "warm_noise_rad": WARM_NOISE_RAD,
            "warm_noise_m": WARM_NOISE_M,
            "results": results,
            "rcm": rcm,
            "plugin_digests": plugin_digests("ik_solver", solvers),
        },
        json_path,
        console,
        strict,
    )


def _row(r: dict, batch: tuple) -> tuple:
    """One solver's line of the main table; ``batch``: the batch API's solves/s on one
    thread and on all cores (the bar on their ratio can be checked from the table)."""
    return (
        r["arm"],
        r["mode"],
        r["solver"],
        f"{100 * r['success']:.2f}%" + _errors_note(r.get("errors", 0), r["success"]),
        r["median_us"],
        r["p95_us"],
        r["p99_us"],
        r["median_pos_error_m"],
        r["median_rot_error_rad"],
        r["solves_per_s"],
        *batch,
    )


def _errors_note(errors: int, success: float) -> str:
    """What a plug-in's success cell adds when calls failed: how many raised or gave an
    unusable answer (a line under the table says the first; its solves/s then counts
    their time but no answer from them, and its µs columns leave them out)."""
    if not errors:
        return ""
    return f" ({errors:,} failed)" if success < 1 else ""


def _holds(value, op, bar) -> bool:
    return value >= bar if op == ">=" else value <= bar


def _judged(name: str, value, op: str, bar, note: str = "") -> tuple:
    """A bars-table row: pass or FAIL, and why when ``note`` says (a line under it)."""
    row = (name, value, op, bar, "pass" if _holds(value, op, bar) else "FAIL")
    return (*row, note) if note else row


def _speedup(ours: dict, theirs: dict, success_bar: float) -> float:
    """Our correct solves/s over the baseline's, measured in the same run; NaN (the bar
    fails) when our success is below ``success_bar``: speed is no credit to a solver that
    misses targets it should reach."""
    if ours["success"] < success_bar:
        return math.nan
    if theirs["solves_per_s"] == 0.0:
        return math.inf if ours["solves_per_s"] > 0 else math.nan
    return ours["solves_per_s"] / theirs["solves_per_s"]


def _speedup_note(ours: dict, success_bar: float) -> str:
    if ours["success"] >= success_bar:
        return ""
    return (
        f"success {100 * ours['success']:.2f}% is below its bar {100 * success_bar:.2f}%: "
        "no speed credit"
    )


def _arm_bars(arm: str, mode: str, ours: dict, theirs: dict) -> list[tuple]:
    bars = [(f"{arm} {mode} success", ours["success"], ">=", BARS[f"success_{mode}"])]
    if mode == "warm":
        if arm in ("psm", "iiwa"):
            bars.append((f"{arm} warm median µs", ours["median_us"], "<=", BARS["warm_median_us"]))
        speedup = _speedup(ours, theirs, BARS["success_warm"])
        bars.append(
            (
                f"{arm} warm correct solves/s vs pybullet",
                speedup,
                ">=",
                BARS["warm_speedup_vs_pybullet"],
                _speedup_note(ours, BARS["success_warm"]),
            )
        )
        bars.append(  # a difference of success rates (not a ratio): >= 0 is "as good"
            (
                f"{arm} warm success minus pybullet's (difference)",
                ours["success"] - theirs["success"],
                ">=",
                0.0,
            )
        )
    else:
        bars.append((f"{arm} cold median µs", ours["median_us"], "<=", BARS["cold_median_us"]))
    bars.append(
        (
            f"{arm} {mode} batch all cores / 1 thread",
            ours["batch_solves_per_s"] / ours["batch_1thread_solves_per_s"],
            ">=",
            BARS["batch_speedup"],
        )
    )
    return bars


if __name__ == "__main__":  # pragma: no cover
    run_ik_benchmark()
