"""A hand on the master that never lets go: queued samples published at the device rate.

:class:`HandStream` runs on its own thread and publishes, every ``1 / rate_hz`` seconds,
one tick for each of its devices (gripper and pedals, then ``measured_cp``: see
:meth:`haptics.devices.link.DeviceLink.send`). Ticks come from a queue that the producer
(a synthetic operator's plan) fills; when the queue runs dry the stream holds the last
reading, as a hand at rest stays on the handle: thinking between two motions never
makes the device fall silent (the teleoperation holds an arm after 50-100 ms of silence).

Stamps are the scheduled tick times of the device's monotonic clock, so the spacing of
samples is exact even when the thread is woken late; a thread that falls more than
``max_late_s`` behind starts a new schedule (counted in :attr:`resyncs`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from haptics.devices.base import DeviceReading
from haptics.devices.errors import DeviceError


class HandStream:
    """Publishes readings of ``initial``'s devices through ``link`` at ``rate_hz``.

    Args:
        link: a :class:`~haptics.devices.link.DeviceLink` (only its sending side is used).
        initial: device name -> the reading held before anything is queued.
        rate_hz: ticks per second.
        max_late_s: lateness after which the schedule restarts from now.
        clock: the monotonic clock (s).
    """

    def __init__(
        self,
        link,
        initial: Mapping[str, DeviceReading],
        rate_hz: float = 1000.0,
        max_late_s: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rate_hz > 0:
            raise DeviceError(f"the device rate must be positive (Hz), got {rate_hz!r}.")
        self.link = link
        self.rate_hz = float(rate_hz)
        self.period_s = 1.0 / self.rate_hz
        self.max_late_s = float(max_late_s)
        self._clock = clock
        self._current = dict(initial)
        self._queue: deque[dict[str, DeviceReading]] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        #: ``seq`` of the last ``measured_cp`` sent per device, and of the last one that
        #: carried a queued (new) reading rather than a held one
        self.sent_seq: dict[str, int] = dict.fromkeys(initial, -1)
        self.new_seq: dict[str, int] = dict.fromkeys(initial, -1)
        self.ticks = 0
        self.resyncs = 0
        #: the longest time between two ticks (s): how long the hand was ever silent
        self.max_gap_s = 0.0

    # ---- producer side -------------------------------------------------------------------
    def put(self, frame: Mapping[str, DeviceReading]) -> None:
        """Queue one tick: new readings for some devices (the others hold theirs)."""
        self.raise_if_failed()
        with self._lock:
            self._queue.append(dict(frame))

    @property
    def queued(self) -> int:
        """Ticks waiting to be published."""
        return len(self._queue)

    def current(self, name: str) -> DeviceReading:
        """The reading device ``name`` publishes now (the last one taken off the queue)."""
        with self._lock:
            return self._current[name]

    def hold(self, frame: Mapping[str, DeviceReading]) -> None:
        """Replace the held readings at once (the queue is left as it is)."""
        with self._lock:
            self._current.update(frame)

    def clear(self) -> None:
        """Drop every queued tick (the held readings stay)."""
        with self._lock:
            self._queue.clear()

    def raise_if_failed(self) -> None:
        """Re-raise, on the caller's thread, an error that stopped the publishing thread."""
        if self._error is not None:
            raise DeviceError(f"the device's publishing thread failed: {self._error!r}")

    # ---- the thread ----------------------------------------------------------------------
    def start(self) -> HandStream:
        """Start publishing (returns self)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hand-stream", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop publishing and wait for the thread (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as e:  # reported on the producer's thread
            self._error = e

    def _loop(self) -> None:
        clock, period = self._clock, self.period_s
        next_t = clock()
        last = next_t
        link = self.link
        while not self._stop.is_set():
            woke = clock()
            self.max_gap_s = max(self.max_gap_s, woke - last)
            last = woke
            with self._lock:
                frame = self._queue.popleft() if self._queue else None
                if frame:
                    self._current.update(frame)
                current = dict(self._current)
            for name, reading in current.items():
                seq = link.send(name, reading, next_t)
                self.sent_seq[name] = seq
                if frame and name in frame:
                    self.new_seq[name] = seq
            self.ticks += 1
            next_t += period
            now = clock()
            if now - next_t > self.max_late_s:
                next_t = now
                self.resyncs += 1
            delay = next_t - now
            if delay > 0:
                time.sleep(delay)
