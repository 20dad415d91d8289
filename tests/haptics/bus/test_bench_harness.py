"""bench/bus.py's harness measures what it says (counts only: timings live in the bench)."""

from __future__ import annotations

from bench.bus import garbage_costs_us, run_config


def test_stack_run_receives_every_sample_and_runs_the_server_handler():
    handled = []
    r = run_config("stack", "tcp", seconds=0.5, rate_hz=500.0, on_sample=handled.append)
    assert r["received"] == r["sent"] == len(handled) > 100 and r["dropped"] == 0
    assert all(m.topic == "MTMR/measured_cp" for m in handled)
    assert len(r["receipt_s"]) == r["received"] - 100  # the 0.2 s warm-up is not measured
    assert all(h >= t > 0 for t, h in zip(r["receipt_s"], r["handled_s"], strict=True))


def test_raw_baseline_run_over_ipc():
    r = run_config("raw", "ipc", seconds=0.3, rate_hz=500.0)
    assert r["received"] == r["sent"] > 50


def test_garbage_costs_cover_every_kind():
    costs = garbage_costs_us(n=500)
    assert set(costs) >= {"good measured_cp", "random bytes", "too large", "unknown topic"}
    assert all(v > 0 for v in costs.values())
