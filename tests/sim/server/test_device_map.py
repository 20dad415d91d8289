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


def test_a_hand_mapped_to_the_scope_drives_it_with_its_own_clutch():
    """``--map MTMR=ECM`` (camera-targeting): each sample reached the scope's pipeline
    twice, once as a clutched copy meant to keep the scope still while no camera pedal is
    pressed; the copy read as a press, so a held scope said "clutch press ignored" to a
    device that had never pressed its clutch (a Node.js device author's probe)."""
    import numpy as np

    from haptics.bus.devices import DeviceSample
    from haptics.master import MasterSample
    from sim.server.routing import Router

    sample = MasterSample(time_s=1.0, X_MH=np.eye(4), gripper_rad=0.3, clutch=False)
    hand = DeviceSample("MTMR", sample, seq=7, stamp_s=1.0, received_s=1.0)
    scope = Router({"MTMR": "ECM"}, camera_arm="ECM").route([hand])
    assert scope == {"ECM": [sample]}
    # an instrument hand still keeps the scope's pipeline fed, clutched, while it is
    # not driving the scope (no camera pedal)
    both = Router({"MTMR": "PSM1"}, camera_arm="ECM").route([hand])
    assert both["PSM1"] == [sample] and [s.clutch for s in both["ECM"]] == [True]


def test_two_devices_for_one_arm_are_refused_naming_both(handover):
    """``--map MTMR=PSM1 --map MTML=PSM1`` served with ``MTML -> PSM1`` alone: MTMR was
    dropped without a word and PSM2 had no device."""
    with pytest.raises(SimError, match="two devices \\(MTMR and MTML\\) for arm 'PSM1'"):
        parse_device_map(["MTMR=PSM1", "MTML=PSM1"], handover)
    # an override still takes its arm from the device the scenario's hands gave it
    assert parse_device_map(["MTMR=PSM2", "MTML=PSM1"], handover) == {
        "MTMR": "PSM2",
        "MTML": "PSM1",
    }


def test_a_device_given_twice_is_refused(handover):
    with pytest.raises(SimError, match="device 'MTMR' is given twice"):
        parse_device_map(["MTMR=PSM1", "MTMR=PSM2"], handover)
    with pytest.raises(SimError, match="device 'MTML' is given twice"):
        parse_device_map(["MTML=none", "MTML=PSM2"], handover)


def test_a_device_mapped_to_an_arm_no_master_drives_is_refused():
    """``--map MTMR=ECM`` on peg transfer (its endoscope is held, not teleoperated) was
    served: every sample went nowhere and the scope never moved."""
    peg = load_scenario("peg-transfer")
    with pytest.raises(SimError, match="no master drives ECM in this scenario"):
        parse_device_map(["MTMR=ECM"], peg)
    assert parse_device_map(["MTMR=ECM"], load_scenario("camera-targeting")) == {"MTMR": "ECM"}


def test_a_camera_pedal_with_a_fixed_endoscope_holds_the_instrument_and_is_said_once():
    """Every bundled instrument scenario has a fixed endoscope: a pressed camera pedal was
    ignored without a word and the instrument went on following the hand the trainee
    meant to move the camera with. It now holds (a clutched sample), said once."""
    import numpy as np

    from haptics.bus.devices import DeviceSample
    from haptics.master import MasterSample
    from sim.server.routing import Router

    sample = MasterSample(time_s=1.0, X_MH=np.eye(4), gripper_rad=0.3, clutch=False)
    router = Router({"MTMR": "PSM1", "MTML": "PSM2"}, camera_arm=None)
    pressed = DeviceSample("MTMR", sample, seq=1, stamp_s=1.0, received_s=1.0, camera=True)
    free = DeviceSample("MTML", sample, seq=1, stamp_s=1.0, received_s=1.0)
    out = router.route([pressed, free])
    assert [s.clutch for s in out["PSM1"]] == [True] and out["PSM2"] == [sample]
    assert router.pop_fixed_camera() == ["MTMR"]
    router.route([pressed])
    assert router.pop_fixed_camera() == []  # once per device and session
