"""The desktop trainer runs in a Python without pybullet: its import graph never reaches the
physics engine (DESIGN.md: rendering code imports no pybullet)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
sys.modules["pybullet"] = None  # any import of pybullet now raises ImportError
import sim.view
from sim.view import hud, input, snapshots, viewer, warnings, window
from sim.view import DesktopMaster, SessionCamera, Viewer, WarningWatch
from sim.cli import view, practice
heavy = ("pybullet", "sim.world", "sim.session", "sim.server", "OpenGL", "glfw")
print(",".join(m for m, mod in sys.modules.items() if mod is not None
               and any(m == h or m.startswith(h + ".") for h in heavy)) or "none")
"""


def test_the_desktop_trainer_imports_without_pybullet():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "none"  # nor OpenGL or GLFW until a window opens
