"""The headset client's exceptions: :class:`~sim.errors.SimError` s about OpenXR."""

from __future__ import annotations

from sim.errors import SimError


class XrError(SimError):
    """The OpenXR client could not start or run; the message says what, and what to
    install or change."""


class RuntimeLostError(XrError):
    """The OpenXR runtime went away (service stopped or crashed, headset unplugged,
    instance or session lost) while the client was running."""
