"""Warnings about valid scenarios: each placed at the line of the setting at fault, with
what happens and the fix; the bundled scenarios have none."""

from __future__ import annotations

import pytest

from scenarios.lint import scenario_warnings, time_past_cutoff, unknown_prerequisites
from scenarios.loader import LIBRARY, library_names, load_scenario, parse_scenario

PEG = (LIBRARY / "peg-transfer.yaml").read_text()


def _line_of(text: str, needle: str) -> int:
    """The first line that holds ``needle`` outside a comment."""
    return next(i + 1 for i, line in enumerate(text.splitlines()) if needle in line.split("#")[0])


@pytest.mark.parametrize("name", library_names())
def test_bundled_scenarios_have_no_warnings(name):
    assert scenario_warnings(load_scenario(name)) == []


def test_a_misspelt_prerequisite_is_a_warning_at_its_entry_with_the_closest_name():
    text = PEG.replace("prerequisites: []", "prerequisites:\n  - ring-walk\n  - Peg-Transfr")
    found = unknown_prerequisites(parse_scenario(text, "drill.yaml"))
    assert len(found) == 1
    (warning,) = found
    assert (warning.file, warning.line, warning.col) == ("drill.yaml", _line_of(text, "Transfr"), 5)
    assert "'Peg-Transfr' is not a bundled scenario" in warning.message
    assert warning.message.endswith("Did you mean 'peg-transfer'?")
    assert str(warning).startswith(f"drill.yaml:{warning.line}:5: warning: prerequisites[1]:")


def test_a_prerequisite_in_other_case_finds_its_bundled_name():
    text = PEG.replace("prerequisites: []", "prerequisites: [NEEDLE-TISSUE]")
    (warning,) = unknown_prerequisites(parse_scenario(text, "drill.yaml"))
    assert warning.message.endswith("Did you mean 'needle-tissue'?")


def test_a_prerequisite_of_ones_own_is_a_warning_without_a_guess():
    text = PEG.replace("prerequisites: []", "prerequisites: [our-suturing-drill-2]")
    (warning,) = unknown_prerequisites(parse_scenario(text, "drill.yaml"))
    assert "one of your own" in warning.message and "Did you mean" not in warning.message


def test_an_fls_time_limit_past_the_cutoff_is_a_warning_at_the_limit():
    text = PEG.replace("time_limit_s: 300", "time_limit_s: 420")
    (warning,) = time_past_cutoff(parse_scenario(text, "drill.yaml"))
    assert warning.line == _line_of(text, "time_limit_s: 420")
    assert "time_limit_s (420 s)" in warning.message and "cutoff_s (300 s)" in warning.message
    assert "score is 0" in warning.message and warning.message.endswith("time_limit_s: 300.")


def test_a_default_time_limit_past_the_cutoff_is_placed_at_the_exercise():
    text = PEG.replace("  time_limit_s: 300\n", "")
    (warning,) = time_past_cutoff(parse_scenario(text, "drill.yaml"))
    assert (warning.line, warning.col) == (_line_of(text, "exercise:"), 1)
    assert "600 s by default" in warning.message


def test_a_time_limit_within_the_cutoff_or_under_mscore_is_no_warning():
    shorter = PEG.replace("time_limit_s: 300", "time_limit_s: 200")
    assert not time_past_cutoff(parse_scenario(shorter))
    assert not time_past_cutoff(load_scenario("peg-transfer"))  # equal to the cut-off
    camera = (LIBRARY / "camera-targeting.yaml").read_text()
    longer = camera.replace("time_limit_s: 180", "time_limit_s: 3000")
    assert not time_past_cutoff(parse_scenario(longer))  # mscore: no cut-off


