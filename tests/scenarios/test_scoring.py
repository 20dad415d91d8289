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


def test_mscore_attempt_stopped_early_scores_0_not_100():
    # stopping after 0.1 s with nothing done is "at or better than the expert" on every
    # metric: the weighted mean would be 100; as under FLS, an uncompleted attempt scores 0
    stopped = {"completion_time_s": 0.1, "path_length_cm": 0.0, "ldlj": -5.0, "drops": 0}
    r = score_session(stopped, False, _mscore())
    assert r.score == 0.0 and not r.passed
    assert r.metrics["completion_time_s"].score == 0.0
    assert r.metrics["completion_time_s"].passed is False
    assert r.metrics["path_length_cm"].score == 100.0  # the metrics are still measured
    assert r.explanation["weighted_mean"] == pytest.approx((0 + 2 * 100 + 100 + 100) / 5)
    # where completion is not required, the time still counts as the cut-off (score 0)
    free = score_session(stopped, False, _mscore(require_completion=False))
    assert free.score == pytest.approx(80.0) and not free.passed


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


# ---- explanations, safety, non-finite numbers --------------------------------------------
def _fls_with_safety(**rule):
    return Scoring.model_validate(
        {
            "metrics": {
                "completion_time_s": {},
                "drops": {"penalty": 20},
                "instrument_collisions": {"penalty": 5},
                "out_of_view_time_s": {"penalty": 2},
                "path_length_cm": {},
            },
            "rule": {"kind": "fls", "cutoff_s": 300, "target_s": 48, "pass_score": 73.4, **rule},
        }
    )


def test_fls_target_time_sets_the_normaliser_and_scores_100():
    scoring = _fls_with_safety()
    assert scoring.rule.normaliser == 252
    r = score_session(
        {"completion_time_s": 48, "drops": 0, "instrument_collisions": 0}, True, scoring
    )
    assert r.score == pytest.approx(100.0)
    r = score_session({"completion_time_s": 168, "drops": 1}, True, scoring)
    assert r.score == pytest.approx(100 * (300 - 168 - 20) / 252)
    assert r.metrics["drops"].penalty_s == 20 and r.metrics["drops"].role == "penalty"
    assert r.metrics["path_length_cm"].role == "reported"
    assert r.metrics["instrument_collisions"].value is None  # not measured: no penalty, n/a


def test_safety_penalties_move_the_fls_score():
    scoring = _fls_with_safety()
    clean = score_session({"completion_time_s": 80, "drops": 0}, True, scoring)
    unsafe = score_session(
        {
            "completion_time_s": 80,
            "drops": 0,
            "instrument_collisions": 20,
            "out_of_view_time_s": 30,
        },
        True,
        scoring,
    )
    assert clean.passed and not unsafe.passed
    assert clean.score - unsafe.score == pytest.approx(100 * (20 * 5 + 30 * 2) / 252)


def test_speed_beyond_the_target_cannot_absorb_penalties():
    """Capping the sum at 100 let a 30 s run's speed absorb 3 instrument collisions and
    3 s out of view (21 s of penalties): it scored 100, like a clean 48 s run, and
    counted toward a proficiency rule of 100. Time beyond the target earns nothing."""
    scoring = _fls_with_safety()
    clean_fast = score_session({"completion_time_s": 30, "drops": 0}, True, scoring)
    assert clean_fast.score == pytest.approx(100.0)
    metrics = {"completion_time_s": 30, "instrument_collisions": 3, "out_of_view_time_s": 3}
    unsafe_fast = score_session(metrics, True, scoring)
    assert unsafe_fast.score == pytest.approx(100 * (252 - 21) / 252)
    assert unsafe_fast.explanation["time_s"] == 48
    assert "faster than the target" in unsafe_fast.explanation["time_from"]
    # and a slower run with the same penalties never scores above the faster one
    slower = score_session({**metrics, "completion_time_s": 60}, True, scoring)
    assert slower.score < unsafe_fast.score


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), "12"])
def test_a_non_finite_metric_is_an_error_not_a_silent_zero(bad):
    from scenarios.errors import ScenarioError

    with pytest.raises(ScenarioError, match="drops"):
        score_session({"completion_time_s": 80, "drops": bad}, True, _fls_with_safety())
    with pytest.raises(ScenarioError, match="completion_time_s"):
        score_session({"completion_time_s": bad, "drops": 0}, True, _fls_with_safety())


def test_a_metric_not_in_the_rubric_is_never_read():
    # a damaged metric the rubric does not name does not stop the score
    r = score_session({"completion_time_s": 80, "ldlj": float("nan")}, True, _fls_with_safety())
    assert r.passed


@pytest.mark.parametrize(
    "rubric, needle",
    [
        ({"penalty": float("inf")}, "finite"),
        ({"penalty": float("nan")}, "finite"),
        ({"limit": float("inf")}, "finite"),
        ({"benchmark": {"mean": 1, "sd": float("nan")}}, "finite"),
    ],
)
def test_non_finite_parameters_are_refused(rubric, needle):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=needle):
        Scoring.model_validate(
            {
                "metrics": {"drops": rubric},
                "rule": {"kind": "mscore"} if "benchmark" in rubric else {"kind": "fls"},
            }
        )


