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
    RunStart,
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


def test_a_trainee_missing_from_replaced_records_is_not_said_to_be_forgotten(records):
    """Report H, finding 3: the database was deleted while the run went on and made anew;
    the trainee recorded at the run's start is not in it, and no forget is marked there:
    storing said they "were forgotten (surgisim trainee forget)". It still refuses (the
    records are not the run's), says so, and stores once they are recorded again."""
    records.register_trainee("T8801")
    began, count = _began(30.0), records.forget_count()
    checkpoint = _checkpoint(
        "T8801", trainee_recorded=True, command_started_at=began, forget_count=count
    )
    os.remove(database_location(None, "records"))
    anew = Records(store="records")
    with pytest.raises(TraineeForgottenError) as err:
        store_kept(anew, checkpoint.trace_path)
    said = str(err.value)
    assert "not the records the run started with" in said and "no forget" in said, said
    assert "were forgotten" not in said and "trainee new --pseudonym T8801" in said
    assert anew.find_trainee("T8801") is None and checkpoint.trace_path.exists()
    anew.register_trainee("T8801")  # they belong here: recorded again, then stored
    assert store_kept(anew, checkpoint.trace_path) == 1


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
        records.expect_files("T811", {"partial": "x.mcap.partial"}, run_start=RunStart(began))
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


def _marks() -> list[tuple[int | None, float]]:
    """The forget marks of this test's records: (forget number, time), oldest first."""
    path = database_location(None, "records")
    with contextlib.closing(sqlite3.connect(path)) as con:
        query = "SELECT forget_number, forgotten_at FROM forgotten ORDER BY forget_number"
        return con.execute(query).fetchall()


def _forget_on_a_clock(records, pseudonym: str, offset_s: float, **options):
    """``records.forget`` run by a process whose wall clock is ``offset_s`` off (a
    ``faketime -f`` of the forget alone: the run's clock stays right)."""
    real = time.time
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: real() + offset_s)
        return records.forget(pseudonym, **options)


def test_forget_prunes_marks_older_than_a_month_beyond_the_newest_kept_anyway(records, monkeypatch):
    monkeypatch.setattr("scenarios.records.FORGOTTEN_MARKS_KEPT_ANYWAY", 1)
    for name in ("T816", "T817", "T818"):
        records.register_trainee(name)
    records.forget("T816")
    records.forget("T817")
    path = database_location(None, "records")
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as con:
        con.execute("UPDATE forgotten SET forgotten_at = forgotten_at - 31 * 24 * 3600")
    records.forget("T818")
    # T816's mark went (a month old, and not the newest); T817's is the newest kept
    assert [number for number, _ in _marks()] == [2, 3]


@pytest.mark.parametrize("fast_days", [31.0, 400.0])
def test_a_forget_on_a_fast_clock_prunes_no_recent_mark(records, fast_days):
    """Report T, finding 1 (related): marks were pruned by the forget's own clock, so a
    forget on a clock a month fast deleted every other trainee's mark, and their runs
    begun before their forgets stored their sessions again."""
    for name in ("T819", "T820", "T821"):
        records.register_trainee(name)
    begun = _checkpoint("T819", command_started_at=_began(5.0), forget_count=0)
    records.forget("T819", force=True)
    begun.save(_trace(), 12.0)  # the run went on and wrote it again
    records.forget("T820")
    _forget_on_a_clock(records, "T821", fast_days * 24 * 3600)
    assert [number for number, _ in _marks()] == [1, 2, 3]
    with pytest.raises(TraineeForgottenError):
        store_kept(records, begun.trace_path)


def test_the_forget_count_is_never_lowered_by_pruning_or_a_new_trainee(records, monkeypatch):
    """A forget number is never given twice: pruned marks and lifted ones leave the count
    where it was (a run that read 1 must still see a later forget as later)."""
    monkeypatch.setattr("scenarios.records.FORGOTTEN_MARKS_KEPT_ANYWAY", 0)
    assert records.forget_count() == 0
    records.register_trainee("T822")
    records.forget("T822")
    records.register_trainee("T822")  # lifts the mark
    records.register_trainee("T823")
    _forget_on_a_clock(records, "T823", 400 * 24 * 3600.0)  # prunes nothing of its own
    assert records.forget_count() == 2 and [n for n, _ in _marks()] == [2]


