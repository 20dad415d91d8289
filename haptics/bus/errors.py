"""The bus's exceptions: all of them are :class:`haptics.errors.HapticsError`.

:class:`BusMessageError` carries a machine-readable ``reason`` (one of
:data:`DROP_REASONS`) so that a receiver can count what it drops by kind.
"""

from __future__ import annotations

from collections.abc import Callable

from haptics.errors import HapticsError

#: Why a received message or request was dropped; the keys of every drop counter.
DROP_REASONS = (
    "wrong_frame_count",
    "too_large",
    "unknown_topic",
    "unknown_request",
    "bad_msgpack",
    "bad_fields",
    "non_finite",
    "too_many_names",
    "revoked_key",
    "not_permitted",
)


class BusError(HapticsError):
    """Something about the bus (sockets, addresses, keys) was wrong; the message says the fix."""


class BusMessageError(BusError):
    """A message broke the wire contract (docs/bus.md).

    Attributes:
        reason: one of :data:`DROP_REASONS`, for counting.
        what: which part of the message was wrong (a field's name; '' when the reason
            says it all), so that a receiver can tell apart drops of one reason: a bad
            ``seq`` and a non-unit quaternion are both ``bad_fields``.

    Args:
        detail: the message, or a function building it (called once, when first read).
    """

    def __init__(self, reason: str, detail: str | Callable[[], str], what: str = "") -> None:
        if reason not in DROP_REASONS:  # pragma: no cover - a bug in this package
            raise ValueError(f"unknown drop reason {reason!r}; valid: {DROP_REASONS}")
        super().__init__(reason)
        self.reason = reason
        self.what = what
        self._detail = detail

    def __str__(self) -> str:
        """The message; one that costs something to build (closest names) is built here,
        when first read, so that counting a flood of bad messages stays cheap."""
        if callable(self._detail):
            self._detail = self._detail()
        return self._detail


class BusSecurityError(BusError):
    """A bind or connection was refused for security (no CurveZMQ keys, unknown key, bad mode)."""


class BusTimeoutError(BusError):
    """A request got no reply in time (usually: no server running at that address)."""
