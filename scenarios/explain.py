"""How a score came out, in words and arithmetic: the lines a report and the command line
print under a verdict.

Built from :attr:`scenarios.scoring.ScoreResult.explanation` (the terms the scorer
actually used), so the arithmetic shown is the arithmetic done: evaluating the formula
line gives the score (the tests parse it back). Numbers are rounded for reading; the
formula still adds up to the printed score within that rounding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scenarios.glossary import info, with_unit
from scenarios.scoring import (
    MetricScore,
    ScoreResult,
    below_pass_reason,
    pass_score_text,
    score_text,
)

MINUS = "\u2212"
TIMES = "\u00d7"


def num(value: float) -> str:
    """A number for a formula: whole numbers without decimals, others with up to two."""
    if float(value).is_integer():
        return f"{value:.0f}"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text


def _count_noun(noun: str, value: float) -> str:
    """``drop`` -> ``drops`` for a count other than 1; units (``s out of view``) unchanged."""
    if not noun or value == 1 or noun.split(" ")[0] in ("s", "cm", "mm", "N", "µm"):
        return noun
    return noun + ("es" if noun.endswith("s") else "s")


@dataclass(frozen=True)
class Explanation:
    """A score, explained.

    Attributes:
        rule_line: the rule in words (what the formula is).
        metric_lines: per scored metric, how it counted (MScore: its own score).
        formula: the arithmetic with the numbers, ending in ``= score``.
        outcome: what the score means against the pass mark, and any cap or floor.
    """

    rule_line: str
    metric_lines: list[str]
    formula: str
    outcome: str

    def lines(self) -> list[str]:
        """Everything, in reading order."""
        return [self.rule_line, *self.metric_lines, self.formula, self.outcome]


def explain(result: ScoreResult) -> Explanation | None:
    """The explanation of ``result``, or None for a result stored before results carried
    their terms (re-score it to get one)."""
    terms = result.explanation
    if not terms:
        return None
    if terms["kind"] == "fls":
        return _fls(result, terms)
    return _mscore(result, terms)


def _fls(result: ScoreResult, t: dict) -> Explanation:
    target = t.get("target_s")
    denominator = (
        f"({num(t['cutoff_s'])} {MINUS} {num(target)})"
        if target is not None
        else num(t["normaliser_s"])
    )
    rule = (
        f"FLS-style: score = (cut-off {MINUS} time {MINUS} penalties) / "
        + (f"(cut-off {MINUS} target time)" if target is not None else "normaliser")
        + f" {TIMES} 100, between 0 and 100"
    )
    parts = [num(t["cutoff_s"]), f"{num(round(t['time_s'], 2))}"]
    lines = []
    if t["time_from"] != "measured":
        lines.append(f"time: {num(round(t['time_s'], 2))} s ({t['time_from']})")
    clean = []
    for p in t["penalties"]:
        if not p["seconds"]:
            clean.append(info(p["metric"]).label.lower())
            continue
        noun = _count_noun(info(p["metric"]).noun, p["value"])
        parts.append(f"{num(p['per_unit'])} {TIMES} {num(round(p['value'], 2))} {noun}".rstrip())
        lines.append(
            # the value as the formula uses it (12.93, not 12.9: 12.9 x 5 is not 64.65)
            f"{info(p['metric']).label}: {_as_used(p['metric'], p['value'])} {TIMES} "
            f"{num(p['per_unit'])} s per {per_unit(p['metric'])} = "
            f"{num(round(p['seconds'], 2))} s of penalty "
            f"({_points(p['seconds'], t)})"
        )
    if clean:
        lines.append("no penalty for: " + ", ".join(clean))
    result_text = score_text(t["uncapped"], t["pass_score"])
    formula = f"({f' {MINUS} '.join(parts)}) / {denominator} {TIMES} 100 = {result_text}"
    if t["uncapped"] > 100:
        formula += " \u2192 100 (the score is capped at 100)"
    elif t["uncapped"] < 0:
        formula += " \u2192 0 (the score cannot go below 0)"
    return Explanation(rule, lines, formula, _outcome(result, t["pass_score"]))


def _as_used(metric: str, value: float) -> str:
    """A penalised metric's value with its unit, rounded as the formula rounds it."""
    unit = info(metric).unit
    text = num(round(value, 2))
    return f"{text} {unit}" if unit else text