def test_a_bundled_plan_on_other_steps_is_a_warning_at_the_plan():
    """The probe's crossover exercise named ``plan: {kind: peg_transfer}`` with its rings
    on other pegs: the plan ignored the steps and pushed for the whole time limit."""
    from scenarios.lint import plan_for_other_steps

    text = PEG.replace('target: "board:peg6"', 'target: "board:peg8"', 1)
    assert text != PEG
    (warning,) = plan_for_other_steps(parse_scenario(text, "cross.yaml"))
    assert warning.line == _line_of(text, "plan:")
    assert "the peg_transfer plan was written for peg-transfer" in warning.message
    assert "README 'Your own controller'" in warning.message
    # tolerances tuned, same steps and names: the plan still fits, no warning
    tuned = PEG.replace("time_limit_s:", "time_limit_s: 299 #", 1)
    assert plan_for_other_steps(parse_scenario(tuned, "tuned.yaml")) == []
    # no plan, no warning
    unplanned = "\n".join(ln for ln in PEG.splitlines() if not ln.startswith("plan:"))
    assert plan_for_other_steps(parse_scenario(unplanned, "own.yaml")) == []


def test_a_proficiency_limit_on_a_metric_the_scene_never_measures_is_a_warning():
    """camera-targeting has no instrument and nothing to pick up: a ``drops`` limit copied
    from peg transfer is always met, and said so at the limit; ``collisions`` is fine."""
    from scenarios.lint import limits_never_measured

    text = (LIBRARY / "camera-targeting.yaml").read_text()
    old = "proficiency: {consecutive: 2, total: 5}"
    assert old in text
    text = text.replace(
        old, "proficiency: {consecutive: 2, total: 5, limits: {drops: 0, collisions: 0}}"
    )
    (warning,) = limits_never_measured(parse_scenario(text, "ct.yaml"))
    assert warning.line == _line_of(text, "limits: {drops")
    assert "never measures drops, so the limit is always met" in warning.message
    assert limits_never_measured(parse_scenario(PEG, "peg.yaml")) == []  # drops apply there


def test_a_rubric_metric_the_scene_never_measures_is_a_warning():
    """A re-check: ring walk's scope is driven by no hand, so its path is never traced, and
    a rubric limit on ``path_length_cm[ECM]`` read "does not apply" in every session,
    validated clean. An instrument's own path length is measured: no warning."""
    from scenarios.lint import metrics_never_measured

    text = (LIBRARY / "ring-walk.yaml").read_text()
    old = "  metrics:\n"
    assert text.count(old) == 1
    ecm = text.replace(old, old + "    path_length_cm[ECM]: {limit: 1}\n")
    (warning,) = metrics_never_measured(parse_scenario(ecm, "rw.yaml"))
    assert warning.line == _line_of(ecm, "path_length_cm[ECM]")
    assert "never measures path_length_cm[ECM]" in warning.message
    assert "`teleoperated: true`" in warning.message
    psm = text.replace(old, old + "    path_length_cm[PSM1]: {limit: 100}\n")
    assert metrics_never_measured(parse_scenario(psm, "rw.yaml")) == []


def _said(text: str) -> list[str]:
    return [str(w) for w in scenario_warnings(parse_scenario(text, "peg.yaml"))]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("fov_deg: 70", "fov_deg: 1.22", "fov_deg is in degrees (1.22 rad is 70): radians?"),
        (
            "    - at: 0\n",
            "    - at: 0\n      do: [{message: late}]\n    - at: 400\n",
            "exercise.events[1].at: 400 s is not before the time limit",
        ),
    ],
)
def test_a_unit_slip_or_an_event_that_can_never_happen_is_warned_of(old, new, expected):
    """Each validated "ok": a field of view in radians, an event after the time limit."""
    assert PEG.count(old) == 1
    said = _said(PEG.replace(old, new))
    assert any(expected in w for w in said), said


def test_lengths_in_millimetres_and_angles_in_degrees_are_warned_of_at_their_line():
    text = PEG.replace(
        "  objects:\n",
        "  objects:\n    - {id: cube, type: box, pose: {position_m: [0.02, 0.0, 0.02], "
        "rpy_rad: [0, 0, 45]}, params: {size_m: [10, 10, 10]}}\n",
        1,
    )
    said = _said(text)
    line = _line_of(text, "id: cube")
    size = [w for w in said if "params.size_m: 10 m" in w]
    turn = [w for w in said if "pose.rpy_rad: 45 rad is more than a full turn" in w]
    assert len(size) == 1 and size[0].startswith(f"peg.yaml:{line}:")
    assert len(turn) == 1 and "degrees?" in turn[0]
    assert not [w for w in _said(PEG) if "?" in w and ("metres" in w or "radians" in w)]


