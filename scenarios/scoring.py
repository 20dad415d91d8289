"""Scoring a session's metrics under a scenario's rubric: the same scorer for humans and
algorithms, live or re-scored later from stored metrics.

Two rules (see ``shared/notes/scoring.md``):

* MScore-style: every metric has an expert benchmark (mean, SD) or a plain limit; a
  metric passes when it is no worse than ``mean + k_sd * SD``; the session passes only if
  every metric passes (no compensation). The 0-100 score is the weighted mean of
  per-metric scores: 100 at or better than the expert mean, falling linearly to 0 at
  ``zero_at_sd`` SDs worse.
* FLS-style: ``score = max(0, cutoff - time - sum(penalty x metric)) / normaliser x 100``;
  an unfinished task scores its time as the cut-off. Passes at ``pass_score``.

A metric the rubric names but the session did not measure (it does not apply) is left
out and reported as such, never scored as zero.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from scenarios.schema import HIGHER_IS_BETTER, FLSRule, MetricRule, MScoreRule, Scoring


@dataclass(frozen=True)
class MetricScore:
    """One metric's verdict.

    Attributes:
        name: metric name (unit in the name, e.g. ``path_length_cm``).
        value: measured value, or None when the metric does not apply.
        score: 0-100 contribution (None when not scored).
        passed: whether it meets its threshold (None when it has none).
        threshold: the pass boundary in the metric's units (None when none).
        benchmark_mean, benchmark_sd: the expert benchmark when given.
        weight: weight in the overall score.
        higher_is_better: direction of the metric.
    """

    name: str
    value: float | None
    score: float | None
    passed: bool | None
    threshold: float | None
    benchmark_mean: float | None
    benchmark_sd: float | None
    weight: float
    higher_is_better: bool


@dataclass(frozen=True)
class ScoreResult:
    """The verdict on a session."""

    rule: str
    score: float
    passed: bool
    completed: bool
    metrics: dict[str, MetricScore]
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """Plain data for JSON and the records database."""
        return asdict(self)


def _better(value: float, than: float, higher: bool) -> bool:
    return value >= than if higher else value <= than


def _metric_mscore(name: str, value: float, rule: MetricRule, mscore: MScoreRule) -> MetricScore:
    higher = name in HIGHER_IS_BETTER
    sign = -1.0 if higher else 1.0
    threshold = None
    passed = None
    score = None
    bench = rule.benchmark
    if bench is not None:
        threshold = bench.mean + sign * mscore.k_sd * bench.sd
        passed = _better(value, threshold, higher)
        worse_by = sign * (value - bench.mean)  # > 0 when worse than the expert mean
        if worse_by <= 0:
            score = 100.0
        elif bench.sd == 0:
            score = 0.0
        else:
            score = max(0.0, 100.0 * (1.0 - worse_by / (mscore.zero_at_sd * bench.sd)))
    if rule.limit is not None:
        within = _better(value, rule.limit, higher)
        passed = within if passed is None else (passed and within)
        threshold = rule.limit if threshold is None else threshold
        if score is None:
            score = 100.0 if within else 0.0
    return MetricScore(
        name,
        value,
        score,
        passed,
        threshold,
        bench.mean if bench else None,
        bench.sd if bench else None,
        rule.weight,
        higher,
    )


def score_session(metrics: dict[str, float], completed: bool, scoring: Scoring) -> ScoreResult:
    """Score measured ``metrics`` (name -> value) under ``scoring``.

    Args:
        metrics: the session's measured metrics; names absent here do not apply.
        completed: whether the exercise was completed.
        scoring: the rubric from the scenario (or an edited one, for re-scoring).
    """
    rule = scoring.rule
    results: dict[str, MetricScore] = {}
    reasons: list[str] = []
    for name, metric_rule in scoring.metrics.items():
        value = metrics.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            results[name] = MetricScore(
                name,
                None,
                None,
                None,
                None,
                None,
                None,
                metric_rule.weight,
                name in HIGHER_IS_BETTER,
            )
            continue
        value = float(value)
        if isinstance(rule, MScoreRule):
            results[name] = _metric_mscore(name, value, metric_rule, rule)
        else:
            passed = None
            if metric_rule.limit is not None:
                passed = _better(value, metric_rule.limit, name in HIGHER_IS_BETTER)
            results[name] = MetricScore(
                name,
                value,
                None,
                passed,
                metric_rule.limit,
                None,
                None,
                metric_rule.weight,
                name in HIGHER_IS_BETTER,
            )
    failed = [m.name for m in results.values() if m.passed is False]
    if failed:
        reasons.append(f"below the pass mark on: {', '.join(failed)}")
    if isinstance(rule, MScoreRule):
        scored = [m for m in results.values() if m.score is not None and m.weight > 0]
        total_weight = sum(m.weight for m in scored)
        score = sum(m.score * m.weight for m in scored) / total_weight if total_weight else 0.0
        passed = not failed
    else:
        score, passed = _fls(metrics, completed, scoring, rule, results, reasons)
        passed = passed and not failed
    if scoring.require_completion and not completed:
        passed = False
        reasons.append("the exercise was not completed")
    return ScoreResult(rule.kind, float(score), bool(passed), bool(completed), results, reasons)


def _fls(metrics, completed, scoring, rule: FLSRule, results, reasons) -> tuple[float, bool]:
    time_s = metrics.get("completion_time_s")
    if time_s is None or not completed:
        time_s = rule.cutoff_s
    penalty = 0.0
    for name, metric_rule in scoring.metrics.items():
        value = metrics.get(name)
        if metric_rule.penalty and value is not None and name != "completion_time_s":
            penalty += metric_rule.penalty * float(value)
    raw = max(0.0, rule.cutoff_s - float(time_s) - penalty)
    score = min(100.0, 100.0 * raw / rule.normaliser_s)
    if score < rule.pass_score:
        reasons.append(f"score {score:.1f} is below the pass score {rule.pass_score:g}")
    return score, score >= rule.pass_score
