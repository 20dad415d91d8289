"""The class page and CSV: every trainee side by side, per scenario (see
:mod:`scenarios.standings`).

One table per scenario (attempts, passes, best and latest score, the current run of
qualifying attempts, proficiency) and one small score chart per trainee on shared axes,
so that an instructor sees at a glance who is proficient, who is stuck below the pass
line and who stopped practising. Self-contained like every report (figures embedded).
"""

from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scenarios.records import (
    OTHER_RUBRIC,
    OTHER_RUBRIC_NOTE,
    attempts_label,
    ending_label,
)
from scenarios.report import _STYLE, _png, session_axis, write_text
from scenarios.scoring import score_text
from scenarios.standings import ClassStandings, Standing, judged_verdict

#: What the charts' marks mean, under each set of charts.
LEGEND = (
    "Score per session, oldest first, each labelled with its session id (as in "
    "trainee show): filled dot passed, hollow dot failed, red cross not "
    "completed (stopped, recovered after a crash, out of time or failed by a rule; not "
    "joined to the line); grey dot: under another rubric (not judged by the current "
    "one); dashed red line: the pass score (FLS rubrics). A session re-scored under the "
    "current rubric is drawn with that verdict."
)

#: Charts per row on the class page: four keep each one readable on a laptop screen.
CHARTS_PER_ROW = 4


def attempts_text(standing: Standing) -> str:
    """Attempts as ``trainee show`` writes them: ``5``, ``5 (+1 not counted)``,
    ``1 (+4 under another rubric)``."""
    return attempts_label(standing.attempts, standing.not_counted, standing.other_rubric)


def proficient_text(standing: Standing) -> str:
    """``yes (since attempt 3, 2026-12-05)`` or ``no``."""
    if not standing.proficient:
        return "no"
    return f"yes (since {standing.since})" if standing.since else "yes"


def best_text(standing: Standing) -> str:
    """The best attempt's score, or a dash when no session was an attempt."""
    if standing.best_score is None:
        return "—"
    return score_text(standing.best_score, standing.sessions[-1]["pass_score"])


def latest_text(standing: Standing) -> str:
    """The latest attempt's score and result, by the verdict proficiency judges it by:
    ``71.2 (FAIL)``, ``75.0 (FAIL, re-scored)``; a later session that was no attempt is
    said beside it (``75.0 (FAIL); then stopped by the user``), and ``no attempt (stopped
    by the user)`` when no session was one."""
    latest = standing.sessions[-1]
    after = ending_label(standing.latest_ending) if standing.latest_ending else None
    if standing.latest_score is None:
        return f"no attempt ({after})" if after else "no attempt"
    text = f"{score_text(standing.latest_score, latest['pass_score'])} ({standing.latest_result})"
    return f"{text}; then {after}" if after else text


def scenario_names(standings: ClassStandings) -> list[str]:
    """The scenarios the page and the table show: those with sessions, and the one
    asked for even when nobody has started it."""
    return sorted(set(standings.by_scenario) | set(standings.not_started))


def rule_text(group: Sequence[Standing]) -> str:
    """The proficiency rule the group is judged by: each trainee by the rule of their
    latest attempt, which is one rule unless the scenario's file was edited between
    sessions (then each rule is named with its trainees)."""
    rules: dict[str, list[str]] = {}
    for s in group:
        rules.setdefault(s.rule, []).append(s.pseudonym)
    if len(rules) == 1:
        return f"needs {group[0].rule}"
    return "the rule changed between sessions: " + "; ".join(
        f"{', '.join(names)} by {rule}" for rule, names in rules.items()
    )


