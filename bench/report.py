"""Shared benchmark plumbing: timing statistics, machine facts, rich tables and JSON.

Every benchmark reports medians and tail percentiles (these machines are noisy: the
same run moves up to 2.4x) and compares against a baseline measured in the same run.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table


def timing_stats_us(durations_ns: Sequence[int] | np.ndarray) -> dict[str, float]:
    """Median, p95, p99 and mean of per-call durations, in microseconds."""
    d = np.asarray(durations_ns, dtype=float) / 1e3
    return {
        "median_us": float(np.median(d)),
        "p95_us": float(np.percentile(d, 95)),
        "p99_us": float(np.percentile(d, 99)),
        "mean_us": float(d.mean()),
    }


#: what :func:`start_run` noted when the running benchmark began (``None`` before)
_started: dict | None = None


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _load_1m() -> float | None:
    try:
        return float(os.getloadavg()[0])
    except OSError:  # no load average on this platform
        return None


def busy_note(load_1m: float | None, when: str) -> str | None:
    """A line saying the machine was busy (1-minute load average above its CPU count),
    so a figure taken under load is not quoted unknowingly; ``None`` when it was not."""
    cpus = os.cpu_count() or 1
    if load_1m is None or load_1m <= cpus:
        return None
    return (
        f"machine busy {when}: load average {load_1m:.1f} on {cpus} CPUs; "
        "figures measured under load"
    )


def start_run(console=None) -> dict:
    """Note when a benchmark began and the machine's load then (``machine.started_utc``
    and ``machine.load_avg_1m_start`` in its JSON); print a line when the machine is busy.
    Every benchmark calls it before measuring."""
    global _started
    _started = {"started_utc": _utc_now(), "load_avg_1m_start": _load_1m()}
    note = busy_note(_started["load_avg_1m_start"], "at the start")
    if note:
        (console or Console(emoji=False)).print(note)
    return dict(_started)


def machine_info() -> dict:
    """Facts that make figures comparable across machines, and the load they were taken
    under: ``load_avg_1m_start`` / ``started_utc`` from :func:`start_run` (``None`` when
    it was not called), ``load_avg_1m_end`` and ``time_utc`` (when the JSON is written)."""
    import numba
    import numpy

    from sim.session.provenance import surgisim_version

    started = _started or {"started_utc": None, "load_avg_1m_start": None}
    return {
        "surgisim": surgisim_version(),  # with the git commit in a checkout
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "numpy": numpy.__version__,
        "started_utc": started["started_utc"],
        "time_utc": _utc_now(),  # when the JSON was written: the run's end
        "load_avg_1m_start": started["load_avg_1m_start"],
        "load_avg_1m_end": _load_1m(),
    }


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence],
    console=None,
    caption: str | None = None,
):
    """Print rows (already formatted or numbers) as a rich table, ``caption`` under it
    (what the numbers are measured against, when a reader could take them for more)."""
    console = console or Console(emoji=False)
    table = Table(title=title, caption=caption, show_lines=False)
    for i, name in enumerate(columns):
        # a long name (a plug-in's "package.module:function") wraps rather than being
        # cut to "my_plugins:ik…", which left rows that could not be told apart
        table.add_column(name, justify="left" if i < 2 else "right", overflow="fold")
    for row in rows:
        table.add_row(*[_fmt(v) for v in row])
    console.print(table)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"  # nothing measured (null in the JSON)
    if isinstance(value, float) and 0.99 <= value < 1.0:
        return f"{value:.4f}"  # success rates just under 1 must not print as 1.00
    if isinstance(value, float):
        if value == 0 or 0.01 <= abs(value) < 1e6:
            return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
        return f"{value:.3g}"
    return str(value)


def _shown_value(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _bar_row(row: Sequence) -> list:
    """A bar row with its measured value printed finely enough to show which side of the
    target it lies on ("1.70 >= 1.70 FAIL" was 1.6989 against 1.7), in significant digits
    (fixed decimals printed 2.93e-06 as 0.00000: no real value may print as zero)."""
    bar, measured, op, target, result, *rest = row
    if (
        isinstance(measured, float)
        and math.isfinite(measured)
        and isinstance(target, (int, float))
        and measured != target
        and _shown_value(_fmt(measured)) == _shown_value(_fmt(float(target)))
    ):
        for digits in range(3, 13):
            shown = f"{measured:.{digits}g}"
            if float(shown) != float(f"{float(target):.{digits}g}"):
                break
        measured = shown
    return [bar, measured, op, target, result, *rest]


#: a bar's verdict when its figure comes from too few samples to be judged
NOT_JUDGED = "not judged"
#: the fewest samples a tail percentile is judged on (p99: 1 in 100 must have a chance
#: to show; a p99 of one sample is that sample)
MIN_SAMPLES = {"p99": 100, "p99.9": 1000}


def sample_verdict(
    ok: bool, samples: int, needed: int, unit: str = "samples"
) -> tuple[str, str | None]:
    """``("pass" | "FAIL", None)``, or ``("not judged", why)`` when the figure comes from
    fewer than ``needed`` samples (``unit``: what they are, in the note): a bar row's
    verdict and its note."""
    if samples < needed:
        return NOT_JUDGED, f"{samples:,} {unit}, needs >= {needed:,}"
    return ("pass" if ok else "FAIL"), None


def plugin_digests(kind: str, specs) -> dict[str, str]:
    """Digest of each plug-in's module source, by spec (``"ik_solver"`` or
    ``"tremor_filter"``; "" for a built-in): what a result was made from, as a sweep's
    rows record it, so a figure can be told from one of an edited plug-in."""
    from sim.session.plugins import IK_SOLVER, TREMOR_FILTER
    from sim.session.provenance import plugin_digest

    plugin = {"ik_solver": IK_SOLVER, "tremor_filter": TREMOR_FILTER}[kind]
    return {spec: plugin_digest(plugin, spec) for spec in specs or ()}


def write_json(path: Path, payload: dict) -> Path:
    """Write ``payload`` with machine info to ``path`` (parents created); return the path.
    A NaN or infinity anywhere is written as ``null`` (bare ``NaN`` is not JSON)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    global _started
    payload = _finite({"machine": machine_info(), **payload})
    path.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    _started = None  # the run is over: the next one notes its own start
    return path


