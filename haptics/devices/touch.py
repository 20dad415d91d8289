"""The 3D Systems (Geomagic, formerly SensAble Phantom Omni) Touch through OpenHaptics.

Raw readings and units, from the OpenHaptics HD API (OpenHaptics Toolkit API Reference,
``hdGet`` parameters; the same words are in ``hd.h``):

- ``HD_CURRENT_TRANSFORM``: the column-major 4x4 transform of the end effector (the
  stylus gimbal) in the device's base frame **D**, translation in **millimetres**;
- frame D, "facing the device base": **x to the right, y up, z toward the user**;
- ``HD_CURRENT_BUTTONS``: a bit mask, ``HD_DEVICE_BUTTON_1`` = bit 0 (the stylus's front,
  dark-grey button), ``HD_DEVICE_BUTTON_2`` = bit 1 (the rear, light-grey one);
- ``HD_CURRENT_FORCE`` (set): the force on the end effector in D, in **newtons**; the Touch
  peaks at 3.3 N (``HD_NOMINAL_MAX_FORCE``) and sustains 0.88 N.

Mapping to the contract's master frame **M** (x right, y down, z away from the trainee,
metres, docs/bus.md): D turned half a turn about x, ``R_MD = diag(1, -1, -1)``:

- position: ``p_M = R_MD · p_D / 1000``;
- orientation: ``R_MH = R_MD · R_DH · R_MD^T`` — the handle frame H is the gimbal frame
  seen in M's axes, so at the calibration pose (``R_DH = I``, stylus pointing into the
  device) the handle is the identity in M: the stylus points away from the trainee, as a
  tool in the endoscope image points into the screen;
- buttons: the rear button (2) is the clutch (held: clutched), the front button (1)
  closes the gripper (held: 0 rad; released: ``gripper_open_rad``) — the Touch has no
  gripper of its own;
- force: ``F_D = R_MD^T · F_M``, each component finite, the norm saturated at
  ``max_force_n`` (3.0 N by default, just under the device's peak).

The SDK (the ``pyOpenHaptics`` package and the OpenHaptics ``libHD``) is imported only
when the device is opened; a missing one raises :class:`MissingDriverError` naming the
extra (``touch``) and the driver.
"""

from __future__ import annotations

import contextlib
import math
import threading

import numpy as np

from haptics.devices.base import DeviceReading
from haptics.devices.errors import DeviceError, MissingDriverError

#: Rotation from the Touch's base frame D (x right, y up, z toward the user) to M.
R_MD = np.diag([1.0, -1.0, -1.0])
#: OpenHaptics reports millimetres.
MM = 1e-3
HD_DEVICE_BUTTON_1 = 1 << 0
HD_DEVICE_BUTTON_2 = 1 << 1
#: The Touch's peak force (N), HD_NOMINAL_MAX_FORCE of the device's data sheet.
TOUCH_PEAK_FORCE_N = 3.3

EXTRA = "touch"
DRIVER = (
    "3D Systems' OpenHaptics (the HD library libHD.so / HD.dll) with the Touch device"
    " driver, set up with Touch_Setup"
)


def transform_to_pose_M(transform) -> np.ndarray:
    """``X_MH`` (4x4, m) from an ``HD_CURRENT_TRANSFORM`` reading.

    Args:
        transform: 16 numbers in column-major order (OpenGL style: the translation, in
            mm, at indices 12, 13, 14), or a 4x4 array as pyOpenHaptics returns it
            (``t[col][row]``, translation at ``t[3][0..2]``).
    """
    T = np.asarray(transform, dtype=float).reshape(4, 4).T  # column-major -> row-major
    X = np.eye(4)
    X[:3, :3] = R_MD @ T[:3, :3] @ R_MD.T
    X[:3, 3] = R_MD @ T[:3, 3] * MM
    return X


def buttons_to_pedals(bits: int, gripper_open_rad: float) -> tuple[float, bool]:
    """``(gripper_rad, clutch)`` from an ``HD_CURRENT_BUTTONS`` bit mask."""
    gripper = 0.0 if bits & HD_DEVICE_BUTTON_1 else float(gripper_open_rad)
    return gripper, bool(bits & HD_DEVICE_BUTTON_2)


