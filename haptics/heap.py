"""Keep the garbage collector's full passes out of real-time loops.

CPython's cyclic collector stops every thread of the process while it walks the objects of
the generation it collects; a full (generation 2) pass walks all of them. A live process
here holds ~180,000-310,000 objects once it has started (numba's dispatchers, pybullet,
pydantic models, ZeroMQ, the scene: 309,250 in a `surgisim serve`, 183,644 in each
`surgisim device synthetic`), and a full pass over them takes 117-136 ms on an idle
machine here (204,000 objects of a started server), up to 300 ms on a busy one. Full
passes come rarely but at no chosen moment: in a 7.6-minute live peg transfer (busy
machine) the server's loop stopped once for 423 ms, 200 ticks at 500 Hz. A device
stopped that long sends nothing, and teleoperation holds its arm after 50-100 ms of
silence (a clutch cycle to resume); a headset client stopped that long misses tens of
frames.

Almost everything alive when a loop starts lives as long as the process (modules,
compiled kernels, the scene), so :func:`collector_kept_out` collects once, then
``gc.freeze()``s those objects into the permanent generation that collections skip: a
full pass then walks only what the loop itself keeps (hundreds to thousands of objects,
under a millisecond). Garbage is still collected: the loop's own cycles as before, the
frozen objects' plain reference counting as always. When the last loop in the process
ends, the objects are unfrozen, so a process that goes on (a test run, a notebook) gets
its collector back whole.

:class:`CollectorPauses` measures what the collector still costs a loop (the server
reports it beside the tick periods).
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time

_lock = threading.Lock()
_loops = 0  # loops running now in this process


@contextlib.contextmanager
def collector_kept_out():
    """Run a real-time loop with the objects alive at its start frozen (see the module
    docstring). Nests and runs in several threads at once: the first loop collects and
    freezes; a loop joining later freezes what was made meanwhile without collecting
    (a collection would stop the loops already running); the last one out unfreezes.
    Yields the number of objects frozen."""
    global _loops
    with _lock:
        if _loops == 0:
            gc.collect()
        gc.freeze()
        _loops += 1
        frozen = gc.get_freeze_count()
    try:
        yield frozen
    finally:
        with _lock:
            _loops -= 1
            if _loops == 0:
                gc.unfreeze()


class CollectorPauses:
    """How long the cyclic collector stopped this process while the meter was on.

    A ``gc.callbacks`` hook timing each collection (a few hundred nanoseconds a
    collection, which come every ~700 allocations). Use as a context manager, or call
    :meth:`close`.

    Attributes:
        collections: collections seen, of any generation.
        full: full (generation 2) collections seen.
        longest_s: the longest one (s).
    """

    def __init__(self) -> None:
        self.collections = 0
        self.full = 0
        self.longest_s = 0.0
        self._started = 0.0
        gc.callbacks.append(self._on_collection)

    def _on_collection(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        self.collections += 1
        if info.get("generation") == 2:
            self.full += 1
        if took > self.longest_s:
            self.longest_s = took

    def close(self) -> None:
        """Stop measuring (idempotent)."""
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_collection)

    def __enter__(self) -> CollectorPauses:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
