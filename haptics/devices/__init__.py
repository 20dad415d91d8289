"""Master devices as processes on the bus: adapters, the device-side loop, recordings.

- :mod:`haptics.devices.base` — :class:`DeviceReading` and the adapter protocol.
- :mod:`haptics.devices.link` — :class:`DeviceLink`: hello, reconnects, pedal timing.
- :mod:`haptics.devices.loop` — :func:`run_device`: read, publish, render force at 1 kHz.
- :mod:`haptics.devices.stream` — :class:`HandStream`: queued samples at the device rate
  on a thread, holding the last reading when the queue runs dry (synthetic operators).
- :mod:`haptics.devices.watch` — :class:`ArmWatch`: arm states seen on the bus.
- :mod:`haptics.devices.align` — the handle orientation the alignment gate accepts.
- :mod:`haptics.devices.recording` / :mod:`haptics.devices.replay` — recorded streams.
- :mod:`haptics.devices.touch` — Geomagic Touch (OpenHaptics; extra ``touch``).
- :mod:`haptics.devices.spacemouse` — 3Dconnexion SpaceMouse (hidapi; extra ``spacemouse``).

No pybullet here (DESIGN.md). Device SDKs are imported only when a device is opened.
Names are imported on first use so that ``import haptics.devices`` costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "DeviceReading": "haptics.devices.base",
    "DeviceError": "haptics.devices.errors",
    "MissingDriverError": "haptics.devices.errors",
    "DeviceLink": "haptics.devices.link",
    "run_device": "haptics.devices.loop",
    "HandStream": "haptics.devices.stream",
    "ArmWatch": "haptics.devices.watch",
    "aligned_hand_rotation": "haptics.devices.align",
    "RecordingWriter": "haptics.devices.recording",
    "read_recording": "haptics.devices.recording",
    "replay": "haptics.devices.replay",
    "TouchAdapter": "haptics.devices.touch",
    "SpaceMouseAdapter": "haptics.devices.spacemouse",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'haptics.devices' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
