"""When sessions started, as the records keep it and as every view shows it.

The records keep times as naive UTC (a shared store has trainees and machines in several
time zones, and UTC has no hour that occurs twice at a daylight-saving change). Every
view says so: ``2026-10-25 00:59 UTC``, never a bare ``00:59`` that a reader in Berlin
takes for local time.

Attempts are ordered by when they started (:meth:`scenarios.records.Records.sessions`),
not by when they were stored: a session recovered after a crash is stored late, at its
place. So a session stored by a machine whose clock was wrong sorts where that clock put
it, and one from a clock set a year ahead stays the trainee's latest attempt until then.
That is not reordered silently: a start later than now on the machine that shows or
stores it is flagged (:func:`started_label`, :func:`future_starts_warning`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

#: how far past this machine's clock a start may lie before it is called "in the future"
#: (two machines' clocks a little apart, a run stored the moment it ended)
FUTURE_MARGIN = dt.timedelta(minutes=5)

#: what a start in the future is flagged with wherever it is shown
IN_THE_FUTURE = "in the future: a wrong clock?"


def utc_now() -> dt.datetime:
    """Now, as the records keep times (naive UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _as_utc(when: dt.datetime) -> dt.datetime:
    """``when`` as naive UTC (an aware time is converted; a naive one is UTC already)."""
    return when if when.tzinfo is None else when.astimezone(dt.UTC).replace(tzinfo=None)


def utc_label(when: dt.datetime, *, date_only: bool = False) -> str:
    """``2026-10-25 00:59 UTC`` (``2026-10-25 UTC`` with ``date_only``)."""
    return f"{_as_utc(when):%Y-%m-%d}" + ("" if date_only else f" {_as_utc(when):%H:%M}") + " UTC"


def in_the_future(started_at: dt.datetime, now: dt.datetime | None = None) -> bool:
    """Whether ``started_at`` lies more than :data:`FUTURE_MARGIN` after ``now`` (this
    machine's clock by default)."""
    return _as_utc(started_at) > (utc_now() if now is None else _as_utc(now)) + FUTURE_MARGIN


def started_label(started_at: dt.datetime, now: dt.datetime | None = None) -> str:
    """A session's start as every view shows it, flagged when it lies in the future."""
    label = utc_label(started_at)
    return f"{label} ({IN_THE_FUTURE})" if in_the_future(started_at, now) else label


def future_starts_warning(sessions: Sequence, now: dt.datetime | None = None) -> str:
    """What to tell whoever stores a session when stored sessions (``id``,
    ``started_at``; the one just stored among them) start after now: '' when none do.

    A start in the future comes from a clock that was wrong (when that session ran) or is
    wrong (now): that session sorts after every real attempt, as the latest, until then.
    """
    ahead = [s for s in sessions if in_the_future(s.started_at, now)]
    if not ahead:
        return ""
    listed = ", ".join(f"session {s.id} ({utc_label(s.started_at)})" for s in ahead)
    now_label = utc_label(utc_now() if now is None else now)
    return (
        f"warning: {listed} started after now ({now_label} by this machine's clock): a"
        " clock that was or is wrong. Attempts are ordered by when they started, so"
        f" {'it counts' if len(ahead) == 1 else 'they count'} as the latest attempt"
        " (the class view's latest score, attempts in a row, proficiency) until then;"
        " check this machine's date and time."
    )
