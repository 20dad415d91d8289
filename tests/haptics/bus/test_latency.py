"""Latency injection with a fake clock: delays, order, loss, protocols, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from haptics.bus.latency import (
    XU2014_LEVELS_S,
    DelayLine,
    latency_protocol,
    ramp,
    xu2014,
)
from haptics.errors import HapticsError


def _run(line: DelayLine, n: int, period_s: float, step_s: float = 1e-4):
    """Push n items (their push time) every period_s; pop on a fine fake clock."""
    released = []
    t, pushed = 0.0, 0
    while pushed < n or len(line):
        if pushed < n and t >= pushed * period_s:
            line.push(t, (pushed, t))
            pushed += 1
        released.extend((i, t0, t) for i, t0 in line.pop_ready(t))
        t += step_s
    return released


def test_constant_latency_is_exact():
    line = DelayLine(0.25)
    out = _run(line, 200, 0.001, step_s=0.001)
    delays = np.array([t1 - t0 for _, t0, t1 in out])
    assert len(out) == 200 and np.abs(delays - 0.25).max() < 0.0011  # one clock step
    assert [i for i, *_ in out] == list(range(200))


def test_nothing_is_released_early_and_zero_latency_is_immediate():
    line = DelayLine(0.1)
    line.push(1.0, "a")
    assert line.pop_ready(1.0999) == [] and line.next_release_s() == pytest.approx(1.1)
    assert line.pop_ready(1.1) == ["a"]
    zero = DelayLine(0.0)
    zero.push(2.0, "b")
    assert zero.pop_ready(2.0) == ["b"]


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_jitter_keeps_order_and_the_mean(seed):
    # messages 50 ms apart, jitter 5 ms: head-of-line blocking (almost) never matters
    line = DelayLine(0.2, jitter_s=0.005, rng=np.random.default_rng(seed))
    out = _run(line, 400, 0.05, step_s=1e-4)
    delays = np.array([t1 - t0 for _, t0, t1 in out])
    assert [i for i, *_ in out] == list(range(400))
    assert abs(delays.mean() - 0.2) < 4 * 0.005 / np.sqrt(400) + 1e-4  # 4 sigma + clock step
    assert 0.003 < delays.std() < 0.007


def test_dense_jitter_never_reorders_and_only_adds_delay():
    line = DelayLine(0.05, jitter_s=0.01, rng=np.random.default_rng(5))
    out = _run(line, 2000, 0.001, step_s=1e-4)
    order = [i for i, *_ in out]
    assert order == sorted(order) and len(order) == 2000
    delays = np.array([t1 - t0 for _, t0, t1 in out])
    assert delays.min() >= 0.0 and delays.mean() >= 0.05 - 1e-3  # blocking only delays


@pytest.mark.parametrize(("loss", "seed"), [(0.01, 1), (0.1, 2), (0.5, 3)])
def test_loss_rate_within_binomial_bounds(loss, seed):
    n = 20_000
    line = DelayLine(0.0, loss=loss, rng=np.random.default_rng(seed))
    kept = sum(line.push(i * 1e-3, i) for i in range(n))
    sigma = np.sqrt(n * loss * (1 - loss))
    assert abs((n - kept) - n * loss) < 5 * sigma
    assert line.lost == n - kept and line.pushed == n
    assert len(line.pop_ready(1e9)) == kept and len(line) == 0


def test_same_seed_same_run():
    def run(seed):
        line = DelayLine(0.1, jitter_s=0.02, loss=0.2, rng=np.random.default_rng(seed))
        return _run(line, 300, 0.002, step_s=5e-4)

    assert run(4) == run(4)
    assert run(4) != run(5)


def test_bad_settings_say_what_is_valid():
    with pytest.raises(HapticsError, match=r"latency_s is -0\.1"):
        DelayLine(-0.1)
    with pytest.raises(HapticsError, match="probability"):
        DelayLine(0.1, loss=1.5, rng=np.random.default_rng(0))
    with pytest.raises(HapticsError, match="seeded generator"):
        DelayLine(0.1, jitter_s=0.01)


def test_xu2014_presents_each_level_once_per_block_in_random_order():
    assert XU2014_LEVELS_S == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    p = xu2014(np.random.default_rng(1), repeats=2)
    assert p.blinded and "2569" in p.reference and len(p.latencies_s) == 22
    for block in (p.latencies_s[:11], p.latencies_s[11:]):
        assert sorted(block) == list(XU2014_LEVELS_S)
    orders = {xu2014(np.random.default_rng(s)).latencies_s for s in range(20)}
    assert len(orders) == 20  # random order, different per seed
    assert xu2014(np.random.default_rng(3)) == xu2014(np.random.default_rng(3))


def test_ramp_and_the_registry():
    assert ramp().latencies_s == (0.0, 0.35, 0.7) and not ramp().blinded
    assert latency_protocol("ramp", np.random.default_rng(0)) == ramp()
    with pytest.raises(HapticsError, match="Did you mean 'xu2014'"):
        latency_protocol("xu2104", np.random.default_rng(0))
