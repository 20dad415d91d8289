"""``surgisim sweep``: every scenario x driver x seed, on Ray or in series, with a summary."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table


def sweep(
    scenarios: list[str] = typer.Argument(..., help="Bundled scenario names or YAML files."),
    operators: str = typer.Option(
        "expert",
        help="Comma-separated synthetic operators (expert, intermediate, novice); '' for none.",
    ),
    controller: list[str] = typer.Option(
        None, help="A controller 'package.module:factory' to sweep too (repeatable)."
    ),
    seeds: str = typer.Option("0-9", help="Seeds: '0-99', '0,3,7' or '0-9,20-29'."),
    out: Path = typer.Option(
        Path("sweep.parquet"),
        help="Results table (.parquet or .csv); a .jsonl journal "
        "beside it makes the sweep resumable.",
    ),
    ray_address: str | None = typer.Option(
        None, "--ray", help="Ray cluster address (default: a local cluster)."
    ),
    workers: int | None = typer.Option(
        None, min=1, help="Local cluster size (CPUs; default: all)."
    ),
    serial: bool = typer.Option(False, help="Run in this process, one after another (no Ray)."),
) -> None:
    """Run every combination headless, scored like trainees; print mean ± SD per metric."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from scenarios.errors import ScenarioError
    from sim.errors import SimError
    from sim.session import sweep as sw

    console = Console()
    drivers = [o.strip() for o in operators.split(",") if o.strip()]
    drivers += [f"controller:{c}" for c in controller or ()]
    try:
        if not drivers:
            raise SimError("nothing to run: give --operators and/or --controller.")
        from sim.env.surgical import load

        for name in scenarios:
            load(name)  # fail early on a bad scenario, before any cluster starts
        todo = sw.jobs(scenarios, drivers, sw.parse_seeds(seeds))
        with Progress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("sweep", total=len(todo), last="")

            def on_result(row: dict, done: int, total: int) -> None:
                last = f"{row['scenario']} {row['driver']} seed {row['seed']}: {row['score']:.0f}"
                progress.update(task, completed=done, last=last)

            already = len({r["key"] for r in sw.read_journal(sw.journal_path(out))})
            if already:
                progress.update(task, completed=min(already, len(todo)), last="resumed")
            rows = sw.run_sweep(
                todo,
                out,
                use_ray=not serial,
                address=ray_address,
                workers=workers,
                on_result=on_result,
            )
    except (SimError, ScenarioError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    table = Table(title=f"{len(rows)} runs: mean ± SD per metric")
    for col in ("scenario", "driver", "metric", "n", "mean ± SD", "completed"):
        table.add_column(col)
    for s in sw.summary(rows):
        table.add_row(
            s["scenario"],
            s["driver"],
            s["metric"],
            str(s["n"]),
            f"{s['mean']:.4g} ± {s['sd']:.2g}",
            f"{s['completed']}/{s['n']}",
        )
    console.print(table)
    console.print(f"results: {out}")
