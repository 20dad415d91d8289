"""``surgisim run`` never loses a session and never shows a traceback (issue 15's cases).

Runs the real command in subprocesses (so signals are real) on the short needle-handover
scenario, each with its own data directory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scenarios.records import Records
from sim.cli import app

SCENARIO = "needle-handover"


def _env(tmp_path: Path) -> dict:
    return {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "COLUMNS": "200"}


def _surgisim(tmp_path: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=timeout,
    )


def _store_dir(tmp_path: Path, store: str) -> Path:
    """Where a store keeps its files (``scenarios.paths.store_dir`` under this test's data
    directory): the data directory itself for trainee records, ``demo/`` for demos."""
    root = tmp_path / "data" / "surgisim"
    return root if store == "records" else root / store


def _records(tmp_path: Path) -> Records:
    return Records(f"sqlite:///{tmp_path / 'data' / 'surgisim' / 'records.sqlite'}")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--trainee", "Jane Doe"], "never a name"),
        (["--trainee", "John_Smith"], "--allow-name"),
        (["--trainee", "<script>alert(1)</script>"], "pseudonym"),
        (["--seed", "99999999999999999999999"], "2**63"),
        (["--seed", "-1"], "greater than or equal to 0"),
        (["--operator", "nobody"], "operators are"),
        (["--db", "sqlite:///{tmp}"], "directory"),
        (["--json", "{tmp}"], "directory"),
    ],
)
def test_bad_inputs_are_refused_before_the_simulation_in_one_line(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    start = time.monotonic()
    out = _surgisim(tmp_path, "run", SCENARIO, *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert "sim " not in out.stdout  # no simulation ran: refused up front
    assert time.monotonic() - start < 120
    # nothing left behind
    for store in ("records", "demo"):
        assert not list(_store_dir(tmp_path, store).glob("**/*.npz"))


def test_read_only_database_is_refused_before_the_run(tmp_path):
    db = tmp_path / "ro.sqlite"
    Records(f"sqlite:///{db}")
    out = _surgisim(tmp_path, "run", SCENARIO, "--db", f"sqlite:///file:{db}?mode=ro&uri=true")
    assert out.returncode == 2 and "read-only" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def _wait_for_checkpoint(tmp_path: Path, store: str, proc, min_sim_s: float) -> dict:
    folder = _store_dir(tmp_path, store) / "in-progress"
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for info in folder.glob("*.json"):
            try:
                data = json.loads(info.read_text())
            except ValueError:
                continue
            if data["sim_time_s"] >= min_sim_s:
                return data
        time.sleep(0.2)
    raise AssertionError("no checkpoint was written")


def test_ctrl_c_stores_the_session_as_incomplete(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "run", SCENARIO, "--trainee", "swift-otter-1234"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_checkpoint(tmp_path, "records", proc, 0.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "stored as session 1" in stdout
    # the trainee's first session: needle-handover's prerequisite is said, not enforced
    assert "has not done peg-transfer (not attempted yet)" in " ".join(stdout.split())
    # and a pseudonym new to the records is said to be one (a wrong one split a history)
    assert "first session for trainee 'swift-otter-1234': a new trainee" in " ".join(stdout.split())
    row = _records(tmp_path).session(1)
    assert not row.completed and row.trainee.pseudonym == "swift-otter-1234"
    assert row.ending == "stopped"
    assert not list((_store_dir(tmp_path, "records") / "in-progress").glob("*"))


def test_sigterm_stores_the_session_and_closes_the_recording(tmp_path):
    """What kill, systemd and docker send takes Ctrl-C's path: stored as incomplete, the
    MCAP recording closed and readable, exit code 143 (128 + SIGTERM)."""
    from sim.session.recording.reader import read_recording

    mcap = tmp_path / "run.mcap"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "run", SCENARIO, "--trainee", "swift-otter-1234",
         "--record", str(mcap), "--no-snapshots"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    _wait_for_checkpoint(tmp_path, "records", proc, 0.0)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, stdout + stderr
    assert "Traceback" not in stderr
    said = " ".join(stderr.split())
    assert "stopping: the session is stored as incomplete" in said
    # a second stop discards nothing (it said "abandon it"): it says what it does
    assert "SIGTERM again to stop at once: then surgisim store --orphans" in said
    assert "abandon" not in said
    assert "stored as session 1" in stdout
    # the trainee's first session: needle-handover's prerequisite is said, not enforced
    assert "has not done peg-transfer (not attempted yet)" in " ".join(stdout.split())
    # and a pseudonym new to the records is said to be one (a wrong one split a history)
    assert "first session for trainee 'swift-otter-1234': a new trainee" in " ".join(stdout.split())
    row = _records(tmp_path).session(1)
    assert not row.completed and row.trainee.pseudonym == "swift-otter-1234"
    assert not list((_store_dir(tmp_path, "records") / "in-progress").glob("*"))
    recording = read_recording(mcap)
    assert recording.commands and recording.score is not None


def test_kill_9_loses_at_most_the_checkpoint_interval(tmp_path):
    from scenarios.checkpoint import CHECKPOINT_EVERY_S

    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "run", SCENARIO, "--trainee", "swift-otter-1234"],
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen = _wait_for_checkpoint(tmp_path, "records", proc, CHECKPOINT_EVERY_S)
    proc.kill()
    proc.wait()
    # a backup of the in-progress files, as a careful user might make
    backup = tmp_path / "backup"
    shutil.copytree(_store_dir(tmp_path, "records") / "in-progress", backup)
    later = _surgisim(tmp_path, "run", SCENARIO, "--trainee", "swift-otter-1234", "--seed", "1")
    assert later.returncode == 0, later.stdout + later.stderr  # a session that started later
    hint = _surgisim(tmp_path, "store").stdout  # without --orphans: says what to run
    assert "1 session(s) waiting (left by a killed run" in hint, hint
    assert "surgisim store --orphans stores them" in hint, hint
    out = _surgisim(tmp_path, "store", "--orphans")
    assert out.returncode == 0 and "stored" in out.stdout, out.stdout + out.stderr
    assert "recovered after a crash" in out.stdout
    row = _records(tmp_path).session(2)
    assert not row.completed and row.ending == "crashed"
    # stored with the time it started, not the time it was stored: it comes first
    started = dt.datetime.fromtimestamp(seen["started_at"], dt.timezone.utc).replace(tzinfo=None)
    assert abs((row.started_at - started).total_seconds()) < 1e-3
    assert [r.id for r in _records(tmp_path).sessions("swift-otter-1234")] == [2, 1]
    # the stored session reaches at least the last checkpoint seen before the kill
    assert row.sim_time_s >= seen["sim_time_s"] >= CHECKPOINT_EVERY_S
    assert _surgisim(tmp_path, "store", "--orphans").stdout.startswith("nothing to store")
    # the backup is the same session: refused, not a second attempt
    [copy] = backup.glob("*.npz")
    again = _surgisim(tmp_path, "store", str(copy))
    assert again.returncode == 2 and "already stored as session 2" in again.stderr, again.stderr
    assert len(_records(tmp_path).sessions()) == 2
    # the same copy left among the orphans (two `store --orphans` at once leave one): it
    # is ours and stored, so it goes, and the command succeeds
    in_progress = _store_dir(tmp_path, "records") / "in-progress"
    shutil.copy(copy, in_progress / copy.name)
    shutil.copy(copy.with_suffix(".json"), in_progress / copy.with_suffix(".json").name)
    again = _surgisim(tmp_path, "store", "--orphans")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already stored as session 2; removed this leftover copy" in " ".join(
        again.stdout.split()
    )
    assert not list(in_progress.glob("*.npz")) and len(_records(tmp_path).sessions()) == 2
    show = _surgisim(tmp_path, "trainee", "show", "swift-otter-1234")
    assert "FAIL (recovered after a crash)" in show.stdout, show.stdout
    assert "1 (+1 not counted)" in show.stdout


def test_forget_removes_the_recording_a_killed_run_left_once_its_session_is_stored(tmp_path):
    """A run killed while recording leaves ``FILE.mcap.partial``; stored by ``store
    --orphans``, its session did not know the file, and ``trainee forget`` left the
    trainee's hand motion on disk. The run's outputs now go with its run information."""
    from scenarios.checkpoint import CHECKPOINT_EVERY_S
    from sim.view.snapshots import video_partial_path

    mcap, out = tmp_path / "rec" / "hand.mcap", tmp_path / "rec" / "result.json"
    video = tmp_path / "rec" / "view.mp4"  # a killed run's half-written video goes too
    outputs = ["--record", str(mcap), "--json", str(out), "--video", str(video)]
    outputs += ["--no-snapshots"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "run", SCENARIO, "--trainee", "T705", *outputs],
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen = _wait_for_checkpoint(tmp_path, "records", proc, CHECKPOINT_EVERY_S)
    assert str(mcap.resolve()) == seen["outputs"]["recording"]
    proc.kill()
    proc.wait()
    partial = mcap.with_name(mcap.name + ".partial")
    assert partial.exists() and not mcap.exists() and not out.exists()
    assert seen["outputs"]["video_partial"] == str(video_partial_path(video).resolve())
    assert video_partial_path(video).exists() and not video.exists()
    again = _surgisim(tmp_path, "run", SCENARIO, "--no-store", "--video", str(video))
    assert again.returncode == 2 and "half-written" in again.stderr, again.stderr
    stored = _surgisim(tmp_path, "store", "--orphans")
    assert stored.returncode == 0, stored.stdout + stored.stderr
    gone = _surgisim(tmp_path, "trainee", "forget", "T705", "--yes")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert not partial.exists() and not video_partial_path(video).exists()
    # the outputs it never wrote are not reported as "already gone"
    assert "already gone" not in gone.stdout, gone.stdout


def test_a_failed_store_keeps_the_trace_and_says_how_to_store_it(tmp_path, monkeypatch):
    import scenarios.archive
    from scenarios.errors import ScenarioError

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    def broken(*args, **kwargs):
        raise ScenarioError("cannot write to records database: disk full")

    monkeypatch.setattr(scenarios.archive, "store_session", broken)
    result = CliRunner().invoke(app, ["run", SCENARIO, "--seed", "2"])
    assert result.exit_code == 2, result.output
    assert "disk full" in result.output and "surgisim store" in result.output
    kept = list((_store_dir(tmp_path, "demo") / "unstored").glob("*.npz"))
    assert len(kept) == 1 and kept[0].with_suffix(".json").exists()
    # the endoscope snapshots are kept with it (or the note saying why there are none)
    pictures = scenarios.archive.snapshots_path(kept[0])
    assert pictures.exists()
    kept_shots = scenarios.archive.load_snapshots(pictures)
    monkeypatch.undo()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    stored = CliRunner().invoke(app, ["store", str(kept[0])])
    assert stored.exit_code == 0 and "as session 1" in stored.output, stored.output
    assert not kept[0].exists() and not pictures.exists()
    # ... and come into the records with the session (its report shows them)
    row = Records(store="demo").session(1)
    assert (
        scenarios.archive.load_snapshots(scenarios.archive.snapshots_path(row.trace_path))
        == kept_shots
    )


def test_a_data_directory_deleted_during_the_run_keeps_the_session(tmp_path, monkeypatch):
    """An outsider's case: the data directory deleted while a run was live. The session
    went into the deleted database through the run's open connection, the run said
    "stored as session 1", exit 0, and nothing was kept anywhere."""
    import scenarios.archive

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    original = scenarios.archive.store_session

    def deleted_first(records, **kwargs):
        shutil.rmtree(tmp_path / "data")
        return original(records, **kwargs)

    monkeypatch.setattr(scenarios.archive, "store_session", deleted_first)
    result = CliRunner().invoke(app, ["run", "camera-targeting", "--seed", "3"])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "stored as session" not in text and "since this command opened it" in text, text
    kept = list((_store_dir(tmp_path, "demo") / "unstored").glob("*.npz"))
    assert len(kept) == 1 and f"surgisim store {kept[0]}" in text
    monkeypatch.undo()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    stored = CliRunner().invoke(app, ["store", str(kept[0])])
    assert stored.exit_code == 0 and "as session 1" in stored.output, stored.output
