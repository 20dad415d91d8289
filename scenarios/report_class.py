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
from matplotlib.ticker import MaxNLocator

from scenarios.report import _STYLE, _png, write_text
from scenarios.scoring import score_text
from scenarios.standings import ClassStandings, Standing

#: What the charts' marks mean, under each set of charts.
LEGEND = (
    "Score per session, oldest first: filled dot passed, hollow dot failed, red cross not "
    "completed (stopped, recovered after a crash, out of time or failed by a rule; not "
    "joined to the line); dashed red line: the pass score (FLS rubrics)."
)

#: Charts per row on the class page: four keep each one readable on a laptop screen.
CHARTS_PER_ROW = 4


def attempts_text(standing: Standing) -> str:
    """Attempts as ``trainee show`` writes them: ``5`` or ``5 (+1 not counted)``."""
    extra = f" (+{standing.not_counted} not counted)" if standing.not_counted else ""
    return f"{standing.attempts}{extra}"


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
    """The latest session's score and result: ``71.2 (FAIL (stopped by the user))``."""
    mark = standing.sessions[-1]["pass_score"]
    return f"{score_text(standing.latest_score, mark)} ({standing.latest_result})"


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
    order): filled dots passed, hollow failed, crosses not completed (stopped, recovered,
    out of time, failed by a rule), the pass score (FLS rubrics) dashed. The title says
    whether the trainee is proficient."""
    n = len(standings)
    cols = min(CHARTS_PER_ROW, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(2.6 * cols, 2.1 * rows))
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True).ravel()
    most = max(len(s.sessions) for s in standings)
    for ax, standing in zip(axes, standings, strict=False):
        scores = np.array([s["score"] for s in standing.sessions], dtype=float)
        number = np.arange(1, len(scores) + 1)
        done = np.array([bool(s["completed"]) for s in standing.sessions])
        passed = np.array([bool(s["passed"]) for s in standing.sessions]) & done
        ax.plot(number[done], scores[done], "-", color="0.75", lw=0.8, zorder=1)
        ax.scatter(number[passed], scores[passed], s=18, color="C0", zorder=2)
        failed = done & ~passed
        ax.scatter(
            number[failed], scores[failed], s=18, facecolors="white", edgecolors="C0", zorder=2
        )
        ax.scatter(number[~done], scores[~done], s=22, marker="x", color="C3", zorder=2)
        marks = [s["pass_score"] for s in standing.sessions]
        if marks[-1] is not None:
            ax.axhline(marks[-1], color="red", ls="--", lw=0.8, zorder=0)
        ax.set_xlim(0.5, most + 0.5)
        ax.set_ylim(-5, 105)  # a 0 stays in view
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        state = "proficient" if standing.proficient else "not yet proficient"
        ax.set_title(f"{standing.pseudonym}\n{state}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("session", fontsize=7)
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
    for scenario, group in standings.by_scenario.items():
        proficient = sum(s.proficient for s in group)
        parts.append(
            f"<h2>{html.escape(scenario)}</h2><p>{len(group)} trainee"
            f"{'s' if len(group) != 1 else ''}, <b>{proficient} proficient</b> "
            f"({html.escape(rule_text(group))})</p>"
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
        )
        parts.append(
            "<table><tr><th>trainee</th><th>attempts</th><th>passed</th><th>qualifying</th>"
            "<th>best score</th><th>latest score</th><th>latest session</th>"
            f"<th>in a row now</th><th>proficient</th></tr>{body}</table>"
        )
        parts.append(f'<img alt="scores of each trainee" src="{_png(class_curves_figure(group))}">')
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
    """One row per trainee and scenario: the class page's table, numbers unformatted
    (``best_score`` empty when no session was an attempt; ``proficient_since`` empty when
    not proficient)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "scenario",
            "trainee",
            "attempts",
            "not_counted",
            "passed",
            "qualifying",
            "best_score",
            "latest_score",
            "latest_result",
            "latest_session",
            "current_run",
            "proficient",
            "proficient_since",
        ]
    )
    for scenario, group in standings.by_scenario.items():
        for s in group:
            writer.writerow(
                [
                    scenario,
                    s.pseudonym,
                    s.attempts,
                    s.not_counted,
                    s.passed,
                    s.qualifying,
                    "" if s.best_score is None else f"{s.best_score:.3f}",
                    f"{s.latest_score:.3f}",
                    s.latest_result,
                    s.latest_on,
                    s.current_run,
                    int(s.proficient),
                    s.since or "",
                ]
            )
    return write_text(path, buffer.getvalue())
