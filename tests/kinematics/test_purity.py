"""kinematics must stay pure math: no physics engine, bus, GL or XR in its import graph."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("pybullet", "zmq", "OpenGL", "xr", "glfw")


def test_kinematics_imports_no_heavy_packages():
    code = (
        "import sys, numpy as np\n"
        "import kinematics\n"
        "from kinematics import Chain, psm, ecm, solve_ik, solve_ik_batch, KinematicsError\n"
        "from kinematics import urdf, rcm, dh, transforms\n"
        "arm = psm(); solve_ik(arm, arm.fk(np.zeros(6)))\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules or any(k.startswith(m + '.') "
        "for k in sys.modules)]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"kinematics pulled in: {out.stdout}"


def test_package_import_is_lazy():
    code = "import sys, kinematics; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