def class_curves_figure(standings: Sequence[Standing]) -> Figure:
    """One small score chart per trainee, all on the same axes (score 0-100, sessions in
    order, labelled with their ids): filled dots passed, hollow failed, crosses not
    completed (stopped, recovered, out of time, failed by a rule), the pass score (FLS
    rubrics) dashed. The title says whether the trainee is proficient."""
    n = len(standings)
    cols = min(CHARTS_PER_ROW, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(2.6 * cols, 2.1 * rows))
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True).ravel()
    most = max(len(s.sessions) for s in standings)
    for ax, standing in zip(axes, standings, strict=False):
        verdicts = [judged_verdict(s) for s in standing.sessions]
        scores = np.array([score for score, _ in verdicts], dtype=float)
        number = np.arange(1, len(scores) + 1)
        done = np.array([bool(s["completed"]) for s in standing.sessions])
        other = np.array([s["why_not"] == OTHER_RUBRIC for s in standing.sessions])
        passed = np.array([ok for _, ok in verdicts]) & done & ~other
        ax.plot(number[done], scores[done], "-", color="0.75", lw=0.8, zorder=1)
        ax.scatter(number[passed], scores[passed], s=18, color="C0", zorder=2)
        ax.scatter(number[other & done], scores[other & done], s=14, color="0.6", zorder=2)
        failed = done & ~passed & ~other
        ax.scatter(
            number[failed], scores[failed], s=18, facecolors="white", edgecolors="C0", zorder=2
        )
        ax.scatter(number[~done], scores[~done], s=22, marker="x", color="C3", zorder=2)
        marks = [s["pass_score"] for s in standing.sessions]
        if marks[-1] is not None:
            ax.axhline(marks[-1], color="red", ls="--", lw=0.8, zorder=0)
        ax.set_xlim(0.5, most + 0.5)
        ax.set_ylim(-5, 105)  # a 0 stays in view
        session_axis(ax, standing.sessions, fontsize=7)
        state = "proficient" if standing.proficient else "not yet proficient"
        ax.set_title(f"{standing.pseudonym}\n{state}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def class_report_html(standings: ClassStandings, where: str) -> str:
    """The class page: per scenario, how many trainees are proficient, the table of
    standings and the score charts; then who has no session yet.

    Args:
        standings: from :func:`scenarios.standings.class_standings`.
        where: the records it was read from (a database URL without a password), said
            on the page so that a printed page can be traced to its data.
    """
    parts = []
    for scenario in scenario_names(standings):
        group = standings.by_scenario.get(scenario, [])
        waiting = standings.not_started.get(scenario, [])
        proficient = sum(s.proficient for s in group)
        count = len(group) + len(waiting)
        rule = f" ({html.escape(rule_text(group))})" if group else ""
        parts.append(
            f"<h2>{html.escape(scenario)}</h2><p>{count} trainee{'s' if count != 1 else ''}, "
            f"<b>{proficient} proficient</b>, {len(waiting)} not started{rule}</p>"
        )
        body = "".join(
            f"<tr><td style='white-space:nowrap'>{html.escape(s.pseudonym)}</td>"
            f"<td>{attempts_text(s)}</td>"
            f"<td>{s.passed}</td><td>{s.qualifying}</td><td>{best_text(s)}</td>"
            f"<td>{html.escape(latest_text(s))}</td>"
            f"<td style='white-space:nowrap'>{html.escape(s.latest_on)}</td>"
            f"<td>{s.current_run}</td>"
            f"<td>{html.escape(proficient_text(s))}</td></tr>"
            for s in group
        ) + "".join(
            f"<tr><td style='white-space:nowrap'>{html.escape(p)}</td><td>0</td>"
            "<td colspan='7' class='na' style='text-align:left'>not started</td></tr>"
            for p in waiting
        )
        parts.append(
            "<table><tr><th>trainee</th><th>attempts</th><th>passed</th><th>qualifying</th>"
            "<th>best score</th><th>latest score</th><th>latest session</th>"
            f"<th>in a row now</th><th>proficient</th></tr>{body}</table>"
        )
        if any(s.other_rubric for s in group):
            parts.append(f"<p class='sub'>{html.escape(OTHER_RUBRIC_NOTE)}</p>")
        if group:
            figure = _png(class_curves_figure(group))
            parts.append(f'<img alt="scores of each trainee" src="{figure}">')
            parts.append(f"<p class='sub'>{LEGEND}</p>")
    if standings.without_sessions:
        names = ", ".join(html.escape(p) for p in standings.without_sessions)
        of = f" of {html.escape(standings.scenario)}" if standings.scenario else ""
        parts.append(f"<h2>No sessions{of} yet</h2><p>{names}</p>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Class overview</title>"
        f"<style>{_STYLE}</style></head><body><h1>Class overview</h1>"
        f"<p class='sub'>{html.escape(where)}</p>"
        f"{''.join(parts) or '<p>No trainees yet.</p>'}</body></html>"
    )


def standings_csv(standings: ClassStandings, path: str | Path) -> Path:
    """Write :func:`standings_csv_text` to ``path``."""
    return write_text(path, standings_csv_text(standings))


def standings_csv_text(standings: ClassStandings) -> str:
    """One row per trainee and scenario: the class page's table, numbers unformatted
    (``best_score`` and ``latest_score`` empty when there is no attempt; ``proficient_since``
    empty when not proficient), the rule each trainee is judged by, and a row for each
    trainee who has not started a scenario (``latest_result``: ``not started``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for scenario in scenario_names(standings):
        for s in standings.by_scenario.get(scenario, []):
            writer.writerow(
                [
                    scenario,
                    s.pseudonym,
                    s.attempts,
                    s.not_counted,
                    s.other_rubric,
                    s.passed,
                    s.qualifying,
                    "" if s.best_score is None else f"{s.best_score:.3f}",
                    "" if s.latest_score is None else f"{s.latest_score:.3f}",
                    s.latest_result,
                    s.latest_on,
                    s.current_run,
                    int(s.proficient),
                    s.since or "",
                    s.rule,
                ]
            )
        for pseudonym in standings.not_started.get(scenario, []):
            writer.writerow(
                [scenario, pseudonym, 0, 0, 0, 0, 0, "", "", "not started", "", 0, 0, "", ""]
            )
    return buffer.getvalue()


#: The CSV's header.
CSV_COLUMNS = (
    "scenario",
    "trainee",
    "attempts",
    "not_counted",
    "other_rubric",
    "passed",
    "qualifying",
    "best_score",
    "latest_score",
    "latest_result",
    "latest_session",
    "current_run",
    "proficient",
    "proficient_since",
    "rule",
)