def test_mscore_without_required_completion_is_a_warning_at_the_setting():
    """The auditor's finding: under mscore, ``require_completion: false`` ranked giving up
    at 0.5 s (85.7) above a completed run with one clash (82.1). Validate says so at the
    line, with what it does and the fix; under fls the cut-off leaves nothing, no warning."""
    from scenarios.lint import mscore_without_completion

    camera = (LIBRARY / "camera-targeting.yaml").read_text()
    old = "  rule: {kind: mscore, k_sd: 1, zero_at_sd: 4}\n"
    text = camera.replace(old, old + "  require_completion: false\n")
    assert text != camera
    (warning,) = mscore_without_completion(parse_scenario(text, "ct.yaml"))
    assert (warning.file, warning.line) == ("ct.yaml", _line_of(text, "require_completion"))
    assert "not completed on what it measured, so doing little scores well" in warning.message
    assert "true is the default" in warning.message
    said = map(str, scenario_warnings(parse_scenario(text, "ct.yaml")))
    assert any("warning: scoring.require_completion" in w for w in said)
    # the default (true), or true written out, is no warning
    assert mscore_without_completion(load_scenario("camera-targeting")) == []
    written = camera.replace(old, old + "  require_completion: true\n")
    assert mscore_without_completion(parse_scenario(written)) == []
    # fls: an attempt not completed scores 0 at the cut-off anyway
    fls = PEG.replace("  rule: {kind: fls", "  require_completion: false\n  rule: {kind: fls")
    assert fls != PEG
    assert mscore_without_completion(parse_scenario(fls)) == []


def test_a_scored_ldlj_is_a_warning_that_suggests_sparc():
    """An auditor's finding: LDLJ is measured only above the movement speed (noise
    outweighs a slow motion), so a rubric benchmarking it passed a crawled attempt that
    it was never measured on. Validate says so at the metric; reported only is fine."""
    from scenarios.lint import ldlj_scored

    camera = (LIBRARY / "camera-targeting.yaml").read_text()
    old = "    ldlj: {}\n"  # reported only, as bundled
    text = camera.replace(old, "    ldlj:\n      benchmark: {mean: -15, sd: 2}\n")
    assert text != camera
    (warning,) = ldlj_scored(parse_scenario(text, "ct.yaml"))
    assert (warning.file, warning.line) == ("ct.yaml", _line_of(text, "    ldlj:"))
    assert "Score sparc instead" in warning.message
    assert ldlj_scored(load_scenario("camera-targeting")) == []


def test_a_grasp_by_an_arm_without_jaws_is_a_warning_naming_the_arms_that_can():
    """``grasped: {object: ..., by: ECM}`` validated "ok" and the step waited forever."""
    old = 'done_when: {placed: {object: "board/ring0", target: "board:peg6"}}'
    new = 'done_when: {grasped: {object: "board/ring0", by: ECM}}'
    assert PEG.count(old) == 1 and "kind: ecm" in PEG
    text = PEG.replace(old, new)
    (warning,) = [w for w in _said(text) if "no jaws" in w]
    assert ".by: 'ECM' is an endoscope arm with no jaws" in warning
    assert "arms that can grasp: PSM1, PSM2" in warning
    assert not [w for w in _said(PEG) if "no jaws" in w]


@pytest.mark.parametrize(
    ("mass", "expected"),
    [("5", "is 5,000,000 kg/m³, denser than any solid"), ("0.000001", "lighter than any")],
)
def test_a_mass_no_solid_of_its_size_has_is_a_warning_at_the_mass(mass, expected):
    """``mass_kg: 5`` on a 1 cm cube (5 g meant) validated "ok": 5,000,000 kg/m³, where
    osmium, the densest solid, is 22,590. A 5 g cube (5,000 kg/m³) is no warning."""
    cube = "    - {id: cube, type: box, params: {size_m: [0.01, 0.01, 0.01], mass_kg: %s}}\n"
    said = _said(PEG.replace("  objects:\n", "  objects:\n" + cube % mass, 1))
    dense = [w for w in said if "params.mass_kg" in w]
    assert len(dense) == 1 and expected in dense[0], said
    if mass == "5":
        assert "(5 g is 0.005 kg): grams?" in dense[0]
    fine = PEG.replace("  objects:\n", "  objects:\n" + cube % "0.005", 1)
    assert not [w for w in _said(fine) if "mass_kg" in w]


