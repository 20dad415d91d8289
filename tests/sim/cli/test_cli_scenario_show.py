"""``surgisim scenario show``: a bundled scenario's YAML to copy, where a wheel hides the
library inside site-packages (docs/scenarios.md says to copy one and edit it)."""

from __future__ import annotations

from typer.testing import CliRunner

from scenarios.loader import LIBRARY, load_scenario
from sim.cli import app


def test_show_prints_the_bundled_file_which_loads_as_a_copy(tmp_path):
    out = CliRunner().invoke(app, ["scenario", "show", "ring-walk"])
    assert out.exit_code == 0, out.output
    assert out.stdout == (LIBRARY / "ring-walk.yaml").read_text(encoding="utf-8")
    copy = tmp_path / "my-walk.yaml"
    copy.write_text(out.stdout)
    assert load_scenario(copy).name == "ring-walk"


def test_show_of_a_name_not_bundled_says_the_names_and_fails():
    out = CliRunner().invoke(app, ["scenario", "show", "ring-wal"])
    assert out.exit_code == 2
    assert "Did you mean 'ring-walk'?" in out.stderr and not out.stdout
