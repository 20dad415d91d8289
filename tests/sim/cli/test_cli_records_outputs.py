"""The records side of ``surgisim run`` and the records commands, as a probe found them:
storage failures that lost a passing result, a checkpoint that ended a session, files
that ``trainee forget`` left behind, output paths checked too late, and a trainee with no
sessions taken for an error.

The runs are the short needle-handover scenario, in process (CliRunner), each with its own
data directory; the unwritable folders are real (``chattr +i``, ``/proc``, a file in the
way), with a hook only to choose the moment.
"""

from __future__ import annotations

import contextlib
import errno
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import scenarios.archive
from scenarios.records import Records
from sim.cli import app

SCENARIO = "needle-handover"
TRAINEE = "swift-otter-1234"
RUN = ("run", SCENARIO, "--trainee", TRAINEE)
runner = CliRunner()


def _records(data: Path) -> Records:
    return Records(f"sqlite:///{data / 'records.sqlite'}")


def _chattr_works(tmp_path: Path) -> bool:
    probe = tmp_path / "chattr-probe"
    probe.mkdir()
    try:
        ok = subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False
    subprocess.run(["chattr", "-i", str(probe)], capture_output=True)
    return ok


@contextlib.contextmanager
def _immutable(path: Path):
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


# ---- 3a: a storage failure keeps the finished session and shows the score -----------------
def test_an_unwritable_data_directory_keeps_the_session_and_shows_the_score(
    tmp_path, data, monkeypatch
):
    """Issue: the data directory made unwritable near the end of a run: 'unexpected
    PermissionError', no score, only an older checkpoint left (stored later as FAIL 0)."""
    if not _chattr_works(tmp_path):
        pytest.skip("chattr +i is not permitted here")
    original = scenarios.archive.store_session
    locked = []

    def store_when_locked(*args, **kwargs):  # the moment: just before storing
        subprocess.run(["chattr", "+i", str(data)], check=True)
        locked.append(data)
        return original(*args, **kwargs)

    monkeypatch.setattr(scenarios.archive, "store_session", store_when_locked)
    try:
        out = runner.invoke(app, ["run", SCENARIO, "--trainee", TRAINEE, "--seed", "3"])
    finally:
        for path in locked:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    text = out.output
    assert out.exit_code == 2, text
    assert "unexpected" not in text and "please report" not in text
    verdict = re.search(r"(PASS|FAIL) - ", text)
    assert verdict and "simulated" in text  # the score came first
    command = re.search(r"surgisim store (\S+\.npz)", text)
    assert command, text
    kept = Path(command.group(1))
    assert kept.is_relative_to(tmp_path / "tmp")  # unstored/ in the data dir was refused
    assert kept.exists() and kept.with_suffix(".json").exists()
    assert not list((data / "in-progress").glob("*.npz"))  # no stale checkpoint left
    monkeypatch.setattr(scenarios.archive, "store_session", original)
    stored = runner.invoke(app, ["store", str(kept)])
    assert stored.exit_code == 0 and "as session 1" in stored.output, stored.output
    row = _records(data).session(1)
    assert row.ending != "crashed" and row.sim_time_s > 5.0
    assert ("PASS" if row.original_score.passed else "FAIL") == verdict.group(1)


# ---- 3b, 5: a checkpoint that cannot be written; what forget removes ----------------------
def test_a_full_disk_for_checkpoints_does_not_end_the_session_and_forget_removes_outputs(
    tmp_path, data, monkeypatch, caplog
):
    """Issues: a checkpoint on a full disk ended the session ('unexpected OSError: [Errno
    28]'); ``trainee forget`` left the run's --json and --record files behind."""
    from scenarios.trace import SessionTrace

    original = SessionTrace.save

    def full_for_checkpoints(self, path, *, compress=True):
        if "in-progress" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return original(self, path, compress=compress)

    monkeypatch.setattr(SessionTrace, "save", full_for_checkpoints)
    result_json = tmp_path / "out" / "result.json"
    recording = tmp_path / "out" / "hands.mcap"
    out = runner.invoke(
        app,
        [*RUN, "--seed", "4", "--json", str(result_json), "--record", str(recording)],
    )
    assert out.exit_code == 0, out.output
    # warned once (a logging warning: on stderr where logging is not set up, as in the CLI)
    warned = [r.message for r in caplog.records if "checkpoint cannot be written" in r.message]
    assert len(warned) == 1 and "No space left on device" in warned[0]
    assert "stored as session 1" in out.output
    assert result_json.exists() and recording.exists()
    forget = runner.invoke(app, ["trainee", "forget", TRAINEE, "--yes"])
    assert forget.exit_code == 0, forget.output
    assert not result_json.exists() and not recording.exists()


