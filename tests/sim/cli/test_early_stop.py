"""Ctrl-C while ``surgisim`` starts: a quiet exit 130, not an importlib traceback; a
program that imports :mod:`sim.cli` keeps Python's own Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys

_STOP_AFTER_IMPORT = (
    "import sys; sys.argv[0] = {argv0!r}\n"
    "import os, signal, time\n"
    "import sim.cli\n"
    "os.kill(os.getpid(), signal.SIGINT)\n"
    "time.sleep(30)\n"
)


def _run(argv0: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _STOP_AFTER_IMPORT.format(argv0=argv0)],
        capture_output=True,
        text=True,
        timeout=120,
        # as a terminal starts it: a background job's ignored SIGINT must not be inherited
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_ctrl_c_before_the_command_runs_exits_quietly_with_130():
    done = _run("/usr/local/bin/surgisim")
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    assert "surgisim: stopped while starting" in done.stderr


def test_a_program_importing_the_cli_keeps_its_own_ctrl_c():
    done = _run("my_tool.py")
    assert done.returncode != 130 and "KeyboardInterrupt" in done.stderr
