"""The scenario language: valid files load; malformed ones say FILE:LINE:COL and the fix."""

from __future__ import annotations

import textwrap

import pytest

from scenarios.errors import ScenarioError
from scenarios.loader import parse_scenario

VALID = textwrap.dedent(
    """\
    schema_version: 1
    name: mini
    title: Mini exercise
    difficulty: beginner
    estimated_time_s: 60
    scene:
      arms:
        - name: PSM1
          kind: psm
          port: {position_m: [0.0, -0.05, 0.15], rpy_rad: [0.0, 0.0, 0.0]}
      camera:
        pose: {position_m: [0.0, 0.0, 0.2], rpy_rad: [3.14159, 0.0, 0.0]}
      objects:
        - id: board
          type: peg_board
        - id: ring1
          type: ring
          pose: {position_m: [0.0, 0.0, 0.02]}
    exercise:
      steps:
        - id: lift
          instruction: Pick up the ring
          done_when: {grasped: {object: ring1, by: PSM1}}
      events:
        - at: 0
          do: [{message: Go}]
        - when: {dropped: {object: ring1}}
          do: [{message: Dropped}]
    scoring:
      metrics:
        completion_time_s: {benchmark: {mean: 30, sd: 10}}
        drops: {limit: 0}
      rule: {kind: mscore, k_sd: 1.0}
    """
)


def _error(text: str, **kwargs) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "mini.yaml", **kwargs)
    return info.value


def _line_of(text: str, needle: str) -> int:
    return next(i + 1 for i, line in enumerate(text.splitlines()) if needle in line)


def test_valid_scenario_loads():
    s = parse_scenario(VALID, "mini.yaml", object_types={"peg_board", "ring"})
    assert s.name == "mini" and s.scene.arms[0].kind == "psm"
    assert s.exercise.steps[0].done_when.grasped.by == "PSM1"
    assert s.scoring.rule.kind == "mscore"


def test_bad_indentation_points_at_the_line():
    text = VALID.replace("  camera:\n", "   camera:\n", 1)
    err = _error(text)
    assert str(err).startswith("mini.yaml:")
    assert err.line == _line_of(text, "   camera:")
    assert "indentation" in err.message


def test_unknown_field_suggests_the_closest():
    text = VALID.replace("title: Mini", "titel: Mini")
    err = _error(text)
    assert err.line == _line_of(text, "titel:") and err.col == 1
    assert "unknown field 'titel'" in err.message and "Did you mean 'title'" in err.message


def test_unknown_nested_field_reports_its_column():
    text = VALID.replace("kind: psm", "knd: psm")
    err = _error(text)
    assert (err.line, err.col) == (_line_of(text, "knd: psm"), 7)
    assert "scene.arms[0]" in err.message and "Did you mean 'kind'" in err.message


@pytest.mark.parametrize(
    "rule, typo, fields, closest",
    [
        ("{kind: fls, cutoff_s: 300, pass_scor: 90}", "pass_scor", "'pass_score'", "pass_score"),
        ("{kind: mscore, k_sdd: 1.5}", "k_sdd", "'zero_at_sd'", "k_sd"),
    ],
)
def test_unknown_field_of_a_rule_lists_the_fields_of_its_kind(rule, typo, fields, closest):
    """A tagged union's typo is judged against the variant its kind names: an FLS rule's
    typo lists the FLS fields (not MScore's) and suggests the closest."""
    text = VALID.replace("rule: {kind: mscore, k_sd: 1.0}", f"rule: {rule}")
    if "fls" in rule:  # an FLS rubric: penalties, not benchmarks
        text = text.replace("{benchmark: {mean: 30, sd: 10}}", "{}").replace(
            "drops: {limit: 0}", "drops: {penalty: 20}"
        )
    err = _error(text)
    assert err.line == _line_of(text, typo), err
    assert f"unknown field '{typo}' in scoring.rule;" in err.message, err
    assert fields in err.message and f"Did you mean '{closest}'?" in err.message, err


