"""``surgisim device record``: a stand-in server that records what devices send.

A device publishes to the server's device port (P + 1), so only whoever binds that port
hears it. :func:`capture` binds the three bus ports as a server would, answers ``hello``
(mapping each device name to an arm of the same name) and ``state_command`` (accepted),
and writes every valid device message to a recording (:mod:`haptics.devices.recording`).
Times are the device's own stamps mapped onto this process's clock
(:class:`~haptics.bus.devices.ClockMap`), so delivery jitter does not enter the recording.
To record next to a running ``surgisim serve``, give the device ``--record FILE`` instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from haptics.bus.contract import DEFAULT_PORT
from haptics.bus.devices import ClockMap
from haptics.devices.recording import RecordingWriter


@dataclass
class CaptureStats:
    """What a capture wrote: ``messages`` recorded, from ``devices`` (names, in order)."""

    messages: int = 0
    devices: tuple[str, ...] = ()


class _RateOf:
    """A device's ``measured_cp`` rate (Hz) from its stamps: one over the median interval
    of its first :attr:`KEEP` (a pause or a late burst does not move a median)."""

    KEEP = 10_000

    def __init__(self) -> None:
        self._last: float | None = None
        self._intervals: list[float] = []

    def add(self, stamp_s: float) -> None:
        if self._last is not None and len(self._intervals) < self.KEEP:
            self._intervals.append(stamp_s - self._last)
        self._last = stamp_s

    @property
    def rate_hz(self) -> float | None:
        """None before two samples, or when the stamps do not advance."""
        if not self._intervals:
            return None
        median = sorted(self._intervals)[len(self._intervals) // 2]
        return round(1.0 / median, 1) if median > 0 else None


def capture(
    out: Path | str,
    *,
    port: int = DEFAULT_PORT,
    bind_host: str = "127.0.0.1",
    names: Iterable[str] = (),
    stop: Callable[[], bool] = lambda: False,
    duration_s: float | None = None,
    notify: Callable[[str], None] | None = None,
    bus=None,
    curve=None,
    stats: CaptureStats | None = None,
) -> CaptureStats:
    """Record device messages into ``out`` until ``stop()`` (or ``duration_s`` after the
    first message).

    Args:
        out: the recording to write.
        port, bind_host: where to listen (the bus's base port and address).
        names: record only these devices (default: every device that sends).
        stop: polled every 50 ms; true ends the capture.
        duration_s: end this long after the first message.
        notify: status lines.
        bus: an already bound :class:`~haptics.bus.sockets.ServerBus` (tests); closed
            by the caller.
        curve: the server's CurveZMQ keys (:class:`~haptics.bus.security.ServerCurve`),
            needed to listen beyond loopback, as for ``surgisim serve``.
        stats: counted into as messages are written (and returned): another thread
            can watch a capture's progress.
    """
    from haptics.bus.sockets import ServerBus

    wanted = set(names)
    own = bus is None
    if own:
        bus = ServerBus(port, bind_host, curve=curve)
    clocks: dict[str, ClockMap] = {}
    rates: dict[str, _RateOf] = {}
    stats = CaptureStats() if stats is None else stats
    t0: float | None = None
    last = 0.0

    def keep(messages) -> None:
        nonlocal t0, last
        for m in messages:
            name = m.component
            if wanted and name not in wanted:
                continue
            clock = clocks.setdefault(name, ClockMap())
            stamp_s = float(m.payload["stamp_s"])
            if m.name == "measured_cp":
                rates.setdefault(name, _RateOf()).add(stamp_s)
            t = clock.to_local(stamp_s, m.received_s)
            if t0 is None:
                t0 = last = t
            last = max(last, t)  # in arrival order, never back in time
            writer.write(last - t0, m.topic, m.payload)
            stats.messages += 1

    try:
        with RecordingWriter(out, sorted(wanted), source="surgisim device record") as writer:
            if notify:
                notify(f"recording device messages on {bus.endpoints[1]} into {out}")
            while not stop():
                if t0 is not None and duration_s is not None and time.monotonic() - t0 > duration_s:
                    break
                if not bus.wait(0.05):
                    continue
                for origin, request in bus.requests():
                    if request["request"] == "hello":
                        devices = {n: n for n in sorted(wanted or clocks)}
                        bus.reply(
                            origin,
                            {
                                "ok": True,
                                "contract": 1,
                                "scenario": "",
                                "title": "surgisim device record",
                                "arms": [],
                                "devices": devices,
                                "topics": [],
                                "rates_hz": {},
                            },
                        )
                    else:
                        bus.reply(origin, {"ok": True})
                keep(bus.drain())
            # what arrived before the stop is recorded too (it was left in the socket: a
            # device stopped just before the recorder lost its last tens of milliseconds)
            keep(bus.drain())
            # the header comes first in the file: say what the recording turned out to hold
            measured = sorted(r.rate_hz for r in rates.values() if r.rate_hz is not None)
            writer.update_header(
                devices=list(clocks),
                rate_hz=measured[len(measured) // 2] if measured else None,
            )
    finally:
        if own:
            bus.close()
    stats.devices = tuple(clocks)
    return stats
