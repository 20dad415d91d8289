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
