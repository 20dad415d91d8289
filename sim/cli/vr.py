"""``surgisim vr``: the training server's scene in an OpenXR headset, the controllers as
the master devices (see :mod:`sim.xr.client` and docs/vr.md).

Connects to a running ``surgisim serve`` (``--port``), or starts one itself with
``--serve SCENARIO`` (same Python, which then needs pybullet too) and stops it when the
headset session ends, so that the session is scored and stored. Needs the ``vr`` extra
(pyopenxr) and an OpenXR runtime (Monado, SteamVR, a headset's own); with ``--monado
simulated|remote``, none: Monado and the client run in the OpenXR root
(:func:`headset_in_monado`, shared with ``practice --vr --monado``).

Exit codes: 0 done; 2 a bad option or no runtime/headset/server; 3 the runtime went away
mid-session (the training session goes on, and is stored, without the headset); 4 the
server went silent. With ``--monado``, the client's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from sim.cli.guard import DEBUG_OPTION, guard, interruptible
from sim.cli.options import (
    CLIENT_KEY,
    HOST,
    PORT,
    SERVER_PUBLIC_KEY,
    client_curve,
    deprecated_alias,
    prefer,
)

if TYPE_CHECKING:
    from sim.xr.monado import RootExchange

MONADO = typer.Option(
    None,
    "--monado",
    help="No headset here: Monado's simulated (or remote) headset, the client in the "
    "OpenXR root (docs/vr.md; needs root, builds the root the first time).",
)


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"2064x2208"`` -> ``(2064, 2208)`` pixels (None passes through)."""
    from sim.xr.errors import XrError

    if text is None:
        return None
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        size = None
    if not sep or size is None or not (16 <= size[0] <= 8192 and 16 <= size[1] <= 8192):
        raise XrError(f"--size {text!r}: expected WIDTHxHEIGHT in pixels, e.g. 2064x2208")
    return size


def start_server(scenario: str, port: int, console: Console, extra: list[str] = ()):
    """``surgisim serve SCENARIO --port PORT`` in a child process; returns it once the
    bus answers (or raises with its output when it exits first)."""
    from haptics.bus.errors import BusTimeoutError
    from haptics.bus.sockets import ClientBus
    from sim.xr.errors import XrError

    command = [sys.executable, "-m", "sim.cli", "serve", scenario, "--port", str(port), *extra]
    console.print(f"starting the training server: {' '.join(command[2:])}")
    from sim.xr.monado import own_session_until_parent_dies

    # the server writes to a file, relayed here as it comes: through a pipe it said nothing
    # until the session ended, and when this process was killed (kill -9 of practice) its
    # pipe broke under it while it stored the session, which was then not stored
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open for the server's lifetime
        mode="w+", prefix="surgisim-serve-", suffix=".log", delete=False
    )
    server = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=own_session_until_parent_dies,  # Ctrl-C reaches us; we stop it in order
    )
    server.relay = _OutputRelay(Path(log.name), console)
    log.close()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            out = server.relay.finish(echo=False)
            raise XrError(f"the training server exited (code {server.returncode}):\n{out[-2000:]}")
        probe = ClientBus(port=port, subscribe=())
        try:
            probe.request("hello", timeout_s=1.0)
            return server
        except BusTimeoutError:
            continue
        finally:
            probe.close()
    server.kill()
    raise XrError(f"the training server did not answer on port {port} within 120 s")


class _OutputRelay:
    """Prints the lines a child writes to ``path`` as they come, from a daemon thread;
    :meth:`finish` prints the rest and removes the file."""

    def __init__(self, path: Path, console: Console) -> None:
        self.path, self.console = path, console
        self._stop = threading.Event()
        self._said: list[str] = []
        self._echo = True
        self._thread = threading.Thread(target=self._run, daemon=True, name="serve-output")
        self._thread.start()

    def _run(self) -> None:
        with self.path.open(errors="replace") as f:
            pending = ""
            while True:
                stopping = self._stop.is_set()  # read before the last drain
                pending += f.read()
                *lines, pending = pending.split("\n")
                for line in lines:
                    self._said.append(line)
                    if self._echo:
                        self.console.print(line, markup=False, highlight=False)
                if stopping:
                    if pending:
                        self._said.append(pending)
                        if self._echo:
                            self.console.print(pending, markup=False, highlight=False)
                    return
                time.sleep(0.1)

    def finish(self, echo: bool = True) -> str:
        """Print what is left (unless not ``echo``), stop, and return everything said."""
        self._echo = echo
        self._stop.set()
        self._thread.join(timeout=10)
        self.path.unlink(missing_ok=True)
        return "\n".join(self._said)


