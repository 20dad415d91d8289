"""``serve --map``: which device drives which arm."""

from __future__ import annotations

import pytest

from scenarios.loader import load_scenario
from sim.errors import SimError
from sim.server.routing import parse_device_map


@pytest.fixture(scope="module")
def handover():
    return load_scenario("needle-handover")


def test_by_hand_by_default_and_an_override_takes_the_arm_from_its_device(handover):
    assert parse_device_map([], handover) == {"MTMR": "PSM1", "MTML": "PSM2"}
    assert parse_device_map(["MTMR=PSM2"], handover) == {"MTMR": "PSM2"}


def test_a_device_left_out_is_not_waited_for(handover):
    """A one-handed device (the 30-line example in docs/bus.md) on a two-handed scenario
    waited forever for the other hand's device."""
    assert parse_device_map(["MTML=none"], handover) == {"MTMR": "PSM1"}
    with pytest.raises(SimError, match="no device 'MTMX' to leave out"):
        parse_device_map(["MTMX=none"], handover)
    with pytest.raises(SimError, match="DEVICE=none"):
        parse_device_map(["MTMR"], handover)
