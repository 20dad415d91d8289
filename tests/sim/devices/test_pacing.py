"""A synthetic hand keeps in step with the simulation it watches (``sim.devices.pacing``).

A server slower than real time must see each of the hand's moves at its planned speed in
simulated time, and an arm must be watched for as long in simulated time as on a server
that keeps real time, before it counts as at rest.
"""

from __future__ import annotations

import pytest

from sim.devices.pacing import LEAD_S, SimulationPace, elapsed_in_both

PERIOD_S = 0.001  # a 1 kHz device


def _run(pace: SimulationPace, ticks: int, sim_per_tick_s: float, sim0: float = 0.0) -> float:
    """Queue ``ticks`` samples while the simulation advances ``sim_per_tick_s`` a tick,
    the plan waiting whenever the pace says it is ahead (the simulation goes on while
    it waits). Returns the simulated time at the end."""
    sim = sim0
    for _ in range(ticks):
        pace.queued(sim)
        while pace.ahead(sim):
            sim += sim_per_tick_s  # the hand held still, the server steps on
        sim += sim_per_tick_s
    return sim


def test_a_server_in_real_time_never_holds_the_hand_back():
    pace = SimulationPace(PERIOD_S)
    # the simulated time seen lags the samples queued (a 20-tick queue, 60 Hz state)
    sim = 0.0
    for tick in range(20_000):
        queued_s = tick * PERIOD_S
        seen_s = max(0.0, (queued_s - 0.02) // (1 / 60) * (1 / 60))
        pace.queued(seen_s)
        assert not pace.ahead(seen_s)
        sim = seen_s
    assert pace.waits == 0 and sim > 19.0


@pytest.mark.parametrize("speed", [0.25, 0.4, 0.7])
def test_on_a_slow_server_the_motion_keeps_its_planned_length_in_simulated_time(speed):
    pace = SimulationPace(PERIOD_S)
    planned_s = 3.0
    end = _run(pace, round(planned_s / PERIOD_S), speed * PERIOD_S)
    # the hand's 3 s of motion took 3 s of simulation (give or take the lead), not 3 x speed
    assert planned_s - LEAD_S <= end <= planned_s + LEAD_S + 0.01


def test_a_pause_builds_no_credit_for_a_burst_afterwards():
    pace = SimulationPace(PERIOD_S)
    _run(pace, 100, PERIOD_S)  # real time
    # the plan thinks for 5 s of simulation; then moves on a server at 0.3x
    start = 0.1 + 5.0
    end = _run(pace, 1000, 0.3 * PERIOD_S, sim0=start)
    assert end - start >= 1.0 - LEAD_S - 0.01  # not the 0.3 s it would take ahead


def test_nothing_is_held_before_the_simulation_is_seen():
    pace = SimulationPace(PERIOD_S)
    for _ in range(1000):
        pace.queued(-1.0)
        assert not pace.ahead(-1.0)
    pace.queued(0.0)
    assert not pace.ahead(0.0)


def test_the_pace_refuses_nonsense():
    with pytest.raises(ValueError):
        SimulationPace(0.0)
    with pytest.raises(ValueError):
        SimulationPace(0.001, lead_s=-1.0)


class _Clocks:
    def __init__(self) -> None:
        self.wall = 100.0
        self.sim = 7.0


def test_a_window_lasts_as_long_in_simulated_time_as_in_wall_time():
    c = _Clocks()
    over = elapsed_in_both(lambda: c.wall, lambda: c.sim, 0.03, 1.5)
    c.wall += 0.03
    c.sim += 0.01  # a server at 0.33x: not yet
    assert not over()
    c.wall += 0.06
    c.sim += 0.025
    assert over()


def test_a_window_on_a_stalled_server_ends_at_its_wall_cap():
    c = _Clocks()
    over = elapsed_in_both(lambda: c.wall, lambda: c.sim, 0.03, 1.5)
    c.wall += 1.49
    assert not over()
    c.wall += 0.02
    assert over()


def test_simulated_time_alone_does_not_end_a_window():
    c = _Clocks()
    over = elapsed_in_both(lambda: c.wall, lambda: c.sim, 0.03, 1.5)
    c.sim += 1.0  # a burst of state after a stall: the hand still watches 30 ms
    assert not over()
    c.wall += 0.03
    assert over()


def test_a_window_keeps_what_is_recent_on_either_clock():
    from sim.devices.pacing import RecentWindow

    w = RecentWindow(0.06)
    for k in range(20):  # 60 Hz of wall time on a server at 0.3x
        w.add(k / 60, 0.3 * k / 60, k)
    # 60 ms of wall time would keep 4 values; 60 ms of simulated time keeps 13
    assert len(w) == 13 and w.latest == 19 and w.values()[0] == 7
    assert w.spans(0.03) and not w.spans(0.07)


def test_a_partners_arm_creeping_on_a_slow_server_is_not_at_rest():
    """An arm creeping at 10 mm/s of simulated time on a server at 0.3x moves 0.2 mm in
    60 ms of wall time (four 60 Hz messages): judged on wall time alone it "rests"."""
    import numpy as np

    from haptics.bus.contract import Message, pose_payload
    from sim.devices.partner import MoveCounter

    sim = [0.0]
    on_both = MoveCounter("PSM2", simulated=lambda: sim[0])
    on_wall = MoveCounter("PSM2")
    X = np.eye(4)
    for k in range(120):
        wall = 100.0 + k / 60
        sim[0] = 0.3 * k / 60
        X[0, 3] = 0.01 * sim[0]  # 10 mm/s in simulated time
        for counter in (on_both, on_wall):
            counter(Message("PSM2/measured_cp", pose_payload(X), received_s=wall))
    assert on_wall.resting  # the old judgement
    assert not on_both.resting
