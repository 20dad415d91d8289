"""``surgisim replay FILE.mcap``: re-simulate a recording and say how close it came."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table


def replay(
    recording: Path = typer.Argument(..., help="A recording (surgisim run --record FILE.mcap)."),
    tolerance_m: float = typer.Option(
        1e-9, help="Exit 1 when a tool tip ends up further than this from the recording (m)."
    ),
    trace: Path | None = typer.Option(
        None, help="Also export the replayed trace (.parquet or .csv)."
    ),
) -> None:
    """Re-run a recorded session from its inputs and seed; report the largest pose difference."""
    from sim.errors import SimError
    from sim.session.recording.replay import replay as do_replay

    console = Console()
    try:
        result = do_replay(recording)
        if trace is not None:
            from sim.session.recording.export import export_trace

            export_trace(result.trace, trace)
    except SimError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    table = Table(title=f"Replay of {recording}")
    for col in ("", "value"):
        table.add_column(col)
    table.add_row("pose frames compared", str(result.frames_compared))
    table.add_row("largest tip position difference", f"{result.max_position_error_m:.3g} m")
    table.add_row("largest tip rotation difference", f"{result.max_rotation_error_rad:.3g} rad")
    recorded = "n/a" if result.recorded_score is None else f"{result.recorded_score:.2f}"
    table.add_row("score recorded / replayed", f"{recorded} / {result.replayed_score:.2f}")
    console.print(table)
    if trace is not None:
        console.print(f"trace: {trace}")
    raise typer.Exit(code=0 if result.max_position_error_m <= tolerance_m else 1)
