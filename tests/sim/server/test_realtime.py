"""Real-time scheduling of the server's loop thread: granted where permitted, otherwise
normal scheduling with the reason, never an error; only the calling thread changes."""

from __future__ import annotations

import os
import threading

import pytest

from sim.server import realtime
from sim.server.realtime import LOOP_PRIORITY, use_normal, use_realtime

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getscheduler"), reason="no POSIX scheduling on this system"
)


def _in_thread(fn):
    """Run ``fn`` in a fresh thread (the test runner's own thread keeps its policy)."""
    out = {}

    def body():
        out["value"] = fn()

    t = threading.Thread(target=body)
    t.start()
    t.join()
    return out["value"]


def _permitted() -> bool:
    def probe():
        got = use_realtime()
        use_normal()
        return got.realtime

    return _in_thread(probe)


def test_granted_realtime_is_fifo_for_that_thread_only_and_undone():
    if not _permitted():
        pytest.skip("this machine does not permit real-time scheduling")
    realtime_reset = getattr(os, "SCHED_RESET_ON_FORK", 0)

    def body():
        got = use_realtime()
        during = os.sched_getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0)
        priority = os.sched_getparam(0).sched_priority
        use_normal()
        return got, during, priority, os.sched_getscheduler(0) & ~realtime_reset

    got, during, priority, after = _in_thread(body)
    assert got.realtime and got.priority == LOOP_PRIORITY and "SCHED_FIFO" in got.detail
    assert during == os.SCHED_FIFO and priority == LOOP_PRIORITY
    assert after == os.SCHED_OTHER
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # this thread was never changed
    assert got.as_dict() == {"realtime": True, "priority": LOOP_PRIORITY, "detail": got.detail}


def test_without_permission_it_stays_normal_and_says_how_to_grant_it(monkeypatch):
    def refuse(*args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(realtime.os, "sched_setscheduler", refuse)
    got = use_realtime()
    assert not got.realtime and got.priority == 0
    assert "no permission" in got.detail and "rtprio" in got.detail
    use_normal()  # refused too: never raises


def test_back_to_normal_keeps_the_reset_on_fork_flag_an_unprivileged_thread_may_not_clear(
    monkeypatch,
):
    """A user granted real-time by an ``rtprio`` limit (no CAP_SYS_NICE) may not clear
    ``SCHED_RESET_ON_FORK``: asking for plain ``SCHED_OTHER`` was refused (EPERM), the
    refusal silenced, and the loop thread stayed under ``SCHED_FIFO``. The kernel's rule,
    emulated: the flag set may not be dropped."""
    reset = getattr(os, "SCHED_RESET_ON_FORK", 0)
    if not reset:
        pytest.skip("no SCHED_RESET_ON_FORK on this system")
    policy = [os.SCHED_FIFO | reset]

    def setscheduler(pid, new, param):
        if policy[0] & reset and not new & reset:
            raise PermissionError(1, "Operation not permitted")
        policy[0] = new

    monkeypatch.setattr(realtime.os, "sched_getscheduler", lambda pid: policy[0])
    monkeypatch.setattr(realtime.os, "sched_setscheduler", setscheduler)
    use_normal()
    assert policy[0] == os.SCHED_OTHER | reset


def test_a_refused_policy_is_reported_not_raised(monkeypatch):
    def invalid(*args):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(realtime.os, "sched_setscheduler", invalid)
    got = use_realtime()
    assert not got.realtime and "refused" in got.detail


def test_a_thread_the_loop_starts_does_not_inherit_its_real_time_priority():
    """The loop starts the checkpoint writer; a trace written at real-time priority would
    take a core from the device processes. SCHED_RESET_ON_FORK covers threads (the kernel
    resets every task cloned from the loop's), so the writer runs normally without a word
    of its own; this keeps it so."""
    if not _permitted():
        pytest.skip("this machine does not permit real-time scheduling")
    from sim.server.server import CheckpointWriter

    seen = {}
    reset = getattr(os, "SCHED_RESET_ON_FORK", 0)

    class Checkpoint:
        def due(self, time_s):
            return True

        def mark(self, time_s):
            pass

        def save(self, trace, time_s):
            seen["writer"] = os.sched_getscheduler(0) & ~reset

    class Session:
        time_s = 1.0

        def trace_snapshot(self):
            return "trace"

    def loop():
        use_realtime()
        seen["loop"] = os.sched_getscheduler(0) & ~reset
        seen["plain"] = _in_thread(lambda: os.sched_getscheduler(0) & ~reset)
        writer = CheckpointWriter(Checkpoint())
        writer(Session())
        writer.join()
        use_normal()

    _in_thread(loop)
    assert seen == {"loop": os.SCHED_FIFO, "plain": os.SCHED_OTHER, "writer": os.SCHED_OTHER}
