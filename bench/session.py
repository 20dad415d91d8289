"""Headless session benchmark: how fast each bundled scenario runs with a synthetic operator.

For every bundled scenario (or those named) and seed, the ``expert`` operator runs the
scenario's demonstration plan headless through :func:`sim.session.headless.run_headless`, as
``surgisim run`` does: teleoperation, IK, physics, grasps, contacts, the exercise engine
and the recorder, every physics step. Speed is simulated seconds per wall second.

Cost of the session around the physics, measured inside each run (machines here differ
~2.7x in speed; a ratio holds): the run's wall time over the wall time spent inside
pybullet's ``stepSimulation`` in that same run. 1.0 would be physics alone; the bar is
**<= 1.5** for peg transfer with the expert (the session's own work - operators,
teleoperation, IK, grasps, contacts, the exercise, recording - at most half the physics).

Second baseline, measured in the same run on the same scene: the bare world - the
scenario's physics world stepped with its arms holding still (what pybullet and the
world's own grasp and tissue tracking cost, no session). ``bare x / session x`` swings
more between runs (a resting scene sleeps), so it is reported, not barred.

Outcomes: every scenario and seed, completed or not and the drops; the bar asks the
expert to complete every bundled scenario with no drop on every seed run.

Run: ``surgisim bench session`` (or ``python -m bench.session``).
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from bench.report import finish, print_table, start_run
from kinematics.seeds import is_seed

BAR_SCENARIO = "peg-transfer"
BAR_COST = 1.5
#: Simulated seconds of the bare-world baseline per scenario.
BARE_SECONDS = 5.0


def unknown_options(
    names: list[str] | None, operator: str, seeds: int = 1, first_seed: int = 0
) -> dict[str, str]:
    """What is wrong with the scenarios, operator and seeds asked for, by option
    (``--scenario``, ``--operator``, ``--seeds``; empty when nothing): checked before the
    warm-up and the runs, which otherwise ended in a traceback after them (a seed past
    2**63 - 1 after a finished run, with no JSON)."""
    from haptics.operators import PRESETS
    from scenarios.loader import library_names
    from sim.errors import closest_names

    problems = {}
    known = library_names()
    unknown = [n for n in names or () if n not in known]
    if unknown:
        problems["--scenario"] = (
            f"unknown scenario {unknown[0]!r}; bundled scenarios are {sorted(known)}."
            + closest_names(unknown[0], known)
        )
    if operator not in PRESETS:
        problems["--operator"] = (
            f"unknown operator {operator!r}; operators are {sorted(PRESETS)}."
            + closest_names(operator, PRESETS)
        )
    last = first_seed + seeds - 1
    if not (is_seed(first_seed) and is_seed(last)):
        problems["--seeds"] = (
            f"--first-seed {first_seed} with --seeds {seeds} runs seeds {first_seed}..{last}; "
            "seeds must be from 0 to 2**63 - 1."
        )
    return problems


def _warm_up() -> None:
    """Compile the numba kernels (IK, FK) before anything is timed."""
    from scenarios.loader import load_scenario
    from sim.session.session import Session

    session = Session(load_scenario(BAR_SCENARIO), seed=0)
    try:
        for _ in range(20):
            session.step({})
    finally:
        session.close()


def bare_world_real_time(scenario, seed: int, seconds: float = BARE_SECONDS) -> float:
    """Simulated over wall seconds of the scenario's world stepped alone, arms still."""
    from sim.world.scenario_scene import build_scene_spec
    from sim.world.world import World

    with World(build_scene_spec(scenario, seed)) as world:
        steps = max(1, round(seconds * world.rate_hz))
        start = time.perf_counter()
        world.step(steps)
        return steps * world.dt / (time.perf_counter() - start)


