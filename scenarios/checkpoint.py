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

import contextlib
import datetime as dt
import errno
import hashlib
import json
import logging
import os
import stat
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scenarios.errors import ScenarioError
from scenarios.paths import (
    UNFINISHED_WRITE_GRACE_S,
    name_for_file,
    private_dir,
    write_private_text,
)
from scenarios.trace import SessionTrace

if TYPE_CHECKING:
    from scenarios.records import RunStart

#: Simulated seconds between checkpoints of a running session: what a kill -9 may lose.
CHECKPOINT_EVERY_S = 5.0
IN_PROGRESS = "in-progress"
KEPT = "unstored"
_log = logging.getLogger(__name__)


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
        session_uid: the session's own id, given when the run starts and stored with it
            (unique): a copy of this checkpoint or kept trace is never stored twice.
        ended: how the session ended (``completed``, ``time_limit``, ``stopped``: see
            :data:`scenarios.records.ENDINGS`), set once it has; None while it runs, so
            a checkpoint stored after its process died is ``crashed``.
        outputs: kind -> absolute path of each file the run writes about the trainee
            (``recording``, ``partial`` for the recording while it is written, ``json``,
            ``video``), registered with the session when it is stored, so that ``trainee
            forget`` removes them even when the run died before it could say so.
        database: the database the session is for, resolved when the run started
            (:func:`scenarios.records.database_location`): ``db`` None means the default
            of the data directory of that moment, and a session kept in the shared
            :func:`fallback_dir` must not be stored by a run with another data directory.
            None in run information written before it was kept (which one is unknown).
        trainee_recorded: the trainee was in the records when the run started: storing
            refuses to make them again (they were forgotten meanwhile, see
            :class:`scenarios.records.TraineeForgottenError`). False for a new pseudonym
            (storing records them) and in run information written before it was kept.
        command_started_at: when the command that runs the session began (UNIX time, s;
            :func:`sim.cli.command_started_at`), before it looked the trainee up: a
            ``trainee forget`` of the pseudonym after it refuses the session (see
            :attr:`began_at`). None in run information written before it was kept.
            Compared with a forget's time only where the records' order cannot tell
            (a forget in the run's start-up, a count or a number missing): the two are
            different processes' clocks.
        forget_count: the records' count of forgets
            (:meth:`scenarios.records.Records.forget_count`) when the run started, read
            before it looked the trainee up: a forget of the pseudonym with a higher
            number came after, by the database's order, whatever the clocks say, and
            refuses the session, also when ``store --orphans`` stores it later. None in
            run information written before it was kept (:attr:`began_at` is compared).
        forget_counted_at: when the run read :attr:`forget_count` (UNIX time, s): a
            forget numbered at or below the count came in the run's start-up only if
            its time lies between :attr:`command_started_at` and this (see
            :meth:`scenarios.records.RunStart.began_before`).
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
    session_uid: str = field(default_factory=lambda: uuid.uuid4().hex)
    ended: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    database: str | None = None
    trainee_recorded: bool = False
    command_started_at: float | None = None
    forget_count: int | None = None
    forget_counted_at: float | None = None

    @property
    def began_at(self) -> float:
        """When the run began (UNIX time, s): its command's start, or the session's
        start for run information written before that was kept. Storing refuses the
        session of a trainee forgotten after it (:class:`scenarios.records.ForgottenMark`)
        where the records' order of forgets cannot tell (see :attr:`run_start`)."""
        return self.started_at if self.command_started_at is None else self.command_started_at

    @property
    def run_start(self) -> RunStart:
        """When the run began, as storing its session judges a forget of its trainee."""
        from scenarios.records import RunStart

        return RunStart(self.began_at, self.forget_count, self.forget_counted_at)

    @classmethod
    def load(cls, path: Path) -> RunInfo:
        """Read the ``.json`` beside a checkpoint or kept trace."""
        try:
            text = Path(path).read_text()
            data = json.loads(text)
            if "session_uid" not in data:
                # written before sessions had ids: one derived from the file, the same for
                # every copy of it (it holds the run's pid, start time and progress)
                data["session_uid"] = "legacy-" + hashlib.sha256(text.encode()).hexdigest()[:32]
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (OSError, ValueError, TypeError) as exc:
            raise ScenarioError(f"cannot read the run information {str(path)!r}: {exc}") from None

    @property
    def started(self) -> dt.datetime:
        """When the session started, as the records keep it (naive UTC)."""
        return dt.datetime.fromtimestamp(self.started_at, dt.timezone.utc).replace(tzinfo=None)


class Checkpoint:
    """The on-disk copy of one running session (a trace and its :class:`RunInfo`).

    Args:
        directory: where checkpoint files go (the store's ``in-progress`` folder).
        info: what storing will need.
        every_s: simulated seconds between saves.
    """

    def __init__(self, directory: Path, info: RunInfo, every_s: float = CHECKPOINT_EVERY_S):
        from scenarios.records import database_location

        if info.database is None:
            info.database = database_location(info.db, info.store)
        self.info = info
        self.every_s = every_s
        #: why the first checkpoint that could not be written failed (None: all written)
        self.error: str | None = None
        try:
            self.directory = private_dir(directory)
        except OSError as exc:  # a read-only data directory (the database may be elsewhere)
            self.directory = Path(directory)
            self._failed(exc)
        stem = f"{name_for_file(info.scenario_name)}-{uuid.uuid4().hex[:12]}"
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

    def save(self, trace: SessionTrace, sim_time_s: float) -> bool:
        """Write the trace so far, then its run information (both atomically); return
        whether it was written.

        A checkpoint is insurance, not the session: one that cannot be written (a full
        disk, a folder made read-only) must not end the trainee's session. The first
        failure is logged as a warning (on stderr unless logging is set up otherwise)
        and kept in :attr:`error`; later ones are tried again at the next interval,
        silently. The last checkpoint written (if any) stays as it was.
        """
        self._saved_at = sim_time_s
        try:
            trace.save(self.trace_path, compress=False)
            self.info.sim_time_s = float(sim_time_s)
            self.info.wall_time_s = time.monotonic() - self._started
            write_private_text(self.info_path, json.dumps(asdict(self.info), indent=1))
        except OSError as exc:
            self._failed(exc)
            return False
        return True

    def _failed(self, exc: OSError) -> None:
        """Warn about the first checkpoint that cannot be written (see :meth:`save`)."""
        if self.error is None:
            self.error = f"{exc.strerror or exc} ({exc.filename or self.directory})"
            _log.warning(
                "warning: the session's checkpoint cannot be written: %s. The session "
                "goes on; if this process is killed now, the session since the last "
                "checkpoint is lost.",
                self.error,
            )

    def keep(self, trace: SessionTrace, directory: Path) -> Path:
        """Move the finished session into ``directory`` (storing it failed): the trace,
        compressed, and its run information; returns the trace's path.

        When ``directory`` cannot be written either (the data directory itself is
        read-only or full: often why storing failed), the session goes to a private
        folder under the system's temporary directory (:func:`fallback_dir`) instead.

        Raises:
            OSError: neither could be written (the checkpoint is then left in place).
        """
        self.info.wall_time_s = time.monotonic() - self._started
        error: OSError | None = None
        for where in (lambda: private_dir(directory), fallback_dir):
            path = None
            try:
                path = where() / self.trace_path.name
                trace.save(path)
                write_private_text(
                    path.with_suffix(".json"), json.dumps(asdict(self.info), indent=1)
                )
            except OSError as exc:
                error = exc
                if path is not None:  # a trace without its run information cannot be stored
                    with contextlib.suppress(OSError):
                        path.unlink(missing_ok=True)
                continue
            self.discard()
            return path
        raise error

    def discard(self) -> None:
        """Remove the checkpoint (its session is stored, or kept elsewhere). Best effort:
        a checkpoint left behind is refused by ``surgisim store`` as already stored."""
        for path in (self.trace_path, self.info_path):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)


