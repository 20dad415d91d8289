"""Counting the other hand's moves from its ``measured_cp`` stream (one hand per process)."""

from __future__ import annotations

import numpy as np

from haptics.bus.contract import Message, pose_payload
from sim.devices.partner import MOVED_M, MoveCounter


def _feed(counter: MoveCounter, positions, t0: float = 100.0, rate_hz: float = 60.0) -> float:
    """``PSM2/measured_cp`` at these tool-tip positions (m), one per 1/rate_hz s (60 Hz:
    the server's arm state rate)."""
    t = t0
    for p in positions:
        X = np.eye(4)
        X[:3, 3] = p
        counter(Message("PSM2/measured_cp", pose_payload(X), received_s=t))
        counter(Message("PSM1/measured_cp", pose_payload(np.eye(4)), received_s=t))  # ignored
        t += 1.0 / rate_hz
    return t


def _reach(start, end, n: int):
    """A minimum-jerk-like reach of n samples, then the hand at rest."""
    s = np.linspace(0.0, 1.0, n)
    s = 10 * s**3 - 15 * s**4 + 6 * s**5
    return [np.asarray(start) + k * (np.asarray(end) - np.asarray(start)) for k in s]


def test_a_move_ended_by_a_rest_counts_once():
    rng = np.random.default_rng(21)
    counter = MoveCounter("PSM2")
    a, b, c = np.zeros(3), np.array([0.03, 0.0, 0.01]), np.array([0.03, -0.02, 0.0])
    rest = [a] * 20
    _feed(counter, rest + _reach(a, b, 60) + [b] * 20 + _reach(b, c, 50) + [c] * 20)
    assert counter.moves == 2 and counter.resting
    # tremor well under a millimetre, and a rest that drifts slowly, are not moves
    still = [c + rng.normal(0.0, 3e-5, 3) for _ in range(300)]
    drift = [c + np.array([k * 1e-5, 0.0, 0.0]) for k in range(300)]  # 3 mm in 3 s
    _feed(counter, still + drift, t0=200.0)
    assert counter.moves == 2


def test_a_move_shorter_than_the_threshold_or_never_resting_does_not_count():
    counter = MoveCounter("PSM2")
    a = np.zeros(3)
    short = a + np.array([0.5 * MOVED_M, 0.0, 0.0])
    _feed(counter, [a] * 10 + _reach(a, short, 30) + [short] * 10)
    assert counter.moves == 0
    far = np.array([0.05, 0.0, 0.0])
    _feed(counter, _reach(short, far, 200)[:150], t0=300.0)  # still on its way
    assert counter.moves == 0 and not counter.resting


def test_parallel_runs_only_this_processs_branches(monkeypatch):
    """The other hand's branch runs in the other process (it watches the bus there)."""
    from sim.devices.partner import PartnerDemonstrator
    from sim.session.demo import Demonstrator

    ran = []
    monkeypatch.setattr(Demonstrator, "parallel", lambda self, branches: ran.append(branches))
    me = PartnerDemonstrator.__new__(PartnerDemonstrator)  # no session needed
    me.partner = ["PSM2"]
    PartnerDemonstrator.parallel(me, {"PSM1": print, "PSM2": print})
    PartnerDemonstrator.parallel(me, {"PSM2": print})  # nothing of ours to run
    assert ran == [{"PSM1": print}]


def _jaw_window(values, start_s: float = 10.0):
    from sim.devices.pacing import RecentWindow

    w = RecentWindow(0.03)
    for k, jaw in enumerate(values):  # a look every 10 ms, on both clocks
        w.add(start_s + 0.01 * k, start_s + 0.01 * k, jaw)
    return w


def test_a_grasp_seen_is_a_grip_done_even_while_the_hand_carries_the_ring_away():
    """The partner closed on a ring and carries it off at once: its jaw, pushed by the
    ring, wanders by a few hundredths of a radian and never rests within 0.01 rad."""
    from sim.devices.partner import PartnerDemonstrator, _Grip

    close = _Grip("PSM1", -0.3)
    carrying = _jaw_window([0.49, 0.52, 0.50, 0.53, 0.49])
    assert PartnerDemonstrator._gripped(close, 1.2, carrying, True, holds=True)
    # the same jaw with nothing held is not a grip: closing on air, or stopped on a ring
    # with no grasp (a miss), still under way
    assert not PartnerDemonstrator._gripped(close, 1.2, carrying, True, holds=False)
    # asked to open: a hand still holding has not let go, however its jaw wanders
    assert not PartnerDemonstrator._gripped(_Grip("PSM1", 1.2), 0.5, carrying, True, True)
    # open at rest with nothing held: done
    opened = _jaw_window([1.05, 1.05, 1.05, 1.05])
    assert PartnerDemonstrator._gripped(_Grip("PSM1", 1.2), 0.5, opened, True, holds=False)


def test_the_watched_hand_is_planned_with_its_operators_profile():
    """Both processes run the whole plan and must decide alike: the hand this process
    only watches (no operator here) has the same scatter and stroke as in its own
    process (a plan asks them to choose a move; they once raised KeyError here)."""
    from scenarios.loader import load_scenario
    from sim.devices.partner import PartnerDemonstrator
    from sim.session.demo import Demonstrator
    from sim.session.session import Session

    with Session(load_scenario("peg-transfer"), seed=0) as session:
        session.partner, session.observers = ["PSM2"], []  # what a RemoteSession has
        joint = Demonstrator(session, "expert", seed=2)
        split = PartnerDemonstrator(session, "expert", seed=2)
        assert "PSM2" not in split.operators
        for arm in ("PSM1", "PSM2"):
            assert split.scatter_m(arm, 0.01) == joint.scatter_m(arm, 0.01) > 0
            assert split.stroke_m(arm) == joint.stroke_m(arm) > 0
