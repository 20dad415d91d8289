"""``trainee forget`` and the sessions that wait outside the records (report B): a killed
run's checkpoint and a session kept when storing failed were left by forget, and
``store --orphans`` then brought the forgotten trainee back; a run going on while its
trainee was forgotten stored its session and made them again; a busy database kept the
deleted text with no word said; a class page's rows for the other trainees were left."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from scenarios.archive import store_kept
from scenarios.checkpoint import IN_PROGRESS, KEPT, Checkpoint, RunInfo, orphans
from scenarios.paths import store_dir
from scenarios.records import (
    LiveRunError,
    Records,
    TraineeForgottenError,
    database_location,
)
from tests.scenarios.test_evaluate import _trace
from tests.scenarios.test_loader import VALID


@pytest.fixture
def records(tmp_path, monkeypatch):
    """The trainee records of a data directory of this test's own."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return Records(store="records")


def _checkpoint(pseudonym: str, *, pid: int = -1, db: str | None = None, **fields) -> Checkpoint:
    """A run's checkpoint as ``run`` writes it (pid -1: its process is gone)."""
    info = RunInfo("mini", VALID, 1, "expert", pseudonym, db=db, pid=pid, **fields)
    checkpoint = Checkpoint(store_dir("records") / IN_PROGRESS, info)
    checkpoint.save(_trace(), 9.5)
    return checkpoint


def test_forget_removes_a_killed_runs_checkpoint_and_store_orphans_does_not_bring_them_back(
    records, tmp_path
):
    records.trainee("T801")
    killed = _checkpoint("T801")
    kept = _checkpoint("T801").keep(_trace(), records.work_dir / KEPT)  # storing failed
    other = _checkpoint("T802")  # another trainee's
    elsewhere = _checkpoint("T801", db=f"sqlite:///{tmp_path / 'other.sqlite'}")
    gone = records.forget("T801")
    assert sorted(gone.waiting) == sorted([str(killed.trace_path), str(kept)])
    for path in (killed.trace_path, killed.info_path, kept, kept.with_suffix(".json")):
        assert str(path) in gone.files and not path.exists()
    assert other.trace_path.exists() and elsewhere.trace_path.exists()
    left = orphans(records.work_dir / IN_PROGRESS)
    assert sorted(left) == sorted([other.trace_path, elsewhere.trace_path])
    for path in left:  # what store --orphans does
        store_kept(Records(RunInfo.load(path.with_suffix(".json")).db), path)
    assert records.find_trainee("T801") is None
    assert [t.pseudonym for t, _ in records.trainees()] == ["T802"]


def test_forget_takes_a_pseudonym_with_only_a_waiting_session(records):
    """A trainee whose only session is a killed run's checkpoint (their first run, never
    stored) has no row yet: forget still removes the checkpoint."""
    killed = _checkpoint("T803")
    gone = records.forget("T803")
    assert gone.waiting == [str(killed.trace_path)] and not killed.trace_path.exists()


def test_forget_removes_the_outputs_a_waiting_run_wrote_but_not_another_runs(records, tmp_path):
    mine, older = tmp_path / "mine.json", tmp_path / "older.json"
    older.write_text("{}")
    long_ago = time.time() - 3600
    os.utime(older, (long_ago, long_ago))  # written before the run started: not its own
    killed = _checkpoint("T804", outputs={"json": str(mine)})
    mine.write_text("{}")
    _checkpoint("T804", outputs={"json": str(older)})
    gone = records.forget("T804")
    assert str(mine) in gone.files and not mine.exists()
    assert older.exists() and any(str(older) in left for left in gone.changed)
    assert not killed.trace_path.exists()


