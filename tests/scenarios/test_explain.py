"""The arithmetic a report shows is the arithmetic done: the formula line, evaluated,
gives the score (FLS and MScore, many metric values drawn from a seeded generator)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from scenarios.explain import MINUS, TIMES, explain
from scenarios.loader import library_names, load_scenario
from scenarios.scoring import score_session


def evaluate_formula(formula: str) -> tuple[float, float]:
    """(value of the left-hand side, the printed result) of ``... = 44.3``, the words
    (units, nouns) dropped and the value clamped to 0-100 as the score is."""
    lhs, rhs = formula.split(" = ", 1)
    words = re.sub(r"[^\W\d_][\w-]*", " ", lhs)  # nouns and units ("held-object", "s")
    expression = words.replace(MINUS, "-").replace(TIMES, "*")
    expression = re.sub(r"[^0-9.()+\-*/ ]", " ", expression)
    expression = re.sub(r"(?<=\d)\s+(?=[\d(])", " ", expression)
    value = eval(expression, {"__builtins__": {}})
    printed = float(re.match(r"\s*(-?[0-9.]+)", rhs).group(1))
    return value, printed


def _metrics(rng, names):
    out = {"completion_time_s": float(rng.uniform(5, 320))}
    for name in names:
        if name.endswith("_s"):
            out[name] = float(rng.uniform(0, 30))
        elif name.endswith(("_cm", "_mm", "_um", "_n")):
            out[name] = float(rng.uniform(0, 200))
        elif name in ("ldlj", "sparc"):
            out[name] = float(rng.uniform(-40, -1))
        else:
            out[name] = float(rng.integers(0, 8))
    return out


def _rounding(terms: dict) -> float:
    """How far the printed numbers (two decimals; MScore's terms and result too: at one
    decimal, 99.0 + 100 + 100 + 100 over 4 read 99.7 where the terms add up to 99.75)
    can move the result."""
    if terms["kind"] == "fls":
        seconds = 0.005 * (1 + sum(p["per_unit"] for p in terms["penalties"]))
        return 100.0 * seconds / terms["normaliser_s"] + 0.051
    return 0.0051 * sum(t["weight"] for t in terms["terms"]) / terms["total_weight"] + 0.0051


@pytest.mark.parametrize("name", sorted(library_names()))
def test_the_formula_adds_up_to_the_score(name):
    scoring = load_scenario(name).scoring
    rng = np.random.default_rng(20261203)
    for _ in range(40):
        metrics = _metrics(rng, [n for n in scoring.metrics if n != "completion_time_s"])
        result = score_session(metrics, bool(rng.random() < 0.9), scoring)
        e = explain(result)
        value, printed = evaluate_formula(e.formula)
        tolerance = _rounding(result.explanation)
        assert printed == pytest.approx(value, abs=tolerance), e.formula
        # an uncompleted MScore attempt: the formula gives the weighted mean, then "-> 0"
        stopped = result.explanation.get("weighted_mean")
        expected = result.score if stopped is None else stopped
        assert min(100.0, max(0.0, value)) == pytest.approx(expected, abs=tolerance)
        if stopped is not None:
            assert result.score == 0.0 and "not completed" in e.formula
        assert ("PASS" if result.passed else "FAIL") in e.outcome


def test_the_fls_formula_reads_like_the_hand_calculation():
    scoring = load_scenario("peg-transfer").scoring
    result = score_session({"completion_time_s": 168, "drops": 1}, True, scoring)
    e = explain(result)
    assert e.formula.startswith(f"(300 {MINUS} 168 {MINUS} 20 {TIMES} 1 drop) / (300 {MINUS} 48)")
    assert e.formula.endswith("= 44.4")
    assert "below the pass score 73.4" in e.outcome


def test_a_stored_reason_that_rounded_score_and_pass_alike_is_written_again():
    """Results stored before scores kept their decimals said "score 91.6 is below the pass
    score 91.6"; the explanation writes that reason again from the numbers."""
    import dataclasses

    scoring = load_scenario("peg-transfer").scoring.model_copy(deep=True)
    scoring.rule.pass_score = 91.6
    result = score_session({"completion_time_s": 69.27, "drops": 0}, True, scoring)
    stale = dataclasses.replace(result, reasons=["score 91.6 is below the pass score 91.6"])
    e = explain(stale)
    assert e.outcome == "FAIL: score 91.56 is below the pass score 91.6."
    assert e.formula.endswith("= 91.56")
    passed = explain(score_session({"completion_time_s": 60, "drops": 0}, True, scoring))
    assert passed.outcome == "PASS: score 95.2 is at least the pass score 91.6."


