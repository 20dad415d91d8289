"""Real-time scheduling for the server's loop thread (``surgisim serve --realtime``).

On a 2-core machine the server shares the cores with the device and viewer processes and
their ZeroMQ threads. At normal priority the kernel may run one of them while a physics
tick is due: measured with a 1 kHz device and a viewer (``surgisim bench bus``), the
loop's work p99 was 3-4 ms against a 2 ms period and 3-9% of ticks overran. With the loop
thread under ``SCHED_FIFO`` it is never preempted by normal-priority work, the way the
dVRK and ros2_control run their control loops: work p99 fell to 1.6-1.9 ms and overruns
to 0.3-0.8% in the same runs (bench/RESULTS.md).

Only the calling thread is changed, and children it starts do not inherit the policy
(``SCHED_RESET_ON_FORK``). The loop sleeps between ticks and never spins, so it leaves
the core to others when idle; the kernel's real-time throttling (by default 5% of every
second kept for normal tasks) still guards against a runaway. Changing the policy needs
permission: root, ``CAP_SYS_NICE``, or an ``rtprio`` limit for the user (e.g. a line
``@surgisim - rtprio 20`` in ``/etc/security/limits.d/``). Without it the server keeps
normal scheduling and says why.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

#: The loop's real-time priority (1-99): above ordinary real-time helpers such as
#: audio servers (PipeWire asks for ~20), below the kernel's own threads (50 and up).
LOOP_PRIORITY = 30


@dataclass(frozen=True)
class Scheduling:
    """The scheduling a thread got.

    Attributes:
        realtime: whether it runs under ``SCHED_FIFO``.
        priority: its real-time priority (0 when normal).
        detail: what happened, in words (why not, when it is not real-time).
    """

    realtime: bool
    priority: int
    detail: str

    def as_dict(self) -> dict:
        """Plain data for the session's stored conditions."""
        return {"realtime": self.realtime, "priority": self.priority, "detail": self.detail}


NORMAL = Scheduling(False, 0, "normal scheduling (not asked for real-time)")


def _fifo_policy() -> int | None:
    fifo = getattr(os, "SCHED_FIFO", None)
    if fifo is None or not hasattr(os, "sched_setscheduler"):
        return None
    return fifo | getattr(os, "SCHED_RESET_ON_FORK", 0)


def use_realtime(priority: int = LOOP_PRIORITY) -> Scheduling:
    """Put the calling thread under ``SCHED_FIFO`` at ``priority``; never raises.

    Returns what the thread got: real-time, or normal scheduling and the reason (no
    such policy on this system, or no permission and how to grant it).
    """
    policy = _fifo_policy()
    if policy is None:
        return Scheduling(False, 0, "normal scheduling: this system has no SCHED_FIFO")
    try:
        os.sched_setscheduler(0, policy, os.sched_param(priority))
    except PermissionError:
        return Scheduling(
            False,
            0,
            "normal scheduling: no permission for real-time priority (run as root, grant "
            "CAP_SYS_NICE, or give the user an rtprio limit, e.g. '@surgisim - rtprio "
            f"{priority}' in /etc/security/limits.d/)",
        )
    except OSError as e:  # e.g. EINVAL in a container that forbids the policy
        return Scheduling(False, 0, f"normal scheduling: SCHED_FIFO refused ({e})")
    return Scheduling(True, priority, f"SCHED_FIFO priority {priority} (the loop thread)")


def use_normal() -> None:
    """Put the calling thread back under normal scheduling (after the loop); never raises.

    ``SCHED_RESET_ON_FORK``, when the thread has it (:func:`use_realtime` sets it), is
    kept: the kernel lets only a privileged thread clear it, so a user granted real-time
    by an ``rtprio`` limit was refused (EPERM, silenced here) and the thread stayed under
    ``SCHED_FIFO`` after the loop.
    """
    if _fifo_policy() is None:
        return
    with contextlib.suppress(OSError):
        reset = os.sched_getscheduler(0) & getattr(os, "SCHED_RESET_ON_FORK", 0)
        os.sched_setscheduler(0, os.SCHED_OTHER | reset, os.sched_param(0))
