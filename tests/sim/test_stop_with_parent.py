"""A process practice starts stops as Ctrl-C would when practice is killed: a
``kill -9`` of ``practice`` left its training server running, and two minutes later it
stored the session as a counted "FAIL (out of time)". And it stops once: Linux sends the
parent-death signal once per thread of the dying parent, and the second of two SIGTERMs
("SIGTERM again to abandon it") lost the session the server was storing (2 of 3 tries)."""

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
    signal.signal(signal.SIGUSR1, stopped)
    pathlib.Path(sys.argv[1] + ".ready").write_text("")
    time.sleep(60)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's parent-death signal")
def test_the_child_gets_the_parent_death_signal_when_its_parent_is_killed(tmp_path):
    from sim.stop_signals import PARENT_GONE

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
        assert said.read_text() == signal.Signals(PARENT_GONE).name
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child_pid, signal.SIGKILL)


def test_a_killed_server_is_said_with_what_to_do():
    text = server_killed_text(signal.SIGKILL)
    assert "SIGKILL" in text and "surgisim store --orphans" in text
    assert "signal 99" in server_killed_text(99)


#: practice as the kernel sees it: several threads besides the one that started the
#: child. The kernel sends the parent-death signal each time the child's parent thread
#: exits and it is handed to another: with argv[3] "starter", the thread that started the
#: child ends when the test says (one signal) and the process then dies of SIGKILL
#: (another, 0.3 s later): what a kill -9 of practice does when its threads die one by one,
#: made certain; with "kill", the test's kill -9 alone (two or more signals in some runs)
THREADED_PARENT = textwrap.dedent(
    """
    import os, signal, subprocess, sys, threading, time
    from sim.stop_signals import stop_with_parent
    for _ in range(16):
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    def start():
        child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]],
                                 preexec_fn=stop_with_parent)
        print(child.pid, flush=True)
        sys.stdin.readline()
    starter = threading.Thread(target=start)
    starter.start()
    starter.join()
    if sys.argv[3] == "starter":
        time.sleep(0.3)  # the child has taken the first signal (two at once are one)
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)
    """
)
#: the server's shape: a session under interruptible() until the stop, a moment of
#: winding down, then storing under uninterrupted(); each step written to a file
GRACEFUL_CHILD = textwrap.dedent(
    """
    import pathlib, sys, time
    import typer
    from sim.cli.guard import guard, interruptible, uninterrupted
    log = pathlib.Path(sys.argv[1])
    def say(what):
        with log.open("a") as f:
            f.write(what + "\\n")
    code = 0
    try:
        with guard(False):
            with interruptible("stopping the session (Ctrl-C again to abandon it)") as stop:
                say("ready")
                while not stop():
                    time.sleep(0.01)
                time.sleep(1.0)  # the session ends its step and closes its recording
            with uninterrupted():
                time.sleep(0.5)
                say("stored")
            code = stop.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
    say(f"exit {code}")
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's parent-death signal")
@pytest.mark.parametrize("how", ["starter", "kill"])
def test_a_killed_parent_with_several_threads_is_one_stop(tmp_path, how):
    log = tmp_path / "child.log"
    parent = subprocess.Popen(
        [sys.executable, "-c", THREADED_PARENT, GRACEFUL_CHILD, str(log), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    child_pid = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 60
        while "ready" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.05)
        if how == "starter":
            parent.stdin.write("\n")
            parent.stdin.flush()
        else:
            parent.kill()  # kill -9 of practice
        assert parent.wait(timeout=30) == -signal.SIGKILL
        deadline = time.monotonic() + 60
        while "exit" not in log.read_text():
            assert time.monotonic() < deadline, "the child outlived its parent"
            time.sleep(0.05)
        # stored once, exit code as for one SIGTERM (not "terminated": abandoned)
        assert log.read_text().split("\n")[1:3] == ["stored", "exit 143"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child_pid, signal.SIGKILL)
