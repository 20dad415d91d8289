"""DeviceState against what an outside device author's master did wrong (a Node.js master
written from docs/bus.md): two processes under one name, stamps in the wrong unit or on a
wrong clock, a stamp that goes back, and counts that did not add up.

Synthetic streams with explicit receipt times: margins, not timings."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from haptics.bus.contract import Message, pose_payload
from haptics.bus.devices import (
    DUPLICATE_QUIET_S,
    DUPLICATE_REVERSALS,
    DeviceState,
    stamp_rate_problem,
    stamp_resolution_problem,
)

LOGGER = "haptics.bus"


def _cp(seq: int, stamp_s: float, received_s: float, x: float = 0.0, name: str = "MTMR"):
    X = np.eye(4)
    X[0, 3] = x
    return Message(
        f"{name}/measured_cp",
        {**pose_payload(X), "v": 1, "stamp_s": stamp_s, "seq": seq},
        received_s,
    )


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# ---- 1. two senders under one name -------------------------------------------------------
def _two_hands(rng, t_end: float = 12.0, b_from: float = 5.0, b_until: float = 8.0):
    """Hand A (x = +0.05) sends from t = 0, hand B (x = -0.05, its own seq from 0) from
    ``b_from`` to ``b_until``; 1 kHz each, both stamped with the receiver's clock plus a
    little delay, merged in receipt order in bursts of a few samples per sender (ZeroMQ
    reads its senders' queues in turn)."""
    msgs = []
    for x, t0, t1 in ((0.05, 0.0, t_end), (-0.05, b_from, b_until)):
        n = int((t1 - t0) * 1000)
        stamps = 100.0 + t0 + np.arange(n) * 1e-3
        burst = np.repeat(np.arange(0, n, 4), 4)[:n] * 1e-3  # delivered 4 at a time
        received = stamps - 100.0 - np.arange(n) * 1e-3 + burst + 3e-3
        received = np.maximum.accumulate(received + rng.exponential(2e-4, n))  # in order
        msgs += [(r, i, s, x) for i, (s, r) in enumerate(zip(stamps, received, strict=True))]
    msgs.sort(key=lambda m: m[0])
    return [_cp(seq, s, r, x) for r, seq, s, x in msgs]


def test_two_senders_under_one_name_are_held_counted_and_warned_once(rng, caplog):
    """Two MTMR processes (the second started 5 s later, each counting its own seq from 0)
    swung PSM1's tip between the two hands, 276 reversals in 7 s, with restarts 0, lost 0
    and no warning: the stray-message logic undid every interleaving. Now: held while both
    send (no sample of either comes out), one WARNING saying what to do, counted; when the
    second stops, samples flow again."""
    state = DeviceState()
    out = []
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for m in _two_hands(rng):
            s = state.update(m)
            if s is not None:
                out.append((m.received_s, s.sample.X_MH[0, 3]))
    times = np.array([t for t, _ in out])
    xs = np.array([x for _, x in out])
    swings = int(np.count_nonzero(np.diff(np.sign(xs))))
    # into B's samples and back at each reversal before the last one catches it
    assert swings <= 2 * (DUPLICATE_REVERSALS - 1), swings
    assert np.count_nonzero(xs < 0) < 20  # a handful of B's samples before detection
    assert not np.any((times > 5.05) & (times < 8.0))  # held while both send
    assert np.count_nonzero(times > 8.0 + DUPLICATE_QUIET_S + 0.1) > 2000  # flowing again
    stats = state.stats("MTMR")
    assert stats.duplicate_senders == 1 and stats.held > 5000, stats
    assert state.held("MTMR") == ""
    warned = _warnings(caplog)
    assert len(warned) == 1, warned
    assert "MTMR" in warned[0] and "stop the other process" in warned[0]
    assert "used again" in caplog.text  # the end of the episode, at INFO
    notices = state.pop_notices()
    assert [d for d, _ in notices] == ["MTMR"] and state.pop_notices() == []


def test_strays_now_and_then_are_not_two_senders_and_move_nothing(caplog):
    """One stray old message every few seconds is handled as one stray: the device is
    never held, and the stray itself drives nothing (its old pose came out as a sample:
    a replayed message moved the tool towards where the hand had been)."""
    state = DeviceState()
    out = []
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for i in range(20_000):
            t = 1.0 + i * 1e-3
            out.append(state.update(_cp(i, t, t + 1e-3)))
            if i % 3000 == 2999:  # a replayed old message, from where the hand was
                out.append(state.update(_cp(i - 2500, t - 2.5, t + 1.1e-3, x=0.2)))
    stats = state.stats("MTMR")
    assert stats.duplicate_senders == 0 and stats.restarts == 0, stats
    assert stats.held == 6 and stats.samples == 20_000 and not _warnings(caplog)
    used = [s for s in out if s is not None]
    assert len(used) == 20_000 and all(s.sample.X_MH[0, 3] == 0.0 for s in used)


@pytest.mark.parametrize("how", ["back", "jump"])
def test_a_restart_drives_from_its_second_sample(how):
    """A seq that goes back (or jumps past any loss) is a restart or a stray, and only
    the next sample tells which: the first of a restart is held, the rest drive."""
    state = DeviceState()
    for i in range(500):
        state.update(_cp(i, 1.0 + i * 1e-3, 1.001 + i * 1e-3))
    start = 0 if how == "back" else 10**7
    t0 = 1.6
    out = [state.update(_cp(start + k, t0 + k * 1e-3, t0 + 1e-3 + k * 1e-3)) for k in range(100)]
    assert out[0] is None and all(s is not None for s in out[1:])
    stats = state.stats("MTMR")
    assert stats.restarts == 1 and stats.held == 1 and stats.samples == 599, stats


# ---- 2. stamps in the wrong unit, on a wrong clock -------------------------------------------
def _stream(scale: float, seconds: float, rng, rate_hz: float = 1000.0, start: int = 0):
    """A device whose clock runs ``scale`` x real time (1e3: milliseconds), delivered with
    jitter."""
    n = int(seconds * rate_hz)
    t = start / rate_hz + np.arange(n) / rate_hz
    received = 50.0 + t + rng.exponential(3e-4, n).clip(0, 5e-3)
    return [
        _cp(start + i, 7.0 + scale * ti, r)
        for i, (ti, r) in enumerate(zip(t, received, strict=True))
    ]


@pytest.mark.parametrize(
    ("scale", "words"),
    [
        (1e3, "milliseconds"),
        (1e6, "microseconds"),
        (1e9, "nanoseconds"),
        (1e-3, "thousands of seconds"),
        (2.0, "2x as fast"),
        (0.4, "2.5x slower"),
    ],
)
def test_stamps_in_the_wrong_unit_or_clock_are_named_and_held(scale, words, rng, caplog):
    """Milliseconds (performance.now()), integer nanoseconds, a clock 2x fast or slow were
    accepted silently (or held the arm forever as stale, with no word why)."""
    state = DeviceState()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = [s for m in _stream(scale, 6.0, rng) if (s := state.update(m)) is not None]
    stats = state.stats("MTMR")
    assert stats.stamp_rate_off == 1, stats
    caught_s = 2.5 if scale > 1 else 3.5  # too slow takes four measures, not two
    assert len(out) < caught_s * 1000 and stats.held > (6.0 - caught_s) * 1000
    assert stats.samples + stats.held == 6000
    warned = _warnings(caplog)
    assert len(warned) == 1 and words in warned[0] and "MTMR's stamp_s" in warned[0], warned
    assert "stamp_s must be seconds" in warned[0]
    assert "stamp_s" in state.held("MTMR")


def test_a_clock_fixed_by_a_restart_is_used_again(rng, caplog):
    state = DeviceState()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        state.ingest(_stream(1e3, 4.0, rng))
        assert state.held("MTMR")
        fixed = [m for m in _stream(1.0, 6.0, rng, start=4000)]
        for m in fixed:  # the same process restarted: seq from 0, seconds now
            m.payload["seq"] -= 4000
        out = state.ingest(fixed)
    assert state.held("MTMR") == "" and len(out) > 3000
    assert state.stats("MTMR").restarts == 1 and "used again" in caplog.text


def test_a_real_device_with_jitter_bursts_stalls_or_a_slow_rate_is_never_flagged(rng, caplog):
    """1 kHz with delivery jitter and bursts, receiver stalls of 0.3 s and 1.5 s (a loaded
    machine: the backlog arrives at once), 100 Hz, 90 Hz, and a device silent for 3 s."""
    streams = []
    n = 20_000
    t = np.arange(n) * 1e-3
    received = t + rng.exponential(5e-4, n).clip(0, 10e-3)
    received = np.maximum.accumulate(np.ceil(received / 0.02) * 0.02)  # bursts of 20 ms
    for at, stall in ((5.0, 0.3), (11.0, 1.5), (15.0, 1.2)):
        held = (received >= at) & (received < at + stall)
        received[held] = at + stall  # everything sent during the stall comes at its end
    streams.append((t, received))
    for rate in (100.0, 90.0):
        m = int(20 * rate)
        tt = np.arange(m) / rate
        streams.append((tt, tt + 0.02 + rng.uniform(0, 0.008, m)))
    tt = np.concatenate([np.arange(3000), 6000 + np.arange(3000)]) * 1e-3  # silent 3 s
    streams.append((tt, tt + 1e-3))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for t, r in streams:
            state = DeviceState()
            out = [
                state.update(_cp(i, 3.0 + ti, 900.0 + ri))
                for i, (ti, ri) in enumerate(zip(t, r, strict=True))
            ]
            stats = state.stats("MTMR")
            assert stats.stamp_rate_off == 0 and stats.held == 0, stats
            assert all(s is not None for s in out)
    assert not _warnings(caplog)


@pytest.mark.parametrize("step_s", [1.0, 5.0, 60.0])
def test_a_clock_set_forward_once_is_followed_not_held_as_a_wrong_rate(step_s, rng, caplog):
    """docs/bus.md: "a clock set forward once is followed". A +1 s step of a device's
    wall clock read as a rate of 2 in two measures in a row and held the arm ("advances
    2x as fast ... stamp_s must be seconds") for over a second."""
    state = DeviceState()
    stream = _stream(1.0, 8.0, rng)
    for m in stream[4000:]:  # an NTP step at 4 s
        m.payload["stamp_s"] += step_s
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = [state.update(m) for m in stream]
    stats = state.stats("MTMR")
    assert stats.stamp_rate_off == 0 and stats.held == 0 and stats.restarts == 0, stats
    assert all(s is not None for s in out) and not _warnings(caplog)


def test_a_stamp_a_double_cannot_resolve_is_named_not_taken_for_a_wrong_rate(rng, caplog):
    """docs/bus.md: stamp_s may have any epoch. Good samples stamped ``1e16 +
    monotonic()`` were held as "stamp_s advances 2x as fast as the server's clock; stamp_s
    must be seconds" (or, in other phases, used with times rounded to 2 s: stale): at
    1e16 a double resolves 2 s steps, and the unit was not the fault."""
    state = DeviceState()
    stream = _stream(1.0, 6.0, rng)
    for m in stream:
        m.payload["stamp_s"] += 1e16
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = state.ingest(stream)
    stats = state.stats("MTMR")
    assert out == [] and stats.held == 6000 and stats.stamp_rate_off == 1, stats
    (device, held), *more = state.pop_notices()  # the session's command_refused reason
    assert device == "MTMR" and not more and "resolve 1 ms" in state.held("MTMR")
    assert "MTMR's stamp_s=1e+16 has a resolution of 2 s in a double" in held, held
    assert "use an epoch near 0 (e.g. seconds since the device started)" in held
    assert "as fast as" not in held and "must be seconds" not in held
    assert _warnings(caplog) == [held]


def test_a_stamp_resolved_to_milliseconds_is_held_until_the_device_restarts_near_0(rng, caplog):
    state = DeviceState()
    coarse = _stream(1.0, 2.0, rng)
    for m in coarse:
        m.payload["stamp_s"] += 1e13  # a double's step there: 1.95 ms
    fixed = _stream(1.0, 4.0, rng, start=2000)
    for m in fixed:  # the same process restarted: seq from 0, an epoch near 0
        m.payload["seq"] -= 2000
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert state.ingest(coarse) == []
        assert "resolution of 1.95 ms" in state.pop_notices()[0][1]
        out = state.ingest(fixed)
    assert state.held("MTMR") == "" and len(out) > 3900
    assert "stamp_s resolves 1 ms again" in caplog.text
    assert stamp_resolution_problem("MTMR", time.monotonic() + 1.7e9) == ""  # unix time
    assert stamp_resolution_problem("MTMR", 8.7e12) == ""  # the largest usable: 2**43


def test_the_unit_is_named_only_near_a_power_of_ten():
    assert "milliseconds" in stamp_rate_problem("MTMR", 1003.0)
    assert "nanoseconds" in stamp_rate_problem("MTML", 9.7e8)
    assert "look like" not in stamp_rate_problem("MTMR", 2.0)
    assert "does not advance" in stamp_rate_problem("MTMR", 0.0)
    assert "advances 1,000x as fast" in stamp_rate_problem("MTMR", 1000.2)


# ---- 3. a stamp that goes back -----------------------------------------------------------
def test_a_stamp_that_goes_back_while_seq_goes_on_is_a_restart():
    """docs/bus.md says a stamp that goes back means the sender restarted; it was not
    counted. Now it is, and the clock map starts afresh (the new stamps are not taken for
    samples 10 s old)."""
    state = DeviceState()
    for i in range(2000):
        state.update(_cp(i, 20.0 + i * 1e-3, 5.0 + i * 1e-3))
    s = state.update(_cp(2000, 10.0, 7.0))  # the clock went back by 12 s, seq went on
    stats = state.stats("MTMR")
    assert stats.restarts == 1 and stats.lost == 0 and stats.samples == 2001, stats
    assert s.sample.time_s == pytest.approx(7.0)
    for i in range(2001, 2100):  # and goes on from there: no further restart
        state.update(_cp(i, 10.0 + (i - 2000) * 1e-3, 7.0 + (i - 2000) * 1e-3))
    assert state.stats("MTMR").restarts == 1
    state.update(_cp(2100, 10.0 + 99e-3 - 1e-3, 7.1))  # 1 ms back: within the tolerance
    assert state.stats("MTMR").restarts == 1


# ---- 4. the counts add up ------------------------------------------------------------------
def test_invalid_stamps_are_not_also_counted_lost():
    state = DeviceState()
    for i in range(100):
        t = 1.0 + i * 1e-3
        state.update(_cp(i, 0.0 if 40 <= i < 50 else t, t))
    stats = state.stats("MTMR")
    assert (stats.samples, stats.invalid_stamps, stats.lost) == (90, 10, 0), stats


def test_samples_held_invalid_lost_and_unseen_add_up_to_what_was_sent(rng):
    """A master restarted its seq from 0 on the same socket; 13 345 sent, samples 13 332,
    lost 0: the 13 its server never saw (sent before the subscription arrived) were
    nowhere. Every seq is now in exactly one count."""
    state = DeviceState()
    sent = 0
    t = 1.0
    for first, count in ((13, 6000), (0, 7345)):  # the first 13 went before subscribing
        for seq in range(count):
            sent += 1
            t += 1e-3
            if seq < first or rng.random() < 0.01:
                continue  # never arrived
            stamp = 0.0 if rng.random() < 0.01 else t
            state.update(_cp(seq, stamp, t + 2e-3))
    stats = state.stats("MTMR")
    assert stats.restarts == 1 and stats.unseen == 13 and stats.lost > 0, stats
    missing_at_end = 1  # the last one may have been lost: no later seq tells
    total = stats.samples + stats.held + stats.invalid_stamps + stats.lost + stats.unseen
    assert sent - missing_at_end <= total <= sent, (total, sent, stats)


@pytest.mark.parametrize("read_late", [True, False])
def test_a_receiver_behind_its_own_queue_does_not_hold_a_good_device(read_late, rng, caplog):
    """A server flooded on its device socket reads in bounded slices; its backlog grew
    for seconds, a good device's samples were read ever later, their stamps seemed to
    advance 0.5x as fast as the server's clock and the device was held (a live fuzz
    test: 743 of 1000 samples held). Reads the bus marks ``read_late`` do not time the
    sender; the same stream without the mark is still caught, as a slow clock is."""
    n = 8000  # 1 kHz for 8 s, read at half the rate it came: the backlog grows to 4 s
    t = np.arange(n) * 1e-3
    read = 2 * t + rng.exponential(2e-4, n)
    state = DeviceState()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = state.ingest(
            [_cp(i, 5.0 + ti, 40.0 + ri) for i, (ti, ri) in enumerate(zip(t, read, strict=True))],
            read_late=read_late,
        )
    stats = state.stats("MTMR")
    if read_late:
        assert stats.stamp_rate_off == 0 and stats.held == 0 and len(out) == n, stats
        assert not _warnings(caplog)
        # caught up: the check measures again (a clock 2x fast is held within 2 s)
        fast = [_cp(n + i, 13.0 + 2 * i * 1e-3, 60.0 + i * 1e-3) for i in range(3000)]
        state.ingest(fast)
        assert state.stats("MTMR").stamp_rate_off == 1
    else:
        assert stats.stamp_rate_off == 1 and stats.held > n / 4, stats