# ---- 7: an output that fails after storing says the session is stored ----------------------
def test_a_report_that_fails_after_storing_says_the_session_is_stored(tmp_path, data, monkeypatch):
    if not _chattr_works(tmp_path):
        pytest.skip("chattr +i is not permitted here")
    folder = tmp_path / "reports"
    folder.mkdir()
    original = scenarios.archive.store_session
    locked = []

    def store_then_lock(*args, **kwargs):  # the folder passed the check; it fails later
        sid = original(*args, **kwargs)
        subprocess.run(["chattr", "+i", str(folder)], check=True)
        locked.append(folder)
        return sid

    monkeypatch.setattr(scenarios.archive, "store_session", store_then_lock)
    try:
        out = runner.invoke(
            app,
            [*RUN, "--seed", "5", "--report", str(folder / "r.html")],
        )
    finally:
        for path in locked:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    assert out.exit_code == 2, out.output
    assert "unexpected" not in out.output
    assert f"the session is stored (session 1 for trainee '{TRAINEE}')" in out.output
    assert "--report" in out.output and "surgisim report 1 --out" in out.output
    assert re.search(r"(PASS|FAIL) - ", out.output)  # and the score was shown
    assert len(_records(data).sessions(TRAINEE)) == 1


def test_an_output_under_proc_is_refused_before_the_run(tmp_path, data):
    out = runner.invoke(app, ["run", SCENARIO, "--trainee", TRAINEE, "--report", "/proc/x.html"])
    assert out.exit_code == 2 and "cannot be written" in out.output, out.output
    assert "choose another path" in out.output and "sim " not in out.output
    assert not (data / "records.sqlite").exists() or not _records(data).sessions()


