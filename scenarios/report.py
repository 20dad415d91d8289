"""Reports a trainee can read: one HTML page per session, one per trainee; JSON and CSV.

Pages are self-contained (figures embedded as PNG data URIs), so they can be mailed or
archived. Figures are drawn with matplotlib's object API on the Agg canvas: no pyplot
state, no display needed.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as dt
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scenarios import metrics as M
from scenarios import report_score as RS
from scenarios.explain import TIMES
from scenarios.paths import write_private_text
from scenarios.records import OTHER_RUBRIC, OTHER_RUBRIC_NOTE, attempts_label
from scenarios.scoring import ScoreResult, pass_score_text, score_text
from scenarios.times import started_label, utc_now
from scenarios.trace import SessionTrace

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2em}
.q{white-space:nowrap}
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


def _verdict(result: ScoreResult, ending: str | None = None) -> str:
    """The headline: the verdict, the score as the arithmetic below gives it and, under
    an FLS rubric, the pass score beside it (never a rounded 92 over a 91.6), and how the
    session ended when it did not end normally (as ``trainee show`` says it)."""
    from scenarios.records import ending_label

    cls = "pass" if result.passed else "fail"
    word = "PASS" if result.passed else "FAIL"
    done = "" if result.completed else " (not completed)"
    if ending not in (None, "completed", "failed"):
        done = f" ({ending_label(ending)})"
    mark = result.pass_score
    beside = "" if mark is None else f" (pass score {pass_score_text(mark, result.score)})"
    return (
        f'<div class="verdict {cls}">{word} · score {result.score_text()}/100{beside}{done}</div>'
    )


def _force_figure(trace: SessionTrace, force_threshold_n: float) -> str:
    """Tip force over time with the excessive-force line, on a scale where the limit is
    readable: peaks far above it (an instrument pressed into rigid scenery: the arm
    follows the hand stiffly and its motors can push tens of newtons) are clipped and labelled
    with their value, time and what the instrument was touching."""
    t = trace.time_s
    forces = {n: np.asarray(i.tip_force_n, dtype=float) for n, i in trace.instruments.items()}
    everything = np.concatenate([f for f in forces.values()]) if forces else np.zeros(1)
    top = max(4.0 * force_threshold_n, 1.0)
    fig = Figure(figsize=(10, 3))
    ax = fig.subplots()
    for name, values in forces.items():
        ax.plot(t, values, lw=0.6, label=name)
    ax.axhline(force_threshold_n, color="red", ls="--", lw=0.8, label="excessive force limit")
    ax.set(title="Tip force", xlabel="time (s)", ylabel="force (N)", ylim=(0, top))
    if len(t) < 3:  # one row (stopped at 0 s): from 0, not a band around it from -0.05
        ax.set_xlim(*_span(t))
    if everything.max() > top:
        name, values = max(forces.items(), key=lambda kv: kv[1].max())
        k = int(np.argmax(values))
        touching = RS._touching(trace.instruments[name], k, k + 1) or "nothing recorded"
        above = int(np.count_nonzero(everything > top))
        ax.annotate(
            f"off the scale: peak {values[k]:.0f} N at {t[k]:.1f} s ({name} touching "
            f"{touching}); {above} samples above {top:.0f} N",
            xy=(t[k], top),
            xytext=(0.02, 0.92),
            textcoords="axes fraction",
            fontsize=8,
            arrowprops={"arrowstyle": "->", "lw": 0.6},
        )
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return _png(fig)


#: Said in place of the trajectory and speed plots of a session with no motion recorded.
NO_MOTION = (
    "No motion recorded: the session ended at {end:.1f} s, before the instruments moved "
    "(nothing to plot)."
)


def _figures(
    trace: SessionTrace, force_threshold_n: float, speed_limit_m_s: float | None = None
) -> list[tuple[str, str | None]]:
    """(title, PNG data URI) of each figure; None in place of a plot with nothing to
    draw (a session stopped at 0 s has one row: no path and no speed)."""
    t = trace.time_s
    out: list[tuple[str, str | None]] = []
    if len(t) < 3:
        out += [("Tool-tip trajectory", None), ("Speed profile", None)]
    else:
        out.append(("Tool-tip trajectory", _png(trajectory_figure(trace))))
        out.append(("Speed profile", _png(speed_figure(trace, speed_limit_m_s))))
    out.append(("Force timeline", _force_figure(trace, force_threshold_n)))
    out.append(("Event timeline", _png(events_figure(trace))))
    return out


def trajectory_figure(trace: SessionTrace) -> Figure:
    """The tool tips' paths from above and from the side (cm), on equal scales."""
    fig = Figure(figsize=(10, 4))
    top, side = fig.subplots(1, 2)
    for name, inst in trace.instruments.items():
        p = 100 * inst.tip_position_m
        top.plot(p[:, 0], p[:, 1], lw=0.8, label=name)
        side.plot(p[:, 0], p[:, 2], lw=0.8, label=name)
    top.set(title="Tool-tip path, top view", xlabel="x (cm)", ylabel="y (cm)")
    side.set(title="Side view", xlabel="x (cm)", ylabel="z (cm)")
    for ax in (top, side):
        # equal scales by widening the data limits, not by shrinking the box: two hands
        # 12 cm apart that moved 5 mm up and down drew a strip a few pixels high
        ax.set_aspect("equal", adjustable="datalim")
    top.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def speed_figure(trace: SessionTrace, limit_m_s: float | None = None) -> Figure:
    """Each tool tip's speed over time (cm/s), from 0 (a speed is never negative, and an
    axis from -0.02 read as if it could be), with teleoperation's speed limit dashed when
    the session had one (``limit_m_s``, m/s: see :func:`speed_note`)."""
    t = trace.time_s
    fig = Figure(figsize=(10, 3))
    ax = fig.subplots()
    for name, inst in trace.instruments.items():
        ax.plot(
            t[1:], 100 * M.speed_profile(inst.tip_position_m, trace.rate_hz), lw=0.6, label=name
        )
    if limit_m_s:
        ax.axhline(
            100 * limit_m_s, color="red", ls="--", lw=0.8,
            label=f"teleoperation speed limit ({1000 * limit_m_s:.0f} mm/s)",
        )  # fmt: skip
    ax.set(title="Speed profile", xlabel="time (s)", ylabel="tip speed (cm/s)")
    ax.set_ylim(bottom=0.0)
    top = ax.get_ylim()[1]
    if limit_m_s:
        top = max(top, 115 * limit_m_s)  # the limit in view
    ax.set_ylim(0.0, top if top > 0 else 1.0)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def speed_note(teleop: dict | None) -> str:
    """What the speed plot's limit line means, exactly (``teleop``: the session's
    conditions' ``{"max_tip_speed_m_s", "limit_carry_s"}``; '' without one)."""
    if not teleop or not teleop.get("max_tip_speed_m_s"):
        return ""
    limit = float(teleop["max_tip_speed_m_s"])
    carry = float(teleop.get("limit_carry_s") or 0.0)
    text = (
        f"The dashed line is teleoperation's speed limit, {1000 * limit:.0f} mm/s: the "
        "instrument's target moves at most that fast, counted over the hand device's "
        "samples"
    )
    if carry:
        text += (
            f", and what a sample leaves unused carries over up to {1000 * carry:.0f} ms "
            f"worth ({1000 * limit * carry:.0f} mm), so over any span T the target moves at "
            f"most {limit:g} m/s {TIMES} (T + {carry:g} s)"
        )
    return (
        f"<p class='note'>{text}. The tip follows its target through the arm's joints and "
        "can run faster for a moment while it catches up with it.</p>"
    )


