"""``surgisim practice``: practise a scenario on a laptop, end to end, in one command.

Starts the training server (``surgisim serve``) in a subprocess on a free block of
loopback ports, waits for it, then opens the trainer's window (``surgisim view``) on the
main thread, where mouse, keyboard and gamepad are the master devices. When the exercise
ends (or Esc, or the window is closed: the session is then stopped and stored as
incomplete) the server scores, stores and reports the session and prints the result, as
``surgisim serve`` does. The server runs in its own process so that its real-time
physics loop and the window's drawing never wait for each other.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import typer

from haptics.bus.ports import block_is_free, free_port_block
from sim.cli.guard import DEBUG_OPTION, guard
from sim.cli.options import (
    ALLOW_NAME,
    DB,
    DEVICE_MAP,
    JSON,
    REPORT,
    SCENARIO,
    SEED,
    WINDOW_SIZE,
)
from sim.stop_signals import stop_with_parent

#: How long the server may take to start (imports, compiled kernels, the scene) (s).
START_TIMEOUT_S = 180.0


def port_block_for_practice(port: int) -> int:
    """The base port this practice's server takes: ``port``, refused when in use (a second
    practice on a port taken by a running one saw its own server fail to bind, then opened
    its window and devices on the *first* session, holding both of its hands as two
    senders under one name), or a free block for 0."""
    if not port:
        return free_port_block()
    if not block_is_free(port):
        from sim.errors import SimError

        raise SimError(
            f"ports {port}-{port + 2} are in use on loopback (another training server or "
            f"practice?): choose another --port, or leave it out for a free block."
        )
    return port


def wait_for_server(port: int, process: subprocess.Popen, timeout_s: float) -> None:
    """Return once the server on ``port`` answers ``hello``; a SimError when its process
    ended first or it did not answer in time."""
    from haptics.bus.errors import BusTimeoutError
    from haptics.bus.sockets import ClientBus
    from sim.errors import SimError

    deadline = time.monotonic() + timeout_s
    with ClientBus(port=port, subscribe=()) as bus:
        while True:
            if process.poll() is not None:
                raise SimError(
                    f"the training server stopped before the window opened (exit code "
                    f"{process.returncode}); its message is above."
                )
            try:
                if bus.request("hello", 1.0).get("ok"):
                    return
            except BusTimeoutError:
                pass
            if time.monotonic() > deadline:
                raise SimError(f"the training server did not start within {timeout_s:g} s.")


def practice(
    scenario: str = SCENARIO,
    trainee: str | None = typer.Option(
        None, help="Your pseudonym (default: the demo store, as 'demo')."
    ),
    allow_name: bool = ALLOW_NAME,
    seed: int = SEED,
    port: int = typer.Option(
        0, min=0, max=65533, help="The server's base port P (0: a free block on loopback)."
    ),
    size: str = WINDOW_SIZE,
    db: str | None = DB,
    report: Path | None = REPORT,
    json_path: Path | None = JSON,
    vr: bool = typer.Option(
        False,
        "--vr",
        help="Practise in an OpenXR headset (controllers as masters) instead of the window.",
    ),
    device_map: list[str] = DEVICE_MAP,
    vr_mode: str = typer.Option("console", help="With --vr: console or bedside view."),
    monado: str | None = typer.Option(
        None,
        "--monado",
        help="With --vr and no headset: Monado's simulated (or remote) headset, the client "
        "in the OpenXR root (docs/vr.md; needs root, builds the root the first time).",
    ),
    debug: bool = DEBUG_OPTION,
) -> None:
    """Practise a scenario with mouse, keyboard or gamepad (or, with --vr, a headset and
    its controllers): the server, the view and the device in one command; scored, stored
    and reported at the end."""
    from sim.cli.render import parse_size

    width, height = parse_size(size)
    with guard(debug):
        port = port_block_for_practice(port)
        serve_args = ["--seed", str(seed)]
        for flag, value in (("--trainee", trainee), ("--db", db), ("--report", report),
                            ("--json", json_path)):  # fmt: skip
            if value is not None:
                serve_args += [flag, str(value)]
        for entry in device_map or ():
            serve_args += ["--map", entry]
        if allow_name:
            serve_args.append("--allow-name")
        if debug:
            serve_args.append("--debug")
        if vr:
            from sim.cli.vr import practise_in_headset

            code = practise_in_headset(scenario, port, serve_args, vr_mode, monado)
        elif monado is not None:
            raise typer.BadParameter("--monado goes with --vr")
        else:
            code = _practise_in_window(scenario, port, serve_args, width, height)
    if code is not None and code < 0:  # the server was killed: it said nothing
        typer.echo(server_killed_text(-code), err=True)
        code = 128 - code
    if code:
        raise typer.Exit(code=code)


def server_killed_text(signal_number: int) -> str:
    """What practice says when its training server was killed (``kill -9``, the OOM
    killer): it printed nothing, and its session is kept as a checkpoint."""
    import signal

    try:
        name = signal.Signals(signal_number).name
    except ValueError:
        name = f"signal {signal_number}"
    return (
        f"error: the training server was killed ({name}) before it stored the session. "
        "What it had is kept as a checkpoint: `surgisim store --orphans` stores it "
        "(recovered after a crash, not an attempt)."
    )


def _practise_in_window(scenario: str, port: int, serve_args: list, width: int, height: int):
    """The server in a subprocess and the trainer's window here; the server's exit code."""
    from sim.view.viewer import Viewer

    command = [sys.executable, "-m", "sim.cli", "serve", scenario, "--port", str(port),
               *serve_args]  # fmt: skip
    # in the terminal's process group (Ctrl-C reaches it and it stores the session),
    # and stopped the same way if practice itself is killed
    server = subprocess.Popen(command, preexec_fn=stop_with_parent)
    # on Mesa's CPU rasteriser the window draws with one thread, so that the server's
    # physics keeps a core of a laptop (a GPU driver ignores this)
    os.environ.setdefault("LP_NUM_THREADS", "1")
    try:
        wait_for_server(port, server, START_TIMEOUT_S)
        viewer = Viewer(port=port, size=(width, height), stop_on_close=True, say=typer.echo)

        def server_gone() -> bool:  # the result stays on screen until the window closes
            state = getattr(viewer, "state", None)
            return server.poll() is not None and (state is None or state.score is None)

        result = viewer.run(stop=server_gone)
        if result.score is None and server.poll() is None:
            viewer_stop(port)
        code = server.wait(timeout=120)
        if code == 130 and result.stop_signal is not None:  # stored; say which signal
            code = 128 + result.stop_signal
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)
    typer.echo(
        f"window: {result.frames} frames, {result.fps:.1f} fps; device: longest gap "
        f"between samples {1000 * result.longest_device_gap_s:.0f} ms"
    )
    return code


def viewer_stop(port: int) -> None:
    """Ask the server on ``port`` to stop (the window went away before the end)."""
    from haptics.bus.sockets import ClientBus

    # the server may be going already: then there is nothing more to ask
    with ClientBus(port=port, subscribe=()) as bus, contextlib.suppress(Exception):
        bus.request("stop", 5.0)
