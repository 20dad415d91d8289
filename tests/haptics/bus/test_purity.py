"""The bus runs in device processes and viewers: no pybullet, no sim; the package is light."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {m.split(".")[0] for m in eval(out.stdout.strip().splitlines()[-1])}


def test_the_bus_imports_no_physics_and_no_sim():
    roots = _modules_after(
        "import haptics.bus.contract, haptics.bus.sockets, haptics.bus.devices,"
        " haptics.bus.security, haptics.bus.latency"
    )
    assert not roots & {"pybullet", "sim", "scenarios", "OpenGL"}
    assert {"zmq", "msgpack"} <= roots


def test_importing_the_package_costs_nothing():
    assert "zmq" not in _modules_after("import haptics.bus")