def test_a_hold_no_shorter_than_the_time_limit_is_a_warning():
    """``held: {for_s: 1e9}`` validated: the step can never be done."""
    from scenarios.lint import holds_past_the_limit

    old = '{placed: {object: "board/ring0", target: "board:peg6"}}'
    new = '{held: {for_s: 1e9, trigger: {near: {object: "board/ring0", target: "board:peg6"}}}}'
    text = PEG.replace(old, new, 1)
    assert text != PEG
    (warning,) = holds_past_the_limit(parse_scenario(text, "held.yaml"))
    assert warning.line == _line_of(text, "for_s: 1e9")
    assert "exercise.steps[0].done_when.held.for_s: 1e+09 s is not shorter" in warning.message
    for name in library_names():
        assert holds_past_the_limit(load_scenario(name)) == []


THRESHOLDS = "thresholds: {excessive_force_n: 2.5}"


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (
            "thresholds: {excessive_force_n: 2500}",
            "excessive_force_n: 2500 N is more than an arm's motors press a tip with (measured "
            "at most 38.7 N",
        ),
        ("thresholds: {idle_speed_m_s: 5}", "idle_speed_m_s: 5 m/s is faster than the tele"),
        ("thresholds: {movement_speed_m_s: 10}", "(10 mm/s is 0.01): mm/s?"),
    ],
)
def test_a_threshold_in_the_wrong_unit_is_a_warning_at_its_line(new, expected):
    """The instructor's finding: ``excessive_force_n: 2500`` (2.5 N in mN) and speeds in
    mm/s validated clean, and a re-scored expert session then read 0 s of excessive
    force, all idle, no movement, PASS. Validate now says so at the threshold."""
    from scenarios.lint import implausible_thresholds

    assert PEG.count(THRESHOLDS) == 1
    text = PEG.replace(THRESHOLDS, new)
    (warning,) = implausible_thresholds(parse_scenario(text, "thr.yaml"))
    assert warning.line == _line_of(text, new) and expected in warning.message
    assert any(expected in w for w in _said(text))
    # the bundled values, and values up to the bounds, are no warning
    fine = "thresholds: {excessive_force_n: 30, idle_speed_m_s: 0.02, movement_speed_m_s: 0.2}"
    assert implausible_thresholds(parse_scenario(PEG.replace(THRESHOLDS, fine))) == []


@pytest.mark.parametrize(
    ("new", "hinted"),
    [
        ("thresholds: {excessive_force_n: 2500}", "(2500 mN is 2.5): mN?"),
        ("thresholds: {excessive_force_n: 40}", None),
        ("thresholds: {idle_speed_m_s: 5}", "(5 mm/s is 0.005): mm/s?"),
        ("thresholds: {movement_speed_m_s: 0.25}", None),
    ],
)
def test_the_smaller_unit_is_suggested_only_where_it_reads_as_a_threshold(new, hinted):
    """A re-check found a 40 N limit told "(40 mN is 0.04): millinewtons?" and 0.25 m/s
    "(0.25 mm/s is 0.00025)": readings no one would mean. Past the bound they still warn."""
    from scenarios.lint import implausible_thresholds

    (warning,) = implausible_thresholds(parse_scenario(PEG.replace(THRESHOLDS, new)))
    if hinted is None:
        assert "?" not in warning.message and warning.message.endswith("."), warning.message
    else:
        assert warning.message.endswith(hinted), warning.message


