"""haptics runs in device processes and viewers: it must never pull in the physics engine."""

from __future__ import annotations

import subprocess
import sys


def test_haptics_imports_no_pybullet():
    code = (
        "import sys, numpy as np\n"
        "from haptics.teleop import Teleoperation, TeleopConfig\n"
        "from haptics.operators import SyntheticOperator, random_plan\n"
        "from haptics.tremor import make_filter\n"
        "import haptics.signals, haptics.master\n"
        "make_filter('default').filter(np.zeros((10, 3)))\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('pybullet', 'OpenGL', 'xr')])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
