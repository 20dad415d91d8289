"""``surgisim trainee ...``, ``surgisim report`` and ``surgisim rescore``: the records side."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

trainee_app = typer.Typer(help="Trainees (pseudonyms) and their progress.", no_args_is_help=True)

DB_OPTION = typer.Option(
    None,
    "--db",
    help="Records database URL (default: a SQLite file "
    "under $XDG_DATA_HOME/surgisim or ~/.local/share/surgisim).",
)


def _records(db: str | None):
    from scenarios.records import Records

    return Records(db)


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    return typer.Exit(code=2)


@trainee_app.command("list")
def trainee_list(db: str | None = DB_OPTION) -> None:
    """List trainees with their number of sessions."""
    records = _records(db)
    table = Table(title=f"Trainees in {records.url}")
    for col in ("pseudonym", "sessions", "since"):
        table.add_column(col)
    for trainee, count in records.trainees():
        table.add_row(trainee.pseudonym, str(count), f"{trainee.created_at:%Y-%m-%d}")
    Console().print(table)


@trainee_app.command("show")
def trainee_show(
    pseudonym: str = typer.Argument(..., help="The trainee's pseudonym."),
    db: str | None = DB_OPTION,
    html: Path | None = typer.Option(None, help="Where to write the progress page (HTML)."),
    csv: Path | None = typer.Option(None, help="Also export the sessions as CSV here."),
) -> None:
    """A trainee's sessions, proficiency per scenario, and a progress page."""
    from scenarios.archive import session_dicts, write_trainee_report
    from scenarios.errors import ScenarioError

    records = _records(db)
    sessions = session_dicts(records, pseudonym)
    table = Table(title=f"Sessions of {pseudonym}")
    for col in ("id", "scenario", "date", "operator", "score", "result"):
        table.add_column(col)
    for s in sessions:
        table.add_row(
            str(s["id"]),
            s["scenario"],
            s["started_at"],
            s["operator"],
            f"{s['score']:.0f}",
            "pass" if s["passed"] else "FAIL",
        )
    Console().print(table)
    try:
        path = write_trainee_report(records, pseudonym, html, csv)
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    Console().print(f"progress page: {path}" + (f"\nCSV: {csv}" if csv else ""))


def report(
    session_id: int = typer.Argument(..., help="Session id (see 'surgisim trainee show')."),
    db: str | None = DB_OPTION,
    out: Path | None = typer.Option(None, help="Where to write the HTML report."),
    json_out: Path | None = typer.Option(None, "--json", help="Also export the result as JSON."),
) -> None:
    """Write the HTML report of a stored session (with its latest score)."""
    import json

    from scenarios.archive import write_session_report
    from scenarios.errors import ScenarioError

    records = _records(db)
    try:
        path = write_session_report(records, session_id, out)
        if json_out is not None:
            row = records.session(session_id)
            payload = {
                "session": session_id,
                "trainee": row.trainee.pseudonym,
                "scenario": row.scenario,
                "metrics": row.metrics,
                "scores": [json.loads(s.result_json) for s in row.scores],
            }
            json_out.write_text(json.dumps(payload, indent=2))
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    Console().print(f"report: {path}")


def rescore(
    session_id: int | None = typer.Argument(None, help="Session id to re-score."),
    scenario: str | None = typer.Option(
        None,
        help="Scenario name or YAML file whose scoring section is the (edited) rubric "
        "(default with --recording: the recorded scenario's).",
    ),
    recording: Path | None = typer.Option(
        None, help="Re-score a recording (surgisim run --record FILE.mcap) instead."
    ),
    db: str | None = DB_OPTION,
) -> None:
    """Score a stored session or a recording again under an edited rubric, without re-running it."""
    from scenarios.archive import rescore as do_rescore
    from scenarios.errors import ScenarioError
    from scenarios.loader import load_scenario
    from sim.errors import SimError

    if (session_id is None) == (recording is None):
        raise _fail("give a session id or --recording FILE.mcap (one of them).")
    try:
        if recording is not None:
            from sim.session.recording.rescore import rescore_recording

            original, new = rescore_recording(recording, scenario)
            title = f"{recording} re-scored"
        else:
            if scenario is None:
                raise _fail("--scenario is needed to re-score a stored session.")
            records = _records(db)
            rubric = load_scenario(scenario).scoring
            original, new = do_rescore(records, session_id, rubric)
            title = f"Session {session_id} re-scored"
    except (ScenarioError, SimError) as exc:
        raise _fail(str(exc)) from None
    table = Table(title=title)
    for col in ("", "score", "result"):
        table.add_column(col)
    table.add_row("original", f"{original.score:.1f}", "pass" if original.passed else "FAIL")
    table.add_row("re-scored", f"{new.score:.1f}", "pass" if new.passed else "FAIL")
    Console().print(table)
