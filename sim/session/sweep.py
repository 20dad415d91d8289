"""Sweeps: every combination of scenarios, drivers (synthetic operators or controllers), IK
solvers and tremor filters (surgisim's own or the user's, :mod:`sim.session.plugins`) and
seeds, headless, scored like a trainee's session - in series or on Ray.

Each finished run is appended at once to a journal (``<results>.jsonl``), so a sweep that
was interrupted resumes where it stopped: runs already in the journal are not run again -
unless they failed, or were made from other inputs (each row carries a fingerprint of its
scenario, controller, IK solver, tremor filter and surgisim,
:mod:`sim.session.provenance`). The results table (Parquet or CSV, one row per run, one
``metric.<name>`` column per metric, ``held.<event>`` columns counting why its arms were
held - a plug-in solver or filter that failed, :mod:`scenarios.holds` - and how it
``ended``) is rewritten from the journal at the end. A sweep holds its journal while it
runs: a second sweep with the same results file is refused instead of running every job
again beside it.

A job that raises, or whose Ray worker dies, becomes a row with an ``error`` (exception
type and message; no score or metrics) instead of ending the sweep: one controller
failing on one seed must not cost the other runs' results.

On Ray (the ``surgisim[ray]`` extra, imported only when a sweep runs on it; see
:mod:`sim.session.ray_cluster`) the jobs run on a local cluster or on one at an address.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import signal
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from scenarios.holds import hold_counts
from scenarios.paths import private_file
from sim.errors import SimError
from sim.session import provenance, ray_cluster
from sim.session.plugins import PLUGINS

#: metrics summarised first (mean ± SD), when present
SUMMARY_METRICS = (
    "score",
    "completion_time_s",
    "path_length_cm",
    "collisions",
    "drops",
    "excessive_force_time_s",
)
#: journal fields left out of the results table (a traceback is many lines)
JOURNAL_ONLY = ("traceback",)
#: columns written first in the results table, in this order (when present)
FIRST_COLUMNS = ("key", "scenario", "driver", *(p.column for p in PLUGINS), "seed")
#: columns written last in the results table, after the metrics
LAST_COLUMNS = ("ended", "failure", "error", *provenance.FIELDS)
#: prefix of the columns counting why a run's arms were held (:mod:`scenarios.holds`):
#: ``held.unreachable`` ... a plug-in that failed shows there, not in the score
HELD = "held."


@dataclass(frozen=True)
class Job:
    """One run of a sweep: a scenario (name or path), a driver, a seed, an IK solver and a
    tremor filter.

    ``driver`` is an operator skill (``"expert"``) or a controller spec
    (``"controller:package.module:factory"``); ``ik_solver`` the user's IK solver
    (``"package.module:function"``, see :mod:`kinematics.solvers`) and ``tremor_filter``
    a filter's name or factory (``"one_euro"``, ``"package.module:make"``), None for
    surgisim's own. Strings, so the job pickles: a Ray worker resolves them itself.
    """

    scenario: str
    driver: str
    seed: int
    ik_solver: str | None = None
    tremor_filter: str | None = None

    @property
    def key(self) -> str:
        """The job's name in the journal; with surgisim's own plug-ins it is the key from
        before sweeps took them, so that older journals still resume."""
        key = f"{self.scenario}|{self.driver}|{self.seed}"
        for kind in PLUGINS:
            spec = getattr(self, kind.column)
            if spec is not None:
                key += f"|{kind.key_tag}{spec}"
        return key

    @property
    def plugin_columns(self) -> dict[str, str]:
        """The row's plug-in columns: ``{"ik_solver": "builtin", "tremor_filter": ...}``."""
        return {kind.column: kind.label(getattr(self, kind.column)) for kind in PLUGINS}


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


