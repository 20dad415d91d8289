"""``surgisim practice --vr --monado simulated`` and ``surgisim vr --monado simulated``:
the commands for the headset where the host has no OpenXR runtime (the server here,
Monado and the client in the root)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from haptics.bus.ports import free_port_block
from haptics.bus.sockets import ClientBus
from tests.xr.conftest import Server

pytestmark = pytest.mark.slow


def _practice_stopped(tmp_path, scenario: str, settle_s: float, stop) -> tuple[int, str]:
    """``practice SCENARIO --vr --monado simulated``: once its headset session is FOCUSED
    and ``settle_s`` later, ``stop(process, port)``; its exit code and output."""
    port = free_port_block()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "COLUMNS": "200"}
    command = [sys.executable, "-m", "sim.cli", "practice", scenario, "--vr",
               "--monado", "simulated", "--port", str(port),
               "--trainee", "calm-heron-2468"]  # fmt: skip
    practice = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(practice.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 600
        while not any("OpenXR session: FOCUSED" in ln for ln in lines):
            assert practice.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.2)
        time.sleep(settle_s)
        stop(practice, port)
        code = practice.wait(300)
    finally:
        if practice.poll() is None:
            practice.kill()
        reader.join(10)
    return code, "".join(lines)


def _stop_request(practice, port: int) -> None:
    bus = ClientBus(port=port, subscribe=())
    try:
        assert bus.request("stop", timeout_s=60)["ok"]
    finally:
        bus.close()


def test_practice_in_the_simulated_headset_runs_scores_and_stores(xr_root, tmp_path):
    code, out = _practice_stopped(tmp_path, "needle-handover", 3.0, _stop_request)
    assert "Traceback" not in out, out
    assert "the session ended on the server: FAIL" in out, out  # stopped before the end
    # storing is silent, and said to be (session/ending): not taken for a crashed server
    assert "sent nothing" not in out and "did not take the stop" not in out, out
    assert "stored as session 1" in out, out
    assert code == 130, out  # as after Ctrl-C: stored as incomplete


def test_ctrl_c_in_the_simulated_headset_stops_once_and_stores(xr_root, tmp_path):
    """Ctrl-C reaches ``surgisim`` alone (its children run in sessions of their own); it
    ends the client, then the server, then Monado, and the trainee reads the stop once,
    not "the OpenXR runtime went away" about a session that was stored."""
    import signal

    # the terminal's Ctrl-C reaches surgisim only
    code, out = _practice_stopped(
        tmp_path, "ring-walk", 2.0, lambda practice, port: practice.send_signal(signal.SIGINT)
    )
    assert "Traceback" not in out, out
    assert out.count("stopping the headset session") == 1, out
    assert "runtime went away" not in out and "did not take the stop" not in out, out
    assert "stored as session 1" in out, out
    assert code == 130, out


def test_vr_in_the_simulated_headset_joins_a_running_server(xr_root, tmp_path):
    """A technician's check without a headset: the client alone, in Monado, on a server
    that runs already; its report lands where --json said, on the host."""
    server = Server(tmp_path)
    try:
        assert server.viewer.wait_for(lambda: server.viewer.hello is not None, 180), server.log
        report = tmp_path / "out" / "vr.json"
        out = subprocess.run(
            [sys.executable, "-m", "sim.cli", "vr", "--monado", "simulated",
             "--port", str(server.port), "--seconds", "4", "--json", str(report)],
            capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        text = out.stdout + out.stderr
        assert out.returncode == 0, text
        assert "Traceback" not in text and "OpenXR session: FOCUSED" in text, text
        assert json.loads(report.read_text())["submitted"] > 0
        assert server.process.poll() is None  # the session goes on without the headset
    finally:
        server.close()
