"""Why a run's arms were held instead of moving, counted from its events.

A plug-in IK solver that raises on every call, or a tremor filter that returns NaN, does
not stop a session: the arm holds and an event says why. A run that held its arms can
still complete and score like one that moved them well (a solver raising on 144 calls
per run scored 100, as the built-in did, in a sweep whose table said nothing of it), so
every result a researcher compares (``run --json``, a sweep's rows and summary) carries
these counts beside the score.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Events of an arm held or a command not taken: a plug-in solver or filter that failed,
#: a goal out of reach, a controller's command refused, an error inside the session.
HOLD_EVENTS = ("unreachable", "filter_reset", "command_refused", "internal_error")


def hold_counts(events: Iterable) -> dict[str, int]:
    """How many events of each kind in :data:`HOLD_EVENTS` (every kind, 0 when none).

    ``unreachable`` is said once per spell of holding (until a goal is reachable again),
    the others each time they happen: a count of spells, not of steps held.
    """
    counts = dict.fromkeys(HOLD_EVENTS, 0)
    for event in events:
        if event.kind in counts:
            counts[event.kind] += 1
    return counts
