"""Reading scenario files: what YAML lets through silently is refused at FILE:LINE:COL,
files are bounded in size and shape, and a loaded scenario pickles."""

from __future__ import annotations

import pickle

import pytest

from scenarios.errors import ScenarioError
from scenarios.loader import LIBRARY, library_names, load_scenario, parse_scenario
from scenarios.source import DEFAULT_LIMITS, Limits, SourceMap, read_yaml

from .test_loader import VALID, _line_of


def _error(text, **kwargs) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "mini.yaml", **kwargs)
    err = info.value
    assert err.file == "mini.yaml" and err.line is not None and err.col is not None, str(err)
    return err


def test_duplicate_keys_are_refused_where_the_second_one_is():
    text = VALID.replace("title: Mini exercise\n", "title: Mini exercise\ntitle: Other\n")
    err = _error(text)
    assert (err.line, err.col) == (_line_of(text, "title: Other"), 1)
    assert "duplicate key 'title'" in err.message and f"line {err.line - 1}" in err.message
    nested = VALID.replace("kind: psm\n", "kind: psm\n      kind: ecm\n")
    err = _error(nested)
    assert err.line == _line_of(nested, "kind: ecm") and "duplicate key 'kind'" in err.message
    flow = VALID.replace("{dropped: {object: ring1}}", "{dropped: {object: ring1, object: x}}")
    err = _error(flow)
    assert err.line == _line_of(flow, "object: x") and "duplicate key 'object'" in err.message


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("- at: 0", "- at: .inf", "at: .inf"),
        ("drops: {limit: 0}", "drops: {limit: 0, penalty: .inf}", "penalty: .inf"),
        ("- at: 0", "- at: .nan", "at: .nan"),
        ("- at: 0", "- at: -.Inf", "at: -.Inf"),
        ("- at: 0", "- at: 1e999", "at: 1e999"),
        ("- at: 0", "- at: 1e300", "at: 1e300"),
        ("- at: 0", "- at: " + "9" * 5000, "at: 999"),
    ],
)
def test_non_finite_and_huge_numbers_are_refused(old, new, needle):
    text = VALID.replace(old, new)
    err = _error(text)
    assert err.line == _line_of(text, needle)
    assert "finite" in err.message or "too large" in err.message or "cannot read" in err.message


def test_a_nan_centre_and_an_inf_string_are_refused():
    region = "{entered: {instrument: PSM1, region: {center_m: [0, .nan, 0], radius_m: 0.01}}}"
    text = VALID.replace("{grasped: {object: ring1, by: PSM1}}", region)
    err = _error(text)
    assert err.line == _line_of(text, ".nan") and "finite" in err.message
    text = VALID.replace("- at: 0", '- at: "inf"')  # a string pydantic would read as inf
    err = _error(text)
    assert err.line == _line_of(text, 'at: "inf"') and "valid number" in err.message
    assert "without quotes" in err.message  # a quoted number is a string, refused as such


def test_yaml_1_2_exponents_are_numbers():
    text = VALID.replace("- at: 0", "- at: 1e-3")
    assert parse_scenario(text).exercise.events[0].at == 0.001


def test_time_limit_has_a_sane_lower_bound():
    text = VALID.replace("exercise:\n", "exercise:\n  time_limit_s: 1e-9\n")
    err = _error(text)
    assert err.line == _line_of(text, "time_limit_s") and "time_limit_s" in err.message


def test_control_characters_and_invalid_utf8_are_located():
    text = VALID.replace("title: Mini exercise", "title: Mini\x01exercise")
    err = _error(text)
    assert (err.line, err.col) == (_line_of(text, "title:"), 12) and "U+0001" in err.message
    data = VALID.replace("title: Mini exercise", "title: Mini ex\xe9rcise").encode("latin-1")
    err = _error(data)
    assert (err.line, err.col) == (_line_of(VALID, "title:"), 15) and "UTF-8" in err.message
    err = _error("name: caf\u00e9\ntitle: \ud800\n")  # a lone surrogate in a str
    assert err.line == 2


def test_a_byte_order_mark_is_fine():
    assert parse_scenario(b"\xef\xbb\xbf" + VALID.encode()).name == "mini"


def test_a_second_document_unknown_alias_and_tags_are_refused():
    err = _error(VALID + "---\nname: other\n")
    assert "second YAML document" in err.message
    err = _error(VALID.replace("title: Mini exercise", "title: *nothing"))
    assert "alias *nothing" in err.message and err.line == 3
    err = _error(VALID.replace("title: Mini exercise", "title: !!python/object:os.system x"))
    assert "not supported" in err.message and err.line == 3
    err = _error(VALID.replace("title: Mini exercise", "title: !!set {a, b}"))
    assert "not supported" in err.message


