"""A researcher's own recorded hand or tool motion, loaded for judging tremor filters on.

``surgisim bench tremor-file`` runs the filters on a file like this; the loading lives
here, apart from the bench, so that a notebook can read the same files the same way.

Formats (positions in metres, one row per sample):

- ``.npy``: an (N, 3) array of x, y, z; the rate is not in the file, so give it.
- CSV with a header naming the columns, in any order: ``x,y,z`` (give the rate), or with
  a time column ``t`` / ``time_s`` (s), whose median step gives the rate. Positions may
  be named ``x_m,y_m,z_m``. Optional ``vx,vy,vz`` (or ``vx_m,vy_m,vz_m``) hold the true
  voluntary motion, for synthetic recordings where it is known.

The time column must step evenly: a step more than :data:`MAX_STEP_DEVIATION` from the
median is refused, since every filter and metric assumes one fixed rate (resample first);
the rate is the median step's, to 6 significant figures.
A row with a NaN, an empty cell or text is refused with its line: filling it in would be
a guess the numbers would silently depend on.

Units are checked against a human hand on a master (a workspace of 0.2-0.4 m, speeds
under about 2 m/s, tremor at 6-12 Hz): positions spanning more than
:data:`MAX_HAND_SPAN_M` or moving a median :data:`MAX_MEDIAN_SPEED_M_S` are refused as
millimetres, as are positions farther than :data:`MAX_HAND_DISTANCE_M` from the origin
(a hand held still, in millimetres), and a time column giving under :data:`MIN_RATE_HZ`
whose steps would be a device's rate in milliseconds (up to
:data:`MAX_DEVICE_RATE_HZ`) as milliseconds (positions in mm gave 0.04 dB and the
filter took the blame; a time column in ms "0.5 Hz ... lower --band-hz").
``check_units=False`` (``--no-unit-check``) accepts such a file as it is.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from haptics.errors import HapticsError

#: a time step may differ from the median step by this fraction at most
MAX_STEP_DEVIATION = 0.05
#: the largest span (m) of a hand on one axis: a master's workspace is 0.2-0.4 m, an
#: arm's reach under 1 m; millimetres read as metres span hundreds
MAX_HAND_SPAN_M = 1.0
#: the largest median speed (m/s) of a hand: its peaks stay under about 2 m/s, its median
#: far below; millimetres at 1 kHz read as metres move tens of m/s
MAX_MEDIAN_SPEED_M_S = 10.0
#: the slowest rate (Hz) a recording of hand tremor can have: the 6-12 Hz band needs
#: samples at over twice its frequencies (a tracker samples at 60 Hz or more)
MIN_RATE_HZ = 20.0
#: the farthest (m) a hand is tracked from its device's or tracker's origin: a master's
#: handle within ~0.5 m of its base, an optical tracker's volume a few metres; a hand held
#: still 10 cm out, in millimetres read as metres, is 100 m out
MAX_HAND_DISTANCE_M = 10.0
#: the fastest rate (Hz) a hand device records at (masters 1-4 kHz): a time column is
#: said to be in milliseconds only when that would make a rate up to this
MAX_DEVICE_RATE_HZ = 5000.0
#: column name -> the canonical name it stands for
COLUMN_NAMES = {
    "t": "t",
    "time_s": "t",
    **{axis: axis for axis in ("x", "y", "z", "vx", "vy", "vz")},
    **{f"{axis}_m": axis for axis in ("x", "y", "z", "vx", "vy", "vz")},
}


@dataclass(frozen=True)
class HandRecording:
    """Recorded positions at one fixed rate.

    Attributes:
        positions_m: (N, 3) recorded positions (m).
        rate_hz: samples per second.
        voluntary_m: (N, 3) true voluntary motion (m) when the file carries it
            (``vx,vy,vz``), else None (the bench then estimates it).
        source: the file it came from, for messages and the JSON.
        rate_from: where the rate came from: ``"time column"`` or ``"given"``.
    """

    positions_m: np.ndarray
    rate_hz: float
    voluntary_m: np.ndarray | None
    source: str
    rate_from: str

    @property
    def duration_s(self) -> float:
        """The recording's length (s)."""
        return len(self.positions_m) / self.rate_hz


