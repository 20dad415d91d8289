"""No traceback reaches a user: every ``surgisim`` command runs inside :func:`guard`.

A failure a user can cause (a bad file, a database that cannot be written, an unknown
name) is one of the packages' own errors and prints one or a few lines saying what was
wrong and how to fix it; anything else is a bug of ours and says so. Both exit with code
2; ``--debug`` adds the traceback. Ctrl-C is handled by :func:`interruptible`: the first
press asks the running session to stop (it is stored as incomplete), the second gives up.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

DEBUG_OPTION = typer.Option(False, "--debug", help="Show the traceback when something fails.")


def _known_errors() -> tuple[type[BaseException], ...]:
    from haptics.errors import HapticsError
    from kinematics.errors import KinematicsError
    from scenarios.errors import ScenarioError
    from sim.errors import SimError

    return (ScenarioError, SimError, HapticsError, KinematicsError)


@contextmanager
def guard(debug: bool) -> Iterator[None]:
    """Turn any failure into ``error: ...`` on stderr and exit code 2 (traceback with
    ``--debug``)."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own way out
        raise
    except KeyboardInterrupt:
        print_error("interrupted.", debug)
        raise typer.Exit(code=130) from None
    except _known_errors() as exc:
        print_error(str(exc), debug)
        raise typer.Exit(code=2) from None
    except Exception as exc:  # a failure we did not foresee: still no bare traceback
        print_error(
            f"unexpected {type(exc).__name__}: {exc}. Rerun with --debug for the traceback, "
            "and please report it.",
            debug,
        )
        raise typer.Exit(code=2) from None


def print_error(message: str, debug: bool = False) -> None:
    """Print ``error: message`` on stderr (and the traceback being handled, with debug)."""
    if debug:
        import traceback

        traceback.print_exc(file=sys.stderr)
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(message)}")


class StopRequest:
    """Set by the first Ctrl-C while :func:`interruptible` is active."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested


@contextmanager
def interruptible(message: str) -> Iterator[StopRequest]:
    """While active, the first Ctrl-C sets the yielded :class:`StopRequest` (the run stops
    at its next step and is stored) and prints ``message``; a second one raises
    KeyboardInterrupt as usual."""
    stop = StopRequest()
    previous = signal.getsignal(signal.SIGINT)

    def first(signum, frame) -> None:
        stop.requested = True
        Console(stderr=True).print(f"[yellow]{escape(message)}[/yellow]")
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, first)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold Ctrl-C back while a session is written to the database; it takes effect (as a
    KeyboardInterrupt) once the block is done."""
    pending: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if pending:
            raise KeyboardInterrupt
