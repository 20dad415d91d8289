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
                "viewer_messages": 5}  # fmt: skip

    monkeypatch.setattr(bus, "run_config", run_config)
    monkeypatch.setattr(bus, "garbage_costs_us", lambda: {"pose": 1.0})
    monkeypatch.setattr(bench.bus_server, "run_server_config", run_server_config)
    monkeypatch.setattr(realtime, "use_realtime", lambda: type("P", (), {"realtime": False,
                        "detail": "not here"})())  # fmt: skip
    out = io.StringIO()
    out_json = tmp_path / "bus.json"
    console = Console(file=out, width=200)
    bus.run_bus_benchmark(seconds=2.0, rounds=1, json_path=out_json, console=console)
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
