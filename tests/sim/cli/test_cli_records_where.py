"""Which database a records command works on. ``surgisim store --orphans`` stores each
killed run's session in the database its run was storing to: ``--db`` picks orphans, it
never moves one (the probe's lab filed two stations' runs, and a demonstration as trainee
"demo", into the one ``--db`` given). A command that only reads never creates a database
at a mistyped ``--db``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from scenarios.checkpoint import IN_PROGRESS, KEPT, Checkpoint, RunInfo
from scenarios.paths import store_dir
from scenarios.records import Records, open_records
from sim.cli import app
from tests.scenarios.test_evaluate import _trace
from tests.scenarios.test_loader import VALID


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "300")
    return tmp_path


def _orphan(pseudonym: str, db: str | None, store: str = "records") -> None:
    """A killed run's checkpoint (its process gone: pid -1), as ``run`` leaves it."""
    info = RunInfo("mini", VALID, 1, "expert", pseudonym, store=store, db=db, pid=-1)
    Checkpoint(store_dir(store) / IN_PROGRESS, info).save(_trace(), 9.5)


def _pseudonyms(records: Records) -> list[str]:
    return sorted(t.pseudonym for t, _ in records.trainees())


def test_each_orphan_goes_to_its_own_database_and_db_only_picks(data):
    a, b = (f"sqlite:///{data / name}" for name in ("a.sqlite", "b.sqlite"))
    _orphan("T717", a)
    _orphan("T718", b)
    _orphan("demo", None, store="demo")  # a demonstration killed mid-run
    first = CliRunner().invoke(app, ["store", "--orphans", "--db", a])
    assert first.exit_code == 0, first.output
    assert _pseudonyms(Records(a)) == ["T717"]
    assert "left 2 orphan(s) of runs that used another database" in first.output
    assert f"in {a}" in " ".join(first.output.split())  # says where it went
    rest = CliRunner().invoke(app, ["store", "--orphans"])
    assert rest.exit_code == 0, rest.output
    assert _pseudonyms(Records(a)) == ["T717"] and _pseudonyms(Records(b)) == ["T718"]
    assert _pseudonyms(open_records(None, demo=True)) == ["demo"]
    assert _pseudonyms(open_records(None)) == []  # no "demo" among the trainees
    assert CliRunner().invoke(app, ["store", "--orphans"]).output.startswith("nothing to store")


@pytest.mark.parametrize(
    "args",
    [["trainee", "list"], ["trainee", "show", "T711"], ["report", "1"], ["rescore", "1"]],
)
def test_a_command_that_only_reads_does_not_create_a_mistyped_database(data, args):
    typo = data / "typo" / "shraed.sqlite"
    result = CliRunner().invoke(app, [*args, "--db", f"sqlite:///{typo}"])
    assert result.exit_code == 2, result.output
    assert f"no records database at {typo}" in " ".join(result.output.split())
    assert not typo.exists() and not typo.parent.exists()


def test_trainee_list_prints_the_database_url_whole(data):
    """The list's title broke the URL mid-word in a narrow terminal (not copyable)."""
    url = f"sqlite:///{data / 'a-rather-long-folder-name' / 'for-the-lab' / 'records.sqlite'}"
    assert CliRunner().invoke(app, ["trainee", "new", "--db", url]).exit_code == 0
    listed = CliRunner().invoke(app, ["trainee", "list", "--db", url], env={"COLUMNS": "60"})
    assert listed.exit_code == 0 and f"Trainees in {url}" in listed.output.splitlines()


def test_store_orphans_removes_the_writes_killed_runs_left_and_keeps_live_ones(data):
    """A kill during a checkpoint's atomic write left a 0-byte ``.NAME.npz.RANDOM.tmp``
    that nothing ever removed. ``store --orphans`` removes those of runs that are gone
    (and, without run information, those older than a minute), and keeps a live run's."""
    import os
    import subprocess
    import sys
    import time

    from scenarios.checkpoint import KEPT, unfinished_writes

    folder = store_dir("records") / IN_PROGRESS
    _orphan("T719", None)
    (killed,) = sorted(folder.glob("*.json"))
    left = folder / f".{killed.stem}.npz.ab12_x.tmp"
    left.touch()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        info = RunInfo("mini", VALID, 2, "expert", "T720", pid=live.pid)
        Checkpoint(folder, info).save(_trace(), 4.0)
        (running,) = [p for p in folder.glob("*.json") if p != killed]
        writing = folder / f".{running.stem}.npz.cd34_y.tmp"
        writing.touch()
        kept = store_dir("records") / KEPT
        kept.mkdir(parents=True, exist_ok=True)
        fresh, stale = kept / ".s1.npz.ef56_z.tmp", kept / ".s2.npz.gh78_w.tmp"
        traces = store_dir("records") / "traces"  # a kill while storing a trace
        traces.mkdir(parents=True, exist_ok=True)
        storing = traces / ".session-9.npz.ij90_v.tmp"
        for path in (fresh, stale, storing):
            path.touch()
        for path in (stale, storing):
            os.utime(path, (time.time() - 120, time.time() - 120))
        assert unfinished_writes(folder) == [left]
        assert unfinished_writes(kept) == [stale]
        result = CliRunner().invoke(app, ["store", "--orphans"])
        assert result.exit_code == 0, result.output
        assert "a write a killed run did not finish" in result.output
        assert not left.exists() and not stale.exists() and not storing.exists()
        assert writing.exists() and fresh.exists()
        assert _pseudonyms(open_records(None)) == ["T719"]  # the live run's is not an orphan
    finally:
        live.kill()
        live.wait()