def end_server(server, port: int, console: Console) -> None:
    """After a headset session: stop the server if it still runs (the session is then
    stored as incomplete), else print what it said when it ended the session itself."""
    if server.poll() is None:
        stop_server(server, port, console)
    else:
        server.relay.finish()


def stop_server(server, port: int, console: Console) -> None:
    """Ask the server to end (it scores and stores the session), then wait for it."""
    from haptics.bus.sockets import ClientBus

    client = ClientBus(port=port, subscribe=())
    try:
        client.request("stop", timeout_s=5.0)
    except Exception as exc:  # already gone: it has printed why
        console.print(f"the training server did not take the stop request: {exc}")
    finally:
        client.close()
    try:
        server.wait(timeout=120)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    server.relay.finish()


def vr(
    mode: str = typer.Option(
        "console", help="console: the stereo endoscope fills the view; bedside: the room."
    ),
    host: str = HOST,
    port: int = PORT,
    serve: str | None = typer.Option(
        None, "--serve", help="Start `surgisim serve SCENARIO` first and stop it at the end."
    ),
    trainee: str | None = typer.Option(
        None, help="With --serve: the pseudonym the session is stored under (default: demo)."
    ),
    frames: int | None = typer.Option(None, min=1, help="Stop after this many frames."),
    seconds: float | None = typer.Option(None, min=0.0, help="Stop after this long (s)."),
    size: str | None = typer.Option(
        None, help="Swapchain size per eye, WxH (default: the runtime's recommendation)."
    ),
    linear: bool = typer.Option(
        False, "--linear", help="Prefer a linear (UNORM) swapchain over sRGB."
    ),
    drive: bool = typer.Option(
        True, "--drive/--watch", help="Drive the instruments with the controllers, or only watch."
    ),
    device_rate_hz: float = typer.Option(
        125.0, min=10.0, max=2000.0, help="Controller sampling rate (Hz)."
    ),
    capture: Path | None = typer.Option(
        None,
        help="Folder for captures: every --capture-every-th frame's swapchain images as "
        "FOLDER/frame_NNNNNN.npz (both eyes, poses, projection; created if missing).",
    ),
    capture_every: int = typer.Option(20, min=1, help="Frames between captures."),
    hud: bool = typer.Option(
        True, help="The trainer's overlay in each eye (step, timer, score, warnings)."
    ),
    timing: Path | None = typer.Option(None, help="Per-frame timing, JSON lines."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the run's report."),
    client_key: Path | None = CLIENT_KEY,
    server_public_key: Path | None = SERVER_PUBLIC_KEY,
    server_key: Path | None = deprecated_alias("--server-key", "--server-public-key"),
    monado: str | None = MONADO,
    debug: bool = DEBUG_OPTION,
) -> None:
    """Train in an OpenXR headset: the scene from the server, controllers as masters."""
    from sim.xr.client import MODES, VrClient, VrOptions
    from sim.xr.errors import XrError

    console = Console(emoji=False)
    server = None
    with guard(debug):
        if mode not in MODES:
            raise XrError(f"--mode {mode!r}: expected one of {', '.join(MODES)}")
        per_eye = parse_size(size)
        server_public_key = prefer(
            server_public_key, server_key, "--server-public-key", "--server-key"
        )
        if trainee is not None and serve is None:
            raise XrError("--trainee goes with --serve (a running server has its trainee)")
        serve_args = [] if trainee is None else ["--trainee", trainee]
        # read here with --monado too: a bad key file is said before anything starts
        curve = client_curve(client_key, server_public_key, XrError)
        if monado is not None:  # the client in the OpenXR root, with this command line
            check_monado_driver(monado)
            client_args = forwarded(
                {"--mode": mode, "--host": host, "--port": port, "--frames": frames,
                 "--seconds": seconds, "--size": size, "--linear": linear,
                 "--watch": not drive, "--device-rate-hz": device_rate_hz,
                 "--capture-every": capture_every, "--no-hud": not hud,
                 "--debug": debug},
                read={"--client-key": client_key, "--server-public-key": server_public_key},
                written={"--capture": capture, "--timing": timing, "--json": json_path},
            )  # fmt: skip
            serving = None if serve is None else (serve, port, serve_args)
            code, _ = headset_in_monado(monado, client_args, console, serving)
            raise typer.Exit(code=code)
        options = VrOptions(
            host=host,
            port=port,
            curve=curve,
            mode=mode,
            frames=frames,
            seconds=seconds,
            size=per_eye,
            srgb=not linear,
            device_rate_hz=device_rate_hz,
            drive=drive,
            capture_dir=capture,
            capture_every=capture_every,
            timing_path=timing,
            hud=hud,
        )
        # the frame loop and the device thread share the GIL: hand it over every 1 ms
        # (Python's default 5 ms would stall a frame behind a controller tick)
        sys.setswitchinterval(0.001)
        if serve is not None:
            server = start_server(serve, port, console, serve_args)
        client = VrClient(options, log=console.print)
        try:
            with interruptible("stopping the headset session (Ctrl-C again to abandon)") as stop:
                import threading

                watcher = threading.Thread(
                    target=lambda: _watch(stop, client), daemon=True, name="surgisim-vr-stop"
                )
                watcher.start()
                report = client.run()
        finally:
            if server is not None:
                stop_server(server, port, console)
        _print_report(console, report)
        if json_path is not None:
            from scenarios.paths import write_private_text

            # owner-only, like every other output (README: "Trainee records")
            write_private_text(json_path, json.dumps(report.as_dict(), indent=2, default=str))
    if report.runtime_lost:
        raise typer.Exit(code=3)
    if report.server_lost:
        raise typer.Exit(code=4)


def practise_in_headset(
    scenario: str, port: int, serve_args: list[str], mode: str, monado: str | None = None
) -> int:
    """``surgisim practice SCENARIO --vr``: the training server and the headset client in
    one command. The client runs until the exercise ends (the server scores, stores and
    reports the session and exits), Ctrl-C, or the runtime goes; the server's result is
    printed after the headset's report. Returns the exit code (3: the runtime was lost).
    ``monado``: no headset here: Monado's ``simulated`` or ``remote`` headset, the client
    in the OpenXR root (:func:`practise_in_monado`).
    """
    import threading

    from sim.xr.client import MODES, VrClient, VrOptions
    from sim.xr.errors import XrError

    if mode not in MODES:
        raise XrError(f"--vr-mode {mode!r}: expected one of {', '.join(MODES)}")
    if monado is not None:
        return practise_in_monado(scenario, port, serve_args, mode, monado)
    from sim.xr.runtime import require_pyopenxr

    require_pyopenxr()  # say so before a session starts (and would be stored empty)
    console = Console(emoji=False)
    sys.setswitchinterval(0.001)  # see vr(): the frame loop and the controllers share the GIL
    server = start_server(scenario, port, console, serve_args)
    client = VrClient(VrOptions(port=port, mode=mode), log=console.print)
    try:
        with interruptible("stopping the headset session (Ctrl-C again to abandon)") as stop:
            ended = lambda: stop() or server.poll() is not None  # noqa: E731
            threading.Thread(
                target=lambda: _watch(ended, client), daemon=True, name="surgisim-vr-stop"
            ).start()
            report = client.run()
    finally:
        end_server(server, port, console)
    _print_report(console, report)
    if report.runtime_lost:
        return 3
    return server.returncode or 0


def practise_in_monado(
    scenario: str, port: int, serve_args: list[str], mode: str, driver: str
) -> int:
    """``practice --vr --monado DRIVER``: the server here, Monado and the client in the
    root (:func:`headset_in_monado`). The client's exit code wins when it is an error
    (3: the runtime went, 4: the server went), else the server's."""
    client_args = lambda exchange: ["--port", str(port), "--mode", mode]  # noqa: E731
    code, server = headset_in_monado(
        driver, client_args, Console(emoji=False), (scenario, port, serve_args)
    )
    return code if code in (3, 4) else (server.returncode or code)


def forwarded(
    options: dict[str, object],
    read: dict[str, Path | None],
    written: dict[str, Path | None],
) -> Callable[[RootExchange], list[str]]:
    """``surgisim vr``'s options for a client in the root: ``options`` as given (a flag
    when True, left out when None or False), and the files the client ``read`` s (copied
    in) or writes (``written``: moved out after), so that paths mean what they mean here.
    """

    def args(exchange: RootExchange) -> list[str]:
        out: list[str] = []
        for flag, value in options.items():
            if value is True:
                out.append(flag)
            elif value is not None and value is not False:
                out += [flag, str(value)]
        out += [x for f, p in read.items() if p is not None for x in (f, exchange.inward(p))]
        out += [x for f, p in written.items() if p is not None for x in (f, exchange.outward(p))]
        return out

    return args


def check_monado_driver(driver: str) -> None:
    """Refuse a ``--monado`` that names no driver, before anything starts."""
    from sim.xr.errors import XrError
    from sim.xr.monado import DRIVERS

    if driver not in DRIVERS:
        raise XrError(f"--monado {driver!r}: expected {' or '.join(DRIVERS)}")


def headset_in_monado(
    driver: str,
    client_args: Callable[[RootExchange], list[str]],
    console: Console,
    serve: tuple[str, int, list[str]] | None = None,
) -> tuple[int, subprocess.Popen | None]:
    """The headset client where the host has no OpenXR runtime, for ``surgisim vr
    --monado`` and ``practice --vr --monado``: Monado runs headless in the Debian trixie
    root (``sim.xr.monado``), with DRIVER's headset, and so must the client, whose
    process loads Monado's library; a training server (``serve``: scenario, port and
    serve's options) stays here (pybullet), started once Monado runs so that a root that
    cannot be built leaves no empty session stored.

    ``client_args(exchange)`` gives ``surgisim vr``'s options for the client; files it
    names pass through ``exchange`` (:class:`sim.xr.monado.RootExchange`). The client
    ends by itself (its session ended, --frames, --seconds) or, on Ctrl-C or when the
    server exits, on SIGINT, which ends its headset session cleanly. Returns the client's
    exit code and the server (ended), or None.
    """
    import signal

    from sim.xr.monado import MonadoService, RootExchange, XrRoot, own_session_until_parent_dies

    check_monado_driver(driver)
    root = XrRoot()
    console.print(f"the OpenXR root: {root.path} (built the first time: a few minutes)")
    root.ensure(log=lambda line: None)
    server = None
    with MonadoService(root, driver) as service, RootExchange(root) as exchange:
        if serve is not None:
            scenario, port, serve_args = serve
            server = start_server(scenario, port, console, serve_args)
        command = ["-m", "sim.cli", "vr", *client_args(exchange)]
        client = root.python(command, service.client_env, preexec_fn=own_session_until_parent_dies)
        try:
            # the client, sent SIGINT below, says "stopping the headset session" itself
            with interruptible(None) as stop:
                while client.poll() is None:
                    if stop() or (server is not None and server.poll() is not None):
                        client.send_signal(signal.SIGINT)  # it ends its session cleanly
                        break
                    time.sleep(0.1)
                code = client.wait(60)
        finally:
            if client.poll() is None:
                client.kill()
            if server is not None:
                end_server(server, port, console)
    return code, server


def _watch(stop, client) -> None:
    while not stop():
        time.sleep(0.05)
    client.stop()


def _print_report(console: Console, report) -> None:
    t = report.timing
    console.print(
        f"{report.mode} view on {report.system}: {report.submitted} frames submitted of "
        f"{report.frames}, paced {t.get('paced', 0)}, missed {t.get('missed', 0)}, "
        f"late {t.get('late', 0)} (period {t.get('period_ms', 0):.1f} ms)"
    )
    eyes = t.get("eye_ms", [])
    if eyes and eyes[0].get("n"):
        per_eye = ", ".join(f"{e['p50']:.2f}/{e['p95']:.2f}" for e in eyes)
        console.print(f"render per eye p50/p95 (ms): {per_eye}")
    work = t.get("work_ms", {})
    if work.get("n"):
        console.print(f"frame wait->end p50/p95 (ms): {work['p50']:.2f}/{work['p95']:.2f}")
    lat = t.get("latency_ms", {})
    if lat.get("n"):
        console.print(f"hand-to-display latency p50/p95 (ms): {lat['p50']:.1f}/{lat['p95']:.1f}")
    if report.runtime_lost:
        console.print(f"[red]runtime lost[/red]: {report.runtime_lost}")
    # a lost server was said as it happened, in one line (docs/vr.md): not said again
