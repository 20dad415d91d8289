"""``surgisim trainee forget`` with sessions waiting outside the records, a run going on,
and a database another program holds open (report B, findings 1, 2 and 4)."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from scenarios.checkpoint import IN_PROGRESS, Checkpoint, RunInfo
from scenarios.paths import store_dir
from scenarios.records import Records, database_location
from sim.cli import app
from tests.scenarios.test_evaluate import _trace
from tests.scenarios.test_loader import VALID


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "300")
    return tmp_path


def _checkpoint(pseudonym: str, pid: int = -1) -> Checkpoint:
    """A run's checkpoint as ``run`` leaves it (pid -1: killed)."""
    info = RunInfo("mini", VALID, 1, "expert", pseudonym, pid=pid, trainee_recorded=True)
    checkpoint = Checkpoint(store_dir("records") / IN_PROGRESS, info)
    checkpoint.save(_trace(), 9.5)
    return checkpoint


def _said(result) -> str:
    return " ".join(result.output.split())


def test_forget_lists_and_removes_a_killed_runs_checkpoint_so_store_orphans_stores_nothing(data):
    Records().register_trainee("T811")
    killed = _checkpoint("T811")
    forget = CliRunner().invoke(app, ["trainee", "forget", "T811"], input="y\n")
    assert forget.exit_code == 0, forget.output
    said = _said(forget)
    assert f"checkpoint of a killed run: {killed.trace_path}" in said  # before the question
    assert "and 1 session(s) waiting to be stored?" in said
    assert "1 waiting session(s)" in said and f"removed: {killed.trace_path}" in said
    store = CliRunner().invoke(app, ["store", "--orphans"])
    assert store.exit_code == 0 and store.output.startswith("nothing to store"), store.output
    listed = CliRunner().invoke(app, ["trainee", "list"])
    assert "T811" not in listed.output and "waits to be stored" not in listed.output


def test_forget_refuses_while_a_run_of_the_trainee_goes_on(data):
    Records().register_trainee("T812")
    run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        _checkpoint("T812", pid=run.pid)
        refused = CliRunner().invoke(app, ["trainee", "forget", "T812", "--yes"])
        assert refused.exit_code == 2, refused.output
        said = _said(refused)
        assert f"PID {run.pid} ({sys.executable} -c" in said and "Stop it first" in said
        assert Records().find_trainee("T812") is not None
        forced = CliRunner().invoke(app, ["trainee", "forget", "T812", "--yes", "--force"])
        assert forced.exit_code == 0, forced.output
        said = _said(forced)
        assert f"(the run PID {run.pid} still writes it: the run then does not store" in said
        assert Records().find_trainee("T812") is None
    finally:
        run.kill()
        run.wait(30)


def test_forget_warns_and_fails_when_another_program_keeps_the_deleted_text(data, monkeypatch):
    monkeypatch.setattr("scenarios.records.VACUUM_WAIT_S", 0.2)
    Records().register_trainee("T813")
    path = database_location(None, "records")
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT 1 FROM trainees").fetchone()
        forget = CliRunner().invoke(app, ["trainee", "forget", "T813", "--yes"])
        assert forget.exit_code == 2, forget.output
        said = _said(forget)
        assert "could not be vacuumed" in said and "may remain in the file" in said
        assert "then run: surgisim trainee vacuum" in said
        reader.execute("COMMIT")
    vacuum = CliRunner().invoke(app, ["trainee", "vacuum"])
    assert vacuum.exit_code == 0 and "vacuumed" in vacuum.output, vacuum.output
    with open(path, "rb") as db:
        assert b"T813" not in db.read()


def test_store_discard_removes_only_the_waiting_session_given(data):
    """One orphan can be removed without storing it, the others left (report B: only
    ``store --orphans --discard``, every trainee's at once, was said)."""
    one, other = _checkpoint("T814"), _checkpoint("T815")
    out = CliRunner().invoke(app, ["store", str(one.trace_path), "--discard"])
    assert out.exit_code == 0, out.output
    assert not one.trace_path.exists() and not one.info_path.exists()
    assert other.trace_path.exists()
