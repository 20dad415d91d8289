"""Connecting a sweep to Ray: the optional extra imported lazily, a local cluster or an
address, and an unreachable address refused in seconds rather than retried for minutes.

Ray is the ``surgisim[ray]`` extra. Without an address, a local cluster of ``workers``
processes is started; with one (``host:6379``, ``ray://host:10001`` or ``auto``) the runs
go to that cluster, whose workers need surgisim installed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from sim.errors import SimError

#: seconds a Ray driver may take to connect to a cluster's address before it is given up
CONNECT_TIMEOUT_S = 30.0
#: seconds to wait for a TCP connection to that address
TCP_TIMEOUT_S = 5.0

_START_RAY = (
    "Start one there with `ray start --head` (it prints the address to give to --ray), "
    "or leave --ray out to run on a local cluster."
)


def import_ray():
    """The ``ray`` module, or a :class:`SimError` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise SimError(
            "sweeps on Ray need the ray extra: pip install 'surgisim[ray]' (or run with --serial)."
        ) from None
    return ray


@contextmanager
def cluster(address: str | None, workers: int | None) -> Iterator:
    """Ray, connected to ``address`` or to a new local cluster of ``workers`` CPUs, and shut
    down afterwards (unless it was connected before).

    Raises:
        SimError: Ray is not installed, or the address cannot be reached.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address:
        check_reachable(address)
    held = _python_handlers()
    try:  # still guarded: 'local', and anything that changed since the check
        ray.init(
            address=address,
            num_cpus=None if address else workers,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    except ConnectionError as exc:  # e.g. 'auto' with no cluster on this machine
        raise SimError(
            f"cannot connect to a Ray cluster at {address!r}: {exc} {_why_refused(str(exc))}"
        ) from None
    _restore(held)
    try:
        yield ray
    finally:
        ray.shutdown()


def _python_handlers() -> dict:
    """The Python handlers of the stop signals (main thread only: elsewhere none can be
    set), to put back after ``ray.init``."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    return {
        s: signal.getsignal(s) for s in (getattr(signal, n) for n in names if hasattr(signal, n))
    }


def _restore(handlers: dict) -> None:
    """Put back the stop signals' handlers that ``ray.init`` replaced by its own: Ray's
    native one answered a SIGTERM of ``surgisim sweep`` with a crash dump and exit code 1,
    the code of a sweep with a failed run, so a batch system could not tell it from one."""
    import signal

    for signum, handler in handlers.items():
        if handler is not None:
            signal.signal(signum, handler)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse a Ray address that does not answer as a Ray cluster within ``timeout_s``.

    Ray itself retries an unreachable cluster for many minutes, printing connection
    warnings, and offers no per-call limit. So two checks come first: a TCP connection to
    the address's host and port (says in seconds that nothing listens, the host is unknown
    or unreachable), then a Ray driver connecting from a child process, killed after
    ``timeout_s`` (something listens there that is not a Ray cluster, or a firewall or proxy
    accepts the connection and then says nothing). ``local`` starts a new cluster, so it is
    not checked; ``auto`` gets the second check only.

    Raises:
        SimError: a malformed address, or no Ray cluster; the message says how to start one.
    """
    if address == "local":
        return
    if address != "auto":
        _check_listening(address, min(timeout_s, TCP_TIMEOUT_S))
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, address],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SimError(
            f"no Ray cluster answered at {address!r} within {timeout_s:g} s (something "
            f"accepts connections there, but not as a Ray cluster). {_START_RAY}"
        ) from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise SimError(
            f"cannot connect to a Ray cluster at {address!r}: "
            f"{lines[-1].rstrip('.') if lines else f'exit status {done.returncode}'}. "
            + _why_refused(done.stderr)
        )


#: What a failed driver's output says that the last line hides, and what to do about it.
_REFUSALS = (
    (
        ("InvalidAuthToken", "uthentication token"),
        "A cluster is there, but it refused this driver's authentication token (Ray's "
        "token authentication): give the driver the cluster's token, or, on a trusted "
        "machine, start both with RAY_AUTH_MODE=disabled.",
    ),
    (
        ("ersion mismatch",),
        "A cluster is there, but it runs another Ray or Python version than this driver: "
        "install the same versions on both.",
    ),
)


def _why_refused(output: str) -> str:
    """The cause a driver's whole output names (a cluster that is there but refuses: its
    last line only says "Failed to connect", and "start one there" sent a user whose
    cluster ran to start another), else how to start a cluster."""
    for marks, advice in _REFUSALS:
        if any(mark in output for mark in marks):
            return advice
    return _START_RAY


#: a Ray driver that connects to ``argv[1]`` and leaves (run in a child process)
_PROBE = (
    "import sys, ray; ray.init(address=sys.argv[1], include_dashboard=False, "
    "log_to_driver=False, configure_logging=False); ray.shutdown()"
)


def _check_listening(address: str, timeout_s: float) -> None:
    """Refuse an address whose host and port take no TCP connection within ``timeout_s``."""
    target = address.removeprefix("ray://").rstrip("/")
    host, sep, port = target.rpartition(":")
    if not sep or "]" in port:  # no port: Ray's defaults (Ray Client 10001, GCS 6379)
        host, port = target, "10001" if address.startswith("ray://") else "6379"
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise SimError(
            f"Ray address {address!r}: expected 'host:port' (a head node, port 6379 by "
            "default), 'ray://host:10001' (Ray Client) or 'auto'."
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise SimError(
            f"no Ray cluster at {address!r} ({why} within {timeout_s:g} s). {_START_RAY}"
        ) from None
