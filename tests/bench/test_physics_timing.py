"""``surgisim bench physics``: the first steps (numba kernels loading) are not timed and
the per-step figure is the median step's."""

from __future__ import annotations

import io
import json
import time

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


def test_warm_up_steps_are_not_timed_and_steps_per_s_is_the_median(monkeypatch, tmp_path):
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
        assert r["steps_per_s"] == 1e6 / r["median_us"]
        assert r["steps_per_s_mean"] == 1e6 / r["mean_us"]
        assert r["real_time_factor"] == r["steps_per_s"] / r["rate_hz"]
    assert payload["machine"]["started_utc"]