@pytest.fixture
def live_pid():
    """A process that is alive for the test (a run going on)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait(30)


def test_forget_refuses_while_a_run_of_the_trainee_goes_on_unless_forced(records, live_pid):
    records.trainee("T805")
    running = _checkpoint("T805", pid=live_pid)
    with pytest.raises(LiveRunError, match=rf"PID {live_pid} .*Stop it first"):
        records.forget("T805")
    assert records.find_trainee("T805") is not None  # nothing was deleted
    gone = records.forget("T805", force=True)
    assert records.find_trainee("T805") is None
    # the live run writes its checkpoint again until it ends: left, and said; its run
    # began before the forget, so it does not store (the forget's mark refuses it even
    # though its run information does not say the trainee was recorded)
    assert running.trace_path.exists()
    assert any(str(live_pid) in c and "does not store its session" in c for c in gone.changed)


def test_a_session_of_a_trainee_forgotten_while_it_ran_is_not_stored(records):
    """The run started while the trainee was in the records (its run information says
    so); they were forgotten before it stored: storing refuses and keeps the files, and
    the trainee stays forgotten."""
    records.trainee("T806")
    info = RunInfo("mini", VALID, 1, "expert", "T806", pid=-1, trainee_recorded=True)
    checkpoint = Checkpoint(store_dir("records") / IN_PROGRESS, info)
    checkpoint.save(_trace(), 9.5)
    records.forget("T806", force=True)  # e.g. the checkpoint was not written yet
    checkpoint.save(_trace(), 12.0)  # the run goes on, and writes it again
    with pytest.raises(TraineeForgottenError, match="trainee forget T806"):
        store_kept(records, checkpoint.trace_path)
    assert records.find_trainee("T806") is None and records.sessions() == []
    assert checkpoint.trace_path.exists()  # for forget to remove, or to store once recorded
    records.register_trainee("T806")  # recorded again on purpose: then it is stored
    assert store_kept(records, checkpoint.trace_path) == 1


def test_an_orphan_of_an_allow_name_trainee_is_stored_without_an_option_store_lacks(records):
    """``JohnDoe_test`` was made with --allow-name and its run without it (the trainee was
    known): the orphan's run information says allow_name False, and storing it once the
    trainee was not in the records asked for --allow-name, which ``store`` lacks."""
    killed = _checkpoint("JohnDoe_test")
    assert store_kept(records, killed.trace_path) == 1
    assert records.find_trainee("JohnDoe_test") is not None


def test_forget_says_when_another_connection_keeps_the_deleted_text(records, monkeypatch):
    monkeypatch.setattr("scenarios.records.VACUUM_WAIT_S", 0.2)
    records.register_trainee("T807")
    records.register_trainee("T808")
    path = database_location(None, "records")
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT 1 FROM trainees").fetchone()
        gone = records.forget("T807")
        assert gone.vacuum_error is not None and "open" in gone.vacuum_error
        reader.execute("COMMIT")
    assert records.vacuum() is None  # once it is closed, the vacuum finishes the job
    with open(path, "rb") as db:
        assert b"T807" not in db.read()
    assert not os.path.exists(path + "-wal") or os.path.getsize(path + "-wal") == 0


def test_forget_drops_the_other_trainees_rows_of_a_class_page_it_deleted(records, tmp_path):
    for name in ("T809", "T810"):
        records.register_trainee(name)
    page = tmp_path / "class.html"
    page.write_text("<html>T809 T810</html>")
    records.register_file(page, pseudonym=["T809", "T810"], kind="class")
    assert str(page) in records.forget("T809").files
    assert records.files_of("T810") == []
    gone = records.forget("T810")
    assert gone.missing == [] and gone.files == []


def _began(seconds_ago: float) -> float:
    """A run's command start (UNIX s), ``seconds_ago`` before now."""
    return time.time() - seconds_ago


