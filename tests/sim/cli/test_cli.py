"""The surgisim command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys


def _surgisim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_help_lists_commands():
    out = _surgisim("--help")
    assert out.returncode == 0
    assert "bench" in out.stdout


def test_bench_ik_small_run_writes_json(tmp_path):
    path = tmp_path / "ik.json"
    out = _surgisim("bench", "ik", "-n", "30", "--rcm-targets", "20", "--json", str(path))
    assert out.returncode == 0, out.stderr
    assert "pybullet" in out.stdout and "Bars" in out.stdout
    data = json.loads(path.read_text())
    assert data["benchmark"] == "ik" and data["targets"] == 30
    solvers = {(r["solver"], r["arm"], r["mode"]) for r in data["results"]}
    assert ("surgisim", "panda", "warm") in solvers and ("pybullet", "psm", "cold") in solvers
    for row in data["results"]:
        assert 0.0 <= row["success"] <= 1.0 and row["median_us"] > 0
    assert data["rcm"]["warm position"]["success"] >= 0.9
    assert data["machine"]["cpu_count"] >= 1


def test_bench_ik_rejects_unknown_arm(tmp_path):
    out = _surgisim("bench", "ik", "-n", "10", "--arms", "ur5", "--json", str(tmp_path / "x"))
    assert out.returncode != 0
    assert "ur5" in (out.stderr + out.stdout)


def test_bench_tremor_small_run_writes_json(tmp_path):
    path = tmp_path / "tremor.json"
    args = ("--traces", "2", "--duration-s", "6", "--draws", "2", "--strict")
    out = _surgisim("bench", "tremor", *args, "--json", str(path))
    data = json.loads(path.read_text())
    # --strict: exit status 1 exactly when a bar is missed
    failed = any(b["result"] != "pass" for b in data["bars"])
    assert out.returncode == (1 if failed else 0), out.stderr
    # the unseen sets' bars are judged on every draw's traces pooled; draw one is the table's
    assert data["bar_draws"] == 2
    for set_name in ("unseen_narrow", "unseen_broadband"):
        judged = data["judged"][set_name]
        draws = judged["draws"]
        assert [d["seed"] for d in draws] == [0, 1]
        table = next(r for r in data["results"][set_name] if r["filter"] == "default")
        assert draws[0]["attenuation_db"] == table["attenuation_db"]
        mean = sum(d["attenuation_db"] for d in draws) / 2
        assert abs(judged["attenuation_db"] - mean) < 1e-9
        assert judged["attenuation_db_worst"] == min(d["attenuation_db_worst"] for d in draws)
        bar = next(b for b in data["bars"] if b["bar"].startswith(f"{set_name}: attenuation"))
        assert bar["measured"] == judged["attenuation_db"]
    assert "butterworth" in out.stdout and "Bars" in out.stdout
    data = json.loads(path.read_text())
    names = [r["filter"] for r in data["results"]["legacy"]]
    assert names[0] == "none" and "default" in names and "one_euro" in names
    default = next(r for r in data["results"]["legacy"] if r["filter"] == "default")
    none = next(r for r in data["results"]["legacy"] if r["filter"] == "none")
    assert default["attenuation_db"] > 10 and none["attenuation_db"] == 0.0
    assert default["step_us"] > 0


def test_bench_physics_short_run_writes_json(tmp_path):
    path = tmp_path / "physics.json"
    out = _surgisim("bench", "physics", "--seconds", "0.2", "--rounds", "1", "--json", str(path))
    assert out.returncode == 0, out.stderr
    assert "peg transfer" in out.stdout and "Bars" in out.stdout and "iiwa" in out.stdout
    data = json.loads(path.read_text())
    assert data["benchmark"] == "physics" and data["seconds"] == 0.2
    rows = {(r["scenario"], r["rate_hz"]) for r in data["results"]}
    for scenario in ("iiwa raw", "PSM alone", "peg transfer, at rest", "peg transfer, carrying"):
        assert (scenario, 1000.0) in rows and (scenario, 500.0) in rows
    for row in data["results"]:
        assert row["steps"] >= 100 and row["median_us"] > 0 and row["real_time_factor"] > 0
    held = next(b for b in data["bars"] if b["bar"].startswith("ring stayed"))
    assert held["result"] == "pass"


def test_bench_physics_rejects_a_bad_duration(tmp_path):
    out = _surgisim("bench", "physics", "--seconds", "-1", "--json", str(tmp_path / "x.json"))
    assert out.returncode != 0
    assert "--seconds" in (out.stderr + out.stdout)


def test_the_score_table_has_no_empty_column_and_keeps_limits_of_metrics_not_applying():
    from rich.console import Console

    from scenarios.schema import Scoring
    from scenarios.scoring import score_session
    from sim.cli.score_view import score_table

    scoring = Scoring.model_validate(
        {
            "metrics": {
                "completion_time_s": {"benchmark": {"mean": 8, "sd": 2}},
                "drops": {"limit": 0},
            },
            "rule": {"kind": "mscore"},
        }
    )
    table = score_table(score_session({"completion_time_s": 20.0}, True, scoring), "t")
    assert all(column.header for column in table.columns)
    console = Console(width=160, record=True)
    console.print(table)
    text = console.export_text()
    drops = next(line for line in text.splitlines() if "Drops" in line)
    assert "at most 0" in drops and "≤ 0" in drops and "does not apply" in drops
    assert "n/a" not in text
    time = next(line for line in text.splitlines() if "Completion time" in line)
    assert "≤ 10 s FAIL" in time


def test_the_terminal_table_says_a_chosen_benchmark_is_no_expert_data():
    """The auditor read "expert 27 s ± 10 s" after ``surgisim run camera-targeting``, whose
    benchmark is a documented parameter; the HTML report said "parameter, not expert
    data". The table now says so from the same rubric flag, and "expert" only for
    published numbers."""
    from types import SimpleNamespace

    from rich.console import Console

    from scenarios.loader import LIBRARY, load_scenario, parse_scenario
    from scenarios.report_score import benchmark_notes, metric_table_html
    from scenarios.scoring import score_session
    from sim.cli.run import print_result
    from sim.cli.score_view import score_table

    spec = load_scenario("camera-targeting")
    metrics = {
        "completion_time_s": 20.0,
        "path_length_cm": 60.0,
        "collisions": 0.0,
        "excessive_force_time_s": 0.0,
    }
    result = score_session(metrics, True, spec.scoring)
    trace = SimpleNamespace(failure=None, events=[])
    outcome = SimpleNamespace(
        result=result, interrupted=False, trace=trace, sim_time_s=20.0, wall_time_s=2.0
    )
    console = Console(width=220, record=True)
    print_result(console, spec, outcome)
    text = console.export_text()
    time = next(line for line in text.splitlines() if "Completion time" in line)
    assert "benchmark 27 s ± 10 s (parameter, not expert data)" in time
    assert "expert 27" not in text
    html = metric_table_html(result, benchmark_notes(spec.scoring))
    assert "parameter, not expert data" in html
    # a published benchmark reads as expert data, in both
    text = (LIBRARY / "camera-targeting.yaml").read_text()
    old = "benchmark: {mean: 27, sd: 10,"
    assert old in text
    published = parse_scenario(text.replace(old, old + " published: true,")).scoring
    console = Console(width=220, record=True)
    console.print(score_table(score_session(metrics, True, published), "t"))
    time = next(ln for ln in console.export_text().splitlines() if "Completion time" in ln)
    assert "expert 27 s ± 10 s (published)" in time
    assert "<span class='dir'>published</span>" in metric_table_html(
        result, benchmark_notes(published)
    )
