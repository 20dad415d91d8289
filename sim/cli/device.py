"""``surgisim device KIND``: a master device as its own process on the bus.

Kinds: ``synthetic`` (the synthetic operators, watching the bus as a trainee watches the
screen), ``replay FILE`` (a recorded stream at its recorded timing), ``record --out FILE``
(a stand-in server that records what devices send), ``touch`` (Geomagic Touch through
OpenHaptics, with force feedback) and ``spacemouse`` (3Dconnexion, through hidapi). Every
device waits for the server and says so once, keeps trying when the server goes away,
and stops cleanly on Ctrl-C (a second Ctrl-C gives up at once). docs/devices.md says how
to connect each device, its units, frames and buttons.
"""

from __future__ import annotations

import functools
import inspect
import math
import typing
from dataclasses import dataclass
from pathlib import Path

import typer

from sim.cli.guard import DEBUG_OPTION, guard, interruptible
from sim.cli.options import (
    ALLOW_KEYS,
    HOST,
    PORT,
    SERVER_KEY,
    command_group,
    deprecated_alias,
    prefer,
    server_curve,
)

device_app = command_group(
    help="Master devices on the bus: synthetic operators, recordings, Touch, SpaceMouse.",
    no_args_is_help=True,
)

RATE = typer.Option(1000.0, "--rate-hz", min=1.0, max=10000.0, help="Device rate (Hz).")
KEYS = typer.Option(
    None,
    "--keys",
    help="CurveZMQ key directory holding this device's NAME.key_secret and the server's"
    " server.key (needed when the server is not on loopback).",
)
KEY_NAME = typer.Option(
    None,
    "--key-name",
    help="Key name in --keys (default: the device's first name: --name, or what replay sends).",
)
RECORD = typer.Option(None, "--record", help="Also write every message sent to this file.")
OVERWRITE = typer.Option(
    False, "--overwrite", help="Replace the --record file if it exists (refused otherwise)."
)
ONE_NAME = typer.Option("MTMR", "--name", help="Device name: MTMR (right hand) or MTML (left).")
ENABLE = typer.Option(True, "--enable/--no-enable", help="Ask the server to enable the arm first.")
KEYWORD = inspect.Parameter.KEYWORD_ONLY

#: The options devices share: name -> (type, declaration). A command takes the ones it
#: names in :func:`shared_options`, in this order, after its own.
SHARED_OPTIONS: dict[str, tuple[object, object]] = {
    "name": (str, ONE_NAME),
    "enable": (bool, ENABLE),
    "host": (str, HOST),
    "port": (int, PORT),
    "rate_hz": (float, RATE),
    "keys": (Path | None, KEYS),
    "key_name": (str | None, KEY_NAME),
    "record": (Path | None, RECORD),
    "overwrite": (bool, OVERWRITE),
    "debug": (bool, DEBUG_OPTION),
}


@dataclass
class DeviceOptions:
    """The shared device options of one command (those it does not take stay at their
    defaults), and how a device reaches the server with them."""

    name: str = "MTMR"
    enable: bool = True
    host: str = "127.0.0.1"
    port: int = 5570
    rate_hz: float | None = None
    keys: Path | None = None
    key_name: str | None = None
    record: Path | None = None
    overwrite: bool = False
    debug: bool = False

    def curve(self, default_name: str):
        """The CurveZMQ client keys from ``--keys``/``--key-name`` (None: plain bus)."""
        if self.keys is None:
            return None
        from haptics.bus.security import ClientCurve

        keys = Path(self.keys).expanduser()
        name = self.key_name or default_name
        return ClientCurve.from_files(keys / f"{name}.key_secret", keys / "server.key")

    def open(self, names, source: str, subscribe=("",)):
        """A :class:`~haptics.devices.link.DeviceLink` for ``names`` (not yet connected)."""
        from haptics.devices.link import DeviceLink
        from sim.cli.checks import checked_new_recording

        checked_new_recording(self.record, "--record", self.overwrite)
        return DeviceLink(
            names,
            self.host,
            self.port,
            curve=self.curve(names[0]),
            subscribe=subscribe,
            record=self.record,
            rate_hz=self.rate_hz,
            source=source,
        )


def shared_options(*names: str):
    """Give the decorated command the shared device options ``names`` (see
    :data:`SHARED_OPTIONS`) as typer options after its own; it receives them as one
    ``options: DeviceOptions`` keyword instead, so that each is declared once for all devices."""
    unknown = [n for n in names if n not in SHARED_OPTIONS]
    if unknown:
        raise ValueError(f"unknown device options {unknown}; known: {list(SHARED_OPTIONS)}")

    def decorate(func):
        hints = typing.get_type_hints(func)
        own = [
            p.replace(annotation=hints[p.name])
            for p in inspect.signature(func).parameters.values()
            if p.name != "options"
        ]
        shared = []
        for n in names:
            kind, declaration = SHARED_OPTIONS[n]
            shared.append(inspect.Parameter(n, KEYWORD, default=declaration, annotation=kind))

        @functools.wraps(func)
        def command(**kwargs):
            options = DeviceOptions(**{n: kwargs.pop(n) for n in names})
            return func(**kwargs, options=options)

        params = own + shared
        command.__signature__ = inspect.Signature(params, return_annotation=None)
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate


