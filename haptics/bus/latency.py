"""Telesurgery latency injection: delay lines per channel and published training protocols.

A :class:`DelayLine` holds what passes through one channel (device -> server samples, or
server -> device force and images) for a latency, with optional jitter and loss. It is
pure: the caller passes the time (``now_s``, any clock in seconds) and a seeded
``numpy.random.Generator``, so runs are reproducible and tests need no real clock.

Jitter never reorders: a message that drew a shorter delay than its predecessor waits for
it (head-of-line blocking, as on an in-order transport such as TCP or ZeroMQ). Hence with
jitter the mean delay is a little above ``latency_s`` when messages are closer together
than the jitter; with messages further apart than a few ``jitter_s`` it is ``latency_s``.

Protocols (sequences of latencies, one per attempt):

- :func:`xu2014` — Xu S, Perez M, Yang K, Perrenot C, Felblinger J, Hubert J.
  *Determination of the latency effects on surgical performance and the acceptable
  latency levels in telesurgery using the dV-Trainer simulator.* Surg Endosc
  2014;28(9):2569–2576. Sixteen medical students did an energy dissection and a
  needle-driving exercise on the dV-Trainer while latencies of 0 to 1000 ms in 100 ms
  steps (11 levels) were presented in random order and blinded (the trainee is not told
  the latency). Performance fell exponentially with latency; ≤ 200 ms was judged ideal,
  300 ms suitable, 400–500 ms acceptable but tiring, ≥ 800 ms accepted by < 20%.
- :func:`ramp` — Rayman R, Primak S, Eagleson R. *Effects of network delay on training
  for telesurgery* (2009): trainees starting at zero latency and stepping up 0, 350,
  700 ms did as well at 700 ms as trainees trained at 700 ms from the outset.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from haptics.errors import HapticsError
from kinematics.errors import closest_names

__all__ = ["PROTOCOLS", "DelayLine", "LatencyProtocol", "latency_protocol", "ramp", "xu2014"]


class DelayLine:
    """One channel's latency, jitter and loss, in order.

    Args:
        latency_s: the mean one-way delay added (s), >= 0.
        jitter_s: standard deviation of a normal variation of each message's delay (s);
            a drawn delay below zero is taken as zero.
        loss: probability that a message is dropped (independent per message), 0..1.
        rng: the seeded generator for jitter and loss (required when either is non-zero).
    """

    def __init__(
        self,
        latency_s: float,
        jitter_s: float = 0.0,
        loss: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        for name, value in (("latency_s", latency_s), ("jitter_s", jitter_s)):
            if not (np.isfinite(value) and value >= 0):
                raise HapticsError(f"{name} is {value}, expected a finite number >= 0 (seconds)")
        if not (0.0 <= loss <= 1.0):
            raise HapticsError(f"loss is {loss}, expected a probability in [0, 1]")
        if (jitter_s > 0 or loss > 0) and rng is None:
            raise HapticsError(
                "jitter or loss needs a seeded generator: pass rng=numpy.random.default_rng(seed)"
            )
        self.latency_s, self.jitter_s, self.loss = float(latency_s), float(jitter_s), float(loss)
        self._rng = rng
        self._queue: deque[tuple[float, Any]] = deque()
        self._last_release_s = -np.inf
        self.pushed = 0
        self.lost = 0

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, now_s: float, item: Any) -> bool:
        """Put ``item`` in at time ``now_s`` (s); False when it was lost.

        Push in time order (``now_s`` never decreasing), as a channel receives.
        """
        self.pushed += 1
        if self.loss > 0 and self._rng.random() < self.loss:
            self.lost += 1
            return False
        delay = self.latency_s
        if self.jitter_s > 0:
            delay = max(0.0, delay + self.jitter_s * self._rng.standard_normal())
        release = max(now_s + delay, self._last_release_s)  # never overtake
        self._last_release_s = release
        self._queue.append((release, item))
        return True

    def pop_ready(self, now_s: float) -> list:
        """Every item due by ``now_s`` (s), in the order pushed."""
        out = []
        q = self._queue
        while q and q[0][0] <= now_s:
            out.append(q.popleft()[1])
        return out

    def next_release_s(self) -> float | None:
        """When the next item is due (s), or None when empty (for a server's sleep)."""
        return self._queue[0][0] if self._queue else None

    def clear(self) -> None:
        """Drop everything in flight (a new attempt starts)."""
        self._queue.clear()
        self._last_release_s = -np.inf


@dataclass(frozen=True)
class LatencyProtocol:
    """A sequence of one-way latencies, one per attempt, from a published protocol.

    Attributes:
        name: the protocol's name in :data:`PROTOCOLS`.
        latencies_s: the latency of each attempt, in order (s).
        blinded: True when the trainee must not be told the latency of an attempt.
        reference: where the protocol comes from.
    """

    name: str
    latencies_s: tuple[float, ...]
    blinded: bool
    reference: str


XU2014_LEVELS_S = tuple(round(0.1 * i, 1) for i in range(11))  # 0, 0.1, ..., 1.0 s


def xu2014(rng: np.random.Generator, repeats: int = 1) -> LatencyProtocol:
    """Xu et al. 2014: the 11 levels 0–1000 ms (100 ms steps) in random order, blinded.

    Args:
        rng: seeded generator for the order.
        repeats: blocks of all 11 levels, each block shuffled on its own.
    """
    if repeats < 1:
        raise HapticsError(f"repeats is {repeats}, expected >= 1")
    order: list[float] = []
    for _ in range(repeats):
        order.extend(XU2014_LEVELS_S[i] for i in rng.permutation(len(XU2014_LEVELS_S)))
    return LatencyProtocol(
        "xu2014",
        tuple(order),
        True,
        "Xu et al., Surg Endosc 2014;28(9):2569-2576, doi:10.1007/s00464-014-3504-z",
    )


def ramp(rng: np.random.Generator | None = None, steps_s: Sequence[float] = (0.0, 0.35, 0.7)):
    """Rayman et al. 2009's training ramp: 0, 350, 700 ms, in that order, not blinded.

    Args:
        rng: unused (the ramp is fixed); accepted so every protocol is called alike.
        steps_s: the latencies of the ramp (s).
    """
    del rng
    if any(not (s >= 0) for s in steps_s):
        raise HapticsError(f"ramp steps {list(steps_s)} must all be >= 0 s")
    return LatencyProtocol(
        "ramp",
        tuple(float(s) for s in steps_s),
        False,
        "Rayman, Primak, Eagleson, Effects of network delay on training for telesurgery, 2009",
    )


#: name -> protocol generator ``f(rng) -> LatencyProtocol``.
PROTOCOLS: dict[str, Callable[..., LatencyProtocol]] = {"xu2014": xu2014, "ramp": ramp}


def latency_protocol(name: str, rng: np.random.Generator, **params) -> LatencyProtocol:
    """The protocol called ``name`` (see :data:`PROTOCOLS`), drawn with ``rng``."""
    try:
        make = PROTOCOLS[name]
    except KeyError:
        raise HapticsError(
            f"no latency protocol {name!r}; valid protocols are {sorted(PROTOCOLS)}."
            + closest_names(name, PROTOCOLS)
        ) from None
    return make(rng, **params)
