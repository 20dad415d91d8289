"""Environment benchmark: Gymnasium steps/s against the bare session, vectors, Ray sweeps.

1. **Environment overhead** (bar **<= 15%**). One environment step at 50 Hz is 10 physics
   steps of a 500 Hz scene. The baseline, measured in the same run from the same seed:
   the bare session doing the same work - ``Session.advance(commands, steps=10)`` and
   ``Session.state()`` with the very commands the environment sent (recorded from the
   environment's run; the same commands from the same seed give the same trajectory, bit
   for bit). Overhead = environment time / bare time - 1 (action mapping, observation,
   reward). Both are warmed up (untimed) first, rounds alternate which side goes first,
   and medians are taken: these machines are noisy.
2. **Vector of 2**: ``gymnasium.vector.AsyncVectorEnv`` with 2 workers, environment steps
   per second summed over both, beside the single environment (reported; on a 2-core
   machine shared with others no bar is set).
3. **Sweep throughput on Ray** (bar **>= 1.7x**): the same jobs (the tip tracker on the
   needle handover, seeds 0..n-1) on a local Ray cluster of 2 workers against 1, each
   cluster warmed up first (numba kernels loaded in every worker). 24 runs by default
   (~0.5 s each): a sweep is hundreds of runs, and with 6 the per-sweep costs of Ray
   (scheduling, result fetching, its daemons on the same two cores) weigh on a 3 s
   measurement (measured on an idle machine, the same code: 1.50x with 6 runs, 1.86x
   with 24; plain multiprocessing gives 1.99x with 6).

Run: ``surgisim bench env`` (or ``python -m bench.env``).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from bench.report import finish, print_table, start_run

SCENARIO = "peg-transfer"
BAR_OVERHEAD = 0.15
BAR_RAY_SPEEDUP = 1.7


def _actions(env, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (n, *env.action_space.shape)).astype(np.float32)


#: Untimed steps of the environment and of the bare session before the rounds: the
#: first environment step took ~38 ms (kernels loading, caches), 0.3-1 ms afterwards.
WARMUP_STEPS = 5


def env_vs_session(steps: int, rounds: int, seed: int = 0) -> dict:
    """Median seconds per environment step and per bare session step (same commands).

    Both sides are warmed up (untimed) first, and the order alternates between rounds
    (environment first in even rounds, bare session first in odd ones), so neither
    side is always the one that runs on a cold cache after the other.
    """
    import gymnasium as gym

    import sim.env  # noqa: F401 - registers the environments

    env = gym.make("surgisim/PegTransfer-v0").unwrapped
    try:
        actions = _actions(env, steps, seed)
        k = env.physics_steps

        def run_env() -> tuple[float, list]:
            env.reset(seed=seed)
            commands = []
            elapsed = 0.0
            for a in actions:
                commands.append(env.commands(a))  # untimed: recorded for the baseline
                start = time.perf_counter()
                env.step(a)
                elapsed += time.perf_counter() - start
            return elapsed / steps, commands

        def run_bare(commands: list) -> float:
            session = env.session
            session.reset(seed)
            start = time.perf_counter()
            for c in commands:
                session.advance(c, steps=k)
                session.state()
            return (time.perf_counter() - start) / len(commands)

        # warm-up, untimed: the commands of the first steps from the same seed
        env.reset(seed=seed)
        warm = []
        for a in actions[:WARMUP_STEPS]:
            warm.append(env.commands(a))
            env.step(a)
        run_bare(warm)
        env_times, bare_times, order = [], [], []
        commands: list = []
        for r in range(rounds):
            if r % 2 == 0:  # round 0 records the commands (the same from the same seed)
                env_s, commands = run_env()
                env_times.append(env_s)
                bare_times.append(run_bare(commands))
                order.append("env first")
            else:
                bare_times.append(run_bare(commands))
                env_s, commands = run_env()
                env_times.append(env_s)
                order.append("bare first")
    finally:
        env.close()
    env_s, bare_s = statistics.median(env_times), statistics.median(bare_times)
    return {
        "env_step_s": env_s,
        "bare_step_s": bare_s,
        "env_steps_per_s": 1.0 / env_s,
        "bare_steps_per_s": 1.0 / bare_s,
        "overhead": env_s / bare_s - 1.0,
        "physics_steps_per_env_step": k,
        "rounds": rounds,
        "steps": steps,
        "warmup_steps": WARMUP_STEPS,
        "env_step_s_rounds": env_times,
        "bare_step_s_rounds": bare_times,
        "order": order,
    }


def vector_steps_per_s(steps: int, num_envs: int = 2, seed: int = 0) -> float:
    """Environment steps per second summed over an AsyncVectorEnv of ``num_envs``."""
    import gymnasium as gym

    import sim.env  # noqa: F401

    envs = gym.make_vec("surgisim/PegTransfer-v0", num_envs=num_envs, vectorization_mode="async")
    try:
        envs.reset(seed=[seed + i for i in range(num_envs)])
        rng = np.random.default_rng(seed)
        shape = envs.action_space.shape
        for _ in range(5):  # workers warm
            envs.step(rng.uniform(-1, 1, shape).astype(np.float32))
        start = time.perf_counter()
        for _ in range(steps):
            envs.step(rng.uniform(-1, 1, shape).astype(np.float32))
        return num_envs * steps / (time.perf_counter() - start)
    finally:
        envs.close()


def ray_sweep_seconds(workers: int, runs: int, address: str | None = None) -> float:
    """Wall seconds for ``runs`` tracker jobs on ``workers`` warmed Ray workers: a local
    cluster of that many CPUs (on Ray's own ports), or at most that many at a time on the
    cluster at ``address`` (``--ray``, as ``surgisim sweep`` connects: a cluster started
    within a shared machine's port range)."""
    from sim.session.ray_cluster import cluster
    from sim.session.sweep import jobs, run_job

    with cluster(address, workers) as ray:
        remote = ray.remote(num_cpus=1)(run_job)
        driver = "controller:sim.session.controllers:tracker"
        warm = jobs(["needle-handover"], [driver], range(100, 100 + workers))
        ray.get([remote.remote(j) for j in warm])
        todo = jobs(["needle-handover"], [driver], range(runs))
        start = time.perf_counter()
        run_at_most(ray, remote, todo, workers)
        return time.perf_counter() - start


def run_at_most(ray, remote, todo, at_once: int) -> None:
    """Run ``remote`` on every job of ``todo``, no more than ``at_once`` at a time (a
    cluster given by address may have more CPUs than the workers being measured)."""
    queue, running = list(todo), []
    while queue or running:
        while queue and len(running) < at_once:
            running.append(remote.remote(queue.pop(0)))
        done, running = ray.wait(running, num_returns=1)
        ray.get(done)  # a job that raised ends the benchmark, as before


def run_env_benchmark(
    steps: int = 200,
    rounds: int = 3,
    vector_steps: int = 100,
    sweep_runs: int = 24,
    json_path: Path | None = None,
    strict: bool = False,
    ray_address: str | None = None,
) -> bool:
    """Run the benchmark, print its tables, write the JSON; False when strict and a bar fails.

    ``ray_address``: the Ray cluster for the sweep part (None: a local one per size)."""
    console = Console(emoji=False)
    start_run(console)
    single = env_vs_session(steps, rounds)
    vector = vector_steps_per_s(vector_steps)
    print_table(
        f"{SCENARIO}: environment steps/s at 50 Hz ({single['physics_steps_per_env_step']} "
        "physics steps each)",
        ["what", "steps/s", "ms / step"],
        [
            [
                "bare session (advance + state)",
                single["bare_steps_per_s"],
                1e3 * single["bare_step_s"],
            ],
            ["environment (single)", single["env_steps_per_s"], 1e3 * single["env_step_s"]],
            ["AsyncVectorEnv of 2 (sum)", vector, 1e3 / vector],
        ],
        console,
    )

    # the share of the 2 cores other processes took decides what parallelism can give
    result = {
        "steps": steps,
        "rounds": rounds,
        "vector_steps": vector_steps,
        "sweep_runs": sweep_runs,
        "single": single,
        "vector2_steps_per_s": vector,
    }
    # one row per table row ("single" and "ray" keep their figures as before)
    result["results"] = [
        {"what": "bare session", "steps_per_s": single["bare_steps_per_s"]},
        {"what": "environment (single)", "steps_per_s": single["env_steps_per_s"]},
        {"what": "AsyncVectorEnv of 2 (sum)", "steps_per_s": vector},
    ]
    bars = [
        [
            "environment overhead over the bare session",
            single["overhead"],
            "<=",
            BAR_OVERHEAD,
            "pass" if single["overhead"] <= BAR_OVERHEAD else "FAIL",
        ]
    ]
    try:
        import ray  # noqa: F401
    except ImportError:
        console.print("ray is not installed (pip install 'surgisim[ray]'): sweep part skipped")
    else:
        one = ray_sweep_seconds(1, sweep_runs, ray_address)
        two = ray_sweep_seconds(2, sweep_runs, ray_address)
        speedup = one / two
        where = f"the Ray cluster at {ray_address}" if ray_address else "a local Ray cluster"
        print_table(
            f"Sweep on {where} ({sweep_runs} tracker runs, needle handover)",
            ["workers", "wall s", "runs / min"],
            [[1, one, 60 * sweep_runs / one], [2, two, 60 * sweep_runs / two]],
            console,
        )
        result["ray"] = {
            "runs": sweep_runs,
            "one_worker_s": one,
            "two_workers_s": two,
            "address": ray_address,  # None: a local cluster per size
        }
        result["results"] += [
            {"what": f"Ray sweep, {n} worker{'s' * (n > 1)}", "wall_s": wall,
             "runs_per_min": 60 * sweep_runs / wall}
            for n, wall in ((1, one), (2, two))
        ]  # fmt: skip
        bars.append(
            [
                "Ray sweep, 2 workers over 1",
                speedup,
                ">=",
                BAR_RAY_SPEEDUP,
                "pass" if speedup >= BAR_RAY_SPEEDUP else "FAIL",
            ]
        )
    return finish("env", bars, result, json_path, console, strict)


if __name__ == "__main__":  # pragma: no cover
    run_env_benchmark(json_path=Path("bench/results/env.json"))
