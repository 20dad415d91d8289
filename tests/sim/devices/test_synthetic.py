"""The synthetic device drives a server over real loopback sockets, from the bus alone.

A stand-in server (``standin.py``: a ServerBus and an in-process Session in real time,
publishing what docs/bus.md says) runs needle-handover; ``surgisim device synthetic``
runs as its own process, engages both arms (aligned hands, ``enable``, clutch tap) and
completes the exercise's first step, the pick-up: proof that the RemoteSession gives the
plans what they need (landmarks, poses, holders, tool tips, the frame mapping).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.sim.devices.standin import StandInServer

REPO = Path(__file__).resolve().parents[3]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_synthetic_device_completes_the_pick_up_over_the_bus():
    server = StandInServer("needle-handover").start()
    try:
        proc = subprocess.run(
            [
                sys.executable, "-m", "sim.cli", "device", "synthetic",
                "--port", str(server.port), "--steps", "1", "--seed", "3",
            ],
            env=_env(), cwd=REPO, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        session = server.session
        assert proc.returncode == 0, proc.stderr
        assert server.error is None
        # the exercise's first step ("pick up the needle with the left instrument") is done
        assert session.runner.step_index >= 1, proc.stderr
        assert "1/3 steps" in proc.stdout
        # both hands were engaged through the server: enable asked for each arm
        assert {"PSM1", "PSM2"} <= set(server.enabled)
        # every sample of both devices arrived and was used, in order
        for device in ("MTMR", "MTML"):
            stats = server.state.stats(device)
            assert stats.samples > 1000
            assert stats.lost == 0 and stats.restarts == 0 and stats.invalid_stamps == 0
    finally:
        server.stop()


def test_the_synthetic_device_needs_no_physics_engine():
    code = (
        "import sys\n"
        "import sim.devices.synthetic, sim.devices.remote, sim.cli.device\n"
        "import sim.session.plans.needles, sim.session.plans.peg_transfer\n"
        "import sim.session.plans.ring_walk, sim.session.plans.camera_targeting\n"
        "assert 'pybullet' not in sys.modules, 'pybullet was imported'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
