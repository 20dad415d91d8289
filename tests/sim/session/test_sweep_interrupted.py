"""A sweep stopped by a signal says so: serial SIGTERM died of the raw signal (exit -15,
no word), serial Ctrl-C exited 130 with nothing said, and on Ray SIGTERM gave Ray's
native crash dump and exit 1, a sweep's code for a failed run, so a batch system could
not tell an interrupted sweep from a failed one. Real processes and real signals: the
sweep is ``python -m sim.cli sweep``, its second run a controller that waits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from sim.session import sweep as sw
from tests.own_modules import own_module

#: the quickest bundled scenario for the expert's plan (about a second a run)
SCENARIO = "camera-targeting"

#: seed 0 runs the expert's plan; seed 1 says it has started (a file) and then waits
CONTROLLER_SOURCE = """
import os, pathlib, time

from sim.session.controllers import ScriptedController


class Waits(ScriptedController):
    def reset(self, scenario, seed):
        if seed == 1:
            pathlib.Path(os.environ["SWEEP_STARTED"]).write_text("")
            time.sleep(120)
        super().reset(scenario, seed)


def waits():
    return Waits("expert")
"""


@pytest.fixture
def controllers(tmp_path, monkeypatch):
    yield from own_module(tmp_path, monkeypatch, "sweep_wait", CONTROLLER_SOURCE)


def _interrupted(tmp_path, controllers, signum, *how: str):
    out = tmp_path / "s.csv"
    started = tmp_path / "started"
    env = {**os.environ, "SWEEP_STARTED": str(started), "COLUMNS": "300"}
    command = [
        sys.executable, "-m", "sim.cli", "sweep", SCENARIO, "--operators", "",
        "--controller", f"{controllers}:waits", "--seeds", "0-2", "--out", str(out), *how,
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 240
        while not started.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the second run never started"
            time.sleep(0.1)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, " ".join((stdout + stderr).split()), out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_serial_sweep_stopped_by_a_signal_says_what_is_done_and_exits_128_plus_it(
    tmp_path, controllers, signum
):
    code, said, out = _interrupted(tmp_path, controllers, signum, "--serial")
    assert code == 128 + signum, said
    how = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
    assert f"interrupted ({how}): 1 of 3 runs done, journal at" in said, said
    assert "resume with the same command" in said
    assert "1 run: mean ± SD per metric (interrupted: finished runs)" in said
    assert "Traceback" not in said
    rows = [json.loads(line) for line in sw.journal_path(out).read_text().splitlines()]
    assert [r["seed"] for r in rows] == [0]  # the finished run kept for the resume
    assert not out.exists()  # no results table that looks complete


@pytest.mark.slow
def test_a_sweep_on_ray_stopped_by_sigterm_exits_143_not_1(tmp_path, controllers):
    pytest.importorskip("ray")
    code, said, _ = _interrupted(tmp_path, controllers, signal.SIGTERM, "--workers", "1")
    assert code == 143, said
    assert "interrupted (SIGTERM): 1 of 3 runs done" in said, said
    assert "*** SIGTERM received" not in said and "Traceback" not in said
