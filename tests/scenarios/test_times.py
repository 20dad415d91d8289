"""How the records' times are shown (:mod:`scenarios.times`): UTC, labelled, and a start
in the future flagged."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from scenarios.times import (
    FUTURE_MARGIN,
    IN_THE_FUTURE,
    future_starts_warning,
    started_label,
    utc_label,
)

NOW = dt.datetime(2026, 10, 25, 0, 59)


def test_times_are_labelled_utc_and_aware_ones_converted():
    assert utc_label(NOW) == "2026-10-25 00:59 UTC"
    assert utc_label(NOW, date_only=True) == "2026-10-25 UTC"
    berlin = dt.datetime(2026, 10, 25, 2, 59, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert utc_label(berlin) == "2026-10-25 00:59 UTC"


def test_only_a_start_past_the_margin_is_in_the_future():
    assert started_label(NOW + FUTURE_MARGIN, NOW) == "2026-10-25 01:04 UTC"
    late = NOW + FUTURE_MARGIN + dt.timedelta(seconds=1)
    assert started_label(late, NOW) == f"2026-10-25 01:04 UTC ({IN_THE_FUTURE})"


def test_storing_warns_of_each_session_that_starts_after_now():
    rows = [
        SimpleNamespace(id=7, started_at=NOW + dt.timedelta(days=400)),
        SimpleNamespace(id=8, started_at=NOW),
    ]
    warning = future_starts_warning(rows, NOW)
    assert warning.startswith("warning: session 7 (2027-11-29 00:59 UTC) started after now")
    assert "session 8" not in warning and "it counts as the latest attempt" in warning
    assert future_starts_warning(rows[1:], NOW) == ""
