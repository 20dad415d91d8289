"""Fuzzing the loader: mutated bundled files (byte flips, truncation, control characters,
invalid UTF-8, deep nesting, huge numbers, duplicate lines, broken indentation, alias
bombs) either load or raise a ScenarioError that says where; never anything else."""

from __future__ import annotations

import collections

import pytest

from scenarios.errors import ScenarioError
from scenarios.loader import LIBRARY, parse_scenario

from .fuzz import MUTATIONS, corpus

SEED = 20261203  # any seed will do: nothing was tuned on it
FILES = 300


@pytest.fixture(scope="module")
def mutated():
    sources = [p.read_bytes() for p in sorted(LIBRARY.glob("*.yaml"))]
    return corpus(sources, FILES, SEED)


def test_only_located_scenario_errors_come_out(mutated):
    outcomes = collections.Counter()
    for what, data in mutated:
        try:
            parse_scenario(data, "fuzz.yaml")
        except ScenarioError as exc:
            assert exc.file == "fuzz.yaml" and exc.line and exc.line >= 1, (what, str(exc))
            assert exc.col and exc.col >= 1, (what, str(exc))
            outcomes["refused"] += 1
        except Exception as exc:  # the test is that nothing else escapes
            pytest.fail(f"{what}: {type(exc).__name__}: {exc}"[:500])
        else:
            outcomes["loaded"] += 1
    # the corpus exercises both paths, and every mutation kind was drawn
    assert outcomes["refused"] > FILES // 2 and outcomes["loaded"] > 0, outcomes
    drawn = {name for what, _ in mutated for name in what.split("+")}
    assert drawn == {m.__name__ for m in MUTATIONS}
