"""Reports a trainee can read: one HTML page per session, one per trainee; JSON and CSV.

Pages are self-contained (figures embedded as PNG data URIs), so they can be mailed or
archived. Figures are drawn with matplotlib's object API on the Agg canvas: no pyplot
state, no display needed.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scenarios import metrics as M
from scenarios.paths import write_private_text
from scenarios.scoring import ScoreResult
from scenarios.trace import SessionTrace

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2em}
.verdict{font-size:1.6em;font-weight:600;padding:.4em .8em;border-radius:6px;display:inline-block}
.pass{background:#d8f3dc;color:#1b4332}.fail{background:#ffd6d6;color:#6a040f}
table{border-collapse:collapse;margin:1em 0}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;
text-align:right}td:first-child,th:first-child{text-align:left}
.na{color:#999}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.shots{display:flex;flex-wrap:wrap;gap:12px}.shots figure{margin:0;width:320px}
.shots img{width:320px;margin:0;border:1px solid #ccc}.shots figcaption{font-size:.85em}
.shots .drop,.shots .collision,.shots .excessive_force{color:#9d0208;font-weight:600}
"""


@dataclass(frozen=True)
class Snapshot:
    """One picture of the endoscope's view during a session, for its report.

    Attributes:
        time_s: simulated time of the picture (s).
        kind: why it was taken: ``start``, ``end``, or a warning kind (``drop``,
            ``collision``, ``excessive_force``; see ``sim.view.warnings``).
        caption: what happened, in a few words.
        png: the image, PNG-encoded.
    """

    time_s: float
    kind: str
    caption: str
    png: bytes


_UNITS = {
    "completion_time_s": "s",
    "path_length_cm": "cm",
    "master_workspace_range_cm": "cm",
    "excessive_force_time_s": "s",
    "peak_force_n": "N",
    "out_of_view_time_s": "s",
    "idle_time_s": "s",
    "tremor_rms_um": "µm",
    "needle_entry_error_mm": "mm",
    "needle_exit_error_mm": "mm",
}


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _fmt(value) -> str:
    if value is None:
        return '<span class="na">n/a</span>'
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return html.escape(str(value))


def _verdict(passed: bool, score: float, completed: bool) -> str:
    cls = "pass" if passed else "fail"
    word = "PASS" if passed else "FAIL"
    done = "" if completed else " (not completed)"
    return f'<div class="verdict {cls}">{word} · score {score:.0f}/100{done}</div>'


