"""``surgisim view``: the trainer's window on a live server (``surgisim serve``).

Draws the endoscope's view of the session from the bus with the trainer's overlays, and
lets mouse, keyboard and gamepad drive the instruments (``--watch`` to only watch).
Needs a display and GLFW (``pip install 'surgisim[window]'``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from sim.cli.guard import DEBUG_OPTION, guard
from sim.cli.options import (
    CLIENT_KEY,
    HOST,
    PORT,
    SERVER_PUBLIC_KEY,
    WINDOW_SIZE,
    client_curve,
    deprecated_alias,
    prefer,
)


def view(
    host: str = HOST,
    port: int = PORT,
    size: str = WINDOW_SIZE,
    drive: bool | None = typer.Option(
        None,
        "--drive/--watch",
        help="Drive the instruments with mouse, keyboard and gamepad (MTMR/MTML), or only"
        " watch (default: drive).",
    ),
    device: bool | None = deprecated_alias("--device/--no-device", "--drive/--watch"),
    client_key: Path | None = CLIENT_KEY,
    server_public_key: Path | None = SERVER_PUBLIC_KEY,
    stop_on_close: bool = typer.Option(
        False, help="Closing the window stops the session (it is then scored and stored)."
    ),
    debug: bool = DEBUG_OPTION,
) -> None:
    """Open the trainer's window on a live session: the endoscope view with the step,
    timer, score, arm states and warnings; mouse, keyboard and gamepad drive the
    instruments (F1 in the window lists the controls)."""
    from sim.cli.render import parse_size
    from sim.view.viewer import Viewer

    width, height = parse_size(size)
    with guard(debug):
        drive = prefer(drive, device, "--drive/--watch", "--device/--no-device")
        curve = client_curve(client_key, server_public_key)
        viewer = Viewer(
            host, port, size=(width, height), device=drive is not False, curve=curve,
            stop_on_close=stop_on_close, say=typer.echo,
        )  # fmt: skip
        report = viewer.run()
        typer.echo(
            f"viewer: {report.frames} frames in {report.seconds:.1f} s ({report.fps:.1f} fps, "
            f"{report.frame_ms:.1f} ms to render a frame)"
        )
        if report.score is not None:
            from scenarios.scoring import score_text

            score = report.score
            typer.echo(
                f"session {score.get('session_id')}: score "
                f"{score_text(score.get('score', 0), score.get('pass_score'))}/100, "
                + ("passed" if score.get("passed") else "not passed")
            )