def _finite(value):
    """``value`` made JSON-ready: numpy scalars and arrays as Python's, tuples as lists,
    and every non-finite float as ``None``."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def finish(
    name: str,
    bar_rows: Sequence[Sequence],
    payload: dict,
    json_path: Path | None,
    console,
    strict: bool,
) -> bool:
    """Print the bars table, write the JSON (payload + bars), and say whether to pass.

    Args:
        name: the benchmark's name (``"benchmark"`` in the JSON).
        bar_rows: ``(bar, measured, op, target, "pass" | "FAIL" | "not judged")`` rows,
            each with an optional sixth item: why it was not judged (``note`` in the
            JSON, and a line under the table). A bar not judged is not a pass: under
            ``strict`` the run fails, saying why.
        payload: the benchmark's own results for the JSON.
        strict: when False the return value is always True (bars are only reported).
    """
    shown = [_bar_row(r[:5]) for r in bar_rows]
    if shown:  # a benchmark with no bars (tremor-file) prints no empty table
        print_table("Bars", ["bar", "measured", "", "target", ""], shown, console)
    not_judged = [r for r in bar_rows if r[4] == NOT_JUDGED]
    for r in not_judged:
        why = f" ({r[5]})" if len(r) > 5 and r[5] else ""
        console.print(f"{r[0]}: not judged{why}", markup=False, highlight=False)
    if strict and not_judged:
        console.print(
            f"--strict: {len(not_judged)} bar(s) not judged (too little measured): "
            "not a pass; run at the default size",
            markup=False,
            highlight=False,
        )
    note = busy_note(_load_1m(), "at the end")
    if note:
        console.print(note)
    if json_path is not None:
        bars = []
        for r in bar_rows:
            bar = dict(zip(["bar", "measured", "op", "target", "result"], r[:5], strict=True))
            if len(r) > 5 and r[5]:
                bar["note"] = r[5]
            bars.append(bar)
        path = write_json(json_path, {"benchmark": name, **payload, "bars": bars})
        console.print(f"wrote {path}")
    return all(r[4] == "pass" for r in bar_rows) or not strict
