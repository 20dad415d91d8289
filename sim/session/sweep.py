"""Sweeps: every combination of scenarios, drivers (synthetic operators or controllers) and
seeds, headless, scored like a trainee's session - in series or on Ray.

Each finished run is appended at once to a journal (``<results>.jsonl``), so a sweep that
was interrupted resumes where it stopped: runs already in the journal are not run again.
The results table (Parquet or CSV, one row per run, one ``metric.<name>`` column per
metric) is rewritten from the journal at the end.

Ray is the ``surgisim[ray]`` extra, imported only when a sweep runs on it. Without an
address, a local cluster of ``workers`` processes is started; with one
(``ray://host:10001`` or ``auto``) the runs go to that cluster, whose workers need
surgisim installed.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sim.errors import SimError

#: metrics summarised first (mean ± SD), when present
SUMMARY_METRICS = (
    "score",
    "completion_time_s",
    "path_length_cm",
    "collisions",
    "drops",
    "excessive_force_time_s",
)


@dataclass(frozen=True)
class Job:
    """One run of a sweep: a scenario (name or path), a driver and a seed.

    ``driver`` is an operator skill (``"expert"``) or a controller spec
    (``"controller:package.module:factory"``).
    """

    scenario: str
    driver: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.scenario}|{self.driver}|{self.seed}"


def parse_seeds(text: str) -> list[int]:
    """``"0-99"``, ``"0,3,7"`` or ``"0-9,20-29"`` as a list of seeds."""
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if m is None:
            raise SimError(f"seeds {text!r}: expected ranges like '0-99' or lists like '0,3,7'.")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise SimError(f"seeds {part!r}: the range ends before it starts.")
        seeds.extend(range(lo, hi + 1))
    if not seeds:
        raise SimError("no seeds given; e.g. --seeds 0-9.")
    return seeds


def jobs(scenarios: Sequence[str], drivers: Sequence[str], seeds: Iterable[int]) -> list[Job]:
    """Every combination, scenario-major."""
    seeds = list(seeds)
    return [Job(s, d, seed) for s in scenarios for d in drivers for seed in seeds]


def run_job(job: Job) -> dict:
    """Run one job headless and return its result row (plain data, pickles)."""
    from sim.env.surgical import load
    from sim.session.controllers import ScriptedController, load_controller, run_controller

    scenario = load(job.scenario)
    if job.driver.startswith("controller:"):
        controller = load_controller(job.driver.removeprefix("controller:"))
    else:
        controller = ScriptedController(job.driver)
    outcome = run_controller(scenario, controller, seed=job.seed)
    row = {
        "key": job.key,
        "scenario": job.scenario,
        "driver": job.driver,
        "seed": job.seed,
        "completed": bool(outcome.result.completed),
        "passed": bool(outcome.result.passed),
        "score": float(outcome.result.score),
        "sim_time_s": float(outcome.sim_time_s),
        "wall_time_s": float(outcome.wall_time_s),
    }
    for name, value in sorted(outcome.metrics.items()):
        row[f"metric.{name}"] = float(value)
    return row


def _ray():
    try:
        import ray
    except ImportError:
        raise SimError(
            "sweeps on Ray need the ray extra: pip install 'surgisim[ray]' (or run with --serial)."
        ) from None
    return ray


def run_sweep(
    todo: Sequence[Job],
    results: Path,
    *,
    use_ray: bool = True,
    address: str | None = None,
    workers: int | None = None,
    on_result: Callable[[dict, int, int], None] | None = None,
) -> list[dict]:
    """Run ``todo`` (skipping jobs already in the journal) and return every row, in job order.

    Args:
        results: the results table (``.parquet`` or ``.csv``); the journal sits beside it.
        use_ray: run on Ray (else one after another in this process).
        address: a Ray cluster's address; None starts a local one of ``workers`` CPUs.
        on_result: called with (row, runs done, runs in the sweep) as runs finish.
    """
    from sim.session.recording.export import SUFFIXES

    results = Path(results)
    if results.suffix not in SUFFIXES:
        raise SimError(f"results file {results.name}: must end in one of {SUFFIXES}.")
    journal = journal_path(results)
    rows = {r["key"]: r for r in read_journal(journal)}
    wanted = {job.key for job in todo}
    done = sum(1 for k in rows if k in wanted)
    remaining = [job for job in todo if job.key not in rows]
    journal.parent.mkdir(parents=True, exist_ok=True)

    def finished(row: dict) -> None:
        nonlocal done
        rows[row["key"]] = row
        with journal.open("a") as f:
            f.write(json.dumps(row) + "\n")
        done += 1
        if on_result is not None:
            on_result(row, done, len(todo))

    if remaining and use_ray:
        ray = _ray()
        started = not ray.is_initialized()
        if started:
            ray.init(
                address=address,
                num_cpus=None if address else workers,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        try:
            remote = ray.remote(num_cpus=1, max_retries=1)(run_job)
            pending = [remote.remote(job) for job in remaining]
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                finished(ray.get(ready[0]))
        finally:
            if started:
                ray.shutdown()
    else:
        for job in remaining:
            finished(run_job(job))
    ordered = [rows[job.key] for job in todo]
    write_results(ordered, results)
    return ordered


def journal_path(results: Path) -> Path:
    """Where a sweep's journal of finished runs lives (beside its results)."""
    return results.with_name(results.name + ".jsonl")


def read_journal(path: Path) -> list[dict]:
    """Rows of a journal; a last line cut short by an interruption is ignored."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def write_results(rows: Sequence[dict], path: Path) -> Path:
    """The rows as a table (Parquet or CSV); metrics missing from a run are NaN."""
    import numpy as np

    from sim.session.recording.export import write_table

    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    table = {}
    for name in names:
        values = np.asarray([row.get(name, math.nan) for row in rows])
        table[name] = values.astype(object) if values.dtype.kind in "UO" else values
    return write_table(table, path)


def summary(rows: Sequence[dict]) -> list[dict]:
    """Mean and SD of each metric per (scenario, driver): one dict per metric and group."""
    import numpy as np

    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["scenario"], row["driver"]), []).append(row)
    out = []
    for (scenario, driver), group in groups.items():
        measured = {k.removeprefix("metric.") for r in group for k in r if k.startswith("metric.")}
        names = ["score"] + [n for n in SUMMARY_METRICS[1:] if n in measured]
        names += sorted(measured - set(names))
        for name in names:
            key = name if name == "score" else f"metric.{name}"
            values = np.array([r[key] for r in group if key in r], dtype=float)
            if values.size == 0:
                continue
            out.append(
                {
                    "scenario": scenario,
                    "driver": driver,
                    "metric": name,
                    "n": int(values.size),
                    "mean": float(values.mean()),
                    "sd": float(values.std(ddof=1)) if values.size > 1 else 0.0,
                    "completed": sum(r["completed"] for r in group),
                }
            )
    return out


def timed(fn, *args, **kwargs):
    """(result, wall seconds) of ``fn(*args, **kwargs)``."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start
