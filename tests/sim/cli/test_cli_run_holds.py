"""``surgisim run`` says why arms were held: a run whose IK solver returned NaN scored 0
with 0 cm of motion, and the reason was only in the HTML report."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from scenarios.trace import TraceEvent
from sim.cli.run import say_holds


class _Trace:
    def __init__(self, events):
        self.events = events


def _said(events, limit=5) -> str:
    out = StringIO()
    say_holds(Console(file=out, width=200), _Trace(events), limit=limit)
    return out.getvalue()


def test_holds_are_said_by_kind_arm_and_reason_most_frequent_first():
    nan = "IK solver my:ik_nan returned q with NaN or inf"
    events = [TraceEvent(0.1 * k, "filter_reset", {"arm": "PSM1", "detail": "x"}) for k in range(3)]
    events += [TraceEvent(0.5, "unreachable", {"arm": "ECM", "reason": nan})]
    events += [TraceEvent(0.6, "drop", {"object": "ring"})]  # not a hold
    lines = _said(events).splitlines()
    assert lines == [
        "filter reset, PSM1, 3 times, first at 0.00 s: x",
        f"unreachable, ECM, held once, first at 0.50 s: {nan}",
    ]


def test_more_reasons_than_the_limit_point_to_the_report():
    events = [TraceEvent(0.0, "unreachable", {"arm": f"PSM{k}", "reason": "r"}) for k in range(7)]
    lines = _said(events, limit=5).splitlines()
    assert len(lines) == 6 and lines[-1] == "... and 2 other reasons (the report lists them)"
    assert _said([]) == ""


def test_reasons_that_differ_only_in_their_numbers_are_one_line():
    """A solver raising "... on call 50", "... call 100" filled five lines and "138 other
    reasons"."""
    events = [
        TraceEvent(0.1 * k, "unreachable", {"arm": "PSM2", "reason": f"exploded on call {50 * k}"})
        for k in range(1, 140)
    ]
    lines = _said(events).splitlines()
    assert lines == [
        "unreachable, PSM2, held 139 times, first at 0.10 s: exploded on call 50 (and alike)"
    ]