def run_session_benchmark(
    names: list[str] | None = None,
    seeds: int = 1,
    operator: str = "expert",
    json_path: Path | None = None,
    strict: bool = False,
    breakdown: bool = False,
    first_seed: int = 0,
) -> bool:
    """Run the benchmark, print its tables, write the JSON; False when strict and a bar
    fails. Seeds ``first_seed`` .. ``first_seed + seeds - 1`` of each scenario.
    ``breakdown``: also one timed run of the bar's scenario (peg transfer, whatever
    ``names`` says), seed ``first_seed``, showing what the session's own work is made of
    (:mod:`bench.session_breakdown`).

    Raises:
        ValueError: an unknown scenario or operator, or a seed past 2**63 - 1, before
            anything runs.
    """
    from scenarios.loader import library_names, load_scenario
    from sim.session.headless import run_headless

    problems = unknown_options(names, operator, seeds, first_seed)
    if problems:
        raise ValueError(" ".join(problems.values()))
    console = Console(emoji=False)
    start_run(console)
    names = names or library_names()
    _warm_up()
    rows, results = [], []
    for name in names:
        scenario = load_scenario(name)
        for seed in range(first_seed, first_seed + seeds):
            outcome = run_headless(scenario, operator=operator, seed=seed)
            bare = bare_world_real_time(scenario, seed)
            speed = outcome.sim_time_s / outcome.wall_time_s
            drops = len(outcome.trace.events_of("drop"))
            cost = outcome.wall_time_s / max(outcome.physics_wall_s, 1e-9)
            result = {
                "scenario": name,
                "operator": operator,
                "seed": seed,
                "completed": outcome.trace.completed,
                "passed": outcome.result.passed,
                "score": outcome.result.score,
                "sim_time_s": outcome.sim_time_s,
                "wall_time_s": outcome.wall_time_s,
                "real_time_factor": speed,
                "drops": drops,
                "physics_wall_s": outcome.physics_wall_s,
                "cost_over_physics": cost,
                "bare_world_real_time_factor": bare,
                "session_over_bare": bare / speed,
            }
            results.append(result)
            done = "yes" if result["completed"] else "no"
            timing = [outcome.sim_time_s, outcome.wall_time_s, speed, cost, bare, bare / speed]
            rows.append([name, seed, done, drops, result["score"], *timing])
    print_table(
        f"Headless sessions ({operator} operator)",
        [
            "scenario",
            "seed",
            "completed",
            "drops",
            "score",
            "sim s",
            "wall s",
            "x real time",
            "wall / physics",
            "bare x",
            "bare x / session x",
        ],
        rows,
        console,
    )
    bar_rows = []
    bar_runs = [r for r in results if r["scenario"] == BAR_SCENARIO]
    if bar_runs:
        worst = max(r["cost_over_physics"] for r in bar_runs)
        bar_rows.append(
            [
                f"{BAR_SCENARIO}, {operator}: wall / stepSimulation (worst seed)",
                worst,
                "<=",
                BAR_COST,
                "pass" if worst <= BAR_COST else "FAIL",
            ]
        )
    if operator == "expert":
        failed = [r for r in results if not r["completed"] or r["drops"]]
        bar_rows.append(
            [
                f"runs not completed or with a drop (of {len(results)})",
                len(failed),
                "==",
                0,
                "pass" if not failed else "FAIL",
            ]
        )
    payload = {
        "scenarios": names,
        "operator": operator,
        "seeds": seeds,
        "first_seed": first_seed,
        "results": results,
    }
    if breakdown:
        from bench.session_breakdown import session_breakdown

        parts = session_breakdown(BAR_SCENARIO, first_seed, operator)
        print_table(
            f"Where a {BAR_SCENARIO} step's time goes (the bar's scenario, whatever "
            f"--scenario says; {operator}, seed {first_seed}, timers on)",
            ["part", "µs per physics step", "x stepSimulation"],
            [[k, v["us_per_step"], v["of_physics"]] for k, v in parts["parts"].items()],
            console,
        )
        payload["breakdown"] = parts
    return finish("session", bar_rows, payload, json_path, console, strict)


if __name__ == "__main__":  # pragma: no cover
    run_session_benchmark(json_path=Path("bench/results/session.json"))
