"""Rubrics: MScore-style (no compensation) and FLS-style (time cap and penalties)."""

from __future__ import annotations

import pytest

from scenarios.schema import Scoring
from scenarios.scoring import score_session


def _mscore(**extra):
    return Scoring.model_validate(
        {
            "metrics": {
                "completion_time_s": {"benchmark": {"mean": 60, "sd": 10}},
                "path_length_cm": {"benchmark": {"mean": 100, "sd": 20}, "weight": 2},
                "ldlj": {"benchmark": {"mean": -8, "sd": 1}},
                "drops": {"limit": 0},
            },
            "rule": {"kind": "mscore", "k_sd": 1.0, "zero_at_sd": 4.0},
            **extra,
        }
    )


def test_mscore_expert_level_scores_100_and_passes():
    r = score_session(
        {"completion_time_s": 55, "path_length_cm": 90, "ldlj": -7.5, "drops": 0}, True, _mscore()
    )
    assert r.score == pytest.approx(100.0) and r.passed and not r.reasons


def test_mscore_no_compensation():
    # excellent everywhere but one metric beyond mean + 1 SD: fails
    r = score_session(
        {"completion_time_s": 75, "path_length_cm": 60, "ldlj": -6, "drops": 0}, True, _mscore()
    )
    assert not r.passed and r.metrics["completion_time_s"].passed is False
    assert r.metrics["completion_time_s"].threshold == 70
    # its own score: 1.5 SD worse than the mean -> 100 * (1 - 1.5 / 4)
    assert r.metrics["completion_time_s"].score == pytest.approx(62.5)
    assert r.score == pytest.approx((62.5 + 2 * 100 + 100 + 100) / 5)


def test_mscore_direction_and_limits():
    r = score_session(
        {"completion_time_s": 60, "path_length_cm": 100, "ldlj": -9.5, "drops": 1}, True, _mscore()
    )
    assert r.metrics["ldlj"].higher_is_better and r.metrics["ldlj"].passed is False
    assert r.metrics["ldlj"].threshold == -9
    assert r.metrics["drops"].passed is False and r.metrics["drops"].score == 0


def test_metric_that_does_not_apply_is_absent_not_zero():
    r = score_session({"completion_time_s": 55, "path_length_cm": 90, "drops": 0}, True, _mscore())
    assert r.metrics["ldlj"].value is None and r.metrics["ldlj"].score is None
    assert r.passed and r.score == pytest.approx(100.0)


def test_incomplete_session_fails():
    r = score_session({"completion_time_s": 55, "path_length_cm": 90, "drops": 0}, False, _mscore())
    assert not r.passed and "not completed" in r.reasons[-1]


def test_fls_formula():
    scoring = Scoring.model_validate(
        {
            "metrics": {"completion_time_s": {}, "drops": {"penalty": 20}},
            "rule": {"kind": "fls", "cutoff_s": 300, "normaliser_s": 237, "pass_score": 50},
        }
    )
    r = score_session({"completion_time_s": 84, "drops": 1}, True, scoring)
    assert r.score == pytest.approx(100 * (300 - 84 - 20) / 237)
    assert r.passed
    slow = score_session({"completion_time_s": 290, "drops": 2}, True, scoring)
    assert slow.score == 0.0 and not slow.passed
    unfinished = score_session({"completion_time_s": 100, "drops": 0}, False, scoring)
    assert unfinished.score == 0.0 and not unfinished.passed


def test_rescoring_under_an_edited_rubric_changes_only_the_score():
    metrics = {"completion_time_s": 75, "path_length_cm": 90, "ldlj": -7, "drops": 0}
    strict = score_session(metrics, True, _mscore())
    lenient_rubric = _mscore()
    lenient_rubric.rule.k_sd = 2.0
    lenient = score_session(metrics, True, lenient_rubric)
    assert not strict.passed and lenient.passed
    assert {k: m.value for k, m in strict.metrics.items()} == {
        k: m.value for k, m in lenient.metrics.items()
    }
