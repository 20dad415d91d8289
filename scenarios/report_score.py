"""The parts of a session report that explain the score: how it was computed, every
metric in words with its unit and direction, the split time of each step, what happened
that a trainee cares about (drops, collisions, excessive force, instruments out of
view, steps done) first and the rest folded, how the session ran (latency), and any
re-scores beside the original verdict.

HTML fragments only; :mod:`scenarios.report` puts them on the page.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scenarios import metrics as M
from scenarios.explain import (
    RUNNING_AT_END,
    benchmark_origin,
    contribution,
    explain,
    how_it_counts,
)
from scenarios.glossary import GROUP_TITLES, direction, info, ordered, with_unit
from scenarios.scoring import ScoreResult, pass_score_text
from scenarios.trace import SessionTrace

STYLE = """
.formula{font-family:ui-monospace,monospace;background:#f6f6f6;padding:.6em .8em;
border-radius:4px;white-space:pre-wrap}
.dir{color:#666;font-size:.85em}.grp td{background:#f0f0f5;font-weight:600;text-align:left}
.fail-cell{color:#a4161a;font-weight:600}.pass-cell{color:#2d6a4f}
details{margin:.6em 0}summary{cursor:pointer;color:#333}
.note{color:#555;font-size:.92em;max-width:900px}.cond{color:#333}
.rescore{border-left:4px solid #bbb;padding-left:.8em;margin:.8em 0}
.degraded{background:#fff4d6;border-left:4px solid #d9a400;padding:.5em .8em;max-width:900px}
table.txt td,table.txt th{text-align:left}
"""

#: Event kinds a trainee reads first (the rest are folded away).
KEY_EVENTS = (
    "drop",
    "step_done",
    "completed",
    "failed",
    "gave_up",
    "interrupted",
    "needle_entry",
    "needle_exit",
    "needle_withdrawal",
    "unreachable",
    "timer_stopped",
)


def explanation_html(result: ScoreResult) -> str:
    """How the score was computed: the rule, each metric's part, the arithmetic."""
    e = explain(result)
    if e is None:
        return (
            "<p class='note'>This score was stored before scores carried their arithmetic; "
            "re-score the session (<code>surgisim rescore</code>) to see how it is made up.</p>"
        )
    items = "".join(f"<li>{html.escape(line)}</li>" for line in e.metric_lines)
    return (
        f"<p>{html.escape(e.rule_line)}</p>"
        + (f"<ul>{items}</ul>" if items else "")
        + f"<div class='formula'>{html.escape(e.formula)}</div>"
        + f"<p><b>{html.escape(e.outcome)}</b></p>"
    )


def quantity_html(name: str, value: float | None) -> str:
    """A metric's value with its unit, kept on one line (a narrow column broke "0.406 N"
    between the number and its unit)."""
    return f"<span class='q'>{html.escape(with_unit(name, value))}</span>"


def _pass_mark_cell(m) -> str:
    """A metric's pass mark and how it fared against it (``≤ 0 s · pass``); a metric that
    does not apply keeps the mark the rubric set, with no verdict."""
    if m.threshold is None:
        return ""
    word = "\u2265" if m.higher_is_better else "\u2264"
    mark = f"<span class='q'>{word} {html.escape(with_unit(m.name, m.threshold))}</span>"
    if m.passed is None:
        return mark
    status = (
        "<span class='pass-cell'>pass</span>" if m.passed else "<span class='fail-cell'>FAIL</span>"
    )
    return f"{mark} · {status}"


def _benchmark_cell(m, published: bool | None) -> str:
    if m.benchmark_mean is None:
        return ""
    text = (
        f"{quantity_html(m.name, m.benchmark_mean)} \u00b1 {quantity_html(m.name, m.benchmark_sd)}"
    )
    origin = benchmark_origin(published)
    if origin:
        text += f"<br><span class='dir'>{origin}</span>"
    return text


def metric_table_html(
    result: ScoreResult, benchmark_notes: dict[str, tuple[bool, str]] | None = None
) -> str:
    """Every metric the rubric names, grouped (risk and safety first), with its readable
    name, value and unit, direction, how it counts, its pass mark and what it did to the
    score.

    Args:
        benchmark_notes: per metric with a benchmark, (published, where it comes from),
            from :func:`benchmark_notes`; shown with the benchmark and under the table.
    """
    head = (
        "<tr><th>metric</th><th>value</th><th>how it counts</th><th>expert benchmark</th>"
        "<th>pass mark</th><th>effect on the score</th></tr>"
    )
    rows = []
    for group in ("safety", "efficiency"):
        members = [result.metrics[n] for n in ordered(result.metrics)]
        members = [m for m in members if m.group == group]
        if not members:
            continue
        rows.append(f"<tr class='grp'><td colspan='6'>{GROUP_TITLES[group]}</td></tr>")
        for m in members:
            about = info(m.name)
            value = quantity_html(m.name, m.value)
            if m.running_at_end:
                value += f"<br><span class='dir'>{RUNNING_AT_END}</span>"
            if m.value is None:
                value = "<span class='na'>does not apply</span>"
            rows.append(
                f"<tr><td title='{html.escape(about.explanation)}'>{html.escape(about.label)}"
                f"<br><span class='dir'>{direction(m.name)}</span></td>"
                f"<td>{value}</td><td>{html.escape(how_it_counts(m, benchmark=False))}</td>"
                f"<td>{_benchmark_cell(m, (benchmark_notes or {}).get(m.name, (None,))[0])}</td>"
                f"<td>{_pass_mark_cell(m)}</td>"
                f"<td>{html.escape(contribution(m, result))}</td></tr>"
            )
    notes = ""
    if benchmark_notes:
        notes = "".join(
            f"<li>{html.escape(info(n).label)}: "
            f"{'published expert data' if published else 'a parameter, not expert data'}"
            f"{': ' + html.escape(text) if text else ''}</li>"
            for n, (published, text) in benchmark_notes.items()
        )
        notes = f"<p class='note'>Where the benchmarks come from:</p><ul class='note'>{notes}</ul>"
    glossary = "".join(
        f"<li><b>{html.escape(info(m.name).label)}</b> ({direction(m.name)}): "
        f"{html.escape(info(m.name).explanation)}</li>"
        for m in (result.metrics[n] for n in ordered(result.metrics))
        if info(m.name).explanation
    )
    return (
        f"<table>{head}{''.join(rows)}</table>{notes}"
        f"<details><summary>What the metrics mean</summary><ul class='note'>{glossary}</ul>"
        "</details>"
    )


def benchmark_notes(scoring) -> dict[str, tuple[bool, str]]:
    """Per metric with a benchmark: (whether it is published expert data, its source), as
    the rubric says."""
    return {
        name: (rule.benchmark.published, rule.benchmark.source)
        for name, rule in scoring.metrics.items()
        if rule.benchmark is not None
    }


# ---- split times -----------------------------------------------------------------------
def step_splits(trace: SessionTrace) -> list[tuple[str, float, float]]:
    """Per step done, in order: (step id, time done (s), split time (s) since the previous
    step was done, or since the start for the first)."""
    start = float(trace.time_s[0]) if len(trace.time_s) else 0.0
    out, last = [], start
    for e in trace.events_of("step_done"):
        out.append((str(e.data.get("step", "?")), float(e.time_s), float(e.time_s) - last))
        last = float(e.time_s)
    return out


def splits_html(trace: SessionTrace, step_ids: Sequence[str] = ()) -> str:
    """The split time of each step; steps never done are listed as such."""
    splits = step_splits(trace)
    if not splits and not step_ids:
        return "<p class='note'>No step was done.</p>"
    done = {s for s, _, _ in splits}
    slowest = max((d for _, _, d in splits), default=0.0)
    rows = "".join(
        f"<tr><td>{i}</td><td>{html.escape(step)}</td><td>{at:.1f}</td>"
        f"<td>{'<b>' if d == slowest and len(splits) > 1 else ''}{d:.1f}"
        f"{'</b>' if d == slowest and len(splits) > 1 else ''}</td></tr>"
        for i, (step, at, d) in enumerate(splits, 1)
    )
    rows += "".join(
        f"<tr><td>{len(splits) + i}</td><td>{html.escape(s)}</td>"
        "<td class='na'>not done</td><td></td></tr>"
        for i, s in enumerate([s for s in step_ids if s not in done], 1)
    )
    return (
        "<table class='txt'><tr><th>#</th><th>step</th><th>done at (s)</th><th>split (s)</th></tr>"
        f"{rows}</table>"
    )


# ---- what happened ---------------------------------------------------------------------
@dataclass(frozen=True)
class Happening:
    """One row of the trainee's event list: a discrete event or a safety episode."""

    time_s: float
    what: str
    detail: str
    key: bool = True


def safety_episodes(
    trace: SessionTrace, force_threshold_n: float, end: int | None = None
) -> list[Happening]:
    """Collisions, excessive-force and out-of-view episodes, from the trace's per-row
    signals (counted as the metrics count them: episodes closer than 0.1 s are one),
    up to row ``end`` (default: all rows). Each lasts the time its condition held (see
    :func:`held_for`), so the episodes of a timed metric add up to it."""
    from scenarios.live import MERGE_GAP_S

    fs = trace.rate_hz
    t = trace.time_s[:end]
    out: list[Happening] = []
    tools = trace.instruments

    def episodes(what, flags, arm=None):
        flags = np.asarray(flags[:end], dtype=bool)
        for a, b in M.contact_events(flags, fs, MERGE_GAP_S):
            detail = held_for(flags, a, b, fs)
            out.append(Happening(float(t[a]), what, f"{arm}, {detail}" if arm else detail))

    # both instruments of a clash record it: one episode whichever records it
    clash = np.zeros(len(t), dtype=bool)
    for inst in tools.values():
        clash |= np.asarray(inst.contact_instrument[:end], dtype=bool)
    episodes("instrument collision", clash)
    for name, inst in tools.items():
        episodes("scenery contact", inst.contact_environment, name)
    above = {  # once per arm, not once per episode
        name: np.asarray(inst.tip_force_n[:end], dtype=float) > force_threshold_n
        for name, inst in tools.items()
    }
    for e in force_episodes(trace, force_threshold_n, end):
        touching = _touching(tools[e.arm], e.start, e.stop)
        out.append(
            Happening(
                e.start_s,
                "excessive force",
                f"{e.arm}, {held_for(above[e.arm], e.start, e.stop, fs)}, peak {e.peak_n:.1f} N"
                + (f" (touching {touching})" if touching else ""),
            )
        )
    for name, inst in tools.items():
        if inst.kind != "ecm":
            episodes("out of view", ~np.asarray(inst.in_view, dtype=bool), name)
        if inst.contact_held_environment is not None:
            episodes("held object touching", inst.contact_held_environment, name)
    return out


def held_for(flags: np.ndarray, a: int, b: int, rate_hz: float) -> str:
    """How long a condition held in the episode of rows ``a``..``b``: its rows x the row
    period, as the metrics sum it (``1.03 s``). Gaps under 0.1 s are merged into one
    episode but are not time the condition held; the episode's span is then given too
    (``1.03 s over 1.09 s``)."""
    held = int(np.count_nonzero(flags[a:b]))
    text = f"{held / rate_hz:.2f} s"
    if held < b - a:
        text += f" over {(b - a) / rate_hz:.2f} s"
    return text


@dataclass(frozen=True)
class ForceEpisode:
    """One instrument pushing harder than the force limit: rows ``start``..``stop`` of
    the trace (brief dips merged, as the metrics merge them), from ``start_s``, with its
    own peak (N)."""

    arm: str
    start: int
    stop: int
    start_s: float
    peak_n: float


def force_episodes(
    trace: SessionTrace, force_threshold_n: float, end: int | None = None
) -> list[ForceEpisode]:
    """Every excessive-force episode of every instrument up to row ``end``, in time
    order: the one definition behind the event table and the snapshot captions."""
    from scenarios.live import MERGE_GAP_S

    out = []
    for name, inst in trace.instruments.items():
        force = np.asarray(inst.tip_force_n[:end], dtype=float)
        for a, b in M.contact_events(force > force_threshold_n, trace.rate_hz, MERGE_GAP_S):
            out.append(ForceEpisode(name, a, b, float(trace.time_s[a]), float(force[a:b].max())))
    return sorted(out, key=lambda e: e.start_s)


def force_captions(
    shot_times_s: Sequence[float], episodes: Sequence[ForceEpisode], rate_hz: float
) -> list[str]:
    """The caption of each excessive-force snapshot (times in order): the episodes that
    began by then and were not shown before, each with its arm and its own peak.

    The warning behind a snapshot fires when the live metrics see the force time grow
    (5-10 Hz), so the episode starts up to a few rows before the picture, and its peak
    may come after it: only the trace knows it, the live warning does not.
    """
    captions, pending = [], list(episodes)
    for time_s in shot_times_s:
        mine = [e for e in pending if e.start_s <= time_s + 0.5 / rate_hz]
        pending = [e for e in pending if e not in mine]
        parts = [f"{e.arm} {e.peak_n:.1f} N peak" for e in mine]
        captions.append("Excessive force" + (": " + ", ".join(parts) if parts else ""))
    return captions


def _touching(inst, a: int, b: int) -> str:
    """What an instrument touched during rows a..b, in words."""
    kinds = []
    if np.any(inst.contact_environment[a:b]):
        kinds.append("the scenery")
    if np.any(inst.contact_object[a:b]):
        kinds.append("a task object")
    if np.any(inst.contact_instrument[a:b]):
        kinds.append("the other instrument")
    return " and ".join(kinds)


#: The fixed scenery each bundled object type brings, for the force note: its words and
#: whether it is rigid (the arm follows the hand stiffly, so pressing into it makes
#: forces up to what the motors push) or gives way like tissue (the force grows with
#: depth). Other types are named neutrally.
SCENERY = {
    "peg_board": ("the board and its pegs", True),
    "ring_wire": ("the base, the posts and the wire", True),
    "suture_pad": ("the suture pad", False),
}


def scenery_words(object_types) -> tuple[str, bool | None]:
    """(what the scenery is, whether it is rigid: True, gives way: False, unknown: None)
    for a scene with objects of ``object_types``; no known type: a neutral description."""
    known = [SCENERY[t] for t in dict.fromkeys(object_types) if t in SCENERY]
    if not known:
        return "the scenery (what is fixed in the scene, not a task object)", None
    rigid = {r for _, r in known}
    return " and ".join(w for w, _ in known), rigid.pop() if len(rigid) == 1 else None


def force_note_html(
    trace: SessionTrace, force_threshold_n: float, object_types: Sequence[str] = ()
) -> str:
    """What the force plot shows, in words: time above the limit and what the instruments
    were touching then, named by the scene's own objects (``object_types``, the scenario's
    ``scene.objects`` types; none: neutral words). Rigid scenery (a board, pegs) makes
    large forces when pressed, up to what the arm's motors can push, tens of newtons (the
    arm follows the hand stiffly); a suture pad gives way like tissue, the force growing
    with how deep it is pressed."""
    fs = trace.rate_hz
    above_rows = touching_scenery = 0
    peak = 0.0
    for inst in trace.instruments.values():
        above = np.asarray(inst.tip_force_n, dtype=float) > force_threshold_n
        above_rows += int(np.count_nonzero(above))
        touching_scenery += int(np.count_nonzero(above & np.asarray(inst.contact_environment)))
        peak = max(peak, float(np.max(inst.tip_force_n, initial=0.0)))
    if not above_rows:
        return (
            f"<p class='note'>The tips never pushed harder than the limit of "
            f"{force_threshold_n:g} N (peak {peak:.1f} N).</p>"
        )
    share = 100.0 * touching_scenery / above_rows
    scenery, rigid = scenery_words(object_types)
    if rigid:
        why = (
            f"The arm follows your hand stiffly: pressing an instrument into {scenery} makes "
            "forces up to what the arm's motors can push, tens of newtons, far more than "
            "tissue tolerates."
        )
    elif rigid is False:
        why = (
            f"{scenery[0].upper()}{scenery[1:]} gives way like tissue: the force grows the "
            "deeper an instrument presses into it."
        )
    else:
        why = "The arm follows your hand stiffly: pressing harder raises the force at once."
    return (
        f"<p class='note'>{above_rows / fs:.2f} s above the limit of {force_threshold_n:g} N "
        f"(instruments added), peak {peak:.1f} N; {share:.0f} % of that time an instrument "
        f"was touching {scenery}. {why} Lift off as soon as you feel or see contact.</p>"
    )


def _event_detail(data: dict) -> str:
    """An event's data in words: empty values left out (a drop by leaving the workspace
    read "arm , reason left_workspace"), a timer stopped that never started said so (it
    read "elapsed_s None"), reasons in words."""
    keep = {k: v for k, v in data.items() if k not in ("instruction",) and v not in ("", None)}
    if "distance_m" in keep and isinstance(keep["distance_m"], int | float):
        keep["distance_mm"] = round(1000 * keep.pop("distance_m"), 2)
    if "timer" in data and "elapsed_s" in data and data["elapsed_s"] is None:
        keep["elapsed_s"] = "none: it was not running (never started, or stopped already)"
    if keep.get("reason") == "left_workspace":
        keep["reason"] = "left the workspace"
    return ", ".join(f"{k} {v}" for k, v in keep.items())


def happenings(
    trace: SessionTrace, force_threshold_n: float, end: int | None = None
) -> list[Happening]:
    """Everything that happened, in time order: events (key ones marked) and the safety
    episodes measured from the trace."""
    rows = [
        Happening(
            float(e.time_s),
            e.kind.replace("_", " "),
            _event_detail(e.data),
            e.kind in KEY_EVENTS,
        )
        for e in trace.events
    ]
    rows += safety_episodes(trace, force_threshold_n, end)
    return sorted(rows, key=lambda h: (h.time_s, not h.key))


#: What an episode's duration is, for the event table (shown when one has a span too).
DURATION_NOTE = (
    "<p class='note'>Durations are the time the condition held (its recorded rows), as the "
    "metrics add it up: an instrument's out-of-view episodes add up to its time out of "
    "view. Stretches less than 0.1 s apart count as one episode; the gaps between them are "
    "not counted, and such an episode also gives its span (\u201c1.03 s over 1.09 s\u201d)."
    "</p>"
)


def events_html(trace: SessionTrace, force_threshold_n: float, end: int | None = None) -> str:
    """What happened: the events a trainee cares about in a table, with counts by kind;
    every other event (clutch presses, grasps, messages) folded under ``<details>``."""
    rows = happenings(trace, force_threshold_n, end)
    key = [h for h in rows if h.key]
    rest = [h for h in rows if not h.key]
    counts = Counter(h.what for h in key)
    summary = ", ".join(f"{n} \u00d7 {what}" for what, n in counts.most_common())

    def table(items):
        body = "".join(
            f"<tr><td>{h.time_s:.2f}</td><td>{html.escape(h.what)}</td>"
            f"<td>{html.escape(h.detail)}</td></tr>"
            for h in items
        )
        return (
            "<table class='txt'><tr><th>time (s)</th><th>what</th><th>details</th></tr>"
            f"{body}</table>"
        )

    other = Counter(h.what for h in rest)
    other_summary = ", ".join(f"{n} \u00d7 {what}" for what, n in other.most_common())
    return (
        f"<p>{html.escape(summary) or 'Nothing to report.'}</p>"
        + (table(key) if key else "")
        + (DURATION_NOTE if any(" over " in h.detail for h in key) else "")
        + (
            f"<details><summary>{len(rest)} other events ({html.escape(other_summary)})"
            f"</summary>{table(rest)}</details>"
            if rest
            else ""
        )
    )


# ---- how the session ran, and re-scores -------------------------------------------------
def latency_label(conditions: dict | None) -> str:
    """The injected latency in a few words (``150 ms``, ``command 150 ms, video 0 ms``),
    or ``none``."""
    latency = (conditions or {}).get("latency") or {}
    if not latency:
        return "none"
    values = {c: float(d.get("latency_ms", 0.0)) for c, d in latency.items()}
    jitter = {c: float(d.get("jitter_ms", 0.0)) for c, d in latency.items()}
    if len(set(values.values())) == 1:
        text = f"{next(iter(values.values())):g} ms"
    else:
        text = ", ".join(f"{c} {v:g} ms" for c, v in sorted(values.items()))
    if any(jitter.values()):
        text += " (jitter " + ", ".join(f"{c} {v:g} ms" for c, v in sorted(jitter.items())) + ")"
    return text


def conditions_html(conditions: dict | None) -> str:
    """How the session ran: the injected latency (and its protocol), the loop's timing, how
    each client's display kept up (``frame_timing``)."""
    conditions = conditions or {}
    parts = [f"injected latency: <b>{html.escape(latency_label(conditions))}</b>"]
    if conditions.get("latency_protocol"):
        parts.append(f"latency protocol {html.escape(str(conditions['latency_protocol']))}")
    loop = conditions.get("loop") or {}
    if loop:
        parts.append(
            f"loop {loop.get('rate_hz', 0):.0f} Hz, {loop.get('overruns', 0)} overruns, "
            f"{loop.get('real_time_ratio', 0):.3f}\u00d7 real time"
        )
    for client, t in sorted((conditions.get("frame_timing") or {}).items()):
        parts.append(html.escape(frame_timing_label(client, t)))
    # a plug-in the run was given (`run --ik-solver`, `--tremor-filter`): two sessions
    # with different solvers looked alike everywhere but in the database
    for key, what in (("ik_solver", "IK solver"), ("tremor_filter", "tremor filter")):
        if conditions.get(key):
            parts.append(f"{what}: <b>{html.escape(str(conditions[key]))}</b>")
    return f"<p class='cond'>{' · '.join(parts)}</p>"


#: Below this share of real time a live session's report warns that the machine, not
#: only the trainee, shaped it (the instruments answered late, the arms were held for
#: stale samples): a loop that kept 0.9x real time still lags a hand by 10%.
DEGRADED_REAL_TIME = 0.9
#: Above this share of missed frames a display's stutter is warned of.
DEGRADED_MISSED_FRAMES = 0.5


def degraded_html(conditions: dict | None) -> str:
    """A warning when the session ran on a machine that could not keep up (the loop
    behind real time, a display missing most frames), '' otherwise. A probe student's
    report of a session at 0.52x real time, 99% of frames missed, said so only in the
    small print of the conditions line."""
    conditions = conditions or {}
    problems = []
    ratio = (conditions.get("loop") or {}).get("real_time_ratio")
    if isinstance(ratio, int | float) and 0 < ratio < DEGRADED_REAL_TIME:
        problems.append(f"the simulation ran at {ratio:.2f}\u00d7 real time")
    for client, t in sorted((conditions.get("frame_timing") or {}).items()):
        missed, of = _missed_share(t)
        if missed > DEGRADED_MISSED_FRAMES:
            problems.append(f"the {client} display missed {100 * missed:.0f}% of its {of}")
    if not problems:
        return ""
    return (
        "<p class='degraded'><b>This machine did not keep up:</b> "
        f"{html.escape('; '.join(problems))}. The instruments answered the hands late, so "
        "this score says something about the machine too, not only about the trainee; "
        "practise again on a less busy machine to compare.</p>"
    )


def _missed_share(timing: dict) -> tuple[float, str]:
    """The share of a client's display that it missed, and of what: its display slots
    when it counted them (a headset: ``missed_slots`` of ``paced``, what ``surgisim vr``
    prints as "missed"), else its frames (0 with none)."""
    if int(timing.get("paced", 0)) > 0:
        return float(timing.get("missed_slots_fraction", 0.0)), "display slots"
    if int(timing.get("frames", 0)) > 0:
        return float(timing.get("missed_fraction", 0.0)), "frames"
    return 0.0, "frames"


def frame_timing_label(client: str, timing: dict) -> str:
    """How a client's display kept up, in a few words (``VIEW display: frame 16.7 ms
    p50, 33.4 ms p99, 0.4% of 5400 frames missed``; a headset's: ``XR display: frame
    100.0 ms p50, 296.0 ms p99, 154 of 415 display slots missed (37.1%), 65 of 260
    frames late``), from the session's ``frame_timing`` condition (the clients'
    ``<dev>/frame_timing`` reports)."""
    frames = int(timing.get("frames", 0))
    head = (
        f"{client} display: frame {1e3 * float(timing.get('frame_period_s_p50', 0.0)):.1f} ms"
        f" p50, {1e3 * float(timing.get('frame_period_s_p99', 0.0)):.1f} ms p99,"
    )
    if "paced" not in timing:
        missed = float(timing.get("missed_fraction", 0.0))
        return f"{head} {100 * missed:.1f}% of {frames} frames missed"
    missed, _ = _missed_share(timing)
    text = (
        f"{head} {int(timing.get('missed_slots', 0))} of {int(timing['paced'])} display"
        f" slots missed ({100 * missed:.1f}%)"
    )
    if "late" in timing:
        text += f", {int(timing['late'])} of {frames} frames late"
    return text


def rescores_html(rescores: Sequence[tuple[str, ScoreResult]]) -> str:
    """Re-scores beside the original verdict: when, under which rubric, the verdict and
    how it was computed (the original verdict is the trainee's record)."""
    if not rescores:
        return ""
    parts = [
        "<h2>Re-scores</h2><p class='note'>The verdict above is the one given when the "
        "session ran; it stays the trainee's record. Re-scores under edited rubrics follow.</p>"
    ]
    for when, r in rescores:
        ctx = r.context or {}
        source = ctx.get("rubric") or ctx.get("scenario") or "an edited rubric"
        flags = []
        if ctx.get("forced"):
            flags.append(
                f"forced: rubric of scenario {ctx.get('scenario')!r} on a session of "
                f"{ctx.get('session_scenario')!r}"
            )
        if ctx.get("metrics_from"):
            flags.append(f"metrics {ctx['metrics_from']}")
        word = "PASS" if r.passed else "FAIL"
        mark = (
            ""
            if r.pass_score is None
            else f" (pass score {pass_score_text(r.pass_score, r.score)})"
        )
        parts.append(
            f"<div class='rescore'><p><b>{word} · score {r.score_text()}/100{mark}</b> — re-scored "
            f"{html.escape(str(when))} under {html.escape(str(source))}"
            + (f" ({html.escape('; '.join(flags))})" if flags else "")
            + f"</p>{explanation_html(r)}"
            f"<details><summary>metrics under this rubric</summary>{metric_table_html(r)}"
            "</details></div>"
        )
    return "".join(parts)