def events_figure(trace: SessionTrace) -> Figure:
    """The events over time, one row per kind (those a trainee cares about on top), on a
    time axis with a margin at both ends: events at the first row (``following``,
    ``step_started``) and at the last (``completed``) are drawn beside the frame, not on
    it where they could not be seen."""
    fig = Figure(figsize=(10, 2.6))
    ax = fig.subplots()
    # the events a trainee cares about on top (drawn last: matplotlib counts rows upwards)
    present = {e.kind for e in trace.events}
    kinds = sorted(present - set(RS.KEY_EVENTS)) + [k for k in RS.KEY_EVENTS[::-1] if k in present]
    for row, kind in enumerate(kinds):
        times = [e.time_s for e in trace.events if e.kind == kind]
        ax.plot(times, [row] * len(times), "|", ms=14, mew=2)
    ax.set_yticks(range(len(kinds)), kinds)
    ax.set_ylim(-0.6, max(len(kinds), 1) - 0.4)
    ax.set(title="Events", xlabel="time (s)")
    ax.set_xlim(*_span(np.concatenate([trace.time_s, [e.time_s for e in trace.events]]), 0.02))
    fig.tight_layout()
    return fig


def _span(t, margin: float = 0.0) -> tuple[float, float]:
    """The time axis' limits, widened by ``margin`` (a fraction of the span) at both ends
    so that marks at the first and last time stay off the frame. A run that ended at its
    first row (a controller that gave up at once) made them equal, and matplotlib warned
    on the console."""
    t = np.asarray(t, dtype=float)
    start = float(t.min()) if len(t) else 0.0
    end = float(t.max()) if len(t) else 0.0
    if end <= start:
        end = start + 1.0
    pad = margin * (end - start)
    return start - pad, end + pad