@pytest.mark.parametrize(
    ("old", "new", "key", "home"),
    [
        (
            "rule: {kind: mscore, k_sd: 1.0}",
            "rule: {kind: mscore, k_sd: 1.0, require_completion: false}",
            "require_completion",
            "in scoring.rule: it belongs in scoring, beside rule (not inside it).",
        ),
        (
            "  rule: {kind: mscore",
            "  excessive_force_n: 2.5\n  rule: {kind: mscore",
            "excessive_force_n",
            "it belongs under scoring.thresholds: write thresholds: {excessive_force_n: 2.5}.",
        ),
        (
            "exercise:\n",
            "workspace_m: [[-0.1, -0.1, 0], [0.1, 0.1, 0.3]]\nexercise:\n",
            "workspace_m",
            "in (top level): it belongs under scene: indent it to sit under 'scene:'.",
        ),
        (
            "  rule: {kind: mscore",
            "  time_limit_s: 45\n  rule: {kind: mscore",
            "time_limit_s",
            "in scoring: it belongs in exercise: move it there.",
        ),
        (
            "k_sd: 1.0}",
            "k_sd: 1.0, pass_score: 80}",
            "pass_score",
            "of kind 'fls' only, and this one is kind 'mscore': remove it, or change the kind.",
        ),
    ],
)
def test_a_field_of_another_section_says_where_it_belongs(old, new, key, home):
    """A known field at the wrong level got only "unknown field", the list of the fields
    where it was, and no word of where it goes."""
    text = VALID.replace(old, new, 1)
    err = _error(text)
    line = text.splitlines()[err.line - 1]
    assert line[err.col - 1 :].startswith(key), (err, line)
    assert f"unknown field '{key}' " in err.message and home in err.message, err
    assert "Did you mean" not in err.message


@pytest.mark.parametrize(
    ("entry", "key", "home"),
    [
        ("excessive_force_n: 2.5", "excessive_force_n", "belongs under scoring.thresholds"),
        ("idle_speed_m_s: {}", "idle_speed_m_s", "belongs under scoring.thresholds"),
        ("thresholds: {excessive_force_n: 2.5}", "thresholds", "beside metrics (dedent it"),
    ],
)
def test_a_threshold_or_setting_among_the_metrics_says_where_it_belongs(entry, key, home):
    """A re-check: ``excessive_force_n: 2.5`` among the metrics read "Input should be a
    valid dictionary", ``idle_speed_m_s: {}`` "Did you mean 'idle_time_s'?", and
    ``thresholds:`` nested there was taken for a metric's name."""
    text = VALID.replace("    drops: {limit: 0}", f"    {entry}\n    drops: {{limit: 0}}", 1)
    assert text != VALID
    err = _error(text)
    line = text.splitlines()[err.line - 1]
    assert line[err.col - 1 :].startswith(key), (err, line)
    assert home in err.message and "Did you mean" not in err.message, err


def test_wrong_type_says_what_was_expected():
    text = VALID.replace("estimated_time_s: 60", "estimated_time_s: soon")
    err = _error(text)
    assert err.line == _line_of(text, "estimated_time_s")
    assert "estimated_time_s" in err.message and "'soon'" in err.message and "number" in err.message


def test_unknown_object_in_a_trigger():
    text = VALID.replace("{dropped: {object: ring1}}", "{dropped: {object: rng1}}")
    err = _error(text)
    assert err.line == _line_of(text, "rng1")
    assert "no object 'rng1'" in err.message and "Did you mean 'ring1'" in err.message


def test_unknown_object_type_with_the_world_registry():
    text = VALID.replace("type: ring", "type: rnig")
    err = _error(text, object_types={"peg_board", "ring", "box"})
    assert err.line == _line_of(text, "type: rnig")
    assert "unknown object type 'rnig'" in err.message and "Did you mean 'ring'" in err.message


def test_unknown_metric_and_arm():
    err = _error(VALID.replace("drops: {limit: 0}", "dorps: {limit: 0}"))
    assert "unknown metric 'dorps'" in err.message and "Did you mean 'drops'" in err.message
    err = _error(VALID.replace("by: PSM1", "by: PSM3"))
    assert "no arm 'PSM3'" in err.message


