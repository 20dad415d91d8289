"""``surgisim sweep``: every scenario x driver x IK solver x tremor filter x seed, on Ray or
in series, with a summary."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sim.cli.guard import DEBUG_OPTION
from sim.cli.options import RAY_ADDRESS


def sweep(
    scenarios: list[str] = typer.Argument(..., help="Bundled scenario names or YAML files."),
    operators: str = typer.Option(
        "expert",
        help="Comma-separated synthetic operators (expert, intermediate, novice); '' for none.",
    ),
    controller: list[str] = typer.Option(
        None, help="A controller 'package.module:factory' to sweep too (repeatable)."
    ),
    ik_solver: list[str] = typer.Option(
        None,
        "--ik-solver",
        help="An IK solver 'package.module:function' (solve_ik's signature) or 'builtin' "
        "to sweep (repeatable; default: builtin only).",
    ),
    tremor_filter: list[str] = typer.Option(
        None,
        "--tremor-filter",
        help="A tremor filter for every master-driven arm: a built-in's name (none, "
        "one_euro, ...), your factory 'package.module:make' or 'default' to sweep "
        "(repeatable; default: default only).",
    ),
    seeds: str = typer.Option("0-9", help="Seeds: '0-99', '0,3,7' or '0-9,20-29'."),
    out: Path = typer.Option(
        Path("sweep.parquet"),
        help="Results table (.parquet or .csv); a .jsonl journal "
        "beside it makes the sweep resumable.",
    ),
    ray_address: str | None = RAY_ADDRESS,
    workers: int | None = typer.Option(
        None, min=1, help="Local cluster size (CPUs; default: all)."
    ),
    serial: bool = typer.Option(False, help="Run in this process, one after another (no Ray)."),
    fresh: bool = typer.Option(
        False, help="Ignore the journal: run every job again (the journal is started anew)."
    ),
    debug: bool = DEBUG_OPTION,
) -> None:
    """Run every combination headless, scored like trainees; print mean ± SD per metric.

    A job that fails (raises, or its worker dies) is a row with an `error` column, left out
    of the means; the sweep goes on, writes the results, and exits with status 1. Running
    the same sweep again retries failed jobs and jobs whose scenario, controller, IK solver,
    tremor filter or surgisim changed since; the rest come from the journal.

    Ctrl-C, SIGTERM or SIGHUP stops it (Ray shut down): it says how many runs are done,
    where the journal is and how to resume, prints the table of the finished runs and
    exits with 130, 143 or 129 (128 + the signal), never 1 (a failed run).
    """
    from sim.cli.guard import guard, raised_stop
    from sim.session import provenance
    from sim.session import sweep as sw

    console = Console(emoji=False)
    drivers = [o.strip() for o in operators.split(",") if o.strip()]
    drivers += [f"{provenance.CONTROLLER_PREFIX}{c}" for c in controller or ()]
    # Ctrl-C, SIGTERM and SIGHUP raised as KeyboardInterrupt (guard), which the sweep
    # turns into SweepInterruptedError: said, with what finished, and exit 130, 143 or 129
    with guard(debug):
        try:
            rows, todo, out = _swept(
                console, scenarios, drivers, ik_solver, tremor_filter, seeds, out,
                ray_address, workers, serial, fresh,
            )  # fmt: skip
        except sw.SweepInterruptedError as stopped:
            stopped.signum = raised_stop() or stopped.signum  # Ray's wait says Ctrl-C
            _say_interrupted(console, stopped)
            raise typer.Exit(code=128 + stopped.signum) from None
    _summarise(console, rows, todo, out)
    failed = sw.failures(rows)
    if failed:
        _report_failures(console, failed, len(rows), out)
        raise typer.Exit(code=1)


def _swept(console, scenarios, drivers, ik_solver, tremor_filter, seeds, out, ray_address,
           workers, serial, fresh):  # fmt: skip
    """Check the inputs, run the sweep with a progress bar; (rows, jobs, results path)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from scenarios.errors import ScenarioError
    from sim.errors import SimError
    from sim.session import provenance
    from sim.session import sweep as sw
    from sim.session.plugins import IK_SOLVER, TREMOR_FILTER

    try:
        if not drivers:
            raise SimError("nothing to run: give --operators and/or --controller.")
        from sim.cli.checks import checked_output

        out = checked_output(out, "--out")  # before any job runs
        solvers = [IK_SOLVER.parse(s) for s in ik_solver or (None,)]
        filters = [TREMOR_FILTER.parse(f) for f in tremor_filter or (None,)]
        todo = sw.jobs(scenarios, drivers, sw.parse_seeds(seeds), solvers, filters)
        # every scenario, controller and plug-in loaded before any cluster starts or job runs
        fingerprints = provenance.fingerprints(todo)
        with Progress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("sweep", total=len(todo), last="")

            def on_start(resume: sw.Resume) -> None:
                for line in resume.messages():
                    progress.console.print(line)
                if resume.reused:
                    progress.update(task, completed=len(resume.reused), last="resumed")

            def on_result(row: dict, done: int, total: int) -> None:
                run = escape(_run_name(row))
                if row.get("error"):
                    last = f"{run}: [red]failed[/red] ({row['error'].partition(':')[0]})"
                else:
                    last = f"{run}: {row['score']:.0f}"
                progress.update(task, completed=done, last=last)

            rows = sw.run_sweep(
                todo,
                out,
                use_ray=not serial,
                address=ray_address,
                workers=workers,
                fresh=fresh,
                fingerprints=fingerprints,
                on_start=on_start,
                on_result=on_result,
            )
    except (SimError, ScenarioError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    return rows, todo, out


def _summarise(console: Console, rows: list[dict], todo, out: Path | None, note: str = "") -> None:
    """The mean ± SD table of ``rows`` and what it leaves out (``note``: after the title)."""
    from sim.session import sweep as sw
    from sim.session.plugins import PLUGINS

    failed = sw.failures(rows)
    finished = len(rows) - len(failed)
    title = f"{finished} run{'s' * (finished != 1)}: mean ± SD per metric"
    if failed:
        title += f" ({len(failed)} failed run{'s' * (len(failed) > 1)} left out)"
    table = Table(title=title + note)
    # a plug-in's column only when the sweep names one other than surgisim's own
    shown = [k for k in PLUGINS if any(getattr(job, k.column) is not None for job in todo)]
    columns = ("scenario", "driver", *(k.what for k in shown))
    for col in (*columns, "metric", "n", "mean ± SD", "completed"):
        table.add_column(col)
    stats = sw.summary(rows)
    for s in stats:
        table.add_row(
            escape(s["scenario"]),
            escape(s["driver"]),
            *(escape(s[k.column]) for k in shown),
            escape(s["metric"]),
            str(s["n"]),
            f"{s['mean']:.4g} ± {s['sd']:.2g}" if s["n"] else "none completed",
            f"{s['completed']}/{s['runs']}",
        )
    console.print(table)
    _say_held(console, stats, shown, rows)
    _say_unfiltered(console, rows)
    if out is not None:
        console.print(f"results: {escape(str(out))}", highlight=False)


def _say_interrupted(console: Console, stopped) -> None:
    """The finished runs' table, then one line a person or a batch system reads: how many
    runs are done, where they are kept and how to go on."""
    import signal

    if stopped.rows:
        _summarise(console, stopped.rows, stopped.jobs, None, " (interrupted: finished runs)")
    how = "Ctrl-C" if stopped.signum == signal.SIGINT else signal.Signals(stopped.signum).name
    console.print(
        f"[yellow]interrupted ({how}):[/yellow] {len(stopped.rows)} of {stopped.total} runs "
        f"done, journal at {escape(str(stopped.journal))}; resume with the same command "
        "(without --fresh): the finished runs are not run again. The results table is "
        "written when the sweep completes.",
        highlight=False,
    )


#: failed runs listed one by one; beyond this, a count
MAX_LISTED = 20


def _say_unfiltered(console: Console, rows: list[dict]) -> None:
    """A tremor filter swept over drivers that drive no arm through teleoperation (a
    controller's goals pass no filter) filtered nothing, which two filter labels on
    identical rows did not say. The rows it equals are named only when the sweep ran
    them (the driver with the default filter): "equal the default's" pointed at rows
    that a sweep of ``none`` and ``one_euro`` did not have.

    A row where the filter faulted (``held.filter_reset``) was filtered, and ruined, by
    it: never said to equal the default's (also for a journal row written before
    ``master_driven_arms`` counted arms whose filter faulted on every sample)."""
    from sim.session.plugins import TREMOR_FILTER
    from sim.session.sweep import HELD

    unused: dict[tuple[str, str], int] = {}
    with_default = set()
    for row in rows:
        spec = row.get(TREMOR_FILTER.column, TREMOR_FILTER.builtin)
        if spec == TREMOR_FILTER.builtin and not row.get("error"):
            with_default.add(row["driver"])
        if row.get("error") or spec == TREMOR_FILTER.builtin:
            continue
        if row.get(f"{HELD}filter_reset"):
            continue
        if row.get("master_driven_arms", 1) == 0:
            key = (row["driver"], spec)
            unused[key] = unused.get(key, 0) + 1
    for (driver, spec), n in unused.items():
        equal = " (they equal its runs with the default filter)" if driver in with_default else ""
        console.print(
            f"[yellow]not filtered:[/yellow] {escape(driver)} with tremor filter "
            f"{escape(spec)}: no arm was driven through teleoperation in {n} run"
            f"{'s' * (n != 1)} (servo_cp and servo_jp goals pass no filter), so the "
            f"filter made no difference to them{equal}",
            highlight=False,
        )


def _say_held(console: Console, summary: list[dict], shown, rows: list[dict]) -> None:
    """Which groups held their arms, how often and on which seeds: a solver raising on
    every call scored 100 beside the built-in, and nothing but stray log lines said so."""
    from sim.session.plugins import PLUGINS
    from sim.session.sweep import HELD

    for s in summary:
        if not s["metric"].startswith(HELD) or not s["mean"]:
            continue
        group = " ".join([s["scenario"], s["driver"], *(f"{k.short} {s[k.column]}" for k in shown)])
        kind = s["metric"].removeprefix(HELD).replace("_", " ")
        seeds = sorted(
            r["seed"]
            for r in rows
            if r.get(s["metric"])
            and (r["scenario"], r["driver"]) == (s["scenario"], s["driver"])
            and all(r.get(k.column, k.builtin) == s[k.column] for k in PLUGINS)
        )
        console.print(
            f"[yellow]arms held:[/yellow] {escape(group)}: {s['mean']:.3g} {escape(kind)} "
            f"events per run (the {escape(s['metric'])} column), on seed{'s' * (len(seeds) != 1)} "
            f"{', '.join(map(str, seeds))}: `surgisim run` with a seed and the same "
            "options says why",
            highlight=False,
        )


def _run_name(row: dict) -> str:
    """``scenario driver seed N``, with each plug-in that is not surgisim's own
    (``... ik my_plugins:dls filter one_euro seed 3``)."""
    from sim.session.plugins import PLUGINS

    plugins = "".join(
        f" {kind.short} {row[kind.column]}"
        for kind in PLUGINS
        if row.get(kind.column, kind.builtin) != kind.builtin
    )
    return f"{row['scenario']} {row['driver']}{plugins} seed {row['seed']}"


def _report_failures(console: Console, failed: list[dict], total: int, out: Path) -> None:
    """Which runs failed and why, where the details are, and that a rerun retries them."""
    from sim.session import sweep as sw

    console.print(
        f"[bold red]{len(failed)} of {total} runs failed[/bold red] (left out of the means; "
        f"the 'error' column of {escape(str(out))} says why, tracebacks are in "
        f"{escape(str(sw.journal_path(out)))}; "
        "running the sweep again retries them):",
        highlight=False,
    )
    for row in failed[:MAX_LISTED]:
        console.print(
            f"  {_run_name(row)}: {row['error']}",
            highlight=False,
            markup=False,
        )
    if len(failed) > MAX_LISTED:
        console.print(f"  ... and {len(failed) - MAX_LISTED} more.")
