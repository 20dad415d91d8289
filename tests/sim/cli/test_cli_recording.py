"""``surgisim run --record``: one run per file, a file that appears whole, a recording
kept through Ctrl-C, a kill or a failure, and ``replay`` reading what a killed run left.

The signal cases run the real command in subprocesses (so signals are real); the others
run in-process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from sim.cli import app
from sim.session.recording import read_recording
from tests.waiting import wait_for

runner = CliRunner()
#: Long enough (about 25 s simulated) for a signal to land mid-run.
LONG = ["camera-targeting", "--operator", "novice", "--seed", "504"]


def partial_path(target: Path) -> Path:
    """Where a run records to ``target`` until the session ends (as the README says)."""
    return target.with_name(target.name + ".partial")


def _text(result) -> str:
    return " ".join(result.output.split())


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "run", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_size(proc: subprocess.Popen, path: Path, size: int) -> None:
    """Until ``path`` holds ``size`` bytes (a few blocks of messages) while ``proc`` runs."""

    def grown() -> bool:
        return path.exists() and path.stat().st_size >= size

    assert wait_for(grown, timeout_s=400, alive=lambda: proc.poll() is None), (
        proc.communicate() if proc.poll() is not None else f"{path} did not grow"
    )


def test_a_file_another_run_is_recording_to_is_refused_before_the_run(tmp_path):
    from sim.session.recording.partial import PartialRecording

    target = tmp_path / "same.mcap"
    live = PartialRecording(target)  # as a run that is recording to it holds it
    try:
        out = runner.invoke(
            app, ["run", "needle-handover", "--no-store", "--record", str(target), "--overwrite"]
        )
    finally:
        live.abandon()
    text = _text(out)
    assert out.exit_code == 2, out.output
    assert f"error: another run is recording to {target} right now" in text
    assert "sim " not in text  # refused before the simulation
    assert not target.exists()


def test_an_existing_recording_is_replaced_only_with_overwrite(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    target = tmp_path / "out.mcap"
    target.write_bytes(b"an earlier recording")
    args = ["run", "needle-handover", "--no-store", "--record", str(target)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2, refused.output
    assert f"error: {target} exists; give --overwrite" in _text(refused)
    assert "sim " not in _text(refused)
    assert target.read_bytes() == b"an earlier recording"
    assert not partial_path(target).exists()
    json_path = tmp_path / "out.json"
    done = runner.invoke(app, [*args, "--overwrite", "--json", str(json_path)])
    assert done.exit_code == 0, done.output
    assert f"recording: {target}" in _text(done)
    assert f'"recording": "{target}"' in json_path.read_text()
    rec = read_recording(target)
    assert rec.cut_short is None and rec.score["completed"]
    assert not partial_path(target).exists()


def test_ctrl_c_still_leaves_a_whole_recording(tmp_path):
    target = tmp_path / "stopped.mcap"
    proc = _start(tmp_path, *LONG, "--no-store", "--record", str(target))
    _wait_for_size(proc, partial_path(target), 300_000)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stdout + stderr
    assert f"recording: {target} (stopped before the end)" in " ".join(stdout.split())
    # nothing is stored with --no-store: it said "the session is stored as incomplete"
    said = " ".join((stdout + stderr).split())
    assert "stopping: the session is scored as incomplete, not stored (--no-store)" in said
    rec = read_recording(target)
    assert rec.cut_short is None and rec.score is not None and not rec.score["completed"]
    assert not partial_path(target).exists()


def test_a_killed_run_leaves_a_partial_recording_that_replay_reads(tmp_path):
    target = tmp_path / "killed.mcap"
    partial = partial_path(target)
    proc = _start(tmp_path, *LONG, "--no-store", "--record", str(target))
    _wait_for_size(proc, partial, 300_000)
    proc.kill()
    proc.communicate()
    assert partial.exists() and not target.exists()
    # the recording asked for points at what the run left
    missing = runner.invoke(app, ["replay", str(target)])
    assert missing.exit_code == 2
    assert f"surgisim replay {partial} replays what it holds" in _text(missing)
    # which replays, exactly, as far as it goes
    replayed = runner.invoke(app, ["replay", str(partial)])
    text = _text(replayed)
    assert replayed.exit_code == 0, replayed.output
    how = "killed, or its disk filled (the run then said so),"
    assert f"note: {partial} is unfinished: a run was {how} while recording to {target}" in text
    assert "0 m" in text
    # it has no score to re-score
    rescored = runner.invoke(app, ["rescore", "--recording", str(partial)])
    assert rescored.exit_code == 2 and "no score" in _text(rescored)
    # and it is not overwritten by the next run unless asked
    again = runner.invoke(app, ["run", "needle-handover", "--no-store", "--record", str(target)])
    assert again.exit_code == 2
    assert f"{partial} is the unfinished recording of an earlier run" in _text(again)


def test_a_run_that_fails_says_where_its_recording_so_far_is(tmp_path, monkeypatch):
    import sim.session.controllers as controllers

    class Failing(controllers.ScriptedController):
        acts = 1500

        def act(self, state):
            Failing.acts -= 1
            if Failing.acts < 0:
                raise RuntimeError("the controller failed")
            return super().act(state)

    monkeypatch.setattr(controllers, "ScriptedController", Failing)
    target = tmp_path / "failed.mcap"
    out = runner.invoke(app, ["run", "needle-handover", "--no-store", "--record", str(target)])
    text = _text(out)
    assert out.exit_code == 2, out.output
    assert "error: controller 'scripted-expert' raised RuntimeError" in text
    assert "the controller failed" in text
    assert f"the recording so far is kept in {partial_path(target)}" in text
    rec = read_recording(partial_path(target))
    assert "stopped by an error" in rec.cut_short and rec.tips


def test_a_partial_recording_removed_meanwhile_is_not_said_kept(tmp_path):
    """Report R, findings 2 and 7: ``trainee forget`` removed a live run's
    ``.mcap.partial``, and the run still said its recording was kept there; another
    program's file put there since must not be removed either."""
    from sim.session.recording.mcap_writer import McapRecorder

    for replaced in (False, True):
        target = tmp_path / f"gone-{replaced}.mcap"
        recorder = McapRecorder(target, scenario_text="name: x\n")
        recorder.claim()
        os.unlink(partial_path(target))  # what the forget did
        if replaced:
            partial_path(target).write_bytes(b"")  # another program's file since
        assert recorder.abandon() is None and recorder.removed
        assert f"its partial file {partial_path(target)} was removed" in recorder.not_kept()
        assert partial_path(target).exists() == replaced  # another's file is left alone


