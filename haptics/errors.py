"""The one exception type of the haptics package."""

from __future__ import annotations


class HapticsError(ValueError):
    """A haptics input or setting was invalid; the message says what, what is valid and the fix."""
