"""DeviceState: device messages -> MasterSample streams, with seq, pedals and clock mapping."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from haptics.bus.contract import Message, pose_payload
from haptics.bus.devices import ClockMap, DeviceState
from haptics.master import MasterSample
from kinematics.transforms import quat_xyzw_to_matrix


def _msg(topic: str, fields_: dict, seq: int, stamp_s: float, received_s: float) -> Message:
    return Message(topic, {**fields_, "v": 1, "stamp_s": stamp_s, "seq": seq}, received_s)


def _pose(x: float) -> dict:
    X = np.eye(4)
    X[:3, :3] = quat_xyzw_to_matrix([0.1, 0.2, 0.3, 0.9])
    X[:3, 3] = (x, 0.02, -0.01)
    return pose_payload(X)


def test_one_sample_per_measured_cp_with_the_latest_pedals_and_gripper():
    state = DeviceState()
    msgs = [
        _msg("MTMR/clutch", {"pressed": True}, 0, 1.0, 1.0001),
        _msg("MTMR/gripper/measured_js", {"position_rad": [0.5]}, 0, 1.0, 1.0001),
        _msg("MTMR/measured_cp", _pose(0.01), 0, 1.0, 1.0002),
        _msg("MTML/measured_cp", _pose(-0.01), 0, 1.0, 1.0002),
        _msg("MTMR/clutch", {"pressed": False}, 1, 1.001, 1.0011),
        _msg("MTMR/camera", {"pressed": True}, 0, 1.001, 1.0011),
        _msg("MTMR/measured_cp", _pose(0.02), 1, 1.001, 1.0012),
    ]
    out = state.ingest(msgs)
    assert [(s.device, s.seq) for s in out] == [("MTMR", 0), ("MTML", 0), ("MTMR", 1)]
    first, left, second = out
    assert isinstance(first.sample, MasterSample) and first.sample.problem() == ""
    assert first.sample.clutch and first.sample.gripper_rad == 0.5 and not first.camera
    assert not second.sample.clutch and second.camera and second.sample.gripper_rad == 0.5
    assert left.sample.gripper_rad == 0.0 and not left.sample.clutch
    assert np.allclose(second.sample.X_MH[:3, 3], (0.02, 0.02, -0.01))
    assert state.devices == ("MTMR", "MTML")
    assert state.latest("MTMR") is second and state.latest("PSM9") is None
    if "seq" in {f.name for f in fields(MasterSample)}:
        assert second.sample.seq == 1


def test_lost_and_restarted_devices_are_counted():
    state = DeviceState()
    for seq in (0, 1, 2, 5, 6):
        state.update(_msg("MTMR/measured_cp", _pose(0.0), seq, 1 + seq * 1e-3, 1 + seq * 1e-3))
    assert state.stats("MTMR").lost == 2 and state.stats("MTMR").samples == 5
    # device restarted: its first sample could be a stray, and drives nothing
    assert state.update(_msg("MTMR/measured_cp", _pose(0.0), 0, 0.5, 2.0)) is None
    assert state.stats("MTMR").restarts == 1 and state.stats("MTMR").held == 1
    state.update(_msg("MTMR/measured_cp", _pose(0.0), 1, 0.501, 2.001))
    assert state.latest("MTMR").sample.time_s == 2.001  # the clock map started afresh
    assert state.update(_msg("MTMR/measured_cp", _pose(0.0), 2, 0.0, 2.1)) is None  # CRTK: invalid
    assert state.stats("MTMR").invalid_stamps == 1


def test_the_counters_stored_with_a_session_hold_no_server_clock_time():
    """``conditions.devices`` of a live session stored ``last_received_s``, the server's
    ``time.monotonic()`` (seconds since boot), meaningless outside that process."""
    state = DeviceState()
    state.update(_msg("MTMR/measured_cp", _pose(0.0), 0, 1.0, 12874.17))
    stored = vars(state.stats("MTMR"))
    assert stored["samples"] == 1
    assert all(type(value) is int for value in stored.values()), stored


def test_sample_times_follow_the_device_clock_not_the_delivery_jitter(rng):
    """A device clock 1000 s off and delivery jitter up to 2 ms: sample times are the device's
    1 ms grid (shifted once), never the jittered arrival times."""
    clock = ClockMap(window_s=2.0)
    stamps = 1000.0 + np.arange(3000) * 1e-3
    arrivals = stamps - 1000.0 + 50e-6 + rng.exponential(300e-6, 3000).clip(0, 2e-3)
    mapped = np.array([clock.to_local(s, r) for s, r in zip(stamps, arrivals, strict=True)])
    assert np.all(mapped <= arrivals + 1e-12)
    steady = np.diff(mapped[500:])
    assert np.abs(steady - 1e-3).max() < 1e-6  # the window's min settled: a clean 1 ms grid
    assert np.abs(mapped[500:] - (stamps[500:] - 1000.0 + 50e-6)).max() < 1e-4


def test_a_drifting_device_clock_is_followed():
    clock = ClockMap(window_s=1.0)
    drift = 100e-6  # the device's clock runs 100 ppm slow
    lag = []
    for i in range(20_000):  # 20 s at 1 kHz
        t = i * 1e-3
        lag.append(t + 1e-4 - clock.to_local(t * (1 - drift), t + 1e-4))
    assert max(lag[-1000:]) < 2 * drift * 1.0 + 1e-9  # bounded by drift over one window


@pytest.mark.parametrize("rate_hz", [1000, 125])
@pytest.mark.parametrize("clock_rate", [0.98, 0.985, 0.95, 1.02, 1.05])
def test_a_device_clock_a_few_percent_off_does_not_age_its_samples(rate_hz, clock_rate):
    """A device stamping ticks of its own oscillator 1.5-2% slow was held as 'stale sample
    (31 ms old)' every 1.5 s: a sliding minimum of the offsets lags a clock that drifts by
    its drift x the window. The map follows the drift: after its first second a sample's
    mapped age exceeds its real delivery delay by well under a millisecond."""
    rng = np.random.default_rng(3301 + rate_hz)
    n = 20 * rate_hz
    sent = 7000.0 + np.arange(n) / rate_hz  # the receiver's clock when sent
    stamps = -3600.0 + (sent - 7000.0) * clock_rate  # an hour off, at its own rate
    delay = 50e-6 + rng.exponential(300e-6, n).clip(0, 3e-3)
    clock = ClockMap()
    mapped = np.array([clock.to_local(s, r) for s, r in zip(stamps, sent + delay, strict=True)])
    assert np.all(mapped <= sent + delay + 1e-12)
    extra_age = (sent + delay - mapped) - delay
    assert extra_age[rate_hz * 2 :].max() < 5e-3  # a 30 ms age holds the arm
    assert extra_age.max() < 27e-3  # while the drift is learnt (0.5 s) too
    assert clock.drift == pytest.approx(1 - clock_rate, abs=2e-3)


def _extra_ages(clock_of, seconds: float, rate_hz: int = 1000, seed: int = 3305):
    """How much older than its real delivery delay each sample looks through a map, for a
    device whose stamp at receiver time t (s from its start) is ``clock_of(t)``."""
    rng = np.random.default_rng(seed)
    sent = 5000.0 + np.arange(int(seconds * rate_hz)) / rate_hz
    delay = 50e-6 + rng.exponential(300e-6, len(sent)).clip(0, 3e-3)
    clock = ClockMap()
    stamps = [clock_of(t - 5000.0) for t in sent]
    mapped = np.array([clock.to_local(s, r) for s, r in zip(stamps, sent + delay, strict=True)])
    return (sent + delay - mapped) - delay


@pytest.mark.parametrize("step_s", [0.2, 0.05])
def test_a_clock_set_forward_once_does_not_age_the_samples_after_it(step_s):
    """A step of the stamps (0.2 s, even 0.05 s) was fitted as a 5% drift and held the
    arm as 'stale sample' 0.6-0.9 s later (bus probe, 3 of 3)."""
    extra = _extra_ages(lambda t: t + (step_s if t > 5.0 else 0.0), 9.0)
    assert extra.max() < 3e-3


def test_a_clock_whose_rate_changes_is_followed_within_the_watchdogs_limit():
    extra = _extra_ages(lambda t: t if t < 5.0 else 5.0 + 0.97 * (t - 5.0), 10.0)
    assert extra.max() < 20e-3  # 30 ms holds the arm


def _feed(state: DeviceState, seqs, t0: float = 1.0) -> None:
    for i, seq in enumerate(seqs):
        t = t0 + i * 1e-3
        state.update(_msg("MTMR/measured_cp", _pose(0.0), seq, t, t))


def test_one_stray_old_message_is_not_a_restart_with_a_huge_loss():
    """A probe sent one ``seq`` 0 into a stream at seq ~28 500, which then went on: the
    server counted 1 restart and ~28 500 lost samples. The old stream going on just past
    its old seq undoes the restart; only what it really skipped is lost."""
    state = DeviceState()
    _feed(state, [*range(28_500), 0, 28_500, 28_501, 28_503])
    stats = state.stats("MTMR")
    assert stats.restarts == 0 and stats.lost == 1, stats
    assert stats.samples == 28_503 and stats.held == 1  # the stray drove nothing


def test_a_real_restart_is_still_counted():
    state = DeviceState()
    _feed(state, [*range(5000), *range(3000)])  # restarted, and ran on from 0
    assert state.stats("MTMR").restarts == 1 and state.stats("MTMR").lost == 0
    _feed(state, range(3000, 6000), t0=10.0)  # ran on past the old seq: still a restart
    assert state.stats("MTMR").restarts == 1 and state.stats("MTMR").lost == 0
    _feed(state, [0, 1, 50_000], t0=20.0)  # a restart, then a jump far beyond: a loss
    assert state.stats("MTMR").restarts == 2
    assert state.stats("MTMR").lost == 50_000 - 1 - 1


def test_a_duplicated_message_is_not_a_restart():
    state = DeviceState()
    _feed(state, [0, 1, 2, 3, 3, 4, 5])
    assert state.stats("MTMR").restarts == 0 and state.stats("MTMR").lost == 0
    _feed(state, [0, 2, 6, 7])  # two strays in a row, then the stream goes on
    assert state.stats("MTMR").restarts == 0 and state.stats("MTMR").lost == 0


def test_the_receivers_own_backlog_is_not_taken_for_a_slow_clock():
    """A delay that grows looks exactly like a slow device clock to a one-way measure. The
    receiver's own backlog (messages read late, out of a queue it has not kept up with)
    teaches the map nothing, so samples that wait in it keep ageing and the watchdog
    sees them stale; and no drift past 5% is followed (a clock 30% slow is no clock)."""
    clock = ClockMap()
    rate_hz = 1000
    for i in range(2 * rate_hz):  # 2 s on time: the map knows the device
        t = 100.0 + i / rate_hz
        clock.to_local(t - 100.0, t + 1e-4)
    ages = []
    for i in range(3 * rate_hz):  # then 3 s of a backlog growing by 50 ms a second
        sent = 102.0 + i / rate_hz
        got = sent + 1e-4 + 0.05 * (i / rate_hz)
        ages.append(got - clock.to_local(sent - 100.0, got, read_late=True))
    assert ages[-1] == pytest.approx(0.15, abs=2e-3)  # every millisecond of it seen
    assert clock.drift == 0.0
    slow = ClockMap()
    for i in range(10 * rate_hz):
        t = i / rate_hz
        slow.to_local(0.7 * t, t)
    assert slow.drift == pytest.approx(0.05)
