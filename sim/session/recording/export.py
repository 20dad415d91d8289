"""A session trace as a table: Parquet (``pyarrow``, the ``surgisim[parquet]`` extra) or
CSV, one row per recorded step, one column per signal and axis
(``PSM1.tip_position_m.x``), times in seconds. Events are left out (they are in the
MCAP recording and the trace's ``.npz``).

Tables are written like every other output of a session (:mod:`scenarios.paths`):
owner-only (``0600``), through a temporary file moved into place, so that a trace about a
trainee is not readable by other users and a failed export leaves no half-written file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.errors import SimError

SUFFIXES = (".parquet", ".csv")


def trace_columns(trace) -> dict[str, np.ndarray]:
    """The trace's per-step signals as named 1-D columns."""
    columns = {"time_s": np.asarray(trace.time_s, dtype=float)}
    for arm, instrument in trace.instruments.items():
        for key, values in instrument.signals().items():
            values = np.asarray(values)
            if values.ndim == 2:
                for i, axis in enumerate("xyz"[: values.shape[1]]):
                    columns[f"{arm}.{key}.{axis}"] = values[:, i]
            else:
                columns[f"{arm}.{key}"] = values
    return columns


def export_trace(trace, path) -> Path:
    """Write ``trace`` to ``path`` (``.parquet`` or ``.csv``); return the path."""
    return write_table(trace_columns(trace), path)


def write_table(columns: dict, path) -> Path:
    """Write equal-length columns to Parquet or CSV by the file's suffix (owner-only,
    atomically)."""
    from scenarios.paths import write_private

    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise SimError(f"cannot write {path.name}: the file must end in one of {SUFFIXES}.")
    if path.suffix == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise SimError(
                "writing Parquet needs pyarrow: pip install 'surgisim[parquet]' (or write .csv)."
            ) from None
        table = pa.table({k: list(v) if _objects(v) else v for k, v in columns.items()})
        return write_private(path, lambda f: pq.write_table(table, f))
    return write_private(path, lambda f: _write_csv(columns, f))


def _write_csv(columns: dict, f) -> None:
    import csv
    import io

    names = list(columns)
    text = io.TextIOWrapper(f, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow(names)
    for row in zip(*(columns[n] for n in names), strict=True):
        writer.writerow([_cell(v) for v in row])
    text.flush()
    text.detach()  # the binary file stays open: write_private syncs and closes it


def _objects(values) -> bool:
    return not isinstance(values, np.ndarray) or values.dtype == object


def _cell(value):
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (np.bool_, bool)):
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
