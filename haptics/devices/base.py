"""What every master device adapter gives the device loop: one reading per tick.

An adapter turns a device's own units, axes and buttons into a :class:`DeviceReading` in
the contract's terms (docs/bus.md): the handle's pose in the master frame **M** (x to the
trainee's right, y down, z away from the trainee, metres), the gripper opening (rad, 0 =
closed) and the pedals. A device with force output also takes a force in M (N).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class DeviceReading:
    """One reading of a master device, in the contract's frame and units.

    Attributes:
        X_MH: 4x4 pose of the handle in the master frame M (m).
        gripper_rad: gripper opening (rad); 0 is closed.
        clutch: the clutch pedal (or button) is pressed.
        camera: the camera pedal is pressed; None when the device has none.
    """

    X_MH: np.ndarray = field(default_factory=lambda: np.eye(4))
    gripper_rad: float = 0.0
    clutch: bool = False
    camera: bool | None = None


class DeviceAdapter(Protocol):
    """A master device as the device loop drives it (see :mod:`haptics.devices.loop`).

    Attributes:
        kind: short name for messages (``"touch"``, ``"spacemouse"``).
        has_force: whether :meth:`command_force` reaches a motor.
    """

    kind: str
    has_force: bool

    def open(self) -> None:
        """Connect to the hardware; raises :class:`~haptics.devices.errors.DeviceError`
        (or :class:`~haptics.devices.errors.MissingDriverError`) with the fix."""

    def read(self, now_s: float) -> DeviceReading:
        """The reading at device time ``now_s`` (s, monotonic)."""

    def command_force(self, force_M_n: np.ndarray) -> None:
        """Command a force on the handle (3,), in M (N); ignored without force output."""

    def close(self) -> None:
        """Zero any force and release the hardware (idempotent)."""
