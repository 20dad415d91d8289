"""What a killed run leaves of its outputs, removed by ``trainee forget``: a SIGKILL
right after storing left the whole ``--json`` result as a hidden ``.NAME.RANDOM.tmp``
(the rename never made), and a run killed in its start-up left an empty
``X.mcap.partial``; forget removed neither, though README says it removes what ``run``
wrote."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scenarios.records import EXPECTED, Records

SCENARIO = "needle-handover"
TRAINEE = "T6601"


def _env(tmp_path: Path) -> dict:
    return {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "COLUMNS": "200"}


def _records(tmp_path: Path) -> Records:
    return Records(f"sqlite:///{tmp_path / 'data' / 'surgisim' / 'records.sqlite'}")


def test_forget_removes_what_a_kill_left_of_a_registered_output(tmp_path):
    records = Records(f"sqlite:///{tmp_path / 'records.sqlite'}")
    records.trainee(TRAINEE)
    out = tmp_path / "out"
    out.mkdir()
    result = out / "k6.json"
    records.register_file(result, pseudonym=TRAINEE, kind=EXPECTED + "json")
    left = out / ".k6.json.chn6vb_9.tmp"  # the whole result, never renamed
    left.write_text('{"session_id": 1}')
    old = time.time() - 3600
    os.utime(left, (old, old))
    under_way = out / ".k6.json.abc12345.tmp"  # a write of this second: not touched
    under_way.write_text("{")
    other = out / ".k60.json.xyz.tmp"  # another file's
    os.utime(other.write_text("{}") and other, (old, old))
    gone = records.forget(TRAINEE)
    assert str(left) in gone.files and not left.exists()
    assert under_way.exists() and other.exists()
    assert not gone.missing  # the json itself never came to be: expected, nothing said


def test_a_run_killed_in_its_start_up_leaves_no_partial_recording_after_forget(tmp_path):
    mcap = tmp_path / "k.mcap"
    partial = tmp_path / "k.mcap.partial"
    command = [sys.executable, "-m", "sim.cli", "run", SCENARIO, "--trainee", TRAINEE,
               "--seed", "6601", "--record", str(mcap), "--no-snapshots"]  # fmt: skip
    proc = subprocess.Popen(
        command, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while not partial.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "no recording claimed"
            time.sleep(0.02)
        # the kill comes as soon as the trainee's records know the file (old code: never;
        # then a kill at 60 s, a start-up's length on a loaded machine)
        db = tmp_path / "data" / "surgisim" / "records.sqlite"
        while time.monotonic() < deadline - 60:
            if db.exists() and _records(tmp_path).files_of(TRAINEE):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert partial.exists()
    forgot = subprocess.run(
        [sys.executable, "-m", "sim.cli", "trainee", "forget", TRAINEE, "--yes"],
        env=_env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert forgot.returncode == 0, forgot.stdout + forgot.stderr
    assert not partial.exists(), forgot.stdout
