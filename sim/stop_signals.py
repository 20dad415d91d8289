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


#: The signal Linux sends a process surgisim starts and owns when its parent dies: one of
#: its own, not SIGTERM, because Linux sends it once for every *thread* of the parent
#: that exits (the child is handed from thread to thread as they die), so a ``kill -9`` of
#: ``practice`` (several threads) reached its training server as two or three SIGTERMs,
#: and the second one, "SIGTERM again to abandon it", lost the session the server had
#: said it was storing. The commands take the first of these as one SIGTERM and ignore
#: the rest (``sim.cli.guard``); a user's second SIGTERM still abandons.
PARENT_GONE: int = int(getattr(signal, "SIGUSR1", 10))

_PR_SET_PDEATHSIG = 1
_PR_GET_PDEATHSIG = 2


def parent_death_signal() -> int:
    """The signal this process gets when its parent dies (Linux's ``PR_GET_PDEATHSIG``;
    0: none, or not Linux). Inherited through ``exec``, so a command can ask whether the
    process that started it set :data:`PARENT_GONE` (:func:`stop_with_parent`)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return 0
    value = ctypes.c_int(0)
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_GET_PDEATHSIG, ctypes.byref(value), 0, 0, 0):
        return 0
    return int(value.value)


def stop_signals() -> tuple[int, ...]:
    """:data:`STOP_SIGNALS`, and :data:`PARENT_GONE` in a process whose parent death
    arrives as that signal (one surgisim started with :func:`stop_with_parent`), less
    those this process was told to ignore: ``nohup`` starts a command with SIGHUP
    ignored (it must outlive the terminal) and a shell starts a background job (``&``)
    with SIGINT ignored (Ctrl-C at the terminal is not for it). Catching them anyway
    undid both: a ``nohup surgisim run`` stopped when its terminal closed."""
    signums = STOP_SIGNALS
    if parent_death_signal() == PARENT_GONE:
        signums = (*STOP_SIGNALS, PARENT_GONE)
    return tuple(s for s in signums if signal.getsignal(s) is not signal.SIG_IGN)


def stop_with_parent(signum: int = PARENT_GONE) -> None:
    """``preexec_fn`` for a process surgisim starts and owns (the training server behind
    ``practice``): Linux sends it :data:`PARENT_GONE` when its parent dies, which a
    surgisim command takes as one SIGTERM however many times it comes (once per thread of
    the parent), so a ``kill -9`` of ``practice`` stops the server as Ctrl-C would (the
    session stored as stopped by the user, not an attempt) instead of leaving it to run
    out of time and store a counted failure two minutes later. A program that does not
    handle the signal is ended by it, as by SIGTERM (``signum`` picks another for a
    program with a SIGTERM path of its own: Monado). A parent that dies while this runs
    stops it at once. Elsewhere than Linux: nothing (no such signal)."""
    import ctypes
    import os
    import sys

    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    if os.getppid() != parent:  # the parent died while the prctl was being made
        os.kill(os.getpid(), signum)
