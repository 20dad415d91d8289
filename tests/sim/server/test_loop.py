"""Pacing on a fake clock: deadlines, no catch-up bursts, overruns counted."""

from __future__ import annotations

import itertools

import pytest

from sim.server.loop import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.oversleep_s = 5e-5

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds + self.oversleep_s


def test_ticks_start_on_their_deadlines_and_keep_real_time():
    clock = FakeClock()
    pacer = Pacer(500.0, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(2000):
        starts.append(pacer.wait())
        clock.now += 3e-4  # 0.3 ms of work per 2 ms tick
    report = pacer.report()
    assert report.ticks == 2000 and report.overruns == 0 and report.resyncs == 0
    assert report.period_ms[0] == pytest.approx(2.0, abs=0.01)
    assert report.lateness_ms[1] < 0.06  # the learnt margin absorbs the oversleep
    assert report.real_time_ratio == pytest.approx(1.0, abs=0.002)
    assert report.kept_real_time


def test_a_slow_tick_is_an_overrun_and_the_schedule_resyncs_without_a_burst():
    clock = FakeClock()
    pacer = Pacer(1000.0, clock=clock, sleep=clock.sleep, max_lag_ticks=5)
    starts = []
    for k in range(200):
        starts.append(pacer.wait())
        clock.now += 0.02 if k == 100 else 1e-4  # one 20 ms stall
    report = pacer.report()
    assert report.overruns == 1 and report.resyncs == 1
    after = [b - a for a, b in itertools.pairwise(starts[101:151])]
    assert min(after) > 0.9e-3  # no burst of back-to-back ticks to make up the stall
    assert report.real_time_ratio < 0.95  # simulated time fell behind: visible
    assert not report.kept_real_time


def test_rate_must_be_positive():
    with pytest.raises(ValueError, match="rate_hz"):
        Pacer(0.0)


def test_the_real_time_note_tells_a_slow_loop_from_one_with_late_ticks():
    """It read "could not keep real time: 1.00x" beside a run at 1.000x real time."""
    from types import SimpleNamespace

    from sim.server.server import real_time_note

    late = SimpleNamespace(real_time_ratio=1.0, overruns=138, ticks=9794, overrun_fraction=0.0141)
    assert real_time_note(late).startswith("the machine kept up overall (1.00x real time)")
    assert "138 of 9794 ticks (1.4%) overran" in real_time_note(late)
    slow = SimpleNamespace(real_time_ratio=0.6, overruns=5000, ticks=9000, overrun_fraction=0.55)
    assert real_time_note(slow).startswith("the machine could not keep real time: 0.60x")