def test_missing_field_and_bad_rules():
    err = _error(VALID.replace("title: Mini exercise\n", ""))
    assert "missing required field 'title'" in err.message
    err = _error(VALID.replace("{kind: mscore, k_sd: 1.0}", "{kind: mscore, k_sd: -1}"))
    assert "k_sd" in err.message and err.line == _line_of(VALID, "rule:")
    err = _error(VALID.replace("do: [{message: Go}]", "do: [{message: Go, fail: timeout}]"))
    assert "exactly one" in err.message


def test_not_a_mapping():
    err = _error("- just\n- a list\n")
    assert "mapping" in err.message


def test_sub_bodies_and_landmarks_of_scene_objects_are_valid_references():
    text = VALID.replace("{dropped: {object: ring1}}", '{dropped: {object: "board/ring3"}}')
    text = text.replace(
        "{grasped: {object: ring1, by: PSM1}}",
        '{placed: {object: "board/ring0", target: "board:peg7"}}',
    )
    parse_scenario(text, "mini.yaml")
    err = _error(text.replace('"board/ring3"', '"bord/ring3"'))
    assert "no object 'bord'" in err.message


def test_held_needs_a_state_and_known_objects():
    held = "{held: {for_s: 1.0, trigger: {centered: {object: ring2}}}}"
    err = _error(VALID.replace("{grasped: {object: ring1, by: PSM1}}", held))
    assert "no object 'ring2'" in str(err) and "ring1" in str(err)
    event = "{held: {for_s: 1.0, trigger: {dropped: {object: ring1}}}}"
    err = _error(VALID.replace("{grasped: {object: ring1, by: PSM1}}", event))
    assert "world event" in str(err) and "'dropped'" in str(err)


# ---- what independent instructors tripped over: each found by writing files from the docs
ONE_ARM = "    - name: PSM1\n      kind: psm\n"
TWO_ARMS = VALID.replace(
    ONE_ARM,
    "    - name: PSM2\n      kind: psm\n      hand: left\n"
    "      port: {position_m: [0.1, -0.05, 0.15]}\n"
    "    - name: PSM1\n      kind: psm\n      hand: right\n",
)


def _last_line_of(text: str, needle: str) -> int:
    return [i + 1 for i, line in enumerate(text.splitlines()) if needle in line][-1]