def _run_start(records) -> dict:
    """What a run beginning now keeps of its start in its run information: its command's
    start, then the records' forget count and when it was read."""
    return {
        "command_started_at": time.time(),
        "forget_count": records.forget_count(),
        "forget_counted_at": time.time(),
    }


def test_a_forget_in_the_runs_start_up_refuses_its_session_on_one_clock(records):
    """A forget between the run's command start and its reading of the count (the
    start-up: seconds) came before the count, so the count alone would let the run
    store; on one clock (one machine) its time says it came after the run began, as the
    README promises, and the session is refused. One before the command began is not."""
    records.register_trainee("T830")
    records.register_trainee("T831")
    records.forget("T831")  # before the run's command began
    time.sleep(0.05)
    began = time.time()
    records.forget("T830")  # in the run's start-up
    start = {"command_started_at": began}
    start.update(forget_count=records.forget_count(), forget_counted_at=time.time())
    assert start["forget_count"] == 2  # both forgets came before the count was read
    in_start_up = _checkpoint("T830", **start)
    with pytest.raises(TraineeForgottenError):
        store_kept(records, in_start_up.trace_path)
    assert store_kept(records, _checkpoint("T831", **start).trace_path) == 1


@pytest.mark.parametrize("behind_s", [300.0, 3600.0])
def test_a_forget_on_a_clock_behind_the_runs_refuses_its_session(records, live_pid, behind_s):
    """Report T, finding 1: the run (a pseudonym new to it, so only the mark can refuse)
    began, then its trainee was forgotten with --force by a process whose clock was 5 min
    or 1 h behind the run's (a clock stepped back, another machine on shared records):
    the mark's time was before the run's start, and the run stored the session and made
    the trainee again. The records' order of forgets decides now, not the clocks."""
    running = _checkpoint("T824", pid=live_pid, **_run_start(records))
    _forget_on_a_clock(records, "T824", -behind_s, force=True)
    with pytest.raises(TraineeForgottenError, match="trainee forget T824"):
        store_kept(records, running.trace_path)
    with pytest.raises(TraineeForgottenError):  # nor is its recording's .partial claimed
        records.expect_files(
            "T824", {"partial": "x.mcap.partial"}, run_start=running.info.run_start
        )
    assert records.find_trainee("T824") is None and records.sessions() == []


def test_a_killed_runs_checkpoint_stored_later_is_refused_whatever_the_forgets_clock(
    records, live_pid
):
    """The run was going on when its trainee was forgotten (on a clock an hour behind),
    then it was killed: its checkpoint stays, and ``store --orphans`` judges it by the
    count its run information carries, as the run itself would have."""
    records.register_trainee("T825")
    records.register_trainee("T826")
    records.forget("T826")  # a count above 0 before the run
    info = RunInfo(
        "mini", VALID, 1, "expert", "T825", pid=live_pid, forget_count=records.forget_count()
    )
    checkpoint = Checkpoint(store_dir("records") / IN_PROGRESS, info)
    checkpoint.save(_trace(), 9.5)
    _forget_on_a_clock(records, "T825", -3600.0, force=True)
    checkpoint.info.pid = -1  # killed: its last checkpoint is an orphan now
    checkpoint.save(_trace(), 12.0)
    (orphan,) = orphans(records.work_dir / IN_PROGRESS)
    assert RunInfo.load(orphan.with_suffix(".json")).forget_count == 1
    with pytest.raises(TraineeForgottenError):
        store_kept(records, orphan)
    assert records.find_trainee("T825") is None and orphan.exists()


def test_a_run_begun_after_a_forget_on_a_fast_clock_stores(records):
    """The other way round: a forget on a clock an hour ahead, then a run of the same
    pseudonym begun after it (a new trainee's, README): the mark's time was after the
    run's start, and the session was refused."""
    records.register_trainee("T827")
    _forget_on_a_clock(records, "T827", 3600.0)
    later = _checkpoint("T827", **_run_start(records))
    assert store_kept(records, later.trace_path) == 1


