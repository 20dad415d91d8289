"""Touch mapping on raw OpenHaptics readings built from the HD API's documented formats.

HD API (OpenHaptics Toolkit API Reference, ``hdGet``/``hdSet`` parameters):
``HD_CURRENT_TRANSFORM`` is 16 doubles, column-major, translation in millimetres at
[12..14]; the base frame faces the device: x right, y up, z toward the user;
``HD_CURRENT_BUTTONS`` is a bit mask (button 1 = bit 0, button 2 = bit 1);
``HD_CURRENT_FORCE`` is newtons in the same frame.
"""

from __future__ import annotations

import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from haptics.devices.errors import MissingDriverError
from haptics.devices.touch import (
    TouchAdapter,
    buttons_to_pedals,
    force_to_device,
    transform_to_pose_M,
)
from kinematics import transforms

REPO = Path(__file__).resolve().parents[3]


def rot_x(a):
    return transforms.rot_x(a)[:3, :3]


def rot_y(a):
    return transforms.rot_y(a)[:3, :3]


def rot_z(a):
    return transforms.rot_z(a)[:3, :3]


def column_major(R_D, p_D_mm) -> list[float]:
    """An HD_CURRENT_TRANSFORM reading: the 4x4 [R p; 0 1] flattened column by column."""
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R_D, p_D_mm
    return T.T.reshape(16).tolist()


def test_position_millimetres_in_device_axes_become_metres_in_m():
    # 10 mm right, 20 mm up, 30 mm toward the user
    X = transform_to_pose_M(column_major(np.eye(3), [10.0, 20.0, 30.0]))
    # M: x right, y down, z away from the trainee (metres)
    np.testing.assert_allclose(X[:3, 3], [0.010, -0.020, -0.030], atol=1e-12)
    np.testing.assert_allclose(X[:3, :3], np.eye(3), atol=1e-12)


def test_each_device_axis_maps_to_its_m_axis():
    for axis, expected in ((0, [1, 0, 0]), (1, [0, -1, 0]), (2, [0, 0, -1])):
        p = np.zeros(3)
        p[axis] = 1000.0  # one metre along a device axis
        X = transform_to_pose_M(column_major(np.eye(3), p))
        np.testing.assert_allclose(X[:3, 3], expected, atol=1e-12)


def test_handle_turns_map_about_the_matching_m_axes():
    a = math.radians(30.0)
    # yaw about the device's up axis is a turn about M's -y (M's y points down)
    X = transform_to_pose_M(column_major(rot_y(a), [0, 0, 0]))
    np.testing.assert_allclose(X[:3, :3], rot_y(-a), atol=1e-12)
    # a roll about the device's x (right) is the same turn about M's x
    X = transform_to_pose_M(column_major(rot_x(a), [0, 0, 0]))
    np.testing.assert_allclose(X[:3, :3], rot_x(a), atol=1e-12)
    # a twist about the device's z (toward the user) is a turn about M's -z
    X = transform_to_pose_M(column_major(rot_z(a), [0, 0, 0]))
    np.testing.assert_allclose(X[:3, :3], rot_z(-a), atol=1e-12)
    assert abs(np.linalg.det(X[:3, :3]) - 1.0) < 1e-12


def test_nested_column_arrays_as_pyopenhaptics_returns_them():
    R = rot_z(0.3) @ rot_x(-0.2)
    flat = column_major(R, [5.0, -7.0, 11.0])
    nested = [flat[4 * c : 4 * c + 4] for c in range(4)]  # t[col][row], t[3][0..2] = p
    np.testing.assert_allclose(transform_to_pose_M(nested), transform_to_pose_M(flat))


def test_buttons_front_closes_gripper_rear_is_clutch():
    open_rad = math.radians(60.0)
    assert buttons_to_pedals(0b00, open_rad) == (open_rad, False)
    assert buttons_to_pedals(0b01, open_rad) == (0.0, False)
    assert buttons_to_pedals(0b10, open_rad) == (open_rad, True)
    assert buttons_to_pedals(0b11, open_rad) == (0.0, True)


def test_force_direction_scale_and_saturation():
    # down in the image (+y in M) is down at the device (-y in D), newtons unchanged
    np.testing.assert_allclose(force_to_device([0.0, 1.5, 0.0]), [0.0, -1.5, 0.0])
    # away from the trainee (+z in M) pushes the stylus away from the user (-z in D)
    np.testing.assert_allclose(force_to_device([0.0, 0.0, 0.5]), [0.0, 0.0, -0.5])
    np.testing.assert_allclose(force_to_device([0.7, 0.0, 0.0]), [0.7, 0.0, 0.0])
    f = force_to_device([30.0, 40.0, 0.0], max_force_n=3.0)  # 50 N asked
    assert np.linalg.norm(f) == pytest.approx(3.0)
    np.testing.assert_allclose(f / 3.0, [0.6, -0.8, 0.0])  # direction kept
    np.testing.assert_array_equal(force_to_device([math.nan, 0.0, 1.0]), np.zeros(3))
    np.testing.assert_array_equal(force_to_device([math.inf, 0.0, 1.0]), np.zeros(3))


