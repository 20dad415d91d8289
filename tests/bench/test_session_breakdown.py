"""The session-step breakdown times the parts it names and leaves the session as it was."""

from __future__ import annotations

from collections import Counter

import pybullet

from bench.session_breakdown import PARTS, PYBULLET_CALLS, STEP, _resolve, timed_parts
from scenarios.loader import load_scenario
from sim.session.session import Session


def test_parts_are_timed_inside_the_step_and_unwrapped_after():
    originals = {(p, m): getattr(_resolve(p), m) for _, p, m in (*PARTS, STEP)}
    pybullet_calls = {name: getattr(pybullet, name) for name in dir(pybullet)}
    totals: Counter = Counter()
    with timed_parts(totals), Session(load_scenario("needle-handover"), seed=0) as session:
        building = totals[PYBULLET_CALLS]  # the world was built outside any step
        session.advance({}, steps=50)
    for (path, method), original in originals.items():
        assert getattr(_resolve(path), method) is original  # unwrapped
    assert all(getattr(pybullet, n) is f for n, f in pybullet_calls.items())
    assert building == 0 and 0 < totals[PYBULLET_CALLS] < totals[STEP[0]]
    step = totals[STEP[0]]
    assert step > 0
    for label in ("observation (trace rate)", "arm motor setpoints", "grasp tracking"):
        assert 0 < totals[label] < step  # each part ran, inside the step
