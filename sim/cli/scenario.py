"""``surgisim scenario list|validate`` and ``surgisim run``: the exercise side of the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

scenario_app = typer.Typer(help="Bundled and custom scenarios.", no_args_is_help=True)


@scenario_app.command("list")
def scenario_list() -> None:
    """The bundled scenarios."""
    from scenarios.loader import library_names, load_scenario

    table = Table(title="Bundled scenarios (surgisim run NAME)")
    for col in ("name", "title", "difficulty", "est. time", "rule"):
        table.add_column(col)
    for name in library_names():
        s = load_scenario(name)
        table.add_row(
            name, s.title, s.difficulty, f"{s.estimated_time_s:.0f} s", s.scoring.rule.kind
        )
    Console().print(table)


@scenario_app.command("validate")
def scenario_validate(
    files: list[Path] = typer.Argument(..., help="Scenario YAML files (or bundled names)."),
) -> None:
    """Check scenario files; print FILE:LINE:COL: message for each error, exit 1 if any."""
    from scenarios.errors import ScenarioError
    from scenarios.loader import load_scenario
    from sim.world.scenario_scene import build_scene_spec
    from sim.world.scene import OBJECT_TYPES

    failed = False
    for path in files:
        try:
            scenario = load_scenario(path, object_types=OBJECT_TYPES)
            build_scene_spec(scenario)
        except ScenarioError as exc:
            failed = True
            typer.echo(str(exc), err=True)
        else:
            typer.echo(f"{path}: ok ({scenario.title}, {len(scenario.exercise.steps)} steps)")
    raise typer.Exit(code=1 if failed else 0)


def run(
    scenario: str = typer.Argument(..., help="Bundled scenario name or a YAML file."),
    operator: str = typer.Option(
        "expert", help="Synthetic operator: expert, intermediate, novice."
    ),
    seed: int = typer.Option(0, help="Seed of the world and the operators."),
    trainee: str = typer.Option("demo", help="Pseudonym the session is stored under."),
    db: str | None = typer.Option(None, "--db", help="Records database URL."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the result as JSON."),
    report: Path | None = typer.Option(None, help="Where to write the HTML report."),
    store: bool = typer.Option(True, help="Store the session in the records database."),
    controller: str | None = typer.Option(
        None, help="Your controller instead of the operator: 'package.module:factory'."
    ),
    record: Path | None = typer.Option(None, help="Record the session to this MCAP file."),
) -> None:
    """Run a scenario headless with a synthetic operator or a controller; print, store and
    report the score."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from scenarios.archive import store_session, write_session_report
    from scenarios.errors import ScenarioError
    from scenarios.loader import load_scenario, resolve
    from scenarios.records import Records
    from sim.errors import SimError
    from sim.session.headless import run_headless
    from sim.world.scene import OBJECT_TYPES

    console = Console()
    try:
        path = resolve(scenario)
        spec = load_scenario(path, object_types=OBJECT_TYPES)
    except ScenarioError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(
            f"{spec.title} ({operator}, seed {seed})",
            total=len(spec.exercise.steps),
            status="starting",
        )

        def on_progress(steps_done: int, sim_time_s: float) -> None:
            progress.update(task, completed=steps_done, status=f"sim {sim_time_s:5.1f} s")

        try:
            if controller is None and record is None:
                outcome = run_headless(spec, operator=operator, seed=seed, on_progress=on_progress)
            else:
                from sim.session.controllers import run_driven

                outcome, operator = run_driven(
                    spec, path, operator, controller, record, seed, on_progress
                )
        except (SimError, ScenarioError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None
    _print_result(console, spec, outcome)
    payload = {
        "scenario": spec.name,
        "seed": seed,
        "operator": operator,
        "completed": outcome.result.completed,
        "passed": outcome.result.passed,
        "score": outcome.result.score,
        "sim_time_s": outcome.sim_time_s,
        "wall_time_s": outcome.wall_time_s,
        "metrics": outcome.metrics,
    }
    if store:
        records = Records(db)
        sid = store_session(
            records,
            scenario=spec,
            scenario_text=path.read_text(),
            pseudonym=trainee,
            operator=operator,
            seed=seed,
            trace=outcome.trace,
            metrics=outcome.metrics,
            result=outcome.result,
            sim_time_s=outcome.sim_time_s,
            wall_time_s=outcome.wall_time_s,
        )
        page = write_session_report(records, sid, report)
        payload["session_id"] = sid
        console.print(f"stored as session {sid} for trainee {trainee!r}; report: {page}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(payload, indent=2))


def _print_result(console: Console, spec, outcome) -> None:
    result = outcome.result
    table = Table(
        title=f"{spec.title}: {'PASS' if result.passed else 'FAIL'} - score "
        f"{result.score:.0f}/100 ({result.rule})"
    )
    for col in ("metric", "value", "benchmark", "pass mark", "score", ""):
        table.add_column(col)
    for m in result.metrics.values():
        bench = "" if m.benchmark_mean is None else f"{m.benchmark_mean:.3g} ± {m.benchmark_sd:.3g}"
        table.add_row(
            m.name,
            "n/a" if m.value is None else f"{m.value:.3g}",
            bench,
            "" if m.threshold is None else f"{m.threshold:.3g}",
            "" if m.score is None else f"{m.score:.0f}",
            {True: "pass", False: "FAIL", None: ""}[m.passed],
        )
    console.print(table)
    for reason in result.reasons:
        console.print(f"- {reason}")
    console.print(
        f"simulated {outcome.sim_time_s:.1f} s in {outcome.wall_time_s:.1f} s of wall "
        f"time ({outcome.sim_time_s / max(outcome.wall_time_s, 1e-9):.1f}x real time)"
    )