def test_rule_specific_settings_under_the_wrong_rule_are_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="benchmark is part of the mscore rule"):
        Scoring.model_validate(
            {"metrics": {"drops": {"benchmark": {"mean": 0, "sd": 1}}}, "rule": {"kind": "fls"}}
        )
    with pytest.raises(ValidationError, match="penalty is part of the fls rule"):
        Scoring.model_validate({"metrics": {"drops": {"penalty": 20}}, "rule": {"kind": "mscore"}})
    with pytest.raises(ValidationError, match="make drops count more, give it a larger penalty"):
        Scoring.model_validate(
            {"metrics": {"drops": {"penalty": 20, "weight": 10}}, "rule": {"kind": "fls"}}
        )
    with pytest.raises(ValidationError, match="not both"):
        Scoring.model_validate(
            {"metrics": {}, "rule": {"kind": "fls", "target_s": 48, "normaliser_s": 252}}
        )
    with pytest.raises(ValidationError, match="below cutoff_s"):
        Scoring.model_validate({"metrics": {}, "rule": {"kind": "fls", "target_s": 300}})


def test_a_stored_fls_rubric_with_its_default_weights_still_loads():
    """model_dump writes every metric's weight out (1): a stored FLS rubric re-read for
    its key or its proficiency rule must not be refused for the weight it never set."""
    fls = Scoring.model_validate({"metrics": {"drops": {"penalty": 20}}, "rule": {"kind": "fls"}})
    again = Scoring.model_validate(fls.model_dump(mode="json"))
    assert again.metrics["drops"].weight == 1.0 and again.metrics["drops"].penalty == 20


def test_mscore_with_nothing_to_score_is_an_error_not_zero():
    from scenarios.errors import ScenarioError

    with pytest.raises(ScenarioError, match="nothing to score"):
        score_session({"clutch_count": 5.0}, True, _mscore())


def test_mscore_reported_metrics_do_not_count():
    scoring = Scoring.model_validate(
        {
            "metrics": {
                "completion_time_s": {"benchmark": {"mean": 60, "sd": 10}},
                "clutch_count": {},
            },
            "rule": {"kind": "mscore"},
        }
    )
    r = score_session({"completion_time_s": 60, "clutch_count": 500}, True, scoring)
    assert r.passed and r.score == 100 and r.metrics["clutch_count"].role == "reported"


def test_stored_results_without_the_newer_fields_still_load():
    from scenarios.scoring import ScoreResult

    old = score_session({"completion_time_s": 84, "drops": 1}, True, _fls_with_safety()).as_dict()
    for m in old["metrics"].values():
        for key in ("group", "role", "penalty_per_unit", "penalty_s"):
            m.pop(key)
    old.pop("explanation")
    old.pop("context")
    back = ScoreResult.from_dict(old)
    assert back.score == pytest.approx(old["score"]) and back.explanation == {}


def test_a_score_just_below_its_pass_score_never_reads_as_equal():
    """91.56 fails a pass score of 91.6: the reason must not read "91.6 is below 91.6"."""
    from scenarios.scoring import pass_score_text, score_text

    scoring = _fls_with_safety(pass_score=91.6)
    r = score_session({"completion_time_s": 69.27}, True, scoring)  # 91.5595...
    assert not r.passed
    assert r.reasons == ["score 91.56 is below the pass score 91.6"]
    assert r.score_text() == "91.56" and r.pass_score == 91.6
    # one decimal otherwise, the pass score without trailing zeros
    assert score_text(91.56481) == "91.6" and score_text(91.56481, 85) == "91.6"
    assert score_text(84.96, 85) == "84.96" and pass_score_text(85, 84.96) == "85"
    assert score_text(73.4, 73.4) == "73.4"  # equal: passes, nothing to tell apart


def test_a_metric_that_does_not_apply_keeps_the_limit_the_rubric_set():
    """A camera scene has nothing to drop: drops do not apply, but the instructor's limit
    is shown ("at most 0"), not hidden behind "n/a"."""
    from scenarios.explain import contribution, how_it_counts

    scoring = _mscore()
    r = score_session({"completion_time_s": 10.0}, True, scoring)
    drops = r.metrics["drops"]
    assert (drops.value, drops.passed, drops.threshold) == (None, None, 0)
    assert how_it_counts(drops) == "at most 0"
    assert contribution(drops, r) == "does not apply"
    assert r.passed  # a limit on a metric that does not apply fails nothing


def test_the_verdict_of_a_run_stopped_before_its_end_says_so_whatever_its_score():
    from scenarios.glossary import verdict_text

    assert verdict_text(True) == "PASS" and verdict_text(False) == "FAIL"
    assert verdict_text(True, interrupted=True) == "FAIL (stopped by the user)"
