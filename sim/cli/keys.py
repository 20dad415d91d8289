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

    try:
        files = new_keypair(name, directory, overwrite=force)
    except BusSecurityError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"public key: {files.public}  (copy it to the peers that must accept {name})")
    typer.echo(f"secret key: {files.secret}  (mode 0600; never copy it off this machine)")
