"""``surgisim replay FILE.mcap``: re-simulate a recording and say how close it came.

A file that cannot be replayed (missing, not MCAP, damaged, not a surgisim recording)
ends in one line naming it and what is wrong, exit code 2 (``--debug``: the traceback).
A recording cut short (a run killed while recording, its ``NAME.mcap.partial``) is
replayed up to where it stops, and a note says so.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sim.cli.guard import DEBUG_OPTION, guard


def replay(
    recording: Path = typer.Argument(..., help="A recording (surgisim run --record FILE.mcap)."),
    tolerance_m: float | None = typer.Option(
        None,
        help="Exit 1 when a tool tip ends up further than this from the recording (m; "
        "default: replay's own, 1e-9 m: bit-exact on the machine that recorded).",
    ),
    tolerance_rad: float | None = typer.Option(
        None,
        help="Exit 1 when a tool tip ends up turned further than this from the recording "
        "(rad; default 1e-9: bit-exact on the machine that recorded).",
    ),
    trace: Path | None = typer.Option(
        None, help="Also export the replayed trace (.parquet or .csv)."
    ),
    debug: bool = DEBUG_OPTION,
) -> None:
    """Re-run a recorded session from its inputs and seed; report the largest pose difference."""
    # imported here, not at the top: the CLI's module graph (loaded by the desktop trainer
    # and the headset client) stays free of the session and pybullet
    from sim.cli.checks import checked_output
    from sim.session.recording import TOLERANCE_M, TOLERANCE_RAD
    from sim.session.recording.export import SUFFIXES as TRACE_SUFFIXES
    from sim.session.recording.replay import replay as do_replay

    console = Console(emoji=False)
    tolerance_m = _tolerance(tolerance_m, TOLERANCE_M, "--tolerance-m")
    tolerance_rad = _tolerance(tolerance_rad, TOLERANCE_RAD, "--tolerance-rad")
    with guard(debug):
        trace = checked_output(trace, "--trace")  # before re-simulating, not after
        if trace is not None and trace.suffix not in TRACE_SUFFIXES:
            raise typer.BadParameter(
                f"{trace.name}: a trace is written as {' or '.join(TRACE_SUFFIXES)}",
                param_hint="--trace",
            )
        result = do_replay(recording)
        if trace is not None:
            from sim.session.recording.export import export_trace

            export_trace(result.trace, trace)
    if result.cut_short is not None:
        Console(emoji=False, stderr=True, soft_wrap=True).print(
            f"[yellow]note:[/yellow] {escape(result.cut_short)}; replayed the "
            f"{result.sim_time_s:.1f} s of simulated time it holds, not the whole session."
        )
    table = Table(title=f"Replay of {escape(str(recording))}")
    for col in ("", "value"):
        table.add_column(col)
    table.add_row("pose frames compared", str(result.frames_compared))
    table.add_row("largest tip position difference", f"{result.max_position_error_m:.3g} m")
    table.add_row("largest tip rotation difference", f"{result.max_rotation_error_rad:.3g} rad")
    recorded = "n/a" if result.recorded_score is None else f"{result.recorded_score:.2f}"
    table.add_row("score recorded / replayed", f"{recorded} / {result.replayed_score:.2f}")
    table.add_row(
        "recorded by",
        escape(
            f"surgisim {result.recorded_by}"
            if result.recorded_by
            else "an older surgisim (not in the file)"
        ),
    )
    console.print(table)
    if trace is not None:
        console.print(f"trace: {escape(str(trace))}")
    beyond = []
    if not result.max_position_error_m <= tolerance_m:
        beyond.append(f"position {result.max_position_error_m:.3g} m > {tolerance_m:g} m")
    if not result.max_rotation_error_rad <= tolerance_rad:
        beyond.append(f"rotation {result.max_rotation_error_rad:.3g} rad > {tolerance_rad:g} rad")
    if beyond:
        Console(emoji=False, stderr=True, soft_wrap=True).print(
            "the replay is not the recorded session: its largest tip difference is beyond "
            f"the tolerance ({'; '.join(beyond)})" + _likely_cause(result),
            highlight=False,
        )
        raise typer.Exit(code=1)


def _likely_cause(result) -> str:
    """Why a replay that differs most likely does: a plug-in edited since recording, or
    another surgisim version (the simulation changes between versions: a lab's old
    recordings replayed after an upgrade read as damaged, or their score as wrong)."""
    from sim.session.provenance import surgisim_version

    cause = result.likely_cause(surgisim_version())
    return f". The {cause}." if cause else ""


def _tolerance(given: float | None, default: float, option: str) -> float:
    """A tolerance: the default, or a finite number >= 0 (NaN made every replay fail)."""
    if given is None:
        return default
    if not (given >= 0.0 and given != float("inf")):
        raise typer.BadParameter(f"must be a finite number >= 0, got {given}", param_hint=option)
    return float(given)
