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


def test_the_json_records_the_start_and_the_load_and_a_busy_machine_is_said(monkeypatch, tmp_path):
    import json
    import os

    from bench import report

    cpus = os.cpu_count() or 1
    monkeypatch.setattr(report.os, "getloadavg", lambda: (cpus + 1.5, 0.0, 0.0))
    out = io.StringIO()
    console = Console(file=out, width=160)
    started = report.start_run(console)
    path = tmp_path / "t.json"
    finish("t", [["x", 1.0, "<=", 2.0, "pass"]], {}, path, console, strict=False)
    machine = json.loads(path.read_text())["machine"]
    assert machine["started_utc"] == started["started_utc"] and machine["time_utc"]
    assert machine["load_avg_1m_start"] == machine["load_avg_1m_end"] == cpus + 1.5
    text = out.getvalue()
    assert "machine busy at the start" in text and "machine busy at the end" in text
    # the next run notes its own start: a JSON written without one has no stale start
    report.write_json(path, {})
    assert json.loads(path.read_text())["machine"]["started_utc"] is None


def test_an_idle_machine_prints_no_note(monkeypatch):
    from bench import report

    monkeypatch.setattr(report.os, "getloadavg", lambda: (0.1, 0.0, 0.0))
    out = io.StringIO()
    report.start_run(Console(file=out))
    assert out.getvalue() == ""


def test_a_tiny_measured_value_prints_in_significant_digits_not_as_zero():
    """2.93e-06 against a 1e-05 target printed as 0.00000 (fixed decimals up to 5)."""
    text = _printed([["rcm max error m", 2.93e-06, "<=", 1e-05, "pass"]])
    assert "2.93e-06" in text and "0.00000" not in text
    text = _printed([["close", 1.0000003, ">=", 1.0, "pass"]])
    assert "1.0000003" in text


def test_non_finite_figures_are_null_in_the_json_and_n_a_in_the_tables(tmp_path):
    """``math.nan`` (no usable answer) was written as a bare NaN token: invalid JSON."""
    import json
    import math

    import numpy as np

    path = tmp_path / "t.json"
    rows = [["max error", math.nan, "<=", 1e-3, "FAIL"]]
    payload = {"results": [{"median_us": None, "p95": np.float64("nan"), "x": math.inf}]}
    out = io.StringIO()
    finish("t", rows, payload, path, Console(file=out, width=120), strict=False)
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    assert data["results"] == [{"median_us": None, "p95": None, "x": None}]
    assert data["bars"][0]["measured"] is None
    assert "n/a" in out.getvalue() and "nan" not in out.getvalue()


def test_a_bar_not_judged_is_not_a_pass_under_strict_and_says_why(tmp_path):
    import json

    rows = [["p99 ms", 1.0, "<=", 5.0, "not judged", "1 samples, needs >= 100"]]
    out = io.StringIO()
    path = tmp_path / "t.json"
    assert finish("t", rows, {}, path, Console(file=out, width=120), strict=True) is False
    text = " ".join(out.getvalue().split())
    assert "p99 ms: not judged (1 samples, needs >= 100)" in text and "--strict" in text
    assert json.loads(path.read_text())["bars"][0]["note"] == "1 samples, needs >= 100"
    assert finish("t", rows, {}, None, Console(file=io.StringIO()), strict=False) is True
