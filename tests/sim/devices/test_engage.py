"""Aligning, enabling and clutching in, against the live server's teleoperation.

The device side is what every device process uses: a DeviceLink, a HandStream holding the
hands, an ArmWatch computing the aligned handle orientation from the bus
(``R_MH = R_CM^T R_WC^T R_WT``). The server side is ``surgisim serve``'s TrainingServer with
the dVRK-like teleoperation (DISABLED until enabled, a 10° alignment gate).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from haptics.devices.align import rotation_error_rad
from haptics.devices.base import DeviceReading
from haptics.devices.link import DeviceLink
from haptics.devices.loop import enable_arm
from haptics.devices.stream import HandStream
from haptics.devices.watch import ArmWatch
from kinematics.transforms import axis_rotation


def _wait(link, watch, predicate, timeout_s=30.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        for m in link.poll(0.01):
            watch.update(m)
        if predicate():
            return True
    return False


def _hand(R) -> DeviceReading:
    X = np.eye(4)
    X[:3, :3] = R
    return DeviceReading(X, 0.3, False)


def _clutch_tap(stream: HandStream, device: str) -> None:
    held = stream.current(device)
    for pressed in (True, False):
        stream.hold({device: DeviceReading(held.X_MH, held.gripper_rad, pressed)})
        time.sleep(0.15)


def test_aligned_hand_enable_and_clutch_in_reach_following(served):
    pytest.importorskip("haptics.teleop.output")  # the dVRK-like teleoperation
    link = DeviceLink(["MTMR", "MTML"], port=served.port, notify=lambda s: None)
    # a hand held the wrong way round: 60 degrees about the view axis from anything sane
    wrong = axis_rotation([0.3, -0.2, 0.93], math.radians(60.0))
    stream = HandStream(link, {"MTMR": _hand(wrong), "MTML": _hand(np.eye(3))})
    try:
        link.connect(timeout_s=30)
        stream.start()
        watch = ArmWatch.from_hello(link.hello)
        arm = link.arm_of("MTMR")
        assert arm == "PSM1" and watch.camera_arm == "ECM"
        assert enable_arm(link, arm)
        # enabled but misaligned: the gate holds the arm in ALIGNING and says by how much
        assert _wait(link, watch, lambda: watch.arm(arm).state == "ALIGNING")
        assert _wait(link, watch, lambda: watch.arm(arm).align_error_rad > math.radians(10))
        # the orientation the device computes from the bus is the teleoperation's own
        R = watch.aligned(arm)
        teleop = served.server.session.teleops[arm]
        assert rotation_error_rad(R, teleop.aligned_hand_rotation()) < math.radians(0.5)
        # present it, clutch in: FOLLOWING (a loaded machine may stall the server long
        # enough for its watchdog to hold the arm: a hold asks for another clutch tap)
        stream.hold({"MTMR": _hand(R)})
        for _ in range(3):
            _clutch_tap(stream, "MTMR")
            settled = _wait(link, watch, lambda: watch.arm(arm).state in ("FOLLOWING", "HOLDING"))
            if settled and watch.arm(arm).state == "FOLLOWING":
                break
        assert watch.arm(arm).state == "FOLLOWING"
        assert watch.arm(arm).align_error_rad < math.radians(2.0)
        # turned 30 degrees away during a clutch stroke: released, the gate refuses it
        stream.hold({"MTMR": DeviceReading(_hand(R).X_MH, 0.3, True)})
        assert _wait(link, watch, lambda: watch.arm(arm).state in ("CLUTCHED", "HOLDING"))
        turned = axis_rotation([0.0, 0.0, 1.0], math.radians(30.0)) @ R
        stream.hold({"MTMR": _hand(turned)})
        assert _wait(link, watch, lambda: watch.arm(arm).state == "ALIGNING")
        assert _wait(link, watch, lambda: watch.arm(arm).align_error_rad > math.radians(25))
        assert not _wait(link, watch, lambda: watch.arm(arm).state == "FOLLOWING", 0.5)
    finally:
        stream.stop()
        link.close()