@pytest.mark.parametrize(
    ("old", "new", "needle", "words"),
    [
        # a check across fields points at the field at fault, not at the model's first line
        (
            "  events:\n",
            "    - {id: lift, instruction: x, done_when: {grasped: {object: ring1, by: PSM1}}}\n"
            "  events:\n",
            "id: lift",
            "duplicate step id 'lift'",
        ),
        ("  camera:\n    pose:", "  camera:\n    arm: ECM2\n    xpose:", "arm: ECM2", "x"),
        (
            "rule: {kind: mscore, k_sd: 1.0}",
            "rule: {kind: mscore, k_sd: 5, zero_at_sd: 2}",
            "zero_at_sd: 2",
            "must be above k_sd",
        ),
        ("drops: {limit: 0}", "drops: {limit: -1}", "limit: -1", "could never be met"),
        (
            "rule: {kind: mscore, k_sd: 1.0}",
            "rule: {kind: mscore}\n  proficiency: {consecutive: 20, total: 12}",
            "consecutive: 20",
            "cannot exceed total",
        ),
        ("{mean: 30, sd: 10}", "{mean: 30, sd: 0}", "sd: 0", "sd: must be above 0 (got 0)."),
        # a bound says the unit its field's name carries, and the fix (it was pydantic's
        # "Input should be greater than or equal to 1")
        (
            "estimated_time_s: 60",
            "estimated_time_s: -5",
            "estimated_time_s",
            "must be above 0 s (got -5). Write it in seconds, above 0.",
        ),
        (
            "title: Mini exercise",
            "title: Mini exercise\nversion: '" + "v" * 57 + "'",
            "version:",
            "version: must be at most 40 characters (this one has 57)",
        ),
        (
            "title: Mini exercise",
            "title: Mini exercise\nversion: 3",
            "version:",
            "as a whole number",
        ),
        # YAML's reading of a number names the field, as the schema's errors do
        (
            "rpy_rad: [3.14159, 0.0, 0.0]",
            "rpy_rad: [3.14159, 0.0, .nan]",
            "3.14159, 0.0, .nan",
            "scene.camera.pose.rpy_rad[2]: '.nan' is not a finite number",
        ),
        # an empty message is refused as an empty fail reason is: both are shown
        ("do: [{message: Go}]", "do: [{message: ''}]", "message: ''", "cannot be empty"),
        (
            "{mean: 30, sd: 10}",
            "{mean: 30, sd: 10, published: true}",
            "published: true",
            "cite it in 'source'",
        ),
        ("drops: {limit: 0}", "drops: {penalty: 20}", "penalty: 20", "part of the fls rule"),
        # numbers are numbers: not yes/no, not quoted strings, counts are whole
        ("k_sd: 1.0", "k_sd: yes", "k_sd: yes", "booleans in YAML"),
        ("k_sd: 1.0", 'k_sd: "1.0"', 'k_sd: "1.0"', "without quotes"),
        ("k_sd: 1.0", "k_sd: twenty", "k_sd: twenty", "in digits"),  # not "without quotes"
        (
            "rule: {kind: mscore, k_sd: 1.0}",
            "rule: {kind: mscore}\n  proficiency: {total: 2.5}",
            "total: 2.5",
            "whole number",
        ),
        # pydantic's words become an instructor's
        ("kind: mscore", "kind: MScore", "kind: MScore", "Did you mean 'mscore'?"),
        ("drops: {limit: 0}", "drops:", "drops:", "Write {}"),
        ("k_sd: 1.0}", "k_sd: 1,5}", "k_sd: 1,5", "decimals with a point"),
        (
            "  objects:\n",
            "  workspace_m: [[1, 1, 1], [0, 0, 0]]\n  objects:\n",
            "workspace_m",
            "min below its max",
        ),
        ("  rule: {kind", "\trule: {kind", "\trule", "indented with a tab"),
        # a placement in params used to replace the pose without a word
        (
            "pose: {position_m: [0.0, 0.0, 0.02]}",
            "pose: {position_m: [0.0, 0.0, 0.02]}\n      params: {position_m: [0.05, 0, 0.02]}",
            "params: {position_m",
            "give the position as pose:",
        ),
        (
            "type: peg_board",
            "type: peg_board\n      params: {rpy_rad: [0, 0, 1.57]}",
            "params: {rpy_rad",
            "give the orientation as pose:",
        ),
        ("type: peg_board", "type: peg_board\n      params: {name: b2}", "name: b2", "is its id"),
    ],
)
def test_an_instructors_mistake_is_located_and_explained(old, new, needle, words):
    assert old in VALID
    text = VALID.replace(old, new, 1)
    if new.endswith("xpose:"):  # the camera case: a fixed pose and an arm are exclusive
        text = text.replace("    xpose:", "    fov_deg: 60\n    near_m: 0.005\n    #")
        words = "is not one of the arms"
    err = _error(text)
    assert err.line == _last_line_of(text, needle), err
    assert words in err.message, err


def test_an_mscore_rubric_with_nothing_to_score_is_refused_at_validation():
    text = VALID.replace(
        "    completion_time_s: {benchmark: {mean: 30, sd: 10}}\n    drops: {limit: 0}\n",
        "    clutch_count: {}\n",
    )
    err = _error(text)
    assert err.line == _line_of(text, "clutch_count"), err
    assert "none of these metrics has a benchmark or a limit" in err.message


def test_two_instruments_on_one_hand_are_refused_at_the_second():
    assert [a.hand for a in parse_scenario(TWO_ARMS).scene.arms] == ["left", "right"]
    text = TWO_ARMS.replace("hand: left", "hand: right")
    err = _error(text)
    assert err.line == _last_line_of(text, "hand: right"), err
    assert "both on hand 'right'" in err.message


