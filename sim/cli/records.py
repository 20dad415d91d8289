"""``surgisim trainee ...``, ``surgisim report`` and ``surgisim rescore``: the records side.

Every failure a user can cause (a damaged, read-only or missing database, a directory
given as one, a damaged trace file, a database driver not installed, an unknown trainee
or session) ends in a line or two saying what is wrong and how to fix it, and exit code
2; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sim.cli.checks import checked_output, distinct_outputs
from sim.cli.guard import DEBUG_OPTION, guard
from sim.cli.options import ALLOW_NAME, command_group

trainee_app = command_group(
    help="Trainees (pseudonyms) and their progress.",
    no_args_is_help=True,
)

DB_OPTION = typer.Option(
    None,
    "--db",
    help="Records database URL (default: a SQLite file "
    "under $XDG_DATA_HOME/surgisim or ~/.local/share/surgisim).",
)
DEMO_OPTION = typer.Option(
    False,
    "--demo",
    help="Use the store of synthetic demonstrations (demo.sqlite), not the trainee records.",
)


def _written(what: str, path, csv) -> str:
    """``progress page: PATH`` (and the CSV's path), markup-safe (a path may hold ``[x]``)."""
    return f"{what}: {escape(str(path))}" + (f"\nCSV: {escape(str(csv))}" if csv else "")


def _session_store(records, session_id: int, db: str | None, demo: bool, console) -> None:
    """With neither ``--db`` nor ``--demo``, a session id is looked up in the trainee
    records; a scripted operator's or controller's run without ``--trainee`` is stored in
    the demo store, whose ids overlap: a session only there is refused with the option
    that finds it, and one in both is said to be the trainee records' (the other needs
    ``--demo``), never picked silently."""
    from scenarios.errors import ScenarioError
    from scenarios.records import database_location, open_records

    if db or demo or not Path(database_location(None, "demo")).exists():
        return
    try:
        open_records(None, demo=True).session(session_id)
    except ScenarioError:
        return  # not in the demo store either: the trainee records' own error says so
    try:
        records.session(session_id)
    except ScenarioError:
        raise ScenarioError(
            f"no session with id {session_id} in the trainee records "
            f"({records.shown_url}); the demo store (runs of a scripted operator or "
            f"controller without --trainee) has a session {session_id}: add --demo."
        ) from None
    console.print(
        f"[yellow]note:[/yellow] session {session_id} of the trainee records "
        f"({escape(records.shown_url)}); the demo store has a session {session_id} too: "
        "add --demo for that one.",
        highlight=False,
        soft_wrap=True,
    )


def _records(db: str | None, demo: bool = False, *, reading: bool = True):
    """The records a command works on; a command that only reads (``reading``) refuses a
    ``--db`` SQLite file that does not exist instead of creating an empty one."""
    from scenarios.errors import ScenarioError
    from scenarios.records import missing_database, open_read_only, open_records

    if db and demo:
        raise ScenarioError("give --db or --demo, not both.")
    missing = missing_database(db) if reading else None
    if missing is not None:
        raise ScenarioError(
            f"no records database at {missing}: nothing is stored there (check the path "
            "given with --db; a run creates the database when it stores its first session)."
        )
    try:
        return open_records(db, demo=demo)
    except ScenarioError:
        opened = open_read_only(db, demo=demo) if reading else None
        if opened is None:
            raise
    records, note = opened
    Console(emoji=False, stderr=True).print(note, soft_wrap=True, highlight=False, markup=False)
    return records


def _read_only_note(records, what: str) -> str | None:
    """Why ``what`` (a page registered in the records) is not written: the records cannot
    be written (a read-only file, or opened read-only); None when they can. ``trainee
    show`` printed every table, then failed with exit code 2 on its progress page."""
    from scenarios.errors import ScenarioError

    try:
        records.check_writable()
    except ScenarioError as exc:
        if "read-only" not in str(exc) and "readonly" not in str(exc):
            raise
        return (
            f"note: {what} is not written: the records are read-only, and a page about a "
            "trainee is registered in them (so that trainee forget removes it)."
        )
    return None


@trainee_app.command("list")
def trainee_list(
    db: str | None = DB_OPTION, demo: bool = DEMO_OPTION, debug: bool = DEBUG_OPTION
) -> None:
    """List trainees with their number of sessions (``since``: the UTC date they were
    recorded)."""
    from scenarios.times import utc_label

    with guard(debug):
        records = _records(db, demo)
        rows = records.trainees()
    table = Table()
    for col in ("pseudonym", "sessions", "since"):
        table.add_column(col)
    for trainee, count in rows:
        table.add_row(
            escape(trainee.pseudonym), str(count), utc_label(trainee.created_at, date_only=True)
        )
    console = Console(emoji=False)
    # on a line of its own, never broken: a URL to copy into --db
    console.print(f"Trainees in {records.shown_url}", soft_wrap=True, highlight=False, markup=False)
    console.print(table)
    from sim.cli.run import say_waiting_sessions

    say_waiting_sessions(console, db, demo)


@trainee_app.command("new")
def trainee_new(
    pseudonym: str | None = typer.Option(
        None,
        "--pseudonym",
        help="Record this pseudonym instead of issuing one: your institution's code (e.g. "
        "T017, checked by the pseudonym rule), before the trainee's first session.",
    ),
    allow_name: bool = ALLOW_NAME,
    db: str | None = DB_OPTION,
    demo: bool = DEMO_OPTION,
    debug: bool = DEBUG_OPTION,
) -> None:
    """Issue a random pseudonym (adjective-animal-NNNN), record the trainee, print it; or
    record one of your own with --pseudonym."""
    with guard(debug):
        records = _records(db, demo, reading=False)
        if pseudonym is None:
            pseudonym = records.new_trainee()
        else:
            pseudonym = records.register_trainee(pseudonym, allow_name=allow_name)
    typer.echo(pseudonym)


@trainee_app.command("show")
def trainee_show(
    pseudonym: str = typer.Argument(..., help="The trainee's pseudonym."),
    db: str | None = DB_OPTION,
    demo: bool = DEMO_OPTION,
    html: Path | None = typer.Option(None, help="Where to write the progress page (HTML)."),
    csv: Path | None = typer.Option(None, help="Also export the sessions as CSV here."),
    latency: str | None = typer.Option(
        None, help="Only sessions under this injected latency (as listed, e.g. '150 ms', 'none')."
    ),
    debug: bool = DEBUG_OPTION,
) -> None:
    """A trainee's sessions (with operator, seed and injected latency), proficiency per
    scenario, a summary per latency condition, and a progress page."""
    from scenarios.archive import proficiency_table, session_dicts
    from scenarios.errors import ScenarioError
    from scenarios.records import NOT_COUNTED_NOTE, OTHER_RUBRIC_NOTE, attempts_label
    from scenarios.report import counts_text
    from scenarios.standings import judged_passes

    console = Console(emoji=False)
    with guard(debug):
        html, csv = _page_outputs(html, csv)
        records = _records(db, demo)
        from sim.cli.run import say_waiting_sessions

        # before the trainee is looked up: a session kept when the database was deleted
        # waits for a pseudonym the new records do not know
        say_waiting_sessions(console, db, demo, pseudonym)
        records.find_trainee(pseudonym, required=True)
        no_page = _read_only_note(records, "the progress page")
        if no_page is not None and (html is not None or csv is not None):
            raise ScenarioError(
                no_page.removeprefix("note: ").replace(" is not written", " cannot be written", 1)
            )
        everything = session_dicts(records, pseudonym)
        if not everything:
            # a trainee just registered: a normal state, not an error
            console.print(f"trainee {escape(pseudonym)!r} has no sessions yet.")
            if html is not None or csv is not None:
                path = _write_progress(records, pseudonym, html, csv)
                console.print(_written("progress page", path, csv))
            return
        sessions = everything
        conditions = sorted({s["latency"] for s in sessions})
        if latency is not None:
            sessions = [s for s in sessions if s["latency"] == latency]
            if not sessions:
                raise ScenarioError(
                    f"trainee {pseudonym!r} has no session under latency {latency!r}; "
                    f"latencies recorded: {conditions}."
                )
        table = _sessions_table(pseudonym, sessions, console.width)
        console.print(table)
        if not _shows_counts(table):  # a narrow terminal: "counts" under the table
            for s in sessions:
                console.print(
                    f"session {s['id']} counts toward proficiency: {escape(counts_text(s))}"
                )
        proficiency = proficiency_table(records, pseudonym)
        table = Table(title="Proficiency")
        for col in (
            "scenario",
            "attempts",
            "passes",
            "qualifying",
            "best run",
            "current run",
            "proficient",
            "rule",
        ):
            table.add_column(col)
        for name, p in proficiency.items():
            passes = judged_passes(s for s in everything if s["scenario"] == name)
            table.add_row(
                escape(name),
                escape(attempts_label(p["attempts"], p["not_counted"], p["other_rubric"])),
                str(passes),
                str(p["passes"]),
                str(p["best_run"]),
                str(p["current_run"]),
                (
                    f"[green]yes[/green] (since {escape(str(p['since']))})"
                    if p["proficient"]
                    else "no"
                ),
                escape(p["rule"]),
            )
        console.print(table)
        if len(conditions) > 1 and latency is None:
            table = Table(title="By injected latency")
            for col in ("scenario", "latency", "attempts", "passed", "median score"):
                table.add_column(col)
            for name in sorted({s["scenario"] for s in sessions}):
                for cond in conditions:
                    group = [s for s in sessions if s["scenario"] == name and s["latency"] == cond]
                    if not group:
                        continue
                    table.add_row(
                        escape(name),
                        escape(cond),
                        str(len(group)),
                        str(sum(s["passed"] for s in group)),
                        f"{statistics.median(s['score'] for s in group):.0f}",
                    )
            console.print(table)
        if any(p["not_counted"] for p in proficiency.values()):
            console.print(NOT_COUNTED_NOTE, highlight=False, markup=False)
        if any(p["other_rubric"] for p in proficiency.values()):
            console.print(OTHER_RUBRIC_NOTE, highlight=False, markup=False)
        if no_page is not None:
            console.print(no_page, highlight=False, markup=False, soft_wrap=True)
            return
        path = _write_progress(records, pseudonym, html, csv)
    console.print(_written("progress page", path, csv))


@trainee_app.command("class")
def trainee_class(
    scenario: str | None = typer.Option(
        None, "--scenario", help="Only this scenario (its name, as `trainee show` lists it)."
    ),
    db: str | None = DB_OPTION,
    demo: bool = DEMO_OPTION,
    html: Path | None = typer.Option(
        None,
        help="Where to write the class page (HTML; default: class.html, or "
        "class-SCENARIO.html with --scenario, in the records' reports folder).",
    ),
    csv: Path | None = typer.Option(None, help="Also export the table as CSV here."),
    debug: bool = DEBUG_OPTION,
) -> None:
    """Every trainee side by side, per scenario: attempts, passes, best and latest score,
    the current run of qualifying attempts and proficiency (by the same rules as `trainee
    show`), and a class page with each trainee's scores."""
    from scenarios.records import OTHER_RUBRIC_NOTE
    from scenarios.report_class import (
        attempts_text,
        best_text,
        latest_text,
        proficient_text,
        rule_text,
        scenario_names,
    )
    from scenarios.standings import class_standings, write_class_report
    from sim.cli.checks import failure_text
    from sim.errors import SimError

    console = Console(emoji=False)
    with guard(debug):
        html, csv = _page_outputs(html, csv)
        records = _records(db, demo)
        standings = class_standings(records, scenario)
        if scenario is not None and not standings.by_scenario:
            _check_class_scenario(records, scenario)
        where = f"Class in {records.shown_url}"
        console.print(where, soft_wrap=True, highlight=False, markup=False)
        for name in scenario_names(standings):
            group = standings.by_scenario.get(name, [])
            waiting = standings.not_started.get(name, [])
            proficient = sum(s.proficient for s in group)
            table = Table(
                title=f"{name}: {proficient} of {len(group) + len(waiting)} proficient, "
                f"{len(waiting)} not started",
                caption=rule_text(group) if group else None,
            )
            for col in (
                "trainee",
                "attempts",
                "passed",
                "qualifying",
                "best",
                "latest",
                "latest session",
                "in a row now",
                "proficient",
            ):
                table.add_column(col, no_wrap=col == "trainee")
            for s in group:
                table.add_row(
                    escape(s.pseudonym),
                    escape(attempts_text(s)),
                    str(s.passed),
                    str(s.qualifying),
                    escape(best_text(s)),
                    escape(latest_text(s)),
                    escape(s.latest_on),
                    str(s.current_run),
                    escape(proficient_text(s)),
                )
            for pseudonym in waiting:
                table.add_row(escape(pseudonym), "0", "", "", "", "not started", "", "", "no")
            console.print(table)
            if any(s.other_rubric for s in group):
                console.print(OTHER_RUBRIC_NOTE, highlight=False, markup=False)
        if standings.without_sessions:
            of = f" of {scenario}" if scenario else ""
            console.print(
                f"no sessions{of} yet: {', '.join(standings.without_sessions)}",
                highlight=False,
                markup=False,
            )

        def say(text: str) -> None:  # a trainee forgotten by another process meanwhile
            console.print(f"note: {text}", highlight=False, markup=False, soft_wrap=True)

        try:
            name = f"class-{Path(scenario).name}.html" if scenario else "class.html"
            path = write_class_report(
                records, standings, html or records.reports_dir / name, csv, note=say
            )
        except OSError as exc:
            raise SimError(f"the class page could not be written ({failure_text(exc)}).") from None
    console.print(_written("class page", path, csv))


def _check_class_scenario(records, scenario: str) -> None:
    """``trainee class --scenario NAME`` where nobody has a session of it: fine for a
    bundled scenario or one the records know (everyone is listed as not started), an
    error naming the closest for anything else (a typo would list the class as not
    started on a scenario that does not exist)."""
    from scenarios.errors import ScenarioError, suggest
    from scenarios.loader import library_names

    known = sorted({r.scenario for r in records.sessions()} | set(library_names()))
    if scenario not in known:
        raise ScenarioError(
            f"no scenario {scenario!r} is bundled or has sessions here; known: "
            f"{', '.join(known)}." + suggest(scenario, known)
        )


def _page_outputs(html: Path | None, csv: Path | None) -> tuple[Path | None, Path | None]:
    """A page's ``--html`` and ``--csv``, checked before any work (and never one file)."""
    html = checked_output(html, "--html")
    csv = checked_output(csv, "--csv")
    distinct_outputs(html=html, csv=csv)
    return html, csv


def _write_progress(records, pseudonym: str, html: Path | None, csv: Path | None) -> Path:
    """The progress page (and CSV); an OSError (the disk filled since the check) is said
    in a line."""
    from scenarios.archive import write_trainee_report
    from sim.cli.checks import failure_text
    from sim.errors import SimError

    try:
        return write_trainee_report(records, pseudonym, html, csv)
    except OSError as exc:
        raise SimError(f"the progress page could not be written ({failure_text(exc)}).") from None


@trainee_app.command("forget")
def trainee_forget(
    pseudonym: str = typer.Argument(..., help="The trainee's pseudonym."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Forget them although a run of theirs is going on (that run then does not "
        "store its session; forget them again once it has ended).",
    ),
    db: str | None = DB_OPTION,
    demo: bool = DEMO_OPTION,
    debug: bool = DEBUG_OPTION,
) -> None:
    """Remove every record and file of a trainee: sessions, scores and re-scores, traces,
    reports and exports (with the --json, --record and --video files of their runs), and
    their sessions waiting to be stored (killed runs' checkpoints, unstored sessions).
    Refused while a run of theirs is going on (--force). Cannot be undone."""
    from scenarios.records import unregistered_outputs

    with guard(debug):
        records = _records(db, demo)
        found = records.waiting_of(pseudonym)
        if not force:
            records.check_no_live_run(pseudonym, found)
        waiting = [w for w in found if w.live_pid is None]
        if not found:  # a live run's checkpoint alone (--force) is theirs to forget too
            records.find_trainee(pseudonym, required=True)
        count = len(records.sessions(pseudonym)) if records.find_trainee(pseudonym) else 0
        files = records.files_of(pseudonym)
        if not yes:
            # every file by name: a class page or an export of the instructor's goes too
            for path, kind in files:
                typer.echo(f"  {kind}: {path}")
            for w in waiting:
                typer.echo(f"  {w.kind}: {w.trace} (with its run information and outputs)")
            unregistered = unregistered_outputs(records.sessions(pseudonym))
            if unregistered:
                typer.echo(_unregistered_note(unregistered))
            typer.confirm(
                f"Remove trainee {pseudonym!r} from {records.shown_url}: {count} session(s), "
                f"their scores and re-scores, and the {len(files)} file(s) above (traces, "
                "reports, exports, their runs' outputs and any class page that names them)"
                + (f" and {len(waiting)} session(s) waiting to be stored" if waiting else "")
                + "? This cannot be undone",
                abort=True,
            )
        gone = records.forget(pseudonym, force=force)
    waited = f", {len(gone.waiting)} waiting session(s)" if gone.waiting else ""
    typer.echo(
        f"forgot {gone.pseudonym!r}: {gone.sessions} session(s){waited}, {gone.scores} "
        f"score(s), {len(gone.files)} file(s) removed."
    )
    for path in gone.files:
        typer.echo(f"removed: {path}")
    for path in gone.missing:
        typer.echo(f"already gone: {path}")
    for path in gone.changed:
        typer.echo(f"left: {path}")
    if gone.unregistered:
        typer.echo(_unregistered_note(gone.unregistered))
    if gone.vacuum_error:
        typer.echo(_not_vacuumed(gone.vacuum_error, db, demo), err=True)
    if gone.failed:
        for path in gone.failed:
            typer.echo(f"could not remove {path}: delete it by hand", err=True)
    if gone.failed or gone.vacuum_error:
        raise typer.Exit(code=2)


def _unregistered_note(sessions: list[str]) -> str:
    """What ``trainee forget`` cannot remove: the outputs of runs stored by a surgisim
    that did not register them (:func:`scenarios.records.unregistered_outputs`)."""
    return (
        f"note: {len(sessions)} session(s) were stored by an earlier surgisim that did not "
        "register their --record, --json and --video files, so any such files are left: "
        f"look for them by hand ({'; '.join(sessions)})."
    )


def _not_vacuumed(why: str, db: str | None, demo: bool) -> str:
    """What forget says when the database file could not be rewritten afterwards."""
    which = f" --db {db}" if db else " --demo" if demo else ""
    return (
        f"warning: the records database could not be vacuumed ({why}). The trainee's rows "
        "are deleted, but their text may remain in the file's free pages until it is. "
        f"Close that program (a database browser, a backup, a sqlite3 shell), then run: "
        f"surgisim trainee vacuum{which}"
    )


@trainee_app.command("vacuum")
def trainee_vacuum(
    db: str | None = DB_OPTION, demo: bool = DEMO_OPTION, debug: bool = DEBUG_OPTION
) -> None:
    """Rewrite the records file so that deleted rows leave no text in it (trainee forget
    does this itself; run it when forget said the database was busy)."""
    with guard(debug):
        records = _records(db, demo)
        if records.engine.dialect.name != "sqlite":
            typer.echo(f"nothing to vacuum: {records.shown_url} is not a SQLite file.")
            return
        why = records.vacuum()
    if why:
        typer.echo(_not_vacuumed(why, db, demo), err=True)
        raise typer.Exit(code=2)
    typer.echo(f"vacuumed {records.shown_url}")


def report(
    session_id: int = typer.Argument(..., help="Session id (see 'surgisim trainee show')."),
    db: str | None = DB_OPTION,
    demo: bool = DEMO_OPTION,
    out: Path | None = typer.Option(None, help="Where to write the HTML report."),
    json_out: Path | None = typer.Option(None, "--json", help="Also export the result as JSON."),
    debug: bool = DEBUG_OPTION,
) -> None:
    """Write the HTML report of a stored session (its verdict as given, and every
    re-score beside it)."""
    import json

    from scenarios.archive import write_session_report
    from scenarios.paths import write_private_text
    from sim.cli.checks import failure_text
    from sim.errors import SimError

    with guard(debug):
        out = checked_output(out, "--out")
        json_out = checked_output(json_out, "--json")
        distinct_outputs(out=out, json=json_out)
        records = _records(db, demo)
        _session_store(records, session_id, db, demo, Console(emoji=False))
        try:
            path = write_session_report(records, session_id, out)
        except OSError as exc:
            raise SimError(f"the report could not be written ({failure_text(exc)}).") from None
        if json_out is not None:
            row = records.session(session_id)
            payload = {
                "session": session_id,
                "trainee": row.trainee.pseudonym,
                "scenario": row.scenario,
                "metrics": row.metrics,
                "scores": [json.loads(s.result_json) for s in row.scores],
                # how it ran: latency, loop, devices, a plug-in IK solver or tremor filter
                "conditions": row.conditions,
            }
            try:
                write_private_text(json_out, json.dumps(payload, indent=2))
            except OSError as exc:
                raise SimError(
                    f"the report is written ({path}), but --json {json_out} could not be "
                    f"({failure_text(exc)})."
                ) from None
            records.register_file(
                json_out,
                pseudonym=row.trainee.pseudonym,
                session_id=session_id,
                kind="json",
                written=True,
            )
    Console(emoji=False).print(f"report: {escape(str(path))}", highlight=False)


def rescore(
    session_id: int | None = typer.Argument(None, help="Session id to re-score."),
    scenario: str | None = typer.Option(
        None,
        help="Scenario name or YAML file whose scoring section is the (edited) rubric "
        "(default: the scenario as the session ran it).",
    ),
    force: bool = typer.Option(
        False, "--force", help="Apply the rubric of another scenario than the session's."
    ),
    recording: Path | None = typer.Option(
        None, help="Re-score a recording (surgisim run --record FILE.mcap) instead."
    ),
    all_sessions: bool = typer.Option(
        False,
        "--all",
        help="Re-score every stored session of the --scenario not yet under its rubric "
        "(with --trainee: theirs only).",
    ),
    trainee: str | None = typer.Option(
        None, help="With --all: only this trainee's sessions (pseudonym)."
    ),
    db: str | None = DB_OPTION,
    demo: bool = DEMO_OPTION,
    debug: bool = DEBUG_OPTION,
) -> None:
    """Score a stored session or a recording again under an edited rubric: a session's
    metrics are measured again from its stored trace (edited thresholds apply), without
    re-running it; the original verdict stays the session's record and the re-score is
    stored beside it. A recording keeps no trace: when the rubric changes the thresholds,
    the recording is replayed (from its inputs and seed, as surgisim replay does) to
    measure them again, and refused if the replay does not reproduce it. --all --scenario
    NAME re-scores every stored session of that scenario whose verdict is under another
    rubric (a new surgisim release's scoring, an edited file), each the same way."""
    from scenarios.archive import rescore as do_rescore
    from scenarios.errors import ScenarioError
    from scenarios.loader import load_scenario
    from scenarios.records import ending_label
    from sim.cli.score_view import print_score, verdict_score

    console = Console(emoji=False)
    if all_sessions or trainee is not None:
        with guard(debug):
            _rescore_all(console, session_id, scenario, force, recording, trainee, db, demo)
        return
    with guard(debug):
        if (session_id is None) == (recording is None):
            raise ScenarioError("give a session id or --recording FILE.mcap (one of them).")
        if recording is not None:
            from sim.session.recording.rescore import rescore_recording

            original, new = rescore_recording(
                recording,
                scenario,
                force=force,
                notify=lambda text: console.print(f"[yellow]note:[/yellow] {escape(text)}"),
            )
            title = f"{escape(str(recording))} re-scored"
        else:
            records = _records(db, demo)
            _session_store(records, session_id, db, demo, console)
            spec = load_scenario(scenario) if scenario is not None else None
            original, new = do_rescore(
                records, session_id, spec, force=force, rubric_label=scenario
            )
            title = f"Session {session_id} re-scored"
            row = records.session(session_id)
            if not row.counts_as_attempt:  # "not completed" below says less than this
                console.print(
                    f"[yellow]note:[/yellow] session {session_id} was "
                    f"{ending_label(row.ending)}: not an attempt, under any rubric "
                    "(it neither counts toward proficiency nor breaks a run)."
                )
            elif not new.context.get("forced"):
                _say_whether_judged_by_it(console, records, row)
    print_score(
        console,
        new,
        f"{title}: {'PASS' if new.passed else 'FAIL'} - {verdict_score(new)}",
    )
    table = Table(title=title)
    for col in ("", "score", "result"):
        table.add_column(col)
    table.add_row("original (kept)", original.score_text(), "pass" if original.passed else "FAIL")
    table.add_row("re-scored", new.score_text(), "pass" if new.passed else "FAIL")
    console.print(table)
    if recording is not None:
        console.print(f"metrics: {escape(new.context['metrics_from'])}")
    _say_timers_that_never_ran(console, new)
    if new.context.get("forced"):
        console.print(
            f"[yellow]forced:[/yellow] the rubric of {escape(repr(new.context['scenario']))} "
            f"on a {escape(repr(new.context['session_scenario']))} session."
        )


def _rescore_all(console, session_id, scenario, force, recording, trainee, db, demo) -> None:
    """``rescore --all --scenario NAME [--trainee P]``: every stored session of the
    scenario not yet under its rubric, re-scored (:func:`scenarios.archive.rescore_sessions`),
    with a table of the verdicts kept and given, and a line per session that could not
    be (exit code 2 then, once the others are done)."""
    from scenarios.archive import rescore_sessions
    from scenarios.errors import ScenarioError
    from scenarios.loader import load_scenario

    if scenario is None or session_id is not None or recording is not None or force:
        raise ScenarioError(
            "--all re-scores every stored session of one scenario: give --scenario NAME "
            "(or an edited YAML file), and no session id, --recording or --force; "
            "--trainee goes with --all only."
        )
    records = _records(db, demo)
    if trainee is not None:
        records.find_trainee(trainee, required=True)
    spec = load_scenario(scenario)
    stored: list[int] = []
    try:
        done = rescore_sessions(
            records, spec, pseudonym=trainee, rubric_label=scenario, on_rescored=stored.append
        )
    except KeyboardInterrupt:
        # each re-score is stored as it is made: say what the stop left, and that a
        # second run does the rest (it said only "interrupted.")
        typer.echo(
            f"stopped: {len(stored)} session(s) were re-scored and stored before the stop"
            + (f" ({', '.join(map(str, stored))})" if stored else "")
            + "; run the same command again to re-score the rest.",
            err=True,
        )
        raise
    table = Table(title=f"{escape(spec.name)} sessions re-scored under {escape(scenario)}")
    for col in ("session", "trainee", "original (kept)", "re-scored"):
        table.add_column(col)
    for sid, pseudonym, original, new in done.rescored:
        table.add_row(
            str(sid),
            escape(pseudonym),
            f"{original.score_text()} {'pass' if original.passed else 'FAIL'}",
            f"{new.score_text()} {'pass' if new.passed else 'FAIL'}",
        )
    if done.rescored:
        console.print(table)
    console.print(
        f"{len(done.rescored)} session(s) re-scored, {len(done.already)} already under "
        f"this rubric, {len(done.failed)} could not be."
    )
    if done.failed:
        for why in done.failed:
            typer.echo(f"not re-scored: {why}", err=True)
        raise typer.Exit(code=2)


def _say_whether_judged_by_it(console: Console, records, row) -> None:
    """After a re-score: whether proficiency now judges the session by it. It does when
    the re-score is under the current rubric, that of the latest verdict of the trainee's
    latest session of the scenario; a re-score of an older session under an edited rubric
    no session has run under yet waits for one (shown on ``trainee show`` and the
    progress page as "under another rubric: not judged by it")."""
    from scenarios.archive import session_dicts

    mine = [
        s for s in session_dicts(records, row.trainee.pseudonym) if s["scenario"] == row.scenario
    ]
    this = next(s for s in mine if s["id"] == row.id)
    if this["rescore"] is not None:
        console.print(
            f"proficiency now judges session {row.id} by this re-score (trainee show, the "
            "progress page and the class page say so)."
        )
        return
    console.print(
        f"[yellow]note:[/yellow] proficiency does not judge session {row.id} by this "
        f"re-score yet: it judges under the rubric of the latest session (session "
        f"{mine[-1]['id']}), and this one is under another. Re-score session {mine[-1]['id']} "
        "under the same file too (or let the next session run under it) to judge by it."
    )


def _say_timers_that_never_ran(console: Console, result) -> None:
    """A rubric's timer the session never ran (a timer added to the scenario after it)
    does not apply, so its limit is met: say so, or the re-score passes without a word."""
    from scenarios.glossary import timer_of

    for name, metric in result.metrics.items():
        timer = timer_of(name)
        if timer is not None and metric.value is None:
            console.print(
                f"[yellow]note:[/yellow] timer {escape(repr(timer))} never ran in this "
                "session (its trace has no such timer): its metric does not apply."
            )


#: the columns of ``trainee show``'s sessions table that are never cut (short values, or
#: names); the date and the result wrap on a narrow terminal
_WHOLE_COLUMNS = ("id", "scenario", "operator", "seed", "latency", "score")


def _sessions_table(pseudonym: str, sessions: list[dict], width: int) -> Table:
    """``trainee show``'s table of sessions: with a ``counts`` column (toward proficiency,
    and why not) where it fits ``width`` whole, else without it (the caller says it under
    the table: at 80 columns rich squeezed nine columns into "laten|cy", "coun|ts" and
    "(sco|re" one word a line)."""
    table = _sessions_table_of(pseudonym, sessions, with_counts=True)
    if Console(width=10_000).measure(table).maximum <= width:
        return table
    return _sessions_table_of(pseudonym, sessions, with_counts=False)


def _shows_counts(table) -> bool:
    return any(column.header == "counts" for column in table.columns)


def _sessions_table_of(pseudonym: str, sessions: list[dict], with_counts: bool) -> Table:
    from scenarios.report import counts_text, rescore_text
    from scenarios.scoring import score_text

    rescored = any(s["rescore"] or s["latest_rescore"] for s in sessions)
    columns = ("id", "scenario", "date", "operator", "seed", "latency", "score", "result")
    columns += ("re-score",) if rescored else ()
    columns += ("counts",) if with_counts else ()
    rows = [
        (
            str(s["id"]),
            escape(s["scenario"]),
            escape(s["started_at"]),
            escape(s["operator"]),
            str(s["seed"]),
            escape(s["latency"]),
            escape(score_text(s["score"], s["pass_score"])),
            escape(s["result"]),
            *((escape(rescore_text(s)),) if rescored else ()),
            *((escape(counts_text(s)),) if with_counts else ()),
        )
        for s in sessions
    ]
    table = Table(title=f"Sessions of {escape(pseudonym)}")
    for k, col in enumerate(columns):
        whole = col in _WHOLE_COLUMNS
        width = max([len(col), *(len(row[k]) for row in rows)]) if whole else None
        table.add_column(col, min_width=width, no_wrap=whole, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table