def test_run_information_or_a_mark_without_a_forget_count_compares_the_times(records):
    """Run information written before the count was kept (no ``forget_count``), or a
    mark of an older surgisim's forget (no number): the forget's time and the run's
    start are compared, as before (right clocks: refused; a forget clock behind: not)."""
    for name in ("T828", "T829"):
        records.register_trainee(name)
    old_run = _checkpoint("T828", command_started_at=_began(30.0))
    assert old_run.info.forget_count is None
    records.forget("T828", force=True)
    old_run.save(_trace(), 12.0)  # the run went on and wrote it again
    with pytest.raises(TraineeForgottenError):
        store_kept(records, old_run.trace_path)
    records.register_trainee("T828")
    _forget_on_a_clock(records, "T828", -3600.0, force=True)
    old_run.save(_trace(), 14.0)
    assert store_kept(records, old_run.trace_path) == 1  # the limit that stays
    new_run = _checkpoint("T829", command_started_at=_began(30.0), forget_count=0)
    records.forget("T829", force=True)
    new_run.save(_trace(), 12.0)
    path = database_location(None, "records")
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as con:
        con.execute("UPDATE forgotten SET forget_number = NULL")  # an older surgisim's
    with pytest.raises(TraineeForgottenError):
        store_kept(records, new_run.trace_path)


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


def test_records_with_marks_of_an_older_surgisim_get_the_count_and_keep_their_marks(
    records, monkeypatch
):
    """Records a format-2 surgisim wrote: its ``forgotten`` table has no numbers. Opened
    here, the column is added (the format stays 2: see STORE_VERSION), its marks keep
    refusing by time, and they count as the oldest when marks are pruned."""
    records.register_trainee("T832")
    old_run = _checkpoint("T832", command_started_at=_began(30.0))
    records.forget("T832", force=True)
    old_run.save(_trace(), 12.0)
    path = database_location(None, "records")
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as con:
        con.execute("CREATE TABLE old AS SELECT digest, forgotten_at FROM forgotten")
        con.execute("DROP TABLE forgotten")
        con.execute("CREATE TABLE forgotten (digest VARCHAR(64) PRIMARY KEY, forgotten_at FLOAT)")
        con.execute("INSERT INTO forgotten SELECT * FROM old")
        con.execute("DROP TABLE old")
        con.execute("DELETE FROM surgisim_meta WHERE key = 'forget_count'")
    reopened = Records(store="records")
    assert _marks() == [(None, pytest.approx(time.time(), abs=600))]
    with pytest.raises(TraineeForgottenError):
        store_kept(reopened, old_run.trace_path)
    monkeypatch.setattr("scenarios.records.FORGOTTEN_MARKS_KEPT_ANYWAY", 1)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as con:
        con.execute("UPDATE forgotten SET forgotten_at = forgotten_at - 31 * 24 * 3600")
    for name in ("T833", "T834"):
        reopened.register_trainee(name)
        reopened.forget(name)
    assert [number for number, _ in _marks()] == [1, 2]  # the un-numbered one went


def test_a_run_started_while_another_of_the_trainee_goes_on_warns(records, live_pid):
    """Report V, finding 6b: two `practice` runs for one trainee opened two trainers, one
    over the other, and stored two sessions without a word. The second run warns by the
    first's live checkpoint (as forget finds it), naming its process; a killed run's
    checkpoint is no run going on."""
    from rich.console import Console

    from sim.cli.run import say_live_runs

    def said(pseudonym: str) -> str:
        console = Console(record=True, width=300)
        say_live_runs(console, records, pseudonym)
        return " ".join(console.export_text().split())

    records.trainee("T806")
    _checkpoint("T806")  # a killed run's: waits to be stored, runs no more
    assert said("T806") == "" and records.live_runs("T806") == []
    _checkpoint("T806", pid=live_pid)
    _checkpoint("T807", pid=live_pid)  # another trainee's
    assert records.live_runs("T806") == [live_pid]
    text = said("T806")
    assert f"trainee 'T806' has another run going on: PID {live_pid}" in text
    assert "stores a session of its own" in text and "Esc" in text
    with pytest.raises(LiveRunError, match=rf"PID {live_pid} "):  # forget's, as before
        records.check_no_live_run("T806")