def jobs(
    scenarios: Sequence[str],
    drivers: Sequence[str],
    seeds: Iterable[int],
    solvers: Sequence[str | None] = (None,),
    filters: Sequence[str | None] = (None,),
) -> list[Job]:
    """Every combination (scenario x driver x IK solver x tremor filter x seed),
    scenario-major.

    ``solvers``, ``filters``: specs, None for surgisim's own (repeats are dropped).
    """
    seeds = list(seeds)
    solvers = list(dict.fromkeys(solvers)) or [None]
    filters = list(dict.fromkeys(filters)) or [None]
    return [
        Job(s, d, seed, solver, tremor_filter)
        for s in scenarios
        for d in drivers
        for solver in solvers
        for tremor_filter in filters
        for seed in seeds
    ]


#: teleoperation events said only while master samples went through the tremor filter
FILTER_EVENTS = ("filter_reset", "filter_rate")


def master_driven(trace) -> set[str]:
    """The arms a master (or synthetic operator) drove through teleoperation.

    An arm whose trace has a handle position, and also one whose tremor filter was given
    master samples but faulted on them (``filter_reset``) or was re-made for the device's
    rate (``filter_rate``): a filter that faults on every sample leaves no position used,
    so the trace's handle column is all NaN, yet it was driven (and ruined) by teleoperation.
    """
    driven = {name for name, i in trace.instruments.items() if i.has_master}
    for event in trace.events:
        if event.kind in FILTER_EVENTS and event.data.get("arm") in trace.instruments:
            driven.add(event.data["arm"])
    return driven


def run_job(job: Job) -> dict:
    """Run one job headless and return its result row (plain data, pickles)."""
    from scenarios.archive import ending_of
    from sim.session.controllers import ScriptedController, load_controller, run_controller
    from sim.session.plugins import session_config
    from sim.world.scenario_scene import load_world_scenario

    scenario = load_world_scenario(job.scenario)
    if job.driver.startswith("controller:"):
        controller = load_controller(job.driver.removeprefix("controller:"))
    else:
        controller = ScriptedController(job.driver)
    config = session_config(job.ik_solver, job.tremor_filter)
    outcome = run_controller(scenario, controller, seed=job.seed, config=config)
    row = {
        "key": job.key,
        "scenario": job.scenario,
        "driver": job.driver,
        **job.plugin_columns,
        "seed": job.seed,
        "completed": bool(outcome.result.completed),
        "passed": bool(outcome.result.passed),
        "score": float(outcome.result.score),
        "sim_time_s": float(outcome.sim_time_s),
        "wall_time_s": float(outcome.wall_time_s),
        "ended": ending_of(outcome.trace, False),
        "failure": outcome.trace.failure or "",
        # arms a master (or operator) drove through teleoperation: the only ones a tremor
        # filter sees (a controller's servo_cp goals pass none)
        "master_driven_arms": len(master_driven(outcome.trace)),
    }
    for kind, count in hold_counts(outcome.trace.events).items():
        row[f"{HELD}{kind}"] = count
    for name, value in sorted(outcome.metrics.items()):
        row[f"metric.{name}"] = float(value)
    return row


def attempt(job: Job) -> dict:
    """:func:`run_job`, with a failure returned as an error row (see :func:`failed_row`)
    instead of raised, so that the sweep goes on and keeps every other result.

    ``SystemExit`` counts as a failure too: a controller calling ``sys.exit`` must not end a
    serial sweep. ``KeyboardInterrupt`` still stops it (the journal keeps what finished).
    """
    start = time.perf_counter()
    try:
        row = run_job(job)
    except (Exception, SystemExit) as exc:
        return failed_row(
            job,
            describe(exc),
            traceback=traceback.format_exc(),
            wall_time_s=time.perf_counter() - start,
        )
    row["error"] = ""
    return row


def failed_row(
    job: Job, error: str, *, traceback: str = "", wall_time_s: float | None = None
) -> dict:
    """The row of a job that failed: ``error`` says why; no score or metrics (they are
    NaN in the table and left out of the summary)."""
    row = {
        "key": job.key,
        "scenario": job.scenario,
        "driver": job.driver,
        **job.plugin_columns,
        "seed": job.seed,
        "completed": False,
        "passed": False,
        "error": error,
    }
    if wall_time_s is not None:
        row["wall_time_s"] = float(wall_time_s)
    if traceback:
        row["traceback"] = traceback
    return row


