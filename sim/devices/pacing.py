"""Keeping a synthetic hand in step with the simulation it watches.

A device process publishes its samples in real time, but a server that cannot keep real
time (a loaded machine: 0.3x was measured with two device processes and a busy core)
runs its simulated clock slower. A hand that kept moving at its own pace would then move
several times faster *in the simulation* than it was planned to: the instrument trails
the hand, the catch-up limit lets it go as fast as it may, and an approach planned to
take a second arrives in a third of one — into the ring it was aimed beside (seen: a ring
knocked off its seat 1.3 s into a peg transfer at 0.28x, after which neither hand could
pick it up). A person at the console watches the screen and waits for the instrument;
:class:`SimulationPace` makes the synthetic operator do the same: the hand's motion may
run at most :data:`LEAD_S` of simulated time ahead of the latest simulated time seen,
and the plan waits (the hand held still, still sampled at the device rate) until the
simulation catches up.

Waiting for an arm to come to rest is timed the same way (:func:`elapsed_in_both`): a
window of 30 ms of wall time is 10 ms of simulation at 0.3x, in which an arm still
creeping towards its goal at 15 mm/s passes for one at rest, and the next move starts
from where it was not (seen: an approach 6.5 mm beside its aim, sweeping open jaws into
the ring).

Pauses of the plan (a wait, a look) do not build up credit: after one the hand's clock
restarts from the simulation's, so a burst of motion after a pause is held to the same
lead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

#: How far (simulated s) the hand's motion may run ahead of the simulated time last seen.
#: The server publishes its time with ``scene/state`` at 60 Hz and the device queues up
#: to 20 ms of samples, so a server that keeps real time shows the hand 20-45 ms ahead:
#: never held back. Small next to a reach (0.4-1 s), so on a slow server every move keeps
#: its planned speed in simulated time.
LEAD_S = 0.1


class SimulationPace:
    """The simulated time the hand's queued motion has reached, against the simulation's.

    Args:
        period_s: simulated time one queued sample stands for (1 / device rate).
        lead_s: how far the motion may run ahead of the simulation (s).
    """

    def __init__(self, period_s: float, lead_s: float = LEAD_S) -> None:
        if not period_s > 0 or not lead_s > 0:
            raise ValueError(f"period_s and lead_s must be positive, got {period_s}, {lead_s}")
        self.period_s = float(period_s)
        self.lead_s = float(lead_s)
        self._motion_s: float | None = None
        #: how many times the hand waited for the simulation (a slow server's mark)
        self.waits = 0

    def queued(self, simulated_s: float) -> None:
        """One sample of motion was queued while the simulation showed ``simulated_s``
        (negative: no simulated time seen yet, nothing to keep pace with)."""
        if simulated_s < 0:
            return
        if self._motion_s is None:
            self._motion_s = simulated_s
        self._motion_s = max(self._motion_s + self.period_s, simulated_s)

    def ahead(self, simulated_s: float) -> bool:
        """Whether the motion is more than :attr:`lead_s` ahead of ``simulated_s``."""
        return (
            simulated_s >= 0
            and self._motion_s is not None
            and self._motion_s - simulated_s > self.lead_s
        )


def elapsed_in_both(
    wall_clock: Callable[[], float],
    simulated_clock: Callable[[], float],
    seconds: float,
    wall_cap_s: float,
) -> Callable[[], bool]:
    """A predicate that turns true once ``seconds`` have passed in wall *and* simulated
    time (a server slower than real time gets as much simulated time as one that keeps
    it), or ``wall_cap_s`` of wall time (a server that stalls, or a paused one, does not
    hold the hand for ever)."""
    wall0, simulated0 = wall_clock(), simulated_clock()

    def over() -> bool:
        wall = wall_clock() - wall0
        return wall >= wall_cap_s or (wall >= seconds and simulated_clock() - simulated0 >= seconds)

    return over


class RecentWindow:
    """Values seen over the last ``window_s`` of wall time *and* simulated time.

    What a watcher judges "at rest" over a window must be judged over as much simulated
    time as on a server that keeps real time: an item leaves the window only once it is
    older than ``window_s`` on both clocks, and :meth:`spans` asks both clocks too.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = float(window_s)
        self._items: deque[tuple[float, float, object]] = deque()

    def add(self, wall_s: float, simulated_s: float, value) -> None:
        """Add a value seen at these times (s); forget what is older on both clocks."""
        items = self._items
        items.append((wall_s, simulated_s, value))
        while wall_s - items[0][0] > self.window_s and simulated_s - items[0][1] > self.window_s:
            items.popleft()

    def __len__(self) -> int:
        return len(self._items)

    def spans(self, seconds: float) -> bool:
        """Whether the values kept cover at least ``seconds`` on both clocks."""
        if not self._items:
            return False
        first, last = self._items[0], self._items[-1]
        return last[0] - first[0] >= seconds and last[1] - first[1] >= seconds

    def values(self) -> list:
        """The values kept, oldest first."""
        return [value for _, _, value in self._items]

    def items(self) -> list[tuple[float, float, object]]:
        """The ``(wall_s, simulated_s, value)`` kept, oldest first."""
        return list(self._items)

    @property
    def latest(self):
        """The newest value."""
        return self._items[-1][2]
