"""``surgisim bench physics``: the first steps (numba kernels loading) are not timed and
steps/s and "x real time" are throughput (timed steps over their total time), the median
step stays in the JSON."""

from __future__ import annotations

import io
import json
import time

import pytest
from rich.console import Console

from bench import physics


def _fake(name: str, first_s: float = 0.0):
    def build(rate_hz):
        calls = []

        def step():
            calls.append(None)
            if len(calls) == 1:
                time.sleep(first_s)  # as the first PSM step loading its kernels

        scenario = physics._Scenario(name, rate_hz, step, lambda: None)
        if name == "peg transfer, carrying":
            scenario.check = lambda: True
        return scenario

    return build


def test_warm_up_steps_are_not_timed_and_steps_per_s_is_the_throughput(monkeypatch, tmp_path):
    monkeypatch.setattr(physics, "_iiwa", _fake("iiwa raw"))
    monkeypatch.setattr(physics, "_psm_alone", _fake("PSM alone", first_s=0.05))
    monkeypatch.setattr(physics, "_peg_rest", _fake("peg transfer, at rest"))
    monkeypatch.setattr(physics, "_peg_carry", _fake("peg transfer, carrying"))
    out = tmp_path / "physics.json"
    console = Console(file=io.StringIO(), width=160)
    physics.run_physics_benchmark(seconds=0.02, rounds=2, json_path=out, console=console)
    payload = json.loads(out.read_text())
    assert payload["warmup_steps"] == physics.WARMUP_STEPS > 0
    for r in payload["results"]:
        assert r["p99_us"] < 20_000, r  # the 50 ms first step was not timed
        assert r["steps_per_s"] == pytest.approx(1e6 / r["mean_us"], rel=1e-9)
        assert r["median_us"] > 0
        assert r["real_time_factor"] == r["steps_per_s"] / r["rate_hz"]
    assert payload["machine"]["started_utc"]


def test_a_rare_slow_step_costs_its_time_in_steps_per_s(monkeypatch, tmp_path):
    """A carrying row with one 7.6 ms step read 5.9x real time on the median step and
    ~1x on the mean: steps/s is throughput."""
    monkeypatch.setattr(physics, "_iiwa", _fake("iiwa raw"))
    monkeypatch.setattr(physics, "_psm_alone", _fake("PSM alone"))
    monkeypatch.setattr(physics, "_peg_rest", _fake("peg transfer, at rest"))

    def slow_carry(rate_hz):
        scenario = _fake("peg transfer, carrying")(rate_hz)
        calls = []

        def step():
            calls.append(None)
            if len(calls) == physics.WARMUP_STEPS + 3:  # one timed step of 20 ms
                time.sleep(0.02)

        scenario.step = step
        return scenario

    monkeypatch.setattr(physics, "_peg_carry", slow_carry)
    out = tmp_path / "physics.json"
    console = Console(file=io.StringIO(), width=160)
    physics.run_physics_benchmark(seconds=0.02, rounds=1, json_path=out, console=console)
    r = next(
        r
        for r in json.loads(out.read_text())["results"]
        if r["scenario"] == "peg transfer, carrying" and r["rate_hz"] == 1000.0
    )
    assert r["steps"] == 20
    assert r["steps_per_s"] < 20 / 0.02  # the 20 ms step alone caps it at 1,000 steps/s
    assert r["real_time_factor"] < 1.0 < 1e6 / r["median_us"] / 1000.0