def _points(seconds: float, t: dict) -> str:
    """A penalty's points, as taken from the score: the formula's share, and what of it
    was really taken when the score is held at 0 or 100 (a penalty on a score already 0
    took nothing, though the formula's sum goes below 0)."""
    points = 100.0 * seconds / t["normaliser_s"]
    text = f"{MINUS}{points:.1f} points"
    penalties = sum(100.0 * p["seconds"] / t["normaliser_s"] for p in t["penalties"])
    before = t["uncapped"] + penalties  # the score of the time alone
    taken = min(max(before, 0.0), 100.0) - min(max(t["uncapped"], 0.0), 100.0)
    if penalties - taken < 0.05:
        return text
    if taken < 0.05:
        held = "already 0" if t["uncapped"] < 0 else "over 100 before them, capped at 100"
        return f"{text} in the formula, none taken: the score was {held}"
    return (
        f"{text} in the formula; the penalties took {taken:.1f} of their "
        f"{penalties:.1f} points before the score reached " + ("0" if t["uncapped"] < 0 else "100")
    )


def mscore_line(m: MetricScore, zero_at_sd: float, completed: bool = True) -> str:
    """How one metric's own score came out under the MScore rule."""
    label = info(m.name).label
    if m.name == "completion_time_s" and not completed:
        return (
            f"{label} {with_unit(m.name, m.value)}: not completed, the cut-off counts "
            f"\u2192 {m.score:.0f}"
        )
    if m.benchmark_mean is None:
        verdict = "within" if m.passed else "beyond"
        return (
            f"{label} {value_text(m)}: {verdict} the limit "
            f"{with_unit(m.name, m.threshold)} \u2192 {m.score:.0f}"
        )
    bench = f"{with_unit(m.name, m.benchmark_mean)} \u00b1 {with_unit(m.name, m.benchmark_sd)}"
    sign = -1.0 if m.higher_is_better else 1.0
    worse = sign * (m.value - m.benchmark_mean)
    if worse <= 0:
        value = value_text(m)
        return f"{label} {value}: at or better than {_mean_of(m)} {bench} \u2192 100"
    if not m.benchmark_sd:
        return f"{label} {value_text(m)}: worse than {bench} (SD 0) \u2192 0"
    sds = worse / m.benchmark_sd
    return (
        f"{label} {value_text(m)}: {sds:.3g} SD worse than {bench} \u2192 "
        f"100 {TIMES} (1 {MINUS} {sds:.3g} / {num(zero_at_sd)}) = {num(m.score)}"
        + (" (floored at 0)" if m.score == 0 else "")
    )


def _mean_of(m: MetricScore) -> str:
    """Whose mean a benchmark is: an expert's where the rubric says it is published
    expert data, else the benchmark's (a documented parameter is no expert's time)."""
    return "the expert mean" if m.benchmark_published else "the benchmark mean"


def _mscore(result: ScoreResult, t: dict) -> Explanation:
    rule = (
        "MScore-style: each metric scores 100 at or better than its benchmark mean (an "
        f"expert's, where published), falling to 0 at {num(t['zero_at_sd'])} SD worse; the "
        f"score is their weighted mean. To pass, every metric must be within "
        f"{num(t['k_sd'])} SD of its benchmark mean (or its limit): a good time cannot make "
        "up for a safety metric."
    )
    lines = [
        mscore_line(result.metrics[term["metric"]], t["zero_at_sd"], result.completed)
        for term in t["terms"]
    ]
    products = " + ".join(
        f"{num(term['score'])} {TIMES} {num(term['weight'])}" for term in t["terms"]
    )
    mean = t.get("weighted_mean", t["score"])
    # terms and result to two decimals: rounded to one, four terms of which one read 99.0
    # (98.975) added up to 99.75, not to the 99.7 shown
    formula = f"({products}) / {num(t['total_weight'])} = {num(mean)}"
    if "weighted_mean" in t:
        # not "stopped early": a run that ran out of time is not completed either
        formula += (
            " \u2192 0 (the exercise was not completed: an attempt not completed scores 0, "
            "whether it ran out of time or was stopped)"
        )
    return Explanation(rule, lines, formula, _outcome(result, None))


