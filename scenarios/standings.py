"""Where each trainee of a class stands on each scenario: the instructor's side-by-side view.

A trainee's own page (``surgisim trainee show``) answers "how am I doing"; an instructor
with a class over weeks asks "who is proficient, who is stuck, who has not practised".
:func:`class_standings` answers that from the records, by the same rules as a trainee's
page (attempts, qualifying attempts and proficiency by each scenario's rule; stopped and
recovered sessions are not attempts), so that the two never disagree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scenarios.archive import proficiency_table, session_dicts
from scenarios.records import NOT_ATTEMPTS, NoTraineeError, Records


@dataclass(frozen=True)
class Standing:
    """One trainee on one scenario.

    Attributes:
        pseudonym: the trainee.
        attempts: attempts (sessions taken to their end), as ``trainee show`` counts them.
        not_counted: sessions that are not attempts (stopped by the user, recovered after
            a crash).
        other_rubric: attempts with no verdict under the current rubric (the scenario's
            scoring was edited since, and they were not re-scored under it).
        passed: attempts that passed, by the verdict proficiency judges them by (the
            original, or a re-score under the current rubric).
        qualifying: attempts that count toward proficiency under the scenario's rule.
        best_score: the best score of an attempt, by the same verdicts (0-100); None
            with no attempt.
        latest_score, latest_result: the latest attempt (a session stopped by the user or
            recovered after a crash is not one, and its 0 is no score): its score by the
            verdict proficiency judges it by, and its result in words (``pass``,
            ``FAIL``; a re-score under the current rubric when it has one:
            ``FAIL, re-scored``); None and ``no attempt`` when no session was an attempt.
        latest_on: when the latest session (attempt or not) started (``YYYY-MM-DD HH:MM``).
        latest_ending: how the latest session ended when it was not an attempt
            (``stopped``, ``crashed``), else None: said beside the latest score.
        current_run: qualifying attempts in a row up to the latest.
        proficient: whether the trainee has met the scenario's proficiency rule.
        since: when it was met, in words (``attempt 3, 2026-12-05``), or None.
        rule: the proficiency rule in words.
        sessions: the trainee's sessions of this scenario as
            :func:`scenarios.archive.session_dicts` gives them, oldest first (for curves).
    """

    pseudonym: str
    attempts: int
    not_counted: int
    other_rubric: int
    passed: int
    qualifying: int
    best_score: float | None
    latest_score: float | None
    latest_result: str
    latest_on: str
    latest_ending: str | None
    current_run: int
    proficient: bool
    since: str | None
    rule: str
    sessions: tuple[dict, ...]


@dataclass(frozen=True)
class ClassStandings:
    """Every trainee's standing per scenario.

    Attributes:
        by_scenario: scenario name -> standings, one per trainee who has a session of it,
            in pseudonym order.
        without_sessions: trainees with no session at all (registered, not yet started),
            or none of the scenario asked for.
        not_started: scenario name -> the trainees with no session of it (those without
            any session too), for every scenario of ``by_scenario`` (and the one asked
            for): who has not practised it is part of the class's picture.
        scenario: the one scenario asked for, or None for all.
    """

    by_scenario: dict[str, list[Standing]]
    without_sessions: list[str]
    scenario: str | None = None
    not_started: dict[str, list[str]] = field(default_factory=dict)


def class_standings(records: Records, scenario: str | None = None) -> ClassStandings:
    """Every trainee's standing on every scenario they have sessions of (only ``scenario``
    when given), from the same session and proficiency tables as a trainee's own page."""
    by_scenario: dict[str, list[Standing]] = {}
    without: list[str] = []
    everyone = [trainee.pseudonym for trainee, _count in records.trainees()]
    for pseudonym in everyone:
        sessions = session_dicts(records, pseudonym)
        if scenario is not None:
            sessions = [s for s in sessions if s["scenario"] == scenario]
        if not sessions:
            without.append(pseudonym)
            continue
        proficiency = proficiency_table(records, pseudonym)
        for name in sorted({s["scenario"] for s in sessions}):
            rows = [s for s in sessions if s["scenario"] == name]
            by_scenario.setdefault(name, []).append(_standing(pseudonym, rows, proficiency[name]))
    not_started = {}
    for name in sorted(by_scenario) if scenario is None else [scenario]:
        started = {s.pseudonym for s in by_scenario.get(name, [])}
        not_started[name] = [p for p in everyone if p not in started]
    return ClassStandings(dict(sorted(by_scenario.items())), without, scenario, not_started)


def judged_verdict(session: dict) -> tuple[float, bool]:
    """(score, passed) by the verdict proficiency judges ``session`` by."""
    again = session["rescore"]
    return (again["score"], again["passed"]) if again else (session["score"], session["passed"])


def judged_passes(rows) -> int:
    """Attempts among a trainee's sessions of one scenario (as
    :func:`scenarios.archive.session_dicts` gives them) that passed, by the verdicts
    proficiency judges them by: the class view's and ``trainee show``'s "passed"."""
    return sum(1 for s in rows if s["counts"] and judged_verdict(s)[1])


