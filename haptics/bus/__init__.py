"""The device bus: the ZeroMQ wire contract (docs/bus.md) in code.

- :mod:`haptics.bus.contract` — topics, payload rules, :func:`encode` / :func:`decode`.
- :mod:`haptics.bus.sockets` — :class:`ServerBus` (binds) and :class:`ClientBus` (connects).
- :mod:`haptics.bus.devices` — device messages -> :class:`~haptics.master.MasterSample`.
- :mod:`haptics.bus.security` — CurveZMQ keys and the allow list.
- :mod:`haptics.bus.latency` — telesurgery latency injection and protocols.
- :mod:`haptics.bus.ports` — free blocks of loopback ports for a server started next.

Names are imported on first use so that ``import haptics.bus`` costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "CONTRACT_VERSION": "haptics.bus.contract",
    "DEFAULT_PORT": "haptics.bus.contract",
    "MAX_MESSAGE_BYTES": "haptics.bus.contract",
    "Message": "haptics.bus.contract",
    "decode": "haptics.bus.contract",
    "encode": "haptics.bus.contract",
    "pose_payload": "haptics.bus.contract",
    "pose_from_payload": "haptics.bus.contract",
    "BusError": "haptics.bus.errors",
    "BusMessageError": "haptics.bus.errors",
    "BusSecurityError": "haptics.bus.errors",
    "BusTimeoutError": "haptics.bus.errors",
    "ServerBus": "haptics.bus.sockets",
    "ClientBus": "haptics.bus.sockets",
    "DeviceState": "haptics.bus.devices",
    "DeviceSample": "haptics.bus.devices",
    "ServerCurve": "haptics.bus.security",
    "ClientCurve": "haptics.bus.security",
    "new_keypair": "haptics.bus.security",
    "DelayLine": "haptics.bus.latency",
    "latency_protocol": "haptics.bus.latency",
}
__all__ = [
    "CONTRACT_VERSION",
    "DEFAULT_PORT",
    "MAX_MESSAGE_BYTES",
    "BusError",
    "BusMessageError",
    "BusSecurityError",
    "BusTimeoutError",
    "ClientBus",
    "ClientCurve",
    "DelayLine",
    "DeviceSample",
    "DeviceState",
    "Message",
    "ServerBus",
    "ServerCurve",
    "decode",
    "encode",
    "latency_protocol",
    "new_keypair",
    "pose_from_payload",
    "pose_payload",
]

if TYPE_CHECKING:  # pragma: no cover
    from haptics.bus.contract import (
        CONTRACT_VERSION,
        DEFAULT_PORT,
        MAX_MESSAGE_BYTES,
        Message,
        decode,
        encode,
        pose_from_payload,
        pose_payload,
    )
    from haptics.bus.devices import DeviceSample, DeviceState
    from haptics.bus.errors import BusError, BusMessageError, BusSecurityError, BusTimeoutError
    from haptics.bus.latency import DelayLine, latency_protocol
    from haptics.bus.security import ClientCurve, ServerCurve, new_keypair
    from haptics.bus.sockets import ClientBus, ServerBus


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'haptics.bus' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
