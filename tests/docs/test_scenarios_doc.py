"""The instructors' page (docs/scenarios.md): its examples validate as written."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from scenarios.loader import parse_scenario
from sim.cli import app
from sim.world.scenario_check import check_scenario

PAGE = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", PAGE.read_text(), re.S)


def test_the_file_at_a_glance_validates(tmp_path):
    whole = next(b for b in _yaml_blocks() if b.startswith("schema_version"))
    path = tmp_path / "my-peg-drill.yaml"
    path.write_text(whole)
    out = CliRunner().invoke(app, ["scenario", "validate", str(path)])
    assert out.exit_code == 0, out.output
    assert "warning" not in out.output  # an example to copy draws no warnings
    scenario = parse_scenario(whole, str(path))
    check_scenario(scenario)  # every object, landmark and arm it names exists
    assert scenario.scoring.rule.kind == "fls"


def test_the_mscore_rubric_example_replaces_the_fls_one():
    blocks = _yaml_blocks()
    whole = next(b for b in blocks if b.startswith("schema_version"))
    mscore = next(b for b in blocks if b.startswith("scoring:") and "mscore" in b)
    text = whole[: whole.index("scoring:")] + mscore
    scenario = parse_scenario(text, "docs/scenarios.md (MScore example)")
    assert scenario.scoring.rule.kind == "mscore"