IN_MEMORY = (
    "sqlite://",
    "sqlite:///:memory:",
    "sqlite+pysqlite://",
    "sqlite:///file::memory:?uri=true",
    "sqlite:///file:records?mode=memory&cache=shared&uri=true",
    "sqlite:///",  # SQLite's private temporary file: deleted when the connection closes
)


@pytest.mark.parametrize("db", IN_MEMORY)
def test_an_in_memory_database_is_refused_before_anything_is_stored(data, db):
    """``run ... --db sqlite://`` said "stored as session 1" and kept nothing: the database
    went with the process, and the trace and report stayed in ``databases/<hash>/``
    linked to nothing."""
    out = CliRunner().invoke(
        app, ["run", "needle-handover", "--seed", "1717", "--db", db, "--trainee", "T0517"]
    )
    said = " ".join(out.output.split())
    assert out.exit_code == 2, out.output
    assert "an in-memory database keeps nothing" in said
    assert "--db sqlite:///PATH/records.sqlite" in said
    assert "stored as session" not in said
    assert not (data / "data" / "surgisim" / "databases").exists()
    listed = CliRunner().invoke(app, ["trainee", "list", "--db", db])
    assert listed.exit_code == 2 and "keeps nothing" in listed.output


def test_a_file_database_is_still_opened_and_records_itself_still_opens_in_memory(data):
    """Only the commands' path refuses: a throwaway in-memory ``Records`` (a test's) works."""
    assert Records("sqlite://").trainees() == []
    file_db = f"sqlite:///{data / 'r.sqlite'}"
    assert open_records(file_db).trainees() == []
    assert open_records(f"sqlite:///file:{data / 'r.sqlite'}?mode=ro&uri=true").trainees() == []


