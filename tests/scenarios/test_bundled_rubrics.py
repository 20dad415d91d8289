"""Every bundled rubric: safety always counts, the numbers come from sources, not from the
synthetic operators. Sessions are built directly (tests/scenarios/traces.py): a clean
attempt at a passing pace, then the same attempt with one kind of safety fault."""

from __future__ import annotations

import pytest

from scenarios.evaluate import score_trace
from scenarios.loader import library_names, load_scenario, resolve
from scenarios.schema import Action, FLSRule
from scenarios.scoring import unscored_safety

from .traces import scenario_trace

BUNDLED = sorted(library_names())


def passing_time_s(scenario) -> float:
    """A time that passes with no faults, read off the rubric: for FLS, halfway between
    the target time (score 100) and the time that scores the pass mark; for MScore, the
    expert mean time."""
    rule = scenario.scoring.rule
    if isinstance(rule, FLSRule):
        target = rule.cutoff_s - rule.normaliser
        at_pass = rule.cutoff_s - rule.pass_score / 100.0 * rule.normaliser
        return 0.5 * (target + at_pass)
    bench = scenario.scoring.metrics["completion_time_s"].benchmark
    return bench.mean


# a fault at "many" / "long": per second of the attempt, not tuned to any rubric
FAULTS = {
    "scenery contacts every 2 s": {"contacts_every_s": 2.0},
    "instrument clashes every 2 s": {"clashes_every_s": 2.0},
    "excessive force 25% of the time": {"force_fraction": 0.25},
    "an instrument out of view half the time": {"out_of_view_fraction": 0.5},
    "a held object touching the scenery every 2 s": {"held_contacts_every_s": 2.0},
    "three drops": {"drops": 3},
}


def _applies(scenario, fault: str) -> bool:
    psms = [a for a in scenario.scene.arms if a.kind == "psm"]
    if fault in ("an instrument out of view half the time", "three drops"):
        return bool(psms)
    if fault == "instrument clashes every 2 s":
        return len(psms) >= 2
    if fault == "a held object touching the scenery every 2 s":
        return bool(psms)
    return True


@pytest.mark.parametrize("name", BUNDLED)
def test_a_clean_attempt_at_a_passing_pace_passes(name):
    scenario = load_scenario(name)
    metrics, result = score_trace(scenario, scenario_trace(scenario, passing_time_s(scenario)))
    assert result.passed, (name, result.score, result.reasons, metrics)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", BUNDLED)
def test_safety_faults_fail_every_bundled_rubric(name, fault):
    scenario = load_scenario(name)
    if not _applies(scenario, fault):
        pytest.skip(f"{fault}: not possible in {name}")
    duration = passing_time_s(scenario)
    _, clean = score_trace(scenario, scenario_trace(scenario, duration))
    metrics, faulty = score_trace(scenario, scenario_trace(scenario, duration, **FAULTS[fault]))
    assert not faulty.passed, (name, fault, faulty.score, metrics)
    assert faulty.score < clean.score, (name, fault)


def test_the_reviewers_session_fails_peg_transfer():
    """500 collisions, 120 s of excessive force and 150 s out of view once scored 97.8 and
    passed peg transfer."""
    from scenarios.scoring import score_session

    scoring = load_scenario("peg-transfer").scoring
    metrics = {
        "completion_time_s": 168.0,
        "drops": 0.0,
        "instrument_collisions": 100.0,
        "environment_collisions": 400.0,
        "collisions": 500.0,
        "excessive_force_time_s": 120.0,
        "out_of_view_time_s": 150.0,
    }
    result = score_session(metrics, True, scoring)
    assert result.score == 0.0 and not result.passed


@pytest.mark.parametrize("name", BUNDLED)
def test_every_safety_metric_counts(name):
    """Each risk-and-safety metric a session of this scene measures moves the score or the
    verdict (a penalty, a benchmark or a limit)."""
    assert unscored_safety(load_scenario(name)) == []


def test_unscored_safety_names_what_is_missing():
    scenario = load_scenario("peg-transfer")
    scenario.scoring.metrics.pop("out_of_view_time_s")
    scenario.scoring.metrics["drops"].penalty = None
    assert unscored_safety(scenario) == ["out_of_view_time_s", "drops"]


@pytest.mark.parametrize("name", BUNDLED)
def test_rubric_headers_cite_sources_not_synthetic_runs(name):
    header = "".join(
        line for line in resolve(name).read_text().splitlines(keepends=True) if line[:1] == "#"
    )
    assert "Rubric:" in header and ("Ritter" in header or "mscore" in header.lower())
    for tell in ("seeds 0", "Measured with the synthetic", "Set from synthetic", "expert near"):
        assert tell not in header, (name, tell)


def test_at_least_one_bundled_rubric_is_mscore_with_labelled_benchmarks():
    rubrics = [load_scenario(n).scoring for n in BUNDLED]
    mscore = [s for s in rubrics if s.rule.kind == "mscore"]
    assert mscore
    for scoring in mscore:
        for rule in scoring.metrics.values():
            if rule.benchmark is not None:
                assert rule.benchmark.source, "every benchmark says where it comes from"


def _targets_only(environment: bool):
    """peg-transfer's arms with its objects made spheres, fixed scenery or not."""
    scenario = load_scenario("peg-transfer")
    for obj in scenario.scene.objects:
        obj.type = "sphere"
        obj.params = {"radius_m": 0.004, "environment": environment}
    for name in ("drops", "held_object_collisions"):
        scenario.scoring.metrics.pop(name, None)
    return scenario


def test_drops_are_not_asked_for_when_nothing_can_be_picked_up():
    """Only fixed scenery (``environment: true``): nothing can be dropped or held, so no
    warning asks to score drops (the probe's b-targets.yaml was warned)."""
    assert "drops" not in unscored_safety(_targets_only(environment=True))
    missing = unscored_safety(_targets_only(environment=False))
    assert "drops" in missing and "held_object_collisions" in missing


def test_a_spawned_graspable_object_still_asks_for_drops():
    scenario = _targets_only(environment=True)
    spawn = scenario.scene.objects[0].model_copy(
        update={"id": "fb", "type": "box", "params": {"size_m": [0.01] * 3}}
    )
    scenario.exercise.events[0].do[0] = Action(spawn=spawn)
    assert "drops" in unscored_safety(scenario)
