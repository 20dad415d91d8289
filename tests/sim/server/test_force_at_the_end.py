"""The last ``servo_cf`` a device gets is zero, whatever ends the session.

An outsider's haptic client pushed the tool onto the board (3 N on the hand) and stopped
the session: the last ``servo_cf`` was the full contact force, then ``session/ending``
and silence, so a device that renders the latest message held 3 N. On real loopback
sockets, as the other server tests: a device pushes into the workspace wall and the
board, then the session ends by a ``stop`` request or by the server being stopped
(Ctrl-C, SIGTERM: ``interrupted``).
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from tests.sim.server.patience import patient_watchdog
from tests.sim.server.test_server import Device, Served


def _force_n(payload) -> float:
    return float(np.linalg.norm(payload["force_n"])) if payload else 0.0


def _push_on(device: Device) -> None:
    """Move MTMR's hand half a metre further into the scene (the board and the workspace
    wall: the force rises to its saturation)."""
    hand = device.hand["MTMR"].copy()
    hand[:3, 3] += (0.0, 0.0, 0.5)
    device.hand["MTMR"] = hand


def _pressing(device: Device, above_n: float) -> bool:
    """Whether MTMR's force rises above ``above_n`` within 30 s. A held arm (the watchdog
    holds it when this test's device thread is starved on a loaded machine) is brought
    back to following, as the other server tests do, with the hand where it is."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if device.wait_for(lambda: _force_n(device.latest("MTMR/servo_cf")) > above_n, 1.0):
            return True
        if device.state("PSM1") == "HOLDING":
            hand = device.hand["MTMR"].copy()
            device.follow("MTMR", "PSM1", timeout_s=max(1.0, end - time.monotonic()))
            device.hand["MTMR"] = hand
    return False


@pytest.mark.parametrize("ending", ["stop request", "interrupted"])
def test_every_device_gets_a_zero_force_before_the_session_ends(ending, monkeypatch):
    patient_watchdog(monkeypatch)  # not a watchdog test: a starved device thread is no hold
    served = Served()  # needle-handover: MTMR -> PSM1, MTML -> PSM2
    device = Device(served.server.port)
    try:
        device.follow("MTMR", "PSM1")
        _push_on(device)
        assert _pressing(device, 1.0), device.seen("PSM1")
        if ending == "stop request":
            assert device.bus.request({"request": "stop"}, timeout_s=10)["ok"]
        else:
            served.stopped = True
        assert device.wait_for(lambda: device.latest("session/ending") is not None, 60)
        time.sleep(0.2)  # anything sent after the notice
        with device._lock:
            inbox = [m for _, m in device.inbox]
    finally:
        device.close()
        served.stop()
        served.close()
    end = next(k for k, m in enumerate(inbox) if m.topic == "session/ending")
    assert inbox[end].payload["reason"] == ending
    for name in ("MTMR", "MTML"):
        forces = [m.payload for m in inbox[:end] if m.topic == f"{name}/servo_cf"]
        assert forces and forces[-1]["force_n"] == [0.0, 0.0, 0.0], (name, forces[-3:])
        assert forces[-1]["torque_nm"] == [0.0, 0.0, 0.0]
    after = [m.payload for m in inbox[end:] if m.topic.endswith("/servo_cf")]
    assert all(_force_n(p) == 0.0 for p in after), after


def test_after_a_pause_the_force_ramps_back_from_zero(monkeypatch):
    """A pause publishes zero force past the arm's filter, which kept the force from
    before it: the first message after ``resume`` jumped 0 -> 3 N in one step (7.5 times
    ``max_force_step_n``), where docs/bus.md promises a ramp."""
    patient_watchdog(monkeypatch)
    served = Served()
    device = Device(served.server.port)
    try:
        bound = served.server.forces["PSM1"].config.max_force_step_n
        device.follow("MTMR", "PSM1")
        _push_on(device)
        assert _pressing(device, 2.0), device.seen("PSM1")
        assert device.command("pause", "PSM1")
        assert device.wait_for(lambda: _force_n(device.latest("MTMR/servo_cf")) == 0.0, 10)
        time.sleep(0.3)
        with device._lock:
            start = len(device.inbox)
        assert device.command("resume", "PSM1")
        time.sleep(0.3)  # following again: the resume took the hand where it is now
        _push_on(device)
        time.sleep(1.0)
        with device._lock:
            forces = [m.payload for _, m in device.inbox[start:] if m.topic == "MTMR/servo_cf"]
    finally:
        device.close()
        served.stop()
        served.close()
    assert len(forces) > 100, forces[-3:]  # servo_cf kept coming after the resume
    magnitudes = [_force_n(p) for p in forces]
    steps = [b - a for a, b in itertools.pairwise(magnitudes)]
    assert max(steps) <= bound * (1 + 1e-6), max(steps)