def _standing(pseudonym: str, rows: list[dict], proficiency: dict) -> Standing:
    attempts = [s for s in rows if s["counts"]]
    tried = [s for s in rows if s["why_not"] not in NOT_ATTEMPTS]
    latest_score, latest_result = None, "no attempt"
    if tried:
        latest_score, latest_passed = judged_verdict(tried[-1])
        latest_result = tried[-1]["result"]
        if tried[-1]["rescore"]:
            latest_result = f"{'pass' if latest_passed else 'FAIL'}, re-scored"
    ending = rows[-1]["ended"] if rows[-1]["why_not"] in NOT_ATTEMPTS else None
    return Standing(
        pseudonym=pseudonym,
        attempts=proficiency["attempts"],
        not_counted=proficiency["not_counted"],
        other_rubric=proficiency["other_rubric"],
        passed=judged_passes(rows),
        qualifying=proficiency["passes"],
        best_score=max((judged_verdict(s)[0] for s in attempts), default=None),
        latest_score=latest_score,
        latest_result=latest_result,
        latest_on=rows[-1]["started_at"],
        latest_ending=ending,
        current_run=proficiency["current_run"],
        proficient=proficiency["proficient"],
        since=proficiency["since"],
        rule=proficiency["rule"],
        sessions=tuple(rows),
    )


def write_class_report(
    records: Records,
    standings: ClassStandings,
    out: Path | None = None,
    csv_out: Path | None = None,
    *,
    note: Callable[[str], object] | None = None,
) -> Path:
    """Write the class page (and optionally its CSV); returns the page's path (default:
    ``class.html`` in the records' reports folder). Both files are registered with every
    trainee they name, so that ``trainee forget`` of any one of them deletes them: a page
    never keeps a forgotten trainee's scores (write it again after forgetting).

    Each file is written to a temporary file first, registered, then renamed into place
    in a write transaction that checks every trainee named is still here
    (:meth:`Records.register_file`'s ``place``), so that a concurrent ``trainee forget``
    either deletes the new file or comes before it is placed. A trainee forgotten by another process
    while the page was made is left out: the standings are read again and the files
    written without them, and ``note`` (when given) is told who went, in a sentence.
    """
    path = out or records.reports_dir / "class.html"
    while True:
        try:
            if csv_out is not None:
                _write_registered(records, standings, csv_out, "class csv")
            return _write_registered(records, standings, path, "class")
        except NoTraineeError as gone:
            standings = class_standings(records, standings.scenario)
            if note is not None:
                note(
                    f"{gone.pseudonym} was forgotten while the class page was made: the "
                    "page leaves them out (the table above may still show them)."
                )


def _write_registered(records: Records, standings: ClassStandings, path: Path, kind: str) -> Path:
    """Write the class page (``kind="class"``) or its CSV (``"class csv"``) to ``path``,
    registered with every trainee it names in the transaction that renames it into place.

    Raises:
        NoTraineeError: a trainee named was forgotten meanwhile; ``path`` is untouched.
    """
    from scenarios.paths import write_private_text
    from scenarios.report_class import class_report_html, standings_csv_text

    if kind == "class":
        text = class_report_html(standings, records.shown_url)
    else:
        text = standings_csv_text(standings)
    named = sorted(_named(standings))

    def register_and_rename(tmp: Path, final: Path) -> None:
        records.register_file(
            final, pseudonym=named, kind=kind, place=lambda: os.replace(tmp, final)
        )

    return write_private_text(path, text, register_and_rename)


def _named(standings: ClassStandings) -> set[str]:
    """Every pseudonym the class page and its CSV show: with sessions, not started on a
    scenario, or with no session at all (a registered trainee who never started was on
    the page, but not registered with it, and ``trainee forget`` left it behind)."""
    named = {s.pseudonym for group in standings.by_scenario.values() for s in group}
    named.update(p for waiting in standings.not_started.values() for p in waiting)
    named.update(standings.without_sessions)
    return named


def prerequisites_note(records: Records, pseudonym: str, scenario) -> str | None:
    """What a trainee has not yet done of a scenario's ``prerequisites``, in a sentence
    for the start of a session, or None when every one is met (or none is listed).

    A prerequisite is met by proficiency in it (the instructor's word for "done", by that
    scenario's own rule). Prerequisites stay advice: the trainee may practise anyway (a
    student repeating a basic drill between sessions of the next one is normal), but is
    told, and so is whoever watches the server's console.
    """
    if not scenario.prerequisites:
        return None
    table = proficiency_table(records, pseudonym)
    missing = []
    for name in scenario.prerequisites:
        standing = table.get(name)
        if standing is None:
            missing.append(f"{name} (not attempted yet)")
        elif not standing["proficient"]:
            missing.append(
                f"{name} (not yet proficient: {standing['passes']} qualifying of "
                f"{standing['attempts']} attempts; needs {standing['rule']})"
            )
    if not missing:
        return None
    return (
        f"{scenario.name} lists {', '.join(scenario.prerequisites)} to do first; "
        f"{pseudonym} has not done {'; '.join(missing)}. The session starts anyway (prerequisites "
        "are advice, not a lock)."
    )
