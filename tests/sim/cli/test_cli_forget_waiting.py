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


def test_store_refuses_a_live_runs_checkpoint_and_does_not_remove_it(data):
    """Report R, finding 3: ``store FILE`` stored a live run's checkpoint as a crash (the
    run's finished session was then refused as already stored), and ``--discard`` removed
    it without a word."""
    run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        live = _checkpoint("T816", pid=run.pid)
        for extra in ([], ["--discard"]):
            out = CliRunner().invoke(app, ["store", str(live.trace_path), *extra])
            assert out.exit_code == 2, out.output
            said = _said(out)
            assert f"a run is still writing it: PID {run.pid}" in said
            assert "stores its own session when it ends" in said
            assert live.trace_path.exists() and live.info_path.exists()
        assert Records().sessions() == []
    finally:
        run.kill()
        run.wait(30)


@pytest.mark.parametrize("when", ["before_report", "before_json"])
def test_a_forced_forget_after_the_store_leaves_no_output_and_no_false_advice(
    data, monkeypatch, when
):
    """Report R, finding 4: ``forget --force`` landed between the run's store and its
    outputs: the run left its ``--json`` (a session the records no longer knew) and
    advised ``surgisim report N`` for a session that was gone."""
    import scenarios.archive

    name = "store_session" if when == "before_report" else "write_session_report"
    original = getattr(scenarios.archive, name)

    def then_forget(*args, **kwargs):
        done = original(*args, **kwargs)
        Records().forget("T817", force=True)
        return done

    monkeypatch.setattr(scenarios.archive, name, then_forget)
    Records().register_trainee("T817")
    out_json = data / f"{when}.json"
    run = ["run", "needle-handover", "--trainee", "T817", "--no-snapshots"]
    out = CliRunner().invoke(app, [*run, "--json", str(out_json)])
    assert out.exit_code == 2, out.output
    said = _said(out)
    assert "session 1 was stored, then trainee 'T817' was forgotten" in said
    assert "surgisim report" not in said
    assert not out_json.exists()
    assert Records().find_trainee("T817") is None and Records().sessions() == []


def test_forget_force_takes_a_pseudonym_known_only_to_a_live_run(data):
    """Report R, finding 7 without --record: a pseudonym new to its run has no row and
    only the live run's checkpoint; ``forget --force`` said "no trainee" and the run then
    stored them. Now it forgets them, and the run's session is refused."""
    from scenarios.archive import store_kept
    from scenarios.records import TraineeForgottenError

    run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        info = RunInfo("mini", VALID, 1, "expert", "T818", pid=run.pid)  # new to the run
        live = Checkpoint(store_dir("records") / IN_PROGRESS, info)
        live.save(_trace(), 9.5)
        forced = CliRunner().invoke(app, ["trainee", "forget", "T818", "--yes", "--force"])
        assert forced.exit_code == 0, forced.output
        assert f"(the run PID {run.pid} still writes it: the run then does not store" in _said(
            forced
        )
        live.save(_trace(), 12.0)  # the run goes on
        with pytest.raises(TraineeForgottenError):
            store_kept(Records(), live.trace_path)
        assert Records().find_trainee("T818") is None
    finally:
        run.kill()
        run.wait(30)


def test_a_run_whose_trainee_is_forgotten_on_a_clock_behind_its_own_does_not_store(data):
    """Report T, finding 1, as reproduced there: ``run`` of a pseudonym new to it, then
    ``trainee forget --force`` by a process whose clock is 5 minutes behind the run's,
    then the run is stopped: it stored the session and the trainee was back. The run
    keeps the records' forget count it read at its start in its checkpoint, and that
    count, not the two clocks, says the forget came after."""
    import signal
    import time

    records = Records()
    records.register_trainee("T8300")
    records.forget("T8300")  # the records have had one forget before the run
    command = [sys.executable, "-m", "sim.cli", "run", "peg-transfer", "--seed", "8301",
               "--trainee", "T8301", "--no-snapshots"]  # fmt: skip
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        folder, deadline = store_dir("records") / IN_PROGRESS, time.monotonic() + 240
        while not list(folder.glob("*.json")):
            assert run.poll() is None and time.monotonic() < deadline, "no checkpoint"
            time.sleep(0.1)
        (written,) = folder.glob("*.json")
        assert RunInfo.load(written).forget_count == 1
        real = time.time
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(time, "time", lambda: real() - 300.0)  # forget's clock behind
            Records().forget("T8301", force=True)
        run.send_signal(signal.SIGTERM)
        said = " ".join(run.communicate(timeout=240)[0].split())
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(30)
    assert "they were forgotten (surgisim trainee forget) after this run started" in said, said
    assert Records().find_trainee("T8301") is None and Records().sessions() == []
