"""File paths in the records, kept relative to the store's own folder.

A store's traces, snapshots and reports live in its files folder
(:func:`scenarios.records.files_dir_of`: the data directory for the default stores,
``NAME.sqlite-files/`` beside any other SQLite file). Records up to format 1 named them
by absolute path, so a copy of a data directory still named the original's files:
``trainee forget`` in the copy deleted the original's traces and reports, and
``rescore`` in the copy read the original's traces; a store moved elsewhere named
files that were gone. From format 2 a path inside the files folder is stored relative
to it and read back against the folder of the database that holds it; a path outside
it (a run's ``--json`` or ``--record`` output wherever the user put it) stays absolute.

The folder is the engine's: :func:`bind_files_root` puts it on the engine's dialect,
which SQLAlchemy hands to :class:`StoredPath` with every value it converts, so two
stores open in one process each read their own paths.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

#: the attribute of an engine's dialect that holds its store's files folder
_ROOT_ATTRIBUTE = "surgisim_files_root"


def bind_files_root(engine, files_dir: Path) -> None:
    """Make ``engine``'s path columns relative to ``files_dir`` (resolved: paths are
    registered resolved, so a folder reached through a symlink still matches)."""
    setattr(engine.dialect, _ROOT_ATTRIBUTE, str(Path(files_dir).expanduser().resolve()))


def files_root(dialect) -> str | None:
    """The files folder bound to ``dialect`` (None: an engine of no store, used as is)."""
    return getattr(dialect, _ROOT_ATTRIBUTE, None)


def relative_to_root(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` in POSIX form when it lies inside it, else None.
    Symlinks are resolved first (``root`` is resolved): a data directory reached through
    a link stored its traces' paths absolute, so a copy still named the original's."""
    if not os.path.isabs(path):
        return None
    try:
        inside = PurePosixPath(os.path.realpath(path)).relative_to(root)
    except ValueError:
        return None
    return None if str(inside) == "." else str(inside)


class StoredPath(TypeDecorator):
    """A file path column: absolute in Python, relative to the store's files folder in
    the database where the file lies inside it (see the module docstring)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Store a path inside the files folder relative to it."""
        root = files_root(dialect)
        if value is None or root is None:
            return value
        return relative_to_root(str(value), root) or str(value)

    def process_result_value(self, value, dialect):
        """Read a relative path back against this store's files folder."""
        root = files_root(dialect)
        if value is None or root is None or os.path.isabs(value):
            return value
        return str(Path(root) / value)