def _connect(link, stop) -> bool:
    hello = link.connect(stop)
    if hello is None:
        typer.echo("stopped before the server answered.", err=True)
        return False
    title = hello.get("title") or hello.get("scenario") or "?"
    typer.echo(f"connected to {link.endpoint}: {title}; devices {hello.get('devices')}", err=True)
    return True


@device_app.command("synthetic")
@shared_options("host", "port", "rate_hz", "keys", "key_name", "record", "overwrite", "debug")
def synthetic(
    operator: str = typer.Option("expert", help="Skill: expert, intermediate or novice."),
    seed: int = typer.Option(0, help="Seed of the operators' random streams."),
    names: list[str] = typer.Option(
        None,
        "--name",
        help="A device to drive (repeatable); default: every device the server's hello maps"
        " to an arm (both hands of a two-handed exercise). One hand only (--name MTMR here,"
        " --name MTML in another process): this process watches the other hand on the bus.",
    ),
    steps: int = typer.Option(
        None, "--steps", min=1, help="Stop after this many exercise steps are done."
    ),
    *,
    options: DeviceOptions,
) -> None:
    """Synthetic operators drive the server's exercise over the bus, in real time."""
    stopping = "stopping after this sample (Ctrl-C again to quit)"
    with guard(options.debug), interruptible(stopping) as stop:
        import sys

        from sim.cli.checks import checked_operator, checked_seed
        from sim.devices.synthetic import run_synthetic

        # the hands publish on their own thread: let it in every 0.5 ms, not 5 ms
        sys.setswitchinterval(0.0005)

        checked_operator(operator)
        checked_seed(seed)
        probe = names or ["MTMR"]
        link = options.open(probe, "surgisim device synthetic")
        try:
            while True:
                if not _connect(link, stop):
                    return
                if not names:  # every device the server maps
                    link.names = sorted((link.hello.get("devices") or {}).keys()) or probe
                result = run_synthetic(
                    link,
                    operator=operator,
                    seed=seed,
                    rate_hz=options.rate_hz,
                    stop=stop,
                    stop_after_steps=steps,
                )
                if not result.lost or stop():
                    break
                typer.echo(
                    "the server's session is gone: starting over when a server answers", err=True
                )
        finally:
            link.close()
        if result.completed:
            end = "completed"
        elif result.failed:
            end = f"failed: {result.failed}"
        elif result.gave_up:
            end = "gave up: the plan ran out, the exercise not done (the server's session goes on)"
        else:
            end = "stopped"
        typer.echo(
            f"{result.steps_done}/{result.total_steps} steps in {result.elapsed_s:.1f} s, {end};"
            f" {result.samples} samples, engaged {result.engagements}x"
            + (
                f"; {result.partner_missed} of the other hand's moves not seen in time"
                if result.partner_missed
                else ""
            )
            + (
                f"; waited {result.simulation_waits}x for a server slower than real time"
                if result.simulation_waits
                else ""
            )
        )
        if result.failed or result.gave_up:
            raise typer.Exit(code=1)


@device_app.command("replay")
@shared_options("enable", "host", "port", "keys", "key_name", "debug")
def replay(
    file: Path = typer.Argument(..., help="A recording (surgisim device record / --record)."),
    speed: float = typer.Option(1.0, min=0.01, max=100.0, help="Time scale (2 = twice as fast)."),
    rename: list[str] = typer.Option(
        None, "--as", help="Send a recorded device under another name: FROM=TO (repeatable)."
    ),
    *,
    options: DeviceOptions,
) -> None:
    """Replay a recorded device stream at its recorded timing."""
    with guard(options.debug), interruptible("stopping the replay (Ctrl-C again to quit)") as stop:
        from haptics.devices.errors import DeviceError
        from haptics.devices.loop import enable_arm
        from haptics.devices.recording import read_recording
        from haptics.devices.replay import replay as run_replay

        recording = read_recording(file)
        mapping = {}
        for item in rename or []:
            old, sep, new = item.partition("=")
            if not (sep and old and new):
                raise DeviceError(f"--as takes FROM=TO (e.g. MTMR=MTML), got {item!r}.")
            mapping[old] = new
        devices = list(dict.fromkeys(e.topic.partition("/")[0] for e in recording.entries))
        names = [mapping.get(d, d) for d in devices] or ["MTMR"]
        link = options.open(names, "replay", subscribe=("session/",))
        try:
            if not _connect(link, stop):
                return
            if options.enable:
                for name in names:
                    enable_arm(link, link.arm_of(name))
            typer.echo(
                f"replaying {len(recording.entries)} messages of {devices} over"
                f" {recording.duration_s / speed:.1f} s",
                err=True,
            )
            stats = run_replay(link, recording, speed=speed, stop=stop, rename=mapping)
        finally:
            link.close()
        typer.echo(
            f"sent {stats.sent}/{stats.total} messages;"
            f" the latest {1000 * stats.max_late_s:.1f} ms late"
        )


