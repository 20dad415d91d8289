"""Device processes run beside a console: haptics.devices pulls in no physics engine, no
simulator and no scenario code, and no device SDK until a device is opened."""

from __future__ import annotations

import subprocess
import sys


def test_device_side_imports_stay_light():
    code = (
        "import sys, importlib, pkgutil, haptics.devices as d\n"
        "for m in pkgutil.iter_modules(d.__path__):\n"
        "    importlib.import_module('haptics.devices.' + m.name)\n"
        "bad = ('pybullet', 'sim', 'scenarios', 'OpenGL', 'pyOpenHaptics', 'hid', 'trimesh')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(bad)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