def test_the_speed_bound_is_the_teleoperation_speed_limit():
    """scenarios may not import haptics: the bound is a copy, kept equal here."""
    from haptics.teleop.config import TeleopConfig
    from scenarios.lint import TIP_SPEED_LIMIT_M_S

    assert TeleopConfig().max_tip_speed_m_s == TIP_SPEED_LIMIT_M_S


def test_the_force_bound_is_the_documented_measurement():
    from scenarios.lint import MEASURED_MAX_TIP_FORCE_N

    docs = (LIBRARY.parents[1] / "docs" / "scenarios.md").read_text()
    assert f"{MEASURED_MAX_TIP_FORCE_N:g} N with the goal" in docs


STEP0 = 'done_when: {placed: {object: "board/ring0", target: "board:peg6"}}'


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            STEP0,
            "done_when: {time_elapsed_s: 400}",
            "exercise.steps[0].done_when.time_elapsed_s: 400 s is not before the time limit "
            "of 300 s, so this condition never holds",
        ),
        (
            "    - when: {dropped: {object: any}}",
            "    - when: {any: [{dropped: {object: any}}, {time_elapsed_s: 300}]}",
            "exercise.events[1].when.any[1].time_elapsed_s: 300 s is not before",
        ),
        (
            STEP0,
            "done_when: {entered: {region: {center_m: [0.0, 0.0, -0.05], radius_m: 0.01}}}",
            "done_when.entered.region.center_m: [0, 0, -0.05] m is below the floor (z = 0)",
        ),
    ],
)
def test_a_condition_that_can_never_hold_is_a_warning_at_its_line(old, new, expected):
    """The instructor's finding: a step ``time_elapsed_s: 400`` under a 300 s limit, an
    ``entered`` region below the floor or off the scene, validated clean and could never
    be done (the docs already warned of an event ``at`` past the limit)."""
    assert PEG.count(old) == 1
    text = PEG.replace(old, new)
    found = [w for w in scenario_warnings(parse_scenario(text, "x.yaml")) if expected in w.message]
    assert len(found) == 1, _said(text)
    assert found[0].line == _line_of(text, new.strip())
    inside = PEG.replace(STEP0, "done_when: {time_elapsed_s: 299}")
    assert not [w for w in _said(inside) if "never holds" in w]


@pytest.mark.parametrize(
    "region",
    [
        "{center_m: [0.0, 0.0, 0.004], radius_m: 0.012}",  # touch the board here
        "{center_m: [0.0, 0.0, -0.001], radius_m: 0.03}",  # reaches over the board
        "{center_m: [0.13, 0.0, 0.03], radius_m: 0.01}",  # past the objects' box: tips go
    ],
)
def test_a_region_partly_above_the_floor_is_no_warning_of_the_scenario(region):
    """A re-check found the region warning judged the centre alone and took workspace_m
    (the box the objects must stay in) for where tips go: a "touch the board here"
    sphere centred 4 mm up with a 12 mm radius was "most likely never entered"."""
    text = PEG.replace(STEP0, f"done_when: {{entered: {{region: {region}}}}}")
    assert not [w for w in _said(text) if "never entered" in w], _said(text)


def test_collisions_scored_with_its_parts_is_a_warning_of_double_counting():
    """The instructor's finding: ``collisions`` (the sum of instrument and environment
    collisions) penalised beside its parts charged every clash twice, unwarned."""
    from scenarios.lint import collisions_counted_twice

    old = "    instrument_collisions: {penalty: 5}\n"
    assert PEG.count(old) == 1
    text = PEG.replace(old, "    collisions: {penalty: 5}\n" + old)
    (warning,) = collisions_counted_twice(parse_scenario(text, "dc.yaml"))
    assert warning.line == _line_of(text, "collisions: {penalty: 5}")
    assert "instrument_collisions and environment_collisions are scored too" in warning.message
    assert "every such clash counts twice" in warning.message
    # a limit on the sum only gates proficiency: it counts nothing twice
    limited = PEG.replace(old, "    collisions: {limit: 3}\n" + old)
    assert collisions_counted_twice(parse_scenario(limited)) == []
    for name in library_names():
        assert collisions_counted_twice(load_scenario(name)) == []
