"""The tremor benchmark's verdict: judged on the pooled draws, and --strict fails on a miss."""

from __future__ import annotations

import io

from rich.console import Console

from bench.report import finish
from bench.tremor import BARS, bar_rows


def _judged(narrow_db: float) -> dict:
    return {
        "unseen_narrow": {"attenuation_db": narrow_db, "lag_ms": 0.0, "rms_ratio": 0.4},
        "unseen_broadband": {"attenuation_db": 12.5, "lag_ms": -0.4, "rms_ratio": 0.57},
    }


def test_a_missed_bar_fails_a_strict_run_and_only_a_strict_one():
    console = Console(file=io.StringIO())
    step_us = {"default": 1.5, "none": 0.8}
    missed = bar_rows(_judged(17.2), step_us)
    verdicts = {row[0]: row[4] for row in missed}
    assert verdicts["unseen_narrow: attenuation 6-16 Hz (dB)"] == "FAIL"
    assert verdicts["unseen_broadband: attenuation 6-16 Hz (dB)"] == "pass"
    assert verdicts["unseen_broadband: RMS error vs unfiltered"] == "pass"
    assert verdicts["step() cost vs none"] == "pass"
    assert finish("tremor", missed, {}, None, console, strict=True) is False
    assert finish("tremor", missed, {}, None, console, strict=False) is True
    met = bar_rows(_judged(BARS["unseen_narrow"]["attenuation_db"] + 0.1), step_us)
    assert finish("tremor", met, {}, None, console, strict=True) is True


def test_sets_not_judged_give_no_bar_rows():
    rows = bar_rows({}, {"default": 1.5, "none": 0.8})
    assert [row[0] for row in rows] == ["step() cost vs none"]


def test_a_tiny_run_s_filter_bars_are_not_judged_and_strict_does_not_pass():
    """``--traces 1 --duration-s 3 --draws 1`` judged the bars on one 3 s trace."""
    console = Console(file=io.StringIO())
    step_us = {"default": 1.5, "none": 0.8}
    met = _judged(BARS["unseen_narrow"]["attenuation_db"] + 0.1)
    rows = bar_rows(met, step_us, pooled_traces=1, duration_s=3.0)
    verdicts = {row[0]: row[4] for row in rows}
    assert verdicts.pop("step() cost vs none") == "pass"
    assert set(verdicts.values()) == {"not judged"}
    why = next(row[5] for row in rows if row[4] == "not judged")
    assert "1 traces pooled" in why and "3 s traces" in why
    assert finish("tremor", rows, {}, None, console, strict=True) is False
    full = bar_rows(met, step_us, pooled_traces=100, duration_s=30.0)
    assert {row[4] for row in full} == {"pass"}
