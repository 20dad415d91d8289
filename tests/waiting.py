"""Waiting in tests for something another process or thread does."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    predicate: Callable[[], object],
    timeout_s: float = 60.0,
    poll_s: float = 0.05,
    alive: Callable[[], bool] = lambda: True,
) -> bool:
    """Poll ``predicate`` every ``poll_s`` seconds until it is true (True), ``timeout_s``
    of wall time passes or ``alive()`` turns false (False)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and alive():
        if predicate():
            return True
        time.sleep(poll_s)
    return False
