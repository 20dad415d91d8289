"""The synthetic device drives the live training server over real loopback sockets.

``surgisim device synthetic`` runs as its own process against a ``TrainingServer`` (the
server of ``surgisim serve``, in a thread): it engages both arms (aligned hands, enable,
clutch tap) and completes needle-handover's first step, the pick-up, from what it sees on
the bus alone: proof that the RemoteSession gives the plans what they need (landmarks,
poses, holders, tool tips, the frame mapping).
"""

from __future__ import annotations

import subprocess
import sys

from tests.sim.devices.conftest import REPO, repo_env


def test_synthetic_device_completes_the_pick_up_over_the_bus(served):
    proc = subprocess.run(
        [
            sys.executable, "-m", "sim.cli", "device", "synthetic",
            "--port", str(served.port), "--steps", "1", "--seed", "3",
        ],
        env=repo_env(), cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    session = served.server.session
    assert proc.returncode == 0, proc.stderr
    assert served.error is None
    # the exercise's first step ("pick up the needle with the left instrument") is done
    assert session.runner.step_index >= 1, proc.stderr
    assert "PSM2" in session.holders("pad/needle") or session.runner.step_index >= 2
    # every sample of both devices arrived and was taken, in order
    devices = served.server.devices
    for device in ("MTMR", "MTML"):
        stats = devices.stats(device)
        assert stats.samples > 1000
        assert stats.lost == 0 and stats.restarts == 0 and stats.invalid_stamps == 0


def test_the_synthetic_device_needs_no_physics_engine():
    code = (
        "import sys\n"
        "import sim.devices.synthetic, sim.devices.remote, sim.cli.device\n"
        "import sim.session.plans.needles, sim.session.plans.peg_transfer\n"
        "import sim.session.plans.ring_walk, sim.session.plans.camera_targeting\n"
        "assert 'pybullet' not in sys.modules, 'pybullet was imported'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=repo_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
