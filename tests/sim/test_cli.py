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
    out = _surgisim("bench", "tremor", "--traces", "2", "--duration-s", "6", "--json", str(path))
    assert out.returncode == 0, out.stderr
    assert "butterworth" in out.stdout and "Bars" in out.stdout
    data = json.loads(path.read_text())
    names = [r["filter"] for r in data["results"]["standard"]]
    assert names[0] == "none" and "default" in names and "one_euro" in names
    default = next(r for r in data["results"]["standard"] if r["filter"] == "default")
    none = next(r for r in data["results"]["standard"] if r["filter"] == "none")
    assert default["attenuation_db"] > 10 and none["attenuation_db"] == 0.0
    assert default["step_us"] > 0