def test_replay_fails_a_turned_tip_says_why_and_refuses_bad_tolerances(tmp_path, monkeypatch):
    """A replay with the tips in place but turned 4° (a recording whose stored seed was
    changed) exited 0: only position counted. Exit 1 now says which difference is beyond
    its tolerance; a NaN or negative tolerance, or a trace suffix that cannot be written,
    is refused before anything is re-simulated."""
    import importlib

    from sim.session.recording.replay import ReplayResult

    # the module itself: the package exports its replay() function under the same name
    replay_module = importlib.import_module("sim.session.recording.replay")

    recording = tmp_path / "r.mcap"
    recording.write_bytes(b"")
    replays = []

    def turned(path):
        replays.append(path)
        return ReplayResult(120, 0.0, 0.0736, 100.0, 100.0)

    monkeypatch.setattr(replay_module, "replay", turned)
    out = CliRunner().invoke(app, ["replay", str(recording)])
    assert out.exit_code == 1, out.output
    assert "rotation 0.0736 rad > 1e-09 rad" in out.stderr and "position" not in out.stderr
    assert (
        CliRunner().invoke(app, ["replay", str(recording), "--tolerance-rad", "0.1"]).exit_code == 0
    )
    for bad in (["--tolerance-m", "nan"], ["--tolerance-rad", "-1"], ["--trace", "t.txt"]):
        refused = CliRunner().invoke(app, ["replay", str(recording), *bad])
        assert refused.exit_code == 2, (bad, refused.output)
    assert len(replays) == 2  # the refused ones re-simulated nothing


def test_a_recording_says_when_its_session_started(tmp_path, monkeypatch):
    """The messages' times are simulated nanoseconds from 0 (Foxglove shows 1970), and
    the metadata's ``created_utc`` is when the file was made, after the run's start-up:
    ``session_started_utc`` is the stored session's start."""
    import datetime as dt

    from scenarios.records import open_records

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    target = tmp_path / "out.mcap"
    args = ["run", "needle-handover", "--seed", "8400", "--no-snapshots", "--record", str(target)]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    started = dt.datetime.fromisoformat(read_recording(target).metadata["session_started_utc"])
    assert started.utcoffset() == dt.timedelta(0)
    (row,) = open_records(demo=True).sessions()
    assert started.replace(tzinfo=None) == row.started_at.replace(microsecond=0)
