"""The per-step record of a session, from which every metric is computed.

The session (in ``sim``) fills one :class:`SessionTrace`; scoring, reports and
re-scoring read it. It is plain numpy so that it can be saved (compressed ``.npz``,
events as JSON inside) and reloaded anywhere, without the physics engine.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scenarios.errors import ScenarioError
from scenarios.paths import write_private

#: how far (a share of the rows) a trace's time span may stray from its row count and
#: rate before it is refused: recorded rows are evenly spaced to rounding
TIME_TOLERANCE = 0.01

_PER_STEP = (
    "tip_position_m",
    "jaw_rad",
    "master_position_m",
    "clutch",
    "tip_force_n",
    "in_view",
    "contact_object",
    "contact_instrument",
    "contact_environment",
    "contact_held_environment",
)

#: the shape of one row of each per-step column that is not a single value (3-vectors)
_ROW_SHAPE = {"tip_position_m": (3,), "master_position_m": (3,)}


@dataclass
class InstrumentTrace:
    """One instrument's signals, one row per recorded step.

    Attributes:
        tip_position_m: (N, 3) tool tip in the world frame (m).
        jaw_rad: (N,) jaw angle (rad); zeros for a scope.
        master_position_m: (N, 3) master handle position before any filtering, in the
            master frame (m): the mean of the device's samples since the previous row (a
            boxcar over the row, so that vibration near multiples of the row rate does
            not alias into the tremor band; the last row's value while none came, for up
            to the arm's gap timeout); NaN rows when no master drives the instrument or
            the device is silent. Traces recorded before the boxcar hold the newest
            sample of each row instead.
        clutch: (N,) the instrument does not follow its master (clutch pressed, or
            aligning, holding or disabled); an arm never driven stays True.
        tip_force_n: (N,) force the tip exerts on tissue and objects (N); clashes with
            other instruments are left out (they are contacts, scored as collisions).
        in_view: (N,) tip inside the camera's view.
        contact_object / contact_instrument / contact_environment: (N,) touching a task
            object, another instrument, the environment (board, floor, tissue).
        contact_held_environment: (N,) an object this instrument holds touches the
            environment (a ring on its wire); None in traces recorded before it existed.
    """

    tip_position_m: np.ndarray
    jaw_rad: np.ndarray
    master_position_m: np.ndarray
    clutch: np.ndarray
    tip_force_n: np.ndarray
    in_view: np.ndarray
    contact_object: np.ndarray
    contact_instrument: np.ndarray
    contact_environment: np.ndarray
    contact_held_environment: np.ndarray | None = None
    kind: str = "psm"

    def signals(self) -> dict[str, np.ndarray]:
        """The per-row signals by field name (those recorded; held contacts may be absent)."""
        return {key: getattr(self, key) for key in _PER_STEP if getattr(self, key) is not None}

    @property
    def has_master(self) -> bool:
        """Whether a master device (or synthetic operator) drove this instrument."""
        return bool(np.isfinite(self.master_position_m).any())


@dataclass(frozen=True)
class TraceEvent:
    """A discrete happening: grasp, release, drop, step done, message, hold, ..."""

    time_s: float
    kind: str
    data: dict = field(default_factory=dict)


@dataclass
class SessionTrace:
    """Everything recorded in one session."""

    rate_hz: float
    time_s: np.ndarray
    instruments: dict[str, InstrumentTrace]
    events: list[TraceEvent]
    completed: bool
    completion_time_s: float | None
    graspable_objects: list[str] = field(default_factory=list)

    def check_times(self, where: str = "the session trace") -> None:
        """Refuse a time base no metric can be trusted on (a hand-edited or damaged trace):
        ``time_s`` not finite or not strictly increasing (a jump back read 4.5 s for 5 s
        of rows, repeated stamps 2.5 s), rows further apart than ``rate_hz`` says (the
        completion time came from the stamps, every other duration from the row count),
        or a completion time that is not a finite number, negative, or after the last
        row (NaN dropped it, and FLS scored 0); and an instrument column whose rows are not
        one per time stamp, or not of its shape (a tip path cut to 300 of 1174 rows read
        20 cm for 61 cm, and the cut session re-scored as a pass).

        Raises:
            ScenarioError: what is wrong, naming ``where``.
        """
        problem = self._time_problem() or self._column_problem()
        if problem:
            raise ScenarioError(
                f"{where} cannot be scored: {problem}. A recorded trace never has this; "
                "restore it from a backup."
            )

    def _time_problem(self) -> str | None:
        """What is wrong with the time base, in words (None: nothing)."""
        rate = self.rate_hz
        if not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
            return f"its rate_hz is {rate!r}, not a positive number"
        t = np.asarray(self.time_s, dtype=float)
        if t.ndim != 1 or not np.isfinite(t).all():
            return "its time column (time_s) holds values that are not finite numbers"
        steps = np.diff(t)
        if (steps <= 0).any():
            k = int(np.argmax(steps <= 0)) + 1
            return (
                f"its time column does not increase at row {k} ({t[k - 1]:.4f} s, then "
                f"{t[k]:.4f} s)"
            )
        span_rows = (t[-1] - t[0]) * rate if len(t) else 0.0
        if abs(span_rows - (len(t) - 1)) > max(1.0, TIME_TOLERANCE * len(t)):
            return (
                f"its {len(t)} rows at {rate:g} Hz span {t[-1] - t[0]:.3f} s of time_s, "
                f"not {(len(t) - 1) / rate:.3f} s"
            )
        return self._completion_problem(t)

    def _column_problem(self) -> str | None:
        """Which instrument column does not have one row of its shape per ``time_s`` row,
        in words (None: every one does). Metrics slice each column to the scored end on
        its own, so a short column was measured over part of the session, silently."""
        rows = len(self.time_s)
        for name, inst in self.instruments.items():
            for key, values in inst.signals().items():
                shape = np.shape(values)
                expected = (rows, *_ROW_SHAPE.get(key, ()))
                if shape[:1] != (rows,):
                    found = shape[0] if shape else "no"
                    return (
                        f"{name}'s {key} has {found} row(s), not the {rows} of its time "
                        "column (time_s)"
                    )
                if shape != expected:
                    return f"{name}'s {key} has rows of shape {shape[1:]}, not {expected[1:]}"
        return None

    def _completion_problem(self, t: np.ndarray) -> str | None:
        done = self.completion_time_s
        if done is None or not self.completed:  # an unfinished attempt's is never read
            return None
        if isinstance(done, bool) or not isinstance(done, (int, float)):
            return f"its completion time is {done!r}, not a number"
        if not math.isfinite(done) or done < 0:
            return f"its completion time is {done} s"
        if len(t) and done > t[-1] + 1.0 / self.rate_hz:
            return f"its completion time {done:.3f} s is after its last row ({t[-1]:.3f} s)"
        return None

    def events_of(self, kind: str) -> list[TraceEvent]:
        """Events of one kind, in time order."""
        return [e for e in self.events if e.kind == kind]

    @property
    def failure(self) -> str | None:
        """Why the exercise failed (the reason of its ``failed`` event, or of the operator's
        ``gave_up``), None if it did not."""
        failed = self.events_of("failed") or self.events_of("gave_up")
        return str(failed[-1].data.get("reason", "failed")) if failed else None

    def save(self, path: str | Path, *, compress: bool = True) -> Path:
        """Write a ``.npz`` (events and metadata as JSON inside), atomically and owner-only
        (``0600``: a trace is a record of a person's session). ``compress=False`` is for
        checkpoints written every few seconds while a session runs (several times faster)."""
        path = Path(path)
        arrays = {"time_s": self.time_s}
        for name, inst in self.instruments.items():
            for key in _PER_STEP:
                if getattr(inst, key) is not None:
                    arrays[f"{name}/{key}"] = getattr(inst, key)
        meta = {
            "rate_hz": self.rate_hz,
            "completed": self.completed,
            "completion_time_s": self.completion_time_s,
            "graspable_objects": self.graspable_objects,
            "instruments": {n: i.kind for n, i in self.instruments.items()},
            "events": [{"time_s": e.time_s, "kind": e.kind, "data": e.data} for e in self.events],
        }
        # atomic: a killed process never leaves half a trace
        save = np.savez_compressed if compress else np.savez
        return write_private(path, lambda f: save(f, meta=np.array(json.dumps(meta)), **arrays))

    @classmethod
    def load(cls, path: str | Path) -> SessionTrace:
        """Read a trace written by :meth:`save`.

        Raises:
            ScenarioError: the file is damaged or not a trace, or its time base is (see
                :meth:`check_times`).
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                instruments = {
                    name: InstrumentTrace(
                        **{k: data[f"{name}/{k}"] for k in _PER_STEP if f"{name}/{k}" in data},
                        kind=kind,
                    )
                    for name, kind in meta["instruments"].items()
                }
                time_s = data["time_s"]
            trace = cls(
                meta["rate_hz"],
                time_s,
                instruments,
                [TraceEvent(e["time_s"], e["kind"], e["data"]) for e in meta["events"]],
                meta["completed"],
                meta["completion_time_s"],
                meta["graspable_objects"],
            )
        except (
            OSError,
            KeyError,
            ValueError,
            TypeError,
            AttributeError,
            EOFError,
            zipfile.BadZipFile,
            zlib.error,
        ) as exc:  # a damaged file fails in many ways; all mean the same to the caller
            raise ScenarioError(
                f"cannot read session trace {str(path)!r}: the file is damaged or not a trace "
                f"({type(exc).__name__}: {str(exc)[:200]}). Restore it from a backup, or "
                "remove the session's trace to report without it."
            ) from None
        trace.check_times(f"session trace {str(path)!r}")
        return trace
