"""Lazy package exports (sim._lazy): names load on first use, and not before."""

from __future__ import annotations

import subprocess
import sys

import pytest

PACKAGES = ("sim.render", "sim.view", "sim.xr", "sim.session", "sim.session.recording", "sim.world")


def test_importing_the_packages_loads_none_of_their_modules():
    code = (
        "import sys, importlib\n"
        f"for p in {PACKAGES!r}: importlib.import_module(p)\n"
        "heavy = ('pybullet', 'OpenGL', 'sim.world.world', 'sim.session.session',"
        " 'sim.xr.client')\n"
        "print(','.join(m for m in heavy if m in sys.modules) or 'none')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "none"


def test_a_name_loads_on_first_use_and_stays():
    import sim.xr

    assert "XrError" in dir(sim.xr)
    error = sim.xr.XrError
    from sim.xr.errors import XrError

    assert error is XrError and vars(sim.xr)["XrError"] is XrError


def test_an_unknown_name_says_which_package():
    import sim.view

    with pytest.raises(AttributeError, match=r"module 'sim\.view' has no attribute 'Nope'"):
        sim.view.Nope  # noqa: B018