def _metric_table(result: ScoreResult) -> str:
    rows = []
    for m in result.metrics.values():
        bench = "" if m.benchmark_mean is None else f"{m.benchmark_mean:.3g} ± {m.benchmark_sd:.3g}"
        status = {True: "pass", False: "FAIL", None: ""}[m.passed]
        rows.append(
            f"<tr><td>{html.escape(m.name)}</td><td>{_fmt(m.value)}</td>"
            f"<td>{_UNITS.get(m.name, '')}</td><td>{bench}</td><td>{_fmt(m.threshold)}</td>"
            f"<td>{_fmt(m.score)}</td><td>{status}</td></tr>"
        )
    head = (
        "<tr><th>metric</th><th>value</th><th>unit</th><th>expert benchmark</th>"
        "<th>pass mark</th><th>score</th><th></th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _time_plot(t, series: dict, title: str, ylabel: str, limit=None) -> str:
    """One line per instrument over time (optionally a dashed limit), as a PNG data URI."""
    fig = Figure(figsize=(10, 3))
    ax = fig.subplots()
    for name, values in series.items():
        ax.plot(t, values, lw=0.6, label=name)
    if limit is not None:
        ax.axhline(limit[0], color="red", ls="--", lw=0.8, label=limit[1])
    ax.set(title=title, xlabel="time (s)", ylabel=ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def _figures(trace: SessionTrace, force_threshold_n: float) -> list[tuple[str, str]]:
    t = trace.time_s
    out = []
    fig = Figure(figsize=(10, 4))
    top, side = fig.subplots(1, 2)
    for name, inst in trace.instruments.items():
        p = 100 * inst.tip_position_m
        top.plot(p[:, 0], p[:, 1], lw=0.8, label=name)
        side.plot(p[:, 0], p[:, 2], lw=0.8, label=name)
    top.set(title="Tool-tip path, top view", xlabel="x (cm)", ylabel="y (cm)", aspect="equal")
    side.set(title="Side view", xlabel="x (cm)", ylabel="z (cm)", aspect="equal")
    top.legend(fontsize=8)
    fig.tight_layout()
    out.append(("Tool-tip trajectory", _png(fig)))

    speeds = {
        n: 100 * M.speed_profile(i.tip_position_m, trace.rate_hz)
        for n, i in trace.instruments.items()
    }
    out.append(("Speed profile", _time_plot(t[1:], speeds, "Speed profile", "tip speed (cm/s)")))
    forces = {n: i.tip_force_n for n, i in trace.instruments.items()}
    out.append(
        (
            "Force timeline",
            _time_plot(t, forces, "Tip force", "force (N)", limit=(force_threshold_n, "excessive")),
        )
    )

    fig = Figure(figsize=(10, 2.6))
    ax = fig.subplots()
    kinds = sorted({e.kind for e in trace.events})
    for row, kind in enumerate(kinds):
        times = [e.time_s for e in trace.events if e.kind == kind]
        ax.plot(times, [row] * len(times), "|", ms=14, mew=2)
    ax.set_yticks(range(len(kinds)), kinds)
    ax.set(title="Events", xlabel="time (s)")
    ax.set_xlim(t[0], t[-1] if len(t) else 1)
    fig.tight_layout()
    out.append(("Event timeline", _png(fig)))
    return out


def _snapshots_html(snapshots: Sequence[Snapshot], note: str) -> str:
    """The "what happened" section: the endoscope's view at the start, at each warning
    and at the end, as thumbnails with their times."""
    if not snapshots:
        return f"<h2>What happened</h2><p class='na'>{html.escape(note)}</p>" if note else ""
    figures = []
    for shot in snapshots:
        uri = "data:image/png;base64," + base64.b64encode(shot.png).decode()
        caption = html.escape(shot.caption)
        figures.append(
            f"<figure><img alt='{caption}' src='{uri}'>"
            f"<figcaption><b>{shot.time_s:.1f} s</b> · <span class='{html.escape(shot.kind)}'>"
            f"{caption}</span></figcaption></figure>"
        )
    extra = f"<p class='na'>{html.escape(note)}</p>" if note else ""
    return f"<h2>What happened</h2><div class='shots'>{''.join(figures)}</div>{extra}"


def session_report_html(
    *,
    title: str,
    pseudonym: str,
    operator: str,
    seed: int,
    result: ScoreResult,
    trace: SessionTrace | None,
    when: dt.datetime | None = None,
    force_threshold_n: float = 2.5,
    snapshots: Sequence[Snapshot] = (),
    snapshot_note: str = "",
) -> str:
    """One session's page: verdict, per-metric table against benchmarks, the endoscope's
    view at the start, at each warning and at the end (``snapshots``; ``snapshot_note``
    says why some or all are missing), and figures."""
    when = when or dt.datetime.now()
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in result.reasons)
    figures = ""
    if trace is not None:
        figures = "".join(
            f'<h3>{html.escape(name)}</h3><img alt="{html.escape(name)}" src="{uri}">'
            for name, uri in _figures(trace, force_threshold_n)
        )
        events = "".join(
            f"<tr><td>{e.time_s:.2f}</td><td>{html.escape(e.kind)}</td>"
            f"<td>{html.escape(json.dumps(e.data))}</td></tr>"
            for e in trace.events
        )
        head = "<tr><th>time (s)</th><th>event</th><th>details</th></tr>"
        figures += f"<h3>Events</h3><table>{head}{events}</table>"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p class='sub'>trainee {html.escape(pseudonym)} · operator {html.escape(operator)} · "
        f"seed {seed} · {when:%Y-%m-%d %H:%M} · rule {result.rule}</p>"
        f"{_verdict(result.passed, result.score, result.completed)}"
        f"<ul>{reasons}</ul><h2>Metrics</h2>{_metric_table(result)}"
        f"{_snapshots_html(snapshots, snapshot_note)}<h2>Figures</h2>{figures}"
        "</body></html>"
    )


