"""The headset client runs in a Python without pybullet (in CI: the trixie root's 3.13):
its import graph never reaches the physics engine, nor OpenXR until a session starts."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
sys.modules["pybullet"] = None  # any import of pybullet now raises ImportError
sys.modules["yaml"] = None  # nor has the trixie root PyYAML (roles.yaml's reader once was)
import sim.xr
from sim.xr import client, errors, frames, hands, link, monado, runtime, timing
from sim.cli import vr
from sim.cli import app
from typer.testing import CliRunner
result = CliRunner().invoke(app, ["vr", "--help"])
assert result.exit_code == 0, result.output
heavy = ("pybullet", "xr", "OpenGL", "sim.world", "sim.session", "sim.server", "numba")
print(",".join(m for m, mod in sys.modules.items() if mod is not None
               and any(m == h or m.startswith(h + ".") for h in heavy)) or "none")
"""


def test_headset_client_imports_without_pybullet_openxr_or_pyyaml():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "none", out.stdout


PYDANTIC_FREE = """
import sys
sys.modules["pydantic"] = None  # the trixie root's Python has no pydantic
import types
import sim.view.live, sim.xr.hud
from sim.xr.client import VrClient, VrOptions
said = []
client = VrClient(VrOptions(), log=said.append)
score = {"passed": False, "interrupted": True, "score": 0.0, "completed": False}
feed = types.SimpleNamespace(update=lambda: None, score=score)
assert client._server_ended(feed)
print(said[-1])
"""


def test_what_the_headset_shows_at_the_end_needs_no_pydantic():
    """The client imports the verdict and the overlay lazily, when the session ends or the
    first frame is drawn: an import of ``scenarios.scoring`` (pydantic) there would end
    the headset session with an ImportError on a root built by sim/xr/xr-root.sh."""
    out = subprocess.run(
        [sys.executable, "-c", PYDANTIC_FREE], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    said = out.stdout.strip().splitlines()[-1]
    assert said == "the session ended on the server: FAIL (stopped by the user), score 0.0"