def recaptioned(
    snapshots: Sequence[Snapshot], trace: SessionTrace | None, force_threshold_n: float
) -> list[Snapshot]:
    """The snapshots with each excessive-force caption giving that episode's arm and its
    own peak, measured from the trace (a stored caption was written live, before the
    episode's peak was known; older ones even gave the session's peak so far). Without a
    trace the caption just says "Excessive force"."""
    shots = list(snapshots)
    force = [k for k, s in enumerate(shots) if s.kind == "excessive_force"]
    if not force:
        return shots
    episodes = [] if trace is None else RS.force_episodes(trace, force_threshold_n)
    rate_hz = trace.rate_hz if trace is not None else 1.0
    captions = RS.force_captions([shots[k].time_s for k in force], episodes, rate_hz)
    for k, caption in zip(force, captions, strict=True):
        shots[k] = dataclasses.replace(shots[k], caption=caption)
    return shots


def _snapshots_html(snapshots: Sequence[Snapshot], note: str) -> str:
    """The endoscope's view at the start, at each warning and at the end, as thumbnails
    with their times, to the hundredth as the event table gives them (headed apart from
    the event table: both tell what happened)."""
    heading = "<h2>Endoscope snapshots</h2>"
    if not snapshots:
        return f"{heading}<p class='na'>{html.escape(note)}</p>" if note else ""
    figures = []
    for shot in snapshots:
        uri = "data:image/png;base64," + base64.b64encode(shot.png).decode()
        caption = html.escape(shot.caption)
        figures.append(
            f"<figure><img alt='{caption}' src='{uri}'>"
            f"<figcaption><b>{shot.time_s:.2f} s</b> · <span class='{html.escape(shot.kind)}'>"
            f"{caption}</span></figcaption></figure>"
        )
    extra = f"<p class='na'>{html.escape(note)}</p>" if note else ""
    return f"{heading}<div class='shots'>{''.join(figures)}</div>{extra}"


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
    scoring=None,
    step_ids: Sequence[str] = (),
    conditions: dict | None = None,
    rescores: Sequence[tuple[str, ScoreResult]] = (),
    ending: str | None = None,
    object_types: Sequence[str] = (),
) -> str:
    """One session's page: verdict, how the score was computed, per-metric table, split
    times, what happened, the endoscope's view, figures, and any re-scores.

    Args:
        scoring: the rubric the result was given under (its benchmark sources are shown).
        step_ids: the exercise's steps in order (steps never done are listed).
        conditions: how the session ran (injected latency, loop timing).
        rescores: (when, result) of later re-scores, shown beside the original verdict.
        snapshots: the endoscope's view at the start, at each warning and at the end.
        snapshot_note: why some or all snapshots are missing.
        ending: how the session ended (:data:`scenarios.records.ENDINGS`): a stop, a
            crash or the time limit is said in the headline.
        object_types: the types of the scene's objects (``suture_pad``, ``peg_board``):
            the force note names what the instruments pressed on by them.
    """
    when = when or utc_now()
    figures = splits = events = force_note = ""
    if trace is not None:
        from scenarios.evaluate import scored_end

        force_note = RS.force_note_html(trace, force_threshold_n, object_types)
        end = float(trace.time_s[-1]) if len(trace.time_s) else 0.0
        teleop = (conditions or {}).get("teleop")
        notes = {"Force timeline": force_note, "Speed profile": speed_note(teleop)}
        figures = "".join(
            f"<h3>{html.escape(name)}</h3>"
            + (
                f'<img alt="{html.escape(name)}" src="{uri}">'
                if uri
                else f"<p class='sub'>{html.escape(NO_MOTION.format(end=end))}</p>"
            )
            + (notes.get(name, "") if uri else "")
            for name, uri in _figures(
                trace, force_threshold_n, (teleop or {}).get("max_tip_speed_m_s")
            )
        )
        splits = f"<h2>Split times</h2>{RS.splits_html(trace, step_ids)}"
        events = (
            f"<h2>What happened</h2>{RS.events_html(trace, force_threshold_n, scored_end(trace))}"
        )
    notes = RS.benchmark_notes(scoring) if scoring is not None else None
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}{RS.STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p class='sub'>trainee {html.escape(pseudonym)} · operator {html.escape(operator)} · "
        f"seed {seed} · {started_label(when)} · rule {result.rule}</p>"
        f"{RS.conditions_html(conditions)}{RS.degraded_html(conditions)}"
        f"{_verdict(result, ending)}"
        f"<h2>How the score was computed</h2>{RS.explanation_html(result)}"
        f"<h2>Metrics</h2>{RS.metric_table_html(result, notes)}"
        f"{splits}{events}"
        f"{_snapshots_html(recaptioned(snapshots, trace, force_threshold_n), snapshot_note)}"
        f"{RS.rescores_html(rescores)}<h2>Figures</h2>{figures}"
        "</body></html>"
    )


