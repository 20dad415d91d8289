"""3Dconnexion SpaceMouse (SpaceNavigator, SpaceMouse Compact/Wireless/Pro, ...) through hidapi.

A SpaceMouse is a *velocity* device: its cap reports how far it is pushed and twisted, not
where a handle is. The adapter integrates those rates into a virtual handle pose in M.

Raw HID reports (USB HID Usage Tables 1.12, Generic Desktop page: X, Y, Z, Rx, Ry, Rz as
signed 16-bit little-endian values; report layout as 3Dconnexion devices send it, the same
table the PySpaceMouse project keeps per product id):

- report 1: translation ``x, y, z`` in bytes 1-6; on the newer devices (vendor 0x256F,
  e.g. SpaceMouse Wireless / Pro Wireless / Enterprise, which send all six axes in one
  report) also ``Rx, Ry, Rz`` in bytes 7-12;
- report 2 (older devices, vendor 0x046D): rotation ``Rx, Ry, Rz`` in bytes 1-6;
- report 3: buttons, a bit mask from byte 1 (two-button devices: bit 0 left, bit 1 right);
- full scale is about ±350 counts; axes: **x right, y toward the user, z down** (pushing
  the cap down gives +z), rotations right-handed about those axes.

Mapping to M (x right, y down, z away from the trainee, docs/bus.md): ``v_M = R_M_HID ·
v_HID`` with ``R_M_HID`` taking HID x to M x, HID y (toward the user) to -M z and HID z
(down) to M y; rotations map the same way. The integrated virtual handle:

- ``p += max_speed_m_s · (counts / 350) · dt`` after a dead band of ``deadband`` (share of
  full scale), kept inside a sphere of ``workspace_radius_m`` about the start;
- ``R ← exp(max_rate_rad_s · (counts / 350) · dt) · R`` (rotation about M's axes);
- buttons: the left button is the clutch (held: clutched; the virtual handle still moves,
  the instrument does not), the right button closes the gripper (held: 0 rad; released:
  ``gripper_open_rad``).

Turning a SpaceMouse to within the teleoperation's 10° alignment gate by hand is hard, so
the device process sets the virtual handle's orientation to the aligned one
(:func:`haptics.devices.align.aligned_hand_rotation`) while the arm waits for alignment,
as the synthetic operators do (:meth:`SpaceMouseAdapter.align_to`).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np

from haptics.devices.base import DeviceReading
from haptics.devices.errors import DeviceError, MissingDriverError
from kinematics.transforms import axis_rotation

#: HID axes (x right, y toward the user, z down) expressed in M (x right, y down, z away).
R_M_HID = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
#: Counts at full deflection.
FULL_SCALE = 350.0
#: 3Dconnexion's USB vendor ids (Logitech's, used by the older devices, and its own).
VENDOR_IDS = (0x046D, 0x256F)
#: Known SpaceMouse product ids, by name (as 3Dconnexion devices enumerate).
PRODUCTS = {
    0xC626: "SpaceNavigator",
    0xC627: "SpaceExplorer",
    0xC625: "SpacePilot",
    0xC629: "SpacePilot Pro",
    0xC62B: "SpaceMouse Pro",
    0xC62E: "SpaceMouse Wireless (cabled)",
    0xC632: "SpaceMouse Pro Wireless (cabled)",
    0xC633: "SpaceMouse Enterprise",
    0xC635: "SpaceMouse Compact",
    0xC638: "SpaceMouse Pro Wireless (Bluetooth)",
    0xC63A: "SpaceMouse Wireless",
    0xC641: "SpaceMouse USB",
    0xC652: "3Dconnexion Universal Receiver",
}

EXTRA = "spacemouse"
DRIVER = (
    "the hidapi library (libhidapi-hidraw0 on Debian/Ubuntu, hidapi on macOS via Homebrew)"
    " and read access to the device (a udev rule for vendor 046d/256f on Linux)"
)


def _int16(lo: int, hi: int) -> int:
    v = lo | (hi << 8)
    return v - 65536 if v >= 32768 else v


@dataclass
class RawAxes:
    """The latest raw counts and buttons, as the HID reports left them."""

    translation: np.ndarray
    rotation: np.ndarray
    buttons: int = 0


def parse_report(report, state: RawAxes) -> bool:
    """Update ``state`` from one HID input report; True when the report was understood.

    Args:
        report: the bytes read (report id first).
        state: the counts and buttons so far (changed in place).
    """
    data = bytes(report)
    if not data:
        return False
    rid = data[0]
    if rid == 1 and len(data) >= 7:
        state.translation = np.array([_int16(data[i], data[i + 1]) for i in (1, 3, 5)], float)
        if len(data) >= 13:
            state.rotation = np.array([_int16(data[i], data[i + 1]) for i in (7, 9, 11)], float)
        return True
    if rid == 2 and len(data) >= 7:
        state.rotation = np.array([_int16(data[i], data[i + 1]) for i in (1, 3, 5)], float)
        return True
    if rid == 3 and len(data) >= 2:
        state.buttons = int.from_bytes(data[1:], "little")
        return True
    return False


def _shaped(counts: np.ndarray, deadband: float) -> np.ndarray:
    """Counts -> share of full scale in [-1, 1], zero inside the dead band, continuous."""
    x = np.clip(np.asarray(counts, float) / FULL_SCALE, -1.0, 1.0)
    mag = np.abs(x)
    out = np.where(mag <= deadband, 0.0, np.sign(x) * (mag - deadband) / (1.0 - deadband))
    return out


class VirtualHandle:
    """Integrates SpaceMouse rates into a handle pose in M (see the module docstring).

    Args:
        max_speed_m_s: hand speed at full deflection (m/s, in M).
        max_rate_rad_s: handle turn rate at full twist (rad/s).
        deadband: share of full scale that counts as rest.
        workspace_radius_m: the handle stays within this distance of the start (m).
    """

    def __init__(
        self,
        max_speed_m_s: float = 0.1,
        max_rate_rad_s: float = 1.0,
        deadband: float = 0.05,
        workspace_radius_m: float = 0.15,
    ) -> None:
        if not (max_speed_m_s > 0 and max_rate_rad_s > 0 and 0 <= deadband < 1):
            raise DeviceError(
                "SpaceMouse settings: max speed and turn rate must be positive and the dead"
                f" band in [0, 1); got {max_speed_m_s}, {max_rate_rad_s}, {deadband}."
            )
        self.max_speed_m_s = float(max_speed_m_s)
        self.max_rate_rad_s = float(max_rate_rad_s)
        self.deadband = float(deadband)
        self.workspace_radius_m = float(workspace_radius_m)
        self.X_MH = np.eye(4)

    def step(self, translation_counts, rotation_counts, dt_s: float) -> np.ndarray:
        """Advance by ``dt_s`` seconds at the given raw counts; the new pose (4x4, M)."""
        dt = min(max(float(dt_s), 0.0), 0.05)  # a stalled loop must not fling the handle
        v = R_M_HID @ _shaped(translation_counts, self.deadband) * self.max_speed_m_s
        w = R_M_HID @ _shaped(rotation_counts, self.deadband) * self.max_rate_rad_s
        p = self.X_MH[:3, 3] + v * dt
        r = float(np.linalg.norm(p))
        if r > self.workspace_radius_m:
            p *= self.workspace_radius_m / r
        angle = float(np.linalg.norm(w)) * dt
        R = self.X_MH[:3, :3]
        if angle > 0.0:
            R = axis_rotation(w / np.linalg.norm(w), angle) @ R
            u, _, vt = np.linalg.svd(R)  # keep it a rotation over hours of integration
            R = u @ vt
        X = np.eye(4)
        X[:3, :3], X[:3, 3] = R, p
        self.X_MH = X
        return X


def buttons_to_pedals(buttons: int, gripper_open_rad: float) -> tuple[float, bool]:
    """``(gripper_rad, clutch)`` from the button mask: left (bit 0) clutch, right (bit 1)
    closes the gripper."""
    gripper = 0.0 if buttons & 0b10 else float(gripper_open_rad)
    return gripper, bool(buttons & 0b01)


class SpaceMouseAdapter:
    """A SpaceMouse as a :class:`~haptics.devices.base.DeviceAdapter` (no force output).

    Args:
        path: the hidraw path to open (default: the first 3Dconnexion device found).
        gripper_open_rad: gripper angle while the right button is up (rad).
        handle: the integrator (default settings when None).
    """

    kind = "spacemouse"
    has_force = False

    def __init__(
        self,
        path: bytes | str | None = None,
        gripper_open_rad: float = math.radians(60.0),
        handle: VirtualHandle | None = None,
    ) -> None:
        self.path = path
        self.gripper_open_rad = float(gripper_open_rad)
        self.handle = handle or VirtualHandle()
        self.raw = RawAxes(np.zeros(3), np.zeros(3))
        self.product = ""
        self._dev = None
        self._last_s: float | None = None

    def open(self) -> None:
        """Open the first SpaceMouse (or ``path``) for non-blocking reads.

        Raises:
            MissingDriverError: the ``hid`` module (hidapi) or its C library is missing.
            DeviceError: no SpaceMouse is connected, or it cannot be opened (permissions).
        """
        try:
            import hid
        except ModuleNotFoundError as e:
            raise MissingDriverError("SpaceMouse", EXTRA, DRIVER, f"no module {e.name!r}") from None
        except (ImportError, OSError) as e:  # the module is there, its C library is not
            raise MissingDriverError("SpaceMouse", EXTRA, DRIVER, str(e)) from None
        found = [d for d in hid.enumerate() if d.get("vendor_id") in VENDOR_IDS]
        found = [d for d in found if d.get("product_id") in PRODUCTS] or found
        if self.path is not None:
            want = self.path.encode() if isinstance(self.path, str) else self.path
            found = [d for d in found if d.get("path") == want]
        if not found:
            raise DeviceError(
                "no 3Dconnexion SpaceMouse found (vendor 046d/256f): plug it in; on Linux"
                " give your user access to it with a udev rule (docs/devices.md)"
                + (f"; no device at path {self.path!r}" if self.path else "")
                + "."
            )
        info = found[0]
        dev = hid.device()
        try:
            dev.open_path(info["path"])
        except OSError as e:
            raise DeviceError(
                f"cannot open the SpaceMouse at {info['path']!r} ({e}): on Linux add a udev"
                " rule giving your user access to hidraw devices of vendor 046d/256f"
                " (docs/devices.md), then plug it in again."
            ) from None
        dev.set_nonblocking(1)
        self._dev = dev
        self.product = PRODUCTS.get(info.get("product_id"), info.get("product_string") or "")

    def poll_reports(self, limit: int = 64) -> int:
        """Read every waiting HID report into :attr:`raw`; how many were read."""
        n = 0
        while self._dev is not None and n < limit:
            data = self._dev.read(64)
            if not data:
                break
            parse_report(data, self.raw)
            n += 1
        return n

    def read(self, now_s: float) -> DeviceReading:
        """Integrate the cap's deflection since the last read into the virtual handle."""
        self.poll_reports()
        dt = 0.0 if self._last_s is None else now_s - self._last_s
        self._last_s = now_s
        X = self.handle.step(self.raw.translation, self.raw.rotation, dt)
        gripper, clutch = buttons_to_pedals(self.raw.buttons, self.gripper_open_rad)
        return DeviceReading(X.copy(), gripper, clutch)

    def align_to(self, R_MH) -> None:
        """Turn the virtual handle to ``R_MH`` (3x3, M) at once (alignment assist)."""
        self.handle.X_MH[:3, :3] = np.asarray(R_MH, dtype=float)[:3, :3]

    def command_force(self, force_M_n) -> None:
        """A SpaceMouse has no motors: nothing to do."""

    def close(self) -> None:
        """Release the HID device (idempotent)."""
        if self._dev is not None:
            dev, self._dev = self._dev, None
            with contextlib.suppress(Exception):  # unplugged meanwhile
                dev.close()
