"""The device-side loop of a hardware master: read, publish, render force, at 1 kHz.

Each tick of :func:`run_device`:

1. the adapter's reading (pose in M, gripper, pedals) at the device's monotonic time;
2. with a velocity device that offers ``align_to`` (the SpaceMouse), while the arm waits
   for alignment (DISABLED or ALIGNING) the virtual handle is turned to the orientation the
   gate accepts (:class:`~haptics.devices.watch.ArmWatch`);
3. published: gripper and pedals, then ``measured_cp`` (:meth:`DeviceLink.send`);
4. server messages taken: ``<dev>/servo_cf`` goes to the device-side
   :class:`haptics.force.ForceRenderer` with the hand position it arrived at
   (``session/ending`` makes it forget the last one: the force goes to zero); arm states
   go to the watch; a change of the arm's operating state is said once;
5. the renderer's force for the hand position now is commanded (devices with motors);
6. every 100 ms the link checks the server: when it went away the force drops to zero
   and the device keeps trying; when it comes back, the arm is asked to be enabled again.

The loop sleeps until each tick is due (never spins) and restarts its schedule after a
stall instead of bursting. It stops when ``stop()`` turns true (Ctrl-C in the command).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from haptics.devices.base import DeviceAdapter
from haptics.devices.link import DeviceLink
from haptics.devices.watch import ArmWatch
from haptics.heap import collector_kept_out


@dataclass
class LoopStats:
    """What a device loop did.

    Attributes:
        ticks: ticks run.
        late: ticks that started more than one period late.
        resyncs: times the schedule restarted after a stall (> 50 ms behind).
        forces: ``servo_cf`` messages received for this device.
        states: the arm's operating states seen, in order (changes only).
    """

    ticks: int = 0
    late: int = 0
    resyncs: int = 0
    forces: int = 0
    states: list | None = None


def enable_arm(link: DeviceLink, arm: str | None) -> bool:
    """Ask the server to enable ``arm`` (``state_command``); says what went wrong, if
    anything. True when the server accepted."""
    if arm is None:
        return False
    try:
        reply = link.request({"request": "state_command", "arm": arm, "command": "enable"})
    except Exception as e:  # the server went away meanwhile: check() will say so
        link.notify(f"could not ask the server to enable {arm}: {e}")
        return False
    if not reply.get("ok"):
        link.notify(f"the server refused to enable {arm}: {reply.get('error', '?')}")
        return False
    return True


def run_device(
    adapter: DeviceAdapter,
    link: DeviceLink,
    *,
    rate_hz: float = 1000.0,
    stop: Callable[[], bool] = lambda: False,
    enable: bool = True,
    X_WC_fixed=None,
    renderer=None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    max_ticks: int | None = None,
    stats: LoopStats | None = None,
) -> LoopStats:
    """Run ``adapter`` on the bus until ``stop()`` (see the module docstring).

    Args:
        adapter: an opened device adapter.
        link: a connected :class:`DeviceLink` (its first name is the device's).
        rate_hz: ticks per second.
        stop: polled every tick; the loop returns when it is true.
        enable: ask the server to enable the device's arm on start and after a reconnect.
        X_WC_fixed: a fixed camera's pose (4x4, world) for the alignment assist, when the
            scenario has no endoscope arm.
        renderer: the device-side force renderer (default: a
            :class:`haptics.force.ForceRenderer` for devices with force output).
        clock, sleep: the monotonic clock (s) and the sleep function.
        max_ticks: stop after this many ticks (tests).
        stats: the record to fill as the loop runs (default: a new one), so that
            ``stop`` can look at it.
    """
    name = link.names[0]
    arm = link.arm_of(name)
    if arm is None:
        link.notify(
            f"the server maps no arm to {name!r} (its map: {link.hello.get('devices')}); "
            "publishing anyway. Use --name with one of the map's devices."
        )
    watch = ArmWatch.from_hello(link.hello, X_WC_fixed)
    if renderer is None and adapter.has_force:
        from haptics.force import ForceRenderer

        renderer = ForceRenderer()
    align_to = getattr(adapter, "align_to", None)
    if enable:
        enable_arm(link, arm)
    stats = stats if stats is not None else LoopStats()
    if stats.states is None:
        stats.states = []
    period = 1.0 / float(rate_hz)
    next_t = clock()
    servo_topic = f"{name}/servo_cf"
    zero = np.zeros(3)
    # the objects of start-up frozen out of the collector's passes: a full pass over them
    # takes 60-300 ms, and an arm holds after 50-100 ms of silence (haptics.heap)
    with collector_kept_out():
        while not stop() and (max_ticks is None or stats.ticks < max_ticks):
            now = clock()
            reading = adapter.read(now)
            seen = watch.arm(arm) if arm is not None else None
            if align_to is not None and seen is not None and seen.state in ("DISABLED", "ALIGNING"):
                R = watch.aligned(arm)
                if R is not None:
                    align_to(R)
                    X = reading.X_MH.copy()
                    X[:3, :3] = R
                    reading = replace(reading, X_MH=X)
            if link.connected:
                link.send(name, reading, now)
            hand = reading.X_MH[:3, 3]
            for m in link.poll():
                if m.topic == servo_topic:
                    stats.forces += 1
                    if renderer is not None:
                        renderer.receive(m.payload["force_n"], hand, now)
                    continue
                if m.topic == "session/ending" and renderer is not None:
                    renderer.forget()  # the session is over: no force, whatever came last
                watch.update(m)
            if (
                seen is not None
                and seen.state
                and (not stats.states or stats.states[-1] != seen.state)
            ):
                stats.states.append(seen.state)
                error = seen.align_error_rad
                extra = (
                    f" (hand {math.degrees(error):.0f}° from the tool)" if error == error else ""
                )
                link.notify(f"{arm}: {seen.state}{extra}")
            if renderer is not None:
                adapter.command_force(renderer.render(hand, now) if link.connected else zero)
            stats.ticks += 1
            if stats.ticks % max(1, round(0.1 * rate_hz)) == 0:
                event = link.check()
                if event == "lost":
                    adapter.command_force(zero)
                elif event == "back" and enable:
                    enable_arm(link, link.arm_of(name))
            next_t += period
            now = clock()
            if now - next_t > period:
                stats.late += 1
            if now - next_t > 0.05:
                next_t = now
                stats.resyncs += 1
            delay = next_t - now
            if delay > 0:
                sleep(delay)
    return stats