def _learning_curves(rows: Sequence[dict]) -> str:
    """The learning curves (:func:`learning_curves_figure`) as a PNG data URI."""
    return _png(learning_curves_figure(rows))


def _mark_steps(ax, attempt: np.ndarray, marks: Sequence[float | None], label: str) -> None:
    """A pass line across each attempt's whole slot (attempt ± 0.5), stepping where the
    rubric changed between attempts and absent where an attempt had none: drawn from
    slot edges, so a single attempt gets a line too (a step through the points' centres
    draws nothing for one point and half slots at the ends)."""
    values = np.array([np.nan if m is None else m for m in marks], dtype=float)
    if np.isnan(values).all():
        return
    edges = np.append(attempt - 0.5, attempt[-1] + 0.5)
    ax.step(
        edges,
        np.append(values, values[-1]),
        where="post",
        color="red",
        ls="--",
        lw=0.9,
        zorder=0,
        label=label,
    )


def session_axis(ax, rows: Sequence[dict], fontsize: float = 8) -> None:
    """The x axis of a learning curve: the sessions in order, one slot each, every tick
    labelled with the session's id, the number the progress page's table, ``trainee
    show``, ``surgisim report ID`` and ``rescore ID`` use (the n-th point was labelled n,
    which read as session n of the table). Whole numbers only, also for one session."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ids = [s.get("id") for s in rows]

    def label(x, _pos) -> str:
        k = round(x)
        if abs(x - k) > 1e-6 or not 1 <= k <= len(ids):
            return ""
        return str(ids[k - 1] if ids[k - 1] is not None else k)

    # min_n_ticks=1: MaxNLocator keeps to integers only where it finds at least
    # min_n_ticks of them in view, and one session's 0.5-1.5 holds one (0.6, 0.8, ...)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.xaxis.set_major_formatter(FuncFormatter(label))
    ax.set_xlabel("session (id)", fontsize=fontsize)


def learning_curves_figure(rows: Sequence[dict]) -> Figure:
    """Score and metric curves over the sessions in order (one slot each, labelled with
    the session's id as the table below gives it; "session", not "attempt": a stopped
    session is on it, as a cross), the
    pass score on the score's curve and each metric's pass mark (MScore's benchmark
    bound, a limit) on its own, failed attempts hollow, one colour per latency condition
    when there are several.

    Args:
        rows: one scenario's sessions as :func:`trainee_report_html` takes them, oldest
            first; ``pass_marks`` (metric -> value, see
            :func:`scenarios.scoring.pass_marks`) draws the metrics' pass lines.

    A session that did not complete its exercise (stopped, recovered after a crash, out
    of time, failed by a rule: ``completed`` false) is a cross on the score curve, and
    its metrics are left out of the metric curves: a time or path measured over part of
    an exercise is not a result (an attempt stopped at 5 s would look like the best).
    The legend says so. With no completed session yet, only the score's curve is drawn
    (the page says why the metric curves are missing).
    """
    from matplotlib.ticker import MaxNLocator

    from scenarios.glossary import info, is_count, ordered

    shown = rows[-1].get("scored_metrics")
    measured = {k for s in rows for k in s["metrics"] if "[" not in k}
    names = ordered(measured & set(shown) if shown else measured)
    done = np.array([bool(s.get("completed", True)) for s in rows])
    if not done.any():
        names = []  # no metric of a session not completed is drawn: eight empty charts
    n_rows = len(names) // 3 + 1
    cols = 3 if names else 1
    fig = Figure(figsize=(10 * cols / 3 + 0.6 * (cols == 1), 2.2 * n_rows))
    axes = fig.subplots(n_rows, cols, squeeze=False).ravel()
    attempt = np.arange(1, len(rows) + 1)
    latencies = [s.get("latency", "none") for s in rows]
    groups = list(dict.fromkeys(latencies))
    colours = {g: f"C{i}" for i, g in enumerate(groups)}

    def plot(ax, values, *, partial: bool = False):
        """``partial``: plot the sessions not completed too (as crosses)."""
        values = np.asarray(values, dtype=float)
        if not partial:
            values = np.where(done, values, np.nan)
        ax.plot(attempt[done], values[done], "-", color="0.75", lw=0.8, zorder=1)
        for g in groups:
            if partial:
                idx = [i for i in range(len(rows)) if latencies[i] == g and not done[i]]
                if idx:
                    ax.scatter(
                        attempt[idx], values[idx], s=30, marker="x", color=colours[g], zorder=2
                    )
            for passed in (True, False):
                idx = [
                    i
                    for i, s in enumerate(rows)
                    if latencies[i] == g and bool(s["passed"]) == passed and done[i]
                ]
                if not idx:
                    continue
                label = None
                if len(groups) > 1 and not any(
                    h.get_label() == f"latency {g}" for h in ax.collections
                ):
                    label = f"latency {g}"
                ax.scatter(
                    attempt[idx],
                    values[idx],
                    s=22,
                    zorder=2,
                    facecolors=colours[g] if passed else "white",
                    edgecolors=colours[g],
                    label=label,
                )
        session_axis(ax, rows)
        ax.set_xlim(0.5, len(rows) + 0.5)

    score_ax = axes[0]
    plot(score_ax, [s["score"] for s in rows], partial=True)
    if not done.all():
        score_ax.scatter([], [], marker="x", color="0.3", label="not completed (metrics left out)")
    _mark_steps(score_ax, attempt, [s.get("pass_score") for s in rows], "pass score")
    score_ax.set(title="score (filled: passed)", ylim=(-5, 105))  # a 0 stays in view
    score_ax.set_xlabel("session (id)")
    if score_ax.get_legend_handles_labels()[0]:
        score_ax.legend(fontsize=7, loc="best")  # not over a low score or a cross
    legend_shown = False  # "pass mark" said once, on the first curve that has one
    for ax, name in zip(axes[1:], names, strict=False):
        about = info(name)
        values = [s["metrics"].get(name, np.nan) if done[i] else np.nan for i, s in enumerate(rows)]
        plot(ax, values)
        marks = [(s.get("pass_marks") or {}).get(name) for s in rows]
        _mark_steps(ax, attempt, marks, "pass mark")
        if not legend_shown and any(m is not None for m in marks):
            ax.legend(fontsize=7, loc="best")
            legend_shown = True
        unit = f" ({about.unit})" if about.unit else ""
        arrow = "\u2191 better" if about.higher_is_better else "\u2193 better"
        ax.set_title(f"{about.label}{unit}, {arrow}", fontsize=8)
        if is_count(name):
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if not about.higher_is_better:  # non-negative quantities: from 0, never a ±0.05 band
            shown = [*values, *(m for m in marks if m is not None)]  # the pass mark in view
            top = np.nanmax(np.asarray(shown, dtype=float), initial=0.0)
            ax.set_ylim(0, max(1.15 * top, 1.0 if is_count(name) else 0.1))
    for ax in axes[1 + len(names) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


#: Under the score curve of a scenario with no completed session: why no metric curve.
NO_COMPLETED = (
    "No completed attempt yet: the metric curves start with the first session taken to "
    "its end (a time or path measured over part of the exercise is not a result)."
)


def _latency_summary(rows: Sequence[dict]) -> str:
    """Attempts, passes and median score per latency condition (only when there are
    several conditions)."""
    groups: dict[str, list[dict]] = {}
    for s in rows:
        groups.setdefault(s.get("latency", "none"), []).append(s)
    if len(groups) < 2:
        return ""
    body = "".join(
        f"<tr><td>{html.escape(g)}</td><td>{len(items)}</td>"
        f"<td>{sum(bool(s['passed']) for s in items)}</td>"
        f"<td>{np.median([s['score'] for s in items]):.0f}</td></tr>"
        for g, items in groups.items()
    )
    return (
        "<h3>By injected latency</h3><table><tr><th>latency</th><th>attempts</th>"
        f"<th>passed</th><th>median score</th></tr>{body}</table>"
    )


def trainee_report_html(
    pseudonym: str,
    sessions: Sequence[dict],
    proficiency: dict[str, dict],
) -> str:
    """One trainee's page: per scenario, proficiency, learning curves per metric (with the
    pass line), the attempts with operator, seed and injected latency, and a summary per
    latency condition.

    Args:
        sessions: dicts with ``id``, ``scenario``, ``started_at``, ``operator``, ``seed``,
            ``score``, ``passed``, ``metrics`` (name -> value) and optionally ``latency``
            (a label, see :func:`scenarios.report_score.latency_label`), ``pass_score``
            (FLS rubrics), ``qualifies`` (counts toward proficiency), ``completed``,
            ``result`` (the verdict with how it ended: ``FAIL (stopped by the user)``)
            and ``counts`` (an attempt for proficiency at all), in the order they started.
        proficiency: per scenario, ``{"proficient", "passes", "best_run", "current_run",
            "required_consecutive", "required_total", "attempts"}`` and optionally
            ``"since"`` (when proficiency was reached, in words) and ``"rule"`` (the rule
            in words).
    """
    parts = []
    for scenario in sorted({s["scenario"] for s in sessions}):
        rows = [s for s in sessions if s["scenario"] == scenario]
        prof = proficiency.get(scenario, {})
        status = "not yet proficient"
        if prof.get("proficient"):
            since = prof.get("since")
            status = f"proficient since {html.escape(since)}" if since else "proficient"
        rule = prof.get("rule") or (
            f"{prof.get('required_consecutive', '?')} in a row and "
            f"{prof.get('required_total', '?')} in all"
        )
        # attempts as `trainee show` counts them: a stopped or recovered session is none,
        # nor one with no verdict under the current rubric
        counted = [s.get("counts") is not False for s in rows]
        other = sum(1 for s in rows if s.get("why_not") == OTHER_RUBRIC)
        attempts = attempts_label(sum(counted), counted.count(False) - other, other, noun=True)
        parts.append(
            f"<h2>{html.escape(scenario)}</h2><p>{attempts}, {prof.get('passes', 0)} "
            f"qualifying, at best {prof.get('best_run', 0)} in a row (now "
            f"{prof.get('current_run', 0)}) — <b>{status}</b> (needs {html.escape(rule)})</p>"
        )
        parts.append(f'<img alt="learning curves" src="{_learning_curves(rows)}">')
        if not any(s.get("completed", True) for s in rows):
            parts.append(f"<p class='sub'>{NO_COMPLETED}</p>")
        numbers = np.cumsum(counted)  # the attempt numbers "proficient since" refers to
        table = "".join(
            f"<tr><td>{numbers[i] if counted[i] else '—'}</td><td>{s.get('id', '')}</td>"
            f"<td class='q'>{html.escape(str(s['started_at']))}</td>"
            f"<td>{html.escape(str(s.get('operator', '')))}</td><td>{s.get('seed', '')}</td>"
            f"<td>{html.escape(str(s.get('latency', 'none')))}</td>"
            f"<td>{score_text(s['score'], s.get('pass_score'))}{_rescore_cell(s)}</td>"
            f"<td>{html.escape(s.get('result') or ('pass' if s['passed'] else 'FAIL'))}</td>"
            f"<td>{html.escape(counts_text(s))}</td></tr>"
            for i, s in enumerate(rows)
        )
        parts.append(
            "<table><tr><th>attempt</th><th>session</th><th>date</th><th>operator</th><th>seed</th>"
            "<th>latency</th><th>score</th><th>result</th><th>counts toward proficiency</th></tr>"
            f"{table}</table>"
        )
        if other:
            parts.append(f"<p class='sub'>{html.escape(OTHER_RUBRIC_NOTE)}</p>")
        parts.append(_latency_summary(rows))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(pseudonym)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>Progress of {html.escape(pseudonym)}</h1>"
        f"{''.join(parts) or '<p>No sessions yet.</p>'}</body></html>"
    )


def counts_text(session: dict) -> str:
    """Whether a session counts toward proficiency, and why not: ``yes``, ``no (not an
    attempt)``, ``no (under another rubric)``, or what the rule wants that the attempt
    did not do (``no (score 98.1 < 100)``; a passing attempt read only "no")."""
    if session.get("why_not") == OTHER_RUBRIC:
        return "no (under another rubric)"
    if session.get("counts") is False:
        return "no (not an attempt)"
    if session.get("qualifies"):
        return "yes"
    unmet = session.get("unmet")
    return f"no ({'; '.join(unmet)})" if unmet else "no"


def rescore_text(session: dict) -> str:
    """A session's re-score in words (see :func:`scenarios.archive.session_dicts`):
    ``75.0 FAIL, judged by it`` when proficiency judges the session by it; ``80.2 pass,
    under another rubric: not judged by it`` when the latest re-score is under a rubric
    that is not the current one (the latest session's: see ``docs/scenarios.md``); empty
    when it was never re-scored."""
    again = session.get("rescore")
    if again:
        verdict = "pass" if again["passed"] else "FAIL"
        return f"{score_text(again['score'], session.get('pass_score'))} {verdict}, judged by it"
    latest = session.get("latest_rescore")
    if not latest:
        return ""
    verdict = "pass" if latest["passed"] else "FAIL"
    why_not = session.get("why_not")
    if why_not in ("stopped", "crashed"):
        # not an attempt, whatever rubric: "under another rubric" was untrue of a stopped
        # session re-scored under the current one
        return f"{score_text(latest['score'])} {verdict} (the session is {why_not}: not counted)"
    return f"{score_text(latest['score'])} {verdict}, under another rubric: not judged by it"


def _rescore_cell(session: dict) -> str:
    """The score cell's addition for a re-scored session."""
    text = rescore_text(session)
    return f"<br><small>re-scored: {html.escape(text)}</small>" if text else ""


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` atomically (a report is never half-written) and owner-only
    (``0600``: reports name a trainee and their scores)."""
    return write_private_text(path, text)


def sessions_csv(sessions: Sequence[dict], path: str | Path) -> Path:
    """One row per session: id, scenario, date, score, pass, every metric, the latency,
    and how the session ended (``ended``: ``completed``, ``time_limit``, ``failed``,
    ``stopped``, ``crashed``, or ``not completed`` for sessions stored before this was
    kept), then whether it counts toward proficiency and why not (``counts``, as
    :func:`counts_text` says it); new columns go last, so that existing ones keep their
    places."""
    names = sorted({k for s in sessions for k in s["metrics"]})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    head = ["session", "scenario", "started_at", "operator", "seed", "score", "passed"]
    writer.writerow([*head, *names, "latency", "ended", "counts"])
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
                s.get("latency", "none"),
                s.get("ended", ""),
                counts_text(s),
            ]
        )
    return write_text(path, buffer.getvalue())
