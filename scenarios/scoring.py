"""Scoring a session's metrics under a scenario's rubric: the same scorer for humans and
algorithms, live or re-scored later.

Two rules (see ``shared/notes/scoring.md`` and ``docs/scenarios.md``):

* MScore-style: every scored metric has an expert benchmark (mean, SD) or a plain limit;
  a metric passes when it is no worse than ``mean + k_sd * SD``; the session passes only
  if every metric passes (no compensation). The 0-100 score is the weighted mean of
  per-metric scores: 100 at or better than the expert mean, falling linearly to 0 at
  ``zero_at_sd`` SDs worse.
* FLS-style: ``score = max(0, cutoff - time - sum(penalty x metric)) / normaliser x 100``;
  an unfinished task scores its time as the cut-off, and a time faster than the target
  (``cutoff - normaliser``) counts as the target, so the score is at most 100 and every
  penalty always costs points (capping the sum let speed absorb them). Passes at
  ``pass_score``. Any metric with a ``limit`` must also be within it.

Every result carries its own explanation (:attr:`ScoreResult.explanation`): the terms
the score was computed from, so that a report can show the arithmetic and it adds up.

A metric the rubric names but the session did not measure (it does not apply) is left
out and reported as such, never scored as zero. A metric that is measured but not a
finite number (NaN, infinity: a damaged record) is an error, never a silent 0.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace

from scenarios.errors import ScenarioError
from scenarios.glossary import info, timer_of
from scenarios.schema import FLSRule, MetricRule, MScoreRule, Scoring


@dataclass(frozen=True)
class MetricScore:
    """One metric's verdict.

    Attributes:
        name: metric name (unit in the name, e.g. ``path_length_cm``).
        value: measured value, or None when the metric does not apply.
        score: 0-100 contribution under the MScore rule (None when not scored).
        passed: whether it meets its threshold (None when it has none).
        threshold: the pass boundary in the metric's units (None when none); given even
            when the metric does not apply, so a report shows the limit that was set.
        benchmark_mean, benchmark_sd: the benchmark when given.
        benchmark_published: whether that benchmark is published expert data (False: a
            documented parameter; None: not known, a result stored before this was kept).
        weight: weight in the overall score.
        higher_is_better: direction of the metric.
        group: ``"efficiency"`` or ``"safety"`` (MScore's groups).
        role: how it counts: ``"time"`` (the FLS formula's time), ``"penalty"``,
            ``"benchmark"``, ``"limit"`` or ``"reported"`` (shown, not scored).
        penalty_per_unit: FLS penalty (s per unit of the metric), when it has one.
        penalty_s: the penalty it cost (s), when it has one and applies.
        running_at_end: a timer's metric whose timer was still running when the attempt
            ended: its value counts up to the end, as documented, and reports mark it
            (None: not a timer, or a result stored before this was kept).
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
    group: str = "efficiency"
    role: str = "reported"
    penalty_per_unit: float | None = None
    penalty_s: float | None = None
    benchmark_published: bool | None = None
    running_at_end: bool | None = None


@dataclass(frozen=True)
class ScoreResult:
    """The verdict on a session.

    Attributes:
        rule: ``"fls"`` or ``"mscore"``.
        score: 0-100.
        passed: the verdict.
        completed: whether the exercise was completed.
        metrics: per metric the rubric names, its verdict.
        reasons: why it did not pass (empty when it passed).
        explanation: the terms of the score (see :func:`fls_terms`, :func:`mscore_terms`);
            empty in results stored before explanations existed.
        context: where this result came from when it is a re-score (the rubric's
            scenario, whether it was forced onto another scenario's session, whether the
            metrics were measured again from the trace).
    """

    rule: str
    score: float
    passed: bool
    completed: bool
    metrics: dict[str, MetricScore]
    reasons: list[str] = field(default_factory=list)
    explanation: dict = field(default_factory=dict)
    context: dict = field(default_factory=dict)

    @property
    def pass_score(self) -> float | None:
        """The score needed to pass (FLS rubrics; None under MScore)."""
        return self.explanation.get("pass_score") if self.explanation else None

    def score_text(self) -> str:
        """The score as every verdict line shows it (see :func:`score_text`)."""
        return score_text(self.score, self.pass_score)

    def as_dict(self) -> dict:
        """Plain data for JSON and the records database."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ScoreResult:
        """Rebuild a result stored as JSON (older results lack the newer fields)."""
        known = set(MetricScore.__dataclass_fields__)
        metrics = {
            k: MetricScore(**{f: x for f, x in v.items() if f in known})
            for k, v in data["metrics"].items()
        }
        return cls(
            data["rule"],
            data["score"],
            data["passed"],
            data["completed"],
            metrics,
            list(data.get("reasons", [])),
            dict(data.get("explanation") or {}),
            dict(data.get("context") or {}),
        )


def _decimals(score: float, pass_score: float | None) -> int:
    """One decimal, or as many more (up to 6) as it takes for a score and its pass score
    not to read as equal: "91.57 is below 91.6", never "91.6 is below 91.6"."""
    digits = 1
    if pass_score is None or score == pass_score:
        return digits
    while digits < 6 and f"{score:.{digits}f}" == f"{pass_score:.{digits}f}":
        digits += 1
    return digits


def score_text(score: float, pass_score: float | None = None) -> str:
    """A 0-100 score for a line that also gives the verdict: one decimal (a whole number
    would read 92 for a 91.6 that the arithmetic shows), more when it is that close to
    ``pass_score``."""
    return f"{score:.{_decimals(score, pass_score)}f}"


def pass_score_text(pass_score: float, score: float) -> str:
    """A pass score beside ``score`` (see :func:`score_text`), without trailing zeros."""
    text = f"{pass_score:.{_decimals(score, pass_score)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def below_pass_reason(score: float, pass_score: float) -> str:
    """Why a score fails its pass score, in words that cannot read as equal."""
    return (
        f"score {score_text(score, pass_score)} is below the pass score "
        f"{pass_score_text(pass_score, score)}"
    )


def _better(value: float, than: float, higher: bool) -> bool:
    return value >= than if higher else value <= than


def _checked(metrics: dict[str, float], scoring: Scoring) -> dict[str, float]:
    """The rubric's metrics that apply, as floats; a non-finite one is an error."""
    out = {}
    for name in scoring.metrics:
        value = metrics.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ScenarioError(
                f"metric {name!r} is {value!r}, not a number: the session's record is "
                "damaged; re-score it from its trace (surgisim rescore)."
            )
        value = float(value)
        if not math.isfinite(value):
            raise ScenarioError(
                f"metric {name!r} is {value} (not a finite number), so the session cannot be "
                "scored: its record is damaged, or a metric failed to compute. Re-score it "
                "from its trace (surgisim rescore), which measures the metrics again."
            )
        out[name] = value
    return out


def _threshold(rule: MetricRule, scoring: Scoring, higher: bool) -> float | None:
    """A metric's pass boundary: MScore's ``mean + k_sd x SD`` (worse-ward) when it has a
    benchmark, else its limit; None when it has neither."""
    if rule.benchmark is not None and isinstance(scoring.rule, MScoreRule):
        sign = -1.0 if higher else 1.0
        return rule.benchmark.mean + sign * scoring.rule.k_sd * rule.benchmark.sd
    return rule.limit


def pass_marks(scoring: Scoring) -> dict[str, float]:
    """Per metric that has one, the value a session must be no worse than for the metric
    to pass (metric's units): MScore's ``mean + k_sd x SD`` from its benchmark, its limit
    under either rule, the stricter when it has both (both must hold). What a progress
    page draws on each metric's curve, as the pass score on the score's."""
    marks = {}
    for name, rule in scoring.metrics.items():
        higher = info(name).higher_is_better
        bounds = {b for b in (_threshold(rule, scoring, higher), rule.limit) if b is not None}
        if bounds:
            marks[name] = max(bounds) if higher else min(bounds)
    return marks


def _metric(name: str, value: float | None, rule: MetricRule, scoring: Scoring) -> MetricScore:
    """One metric's verdict (its score under MScore, its penalty under FLS)."""
    about = info(name)
    higher = about.higher_is_better
    fls = isinstance(scoring.rule, FLSRule)
    role = "reported"
    if fls and name == "completion_time_s":
        role = "time"
    elif rule.penalty is not None:
        role = "penalty"
    elif rule.benchmark is not None:
        role = "benchmark"
    elif rule.limit is not None:
        role = "limit"
    bench = rule.benchmark
    common = {
        "name": name,
        "value": value,
        "weight": rule.weight,
        "higher_is_better": higher,
        "group": about.group,
        "role": role,
        "benchmark_mean": bench.mean if bench else None,
        "benchmark_sd": bench.sd if bench else None,
        "benchmark_published": bool(bench.published) if bench else None,
        "penalty_per_unit": rule.penalty,
    }
    threshold = _threshold(rule, scoring, higher)
    if value is None:
        return MetricScore(**common, score=None, passed=None, threshold=threshold)
    passed = score = None
    if bench is not None and not fls:
        mscore = scoring.rule
        sign = -1.0 if higher else 1.0
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
        if score is None and not fls:
            score = 100.0 if within else 0.0
    penalty_s = rule.penalty * value if rule.penalty is not None else None
    return MetricScore(
        **common, score=score, passed=passed, threshold=threshold, penalty_s=penalty_s
    )


def score_session(
    metrics: dict[str, float],
    completed: bool,
    scoring: Scoring,
    running_timers: Iterable[str] = (),
) -> ScoreResult:
    """Score measured ``metrics`` (name -> value) under ``scoring``.

    Args:
        metrics: the session's measured metrics; names absent here do not apply.
        completed: whether the exercise was completed.
        scoring: the rubric from the scenario (or an edited one, for re-scoring).
        running_timers: the timers still running when the attempt ended
            (:func:`scenarios.live.timers_running_at_end`): their metrics are marked
            :attr:`MetricScore.running_at_end`; the score is the same.

    Raises:
        ScenarioError: a metric the rubric names is not a finite number, or (MScore) none
            of the rubric's scored metrics applies to the session.
    """
    values = _checked(metrics, scoring)
    results = {
        name: _metric(name, values.get(name), rule, scoring)
        for name, rule in scoring.metrics.items()
    }
    if not completed and isinstance(scoring.rule, MScoreRule):
        results = _uncompleted_time(results)
    results = _mark_running(results, frozenset(running_timers))
    reasons: list[str] = []
    failed = [m.name for m in results.values() if m.passed is False]
    if failed:
        labels = ", ".join(info(n).label.lower() for n in failed)
        reasons.append(f"outside the pass mark on: {labels}")
    if isinstance(scoring.rule, MScoreRule):
        explanation = mscore_terms(results, scoring.rule)
        passed = not failed
        if not completed and scoring.require_completion:
            # as under FLS, where the cut-off time leaves nothing: stopping early must not
            # score (doing nothing for 0.1 s was "at or better than the expert" on every
            # metric, 100/100, and a learning agent's best reward)
            explanation = {**explanation, "weighted_mean": explanation["score"], "score": 0.0}
    else:
        time_s = values.get("completion_time_s", metrics.get("completion_time_s"))
        explanation = fls_terms(time_s, completed, results, scoring.rule)
        if explanation["score"] < scoring.rule.pass_score:
            reasons.append(below_pass_reason(explanation["score"], scoring.rule.pass_score))
        passed = explanation["score"] >= scoring.rule.pass_score and not failed
    if scoring.require_completion and not completed:
        passed = False
        reasons.append("the exercise was not completed")
    return ScoreResult(
        scoring.rule.kind,
        float(explanation["score"]),
        bool(passed),
        bool(completed),
        results,
        reasons,
        explanation,
    )


def _mark_running(
    results: dict[str, MetricScore], running: frozenset[str]
) -> dict[str, MetricScore]:
    """``results`` with each timer metric marked running at the end or not."""
    return {
        name: replace(m, running_at_end=timer_of(name) in running)
        if timer_of(name) is not None and m.value is not None
        else m
        for name, m in results.items()
    }


def running_in(result: ScoreResult | None) -> frozenset[str]:
    """The timers ``result`` marks as running at the end: what a re-score from the stored
    metrics (no trace, no events) carries over."""
    if result is None:
        return frozenset()
    return frozenset(timer_of(n) for n, m in result.metrics.items() if m.running_at_end)


def _uncompleted_time(results: dict[str, MetricScore]) -> dict[str, MetricScore]:
    """Under MScore, an exercise not completed counts its time as the cut-off, beyond any
    benchmark: the completion time scores 0 and misses its pass mark (the time measured
    stays the value shown)."""
    m = results.get("completion_time_s")
    if m is None or m.value is None or (m.score is None and m.passed is None):
        return results
    score = None if m.score is None else 0.0
    return {**results, m.name: replace(m, score=score, passed=False)}


def mscore_terms(results: dict[str, MetricScore], rule: MScoreRule) -> dict:
    """The MScore-style score as its terms: per scored metric (score, weight), and the
    weighted mean.

    Raises:
        ScenarioError: no scored metric applies (the score would be undefined).
    """
    scored = [m for m in results.values() if m.score is not None and m.weight > 0]
    total_weight = sum(m.weight for m in scored)
    if not total_weight:
        raise ScenarioError(
            "none of the rubric's weighted metrics applies to this session, so there is "
            f"nothing to score (rubric metrics: {sorted(results)}); give a benchmark or a "
            "limit and a weight above 0 to a metric the session measures."
        )
    return {
        "kind": "mscore",
        "k_sd": rule.k_sd,
        "zero_at_sd": rule.zero_at_sd,
        "terms": [{"metric": m.name, "score": m.score, "weight": m.weight} for m in scored],
        "total_weight": total_weight,
        "score": sum(m.score * m.weight for m in scored) / total_weight,
    }


def fls_terms(
    time_s: float | None, completed: bool, results: dict[str, MetricScore], rule: FLSRule
) -> dict:
    """The FLS-style score as its terms: the cut-off, the time (the cut-off when not
    completed), each penalty (s per unit x value), the normaliser, and the score."""
    counted_time = rule.cutoff_s
    time_from = "not completed: the cut-off counts"
    fastest_s = rule.cutoff_s - rule.normaliser  # the target time: 100 with no penalty
    if completed and time_s is not None:
        counted_time = float(time_s)
        time_from = "measured"
        if counted_time > rule.cutoff_s:
            time_from = "measured, past the cut-off"
        elif counted_time < fastest_s:
            # time beyond the target earns nothing: capping the sum instead let a fast
            # run's speed absorb its penalties (30 s with 18 s of collisions and force
            # scored 100, as a clean run did, and counted toward proficiency)
            counted_time = fastest_s
            time_from = f"measured {float(time_s):.2f} s, faster than the target: the target counts"
    penalties = [
        {
            "metric": m.name,
            "per_unit": m.penalty_per_unit,
            "value": m.value,
            "seconds": m.penalty_s,
        }
        for m in results.values()
        if m.penalty_s is not None
    ]
    raw = rule.cutoff_s - counted_time - sum(p["seconds"] for p in penalties)
    uncapped = 100.0 * raw / rule.normaliser
    return {
        "kind": "fls",
        "cutoff_s": rule.cutoff_s,
        "time_s": counted_time,
        "time_from": time_from,
        "penalties": penalties,
        "target_s": rule.target_s,
        "normaliser_s": rule.normaliser,
        "raw_s": raw,
        "uncapped": uncapped,
        "score": min(100.0, max(0.0, uncapped)),
        "pass_score": rule.pass_score,
    }


#: object types with a needle and tissue it can be driven into (``needle_withdrawals``)
NEEDLE_IN_TISSUE_OBJECTS = frozenset({"suture_pad"})


def _fixed_scenery(obj) -> bool:
    """An object the physics world builds as static scenery: ``environment: true`` or no
    mass (the world's own rule for primitive objects, ``sim/world/boards.py``). Other
    object types (boards with rings, needles, pads) are taken to hold something movable."""
    params = obj.params or {}
    return bool(params.get("environment")) or params.get("mass_kg") == 0


def graspable_objects(scenario) -> list[str]:
    """Ids of the scene's objects, and those its events spawn, that are not fixed scenery:
    the things an instrument could pick up and drop."""
    objects = list(scenario.scene.objects)
    objects += [
        action.spawn
        for event in scenario.exercise.events
        for action in event.do
        if action.spawn is not None
    ]
    return [o.id for o in objects if not _fixed_scenery(o)]


#: The safety metrics every rubric must score where the scene can have them (collisions
#: are judged apart, as a whole or by their two parts; ``peak_force_n`` is optional).
SAFETY_THAT_MUST_COUNT = (
    "excessive_force_time_s",
    "out_of_view_time_s",
    "drops",
    "held_object_collisions",
    "needle_withdrawals",
)


def never_measured(scenario) -> frozenset[str]:
    """Metrics no session of ``scenario`` can have (see :func:`unscored_safety` for the
    rules): out-of-view time without an instrument, drops and held-object contacts
    without an instrument and something to pick up, needle metrics without a needle in
    tissue, the path length of an arm not traced (a scope no hand drives). A limit on one
    of them is always met."""
    instruments = any(a.kind == "psm" for a in scenario.scene.arms)
    out = set()
    if not instruments:
        out.add("out_of_view_time_s")
    if not instruments or not graspable_objects(scenario):
        out |= {"drops", "held_object_collisions"}
    if not any(o.type in NEEDLE_IN_TISSUE_OBJECTS for o in scenario.scene.objects):
        out |= {"needle_withdrawals", "needle_entry_error_mm", "needle_exit_error_mm"}
    # an arm's own path is traced only for instruments and master-driven arms (a scope
    # no hand drives is not recorded: its path length never applies)
    out |= {f"path_length_cm[{a.name}]" for a in scenario.scene.arms if not a.traced}
    return frozenset(out)


#: ``collisions`` is the sum of these two (:mod:`scenarios.metrics`).
COLLISION_PARTS = ("instrument_collisions", "environment_collisions")


def unscored_safety(scenario) -> list[str]:
    """The risk-and-safety metrics a session of ``scenario`` can have that its rubric
    neither penalises nor benchmarks nor limits (``[]`` when safety counts fully).

    Collisions count when ``collisions`` is scored, or both of its parts are; out-of-view
    time applies only to scenes with an instrument (not just a scope); drops and a held
    object touching the scenery only to scenes with an instrument and something it can pick
    up (see :func:`graspable_objects`): targets that are all fixed scenery can be neither
    dropped nor held. Needle withdrawals apply to scenes with a needle and tissue.
    ``peak_force_n`` is optional: excessive-force time is the one that must count.
    """
    scoring = scenario.scoring
    instruments = any(a.kind == "psm" for a in scenario.scene.arms)
    missing = []
    parts = COLLISION_PARTS
    if not scoring.scored("collisions") and not all(scoring.scored(p) for p in parts):
        missing += [p for p in parts if not scoring.scored(p)] if instruments else ["collisions"]
    never = never_measured(scenario)
    needed = [n for n in SAFETY_THAT_MUST_COUNT if n not in never]
    return missing + [n for n in needed if not scoring.scored(n)]
