"""What the plans read of an arm over the bus matches the simulator's arm."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from scenarios.loader import load_scenario
from sim.devices.remote import RemoteArm
from sim.session.session import Session
from sim.world.scenario_scene import build_scene_spec


def test_the_scopes_view_over_the_bus_is_the_simulators():
    scenario = load_scenario("peg-transfer")
    spec = next(a for a in build_scene_spec(scenario, 0).arms if a.model == "ecm")
    with Session(scenario, seed=0) as session:
        scope = session.arms[spec.name]
        seen = SimpleNamespace(X_WT=scope.measured_cp())
        remote = RemoteArm(SimpleNamespace(_seen=lambda name: seen), spec)
        here, there = scope.frustum(), remote.frustum()
        np.testing.assert_allclose(there.X_WC, here.X_WC)
        assert (there.fov_y_rad, there.aspect, there.near_m, there.far_m) == (
            here.fov_y_rad, here.aspect, here.near_m, here.far_m,
        )  # fmt: skip
        board = session.world.landmark("board", "peg6")
        assert bool(there.contains(board[None])[0]) == bool(here.contains(board[None])[0])


def test_a_hello_without_a_scenario_says_what_to_drive_and_no_missing_option():
    """Against ``device record`` (no scenario), the synthetic operator said "give
    --scenario", an option no command has."""
    import pytest

    from haptics.devices.errors import DeviceError
    from sim.devices.remote import scenario_from_hello

    with pytest.raises(DeviceError) as refused:
        scenario_from_hello({"ok": True, "contract": 1})
    said = str(refused.value)
    assert "surgisim serve SCENARIO" in said and "--record FILE" in said
    assert "--scenario" not in said
