"""The server's tick alignment on a fake clock: a tick starts right after the devices'
samples (never before its deadline minus a period, never sooner than half a period after
the last tick), waits for its deadline when a device is slow or silent, and the schedule
keeps real time either way."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from haptics.bus.devices import DeviceSample
from haptics.master import MasterSample
from scenarios.loader import load_scenario
from sim.server.loop import Pacer
from sim.server.server import ServeConfig, TrainingServer

PERIOD_S = 0.002  # needle handover: 500 Hz physics


class FakeBus:
    """Samples arriving on a schedule: ``(time_s, device)``; the clock is the test's."""

    def __init__(self, clock, arrivals) -> None:
        self.clock = clock
        self.arrivals = sorted(arrivals)
        self.i = 0

    def wait(self, timeout_s: float, requests: bool = True) -> bool:
        end = self.clock.now + max(timeout_s, 0.0)
        if self.i < len(self.arrivals) and self.arrivals[self.i][0] <= end:
            self.clock.now = max(self.clock.now, self.arrivals[self.i][0])
            return True
        self.clock.now = end
        return False

    def take(self) -> list[DeviceSample]:
        out = []
        while self.i < len(self.arrivals) and self.arrivals[self.i][0] <= self.clock.now:
            t, device = self.arrivals[self.i]
            self.i += 1
            sample = MasterSample(t, np.eye(4), 0.3, False, self.i)
            out.append(DeviceSample(device, sample, self.i, t, t))
        return out


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("needle-handover")


def _serve_ticks(scenario, arrivals, align: bool, ticks: int = 400, work_s: float = 4e-4):
    """Run ``ticks`` ticks of the server's pacing with the fake bus; returns the tick
    start times, the pacer and the arrival times."""
    clock = FakeClock()
    server = TrainingServer(
        scenario,
        config=ServeConfig(port=0, align_ticks=align, wait_for_devices=False),
        say=lambda line: None,
        clock=clock,
    )
    try:
        bus = FakeBus(clock, [(clock.now + t, d) for t, d in arrivals])
        server.bus.wait = bus.wait
        server._take_device_messages = lambda now: bus.take()
        server.session.command = lambda commands: None  # only the timing is under test
        pacer = Pacer(500.0, clock=clock, sleep=server._between_ticks)
        starts = []
        for _ in range(ticks):
            now = server._tick_started = pacer.wait()
            starts.append(now)
            server._take_commands(now)
            clock.now += work_s
        return np.array(starts) - 50.0, pacer
    finally:
        server.close()


def _one_khz(devices=("MTMR", "MTML"), phase_s=3e-4, skew_s=2e-5, until_s=1.0):
    return [
        (phase_s + k * 1e-3 + i * skew_s, d)
        for k in range(int(until_s * 1000))
        for i, d in enumerate(devices)
    ]


@pytest.mark.parametrize("phase_s", [0.0, 3e-4, 7e-4, 9.9e-4])
def test_ticks_start_right_after_both_hands_samples_and_keep_the_schedule(scenario, phase_s):
    arrivals = _one_khz(phase_s=phase_s)
    starts, pacer = _serve_ticks(scenario, arrivals, align=True)
    last_of_burst = np.array([t for t, d in arrivals if d == "MTML"])
    # every tick after the first few starts at the arrival of a burst's last sample
    after = [s - last_of_burst[np.searchsorted(last_of_burst, s + 1e-12) - 1] for s in starts[5:]]
    assert max(after) < 1e-9
    due = starts[0] + PERIOD_S * np.arange(len(starts))
    assert np.all(starts <= due + 1e-9)  # never after the deadline ...
    assert np.all(starts >= due - PERIOD_S - 1e-9)  # ... nor more than a period early
    gaps = np.diff(starts)
    assert gaps.min() >= 0.5 * PERIOD_S - 1e-9  # no bursts
    report = pacer.report()
    assert report.aligned_ticks >= len(starts) - 5
    assert report.real_time_ratio == pytest.approx(1.0, abs=0.01)


def test_a_silent_hand_does_not_hold_ticks_back_and_a_slow_one_leaves_them_on_time(scenario):
    # MTML falls silent after 0.2 s: after the 100 ms gap timeout only MTMR is waited for
    arrivals = [a for a in _one_khz() if a[1] == "MTMR" or a[0] < 0.2]
    starts, pacer = _serve_ticks(scenario, arrivals, align=True)
    mtmr = np.array([t for t, d in arrivals if d == "MTMR"])
    late = starts[starts > 0.35]
    after = [s - mtmr[np.searchsorted(mtmr, s + 1e-12) - 1] for s in late]
    assert max(after) < 1e-9
    # a 100 Hz device never sends inside every window: those ticks keep their deadlines
    slow = [(3e-4 + k * 1e-2, "MTMR") for k in range(100)]
    starts, pacer = _serve_ticks(scenario, slow, align=True)
    due = starts[0] + PERIOD_S * np.arange(len(starts))
    on_time = np.isclose(starts, due, atol=2e-4)
    assert on_time.mean() > 0.7
    assert pacer.report().real_time_ratio == pytest.approx(1.0, abs=0.01)


def test_without_alignment_ticks_keep_their_deadlines(scenario):
    starts, pacer = _serve_ticks(scenario, _one_khz(), align=False)
    gaps = np.diff(starts)
    assert np.allclose(gaps, PERIOD_S, atol=2e-4)
    assert pacer.report().aligned_ticks == 0
    assert not any(b - a < 0.5 * PERIOD_S for a, b in itertools.pairwise(starts))
