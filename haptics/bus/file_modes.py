"""Refusing security files that other users could write (the allow directory, roles)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from haptics.bus.errors import BusSecurityError


def refuse_if_others_may_write(path: Path, problem: Callable[[int], str]) -> None:
    """Raise when the group or others may write ``path`` (POSIX): whoever can write the
    allow directory or the roles file decides who drives the instruments.

    Args:
        problem: the error message for the path's mode (its permission bits).

    Raises:
        BusSecurityError: with ``problem(mode)``.
    """
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o022:
        raise BusSecurityError(problem(mode))