def force_to_device(force_M_n, max_force_n: float = 3.0) -> np.ndarray:
    """The force to set (``HD_CURRENT_FORCE``, N, frame D) for a force in M; zero when
    anything is not finite, the norm saturated at ``max_force_n``."""
    f = np.asarray(force_M_n, dtype=float).reshape(3)
    if not np.isfinite(f).all():
        return np.zeros(3)
    n = float(np.linalg.norm(f))
    if n > max_force_n:
        f = f * (max_force_n / n)
    return R_MD.T @ f


class TouchAdapter:
    """A Touch as a :class:`~haptics.devices.base.DeviceAdapter`.

    OpenHaptics runs its servo loop (1 kHz) on its own thread: the scheduler callback
    reads the transform and the buttons and writes the latest commanded force; the device
    loop reads the latest reading and commands forces from its own thread.

    Args:
        device_name: the OpenHaptics device name (``"Default Device"``, or the name
            given in Touch_Setup).
        gripper_open_rad: gripper angle while the front button is up (rad).
        max_force_n: force saturation (N); never above the Touch's 3.3 N peak.
    """

    kind = "touch"
    has_force = True

    def __init__(
        self,
        device_name: str = "Default Device",
        gripper_open_rad: float = math.radians(60.0),
        max_force_n: float = 3.0,
    ) -> None:
        self.device_name = device_name
        self.gripper_open_rad = float(gripper_open_rad)
        self.max_force_n = min(float(max_force_n), TOUCH_PEAK_FORCE_N)
        self._lock = threading.Lock()
        self._transform = np.eye(4).T.reshape(16)
        self._buttons = 0
        self._force_D = np.zeros(3)
        self._device = None
        self._hd = None

    def open(self) -> None:
        """Start OpenHaptics and its 1 kHz scheduler callback.

        Raises:
            MissingDriverError: pyOpenHaptics or libHD is not installed.
            DeviceError: OpenHaptics found no Touch (not connected, not set up).
        """
        try:
            import pyOpenHaptics.hd as hd
            from pyOpenHaptics.hd_callback import hd_callback
            from pyOpenHaptics.hd_device import HapticDevice
        except ModuleNotFoundError as e:
            raise MissingDriverError("Touch", EXTRA, DRIVER, f"no module {e.name!r}") from None
        except OSError as e:  # pyOpenHaptics loads libHD when imported
            raise MissingDriverError("Touch", EXTRA, DRIVER, f"cannot load libHD: {e}") from None
        self._hd = hd

        @hd_callback
        def servo() -> None:  # on OpenHaptics' servo thread, inside a frame
            transform = hd.get_transform()
            buttons = hd.get_buttons()
            with self._lock:
                self._transform = np.array([[c for c in col] for col in transform]).reshape(16)
                self._buttons = int(buttons)
                force = self._force_D.tolist()
            hd.set_force(force)

        self._callback = servo  # keep the ctypes callback alive
        try:
            self._device = HapticDevice(callback=servo, device_name=self.device_name)
        except Exception as e:
            raise DeviceError(
                f"OpenHaptics could not open the Touch {self.device_name!r} ({e}): is it"
                " plugged in and set up (Touch_Setup / Touch_Diagnostic)?"
            ) from None
        if getattr(self._device, "id", None) is None:
            raise DeviceError(
                f"OpenHaptics found no device named {self.device_name!r}: plug the Touch in"
                " and check it with Touch_Diagnostic, or give --device-name."
            )

    def read(self, now_s: float) -> DeviceReading:
        """The latest reading (pose in M, gripper from the front button, clutch)."""
        with self._lock:
            transform, buttons = self._transform.copy(), self._buttons
        gripper, clutch = buttons_to_pedals(buttons, self.gripper_open_rad)
        return DeviceReading(transform_to_pose_M(transform), gripper, clutch)

    def command_force(self, force_M_n) -> None:
        """Set the force the next servo tick renders (N, in M; saturated)."""
        f = force_to_device(force_M_n, self.max_force_n)
        with self._lock:
            self._force_D = f

    def close(self) -> None:
        """Zero the force, stop the scheduler and release the device (idempotent)."""
        with self._lock:
            self._force_D = np.zeros(3)
        if self._device is not None:
            device, self._device = self._device, None
            with contextlib.suppress(Exception):  # the device may already be gone (unplugged)
                device.close()
