"""The device side's exceptions: both are :class:`haptics.errors.HapticsError`.

A command line turns them into one ``error: ...`` line and exit code 2 (``sim.cli.guard``).
"""

from __future__ import annotations

from haptics.errors import HapticsError


class DeviceError(HapticsError):
    """A device could not be opened or used; the message says what was wrong and the fix."""


class MissingDriverError(DeviceError):
    """A device's optional Python package or vendor driver is not installed.

    Attributes:
        extra: the ``pip install 'surgisim[EXTRA]'`` extra that brings the Python side.
        driver: the vendor driver or library the device needs besides it.
    """

    def __init__(self, device: str, extra: str, driver: str, detail: str = "") -> None:
        self.device, self.extra, self.driver = device, extra, driver
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"the {device} device needs the optional extra {extra!r} and {driver}{why}. "
            f"Install the extra with `pip install 'surgisim[{extra}]'` and the driver as "
            f"docs/devices.md describes, then run the command again."
        )
