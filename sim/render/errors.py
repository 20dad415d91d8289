"""The renderer's exception: a :class:`~sim.errors.SimError` about drawing."""

from __future__ import annotations

from sim.errors import SimError


class RenderError(SimError):
    """The renderer could not start or was handed something it cannot draw; the message
    says what, and what to install or change."""
