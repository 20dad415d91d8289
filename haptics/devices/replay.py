"""Replaying a recorded device stream onto the bus at its recorded timing.

Each entry of a :class:`~haptics.devices.recording.Recording` is sent at
``start + (t_s - t_first) / speed`` on the replaying process's monotonic clock, with the
recorded payload's own fields and a fresh envelope (this process's ``stamp_s`` and
``seq``): to the server it is a live device that moves exactly as the recorded one did.
The loop sleeps until each entry is due; it never sends an entry early.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from haptics.devices.link import DeviceLink
from haptics.devices.recording import Recording
from haptics.heap import collector_kept_out

_ENVELOPE = ("v", "stamp_s", "seq", "used_seq")


@dataclass
class ReplayStats:
    """What a replay sent: ``sent`` entries of ``total``; ``max_late_s`` the worst
    lateness of an entry against its due time (s)."""

    sent: int = 0
    total: int = 0
    max_late_s: float = 0.0


def replay(
    link: DeviceLink,
    recording: Recording,
    *,
    speed: float = 1.0,
    stop: Callable[[], bool] = lambda: False,
    rename: dict[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayStats:
    """Send ``recording``'s entries through ``link`` at the recorded timing.

    Args:
        link: a connected link.
        recording: what to send.
        speed: time scale (2.0 replays twice as fast).
        stop: polled between entries; the replay returns early when it is true.
        rename: device name -> name to send as (``{"MTMR": "MTML"}``).
        clock, sleep: the monotonic clock (s) and the sleep function.
    """
    entries = recording.entries
    stats = ReplayStats(total=len(entries))
    if not entries:
        return stats
    # the objects of start-up frozen out of the collector's passes: a full pass over them
    # is a gap in the recorded timing (haptics.heap)
    with collector_kept_out():
        _send_in_time(link, entries, speed, stop, rename or {}, clock, sleep, stats)
    return stats


def _send_in_time(link, entries, speed, stop, rename, clock, sleep, stats) -> None:
    """The entries at their recorded times (:func:`replay`), counting into ``stats``."""
    first = entries[0].t_s
    start = clock()
    last_check = start
    for entry in entries:
        due = start + (entry.t_s - first) / speed
        while True:
            if stop():
                return
            now = clock()
            if now >= due:
                break
            sleep(min(due - now, 0.05))
        device, _, rest = entry.topic.partition("/")
        topic = f"{rename.get(device, device)}/{rest}"
        payload = {k: v for k, v in entry.payload.items() if k not in _ENVELOPE}
        link.publish(topic, payload)
        stats.sent += 1
        stats.max_late_s = max(stats.max_late_s, clock() - due)
        if now - last_check > 0.1:
            last_check = now
            link.poll()  # keep the inbound queue short; liveness for check()
            link.check()