def describe(exc: BaseException) -> str:
    """``"Type: first line of the message"``; for a Ray task error or a controller's error
    (:class:`~sim.session.controllers.ControllerError`), of the exception inside."""
    while isinstance(getattr(exc, "cause", None), BaseException):
        exc = exc.cause
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def failures(rows: Iterable[dict]) -> list[dict]:
    """The rows of jobs that failed."""
    return [row for row in rows if row.get("error")]


@dataclass
class Resume:
    """What a sweep takes from its journal, and what it runs.

    Attributes:
        reused: journal rows that stand for their jobs (same fingerprint, no error), by key.
        remaining: the jobs to run, in job order.
        changed: rows made from other inputs and run again, counted by what differed
            (``"controller"``, ``"scenario and surgisim version"``, ...).
        retried: keys of jobs that had failed and are run again.
        fresh: the journal was ignored (``fresh=True``).
    """

    reused: dict[str, dict]
    remaining: list[Job]
    changed: dict[str, int] = field(default_factory=dict)
    retried: list[str] = field(default_factory=list)
    fresh: bool = False

    def messages(self) -> list[str]:
        """What a person should be told about the journal before the runs start."""
        out = []
        if self.fresh:
            out.append("fresh: the journal is ignored and every run is made again.")
        for what, n in self.changed.items():
            were, are = ("were", "are") if n > 1 else ("was", "is")
            made = (
                "made before surgisim recorded what a result depends on,"
                if what == "fingerprint"
                else f"made with a different {what}"
            )
            out.append(f"{n} earlier result{'s' * (n > 1)} {were} {made} and {are} run again.")
        if self.retried:
            n = len(self.retried)
            out.append(f"{n} failed run{'s are' if n > 1 else ' is'} tried again.")
        return out


def plan(
    todo: Sequence[Job], journal: Path, fingerprints: dict[str, dict], *, fresh: bool = False
) -> Resume:
    """Which of ``todo`` the journal already answers: a row stands for its job only when it
    did not fail and was made from the same inputs (``fingerprints``, by job key)."""
    if fresh:
        return Resume(reused={}, remaining=list(todo), fresh=True)
    rows = {r["key"]: r for r in read_journal(journal) if "key" in r}
    reused: dict[str, dict] = {}
    changed: dict[str, int] = {}
    retried: list[str] = []
    remaining: list[Job] = []
    for job in todo:
        row = rows.get(job.key)
        if row is None:
            remaining.append(job)
            continue
        diff = provenance.differences(row, fingerprints[job.key])
        if diff:
            what = " and ".join(diff)
            changed[what] = changed.get(what, 0) + 1
            remaining.append(job)
        elif row.get("error"):
            retried.append(job.key)
            remaining.append(job)
        else:
            # a row from before sweeps took plug-ins was made with surgisim's own
            reused[job.key] = {**job.plugin_columns, **row}
    return Resume(reused, remaining, changed, retried)


class SweepInterruptedError(Exception):
    """A sweep stopped by Ctrl-C, SIGTERM or SIGHUP (raised as KeyboardInterrupt) before
    its last run: what finished is in the journal, the run under way is lost (it runs
    again on resume), the results table is not written.

    Attributes:
        rows: the finished runs' rows (journal and this sweep's), in job order.
        jobs: the sweep's jobs; ``total`` their number.
        journal: the journal, from which the same command resumes.
        signum: the signal that stopped it (SIGINT for Ctrl-C).
    """

    def __init__(self, rows: list[dict], jobs: Sequence[Job], journal: Path, signum: int) -> None:
        super().__init__(f"interrupted: {len(rows)} of {len(jobs)} runs done")
        self.rows = rows
        self.jobs = list(jobs)
        self.total = len(jobs)
        self.journal = journal
        self.signum = signum


