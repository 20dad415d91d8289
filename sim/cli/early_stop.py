"""Ctrl-C while the ``surgisim`` command is still starting: a quiet exit, not a traceback.

The command's own stop handling (:mod:`sim.cli.guard`) is in place once a command runs;
before it, Python's default turned a Ctrl-C during the ~0.1 s of importing the command
line (typer, rich) into a ``KeyboardInterrupt`` traceback through importlib. Nothing has
been done yet at that point, so the process ends at once with the shell's status for
SIGINT (130) and one line. Installed only when this process is the ``surgisim`` command
(a program or test importing :mod:`sim.cli` keeps its own Ctrl-C), and never over a
SIGINT the process was started with ignored (a background job's).
"""

from __future__ import annotations

import os
import signal
import sys

#: what the command says when stopped while starting
STOPPED_WHILE_STARTING = b"surgisim: stopped while starting (nothing was done)\n"


def _exit_at_once(signum, frame) -> None:
    os.write(2, STOPPED_WHILE_STARTING)
    os._exit(128 + signal.SIGINT)


def _is_the_command() -> bool:
    """Whether this process runs the ``surgisim`` console script (``python -m sim.cli``
    is told by its ``-m``: its module is not known while the package is imported)."""
    return os.path.basename(sys.argv[0] if sys.argv else "") in ("surgisim", "-m")


def install() -> None:
    """Exit quietly on Ctrl-C until :func:`remove` (see the module docstring)."""
    if _is_the_command() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _exit_at_once)


def remove() -> None:
    """Python's Ctrl-C again (the command's parser and :mod:`sim.cli.guard` answer it)."""
    if signal.getsignal(signal.SIGINT) is _exit_at_once:
        signal.signal(signal.SIGINT, signal.default_int_handler)