def test_anchors_aliases_and_merge_keys_still_work():
    text = VALID.replace(
        "port: {position_m: [0.0, -0.05, 0.15], rpy_rad: [0.0, 0.0, 0.0]}",
        "port: &port {position_m: [0.0, -0.05, 0.15], rpy_rad: [0.0, 0.0, 0.0]}",
    ).replace(
        "pose: {position_m: [0.0, 0.0, 0.2], rpy_rad: [3.14159, 0.0, 0.0]}",
        "pose: {<<: *port, position_m: [0.0, 0.0, 0.2]}",
    )
    s = parse_scenario(text)
    assert s.scene.camera.pose.position_m == (0.0, 0.0, 0.2)
    assert s.scene.camera.pose.rpy_rad == (0.0, 0.0, 0.0)


def test_size_is_bounded_before_anything_is_parsed(tmp_path):
    big = VALID + "# " + "x" * DEFAULT_LIMITS.max_bytes + "\n"
    with pytest.raises(ScenarioError, match="limited to") as info:
        parse_scenario(big, "big.yaml")
    assert str(info.value).startswith("big.yaml: the file is")
    path = tmp_path / "big.yaml"
    path.write_text(big)
    with pytest.raises(ScenarioError, match="limited to"):
        load_scenario(path)


def _steps(n: int) -> str:
    step = (
        "    - id: s{i}\n      instruction: Pick up the ring number {i}\n"
        "      done_when: {{grasped: {{object: ring1, by: PSM1}}}}\n"
    )
    head, tail = VALID.split("  events:\n")
    before, _ = head.split("  steps:\n")
    return (
        before + "  steps:\n" + "".join(step.format(i=i) for i in range(n)) + "  events:\n" + tail
    )


def test_counts_are_bounded_at_the_list():
    limits = Limits(max_steps=50)
    text = _steps(51)
    err = _error(text, limits=limits)
    assert err.line == _line_of(text, "  steps:") and "51 steps" in err.message
    assert len(parse_scenario(_steps(50), limits=limits).exercise.steps) == 50


def test_a_realistic_large_file_within_the_bounds_loads():
    text = _steps(DEFAULT_LIMITS.max_steps)
    assert len(text) > 100_000
    assert len(parse_scenario(text).exercise.steps) == DEFAULT_LIMITS.max_steps


def test_nesting_depth_and_alias_expansion_are_bounded():
    deep = VALID.replace("title: Mini exercise", "title: " + "[" * 40 + "1" + "]" * 40)
    err = _error(deep)
    assert "nesting deeper" in err.message and err.line == 3
    bomb = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    bomb += [f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 9) + "]" for k in range(1, 10)]
    err = _error(VALID + "\n".join(bomb) + "\n")
    assert "values" in err.message and err.line > _line_of(VALID, "rule:")


def test_positions_survive_pickling_and_plain_data_round_trips():
    data, positions = read_yaml("a:\n  b: [1, 2]\n  c: x\n", "f.yaml")
    assert data == {"a": {"b": [1, 2], "c": "x"}}
    again = pickle.loads(pickle.dumps(positions))
    assert isinstance(again, SourceMap) and again == positions
    assert again.position(("a", "b", 1)) == (2, 10)
    assert again.position(("a", "c"), on_key=True) == (3, 3)
    assert again.position(("a", "missing", 3)) == (2, 3)  # the deepest node that exists


@pytest.mark.parametrize("name", library_names())
def test_every_bundled_scenario_pickles(name):
    s = load_scenario(name)
    again = pickle.loads(pickle.dumps(s))
    assert again == s and again.source_file == str(LIBRARY / f"{name}.yaml")
    loc = ("exercise", "steps", len(s.exercise.steps) - 1, "done_when")
    assert again.position_of(loc) == s.position_of(loc) and s.position_of(loc)[0] > 1


def test_a_no_break_space_in_the_indentation_is_named_at_its_line():
    """Pasted from a web page, it read "mapping values are not allowed" on the next line
    with no word of the character."""
    text = "scene:\n  arms: []\n\u00a0 camera: {fov_deg: 70}\n"
    with pytest.raises(ScenarioError) as err:
        read_yaml(text, "nbsp.yaml")
    assert (err.value.line, err.value.col) == (3, 1)
    assert "no-break space (U+00A0)" in err.value.message
    read_yaml("title: a\u00a0b\n", "ok.yaml")  # inside a value it is text, not indentation