@device_app.command("record")
def record(
    out: Path = typer.Option(..., "--out", help="The recording to write."),
    names: list[str] = typer.Option(
        None, "--name", help="Record only this device (repeatable); default: every device."
    ),
    seconds: float = typer.Option(
        None, "--seconds", min=0.01, help="Stop this long after the first message."
    ),
    port: int = PORT,
    bind_host: str = typer.Option(
        None, "--bind-host", help="Address to listen on (default: 127.0.0.1, loopback)."
    ),
    bind: str = deprecated_alias("--bind", "--bind-host"),
    server_key: Path | None = SERVER_KEY,
    allow_keys: Path | None = ALLOW_KEYS,
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the --out file if it exists (refused otherwise)."
    ),
    debug: bool = DEBUG_OPTION,
) -> None:
    """Stand in for the server and record what devices send (until Ctrl-C); off loopback
    with CurveZMQ keys, as ``surgisim serve``."""
    with guard(debug), interruptible("closing the recording") as stop:
        from haptics.devices.capture import capture
        from sim.cli.checks import checked_new_recording

        checked_new_recording(out, "--out", overwrite)
        bind = prefer(bind_host, bind, "--bind-host", "--bind") or "127.0.0.1"

        stats = capture(
            out,
            port=port,
            bind_host=bind,
            curve=server_curve(server_key, allow_keys),
            names=names or (),
            stop=stop,
            duration_s=seconds,
            notify=lambda m: typer.echo(m, err=True),
        )
        typer.echo(f"recorded {stats.messages} messages of {list(stats.devices)} into {out}")


def _run_hardware(adapter, options: DeviceOptions) -> None:
    """Run a hardware ``adapter`` as device ``options.name`` until Ctrl-C."""
    with interruptible("stopping the device (Ctrl-C again to quit)") as stop:
        from haptics.devices.loop import run_device

        adapter.open()  # fails first, with the extra and driver to install
        try:
            link = options.open([options.name], adapter.kind)
            try:
                if not _connect(link, stop):
                    return
                stats = run_device(
                    adapter, link, rate_hz=options.rate_hz, stop=stop, enable=options.enable
                )
            finally:
                link.close()
        finally:
            adapter.close()
        typer.echo(
            f"{adapter.kind} stopped after {stats.ticks} ticks ({stats.late} late,"
            f" {stats.forces} force messages)"
        )


def hardware_command(kind: str):
    """A ``surgisim device KIND`` command for a hardware device: the decorated function
    takes the device's own options and returns its adapter; the shared options, the bus
    and the device loop are the same for every device."""

    def decorate(make_adapter):
        @functools.wraps(make_adapter)
        def command(*, options: DeviceOptions, **own) -> None:
            with guard(options.debug):
                _run_hardware(make_adapter(**own), options)

        own = list(inspect.signature(make_adapter).parameters.values())
        command.__signature__ = inspect.Signature([*own, inspect.Parameter("options", KEYWORD)])
        return device_app.command(kind)(shared_options(*SHARED_OPTIONS)(command))

    return decorate


@hardware_command("touch")
def touch(
    device_name: str = typer.Option(
        "Default Device", help="The OpenHaptics device name (Touch_Setup)."
    ),
    max_force_n: float = typer.Option(3.0, min=0.0, max=3.3, help="Force saturation (N)."),
    gripper_open_deg: float = typer.Option(60.0, help="Gripper angle with button 1 up (deg)."),
):
    """Geomagic Touch through OpenHaptics, with force feedback (extra: touch)."""
    from haptics.devices.touch import TouchAdapter

    return TouchAdapter(device_name, math.radians(gripper_open_deg), max_force_n)


@hardware_command("spacemouse")
def spacemouse(
    path: str = typer.Option(None, help="hidraw path of the device (default: the first)."),
    max_speed_m_s: float = typer.Option(0.1, min=0.001, help="Hand speed at full push (m/s)."),
    max_rate_deg_s: float = typer.Option(60.0, min=1.0, help="Turn rate at full twist (deg/s)."),
    deadband: float = typer.Option(0.05, min=0.0, max=0.9, help="Share of full scale ignored."),
    gripper_open_deg: float = typer.Option(60.0, help="Gripper angle with the right button up."),
):
    """3Dconnexion SpaceMouse through hidapi: a velocity device (extra: spacemouse)."""
    from haptics.devices.spacemouse import SpaceMouseAdapter, VirtualHandle

    handle = VirtualHandle(max_speed_m_s, math.radians(max_rate_deg_s), deadband)
    return SpaceMouseAdapter(path, math.radians(gripper_open_deg), handle)
