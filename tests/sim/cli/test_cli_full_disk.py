"""A full disk under ``surgisim run``'s outputs and its data directory (an outside
tester's cases): a ``--record`` file that fills its disk must not end the session, and
a session kept in the fallback folder must be announced and found by ``store --orphans``
(by the data directory it belongs to, not by another sharing the folder).

Real needle-handover runs in process (CliRunner), each with its own data directory and
temporary folder; the full disk is a file wrapper (``tests.full_disk``), not a mount."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import scenarios.archive
from scenarios.errors import ScenarioError
from scenarios.records import Records
from sim.cli import app
from sim.session.recording.partial import PartialRecording
from tests.full_disk import FillsUp

SCENARIO = "needle-handover"
runner = CliRunner()


def test_a_full_disk_under_the_recording_stops_it_and_the_session_is_stored(
    tmp_path, data, monkeypatch, caplog
):
    """It ended the run ('unexpected OSError: [Errno 28]') and the session was lost."""
    opened = PartialRecording.open
    monkeypatch.setattr(PartialRecording, "open", lambda self: FillsUp(opened(self), 300_000))
    recording, result = tmp_path / "out" / "hands.mcap", tmp_path / "out" / "result.json"
    out = runner.invoke(
        app,
        [
            *("run", SCENARIO, "--trainee", "TN-4200", "--seed", "4200"),
            *("--record", str(recording), "--json", str(result)),
        ],
    )
    text = out.output
    assert "unexpected" not in text, text
    warned = [r.getMessage() for r in caplog.records if "recording" in r.getMessage()]
    assert len(warned) == 1 and "No space left on device" in warned[0], warned
    assert "stops here" in warned[0] and f"{recording}.partial" in warned[0]
    # the session went on to the end, was scored, stored and reported
    row = Records(f"sqlite:///{data / 'records.sqlite'}").session(1)
    assert row.ending == "completed" and ("PASS - " in text or "FAIL - " in text)
    # an output that failed after storing: exit code 2, saying the session is stored
    assert out.exit_code == 2, text
    assert "the session is stored (session 1 for 'TN-4200'), but --record" in text
    partial = Path(f"{recording}.partial")
    assert not recording.exists() and partial.stat().st_size > 0
    payload = json.loads(result.read_text())
    assert payload["session_id"] == 1 and payload["recording"] == str(partial)
    assert "No space left on device" in payload["recording_error"]


def _keep_in_fallback(data: Path, monkeypatch, seed: int, trainee: str) -> Path:
    """Run a session whose storing fails with its data directory's unstored/ in the way,
    so that it is kept in the fallback folder (as on a full data disk); its kept trace."""
    assert runner.invoke(app, ["trainee", "new", "--pseudonym", trainee]).exit_code == 0
    data.mkdir(parents=True, exist_ok=True)
    (data / "unstored").write_text("in the way")
    original = scenarios.archive.store_session

    def full(*args, **kwargs):
        raise ScenarioError("cannot write to records database: No space left on device")

    monkeypatch.setattr(scenarios.archive, "store_session", full)
    out = runner.invoke(app, ["run", SCENARIO, "--trainee", trainee, "--seed", str(seed)])
    monkeypatch.setattr(scenarios.archive, "store_session", original)
    (data / "unstored").unlink()
    assert out.exit_code == 2 and "its trace is kept at" in out.output, out.output
    kept = Path(out.output.split("its trace is kept at ")[1].split(". Once")[0])
    assert kept.exists() and "surgisim-" in kept.parent.name
    return kept


def test_a_session_kept_in_the_fallback_folder_is_announced_and_stored_by_orphans(
    tmp_path, data, monkeypatch
):
    """It was never mentioned again, and store --orphans said 'nothing to store'."""
    kept = _keep_in_fallback(data, monkeypatch, 4210, "TN-4210")
    for command in (["trainee", "list"], ["trainee", "show", "TN-4210"]):
        out = runner.invoke(app, command)
        assert "could not be stored" in out.output and "store --orphans" in out.output, (
            command,
            out.output,
        )
    # another data directory sharing the folder hears nothing and stores nothing of it
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "other"))
    assert "could not be stored" not in runner.invoke(app, ["trainee", "list"]).output
    out = runner.invoke(app, ["store", "--orphans"])
    assert out.exit_code == 0 and "another data directory" in out.output, out.output
    assert kept.exists()
    # its own data directory stores it
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    out = runner.invoke(app, ["store", "--orphans"])
    assert out.exit_code == 0 and "as session 1" in out.output, out.output
    assert not kept.exists()
    row = Records(f"sqlite:///{data / 'records.sqlite'}").session(1)
    assert row.ending != "crashed"


def test_a_video_that_cannot_be_written_stops_and_the_session_is_stored(
    tmp_path, data, monkeypatch, caplog
):
    """ffmpeg failing on a full disk was "--video: rendering failed": the run ended before
    storing (only a checkpoint was left). The video stops (deleted: a cut-off MP4 does
    not play), the session goes on and is stored, and the run exits 2 saying so."""
    from sim.view import snapshots
    from sim.view.snapshots import video_partial_path

    written = snapshots._Video.write

    def fills_up(self, rgb):
        if self.frames >= 20:  # ffmpeg died: imageio-ffmpeg reports a broken pipe
            raise OSError("[Errno 32] Broken pipe\n\nFFMPEG COMMAND:\nffmpeg ...")
        written(self, rgb)

    monkeypatch.setattr(snapshots._Video, "write", fills_up)
    video, result = tmp_path / "out" / "view.mp4", tmp_path / "out" / "result.json"
    args = ["run", SCENARIO, "--trainee", "TN-4201", "--seed", "4201", "--no-snapshots"]
    out = runner.invoke(app, [*args, "--video", str(video), "--json", str(result)])
    text = out.output
    assert "rendering failed" not in text and "unexpected" not in text, text
    warned = [r.getMessage() for r in caplog.records if "video" in r.getMessage()]
    assert len(warned) == 1 and "Broken pipe" in warned[0] and "stops here" in warned[0]
    row = Records(f"sqlite:///{data / 'records.sqlite'}").session(1)
    assert row.ending == "completed"
    assert out.exit_code == 2, text
    assert "the session is stored (session 1 for 'TN-4201'), but --video" in text
    assert not video.exists() and not video_partial_path(video).exists()
    payload = json.loads(result.read_text())
    assert payload["video"] is None and "Broken pipe" in payload["video_error"]


def _kept_with_snapshots(data: Path, pseudonym: str):
    """A finished session kept in the fallback folder with its endoscope snapshots, as a
    run leaves it when storing fails on a full data disk: (kept trace, snapshots)."""
    from scenarios.archive import snapshots_path, write_snapshots
    from scenarios.checkpoint import IN_PROGRESS, Checkpoint, RunInfo, fallback_dir
    from scenarios.report import Snapshot
    from tests.scenarios.test_evaluate import _trace
    from tests.scenarios.test_loader import VALID

    info = RunInfo("mini", VALID, 1, "expert", pseudonym, pid=-1)
    kept = Checkpoint(data / IN_PROGRESS, info).keep(_trace(), fallback_dir())
    shots = [Snapshot(1.0, "start", "the start", b"\x89PNG not really")]
    write_snapshots(snapshots_path(kept), shots, "")
    return kept, shots


def test_snapshots_that_cannot_be_attached_are_said_and_attached_later(data, monkeypatch):
    """`store` on a nearly full disk said "stored", exit 0, and the session's snapshots
    were left in the temporary folder; `store --orphans` then said "nothing to store"."""
    import errno

    from scenarios.archive import load_snapshots, snapshots_path

    kept, shots = _kept_with_snapshots(data, "TN-8500")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(scenarios.archive, "save_snapshots", full)
        out = runner.invoke(app, ["store", str(kept)])
    said = " ".join(out.output.split())
    assert out.exit_code == 2, said
    assert "the session is stored (session 1), but its endoscope snapshots" in said
    assert "(No space left on device)" in said and f"surgisim store {kept}" in said
    assert kept.exists() and snapshots_path(kept).exists()  # kept to be attached
    out = runner.invoke(app, ["store", "--orphans"])
    said = " ".join(out.output.split())
    assert out.exit_code == 0, said
    assert "already stored as session 1; attached the endoscope snapshots" in said
    assert not kept.exists() and not snapshots_path(kept).exists()
    row = Records(f"sqlite:///{data / 'records.sqlite'}").session(1)
    assert load_snapshots(snapshots_path(row.trace_path))[0] == shots
    assert "nothing to store" in runner.invoke(app, ["store", "--orphans"]).output


def test_a_keep_cut_short_leaves_no_trace_without_its_run_information(data, monkeypatch):
    """The data disk filled between the trace and its run information: the trace was
    left in unstored/ and `store --orphans` listed it as waiting beside the session."""
    import errno

    import scenarios.checkpoint as checkpoint

    written = checkpoint.write_private_text

    def full_in_data(path, text):
        if data in Path(path).parents:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return written(path, text)

    monkeypatch.setattr(checkpoint, "write_private_text", full_in_data)
    info = checkpoint.RunInfo("mini", "name: x", 1, "expert", "TN-8501", pid=-1)
    from tests.scenarios.test_evaluate import _trace

    kept = checkpoint.Checkpoint(data / "in-progress", info).keep(_trace(), data / "unstored")
    assert kept.parent == checkpoint.fallback_path() and kept.with_suffix(".json").exists()
    assert list((data / "unstored").glob("*")) == []


def test_store_orphans_cleans_a_kept_copy_of_a_stored_session(data, tmp_path):
    """A copy of a stored session's kept trace in unstored/ was listed as "kept traces
    waiting" by `store --orphans`, as if the session were not stored."""
    import shutil

    from scenarios.checkpoint import IN_PROGRESS, KEPT, Checkpoint, RunInfo
    from tests.scenarios.test_evaluate import _trace
    from tests.scenarios.test_loader import VALID

    info = RunInfo("mini", VALID, 1, "expert", "TN-8502", pid=-1)
    kept = Checkpoint(data / IN_PROGRESS, info).keep(_trace(), data / KEPT)
    copy = tmp_path / "copy" / kept.name
    copy.parent.mkdir()
    for path in (kept, kept.with_suffix(".json")):
        shutil.copy(path, copy.parent)
    assert runner.invoke(app, ["store", str(copy)]).exit_code == 0
    out = runner.invoke(app, ["store", "--orphans"])
    said = " ".join(out.output.split())
    assert out.exit_code == 0 and "already stored as session 1; removed this leftover" in said
    assert not kept.exists() and "waiting" not in said
