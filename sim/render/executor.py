"""All GL calls on one thread: the thread that made the context.

An OpenGL context is current on one thread at a time, and drivers misbehave when calls
come from elsewhere. As dm_control's ``_render`` executors do, each renderer owns one
worker thread: it creates the context there and every GL call is handed to that thread,
so a renderer may be called from any thread (the live server's, a test's) safely. The
hop costs tens of microseconds per frame.

The worker is a daemon thread of its own (not a ``concurrent.futures`` pool, whose exit
hook stops taking work before a renderer's finaliser can free its context).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_STOP = object()


class GLThread:
    """A single worker thread that runs GL work in submission order."""

    def __init__(self, name: str = "surgisim-gl") -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._lock = threading.Lock()  # one caller at a time: results come back in order
        self._open = True
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            fn, args, kwargs, done = job
            try:
                done.append((True, fn(*args, **kwargs)))
            except BaseException as exc:  # handed back to the caller, raised there
                done.append((False, exc))
            done.ready.set()

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` on the GL thread and return its result (its
        exception is raised here). Calls made from the GL thread itself run at once."""
        if threading.current_thread() is self._thread:
            return fn(*args, **kwargs)
        done = _Result()
        with self._lock:
            if not self._open:
                raise RuntimeError("this GL thread was shut down")
            self._jobs.put((fn, args, kwargs, done))
            done.ready.wait()
        ok, value = done[0]
        if ok:
            return value
        raise value

    def shutdown(self) -> None:
        """Finish pending work and end the thread (idempotent)."""
        with self._lock:
            if not self._open:
                return
            self._open = False
            self._jobs.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join()


class _Result(list):
    def __init__(self) -> None:
        super().__init__()
        self.ready = threading.Event()