def trainee_report_html(
    pseudonym: str,
    sessions: Sequence[dict],
    proficiency: dict[str, dict],
) -> str:
    """One trainee's page: per scenario, learning curves per metric and proficiency.

    Args:
        sessions: dicts with ``scenario``, ``started_at``, ``score``, ``passed`` and
            ``metrics`` (name -> value), oldest first.
        proficiency: per scenario, ``{"proficient", "passes", "consecutive_passes",
            "required_consecutive", "required_total", "attempts"}``.
    """
    parts = []
    for scenario in sorted({s["scenario"] for s in sessions}):
        rows = [s for s in sessions if s["scenario"] == scenario]
        prof = proficiency.get(scenario, {})
        status = "proficient" if prof.get("proficient") else "not yet proficient"
        parts.append(
            f"<h2>{html.escape(scenario)}</h2><p>{len(rows)} attempts, {prof.get('passes', 0)} "
            f"passed, {prof.get('consecutive_passes', 0)} in a row — <b>{status}</b> "
            f"(needs {prof.get('required_consecutive', '?')} in a row and "
            f"{prof.get('required_total', '?')} in all)</p>"
        )
        names = sorted({k for s in rows for k in s["metrics"] if "[" not in k})
        fig = Figure(figsize=(10, 1.8 * ((len(names) + 2) // 3 + 1)))
        axes = fig.subplots((len(names) + 2) // 3 + 1, 3, squeeze=False).ravel()
        attempt = np.arange(1, len(rows) + 1)
        axes[0].plot(attempt, [s["score"] for s in rows], "o-")
        axes[0].set(title="score", xlabel="attempt", ylim=(0, 100))
        for ax, name in zip(axes[1:], names, strict=False):
            ax.plot(attempt, [s["metrics"].get(name, np.nan) for s in rows], "o-", ms=3)
            ax.set(title=name, xlabel="attempt")
        for ax in axes[1 + len(names) :]:
            ax.set_visible(False)
        fig.tight_layout()
        parts.append(f'<img alt="learning curves" src="{_png(fig)}">')
        table = "".join(
            f"<tr><td>{i}</td><td>{html.escape(str(s['started_at']))}</td><td>{s['score']:.0f}</td>"
            f"<td>{'pass' if s['passed'] else 'FAIL'}</td></tr>"
            for i, s in enumerate(rows, 1)
        )
        parts.append(
            f"<table><tr><th>#</th><th>date</th><th>score</th><th></th></tr>{table}</table>"
        )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(pseudonym)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>Progress of {html.escape(pseudonym)}</h1>"
        f"{''.join(parts) or '<p>No sessions yet.</p>'}</body></html>"
    )


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` atomically (a report is never half-written) and owner-only
    (``0600``: reports name a trainee and their scores)."""
    return write_private_text(path, text)


def sessions_csv(sessions: Sequence[dict], path: str | Path) -> Path:
    """One row per session: id, scenario, date, score, pass, then every metric."""
    names = sorted({k for s in sessions for k in s["metrics"]})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["session", "scenario", "started_at", "operator", "seed", "score", "passed", *names]
    )
    for s in sessions:
        writer.writerow(
            [
                s["id"],
                s["scenario"],
                s["started_at"],
                s["operator"],
                s["seed"],
                f"{s['score']:.3f}",
                int(s["passed"]),
                *[s["metrics"].get(n, "") for n in names],
            ]
        )
    return write_text(path, buffer.getvalue())
