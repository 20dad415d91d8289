"""A process practice starts stops as Ctrl-C would when practice is killed: a
``kill -9`` of ``practice`` left its training server running, and two minutes later it
stored the session as a counted "FAIL (out of time)"."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from sim.cli.practice import server_killed_text

#: a parent that starts a child with stop_with_parent, prints its pid and waits; the
#: child writes which signal stopped it
PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    from sim.stop_signals import stop_with_parent
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]],
                             preexec_fn=stop_with_parent)
    print(child.pid, flush=True)
    time.sleep(60)
    """
)
CHILD = textwrap.dedent(
    """
    import pathlib, signal, sys, time
    def stopped(number, frame):
        pathlib.Path(sys.argv[1]).write_text(signal.Signals(number).name)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stopped)
    pathlib.Path(sys.argv[1] + ".ready").write_text("")
    time.sleep(60)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's parent-death signal")
def test_the_child_gets_sigterm_when_its_parent_is_killed(tmp_path):
    said = tmp_path / "signal"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD, str(said)], stdout=subprocess.PIPE, text=True
    )
    child_pid = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "signal.ready").exists():  # its handler is in place
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.05)
        parent.kill()  # kill -9: no cleanup of its own
        parent.wait(timeout=10)
        while not said.exists():
            assert time.monotonic() < deadline, "the child outlived its parent"
            time.sleep(0.05)
        assert said.read_text() == "SIGTERM"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child_pid, signal.SIGKILL)


def test_a_killed_server_is_said_with_what_to_do():
    text = server_killed_text(signal.SIGKILL)
    assert "SIGKILL" in text and "surgisim store --orphans" in text
    assert "signal 99" in server_killed_text(99)