def test_a_forget_after_the_run_began_refuses_its_session_though_it_saw_no_trainee(records):
    """Report R, finding 1: the forget came in the run's first seconds, before it looked
    the trainee up (its run information says not recorded): storing made them again."""
    began = _began(30.0)
    records.register_trainee("T811")
    records.forget("T811")
    checkpoint = _checkpoint("T811", trainee_recorded=False, command_started_at=began)
    with pytest.raises(TraineeForgottenError, match="trainee forget T811"):
        store_kept(records, checkpoint.trace_path)
    # the run's registration of its recording's .partial must not make them again either
    with pytest.raises(TraineeForgottenError):
        records.expect_files("T811", {"partial": "x.mcap.partial"}, run_began_at=began)
    assert records.find_trainee("T811") is None and records.sessions() == []
    assert checkpoint.trace_path.exists()  # kept, for forget to remove or to store later


def test_a_forget_of_a_pseudonym_new_to_a_live_run_refuses_its_session(records, live_pid):
    """Report R, finding 7: the run's pseudonym was new when it started (only its
    checkpoint names them); forgotten with --force, the run stored and made them again."""
    running = _checkpoint("T812", pid=live_pid, command_started_at=_began(30.0))
    records.forget("T812", force=True)
    with pytest.raises(TraineeForgottenError):
        store_kept(records, running.trace_path)
    assert records.find_trainee("T812") is None


def test_a_run_begun_after_the_forget_stores_and_trainee_new_lifts_the_mark(records):
    records.register_trainee("T813")
    older = _checkpoint("T813", command_started_at=_began(30.0))  # begun before the forget
    records.forget("T813", force=True)
    older.save(_trace(), 12.0)  # the run went on and wrote it again
    newer = _checkpoint("T813", command_started_at=time.time())
    assert store_kept(records, newer.trace_path) == 1  # the pseudonym used again, later
    with pytest.raises(TraineeForgottenError):
        store_kept(records, older.trace_path)
    records.forget("T813")
    older.save(_trace(), 12.0)
    records.register_trainee("T813")  # recorded again on purpose: then it is stored
    assert store_kept(records, older.trace_path) == 2


def test_run_information_without_a_command_start_counts_from_the_sessions_start(records):
    old = RunInfo("mini", VALID, 1, "expert", "T814", started_at=_began(60.0))
    assert old.command_started_at is None and old.began_at == old.started_at


def test_the_mark_of_a_forgotten_trainee_keeps_no_plain_pseudonym(records):
    records.register_trainee("T815Q")
    records.forget("T815Q")
    path = database_location(None, "records")
    with open(path, "rb") as db:
        assert b"T815Q" not in db.read()
    with contextlib.closing(sqlite3.connect(path)) as con:
        (digest, at), *more = con.execute("SELECT digest, forgotten_at FROM forgotten").fetchall()
    assert more == [] and len(digest) == 64 and abs(at - time.time()) < 600
    assert digest != hashlib.sha256(b"T815Q").hexdigest()  # salted: not a lookup away


def test_forget_prunes_marks_older_than_a_month(records):
    for name in ("T816", "T817"):
        records.register_trainee(name)
    records.forget("T816")
    path = database_location(None, "records")
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as con:
        con.execute("UPDATE forgotten SET forgotten_at = forgotten_at - 31 * 24 * 3600")
    records.forget("T817")
    with contextlib.closing(sqlite3.connect(path)) as con:
        assert con.execute("SELECT count(*) FROM forgotten").fetchone() == (1,)


def test_a_checkpoint_that_vanishes_while_listed_is_left_out_not_an_error(records, tmp_path):
    """The waiting sessions were sorted by a stat() of each: a checkpoint stored or
    removed by another process between the listing and the sort (here: a dangling link,
    which the listing finds and stat() cannot) failed ``trainee forget`` with
    FileNotFoundError."""
    records.trainee("T803")
    killed = _checkpoint("T803")
    (records.work_dir / IN_PROGRESS / "gone.npz").symlink_to(tmp_path / "nothing.npz")
    assert [w.trace for w in records.waiting_of("T803")] == [killed.trace_path]
    assert str(killed.trace_path) in records.forget("T803").waiting