def test_trainee_commands_say_that_a_killed_run_s_session_waits_to_be_stored(data):
    """After a kill -9 nothing said a session was waiting: the attempt was missing from
    the records until a technician thought of ``store --orphans``."""
    note = "a session of a killed run waits"
    for pseudonym in ("T719", "T720"):
        assert CliRunner().invoke(app, ["trainee", "new", "--pseudonym", pseudonym]).exit_code == 0
    assert note not in " ".join(CliRunner().invoke(app, ["trainee", "list"]).output.split())
    _orphan("T719", None)
    other = f"sqlite:///{data / 'other.sqlite'}"
    _orphan("T721", other)  # another database's: said there, not here
    said = {
        "list": "note: a session of a killed run waits to be stored: `surgisim store --orphans`",
        "show": "note: a session of a killed run waits for T719 to be stored",
    }
    for args, expected in (
        (["trainee", "list"], said["list"]),
        (["trainee", "show", "T719"], said["show"]),
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert expected in " ".join(result.output.split()), args
    assert note not in " ".join(CliRunner().invoke(app, ["trainee", "show", "T720"]).output.split())
    assert (
        CliRunner().invoke(app, ["trainee", "new", "--pseudonym", "T722", "--db", other]).exit_code
        == 0
    )
    there = " ".join(CliRunner().invoke(app, ["trainee", "list", "--db", other]).output.split())
    assert f"`surgisim store --orphans --db {other}`" in there
    assert CliRunner().invoke(app, ["store", "--orphans"]).exit_code == 0
    assert note not in " ".join(CliRunner().invoke(app, ["trainee", "list"]).output.split())
    assert note not in " ".join(
        CliRunner().invoke(app, ["trainee", "list", "--db", other]).output.split()
    )


def test_trainee_commands_say_that_a_session_kept_in_unstored_waits(data):
    """Report H, finding 5: a finished session kept in ``unstored/`` (the database was
    deleted while it ran) was named only by ``store --orphans``; ``trainee list`` showed an
    empty table and ``trainee show`` only "no trainee". Both now say it waits, with the
    ``surgisim store FILE`` command, until it is stored."""
    work = store_dir("records")
    info = RunInfo("mini", VALID, 1, "expert", "T8804", pid=-1, trainee_recorded=True)
    kept = Checkpoint(work / IN_PROGRESS, info).keep(_trace(), work / KEPT)
    other = RunInfo("mini", VALID, 2, "expert", "T8805", pid=-1)
    Checkpoint(work / IN_PROGRESS, other).keep(_trace(), work / KEPT)  # another trainee's
    note = f"waits for T8804 in {work / KEPT}: `surgisim store {kept}` stores it"
    listed = CliRunner().invoke(app, ["trainee", "list"])
    assert listed.exit_code == 0, listed.output
    assert "2 finished sessions that could not be stored" in " ".join(listed.output.split())
    shown = CliRunner().invoke(app, ["trainee", "show", "T8804"])  # not in the new records
    said = " ".join(shown.output.split())
    assert f"a finished session that could not be stored when it ended {note}" in said, said
    assert "no trainee 'T8804'" in said and "T8805" not in said
    assert CliRunner().invoke(app, ["trainee", "new", "--pseudonym", "T8804"]).exit_code == 0
    stored = CliRunner().invoke(app, ["store", str(kept)])
    assert stored.exit_code == 0, stored.output
    shown = CliRunner().invoke(app, ["trainee", "show", "T8804"])
    assert shown.exit_code == 0 and "could not be stored" not in shown.output, shown.output


def test_a_demo_store_session_is_found_with_a_hint_and_an_id_in_both_stores_is_said(data):
    """``run`` without ``--trainee`` says "stored as session 1 for the demo store";
    ``rescore 1`` and ``report 1`` then said only "no session with id 1 in .../records.sqlite".
    Once session 1 exists in both stores, the trainee records' is used: said, not silent."""
    runner = CliRunner()
    ran = runner.invoke(app, ["run", "needle-handover", "--seed", "5103", "--no-snapshots"])
    assert ran.exit_code == 0 and "for the demo store" in ran.output, ran.output
    for args in (["rescore", "1"], ["report", "1"]):
        out = runner.invoke(app, args)
        said = " ".join(out.output.split())
        assert out.exit_code == 2, out.output
        assert "no session with id 1 in the trainee records" in said
        assert "the demo store" in said and "add --demo" in said
    assert runner.invoke(app, ["rescore", "1", "--demo"]).exit_code == 0

    args = ["run", "needle-handover", "--seed", "5104", "--no-snapshots", "--trainee", "T5104"]
    ran = runner.invoke(app, args)
    assert ran.exit_code == 0, ran.output
    for args in (["rescore", "1"], ["report", "1"]):
        out = runner.invoke(app, args)
        said = " ".join(out.output.split())
        assert out.exit_code == 0, out.output
        assert "note: session 1 of the trainee records" in said
        assert "the demo store has a session 1 too: add --demo for that one" in said
    said = " ".join(runner.invoke(app, ["rescore", "1", "--demo"]).output.split())
    assert "the demo store has a session 1 too" not in said


def test_an_orphan_stored_by_another_store_meanwhile_is_not_an_error(data, monkeypatch):
    """Two ``store --orphans`` at once: the one that lists a checkpoint the other then
    stores (and removes) says so and succeeds, instead of "cannot read the run
    information ... No such file or directory" and exit code 2."""
    import scenarios.checkpoint as checkpoint

    db = f"sqlite:///{data / 'a.sqlite'}"
    _orphan("T719", db)
    _orphan("T720", db)
    listing = checkpoint.orphans

    def listed_then_taken(directory):
        found = listing(directory)
        for trace in found[:1]:  # the other process stores the first one meanwhile
            trace.unlink()
            trace.with_suffix(".json").unlink()
        return found

    monkeypatch.setattr(checkpoint, "orphans", listed_then_taken)
    out = CliRunner().invoke(app, ["store", "--orphans"])
    assert out.exit_code == 0, out.output
    said = " ".join(out.output.split())
    assert "stored or removed meanwhile by another process" in said
    assert "cannot read" not in said and _pseudonyms(open_records(db)) == ["T720"]


def test_a_checkpoint_gone_while_orphans_are_listed_is_left_out(data):
    """The listing sorts by each checkpoint's time: one removed between finding and
    reading its time (another ``store --orphans``) is skipped, not an error."""
    from scenarios.checkpoint import orphans

    _orphan("T721", None)
    folder = store_dir("records") / IN_PROGRESS

    class WithAGhost(type(folder)):
        def glob(self, pattern):
            yield self / "gone-meanwhile.npz"
            yield from super().glob(pattern)

    [found] = orphans(WithAGhost(folder))
    assert found.name != "gone-meanwhile.npz" and found.exists()
