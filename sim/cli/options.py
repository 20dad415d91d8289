"""Option declarations that several ``surgisim`` commands share, so that one option has
one name, one default and one help text everywhere.

Declared as typer ``OptionInfo`` defaults (``host: str = HOST``), the style the commands
already use; typer copies what it reads from them, so one object may serve many
commands. An option renamed for consistency keeps its old spelling as a hidden,
deprecated alias (:func:`deprecated_alias`, :func:`prefer`): scripts written against the
old name go on working, and say once on stderr which name to use instead.
"""

from __future__ import annotations

from pathlib import Path

import typer

# --- a client of the training server (devices, the window, the headset) ---------------

HOST = typer.Option("127.0.0.1", "--host", help="The server's address.")
PORT = typer.Option(
    5570, "--port", min=1, max=65533, help="The server's base port P (P, P+1, P+2)."
)
CLIENT_KEY = typer.Option(
    None,
    "--client-key",
    help="This client's secret key file (CurveZMQ, when the server uses keys).",
)
SERVER_PUBLIC_KEY = typer.Option(
    None, "--server-public-key", help="The server's public key file (CurveZMQ)."
)

# --- Ray (sweep, bench env) ------------------------------------------------------------

RAY_ADDRESS = typer.Option(
    None,
    "--ray",
    help="Ray cluster address: 'host:6379', 'ray://host:10001' or 'auto' "
    "(default: a local cluster, on Ray's own ports: on a shared machine start one with "
    "`ray start --head --port P` and its port options, and give its address). One that "
    "does not answer is refused in seconds.",
)

# --- a CurveZMQ server (serve, device record) -----------------------------------------

SERVER_KEY = typer.Option(
    None, "--server-key", help="The server's secret key file (surgisim keys new server)."
)
ALLOW_KEYS = typer.Option(
    None, "--allow-keys", help="Directory of the public keys of the clients allowed in."
)


def server_curve(server_key, allow_keys):
    """The CurveZMQ server keys from ``--server-key`` and ``--allow-keys`` (None: a plain
    bus, loopback only).

    Raises:
        SimError: only one of the two is given.
    """
    if server_key is None and allow_keys is None:
        return None
    from haptics.bus.security import ServerCurve
    from sim.errors import SimError

    if server_key is None or allow_keys is None:
        raise SimError("CurveZMQ needs both --server-key and --allow-keys.")
    return ServerCurve.from_files(server_key, allow_keys)


# --- a session that is scored and stored (run, serve, practice) ------------------------

DEVICE_MAP = typer.Option(
    None,
    "--map",
    help="DEVICE=ARM, e.g. MTMR=PSM2 or MTMR=ECM (a hand drives the endoscope: "
    "camera-targeting), or DEVICE=none to leave a device out (repeatable; default: by hand).",
)
SCENARIO = typer.Argument(..., help="Bundled scenario name or a YAML file.")
SEED = typer.Option(0, "--seed", min=0, help="Seed of the world (>= 0).")
ALLOW_NAME = typer.Option(
    False,
    "--allow-name",
    help="Accept a new pseudonym outside the accepted forms (one from 'surgisim trainee "
    "new', or a code like T017): you vouch it is not a person's name.",
)
DB = typer.Option(None, "--db", help="Records database URL.")
REPORT = typer.Option(None, "--report", help="Where to write the HTML report.")
JSON = typer.Option(None, "--json", help="Write the result as JSON.")
WINDOW_SIZE = typer.Option("960x720", "--size", help="Window size WIDTHxHEIGHT (pixels).")


def deprecated_alias(old: str, new: str, default=None):
    """A hidden option spelled ``old`` that stands for ``new`` (give the value to
    :func:`prefer`); ``surgisim CMD --help`` shows only ``new``."""
    return typer.Option(default, old, hidden=True, help=f"Deprecated: use {new}.")


def prefer(value, old_value, new: str, old: str):
    """The value of option ``new``, or of its deprecated alias ``old`` when only that was
    given (saying so on stderr).

    Raises:
        SimError: both spellings were given.
    """
    if old_value is None:
        return value
    if value is not None:
        from sim.errors import SimError

        raise SimError(f"{old} is the old name of {new}; give only {new}.")
    typer.echo(f"note: {old} is deprecated; use {new}.", err=True)
    return old_value


def client_curve(client_key: Path | None, server_public_key: Path | None, error=None):
    """The CurveZMQ client keys from ``--client-key`` and ``--server-public-key``
    (None when neither is given: the bus is then plain, loopback only).

    Raises:
        SimError (or ``error``, a subclass): only one of the two was given.
    """
    if client_key is None and server_public_key is None:
        return None
    if client_key is None or server_public_key is None:
        from sim.errors import SimError

        raise (error or SimError)("CurveZMQ needs both --client-key and --server-public-key.")
    from haptics.bus.security import ClientCurve

    return ClientCurve.from_files(client_key, server_public_key)


# --- command groups ---------------------------------------------------------------------


def command_group(**kwargs) -> typer.Typer:
    """A typer app for ``surgisim`` or one of its command groups, its help read as Markdown.

    Docstrings are wrapped at the source's line length; typer's default ("rich") help
    keeps those line breaks, so ``surgisim --help`` printed a command's summary broken
    mid-sentence over four ragged lines. Markdown joins a paragraph's lines and wraps it
    to the terminal.
    """
    return typer.Typer(rich_markup_mode="markdown", **kwargs)