def _outcome(result: ScoreResult, pass_score: float | None) -> str:
    word = "PASS" if result.passed else "FAIL"
    if result.passed:
        why = (
            f"score {score_text(result.score, pass_score)} is at least the pass score "
            f"{pass_score_text(pass_score, result.score)}"
            if pass_score is not None
            else "every scored metric within its pass mark"
        )
        return f"{word}: {why}."
    return f"{word}: " + "; ".join(_reasons(result, pass_score)) + "."


#: The reason a score failed its pass score, as stored (older results rounded both to
#: one decimal, which could print "91.6 is below the pass score 91.6").
_BELOW_PASS = re.compile(r"^score \S+ is below the pass score \S+$")


def _reasons(result: ScoreResult, pass_score: float | None) -> list[str]:
    """The stored reasons, the one about the pass score written again from the numbers."""
    if pass_score is None:
        return list(result.reasons)
    fresh = below_pass_reason(result.score, pass_score)
    return [fresh if _BELOW_PASS.match(r) else r for r in result.reasons]


#: How a report marks a timer still running when the attempt ended: its value counts up
#: to the end (the documented rule), and "1.82 s ... at most 20 s: pass" read as a step
#: done in time when it was never done.
RUNNING_AT_END = "still running at the end"


def value_text(m: MetricScore) -> str:
    """A metric's value with its unit, and the mark of a timer still running at the end
    (``1.82 s, still running at the end``)."""
    text = with_unit(m.name, m.value)
    return f"{text}, {RUNNING_AT_END}" if m.running_at_end else text


def contribution(m: MetricScore, result: ScoreResult) -> str:
    """What metric ``m`` did to the score, in a few words ("-7.9 points", "reported")."""
    t = result.explanation
    if m.value is None:
        return "does not apply"
    if m.role == "reported":
        return "reported, not scored"
    if t.get("kind") == "fls":
        if m.role == "time":
            return f"{MINUS}{num(round(t['time_s'], 2))} s in the formula"
        if m.penalty_s == 0:
            return "none"
        if m.penalty_s is not None:
            return f"{MINUS}{num(round(m.penalty_s, 2))} s ({_points(m.penalty_s, t)})"
        return "pass/fail limit"
    if t.get("kind") == "mscore" and m.score is not None and m.weight > 0:
        share = m.score * m.weight / t["total_weight"]
        return f"{num(m.score)}/100 {TIMES} weight {num(m.weight)} \u2192 {share:.1f} points"
    return "pass/fail limit" if m.threshold is not None else ""


def per_unit(name: str) -> str:
    """What one unit of a metric is, after "per": ``drop``, ``second out of view``."""
    noun = info(name).noun or "unit"
    if noun.startswith("s "):
        return "second " + noun[2:]
    return noun


def benchmark_origin(published: bool | None) -> str:
    """What a benchmark's numbers are, from its rubric's ``published`` flag, in the words
    the HTML report and the terminal table both print: a number the author chose must not
    read as expert data ("expert 27 s ± 10 s" for camera targeting's chosen time). None:
    the rubric is not at hand, nothing is said."""
    if published is None:
        return ""
    return "published" if published else "parameter, not expert data"


def how_it_counts(m: MetricScore, *, benchmark: bool = True, published: bool | None = None) -> str:
    """The rubric's rule for metric ``m`` in words ("20 s per drop", "expert 27 ± 10 s
    (published)", "benchmark 27 ± 10 s (parameter, not expert data)": ``published`` is the
    benchmark's flag, None when the rubric is not at hand, which claims no expert);
    without ``benchmark``, where a table shows it in a column of its own, just that it is
    scored against one)."""
    if m.role == "time":
        return "the time in the formula"
    if m.role == "penalty":
        text = f"{num(m.penalty_per_unit)} s per {per_unit(m.name)}"
        if m.threshold is not None:
            text += f"; at most {with_unit(m.name, m.threshold)}"
        return text
    if m.role == "benchmark":
        if not benchmark:
            return "scored against the expert benchmark"
        text = (
            f"{'expert' if published else 'benchmark'} {with_unit(m.name, m.benchmark_mean)} "
            f"\u00b1 {with_unit(m.name, m.benchmark_sd)}"
        )
        origin = benchmark_origin(published)
        return f"{text} ({origin})" if origin else text
    if m.role == "limit":
        if m.threshold is None:  # stored before results kept the limit of a metric n/a
            return "a pass/fail limit"
        return f"at {'least' if m.higher_is_better else 'most'} {with_unit(m.name, m.threshold)}"
    return "reported only"
