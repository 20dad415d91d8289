"""No traceback reaches a user: every ``surgisim`` command runs inside :func:`guard`.

A failure a user can cause (a bad file, a database that cannot be written, an unknown
name) is one of the packages' own errors and prints one or a few lines saying what was
wrong and how to fix it; anything else is a bug of ours and says so. Both exit with code
2; ``--debug`` adds the traceback. Ctrl-C is handled by :func:`interruptible`: the first
press asks the running session to stop (it is stored as incomplete), the second gives up.

SIGTERM (what ``kill``, systemd and docker send) and SIGHUP (the terminal went away) take
the same path as Ctrl-C: a session is stopped and stored, not lost with its recording
half written. Only the exit code differs, ``128 + signal number`` as a shell reports a
process the signal ended (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP), so that a
supervisor still sees that it asked for the stop.

A process surgisim started (the server behind ``practice``) learns of its parent's death
by :data:`~sim.stop_signals.PARENT_GONE`, which Linux sends once per thread of the dying
parent: the first is taken as one SIGTERM and the rest are ignored, so a ``kill -9`` of
``practice`` is one stop (the session stored), never the "again" that abandons it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from sim.stop_signals import PARENT_GONE, stop_signals

DEBUG_OPTION = typer.Option(False, "--debug", help="Show the traceback when something fails.")


class Terminated(KeyboardInterrupt):
    """A SIGTERM or SIGHUP turned into the exception Ctrl-C raises, so that every
    ``finally`` runs and :func:`guard` exits with ``128 + signum`` instead of the process
    dying where it stands."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(signum: int) -> int:
    """The exit code of a command a signal stopped: 128 + its number, as shells report."""
    return 128 + int(signum)


#: stop signals raised as exceptions and not yet seen by :func:`guard`. Third-party code
#: may swallow the exception: trimesh imports scipy inside ``except BaseException`` (its
#: optional imports), so a SIGTERM during ``surgisim run``'s first seconds vanished and
#: the run went on to store a normal session, exit code 0. A stop still pending here is
#: honoured at the next chance: when a session is about to start, or when the command ends.
_unseen: list[int] = []
#: commands running in :func:`guard` (which clears ``_unseen``); outside one nothing is kept
_guarded = [0]


#: whether this process has had its parent's death (:func:`_as_stop`)
_parent_gone = [False]


def _as_stop(signum: int) -> int | None:
    """The stop signal ``signum`` stands for: :data:`PARENT_GONE` is SIGTERM the first time
    and None (nothing: the same stop) every time after, however many threads the dead
    parent had; any other signal is itself."""
    if signum != PARENT_GONE:
        return signum
    if _parent_gone[0]:
        return None
    _parent_gone[0] = True
    return int(signal.SIGTERM)


#: (s) how soon a stop that came during an import is delivered again (:func:`_defer_stop`)
IMPORT_RETRY_S = 0.05


