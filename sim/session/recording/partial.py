"""Where a recording is written while it is made: ``NAME.mcap.partial``, beside the target.

A recording streams into ``NAME.mcap.partial`` and is renamed to ``NAME.mcap`` (one
atomic ``os.replace``) once it is complete, so:

- a reader never sees a half-written ``NAME.mcap``: it appears whole or not at all;
- two runs never write into one file: the run recording holds an exclusive lock on the
  partial file, and a second run that asks for the same target finds it locked and is
  refused before it simulates anything;
- a run that is killed (or fails) while recording leaves what it had written in
  ``NAME.mcap.partial``, which ``surgisim replay`` reads up to where it stops.

The lock is an advisory ``flock`` held for as long as the run keeps the file open: the
kernel drops it when the process ends, however it ends, so the partial file of a killed
run is never taken for one a live run is writing. Files are owner-only (``0600``), like
every other output of a session (:mod:`scenarios.paths`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import BinaryIO

from sim.errors import SimError

PARTIAL_SUFFIX = ".partial"

#: How often a claim is retried when the partial file is renamed or removed under it
#: (another run finished or gave up between our open and our lock).
_CLAIM_TRIES = 5


def partial_path(path) -> Path:
    """The file a recording to ``path`` is written to until it is complete."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def is_partial(path) -> bool:
    """Whether ``path`` names a recording's partial file (``NAME.mcap.partial``)."""
    return Path(path).name.endswith(PARTIAL_SUFFIX)


def target_of(partial) -> Path:
    """The recording a partial file was to become (``NAME.mcap`` for ``NAME.mcap.partial``)."""
    partial = Path(partial)
    return partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX))


def being_recorded(partial) -> bool:
    """Whether a live run holds ``partial`` (a recording is being written to it now)."""
    try:
        fd = os.open(partial, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # drops the shared lock taken to probe
    return False


class PartialRecording:
    """A claim on a recording's target: its partial file, created and locked.

    Claiming happens before a run starts, so a refusal costs nothing; the file is written
    through :meth:`open`, then :meth:`commit` moves it into place, or :meth:`abandon`
    gives it up after a failure.

    Args:
        path: the recording to make (``NAME.mcap``).
        overwrite: replace an existing ``path``, and the partial file a killed run left;
            both are refused otherwise. A partial file a live run holds is always refused.

    Raises:
        SimError: another run is recording to ``path``; ``path`` exists, or a killed run
            left its partial file, and ``overwrite`` is false; the folder cannot be written.
    """

    def __init__(self, path, *, overwrite: bool = False) -> None:
        from scenarios.paths import FILE_MODE, private_dir

        self.path = Path(path)
        self.partial = partial_path(self.path)
        self._file: BinaryIO | None = None
        #: the partial file was removed (or replaced) by another program while this claim
        #: held it (``trainee forget`` of the run's trainee): nothing of it is kept
        self.removed = False
        try:
            private_dir(self.partial.parent)
            self._fd = self._lock(FILE_MODE)
        except OSError as exc:
            raise SimError(
                f"cannot record to {str(self.path)!r}: {exc.strerror or exc}; choose another path."
            ) from None
        try:
            self._check(overwrite)
        except BaseException:
            if os.fstat(self._fd).st_size == 0:  # made by this claim: leave nothing behind
                with contextlib.suppress(OSError):
                    os.unlink(self.partial)
            os.close(self._fd)
            raise
        os.ftruncate(self._fd, 0)
        os.fchmod(self._fd, FILE_MODE)

    def _lock(self, mode: int) -> int:
        for _ in range(_CLAIM_TRIES):
            fd = os.open(self.partial, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise SimError(
                    f"another run is recording to {self.path} right now (it holds "
                    f"{self.partial}); wait until it ends, or record to another file."
                ) from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.partial))
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)  # renamed or removed between our open and our lock: again
        raise SimError(
            f"could not claim {self.partial}: other runs keep recording to {self.path}; "
            "record to another file."
        )

    def _check(self, overwrite: bool) -> None:
        if overwrite:
            return
        if self.path.exists():
            raise SimError(
                f"{self.path} exists; give --overwrite to replace it, or record to another file."
            )
        if os.fstat(self._fd).st_size > 0:
            raise SimError(
                f"{self.partial} is the unfinished recording of an earlier run to "
                f"{self.path} (killed, or stopped by an error): replay what it holds "
                f"(surgisim replay {self.partial}), move it away, or give --overwrite to "
                "replace it."
            )

    def _still_ours(self) -> bool:
        """Whether the partial file at its path is still the one this claim holds."""
        try:
            return os.path.samestat(os.fstat(self._fd), os.stat(self.partial))
        except FileNotFoundError:
            return False

    def open(self) -> BinaryIO:
        """The partial file, empty, for writing (once)."""
        if self._file is None:
            self._file = os.fdopen(self._fd, "wb")
        return self._file

    def commit(self) -> Path:
        """Make the written file the recording: flush it to disk, move it into place, let
        the claim go. Returns the recording's path."""
        f = self.open()
        f.flush()
        os.fsync(f.fileno())
        os.replace(self.partial, self.path)  # still locked: no one can claim it meanwhile
        f.close()
        self._file = None
        self._fd = -1
        return self.path

    def abandon(self) -> Path | None:
        """Give the claim up without a recording (after a failure): a partial file that
        holds something is kept for ``surgisim replay``, an empty one is removed. Returns
        the kept partial file, or None. Does nothing once committed or abandoned."""
        if self._fd < 0:
            return None
        kept = None
        if self._file is not None:
            with contextlib.suppress(OSError, ValueError):
                self._file.flush()
        self.removed = not self._still_ours()
        if self.removed:
            pass  # gone, or another's file now: nothing to keep or remove
        elif os.fstat(self._fd).st_size > 0:
            kept = self.partial
        else:
            with contextlib.suppress(OSError):
                os.unlink(self.partial)
        if self._file is not None:
            with contextlib.suppress(OSError, ValueError):
                self._file.close()
        else:
            os.close(self._fd)
        self._file = None
        self._fd = -1
        return kept
