"""Where surgisim keeps a user's data, and how it writes it: privately and atomically.

The data directory is ``$XDG_DATA_HOME/surgisim`` else ``~/.local/share/surgisim``, read
from the environment at call time (no module-level state), so tests and users can point
it elsewhere by setting ``XDG_DATA_HOME``. Two stores live there: the trainee records
(``records.sqlite``, ``traces/``, ``reports/``) and, apart from them, synthetic
demonstrations (``demo.sqlite``, ``demo/traces/``, ``demo/reports/``), so that a scripted
operator's sessions never mix with a trainee's. Any other database given with ``--db``
keeps its traces and reports in a folder of its own (``names.sqlite`` ->
``names.sqlite-files/``, see :func:`scenarios.records.files_dir_of`).

Records, traces and reports are about people: files are created ``0600`` and directories
``0700`` (owner only), whatever the umask. Files are written to a private temporary file
in the same directory and renamed into place, so a killed process never leaves half a
file, and no other user ever sees one.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Literal

Store = Literal["records", "demo"]
STORES: tuple[str, ...] = ("records", "demo")

FILE_MODE = 0o600
DIR_MODE = 0o700


def data_dir() -> Path:
    """The user's surgisim data directory (not created here)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "surgisim"


def store_dir(store: Store = "records") -> Path:
    """Where a store keeps its traces and reports: the data directory for trainee
    records, its ``demo/`` subdirectory for synthetic demonstrations."""
    if store not in STORES:
        raise ValueError(f"unknown store {store!r}; stores are {list(STORES)}.")
    return data_dir() if store == "records" else data_dir() / "demo"


def traces_dir(store: Store = "records") -> Path:
    """Where session traces (``.npz``) are kept."""
    return store_dir(store) / "traces"


def reports_dir(store: Store = "records") -> Path:
    """Where HTML reports are written by default."""
    return store_dir(store) / "reports"


def database_file(store: Store = "records") -> Path:
    """The default SQLite file of a store: ``records.sqlite`` or ``demo.sqlite``."""
    if store not in STORES:
        raise ValueError(f"unknown store {store!r}; stores are {list(STORES)}.")
    return data_dir() / f"{store}.sqlite"


#: The most characters of a scenario's name that go into a file's name: the schema caps
#: names at :data:`scenarios.schema.SCENARIO_NAME_MAX`, and a longer one (a scenario
#: built in code, a checkpoint from before the cap) is cut and hashed here.
NAME_IN_FILE_MAX = 64


def name_for_file(name: str) -> str:
    """``name`` as the start of a file's name: as it is when short and plain, else its
    first characters, made safe, and a hash of the whole (so two long names stay apart).
    A session is stored under it: a 235-character name ran, then "could not be stored:
    File name too long", and the whole attempt was lost."""
    import hashlib
    import re

    plain = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip(".-") or "scenario"
    if plain == name and len(name) <= NAME_IN_FILE_MAX:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{plain[: NAME_IN_FILE_MAX - 9].rstrip('.-')}-{digest}"


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) owner-only (``0700``); return it.

    Directories that already exist are left as they are, except the data directory and
    those inside it, which are tightened to ``0700`` (they were created ``0755`` by
    earlier versions).
    """
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it just now
            directory.mkdir(mode=DIR_MODE)
            os.chmod(directory, DIR_MODE)  # mkdir's mode is reduced by the umask
    if _inside_data_dir(path):
        root = data_dir()
        for directory in [path, *path.parents]:
            _tighten(directory, DIR_MODE)
            if directory == root:
                break
    return path


def private_file(path: str | Path) -> Path:
    """Create ``path`` empty and ``0600`` if it does not exist (tighten it if it exists
    inside the data directory); its directory is made with :func:`private_dir`."""
    path = Path(path)
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except FileExistsError:
        if _inside_data_dir(path):
            _tighten(path, FILE_MODE)
    return path


def write_private(
    path: str | Path,
    write: Callable[[BinaryIO], None],
    place: Callable[[Path, Path], object] = os.replace,
) -> Path:
    """Write a file atomically and owner-only: ``write(f)`` fills a private temporary
    file beside ``path`` (``0600`` from its creation), which then replaces ``path``.

    ``place(tmp, path)`` makes that replacement (default :func:`os.replace`): a caller
    that must rename and record in one step (a class page registered with the trainees
    it names, in the transaction that checks they still exist) does it there. If it
    raises, the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        place(Path(tmp), path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_private_text(
    path: str | Path, text: str, place: Callable[[Path, Path], object] = os.replace
) -> Path:
    """:func:`write_private` for UTF-8 text."""
    return write_private(path, lambda f: f.write(text.encode("utf-8")), place)


#: (s) a temporary file younger than this may be a write in progress (an atomic write
#: takes well under a second); older, it is what a killed process left
UNFINISHED_WRITE_GRACE_S = 60.0


def unfinished_copies(path: str | Path, grace_s: float = UNFINISHED_WRITE_GRACE_S) -> list[Path]:
    """The temporary files :func:`write_private` left of ``path`` when its process was
    killed between writing and renaming (``.NAME.RANDOM.tmp`` beside it, the whole
    content often in it), older than ``grace_s``: a younger one may be a write under way.
    """
    import time

    path = Path(path)
    out = []
    now = time.time()
    with contextlib.suppress(OSError):  # the folder is gone, or cannot be read
        for tmp in sorted(path.parent.glob(f".{_glob_escape(path.name)}.*.tmp")):
            with contextlib.suppress(OSError):  # gone meanwhile
                if now - tmp.stat().st_mtime >= grace_s:
                    out.append(tmp)
    return out


def _glob_escape(name: str) -> str:
    """``name`` with the glob's special characters matched as themselves."""
    import glob

    return glob.escape(name)


def _inside_data_dir(path: Path) -> bool:
    try:
        path.resolve().relative_to(data_dir().resolve())
    except (ValueError, OSError):
        return False
    return True


def _tighten(path: Path, mode: int) -> None:
    """Drop group and other permission bits of a path we own (others are left alone).

    The owner keeps what ``mode`` gives to read (and enter, for a folder), but is never
    given write permission it did not have: a store made read-only (``chmod a-w``, to
    keep an exam's records as they were) was made writable again by a plain
    ``trainee list``, and then upgraded and written to."""
    if not hasattr(os, "getuid"):  # pragma: no cover - POSIX permissions only
        return
    with contextlib.suppress(OSError):
        st = path.stat()
        if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077 | (mode & 0o500))