def _importing(frame) -> bool:
    """Whether ``frame`` runs inside an import: a module's own code, or Python code that
    an extension module's initialisation calls (pybind11's, numba's)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _defer_stop(signum: int) -> None:
    """Deliver ``signum`` again in :data:`IMPORT_RETRY_S`: it came during an import. An
    exception raised there broke the import for good: scipy's pybind11 extension failed
    with "ImportError: initialization failed" and the interpreter then aborted at exit
    ("Fatal Python error: PyThreadState_Get", exit code 134), or trimesh swallowed it into
    a placeholder module that raised "TypeError: unsupported operand type(s) for |:
    'ExceptionWrapper' and 'NoneType'" a moment later. Kept in ``_unseen`` meanwhile, so
    that it is honoured even if the command ends first."""
    if signum not in _unseen:
        _unseen.append(signum)

    def again() -> None:
        if _guarded[0] and _unseen:  # not answered yet, by a session's start or the end
            os.kill(os.getpid(), signum)

    timer = threading.Timer(IMPORT_RETRY_S, again)
    timer.daemon = True
    timer.start()


def _raise_stop(signum: int, frame) -> None:
    signum = _as_stop(signum)
    if signum is None:
        return
    if _guarded[0] and _importing(frame):
        _defer_stop(signum)
        return
    if _guarded[0]:
        _unseen.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _main_thread() -> bool:
    # signal handlers can only be set from the main thread (CliRunner in a worker: no-op)
    return threading.current_thread() is threading.main_thread()


@contextmanager
def _handlers(handler, signums=None) -> Iterator[None]:
    """Install ``handler`` for ``signums`` (default: the stop signals, with the parent's
    death where this process has one) while active, the previous ones restored after."""
    if not _main_thread():
        yield
        return
    if signums is None:
        signums = stop_signals()
    previous = {s: signal.getsignal(s) for s in signums}
    for s in signums:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def _known_errors() -> tuple[type[BaseException], ...]:
    from haptics.errors import HapticsError
    from kinematics.errors import KinematicsError
    from scenarios.errors import ScenarioError
    from sim.errors import SimError

    return (ScenarioError, SimError, HapticsError, KinematicsError)


class _ReaderMayLeave:
    """Standard output that outlives its reader: ``surgisim run ... --json out.json |
    head -3`` closes the pipe after three lines, and the next print raised
    BrokenPipeError, so the stored session's ``--json`` file was never written and the
    command said nothing. Once the reader has gone, output goes to /dev/null and the
    command finishes its work (files, records) as it would have."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._reader_gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._reader_gone()

    def _reader_gone(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # no file descriptor (a test's)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextmanager
def guard(debug: bool) -> Iterator[None]:
    """Turn any failure into ``error: ...`` on stderr and exit code 2 (traceback with
    ``--debug``); keep working when the reader of standard output goes away."""
    stdout = sys.stdout
    if not isinstance(stdout, _ReaderMayLeave):
        sys.stdout = _ReaderMayLeave(stdout)
    _guarded[0] += 1
    try:
        # Ctrl-C, SIGTERM and SIGHUP outside a session: unwound (files closed), not a kill;
        # through _raise_stop, so that one swallowed by a library is still honoured
        with _handlers(_raise_stop):
            yield
            raise_swallowed_stop()
    except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own way out
        raise
    except Terminated as exc:
        print_error(f"terminated ({signal.Signals(exc.signum).name}).", debug)
        raise typer.Exit(code=exit_code(exc.signum)) from None
    except KeyboardInterrupt:
        print_error("interrupted.", debug)
        raise typer.Exit(code=exit_code(signal.SIGINT)) from None
    except _known_errors() as exc:
        print_error(str(exc), debug)
        raise typer.Exit(code=2) from None
    except (MemoryError, OSError, ImportError) as exc:
        said = resource_failure(exc)
        if said is None:
            _unexpected(exc, debug)
        print_error(said, debug)
        raise typer.Exit(code=2) from None
    except Exception as exc:  # a failure we did not foresee: still no bare traceback
        _unexpected(exc, debug)
    finally:
        _guarded[0] -= 1
        _unseen.clear()
        sys.stdout = stdout


def _unexpected(exc: BaseException, debug: bool) -> None:
    """A failure we did not foresee: said in a line, exit code 2."""
    print_error(
        f"unexpected {type(exc).__name__}: {exc}. Rerun with --debug for the traceback, "
        "and please report it.",
        debug,
    )
    raise typer.Exit(code=2) from None


#: what to do about an OSError whose cause is the machine, not surgisim, by errno
_OS_FIXES = {
    errno.ENOSPC: "the disk is full: free space there (or write elsewhere) and run the "
    "command again",
    errno.EDQUOT: "the disk quota is used up: free space there (or write elsewhere) and run "
    "the command again",
    errno.EROFS: "that file system is read-only: write elsewhere",
    errno.EACCES: "permission denied: write elsewhere, or fix the permissions",
    errno.EPERM: "not permitted (an immutable file or folder?): write elsewhere, or fix it",
    errno.EIO: "the disk reported an input/output error: check it (dmesg), or write elsewhere",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) and run it again",
    errno.ENFILE: "the system has too many open files: close some programs and run it again",
}


def resource_failure(exc: BaseException) -> str | None:
    """What to tell a user about a failure of the machine's resources (memory, a full or
    read-only disk, file limits) in a line: what failed, on which file, and what to do;
    None for anything else (a bug of ours). A full disk said "unexpected OSError: [Errno
    28] ... please report it" and a memory limit "unexpected MemoryError: ." """
    if isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM):
        return out_of_memory(exc)
    if isinstance(exc, ImportError):
        # a library's shared object that cannot be mapped: the address space is used up
        text = str(exc)
        return out_of_memory(exc) if "failed to map segment" in text else None
    if isinstance(exc, OSError) and exc.errno in _OS_FIXES:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}: {_OS_FIXES[exc.errno]}."
    return None


def out_of_memory(exc: BaseException) -> str:
    """Out of memory, with this process's address-space limit when one is set (``ulimit
    -v``: surgisim needs about 1 GB of it, README "Set up and run")."""
    import resource

    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    why = (
        f"this process may use {limit // 2**20} MB of address space (ulimit -v), and "
        "surgisim needs about 1 GB: raise the limit"
        if limit != resource.RLIM_INFINITY
        else "close other programs to free memory"
    )
    detail = str(exc).strip()
    return f"out of memory{f' ({detail})' if detail else ''}: {why}, and run it again."