@pytest.mark.parametrize(
    ("old", "new", "reported", "words"),
    [
        # a field indented 3 spaces among fields at 2: YAML gives up on the next line, and
        # the hint names the line to fix (it said "two spaces further in": the wrong fix)
        ("exercise:\n  steps:", "exercise:\n   time_limit_s: 60\n  steps:", "  steps:",
         "line {} is indented 3 spaces"),
        # a list item off by one column: no hint before
        ("    - when: {dropped", "     - when: {dropped", "     - when", "in one column"),
    ],
)  # fmt: skip
def test_an_indentation_mistake_names_the_line_to_fix(old, new, reported, words):
    assert old in VALID
    text = VALID.replace(old, new, 1)
    err = _error(text)
    assert err.line == _last_line_of(text, reported), err
    if "{}" in words:
        words = words.format(_last_line_of(text, "time_limit_s: 60"))
    assert words in err.message, err


def test_a_scenario_path_that_is_no_regular_file_is_named_for_what_it_is(tmp_path):
    """A FIFO named as a scenario used to read "does not exist" (it does; reading it
    would block until a writer came): each kind of path gets its own reason."""
    import os

    from scenarios.loader import resolve

    fifo = tmp_path / "exercise.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError, match="is not a regular file"):
        resolve(fifo)
    with pytest.raises(ScenarioError, match="is a directory"):
        resolve(tmp_path)
    with pytest.raises(ScenarioError, match="does not exist"):
        resolve(tmp_path / "missing.yaml")


def test_a_camera_on_an_instrument_is_refused_at_camera_arm():
    """``camera: {arm: PSM1}`` validated and drew the view from the instrument's tip; the
    view comes from an ECM's scope (or a fixed pose)."""
    text = VALID.replace(
        "  camera:\n    pose: {position_m: [0.0, 0.0, 0.2], rpy_rad: [3.14159, 0.0, 0.0]}\n",
        "  camera: {arm: PSM1, fov_deg: 70}\n",
    )
    assert "arm: PSM1, fov_deg" in text
    err = _error(text)
    assert err.line == _line_of(text, "camera: {arm: PSM1")
    assert "'PSM1' is an instrument, not an endoscope" in err.message
    assert "add an arm of kind ecm, or give a fixed camera pose" in err.message


def test_a_typo_inside_an_all_list_lists_the_trigger_fields_and_suggests():
    """Inside ``all: [...]`` a misspelt trigger read "valid fields are []" with no
    suggestion (the list is optional: its type was not looked through)."""
    text = VALID.replace(
        "done_when: {grasped: {object: ring1, by: PSM1}}",
        "done_when: {all: [{grasp: {object: ring1, by: PSM1}}]}",
    )
    err = _error(text)
    assert "unknown field 'grasp' in exercise.steps[0].done_when.all[0]" in err.message
    assert "'grasped'" in err.message.split("valid fields are")[1]
    assert err.message.endswith("Did you mean 'grasped'?")


def test_a_misspelt_metric_is_placed_at_its_own_line_and_ends_in_one_stop():
    """It was placed at the first metric's line, and ended in "?."."""
    text = VALID.replace("    drops: {limit: 0}\n", "    drops: {limit: 0}\n    clutch_cnt: {}\n")
    err = _error(text)
    assert (err.line, err.col) == (_line_of(text, "clutch_cnt"), 5)  # its key, not its value
    assert err.message.startswith("scoring.metrics.clutch_cnt: unknown metric 'clutch_cnt'")
    assert "timer_s[NAME]" in err.message and "path_length_cm[ARM]" in err.message
    assert err.message.endswith("Did you mean 'clutch_count'?")


