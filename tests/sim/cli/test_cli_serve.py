"""``surgisim serve`` as a user runs it: a subprocess, a device, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from scenarios.records import Records
from sim.cli.practice import free_port_block
from tests.sim.server.test_server import Device


def _serve_and_signal(tmp_path, signum: int, *extra: str):
    """Serve needle-handover with a device, send ``signum`` once PSM1 is aligning; the
    process's (stdout, stderr) and its records."""
    port = free_port_block()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "serve", "needle-handover", "--port", str(port),
         "--trainee", "calm-heron-4242", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    device = None
    try:
        device = Device(port)
        assert device.wait_aligning("PSM1", 60), device.seen("PSM1")
        time.sleep(1.0)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if device is not None:
            device.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, stdout + stderr
    assert "Traceback" not in stderr
    assert "stored as session 1" in stdout
    records = Records(f"sqlite:///{tmp_path / 'data' / 'surgisim' / 'records.sqlite'}")
    return stdout, stderr, records


def test_ctrl_c_mid_session_stores_it_as_incomplete(tmp_path):
    stdout, _, records = _serve_and_signal(tmp_path, signal.SIGINT, "--realtime")
    row = records.session(1)
    assert not row.completed and row.operator == "trainee"
    assert row.sim_time_s > 0.5
    assert row.conditions["loop"]["ticks"] > 100
    # --realtime: granted or not (it needs permission), what the loop got is said and kept
    scheduling = row.conditions["loop"]["scheduling"]
    assert "loop scheduling: " + scheduling["detail"] in " ".join(stdout.split())
    assert scheduling["realtime"] == ("SCHED_FIFO" in scheduling["detail"])
    # said before the session: needle-handover lists peg-transfer, never attempted here
    assert "calm-heron-4242 has not done peg-transfer (not attempted yet)" in " ".join(
        stdout.split()
    )


def test_sigterm_mid_session_stores_it_as_incomplete(tmp_path):
    """kill, systemd and docker stop a server with SIGTERM: stored as Ctrl-C does, 143."""
    _, stderr, records = _serve_and_signal(tmp_path, signal.SIGTERM)
    assert "stopping: the session is stored as incomplete" in " ".join(stderr.split())
    row = records.session(1)
    assert not row.completed and row.operator == "trainee"
    assert row.sim_time_s > 0.5