def raise_swallowed_stop() -> None:
    """Raise again a stop signal whose exception something swallowed (see ``_unseen``)."""
    if _unseen:
        signum = _unseen[0]
        _unseen.clear()
        _raise_stop(signum, None)


def raised_stop() -> int | None:
    """The stop signal this command raised as an exception and no one has answered yet
    (None: none): a library may catch it and raise a plain KeyboardInterrupt in its place
    (Ray's ``wait`` does), which reads as Ctrl-C although SIGTERM came."""
    return _unseen[0] if _unseen else None


def print_error(message: str, debug: bool = False) -> None:
    """Print ``error: message`` on stderr (and the traceback being handled, with debug)."""
    if debug:
        import traceback

        traceback.print_exc(file=sys.stderr)
    Console(emoji=False, stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(message)}")


class StopRequest:
    """Set by the first Ctrl-C, SIGTERM or SIGHUP while :func:`interruptible` is active."""

    def __init__(self) -> None:
        self.requested = False
        #: the signal that asked for the stop (None: not asked)
        self.signum: int | None = None

    def __call__(self) -> bool:
        return self.requested

    @property
    def exit_code(self) -> int:
        """What the command exits with once the stopped session is stored: 130 after
        Ctrl-C, 143 after SIGTERM, 129 after SIGHUP."""
        return exit_code(self.signum if self.signum is not None else signal.SIGINT)


@contextmanager
def interruptible(message: str | Callable[[], str] | None) -> Iterator[StopRequest]:
    """While active, the first Ctrl-C, SIGTERM or SIGHUP sets the yielded
    :class:`StopRequest` (the run stops at its next step and is stored) and prints
    ``message``; a second one raises KeyboardInterrupt (:class:`Terminated` for SIGTERM
    and SIGHUP) as Ctrl-C does. ``message`` None says nothing: for a parent whose child
    process, sent the stop in turn, says it (said once, not twice). A callable is asked
    at the stop: what a stop does may depend on when it comes (a server stopped before
    any device connected stores nothing)."""
    raise_swallowed_stop()  # asked before the session began: nothing to store, stop now
    stop = StopRequest()

    def first(signum, frame) -> None:
        parent_gone = signum == PARENT_GONE
        signum = _as_stop(signum)
        if signum is None or (parent_gone and stop.requested):
            return  # the parent's death again, or after a stop already asked: the same stop
        if stop.requested:
            _raise_stop(signum, frame)
        stop.requested = True
        stop.signum = signum
        if message is None:
            return
        said = message() if callable(message) else message
        if signum != signal.SIGINT:  # "SIGTERM again", not "Ctrl-C again", to a supervisor
            said = said.replace("Ctrl-C again", f"{signal.Signals(signum).name} again")
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            Console(emoji=False, stderr=True).print(f"[yellow]{escape(said)}[/yellow]")

    with _handlers(first):
        yield stop


#: How many :func:`uninterrupted` blocks are open: an inner one holds nothing of its own
#: (the outer one already holds, and raises what came once it is done)
_holding = [0]


@contextmanager
def uninterrupted(message: str | None = None, done: str | None = None) -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP back while a finished session is written to the
    database (or, around a command's whole ending, stored, printed and its outputs
    written); the first takes effect (as KeyboardInterrupt or :class:`Terminated`) once the
    block is done. ``message``, if given, is said when a signal is held. Blocks nest: only
    the outermost holds, so a stop that came while storing no longer cut off the score
    and the "stored as session N" line that follow it.

    ``done``, if given, spends a held stop instead of raising it: the block finished the
    work the stop was waiting for (a session that had ended, stored and its outputs
    written), so the command ends as that work did, with its own exit code, and
    ``done`` (``{signal}``: the signal's name) says so. Before, a SIGTERM that came after
    a completed session had ended exited 143 with "error: terminated" about a session
    stored as completed, which a supervisor read as a stopped run."""
    if _holding[0]:
        yield
        return
    pending: list[int] = []

    def held(signum, frame) -> None:
        signum = _as_stop(signum)
        if signum is None:
            return
        if not pending and message is not None:
            with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
                Console(emoji=False, stderr=True).print(f"[yellow]{escape(message)}[/yellow]")
        pending.append(signum)

    _holding[0] += 1
    try:
        with _handlers(held):
            yield
    finally:
        _holding[0] -= 1
    if pending and done is not None:
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            said = done.format(signal=signal.Signals(pending[0]).name)
            Console(emoji=False, stderr=True).print(f"[yellow]{escape(said)}[/yellow]")
    elif pending:  # after the block's own failure, if any: that message says more
        _raise_stop(pending[0], None)
