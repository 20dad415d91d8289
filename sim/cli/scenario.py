"""``surgisim scenario list|validate``: the bundled scenarios and checking scenario files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sim.cli.options import command_group

scenario_app = command_group(help="Bundled and custom scenarios.", no_args_is_help=True)


@scenario_app.command("list")
def scenario_list() -> None:
    """The bundled scenarios."""
    from scenarios.loader import library_names, load_scenario

    table = Table(
        title="Bundled scenarios (surgisim run NAME)",
        caption="to start your own from one: surgisim scenario show NAME > mine.yaml",
    )
    for col in ("name", "title", "difficulty", "est. time", "rule"):
        table.add_column(col)
    for name in library_names():
        s = load_scenario(name)
        table.add_row(
            escape(name),
            escape(s.title),
            escape(s.difficulty),
            f"{s.estimated_time_s:.0f} s",
            escape(s.scoring.rule.kind),
        )
    Console(emoji=False).print(table)


@scenario_app.command("show")
def scenario_show(
    name: str = typer.Argument(..., help="A bundled scenario's name (surgisim scenario list)."),
) -> None:
    """Print a bundled scenario's YAML, to copy and edit: surgisim scenario show
    peg-transfer > my-drill.yaml (installed from a wheel, the library sits inside
    site-packages)."""
    from scenarios.errors import suggest
    from scenarios.loader import library_names, resolve

    names = library_names()
    if name not in names:
        typer.echo(
            f"error: {name!r} is not a bundled scenario (bundled: {', '.join(names)})."
            + suggest(name, names),
            err=True,
        )
        raise typer.Exit(code=2)
    typer.echo(resolve(name).read_text(encoding="utf-8"), nl=False)


@scenario_app.command("validate")
def scenario_validate(
    files: list[Path] = typer.Argument(..., help="Scenario YAML files (or bundled names)."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of unexpected errors."),
) -> None:
    """Check scenario files as a run would use them: schema, names of objects, bodies,
    landmarks, arms, steps and plans, and the world they build (bodies that start inside
    one another, objects no arm can reach) and a few steps of a session with nobody
    moving (exercise steps already done at the start); print FILE:LINE:COL: message for each failing
    file, and FILE:LINE:COL: warning: message for what a valid file probably did not
    mean; check every file given, exit 1 if any failed (warnings do not fail)."""
    from scenarios.errors import ScenarioError
    from scenarios.lint import implausible_thresholds, implausible_units, scenario_warnings
    from sim.session.done_at_start import start_warnings
    from sim.session.plans import PLANS, plan_missing, plan_unrunnable
    from sim.world.scenario_check import check_scenario
    from sim.world.scenario_scene import load_world_scenario
    from sim.world.scene_warnings import world_warnings

    failed = 0
    for path in files:
        try:
            scenario = load_world_scenario(path)
            check_scenario(
                scenario,
                plan_kinds=PLANS,
                plan_unrunnable=plan_unrunnable,
                plan_missing=plan_missing,
            )
            warnings = _unit_slips_first(
                implausible_units(scenario) + implausible_thresholds(scenario),
                scenario_warnings(scenario) + world_warnings(scenario) + start_warnings(scenario),
            )
        except ScenarioError as exc:
            failed += 1
            typer.echo(str(exc), err=True)
        except Exception as exc:  # a bug of ours, not of the file: say so, keep going
            failed += 1
            if debug:
                import traceback

                traceback.print_exc()
            typer.echo(
                f"{path}: internal error while checking ({type(exc).__name__}: {exc}); "
                "please report it with the file (rerun with --debug for the traceback).",
                err=True,
            )
        else:
            _report_ok(path, scenario, warnings)
    if len(files) > 1:
        typer.echo(f"{len(files) - failed} of {len(files)} files ok", err=bool(failed))
    raise typer.Exit(code=1 if failed else 0)


def _unit_slips_first(slips: list, warnings: list) -> list:
    """``warnings`` in the file's order, as a reader goes through it, but the unit slips
    (``slips``, among them) first: a cube 11 m wide (millimetres written as metres) starts
    inside every arm and board and flies off, and those warnings, at earlier lines, came
    before the one that names the cause."""

    def place(w):
        return (w.line or 0, w.col or 0)

    return sorted(slips, key=place) + sorted((w for w in warnings if w not in slips), key=place)


def _report_ok(path: Path, scenario, warnings) -> None:
    """The ok line of a valid file (stdout), then its warnings (stderr, like its errors
    would be): a warning points at a line to look at, it does not fail the file."""
    note = "" if scenario.plan else "; no demonstration plan (master devices only)"
    if warnings:
        note += f"; {len(warnings)} warning{'s' if len(warnings) > 1 else ''}"
    steps = len(scenario.exercise.steps)
    typer.echo(f"{path}: ok ({scenario.title}, {steps} step{'s' if steps > 1 else ''}{note})")
    for warning in warnings:
        typer.echo(str(warning), err=True)