def run_sweep(
    todo: Sequence[Job],
    results: Path,
    *,
    use_ray: bool = True,
    address: str | None = None,
    workers: int | None = None,
    fresh: bool = False,
    fingerprints: dict[str, dict] | None = None,
    on_start: Callable[[Resume], None] | None = None,
    on_result: Callable[[dict, int, int], None] | None = None,
) -> list[dict]:
    """Run ``todo`` (reusing what the journal already answers, see :func:`plan`) and return
    every row, in job order; rows of failed jobs carry an ``error`` (see :func:`failures`).

    Args:
        results: the results table (``.parquet`` or ``.csv``); the journal sits beside it.
        use_ray: run on Ray (else one after another in this process).
        address: a Ray cluster's address; None starts a local one of ``workers`` CPUs.
        fresh: ignore the journal and run every job (the journal is started again).
        fingerprints: :func:`provenance.fingerprints` of ``todo``, when already made.
        on_start: called with the :class:`Resume` before any job runs.
        on_result: called with (row, runs done, runs in the sweep) as runs finish.

    Raises:
        SimError, ScenarioError: an input that cannot run, found before any job runs; a Ray
            cluster that cannot be reached; another sweep writing to the same results
            (it holds the journal: :func:`held_journal`).
        SweepInterruptedError: a stop signal (as KeyboardInterrupt) came before the last run;
            Ray, if started here, is shut down first.
    """
    from sim.session.recording.export import SUFFIXES

    results = Path(results)
    if results.suffix not in SUFFIXES:
        raise SimError(f"results file {results.name}: must end in one of {SUFFIXES}.")
    if fingerprints is None:
        fingerprints = provenance.fingerprints(todo)
    journal = journal_path(results)
    with held_journal(journal, results):
        resume = plan(todo, journal, fingerprints, fresh=fresh)
        rows = dict(resume.reused)
        done = len(rows)
        if on_start is not None:
            on_start(resume)

        def finished(row: dict) -> None:
            nonlocal done
            row.update(fingerprints[row["key"]])
            rows[row["key"]] = row
            try:
                append_line(journal, json.dumps(row))
            except OSError as exc:
                raise SimError(
                    f"the sweep's journal {journal} could not be written "
                    f"({_reason(exc)}): the {done} runs it holds are safe; once that is "
                    "fixed, run the same command: it resumes from the journal."
                ) from None
            done += 1
            if on_result is not None:
                on_result(row, done, len(todo))

        on_ray = bool(resume.remaining) and use_ray
        try:
            _run_remaining(resume, finished, on_ray, address, workers, fresh, journal)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP raised as one
            signum = int(getattr(exc, "signum", signal.SIGINT))
            kept = [rows[job.key] for job in todo if job.key in rows]
            raise SweepInterruptedError(kept, todo, journal, signum) from None
        ordered = [rows[job.key] for job in todo]
        try:
            write_results(ordered, results)
        except OSError as exc:
            raise SimError(
                f"the results table {results} could not be written ({_reason(exc)}); all "
                f"{len(ordered)} runs are safe in the journal {journal}: once that is fixed, "
                "run the same command: it writes the table from the journal without running "
                "them again."
            ) from None
        return ordered


def _reason(exc: OSError) -> str:
    """An OSError in words: its reason (``No space left on device``), else itself."""
    return exc.strerror or str(exc)


def append_line(journal: Path, text: str) -> None:
    """Append ``text`` as one line; on a new line even when the last one was cut short (a
    full disk, a kill in mid-write), which would otherwise swallow this row too: the
    reader skips a line it cannot parse, so the run it holds was made again."""
    with journal.open("a+b") as f:  # appends go to the end whatever was read
        end = f.seek(0, os.SEEK_END)
        torn = end > 0 and (f.seek(end - 1), f.read(1))[1] != b"\n"
        f.write((b"\n" if torn else b"") + text.encode() + b"\n")


def _run_remaining(resume, finished, on_ray, address, workers, fresh, journal) -> None:
    """The jobs the journal does not answer, each passed to ``finished`` as it ends."""
    with ray_cluster.cluster(address, workers) if on_ray else nullcontext() as ray:
        if fresh:
            journal.write_text("")
        if ray is None:
            for job in resume.remaining:
                finished(attempt(job))
        else:
            remote = ray.remote(num_cpus=1, max_retries=1)(attempt)
            jobs_by_ref = {remote.remote(job): job for job in resume.remaining}
            pending = list(jobs_by_ref)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                try:
                    row = ray.get(ready[0])
                except ray.exceptions.RayError as exc:  # the worker died (after a retry)
                    row = failed_row(jobs_by_ref[ready[0]], describe(exc))
                finished(row)