# ---- 6: a trainee with no sessions yet ------------------------------------------------------
def test_trainee_show_of_a_new_trainee_is_not_an_error(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    pseudonym = runner.invoke(app, ["trainee", "new", "--db", db]).output.strip()
    out = runner.invoke(app, ["trainee", "show", pseudonym, "--db", db])
    assert out.exit_code == 0, out.output
    assert "no sessions yet" in out.output and "error" not in out.output


# ---- 7: every output option of the records commands is checked before any work -------------
def _stored(tmp_path) -> str:
    from tests.scenarios.stored import store_mini_session

    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    store_mini_session(Records(db), "T042", tmp_path / "traces")
    return db


@pytest.mark.parametrize(
    "command",
    [
        ["report", "1", "--out", "{bad}"],
        ["report", "1", "--out", "{ok}", "--json", "{bad}"],
        ["trainee", "show", "T042", "--html", "{bad}"],
        ["trainee", "show", "T042", "--html", "{ok}", "--csv", "{bad}"],
    ],
)
@pytest.mark.parametrize("where", ["file_as_parent", "proc", "immutable"])
def test_unwritable_outputs_of_records_commands_are_refused_up_front(tmp_path, command, where):
    db = _stored(tmp_path)
    if where == "file_as_parent":
        (tmp_path / "afile").write_text("x")
        bad = tmp_path / "afile" / "out.html"
    elif where == "proc":
        bad = Path("/proc/out.html")
    else:
        if not _chattr_works(tmp_path):
            pytest.skip("chattr +i is not permitted here")
        (tmp_path / "rodir").mkdir()
        bad = tmp_path / "rodir" / "out.html"
    ok = tmp_path / "ok.html"
    args = [a.replace("{bad}", str(bad)).replace("{ok}", str(ok)) for a in command]
    with _immutable(tmp_path / "rodir") if where == "immutable" else contextlib.nullcontext():
        out = runner.invoke(app, [*args, "--db", db])
    assert out.exit_code == 2, out.output
    assert "unexpected" not in out.output and "choose another path" in out.output, out.output
    assert not ok.exists()  # nothing written before the refusal
    shutil.rmtree(tmp_path / "traces", ignore_errors=True)


@pytest.mark.parametrize(
    "command",
    [
        ["render", "ring-walk", "--out"],
        ["sweep", "ring-walk", "--seeds", "0", "--serial", "--out"],
    ],
)
def test_render_and_sweep_refuse_an_unwritable_output_before_running(tmp_path, command):
    """Both ran first (a render's simulation, a sweep's jobs), then failed with a
    traceback on a path under a file."""
    blocker = tmp_path / "afile"
    blocker.write_text("")
    result = CliRunner().invoke(app, [*command, str(blocker / "out.png")])
    assert result.exit_code == 2, result.output
    assert "choose another path" in " ".join(result.output.split())
    assert not list(tmp_path.glob("*.jsonl"))  # no sweep job ran


# ---- 8: an output never replaces one of the user's inputs -----------------------------------
@pytest.mark.parametrize(
    ("command", "victim"),
    [
        (["report", "1", "--out", "{v}"], "class-variant.yaml"),
        (["report", "1", "--json", "{v}"], "keys/MTMR.key_secret"),
        (["trainee", "show", "T042", "--csv", "{v}"], "victim.yml"),
        (["trainee", "show", "T042", "--html", "{v}"], "session.MCAP"),
    ],
)
def test_an_output_naming_an_existing_input_file_is_refused_and_the_file_kept(
    tmp_path, command, victim
):
    """A probe instructor's `report 6 --out class-variant.yaml` replaced the scenario with
    an HTML report (exit 0); `trainee show --csv victim.yaml` did the same."""
    db = _stored(tmp_path)
    path = tmp_path / victim
    path.parent.mkdir(exist_ok=True)
    path.write_text("schema_version: 1\n")
    args = [a.replace("{v}", str(path)) for a in command]
    out = runner.invoke(app, [*args, "--db", db])
    assert out.exit_code == 2, out.output
    assert "is an existing" in out.output and "choose another path" in out.output, out.output
    assert path.read_text() == "schema_version: 1\n"
    fresh = tmp_path / "fresh.yaml"  # a new file of such a name replaces nothing: written
    args = [a.replace("{v}", str(fresh)) for a in command]
    assert runner.invoke(app, [*args, "--db", db]).exit_code == 0
    assert fresh.exists()
    shutil.rmtree(tmp_path / "traces", ignore_errors=True)


def test_a_recording_may_be_rewritten_by_record_with_overwrite_only(tmp_path):
    from sim.cli.checks import checked_output
    from sim.errors import SimError

    path = tmp_path / "s.mcap"
    path.write_bytes(b"\x89MCAP0\r\n")
    assert checked_output(path, "--record", own_suffix=".mcap") == path
    with pytest.raises(SimError, match="existing recording file"):
        checked_output(path, "--json")


@pytest.mark.parametrize(
    ("command", "first", "second"),
    [
        (["run", SCENARIO, "--no-store", "--record", "{p}", "--json", "{p}"], "--record", "--json"),
        (
            [
                "run",
                SCENARIO,
                "--trainee",
                "T042",
                "--db",
                "{db}",
                "--report",
                "{p}",
                "--json",
                "{p}",
            ],
            "--json",
            "--report",
        ),
        (["trainee", "show", "T042", "--html", "{p}", "--csv", "{p}"], "--html", "--csv"),
        (["report", "1", "--out", "{p}", "--json", "{p}"], "--out", "--json"),
        (["trainee", "class", "--html", "{p}", "--csv", "{p}"], "--html", "--csv"),
    ],
)
def test_two_outputs_naming_one_file_are_refused_before_any_work(tmp_path, command, first, second):
    """`run --record same.mcap --json same.mcap` left JSON where the recording was."""
    db = _stored(tmp_path)
    same = tmp_path / "same.out"
    args = [a.replace("{p}", str(same)).replace("{db}", db) for a in command]
    if args[0] != "run":
        args += ["--db", db]
    out = runner.invoke(app, args)
    assert out.exit_code == 2, out.output
    said = " ".join(out.output.split())
    assert f"{first} and {second} both name" in said and "a file of its own" in said
    assert not same.exists()


def test_a_stop_that_comes_while_a_finished_session_is_stored_waits_for_its_score(
    tmp_path, data, monkeypatch
):
    """SIGTERM just after the session ended: the session was stored, but the command
    ended with "terminated (SIGTERM)" alone: no score, no "stored as session N", no
    --json or --report. The stop now waits for them. And the command then ends as the
    session did (exit 0: it ran to its end and is stored as completed), saying the stop
    came too late: it exited 143 with "error: terminated", which a supervisor read as a
    stopped run about a session stored as completed."""
    import json
    import os
    import signal

    original = scenarios.archive.store_session

    def store_after_a_sigterm(*args, **kwargs):  # the moment: just before storing
        os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    monkeypatch.setattr(scenarios.archive, "store_session", store_after_a_sigterm)
    result, report = tmp_path / "r.json", tmp_path / "r.html"
    out = runner.invoke(
        app, [*RUN, "--seed", "1410", "--json", str(result), "--report", str(report)]
    )
    text = " ".join(out.output.split())
    assert out.exit_code == 0, text
    assert "stopping once it is stored and its score is shown" in text
    assert "SIGTERM came after the session had ended: it is already stored" in text
    assert "terminated" not in text
    assert "stored as session 1" in text and re.search(r"(PASS|FAIL) - ", text)
    assert json.loads(result.read_text())["session_id"] == 1 and report.exists()
    assert _records(data).session(1).ending == "completed"  # it had ended: not "stopped"


def test_a_result_that_could_not_be_stored_is_still_written_to_json(tmp_path, data, monkeypatch):
    """A full data directory: the session is kept for `surgisim store`, and --json (on a
    disk with room) has the result, with no session id (it was not written at all)."""
    import json

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(scenarios.archive, "store_session", full)
    result = tmp_path / "r.json"
    out = runner.invoke(app, [*RUN, "--seed", "1411", "--json", str(result)])
    assert out.exit_code == 2, out.output
    assert "surgisim store" in out.output
    written = json.loads(result.read_text())
    assert written["session_id"] is None and "score" in written and "metrics" in written


def test_run_refuses_a_report_it_would_not_write_with_no_store(tmp_path):
    """`run --no-store --report r.html` exited 0 and wrote no report, without a word."""
    args = ["run", SCENARIO, "--no-store", "--report", str(tmp_path / "r.html")]
    out = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert out.exit_code == 2, out.output
    assert "with --no-store nothing is stored, so no report is written" in " ".join(
        out.output.split()
    )
    assert not (tmp_path / "r.html").exists()


def test_folders_an_output_needs_are_created_owner_only(tmp_path):
    """``--record out/new/x.mcap`` made ``out/new`` readable by everyone (0755), though
    what goes in it is a trainee's data and README says such folders are 0700."""
    import os
    import stat

    from sim.cli.checks import checked_output

    old = os.umask(0o022)
    try:
        checked_output(tmp_path / "out" / "new" / "x.mcap", "--record")
    finally:
        os.umask(old)
    for folder in (tmp_path / "out", tmp_path / "out" / "new"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_store_of_a_recording_says_it_is_replayed_and_how_to_store_its_session(tmp_path):
    from sim.cli import app as cli

    partial = tmp_path / "kill.mcap.partial"
    partial.write_bytes(b"\x89MCAP0\r\n")
    out = CliRunner().invoke(cli, ["store", str(partial)])
    assert out.exit_code == 2
    said = " ".join(out.output.split())
    assert "is a recording, not a session to store" in said and "store --orphans" in said
