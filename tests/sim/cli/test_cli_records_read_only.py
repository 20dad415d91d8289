"""Records that cannot be written can still be browsed (an outsider's cases): a data
directory on a read-only mount refused even ``trainee list`` (SQLite's WAL needs a
``-shm`` file beside the database), and ``trainee show`` on a read-only records file
printed its tables, then failed with exit code 2 on the progress page it always writes.

The read-only folder is simulated (``os.access`` says so, and the first open fails as
SQLite's does); one test uses a real read-only bind mount when run as root."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import scenarios.records
from scenarios.errors import ScenarioError
from scenarios.records import Records
from sim.cli import app
from tests.scenarios.stored import store_mini_session

runner = CliRunner()


def _said(*args: str):
    out = runner.invoke(app, list(args))
    return out, " ".join(out.output.split())


@pytest.fixture
def stored(data) -> Path:
    """The default records with trainee T042's mini session, closed (no -wal, no -shm)."""
    records = Records(store="records")
    store_mini_session(records)
    records.engine.dispose()
    return data / "records.sqlite"


def test_a_read_only_records_file_is_shown_without_its_progress_page(stored):
    read_only = f"sqlite:///file:{stored}?mode=ro&uri=true"
    out, said = _said("trainee", "show", "T042", "--db", read_only)
    assert out.exit_code == 0, said
    assert "Sessions of T042" in said and "the progress page is not written" in said
    out, said = _said("trainee", "show", "T042", "--db", read_only, "--html", "p.html")
    assert out.exit_code == 2 and "cannot be written: the records are read-only" in said
    assert "Sessions of T042" not in said  # refused before the tables


def test_records_in_a_folder_that_cannot_be_written_are_opened_read_only(stored, monkeypatch):
    folder = stored.parent
    access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: Path(p) != folder and access(p, m))
    opened = scenarios.records.open_records

    def as_sqlite_says(db=None, *, demo=False):
        if db is None:  # the default database: its -shm cannot be made
            raise ScenarioError("cannot open records database: unable to open database file")
        return opened(db, demo=demo)

    monkeypatch.setattr(scenarios.records, "open_records", as_sqlite_says)
    before = sorted(p.name for p in folder.iterdir())
    out, said = _said("trainee", "list")
    assert out.exit_code == 0 and "T042" in said and "opened read-only" in said, said
    out, said = _said("trainee", "show", "T042")
    assert out.exit_code == 0 and "the progress page is not written" in said, said
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing made beside it
    # a log holding changes cannot be read without its index: refused, saying why
    Path(f"{stored}-wal").write_bytes(b"\0" * 32)
    out, said = _said("trainee", "list")
    assert out.exit_code == 2 and "holds changes" in said and "writable place" in said


@contextlib.contextmanager
def _read_only_mount(folder: Path, at: Path):
    """``folder`` bind-mounted read-only at ``at``; skips the test where that needs
    privileges this process does not have."""
    at.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    try:
        subprocess.run(["mount", "--bind", str(folder), str(at)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("mount --bind is not available here")
    try:
        remounted = subprocess.run(["mount", "-o", "remount,bind,ro", str(at)], capture_output=True)
        if remounted.returncode != 0:
            pytest.skip("a read-only remount is not available here")
        yield at
    finally:
        # lazy: the records this process opened there keep their files open
        subprocess.run(["umount", "--lazy", str(at)], check=False, capture_output=True)


def test_on_a_real_read_only_mount(stored, tmp_path, monkeypatch):
    with _read_only_mount(stored.parent.parent, tmp_path / "ro") as at:
        monkeypatch.setenv("XDG_DATA_HOME", str(at))
        out, said = _said("trainee", "list")
        assert out.exit_code == 0 and "T042" in said and "opened read-only" in said, said
        out, said = _said("trainee", "show", "T042")
        assert out.exit_code == 0 and "the progress page is not written" in said, said
        # report H, finding 7: rescore and report store what they make; chmod u+w was
        # advised, which cannot help on a read-only mount
        for command in ("rescore", "report"):
            out, said = _said(command, "1")
            assert out.exit_code == 2 and "its file system is read-only" in said, said
            assert "chmod u+w" not in said and "writable copy" in said, said


def test_a_read_only_records_file_on_a_writable_file_system_is_advised_chmod(stored):
    read_only = Records(f"sqlite:///file:{stored}?mode=ro&uri=true")
    with pytest.raises(ScenarioError) as err:
        read_only.register_trainee("T8806")
    said = str(err.value)
    assert "the file or its file system is read-only" in said and "chmod u+w" in said, said
