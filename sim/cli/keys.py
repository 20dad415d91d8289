"""``surgisim keys``: CurveZMQ keypairs for a bus that leaves the machine (docs/bus.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from sim.cli.options import command_group

keys_app = command_group(help="CurveZMQ keys for the device bus.", no_args_is_help=True)


@keys_app.command("new")
def new(
    name: str = typer.Argument(..., help="Key name, e.g. 'server' or 'MTMR-lab2'."),
    directory: Path = typer.Option(
        Path("~/.surgisim/keys"), "--dir", help="Where to write NAME.key and NAME.key_secret."
    ),
    force: bool = typer.Option(False, "--force", help="Replace existing keys of that name."),
) -> None:
    """Write a keypair: NAME.key (public, hand it out) and NAME.key_secret (mode 0600)."""
    from haptics.bus.errors import BusSecurityError
    from haptics.bus.security import new_keypair

    directory = _key_dir(directory)
    try:
        files = new_keypair(name, directory, overwrite=force)
    except BusSecurityError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"public key: {files.public}  (copy it to the peers that must accept {name})")
    typer.echo(f"secret key: {files.secret}  (mode 0600; never copy it off this machine)")


def _key_dir(directory: Path) -> Path:
    """The key directory, made owner-only (``0700``, and so is every parent it has to
    make) whatever the umask (``mkdir`` alone gave ``0777`` under ``umask 000``).

    An existing directory that others can enter is used with a warning, not changed: it
    is the user's (perhaps a shared configuration folder), and the secret files in it are
    ``0600`` anyway; what it exposes is which keys exist and the public ones. One that
    others may write is refused by :func:`~haptics.bus.security.new_keypair` (they could
    replace a public key), so it gets that error and no warning.
    """
    import os
    import stat

    from scenarios.paths import private_dir

    directory = Path(directory).expanduser()
    existed = directory.is_dir()
    private_dir(directory)
    mode = stat.S_IMODE(os.stat(directory).st_mode)
    if existed and mode & 0o077 and not mode & 0o022:
        typer.echo(
            f"warning: key directory {directory} has mode {mode:04o}: other users can list "
            f"it (the secret key is 0600 all the same). `chmod 700 {directory}` keeps the "
            "keys to you.",
            err=True,
        )
    return directory
