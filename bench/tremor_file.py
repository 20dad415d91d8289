"""Tremor filters on your own recording: every built-in and your plug-ins, one table.

``surgisim bench tremor`` judges filters on synthetic traces whose voluntary motion is
known. A recorded hand has no such truth, so here the voluntary motion is the file's own
``vx,vy,vz`` columns when it has them (a synthetic recording) or else an *estimate*: a
zero-phase low-pass of the recording at ``voluntary_hz`` (2 Hz by default, below
physiological tremor's 8-12 Hz and the 6-16 Hz band it lies within; see
:func:`haptics.tremor.metrics.estimate_voluntary_m`). Against an estimate, attenuation
counts whatever the hand did in the band, voluntary or not, as tremor; the table's
caption and the JSON say which was used.

Each filter runs over the whole recording at its own rate; the metrics (those of
``bench tremor``, through :func:`bench.tremor.score_filter`) are taken after the same
2 s warm-up. A built-in that cannot run at the recording's rate (a band above its Nyquist
frequency) is reported as refused, with the reason, not run.

Run: ``surgisim bench tremor-file FILE`` (``--help`` for the options).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console

from bench.report import finish, plugin_digests, print_table, start_run
from bench.tremor import FILTERS, SETTLE_S, fault_note, score_filter
from haptics.errors import HapticsError
from haptics.tremor import make_filter
from haptics.tremor.base import require_band
from haptics.tremor.metrics import (
    TREMOR_BAND_HZ,
    VOLUNTARY_HZ,
    estimate_edge_s,
    estimate_voluntary_m,
    lag_ms,
    rms_error_m,
)
from haptics.tremor.recording import HandRecording

COLUMNS = ["filter", "atten dB", "lag ms", "RMS err µm", "vs none", "max err µm", "faults"]


def voluntary_motion(
    recording: HandRecording, band_hz: tuple[float, float], voluntary_hz: float
) -> tuple[np.ndarray, str, float]:
    """(the voluntary motion, a sentence saying what it is, seconds at the end not to be
    scored) for ``recording``: an estimate is unreliable near the recording's end.

    Raises:
        HapticsError: an estimate's cut-off that is not below the band (it would keep the
            tremor it is meant to remove).
    """
    if recording.voluntary_m is not None:
        return (
            recording.voluntary_m,
            "Against the true voluntary motion (the file's vx,vy,vz columns).",
            0.0,
        )
    if not voluntary_hz < band_hz[0]:
        raise HapticsError(
            f"--voluntary-hz {voluntary_hz:g} must lie below the band's lower edge "
            f"{band_hz[0]:g} Hz, or the estimate of the voluntary motion keeps the tremor; "
            f"{VOLUNTARY_HZ:g} Hz is the default."
        )
    estimate = estimate_voluntary_m(recording.positions_m, recording.rate_hz, voluntary_hz)
    edge_s = estimate_edge_s(voluntary_hz)
    return (
        estimate,
        f"Against an ESTIMATE of the voluntary motion (zero-phase {voluntary_hz:g} Hz "
        "low-pass of the recording), not the truth: attenuation counts any voluntary motion "
        f"in {band_hz[0]:g}-{band_hz[1]:g} Hz as tremor, and lag and errors are measured "
        f"from the estimate. The last {edge_s:g} s, where the estimate cannot see ahead, "
        "are left out.",
        edge_s,
    )


def _check_long_enough(
    recording: HandRecording, measured: np.ndarray, voluntary: np.ndarray, skip: int
) -> None:
    """Refuse a recording too short to measure lag on after the warm-up (and without the
    end an estimate leaves out), or one with nothing to filter, before any filter runs."""
    source, n, rate = recording.source, len(recording.positions_m), recording.rate_hz
    used = voluntary[skip:]
    try:
        lag_ms(used, used, rate)
    except ValueError as exc:
        dropped = "" if len(measured) == n else f" and the last {(n - len(measured)) / rate:g} s"
        raise HapticsError(
            f"{source}: too short to judge a filter on: {n} samples ({n / rate:.3g} s) at "
            f"{rate:g} Hz leave {len(used)} without the {skip / rate:g} s warm-up{dropped}, "
            f"and {exc}. Use a longer recording (tens of seconds give steadier numbers)."
        ) from None
    if rms_error_m(measured[skip:], used) == 0.0:
        raise HapticsError(
            f"{source}: the recording equals its voluntary motion after the warm-up: there "
            "is nothing for a filter to remove, and no number to report."
        )


def run_tremor_file(
    recording: HandRecording,
    filters: list[str] | None = None,
    band_hz: tuple[float, float] = TREMOR_BAND_HZ,
    voluntary_hz: float = VOLUNTARY_HZ,
    json_path: Path | None = Path("bench/results/tremor_file.json"),
    console: Console | None = None,
    settle_s: float = SETTLE_S,
) -> dict:
    """Every built-in filter (``bench tremor``'s set, "none" the baseline) and ``filters``
    (plug-in factories, ``"package.module:make"``) on ``recording``; print the table,
    write JSON, return the payload.

    Raises:
        HapticsError: a band above the recording's Nyquist frequency, a recording too
            short for the warm-up and the lag measurement, or a bad ``voluntary_hz``.
    """
    console = console or Console(emoji=False, width=max(Console(emoji=False).width, 110))
    start_run(console)
    rate_hz, source = recording.rate_hz, recording.source
    try:
        band_hz = require_band("--band-hz", band_hz, rate_hz)
    except HapticsError as exc:
        fix = "Give the lower edge first." if "low < high" in str(exc) else "Lower --band-hz."
        raise HapticsError(f"{source} at {rate_hz:g} Hz: {exc} {fix}") from None
    voluntary, against, edge_s = voluntary_motion(recording, band_hz, voluntary_hz)
    # filters are causal: the recording cut short gives the same outputs up to the cut
    kept = len(voluntary) - int(edge_s * rate_hz)
    measured, voluntary = recording.positions_m[:kept], voluntary[:kept]
    skip = int(settle_s * rate_hz)
    _check_long_enough(recording, measured, voluntary, skip)
    trace = [(voluntary, measured)]
    results, rows, notes = [], [], []
    for name, params in {**FILTERS, **{spec: {} for spec in filters or ()}}.items():
        try:
            make_filter(name, rate_hz, **params)
        except HapticsError as exc:  # e.g. a band above this rate's Nyquist frequency
            results.append({"filter": name, "refused": str(exc)})
            rows.append((name, "refused", *["-"] * (len(COLUMNS) - 2)))
            notes.append(f"{name} refused {rate_hz:g} Hz: {exc}")
            continue
        r, scores = score_filter(name, params, trace, rate_hz, band_hz, settle_s)
        note = fault_note(r, source)
        if note:
            notes.append(note)
        if scores is None:
            results.append(r)
            rows.append((name, "failed", *["-"] * (len(COLUMNS) - 2)))
            continue
        r = {k: v for k, v in r.items() if not k.endswith("_worst") and k != "max_error_mm"}
        r["max_error_um"] = float(scores[0, 4] * 1e6)  # one trace: its mean is the figure
        results.append(r)
        rows.append(
            (
                name,
                r["attenuation_db"],
                r["lag_ms"],
                r["rms_error_um"],
                r["rms_ratio"],
                r["max_error_um"],
                r["faults"],
            )
        )
    n = len(recording.positions_m)
    measured_s = (kept - skip) / rate_hz
    print_table(
        f"Tremor filters on {Path(source).name}: {n:,} samples at {rate_hz:g} Hz "
        f"({recording.rate_from}), measured over {measured_s:.3g} s after a {settle_s:g} s "
        f"warm-up{f', before the last {edge_s:g} s' if edge_s else ''}; attenuation in "
        f"{band_hz[0]:g}-{band_hz[1]:g} Hz",
        COLUMNS,
        rows,
        console,
        caption=against,
    )
    for note in notes:
        console.print(note, markup=False, highlight=False)  # a filter's own words
    payload = {
        "source": source,
        "samples": n,
        "rate_hz": rate_hz,
        "rate_from": recording.rate_from,
        "duration_s": n / rate_hz,
        "settle_s": settle_s,
        "measured_s": measured_s,
        "end_left_out_s": edge_s,
        "band_hz": list(band_hz),
        "voluntary": {
            "from": "truth columns" if recording.voluntary_m is not None else "estimate",
            "cutoff_hz": None if recording.voluntary_m is not None else voluntary_hz,
            "note": against,
        },
        "results": results,
        "plugin_digests": plugin_digests("tremor_filter", filters),
    }
    # the end every benchmark has ("machine busy at the end", the JSON, "wrote ..."); a
    # user's recording sets no bars: "bars" is an empty list, as the key is in every bench
    finish("tremor_file", [], payload, json_path, console, strict=False)
    return {"benchmark": "tremor_file", **payload, "bars": []}
