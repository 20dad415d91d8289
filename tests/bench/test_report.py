"""The bars table: a measured value is printed finely enough to show its side of the bar."""

import io

from rich.console import Console

from bench.report import finish


def _printed(rows) -> str:
    out = io.StringIO()
    finish("t", rows, {}, None, Console(file=out, width=120), strict=False)
    return out.getvalue()


def test_a_value_just_under_its_target_is_not_printed_equal_to_it():
    text = _printed([["ik success", 1.6989, ">=", 1.7, "FAIL"]])
    assert "│ 1.699 " in text  # the target itself still prints as 1.70


def test_plain_values_print_as_before():
    text = _printed([["cost", 1.98, "<=", 1.5, "FAIL"], ["drops", 0, "==", 0, "pass"]])
    assert "1.98" in text and "1.980" not in text