def test_rounding_noise_reads_as_zero():
    from scenarios.glossary import with_unit

    assert with_unit("tremor_rms_um", 8.41e-25) == "0 µm"  # a still simulated controller
    assert with_unit("peak_force_n", 0.000123) == "0.000123 N"


@pytest.mark.parametrize("name", sorted(library_names()))
def test_each_penalty_line_multiplies_out_as_printed(name):
    """ "Excessive force: 12.9 s x 5 s per second = 64.65 s" did not multiply out: the
    value was printed to three figures, the product from two decimals."""
    scoring = load_scenario(name).scoring
    rng = np.random.default_rng(20261205)
    line = re.compile(rf": (-?[\d.]+)[^{TIMES}]* {TIMES} ([\d.]+) s per .* = ([\d.]+) s of penalty")
    checked = 0
    for _ in range(40):
        metrics = _metrics(rng, [n for n in scoring.metrics if n != "completion_time_s"])
        for text in explain(score_session(metrics, True, scoring)).metric_lines:
            match = line.search(text)
            if match:
                value, per_unit, seconds = map(float, match.groups())
                assert value * per_unit == pytest.approx(seconds, abs=0.005 * per_unit + 0.005)
                checked += 1
    if any(rule.penalty for rule in scoring.metrics.values()):
        assert checked


def test_an_mscore_attempt_out_of_time_is_not_said_to_have_stopped_early():
    """A run that ran out of time was not stopped early: the zero is explained as an
    attempt not completed (the probe's b-run540 report said "stopped early")."""
    scoring = load_scenario("camera-targeting").scoring
    metrics = {name: 0.0 for name in scoring.metrics}
    e = explain(score_session(metrics, False, scoring))
    assert "an attempt not completed scores 0" in e.formula
    assert "stopped early" not in e.formula


def test_a_parameter_benchmark_is_no_experts_mean_in_the_explanation():
    """camera-targeting's benchmarks are documented parameters: the explanation said "at
    or better than the expert mean 27 s ± 10 s" where the table says "parameter, not
    expert data". A published benchmark is still the expert's."""
    from scenarios.explain import mscore_line

    scoring = load_scenario("camera-targeting").scoring
    result = score_session({"completion_time_s": 20.0, "path_length_cm": 50.0}, True, scoring)
    line = mscore_line(result.metrics["completion_time_s"], 4.0)
    assert "at or better than the benchmark mean" in line and "expert" not in line
    published = scoring.model_copy(deep=True)
    published.metrics["completion_time_s"].benchmark.published = True
    published.metrics["completion_time_s"].benchmark.source = "a study"
    result = score_session({"completion_time_s": 20.0, "path_length_cm": 50.0}, True, published)
    assert "the expert mean" in mscore_line(result.metrics["completion_time_s"], 4.0)


def test_penalty_points_say_what_was_taken_from_a_score_held_at_0():
    """The formula went to -2.7 -> 0 while the metric table said "-1.9 points" for a
    penalty: of a score already at 0 nothing more is taken, and near 0 only the rest."""
    from scenarios.explain import contribution

    scoring = load_scenario("needle-handover").scoring  # FLS: cut-off 120 s, target 12 s

    def penalty_text(time_s, drops):
        result = score_session({"completion_time_s": time_s, "drops": drops}, True, scoring)
        assert result.explanation["kind"] == "fls"
        return result, contribution(result.metrics["drops"], result), explain(result)

    result, text, e = penalty_text(30.0, 1)  # 83.3 before the drop's 18.5 points
    assert result.score > 0 and text == f"{MINUS}20 s ({MINUS}18.5 points)"
    result, text, e = penalty_text(120.0, 1)  # the time alone scores 0
    assert result.score == 0
    assert "none taken: the score was already 0" in text
    assert any("none taken: the score was already 0" in line for line in e.metric_lines)
    result, text, _ = penalty_text(118.0, 1)  # 1.9 points left for the drop to take
    assert result.score == 0
    assert "took 1.9 of their 18.5 points before the score reached 0" in text