def test_force_feedback_from_servo_cf_through_the_renderer():
    force = pytest.importorskip("haptics.force")
    if not hasattr(force, "ForceRenderer"):
        pytest.skip("needs haptics.force.ForceRenderer (the teleoperation rewrite)")
    renderer = force.ForceRenderer()
    hand = np.array([0.0, 0.01, 0.0])
    assert renderer.receive([0.0, -2.0, 0.0], hand, now_s=1.0)  # the tissue pushes the hand up
    for k in range(1, 21):  # ramped in through the renderer's slew limit (200 N/s)
        F_M = renderer.render(hand, 1.0 + 0.001 * k)
    np.testing.assert_allclose(force_to_device(F_M), [0.0, 2.0, 0.0], atol=1e-9)  # up at the device
    # pushing further into the contact raises the force, up to the saturation
    for k in range(21, 31):
        deeper = renderer.render(hand + np.array([0.0, 0.5, 0.0]), 1.0 + 0.001 * k)
    assert np.linalg.norm(force_to_device(deeper, 3.0)) == pytest.approx(3.0)
    # a silent server: no force after the renderer's age limit
    np.testing.assert_array_equal(renderer.render(hand, 2.0), np.zeros(3))


class FakeHD:
    """pyOpenHaptics's hd module surface, fed by the test (one servo tick per call)."""

    def __init__(self) -> None:
        self.transform = [[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]]
        self.buttons = 0
        self.forces: list = []

    def get_transform(self):
        return self.transform

    def get_buttons(self):
        return self.buttons

    def set_force(self, f):
        self.forces.append(list(f))


def fake_pyopenhaptics(monkeypatch) -> tuple[FakeHD, dict]:
    hd = FakeHD()
    made = {}

    class HapticDevice:
        def __init__(self, callback, device_name="Default Device", scheduler_type="async"):
            self.id = 1
            made["callback"], made["name"] = callback, device_name

        def close(self):
            made["closed"] = True

    pkg = types.ModuleType("pyOpenHaptics")
    hd_mod = types.ModuleType("pyOpenHaptics.hd")
    for name in ("get_transform", "get_buttons", "set_force"):
        setattr(hd_mod, name, getattr(hd, name))
    cb_mod = types.ModuleType("pyOpenHaptics.hd_callback")
    cb_mod.hd_callback = lambda f: f  # the real one wraps f in a ctypes frame callback
    dev_mod = types.ModuleType("pyOpenHaptics.hd_device")
    dev_mod.HapticDevice = HapticDevice
    pkg.hd, pkg.hd_callback, pkg.hd_device = hd_mod, cb_mod, dev_mod
    for name, mod in (
        ("pyOpenHaptics", pkg),
        ("pyOpenHaptics.hd", hd_mod),
        ("pyOpenHaptics.hd_callback", cb_mod),
        ("pyOpenHaptics.hd_device", dev_mod),
    ):
        monkeypatch.setitem(sys.modules, name, mod)
    return hd, made


def test_adapter_reads_on_the_servo_thread_and_writes_the_force(monkeypatch):
    hd, made = fake_pyopenhaptics(monkeypatch)
    touch = TouchAdapter("Left Touch", max_force_n=10.0)  # capped at the Touch's 3.3 N
    touch.open()
    assert made["name"] == "Left Touch"
    hd.transform = [[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [10.0, 20.0, 30.0, 1.0]]
    hd.buttons = 0b11
    touch.command_force([0.0, 0.0, 5.0])
    made["callback"]()  # one OpenHaptics servo tick
    reading = touch.read(0.0)
    np.testing.assert_allclose(reading.X_MH[:3, 3], [0.010, -0.020, -0.030])
    assert reading.clutch and reading.gripper_rad == 0.0
    np.testing.assert_allclose(hd.forces[-1], [0.0, 0.0, -3.3])
    touch.close()
    made["callback"]()
    np.testing.assert_allclose(hd.forces[-1], [0.0, 0.0, 0.0])  # zero force once closed
    assert made["closed"]


def test_missing_sdk_names_the_extra_and_the_driver(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyOpenHaptics", None)  # import fails as if absent
    with pytest.raises(MissingDriverError) as info:
        TouchAdapter().open()
    message = str(info.value)
    assert "surgisim[touch]" in message and "OpenHaptics" in message
    assert info.value.extra == "touch"


def test_missing_libhd_names_the_driver(tmp_path, monkeypatch):
    pkg = tmp_path / "pyOpenHaptics"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "hd.py").write_text('raise OSError("libHD.so: cannot open shared object file")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("pyOpenHaptics")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(MissingDriverError, match="libHD"):
        TouchAdapter().open()


@pytest.mark.parametrize(
    ("kind", "blocked", "extra"),
    [("touch", "pyOpenHaptics", "touch"), ("spacemouse", "hid", "spacemouse")],
)
def test_the_command_says_what_to_install_and_exits_2(kind, blocked, extra):
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "from sim.cli import app\n"
        f"app(['device', {kind!r}, '--port', '5990'])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert f"surgisim[{extra}]" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("error:") == 1