def fallback_dir() -> Path:
    """Where a finished session is kept when the data directory cannot be written: a
    folder of this user's under the system's temporary directory, created owner-only.

    Raises:
        PermissionError: the folder exists but is not this user's own private one (someone
            else made it: a trace is not left where another user can read it).
    """
    path = private_dir(fallback_path())
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise PermissionError(errno.EACCES, "not a private folder of this user", str(path))
    return path


def fallback_path() -> Path:
    """The folder :func:`fallback_dir` keeps sessions in (not created here)."""
    return Path(tempfile.gettempdir()) / f"surgisim-{os.getuid()}-{KEPT}"


def kept_in_fallback() -> tuple[list[Path], list[tuple[Path, str]]]:
    """The sessions kept in :func:`fallback_path` (a full or read-only data directory),
    as (this data directory's, others'): a kept trace is this data directory's when the
    database its run recorded (:attr:`RunInfo.database`) is the one its ``--db`` names
    here and now. The folder is this user's, shared by all their data directories: one
    must not store another's sessions. Others' come with the database they are for
    ("unknown" when their run information does not say)."""
    from scenarios.records import database_location

    folder = fallback_path()
    if not folder.is_dir():
        return [], []
    ours: list[Path] = []
    others: list[tuple[Path, str]] = []
    for trace in sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime):
        try:
            info = RunInfo.load(trace.with_suffix(".json"))
        except ScenarioError:
            others.append((trace, "unknown: its run information cannot be read"))
            continue
        if info.database is None:
            others.append((trace, "unknown: its run information does not say"))
        elif info.database == database_location(info.db, info.store):
            ours.append(trace)
        else:
            others.append((trace, info.database))
    return ours, others


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
    # one stored or removed by another process (`store --orphans` at once) meanwhile
    # is not listed, rather than failing the listing
    found = [
        (mtime, trace) for trace in directory.glob("*.npz") if (mtime := _mtime(trace)) is not None
    ]
    out = []
    for _mtime_s, trace in sorted(found):
        if _running(_run_pid(trace.with_suffix(".json"))):
            continue
        out.append(trace)
    return out


