"""Pictures of a headless session: ``surgisim run --video`` writes the endoscope's view at
30 frames per simulated second, and the stored session's report shows snapshots of the
start, of every collision and drop, and of the end (kept owner-only beside the trace,
forgotten with the trainee). Real EGL (or OSMesa) through Mesa, real ffmpeg."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from scenarios.records import Records
from sim.view.snapshots import MAX_EVENT_SNAPSHOTS, VIDEO_FPS

PSEUDONYM = "calm-heron-4242"


def _surgisim(tmp_path, *args, **env):
    environ = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "COLUMNS": "200", **env}
    environ.pop("PYOPENGL_PLATFORM", None)
    environ.pop("DISPLAY", None)
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True,
        env=environ, timeout=900,
    )  # fmt: skip


def test_run_writes_the_video_and_the_report_shows_what_happened(tmp_path):
    ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="the video extra is not installed")
    video, result = tmp_path / "out" / "view.mp4", tmp_path / "result.json"
    out = _surgisim(
        tmp_path, "run", "needle-handover", "--trainee", PSEUDONYM, "--video", str(video),
        "--json", str(result),
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    payload = json.loads(result.read_text())
    reader = ffmpeg.read_frames(str(video))
    meta = next(reader)
    frames = [np.frombuffer(f, np.uint8).reshape(480, 640, 3) for f in reader]
    assert meta["size"] == (640, 480) and meta["fps"] == VIDEO_FPS
    # one frame at the start and one per 1/30 s of simulated time after it
    assert len(frames) == payload["video_frames"]
    expected = math.floor(payload["sim_time_s"] * VIDEO_FPS) + 1
    assert expected <= len(frames) <= expected + 1, (len(frames), payload["sim_time_s"])
    assert frames[len(frames) // 2].std() > 10  # the scene, not a black picture
    assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean() > 0.5  # things moved
    assert oct(video.stat().st_mode & 0o777) == "0o600"

    data = tmp_path / "data" / "surgisim"
    [archive] = (data / "traces").glob("*.snapshots.zip")
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    with zipfile.ZipFile(archive) as z:
        index = json.loads(z.read("index.json"))["snapshots"]
        assert all(z.read(s["file"])[:8] == b"\x89PNG\r\n\x1a\n" for s in index)
    kinds = [s["kind"] for s in index]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert index[0]["time_s"] == 0.0
    assert index[-1]["time_s"] == pytest.approx(payload["sim_time_s"], abs=0.02)
    # a snapshot for every collision and drop the session was scored with (up to the cap)
    metrics = payload["metrics"]
    counted = sum(metrics.get(k, 0) for k in ("instrument_collisions", "environment_collisions",
                                               "held_object_collisions"))  # fmt: skip
    events = kinds[1:-1]
    if counted + metrics.get("drops", 0) <= MAX_EVENT_SNAPSHOTS - events.count("excessive_force"):
        assert events.count("collision") == counted
        assert events.count("drop") == metrics.get("drops", 0)
    times = [s["time_s"] for s in index]
    assert times == sorted(times)

    page = (data / "reports" / f"session-{payload['session_id']}.html").read_text()
    assert "<h2>Endoscope snapshots</h2>" in page
    assert page.count("data:image/png;base64") == len(index) + 4  # snapshots + 4 figures
    assert "<span class='start'>Start" in page and "<span class='end'>End" in page

    # forgetting the trainee removes the snapshots with the rest
    forgot = _surgisim(tmp_path, "trainee", "forget", PSEUDONYM, "--yes")
    assert forgot.returncode == 0, forgot.stdout + forgot.stderr
    assert not archive.exists()
    assert Records(f"sqlite:///{data / 'records.sqlite'}").find_trainee(PSEUDONYM) is None


def test_a_missing_video_extra_is_named_before_the_run(tmp_path):
    code = (
        "import sys; sys.modules['imageio_ffmpeg'] = None\n"
        "from sim.cli import main\n"
        "sys.argv = ['surgisim', 'run', 'needle-handover', '--no-store', '--video', "
        f"{str(tmp_path / 'v.mp4')!r}]\n"
        "main()\n"
    )
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 2
    assert "pip install 'surgisim[video]'" in out.stderr and "Traceback" not in out.stderr
    assert "simulated" not in out.stdout  # refused before simulating


def test_without_a_gl_backend_the_session_is_stored_and_the_report_says_why(tmp_path):
    out = _surgisim(
        tmp_path, "run", "needle-handover", "--trainee", PSEUDONYM, SURGISIM_GL="vulkan"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    page = next((tmp_path / "data" / "surgisim" / "reports").glob("session-*.html")).read_text()
    assert (
        "<h2>Endoscope snapshots</h2>" in page
        and "No snapshots" in page
        and "SURGISIM_GL=&#x27;vulkan" in page
    )
    assert page.count("data:image/png;base64") == 4  # the figures only


def test_force_snapshots_are_taken_at_the_row_each_episode_of_the_event_table_starts():
    """Seed 5604's novice had three episodes (5.30, 6.40, 6.55 s) but two snapshots, at
    5.4 and 6.5 s: the warning came from the 10 Hz live metrics, late and merging
    episodes 0.15 s apart. Found row by row, every episode of the report's table gets its
    picture at its own first row, in any chunking of the rows."""
    from scenarios.report_score import force_episodes
    from sim.session.recorder import TraceRecorder
    from sim.view.snapshots import ForceWatch

    rate = 100.0
    force = {"PSM1": np.zeros(900), "PSM2": np.zeros(900)}
    force["PSM2"][530:560] = 4.0  # 5.30 s
    force["PSM2"][640:642] = 3.0  # 6.40 s
    force["PSM2"][655:700] = 9.0  # 6.55 s: 0.13 s after the last, an episode of its own
    force["PSM2"][661:664] = 1.0  # dips and a return 0.05 s after: the same episode
    force["PSM2"][705:710] = 3.0
    force["PSM1"][650:652] = 3.0  # the other arm, its own episode
    force["PSM2"][760:770] = 3.0  # 7.60 s: 0.6 s later, its own
    for chunks in (1, 3, 7, 10, 33):
        recorder = TraceRecorder({"PSM1": "psm", "PSM2": "psm"}, rate, capacity=16)
        watch, found = ForceWatch(2.5, rate), []
        for i in range(900):
            row = recorder.row(i / rate)
            for name in force:
                recorder.set(name, "tip_force_n", row, force[name][i])
            if i % chunks == chunks - 1 or i == 899:
                found += watch.new_episodes(recorder)
        trace = recorder.finish(True, 9.0, [])
        expected = [(e.arm, e.start) for e in force_episodes(trace, 2.5)]
        assert found == expected, chunks
    assert [row for _, row in found] == [530, 640, 650, 655, 760]
