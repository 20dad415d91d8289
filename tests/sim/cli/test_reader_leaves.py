"""A command's standard output read by something that stops reading early (``| head``):
the work finishes and every file is written, as with nobody reading.

A researcher's batch script piped ``surgisim run ... --json out.json`` through ``head
-3``; the pipe closed, the next print raised BrokenPipeError, and the stored session's
``--json`` file was never written (exit 1, nothing said)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_run_writes_its_json_when_the_reader_of_its_output_has_gone(tmp_path):
    out = tmp_path / "out.json"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    run = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "run", "ring-walk", "--seed", "601", "--json", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    run.stdout.readline()  # the first line, then the reader goes, as head -1 does
    run.stdout.close()
    _, err = run.communicate(timeout=300)
    assert run.returncode == 0, err.decode()
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    result = json.loads(out.read_text())
    assert result["session_id"] == 1 and result["scenario"] == "ring-walk"
