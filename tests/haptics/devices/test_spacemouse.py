"""SpaceMouse mapping on raw HID reports built from the documented layout.

Reports (3Dconnexion devices; axes as the USB HID Usage Tables' Generic Desktop X, Y, Z,
Rx, Ry, Rz, signed 16-bit little-endian, about ±350 at full deflection; x right, y toward
the user, z down): report 1 translation (older devices) or all six axes (newer ones,
vendor 0x256F), report 2 rotation, report 3 a button mask.
"""

from __future__ import annotations

import math
import struct
import sys
import types

import numpy as np
import pytest

from haptics.devices.errors import DeviceError, MissingDriverError
from haptics.devices.spacemouse import (
    RawAxes,
    SpaceMouseAdapter,
    VirtualHandle,
    buttons_to_pedals,
    parse_report,
)


def report(rid: int, *values: int) -> bytes:
    return bytes([rid]) + struct.pack(f"<{len(values)}h", *values)


def fresh() -> RawAxes:
    return RawAxes(np.zeros(3), np.zeros(3))


def test_reports_of_old_and_new_devices():
    raw = fresh()
    assert parse_report(report(1, 100, -200, 350), raw)
    np.testing.assert_array_equal(raw.translation, [100, -200, 350])
    assert parse_report(report(2, -5, 6, -350), raw)
    np.testing.assert_array_equal(raw.rotation, [-5, 6, -350])
    # a newer device: one report with all six axes
    raw = fresh()
    assert parse_report(report(1, 1, 2, 3, -4, -5, -6), raw)
    np.testing.assert_array_equal(raw.translation, [1, 2, 3])
    np.testing.assert_array_equal(raw.rotation, [-4, -5, -6])
    assert parse_report(bytes([3, 0b10, 0]), raw)
    assert raw.buttons == 0b10
    assert not parse_report(bytes([4, 1]), raw)  # LED and other reports are not input
    assert not parse_report(b"", raw)
    assert not parse_report(bytes([1, 0, 0]), raw)  # truncated


def run(handle: VirtualHandle, t, r, seconds: float, dt: float = 0.001):
    for _ in range(round(seconds / dt)):
        X = handle.step(np.asarray(t, float), np.asarray(r, float), dt)
    return X


def test_axes_map_to_m_with_speed_and_sign():
    # full push to the right for 0.5 s at 0.1 m/s: 5 cm right in M
    X = run(VirtualHandle(max_speed_m_s=0.1, deadband=0.0), [350, 0, 0], [0, 0, 0], 0.5)
    np.testing.assert_allclose(X[:3, 3], [0.05, 0.0, 0.0], atol=1e-9)
    # pulling the cap toward the user (+y HID) moves the hand toward the trainee (-z M)
    X = run(VirtualHandle(max_speed_m_s=0.1, deadband=0.0), [0, 350, 0], [0, 0, 0], 0.5)
    np.testing.assert_allclose(X[:3, 3], [0.0, 0.0, -0.05], atol=1e-9)
    # pushing the cap down (+z HID) moves the hand down (+y M)
    X = run(VirtualHandle(max_speed_m_s=0.1, deadband=0.0), [0, 0, 175], [0, 0, 0], 0.5)
    np.testing.assert_allclose(X[:3, 3], [0.0, 0.025, 0.0], atol=1e-9)


def test_twists_turn_about_the_matching_m_axes():
    rate = 1.0
    # a twist about the HID's down axis (+Rz) turns the handle about M's +y (down) axis
    X = run(VirtualHandle(max_rate_rad_s=rate, deadband=0.0), [0, 0, 0], [0, 0, 350], 0.5)
    c, s = math.cos(0.5), math.sin(0.5)
    np.testing.assert_allclose(X[:3, :3], [[c, 0, s], [0, 1, 0], [-s, 0, c]], atol=1e-9)
    # a tilt about the HID's toward-the-user axis (+Ry) turns about M's -z
    X = run(VirtualHandle(max_rate_rad_s=rate, deadband=0.0), [0, 0, 0], [0, 175, 0], 1.0)
    c, s = math.cos(-0.5), math.sin(-0.5)
    np.testing.assert_allclose(X[:3, :3], [[c, -s, 0], [s, c, 0], [0, 0, 1]], atol=1e-9)
    assert abs(np.linalg.det(X[:3, :3]) - 1.0) < 1e-12


