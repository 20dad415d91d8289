"""One "did you mean" helper (:func:`kinematics.errors.closest_names`) for every package.

It was written four times (kinematics, scenarios' ``suggest``, the tremor filter's names
and its parameters), each with its own difflib call; the messages stay as they were.
"""

from __future__ import annotations

import ast
from pathlib import Path

from kinematics.errors import closest_names

ROOT = Path(__file__).resolve().parents[2]


def test_the_hint_lists_up_to_n_names_and_folds_case_only_when_asked():
    assert closest_names("PSM3", ["PSM1", "PSM2", "ECM"]) == " Did you mean 'PSM2' or 'PSM1'?"
    assert closest_names("zzz", ["PSM1"]) == ""
    assert closest_names("FLS", ["fls", "osats"], n=1) == ""
    assert closest_names("FLS", ["fls", "osats"], n=1, fold_case=True) == " Did you mean 'fls'?"
    assert closest_names("onee_euro", ["one_euro"], n=1, cutoff=0.6) == " Did you mean 'one_euro'?"


def test_the_packages_keep_their_wording():
    from haptics.errors import HapticsError
    from haptics.tremor import make_filter
    from scenarios.errors import suggest

    assert suggest("psm1", ["PSM1", "ECM"]) == " Did you mean 'PSM1'?"
    for name, hint in (("one_eur", "Did you mean 'one_euro'?"),):
        try:
            make_filter(name, 1000.0)
        except HapticsError as exc:
            assert str(exc).endswith(hint), str(exc)
        else:
            raise AssertionError("an unknown filter was made")


def test_no_package_calls_difflib_but_the_helper():
    calls = []
    for package in ("kinematics", "haptics", "scenarios", "sim", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr == "get_close_matches":
                    calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert len(calls) == 2, calls  # the hint and its case-folded retry
    assert all(c.startswith("kinematics/errors.py:") for c in calls), calls
