"""``surgisim run`` and ``surgisim bench session`` on a real scenario, records and files."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sim.cli import app

runner = CliRunner()


def test_run_prints_stores_reports_and_writes_the_promised_json(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the default database
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["run", "needle-handover", "--seed", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    keys = {"scenario", "seed", "operator", "completed", "passed", "score"}
    assert keys | {"sim_time_s", "wall_time_s", "metrics"} <= set(data)
    assert data["scenario"] == "needle-handover" and data["seed"] == 1
    assert data["operator"] == "expert" and data["completed"] and data["passed"]
    assert {"completion_time_s", "path_length_cm", "collisions", "drops"} <= set(data["metrics"])
    db = tmp_path / "data" / "surgisim"
    assert any(db.glob("*.db")) or any(db.glob("*.sqlite*"))
    assert list(tmp_path.rglob("*.html")), "the session report is written"


def test_run_unknown_scenario_names_the_bundled_ones(tmp_path):
    result = runner.invoke(app, ["run", "peg-tranfer", "--no-store"])
    assert result.exit_code == 2
    assert "peg-transfer" in result.output


def test_bench_session_writes_json_with_the_bare_world_baseline(tmp_path):
    out = tmp_path / "session.json"
    result = runner.invoke(
        app, ["bench", "session", "--scenario", "needle-tissue", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    (row,) = data["results"]
    assert row["scenario"] == "needle-tissue" and row["completed"]
    assert row["real_time_factor"] > 0 and row["bare_world_real_time_factor"] > 0


def test_a_benchmark_never_writes_its_json_over_an_input_or_through_a_file(tmp_path):
    """The docs audit: `bench physics --json my_plugins.py` replaced the Python file
    (and a .yaml or .mcap) with JSON, rc 0; `--json junk.mcap/x.json` ran the whole
    benchmark, then failed with a traceback. Both are refused before any measuring."""
    code = tmp_path / "my_plugins.py"
    code.write_text("X = 1\n")
    blocker = tmp_path / "junk.mcap"
    blocker.write_text("x")
    for bad in (code, blocker / "x.json"):
        result = runner.invoke(
            app, ["bench", "physics", "-s", "0.01", "--rounds", "1", "--json", str(bad)]
        )
        assert result.exit_code == 2, result.output
        said = " ".join(result.output.replace("│", " ").split())  # unwrapped from its box
        assert "choose another path" in said, said
        assert "Traceback" not in said
    assert code.read_text() == "X = 1\n"