def load_recording(
    path: Path | str, rate_hz: float | None = None, *, check_units: bool = True
) -> HandRecording:
    """Read a recording (``.npy`` or CSV, see the module docstring).

    Args:
        rate_hz: the sample rate (Hz); required when the file has no time column. With
            one, it must agree with the column's rate within :data:`MAX_STEP_DEVIATION`.
        check_units: refuse positions and times that look like millimetres and
            milliseconds (see the module docstring); False accepts them as they are.

    Raises:
        HapticsError: the file is missing, unreadable or malformed (wrong shape, unknown
            or missing columns, a NaN or non-numeric cell, uneven time steps, no rate,
            millimetres or milliseconds); the message names the file, the line or row,
            and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise HapticsError(
            f"{path}: no such file; give a .npy of shape (N, 3) or a CSV with a header "
            "x,y,z or t,x,y,z (metres, seconds)."
        )
    if rate_hz is not None and not (np.isfinite(rate_hz) and rate_hz > 0):
        raise HapticsError(f"--rate-hz must be a positive number of Hz, got {rate_hz!r}.")
    if path.suffix.lower() == ".npy":
        positions, times, voluntary = _read_npy(path), None, None
    else:
        positions, times, voluntary = _read_csv(path)
    if len(positions) < 2:
        raise HapticsError(f"{path}: {len(positions)} samples; a recording needs many more.")
    if times is None:
        if rate_hz is None:
            raise HapticsError(
                f"{path}: the file has no time column, so its rate is unknown; give it "
                "with --rate-hz HZ (or add a t column in seconds)."
            )
        if check_units:
            _check_metres(path, positions, float(rate_hz))
        return HandRecording(positions, float(rate_hz), voluntary, str(path), "given")
    found_hz = _rate_from_times(path, times)
    if check_units:
        _check_seconds(path, found_hz)
        _check_metres(path, positions, found_hz)
    if rate_hz is not None and abs(rate_hz - found_hz) > MAX_STEP_DEVIATION * found_hz:
        raise HapticsError(
            f"{path}: --rate-hz {rate_hz:g} disagrees with the time column's "
            f"{found_hz:.6g} Hz; leave --rate-hz out to use the time column."
        )
    return HandRecording(positions, found_hz, voluntary, str(path), "time column")


def _read_npy(path: Path) -> np.ndarray:
    """An (N, 3) array of positions, rows checked."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise HapticsError(f"{path}: not a readable .npy array ({exc}).") from None
    if data.ndim != 2 or data.shape[1] != 3 or not np.issubdtype(data.dtype, np.number):
        raise HapticsError(
            f"{path}: an array of shape {data.shape} ({data.dtype}); expected (N, 3) numbers, "
            "x, y, z in metres per row (use a CSV for a time or truth column)."
        )
    data = data.astype(float)
    bad = np.flatnonzero(~np.isfinite(data).all(axis=1))
    if len(bad):
        raise HapticsError(
            f"{path}: row {bad[0]} is not finite ({data[bad[0]].tolist()}); "
            f"{len(bad)} non-finite row(s) in all. Cut or repair them, then run again."
        )
    return data


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(positions, times or None, truth or None) from a CSV with a header."""
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise HapticsError(f"{path}: cannot be read as a CSV text file ({exc}).") from None
    if not rows:
        raise HapticsError(f"{path}: empty; expected a header x,y,z or t,x,y,z and rows.")
    header = [name.strip().lower() for name in rows[0]]
    columns = _columns(path, header)
    values = np.empty((len(rows) - 1, len(header)))
    for i, row in enumerate(rows[1:]):
        line = i + 2
        if len(row) != len(header):
            raise HapticsError(
                f"{path}:{line}: {len(row)} cells; the header has {len(header)} ({rows[0]})."
            )
        for j, cell in enumerate(row):
            try:
                value = float(cell)
            except ValueError:
                value = float("nan")
            if not np.isfinite(value):
                raise HapticsError(
                    f"{path}:{line}:{j + 1}: row {i} has {cell.strip()!r} in column "
                    f"{header[j]!r}; every cell must be a finite number. Cut or repair the "
                    "row, then run again."
                )
            values[i, j] = value

    def take(names):
        return values[:, [columns[n] for n in names]]

    times = take(["t"])[:, 0] if "t" in columns else None
    truth = take(["vx", "vy", "vz"]) if "vx" in columns else None
    return take(["x", "y", "z"]), times, truth


def _columns(path: Path, header: list[str]) -> dict[str, int]:
    """Canonical column name -> index, with the header checked."""
    columns: dict[str, int] = {}
    for j, name in enumerate(header):
        canonical = COLUMN_NAMES.get(name)
        if canonical is None:
            raise HapticsError(
                f"{path}:1:{j + 1}: unknown column {name!r}; the header names columns from "
                f"{sorted(COLUMN_NAMES)} (x,y,z or t,x,y,z; vx,vy,vz for the true voluntary "
                "motion)."
            )
        if canonical in columns:
            raise HapticsError(f"{path}:1:{j + 1}: column {canonical!r} is named twice.")
        columns[canonical] = j
    for group in (("x", "y", "z"), ("vx", "vy", "vz")):
        present = [n for n in group if n in columns]
        if (present and len(present) < 3) or (group[0] == "x" and not present):
            raise HapticsError(
                f"{path}:1: the header {header} lacks {[n for n in group if n not in columns]};"
                f" expected {','.join(group)} (metres), e.g. 't,x,y,z' or 'x,y,z'."
            )
    return columns


_UNCHECK = "or pass --no-unit-check if they really are"


def _check_metres(path: Path, positions: np.ndarray, rate_hz: float) -> None:
    """Refuse positions no hand on a master makes in metres (millimetres, most likely)."""
    span = np.ptp(positions, axis=0)
    speed = float(np.median(np.linalg.norm(np.diff(positions, axis=0), axis=1))) * rate_hz
    farthest = float(np.max(np.linalg.norm(positions, axis=1))) if len(positions) else 0.0
    if farthest > MAX_HAND_DISTANCE_M:
        raise HapticsError(
            f"{path}: a position lies {farthest:.4g} m from the origin, where no tracked "
            f"hand is (a master's handle stays within ~0.5 m of its base, a tracker's "
            f"volume is a few metres; at most {MAX_HAND_DISTANCE_M:g} m is taken). "
            f"Millimetres? Positions are in metres: divide them by 1000 ({_UNCHECK} "
            "metres)."
        )
    if span.max() > MAX_HAND_SPAN_M or speed > MAX_MEDIAN_SPEED_M_S:
        spans = "/".join(f"{v:.3g}" for v in span)
        raise HapticsError(
            f"{path}: the positions span {spans} m (x/y/z) and move a median {speed:.3g} "
            f"m/s at {rate_hz:.6g} Hz, which no hand on a master does (a workspace of "
            f"0.2-0.4 m, speeds under 2 m/s; at most {MAX_HAND_SPAN_M:g} m and "
            f"{MAX_MEDIAN_SPEED_M_S:g} m/s are taken). Millimetres? Positions are in metres: "
            f"divide them by 1000 ({_UNCHECK} metres)."
        )


def _check_seconds(path: Path, rate_hz: float) -> None:
    """Refuse a time column whose rate is too slow for tremor but would be a plausible
    one in milliseconds."""
    if rate_hz < MIN_RATE_HZ <= rate_hz * 1000 <= MAX_DEVICE_RATE_HZ:
        raise HapticsError(
            f"{path}: the time column steps {1 / rate_hz:.4g} per sample, a rate of "
            f"{rate_hz:.4g} Hz: too slow to record hand tremor (6-12 Hz needs over "
            f"{MIN_RATE_HZ:g} Hz). Milliseconds? The time column is in seconds: divide it "
            f"by 1000 (a rate of {rate_hz * 1000:.6g} Hz), or leave it out and give "
            f"--rate-hz ({_UNCHECK} seconds)."
        )


def _rate_from_times(path: Path, times: np.ndarray) -> float:
    """The rate the median time step gives, refusing uneven or non-increasing steps."""
    steps_s = np.diff(times)
    step_s = float(np.median(steps_s))
    if not step_s > 0:
        raise HapticsError(f"{path}: the time column does not increase (median step {step_s}).")
    deviation = np.abs(steps_s - step_s) / step_s
    worst = int(np.argmax(deviation))
    if deviation[worst] > MAX_STEP_DEVIATION:
        raise HapticsError(
            f"{path}:{worst + 3}: the time step from row {worst} to {worst + 1} is "
            f"{steps_s[worst] * 1e3:.4g} ms against a median of {step_s * 1e3:.4g} ms "
            f"({deviation[worst]:.0%} off; at most {MAX_STEP_DEVIATION:.0%}). Every filter "
            "assumes one fixed rate: resample the recording evenly first."
        )
    # 6 significant figures: decimal seconds never give exactly 250 Hz, and a rate a hair
    # off moves a spectral bin across a band edge (0.1 dB of attenuation)
    return float(f"{1.0 / step_s:.6g}")