@contextmanager
def held_journal(journal: Path, results: Path) -> Iterator[None]:
    """Hold ``journal`` (made owner-only if new: rows name controllers' files and hold
    their tracebacks) for one sweep: an exclusive ``flock``, which the kernel drops when
    the process ends however it ends. A second sweep with the same results file would
    run every job again beside the first and journal each twice: it is refused at once.

    Raises:
        SimError: another sweep holds the journal; it cannot be opened.
    """
    try:
        fd = os.open(private_file(journal), os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise SimError(
            f"cannot open the sweep's journal {journal}: {exc.strerror or exc}."
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SimError(
                f"another sweep is writing to {results} right now (it holds {journal}); "
                "wait until it ends (then the same command resumes from its journal), or "
                "give another --out."
            ) from None
        yield
    finally:
        os.close(fd)


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
        names += [k for k in row if k not in names and k not in JOURNAL_ONLY]
    first = [n for n in FIRST_COLUMNS if n in names]
    last = [n for n in LAST_COLUMNS if n in names]
    names = first + [n for n in names if n not in first and n not in last] + last
    table = {}
    for name in names:
        missing = "" if name in LAST_COLUMNS else math.nan
        values = np.asarray([row.get(name, missing) for row in rows])
        table[name] = values.astype(object) if values.dtype.kind in "UO" else values
    return write_table(table, path)


def summary(rows: Sequence[dict]) -> list[dict]:
    """Mean and SD of each metric per (scenario, driver, IK solver, tremor filter): one dict
    per metric and group (``ik_solver`` is ``"builtin"`` and ``tremor_filter``
    ``"default"`` for surgisim's own).

    Failed jobs are left out (their ``n`` is the runs that finished). The completion time
    is averaged over completed runs only: an attempt not completed has no completion time
    (it reads how long it lasted), and a run stopped early would pull the mean below
    every real completion.

    After the metrics, per group, the mean count of each ``held.<event>`` that any run
    of the sweep had (``held.unreachable``, ...): a plug-in that failed and held the arms
    scores like one that worked when the arms were not needed, and only these say so.
    """
    import numpy as np

    held = sorted({k for r in rows if not r.get("error") for k in r if k.startswith(HELD) and r[k]})
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        if row.get("error"):
            continue
        plugins = tuple(row.get(kind.column, kind.builtin) for kind in PLUGINS)
        groups.setdefault((row["scenario"], row["driver"], *plugins), []).append(row)
    out = []
    for (scenario, driver, *plugins), group in groups.items():
        measured = {k.removeprefix("metric.") for r in group for k in r if k.startswith("metric.")}
        names = ["score"] + [n for n in SUMMARY_METRICS[1:] if n in measured]
        names += sorted(measured - set(names))
        for name in names + held:
            key = name if name == "score" or name.startswith(HELD) else f"metric.{name}"
            runs = [r for r in group if r["completed"]] if name == "completion_time_s" else group
            values = np.array([r[key] for r in runs if key in r], dtype=float)
            if values.size == 0 and name != "completion_time_s":
                continue
            # no run completed: the completion time is a row with n = 0 and no mean (it
            # was left out, and a reader could not tell "none completed" from "not measured")
            out.append(
                {
                    "scenario": scenario,
                    "driver": driver,
                    **{kind.column: spec for kind, spec in zip(PLUGINS, plugins, strict=True)},
                    "metric": name,
                    "n": int(values.size),
                    "mean": float(values.mean()) if values.size else math.nan,
                    "sd": float(values.std(ddof=1)) if values.size > 1 else 0.0,
                    "completed": sum(r["completed"] for r in group),
                    "runs": len(group),  # n counts completed runs only for the time
                }
            )
    return out


def timed(fn, *args, **kwargs):
    """(result, wall seconds) of ``fn(*args, **kwargs)``."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start
