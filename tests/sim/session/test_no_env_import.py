"""The session room runs without the Gymnasium environment (``sim.env``) or Gymnasium.

``sim.env`` sits above ``sim.session`` (it wraps a session); the provenance digest and the
sweep's job once imported ``sim.env.surgical`` only to load a scenario with the world's
object types, which pulled in ``gymnasium`` for a headless sweep.
"""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys

import sim.session.headless
import sim.session.provenance as provenance
import sim.session.recording
import sim.session.recording.replay
import sim.session.session
import sim.session.sweep as sweep

provenance.scenario_digest("peg-transfer")
row = sweep.attempt(sweep.Job("peg-transfer", "controller:no_such_module_xyz:make", 0))
assert row.get("error"), row  # loaded the scenario, then failed on the controller
print(sorted(m for m in sys.modules if m.split(".")[:2] == ["sim", "env"] or m == "gymnasium"))
"""


def test_session_modules_load_neither_sim_env_nor_gymnasium():
    out = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
