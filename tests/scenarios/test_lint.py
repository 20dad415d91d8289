"""Warnings about valid scenarios: each placed at the line of the setting at fault, with
what happens and the fix; the bundled scenarios have none."""

from __future__ import annotations

import pytest

from scenarios.lint import scenario_warnings, unknown_prerequisites
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