def live_run_pid(trace: Path) -> int | None:
    """The pid of the live run that writes the checkpoint ``trace`` (as :func:`orphans`
    tells), or None when its run is gone or its run information cannot be read."""
    pid = _run_pid(trace.with_suffix(".json"))
    return pid if _running(pid) else None


def _mtime(path: Path) -> float | None:
    """When ``path`` was last written (UNIX time, s); None when it is gone."""
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _run_pid(info: Path) -> int | None:
    """The ``pid`` in a run information file (-1 when it names none); None when the file
    cannot be read (not written yet, damaged) or the pid is not a number."""
    try:
        pid = json.loads(info.read_text()).get("pid", -1)
    except (OSError, ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) else None


def _running(pid: int | None) -> bool:
    """Whether the run with this pid is this process or another live one."""
    return pid is not None and (pid == os.getpid() or (pid > 0 and _alive(pid)))


def unfinished_writes(directory: Path) -> list[Path]:
    """Temporary files a killed run left in ``directory`` (``.NAME.RANDOM.tmp``, written by
    :func:`scenarios.paths.write_private` and renamed to NAME when complete; a kill in
    between leaves them, often empty): those whose run (the ``pid`` in NAME's run
    information) is gone, or, without readable run information, older than
    :data:`UNFINISHED_WRITE_GRACE_S`."""
    if not directory.is_dir():
        return []
    out = []
    now = time.time()
    for tmp in sorted(directory.glob(".*.tmp")):
        owner = directory / tmp.name[1:].rsplit(".", 2)[0]
        pid = _run_pid(owner.with_suffix(".json"))  # None: no run information (yet)
        if _running(pid):
            continue
        try:
            young = pid is None and now - tmp.stat().st_mtime < UNFINISHED_WRITE_GRACE_S
        except OSError:
            continue  # gone meanwhile
        if not young:
            out.append(tmp)
    return out


@dataclass(frozen=True)
class Waiting:
    """A session of one trainee that waits outside the records: a run's checkpoint in
    ``in-progress/`` (a live run's, or a killed one's that ``store --orphans`` would
    store) or a finished session kept in ``unstored/`` or :func:`fallback_path` because
    storing it failed. ``trainee forget`` must remove it, or storing it later brings the
    forgotten trainee back.

    Attributes:
        trace: the ``.npz`` (its :class:`RunInfo` is the ``.json`` beside it).
        info: its run information.
        live_pid: the pid of the run that still writes it (a live checkpoint), else None.
    """

    trace: Path
    info: RunInfo
    live_pid: int | None = None

    @property
    def kind(self) -> str:
        """How ``trainee forget`` lists it."""
        if self.live_pid is not None:
            return f"checkpoint of the run going on now (PID {self.live_pid})"
        if self.trace.parent.name == IN_PROGRESS:
            return "checkpoint of a killed run"
        return "unstored session"


def waiting_of(pseudonym: str, database: str, work_dir: Path) -> list[Waiting]:
    """The sessions of ``pseudonym`` for ``database`` (see
    :func:`scenarios.records.database_location`) that wait in the store folder
    ``work_dir`` (``in-progress/``, ``unstored/``) or in :func:`fallback_path`, oldest
    first. Run information written before it named its database counts as for the
    database its ``db`` and store name here and now; one that cannot be read is nobody's
    (``store --orphans --discard`` removes it)."""
    from scenarios.records import database_location

    out = []
    for folder in (work_dir / IN_PROGRESS, work_dir / KEPT, fallback_path()):
        if not folder.is_dir():
            continue
        # one stored or removed by another process meanwhile is left out, as in orphans()
        found = [(mtime, p) for p in folder.glob("*.npz") if (mtime := _mtime(p)) is not None]
        for _mtime_s, trace in sorted(found):
            try:
                info = RunInfo.load(trace.with_suffix(".json"))
            except ScenarioError:
                continue
            if info.pseudonym != pseudonym:
                continue
            if (info.database or database_location(info.db, info.store)) != database:
                continue
            pid = _run_pid(trace.with_suffix(".json")) if folder.name == IN_PROGRESS else None
            out.append(Waiting(trace, info, pid if _running(pid) else None))
    return out


def run_label(pid: int) -> str:
    """``PID 123 (surgisim run ...)``: a live run as messages name it, its command line
    when it can be read (:func:`run_command`)."""
    command = run_command(pid)
    return f"PID {pid}" + (f" ({command})" if command else "")


def run_command(pid: int) -> str:
    """The command line of process ``pid`` (as ``ps`` shows it), or ``""`` when it cannot
    be read (another system, the process gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