def test_one_instruments_path_length_is_scorable_and_names_an_arm():
    """docs/metrics.md names path_length_cm[NAME], and the metrics hold it per arm, but a
    rubric naming it was refused as an unknown metric."""
    from scenarios.scoring import score_session

    text = VALID.replace(
        "    drops: {limit: 0}\n", "    drops: {limit: 0}\n    path_length_cm[PSM1]: {limit: 50}\n"
    )
    scoring = parse_scenario(text, "mini.yaml").scoring
    measured = {"completion_time_s": 20.0, "drops": 0.0, "path_length_cm[PSM1]": 80.0}
    result = score_session(measured, True, scoring)
    assert result.metrics["path_length_cm[PSM1]"].passed is False and not result.passed
    err = _error(text.replace("path_length_cm[PSM1]", "path_length_cm[PSM3]"))
    assert (err.line, err.col) == (_line_of(text, "path_length_cm[PSM1]"), 5)
    assert "no arm 'PSM3'" in err.message and "['PSM1']" in err.message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("name: mini", "name: Twin Cubes", "a scenario name is lower-case letters"),
        ("- id: lift", "- id: blå", "an id is letters a-z or A-Z"),
    ],
)
def test_a_name_that_does_not_fit_says_what_fits_and_offers_one(old, new, expected):
    """They read "String should match pattern '^[a-z0-9][a-z0-9-]*$'"."""
    err = _error(VALID.replace(old, new, 1))
    assert expected in err.message and "pattern" not in err.message
    assert err.message.endswith(("Did you mean 'twin-cubes'?", "Did you mean 'bla'?"))


@pytest.mark.parametrize(
    "old, new",
    [
        ("port: {position_m: [0.0, -0.05, 0.15]", "port: {position_m: [0.10, 2000000, 0.16]"),
        ("pose: {position_m: [0.0, 0.0, 0.02]}", "pose: {position_m: [20, -30, 13]}"),
        ("rpy_rad: [0.0, 0.0, 0.0]}", "rpy_rad: [0.0, 0.0, 0.0], look_at_m: [0, 0, -15]}"),
    ],
)
def test_a_position_beyond_a_room_is_an_error_with_the_unit_hint(old, new):
    """``port.position_m: [0.10, 2000000, 0.16]``: validate said "internal error while
    checking (KinematicsError ...)" with no line, and run accepted the file. Past 10 m a
    position is a slip, refused where validate and run both read it: the schema."""
    text = VALID.replace(old, new, 1)
    assert text != VALID
    err = _error(text)
    assert err.line == _line_of(text, new)
    assert "more than 10 m from the world's origin" in err.message
    assert "millimetres?" in err.message
    parse_scenario(VALID.replace(old, old.replace("0.0, -0.05, 0.15", "9.9, 0, 0.15")))


@pytest.mark.parametrize(
    "value, hint",
    [
        ("true", "booleans in YAML: write a number"),
        ('"120"', "Write the number without quotes"),
    ],
)
def test_the_time_limit_is_a_number_like_every_other(value, hint):
    """``time_limit_s`` was a plain float: ``true`` read as 1 s and ``"120"`` as 120 s."""
    text = VALID.replace("  events:\n", f"  time_limit_s: {value}\n  events:\n", 1)
    assert text != VALID
    err = _error(text)
    assert err.line == _line_of(text, "time_limit_s") and "exercise.time_limit_s" in err.message
    assert hint in err.message
    parse_scenario(text.replace(f"time_limit_s: {value}", "time_limit_s: 120"), "mini.yaml")


@pytest.mark.parametrize(
    "old, new, words",
    [
        ("do: [{message: Dropped}]", "do: [{complete: false}]", "complete: false does nothing"),
        ("do: [{message: Dropped}]", 'do: [{fail: ""}]', "the reason is shown to the trainee"),
        ("title: Mini exercise", 'title: "  "', "the title is shown to the trainee"),
        ("- id: ring1", "- id: any", "'any' is a word of the triggers"),
        (
            "{grasped: {object: ring1, by: PSM1}}",
            "{placed: {object: ring1, target: ring1}}",
            "'ring1' cannot be placed on itself",
        ),
        ("estimated_time_s: 60", "estimated_time_s: 60\nprerequisites: [mini]", "its own prereq"),
        ("estimated_time_s: 60", "estimated_time_s: 60\nversion: 1.0", 'quote it ("1.0")'),
        ("estimated_time_s: 60", "estimated_time_s: 60\nversion: 2024-01-31", "a date: quote it"),
    ],
)
def test_fields_that_say_nothing_or_contradict_themselves_are_errors(old, new, words):
    """The fuzzer's minor finds: each validated, and did nothing or never could."""
    text = VALID.replace(old, new, 1)
    assert text != VALID
    err = _error(text)
    assert err.line == _line_of(text, new.splitlines()[-1])
    assert words in err.message
