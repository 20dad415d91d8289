"""Sessions that survive their process: checkpoints while running, kept traces after.

A trainee's finished session is their work, so a run writes what it has recorded to disk
every few simulated seconds (:class:`Checkpoint`): a trace file (``.npz``) beside a
:class:`RunInfo` (``.json``) that says everything needed to store it later — the
scenario's name and full YAML text, seed, operator, pseudonym, which store and database.
A ``kill -9`` then loses at most the last interval; ``surgisim store --orphans`` finds the
checkpoints of runs whose process is gone and stores them as incomplete sessions.

The same pair of files is what a run keeps when storing its finished session fails (a
read-only database, a full disk): the message names the file, and ``surgisim store FILE``
stores it once the problem is fixed. Files are owner-only, in owner-only directories.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scenarios.errors import ScenarioError
from scenarios.paths import private_dir, write_private_text
from scenarios.trace import SessionTrace

#: Simulated seconds between checkpoints of a running session: what a kill -9 may lose.
CHECKPOINT_EVERY_S = 5.0
IN_PROGRESS = "in-progress"
KEPT = "unstored"


@dataclass
class RunInfo:
    """What storing a session needs besides its trace.

    Attributes:
        scenario_name: the scenario's name.
        scenario_yaml: its full text (the rubric and steps it was run with).
        seed: the seed of the run.
        operator: who drove it (``trainee``, a synthetic skill, a controller's name).
        pseudonym: the trainee's pseudonym.
        store: ``"records"`` or ``"demo"``.
        db: the database URL given on the command line, or None for the store's default.
        allow_name: the pseudonym was accepted although it looks like a name.
        pid: the process that runs the session (a checkpoint of a live process is not an
            orphan).
        started_at: wall-clock start (UNIX time, s).
        sim_time_s: simulated time covered so far (s).
        wall_time_s: wall time so far (s).
        interrupted: the run was stopped before the exercise ended (Ctrl-C, a kill).
        notes: anything the run flagged (e.g. the server could not keep real time).
        conditions: how the session runs (injected latency, loop timing), stored with it.
    """

    scenario_name: str
    scenario_yaml: str
    seed: int
    operator: str
    pseudonym: str
    store: str = "records"
    db: str | None = None
    allow_name: bool = False
    pid: int = field(default_factory=os.getpid)
    started_at: float = field(default_factory=time.time)
    sim_time_s: float = 0.0
    wall_time_s: float = 0.0
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)
    conditions: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> RunInfo:
        """Read the ``.json`` beside a checkpoint or kept trace."""
        try:
            data = json.loads(Path(path).read_text())
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (OSError, ValueError, TypeError) as exc:
            raise ScenarioError(f"cannot read the run information {str(path)!r}: {exc}") from None


class Checkpoint:
    """The on-disk copy of one running session (a trace and its :class:`RunInfo`).

    Args:
        directory: where checkpoint files go (the store's ``in-progress`` folder).
        info: what storing will need.
        every_s: simulated seconds between saves.
    """

    def __init__(self, directory: Path, info: RunInfo, every_s: float = CHECKPOINT_EVERY_S):
        self.info = info
        self.every_s = every_s
        self.directory = private_dir(directory)
        stem = f"{info.scenario_name}-{uuid.uuid4().hex[:12]}"
        self.trace_path = self.directory / f"{stem}.npz"
        self.info_path = self.directory / f"{stem}.json"
        self._saved_at = -float("inf")
        self._started = time.monotonic()

    def due(self, sim_time_s: float) -> bool:
        """Whether a save is due at this simulated time."""
        return sim_time_s - self._saved_at >= self.every_s

    def mark(self, sim_time_s: float) -> None:
        """Count a save as done at this time (a writer thread is on it)."""
        self._saved_at = sim_time_s

    def save(self, trace: SessionTrace, sim_time_s: float) -> None:
        """Write the trace so far, then its run information (both atomically)."""
        trace.save(self.trace_path, compress=False)
        self.info.sim_time_s = float(sim_time_s)
        self.info.wall_time_s = time.monotonic() - self._started
        write_private_text(self.info_path, json.dumps(asdict(self.info), indent=1))
        self._saved_at = sim_time_s

    def keep(self, trace: SessionTrace, directory: Path) -> Path:
        """Move the finished session into ``directory`` (storing it failed): the trace,
        compressed, and its run information; returns the trace's path."""
        kept_dir = private_dir(directory)
        path = kept_dir / self.trace_path.name
        trace.save(path)
        self.info.wall_time_s = time.monotonic() - self._started
        write_private_text(path.with_suffix(".json"), json.dumps(asdict(self.info), indent=1))
        self.discard()
        return path

    def discard(self) -> None:
        """Remove the checkpoint (its session is stored, or kept elsewhere)."""
        self.trace_path.unlink(missing_ok=True)
        self.info_path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether a process with this id runs (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphans(directory: Path) -> list[Path]:
    """Checkpoint traces in ``directory`` whose process is gone (killed runs), oldest
    first; a checkpoint without its run information is listed too (it cannot be stored,
    only removed)."""
    if not directory.is_dir():
        return []
    out = []
    for trace in sorted(directory.glob("*.npz"), key=lambda p: p.stat().st_mtime):
        info = trace.with_suffix(".json")
        try:
            pid = json.loads(info.read_text()).get("pid", -1)
        except (OSError, ValueError):
            pid = -1
        if pid == os.getpid() or (pid > 0 and _alive(pid)):
            continue
        out.append(trace)
    return out
