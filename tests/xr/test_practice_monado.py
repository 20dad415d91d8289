"""``surgisim practice --vr --monado simulated``: the one command for the headset where
the host has no OpenXR runtime (the server here, Monado and the client in the root)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from haptics.bus.sockets import ClientBus
from sim.cli.practice import free_port_block

pytestmark = pytest.mark.slow


def test_practice_in_the_simulated_headset_runs_scores_and_stores(xr_root, tmp_path):
    port = free_port_block()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "COLUMNS": "200"}
    command = [sys.executable, "-m", "sim.cli", "practice", "needle-handover", "--vr",
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
        time.sleep(3.0)
        bus = ClientBus(port=port, subscribe=())
        try:
            assert bus.request("stop", timeout_s=60)["ok"]
        finally:
            bus.close()
        code = practice.wait(300)
    finally:
        if practice.poll() is None:
            practice.kill()
        reader.join(10)
    out = "".join(lines)
    assert "Traceback" not in out, out
    assert "the session ended on the server: FAIL" in out, out  # stopped before the end
    assert "stored as session 1" in out, out
    assert code == 130, out  # as after Ctrl-C: stored as incomplete