def test_deadband_saturation_workspace_and_stalls():
    h = VirtualHandle(max_speed_m_s=0.1, deadband=0.05)
    X = run(h, [15, -10, 17], [17, 0, -12], 1.0)  # inside 5% of 350: a hand resting on it
    np.testing.assert_array_equal(X, np.eye(4))
    # beyond full scale counts as full scale; the hand stays in its 15 cm sphere
    X = run(VirtualHandle(max_speed_m_s=0.1, deadband=0.0), [2000, 0, 0], [0, 0, 0], 10.0)
    assert np.linalg.norm(X[:3, 3]) == pytest.approx(0.15)
    # a stalled loop (1 s between reads) moves the hand by 50 ms' worth at most
    h = VirtualHandle(max_speed_m_s=0.1, deadband=0.0)
    X = h.step(np.array([350.0, 0, 0]), np.zeros(3), 1.0)
    assert X[0, 3] == pytest.approx(0.005)
    with pytest.raises(DeviceError):
        VirtualHandle(max_speed_m_s=0.0)


def test_buttons_left_clutch_right_gripper():
    g = math.radians(60.0)
    assert buttons_to_pedals(0, g) == (g, False)
    assert buttons_to_pedals(0b01, g) == (g, True)
    assert buttons_to_pedals(0b10, g) == (0.0, False)


class FakeHid:
    """The ``hid`` module's surface, with a SpaceMouse Compact sending queued reports."""

    def __init__(self, reports) -> None:
        self.reports = list(reports)
        self.opened = None

    def enumerate(self):
        return [
            {"vendor_id": 0x046D, "product_id": 0xC52B, "path": b"/dev/hidraw0"},  # a receiver
            {"vendor_id": 0x256F, "product_id": 0xC635, "path": b"/dev/hidraw3"},
        ]

    def device(self):
        fake = self

        class Device:
            def open_path(self, path):
                fake.opened = path

            def set_nonblocking(self, flag):
                pass

            def read(self, n):
                return fake.reports.pop(0) if fake.reports else []

            def close(self):
                fake.opened = None

        return Device()


def test_adapter_integrates_reports_and_aligns(monkeypatch):
    hid = FakeHid([report(1, 350, 0, 0), report(2, 0, 0, 0), bytes([3, 0b11])])
    monkeypatch.setitem(sys.modules, "hid", types.SimpleNamespace(**{
        "enumerate": hid.enumerate, "device": hid.device,
    }))  # fmt: skip
    mouse = SpaceMouseAdapter(handle=VirtualHandle(max_speed_m_s=0.1, deadband=0.0))
    mouse.open()
    assert hid.opened == b"/dev/hidraw3" and mouse.product == "SpaceMouse Compact"
    mouse.read(10.0)  # the first read starts the clock
    reading = mouse.read(10.01)  # 10 ms at full push right
    assert reading.X_MH[0, 3] == pytest.approx(0.001)
    assert reading.clutch and reading.gripper_rad == 0.0
    R = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    mouse.align_to(R)
    np.testing.assert_allclose(mouse.read(10.02).X_MH[:3, :3], R)
    mouse.close()
    assert hid.opened is None


def test_no_device_and_missing_hidapi(monkeypatch):
    monkeypatch.setitem(sys.modules, "hid", types.SimpleNamespace(enumerate=lambda: []))
    with pytest.raises(DeviceError, match="no 3Dconnexion SpaceMouse found"):
        SpaceMouseAdapter().open()
    monkeypatch.setitem(sys.modules, "hid", None)
    with pytest.raises(MissingDriverError) as info:
        SpaceMouseAdapter().open()
    assert "surgisim[spacemouse]" in str(info.value) and "hidapi" in str(info.value)
