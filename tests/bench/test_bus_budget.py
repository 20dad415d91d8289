"""``surgisim bench bus --seconds``: the measured time of every section comes out of it,
and the titles say the run lengths as they are."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

import bench.bus_server
from bench import bus
from sim.server import realtime


def test_run_seconds_share_the_whole_budget():
    runs = {"latency": 4, "throughput": 4, "server": 6}
    got = bus.run_seconds(120.0, 3, runs)
    total = got["latency"] * 4 * 3 + got["throughput"] * 4 + got["server"] * 6
    assert total == pytest.approx(120.0)
    small = bus.run_seconds(2.0, 3, runs)  # every run at its minimum
    assert small == bus.MIN_RUN_S


def test_a_two_second_run_asks_for_minimum_runs_and_titles_do_not_round_to_zero(
    monkeypatch, tmp_path
):
    asked = []

    def run_config(mode, transport, seconds, rate_hz=1000.0, on_sample=None):
        asked.append(("latency" if rate_hz else "throughput", seconds))
        return {"receipt_s": [1e-4], "handled_s": [1e-4], "received": 10, "sent": 10,
                "device_rate_hz": 1000.0, "receive_span_s": 0.01, "dropped": 0}  # fmt: skip

    def run_server_config(transport, seconds, realtime=False, align_ticks=True):
        asked.append(("server", seconds))
        loop = {"period_ms": (2.0, 2.1, 2.2), "overrun_fraction": 0.0, "aligned_ticks": 1,
                "ticks": 1, "real_time_ratio": 1.0}  # fmt: skip
        return {"stamp_to_step_s": [1e-4], "loop": loop, "servo_cf_per_s": 600.0,
                "viewer_messages": 5, "measured_s": 4.5}  # fmt: skip

    monkeypatch.setattr(bus, "run_config", run_config)
    monkeypatch.setattr(bus, "garbage_costs_us", lambda: {"pose": 1.0})
    monkeypatch.setattr(bench.bus_server, "run_server_config", run_server_config)
    monkeypatch.setattr(realtime, "use_realtime", lambda: type("P", (), {"realtime": False,
                        "detail": "not here"})())  # fmt: skip
    out = io.StringIO()
    out_json = tmp_path / "bus.json"
    console = Console(file=out, width=200)
    ok = bus.run_bus_benchmark(
        seconds=2.0, rounds=1, json_path=out_json, console=console, strict=True
    )
    text = out.getvalue()
    # before: throughput 2 s per path and the server max(5, s/4) s per configuration
    assert {s for kind, s in asked if kind == "throughput"} == {bus.MIN_RUN_S["throughput"]}
    assert {s for kind, s in asked if kind == "server"} == {bus.MIN_RUN_S["server"]}
    assert "0.5 s per configuration" in text and " 0 s per configuration" not in text
    assert "messages received / sent" in text and "received/sent (count)" in text
    payload = json.loads(out_json.read_text())
    assert payload["run_seconds"] == bus.MIN_RUN_S
    # the standard "results": one row per latency and throughput table row
    rows = {(r["section"], r["path"]) for r in payload["results"]}
    assert rows == {(s, f"{m}/{t}") for s in ("latency", "throughput") for m in ("stack", "raw")
                    for t in ("tcp", "ipc")}  # fmt: skip

    # what was measured, not only asked for
    measured = payload["measured_seconds"]
    assert set(measured) == {"latency", "throughput", "server"}
    assert measured["server"] == {"tcp": 4.5, "ipc": 4.5, "tcp free ticks": 4.5,
                                  "ipc free ticks": 4.5}  # fmt: skip
    assert measured["latency"]["stack/tcp"] == 0.0  # a 10 ms span is all warm-up
    # one sample per latency row: no bar on a percentile of it passes, nor does --strict
    verdicts = {b["bar"]: b["result"] for b in payload["bars"]}
    assert verdicts["stack/tcp receipt p99 (µs)"] == "not judged"
    assert verdicts["server/tcp stamp -> step p99 (µs)"] == "not judged"
    assert verdicts["server/tcp overruns at 500 Hz with a viewer (%)"] == "not judged"
    assert verdicts["server/tcp servo_cf at the device (Hz)"] == "pass"
    assert ok is False and "1 samples, needs >= 100" in " ".join(text.split())


def test_the_server_section_measures_from_the_first_sample_plus_the_settle():
    """Only the first 5% of samples was dropped: a 2 s run's device and viewer start-up
    filled its p99 (42-62 ms, all at the start)."""
    from bench.bus_server import SETTLE_S, measured_window

    arrivals = [10.0 + 0.001 * k for k in range(3000)]  # 3 s of samples at 1 kHz
    latencies = [0.05 if t < 10.0 + SETTLE_S else 1e-4 for t in arrivals]
    kept, begin = measured_window(arrivals, latencies)
    assert begin == 10.0 + SETTLE_S and kept and max(kept) == 1e-4
    assert len(kept) == pytest.approx(2000, abs=2)
    assert measured_window([], []) == ([], None)


def test_the_server_runs_at_least_five_seconds():
    assert bus.MIN_RUN_S["server"] >= 5.0
