"""The signals that stop a surgisim process as Ctrl-C does.

One tuple for every loop that must end cleanly on them (the commands' guard, the desktop
window's loop), so that a process started by a lab's session manager (SIGTERM) or in a
terminal that is closed (SIGHUP) stores its session instead of dying where it stands.
Imports only the standard library: the viewer side runs in a Python without pybullet or
the CLI's packages.
"""

from __future__ import annotations

import signal

#: SIGINT, SIGTERM and SIGHUP (where the platform has it)
STOP_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def stop_with_parent() -> None:
    """``preexec_fn`` for a process surgisim starts and owns (the training server behind
    ``practice``): Linux sends it SIGTERM, one of :data:`STOP_SIGNALS`, when its parent
    dies, so a ``kill -9`` of ``practice`` stops the server as Ctrl-C would (the session
    stored as stopped by the user, not an attempt) instead of leaving it to run out of
    time and store a counted failure two minutes later. A parent that dies while this
    runs stops it at once. Elsewhere than Linux: nothing (no such signal)."""
    import ctypes
    import os
    import sys

    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # the parent died while the prctl was being made
        os.kill(os.getpid(), signal.SIGTERM)
