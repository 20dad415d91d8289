"""``<dev>/frame_timing``: the client's meter, the contract's checks, the server's log."""

from __future__ import annotations

import numpy as np
import pytest

from haptics.bus.contract import TO_SERVER, decode, encode
from haptics.bus.errors import BusMessageError
from haptics.bus.frame_timing import FrameTimingLog, FrameTimingMeter


def _envelope(seq: int = 0) -> dict:
    return {"v": 1, "stamp_s": 12.5, "seq": seq}


def _frames(meter: FrameTimingMeter, periods) -> list[dict]:
    """Feed frames shown after each period (s); the reports the meter made."""
    t, out = 100.0, []
    meter.frame(t)
    for p in periods:
        t += p
        report = meter.frame(t)
        if report is not None:
            out.append(report)
    return out


def test_meter_counts_frames_that_missed_the_display():
    rng = np.random.default_rng(11)
    target = 1 / 90
    periods = np.full(900, target) + rng.normal(0.0, 2e-4, 900)  # 10 s at 90 Hz
    slow = rng.choice(900, size=18, replace=False)
    periods[slow] = 2 * target  # the display showed 18 frames twice
    meter = FrameTimingMeter(target_period_s=target)
    reports = _frames(meter, periods)
    assert 9 <= len(reports) <= 10  # about 1 Hz
    last = reports[-1]
    assert meter.missed == 18 and last["missed"] <= 18 and last["frames"] <= 901
    assert last["target_period_s"] == pytest.approx(target)
    p50 = np.median([r["frame_period_s_p50"] for r in reports])
    assert abs(p50 - target) < 1e-3
    for r in reports:
        assert r["frame_period_s_p50"] <= r["frame_period_s_p99"]
        # every report is a valid message of the contract
        m = decode(encode("XR/frame_timing", {**r, **_envelope()}, TO_SERVER))
        assert m.name == "frame_timing"


def test_meter_takes_the_clients_word_for_a_miss():
    meter = FrameTimingMeter()  # no display period known: only what the client says
    _frames(meter, [0.05] * 10)
    assert meter.missed == 0
    meter.frame(200.0, missed=True)
    assert meter.missed == 1 and meter.frames == 12


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"missed": 901}, "missed <= frames"),
        ({"frame_period_s_p50": 0.03}, "p50 <= p99"),
        ({"target_period_s": 0}, "'target_period_s'"),
        ({"frames": -1}, "'frames'"),
        ({"missed": 1.5}, "'missed'"),
        ({"frame_period_s_p99": "fast"}, "'frame_period_s_p99'"),
        # what no display shows (the fuzzer's report was stored in a trainee's record)
        ({"frames": 2**62, "missed": 2**62}, "'frames' is 4611686018427387904, expected at most"),
        (
            {"frame_period_s_p99": 1e300},
            "'frame_period_s_p99' is 1e+300 s, expected 0.0001 to 60 s",
        ),
        (
            {"frame_period_s_p50": 1e300, "frame_period_s_p99": 1e300},
            "'frame_period_s_p50' is 1e+300",
        ),
        ({"frame_period_s_p50": 1e-6}, "'frame_period_s_p50' is 1e-06 s, expected 0.0001 to 60"),
        ({"frame_period_s_p50": 0.0}, "or 0 with the other period 0"),
        ({"target_period_s": 5.0}, "'target_period_s' is 5.0 s, expected 0.0001 to 1 s"),
        ({"target_period_s": 1e-9}, "'target_period_s' is 1e-09 s"),
    ],
)
def test_the_server_refuses_reports_that_cannot_be(change, expected):
    fields = {"frames": 900, "missed": 3, "frame_period_s_p50": 0.011, "frame_period_s_p99": 0.02}
    frames = [b"VIEW/frame_timing", encode("VIEW/frame_timing", {**fields, **_envelope()})[1]]
    decode(frames)
    import msgpack

    bad = [frames[0], msgpack.packb({**fields, **_envelope(), **change})]
    with pytest.raises(BusMessageError) as e:
        decode(bad)
    assert e.value.reason == "bad_fields" and expected in str(e.value)


def test_log_aggregates_per_client_and_adds_up_a_restart():
    log = FrameTimingLog()
    for k in range(5):
        log.update("XR", {**_envelope(k), "frames": 90 * (k + 1), "missed": k,
                          "frame_period_s_p50": 0.0111, "frame_period_s_p99": 0.012 + 0.001 * k,
                          "target_period_s": 1 / 90})  # fmt: skip
    # the headset client restarted: its seq and counts start again
    log.update("XR", {**_envelope(0), "frames": 60, "missed": 2,
                      "frame_period_s_p50": 0.0112, "frame_period_s_p99": 0.03})  # fmt: skip
    log.update("VIEW", {**_envelope(0), "frames": 30, "missed": 0,
                        "frame_period_s_p50": 0.0167, "frame_period_s_p99": 0.02})  # fmt: skip
    summary = log.summary()
    xr = summary["XR"]
    assert xr["reports"] == 6 and xr["restarts"] == 1
    assert xr["frames"] == 450 + 60 and xr["missed"] == 4 + 2
    assert xr["missed_fraction"] == pytest.approx(6 / 510)
    assert xr["frame_period_s_p99_worst"] == pytest.approx(0.03)
    assert xr["frame_period_s_p50"] == pytest.approx(0.0111)
    assert xr["target_period_s"] == pytest.approx(1 / 90)
    assert summary["VIEW"]["frames"] == 30 and summary["VIEW"]["target_period_s"] is None


def test_the_server_takes_reports_at_the_edges_of_what_a_display_does():
    fields = {"frames": 0, "missed": 0, "frame_period_s_p50": 0.0, "frame_period_s_p99": 0.0}
    for change in (
        {},  # no frame period in the window (FrameTimingMeter.payload() with no frames)
        {"frame_period_s_p50": 1 / 1000, "frame_period_s_p99": 59.0, "frames": 10**10},
        {"target_period_s": 1 / 540},  # the fastest monitors sold
        {"target_period_s": 1 / 24},
    ):
        decode(encode("VIEW/frame_timing", {**fields, **change, **_envelope()}))


def _report(seq: int, frames: int) -> dict:
    return {**_envelope(seq), "frames": frames, "missed": 0,
            "frame_period_s_p50": 0.0111, "frame_period_s_p99": 0.012}  # fmt: skip


def test_log_refuses_counts_that_grow_faster_than_any_display():
    """Each report is plausible alone; what a client adds up is bounded by the server's
    clock too: frames since its first report at 10 kHz at most (+10 s of them), so a
    client cannot store 2.6e10 frames a second by reporting that much more each time."""
    log = FrameTimingLog()
    assert log.update("XR", _report(0, 5_000_000), received_s=100.0) == ""  # ran for long
    assert log.update("XR", _report(1, 5_000_090), received_s=101.0) == ""
    problem = log.update("XR", _report(2, 5_000_000 + 200_000), received_s=102.0)
    assert "'frames' is 5200000, expected at most 5120000" in problem
    assert "2.0 s since its first report" in problem
    assert log.summary()["XR"]["frames"] == 5_000_090 and log.summary()["XR"]["reports"] == 2
    # a restart counts from 0 again: what it shows is bounded by the time since the last
    assert log.update("XR", _report(0, 10**9), received_s=103.0).startswith("'frames' is")
    assert log.update("XR", _report(0, 900), received_s=110.0) == ""
    assert log.summary()["XR"]["frames"] == 5_000_090 + 900
    # refused reports are counted by the bus as bad_fields, naming the topic
    from haptics.bus.contract import Message
    from haptics.bus.sockets import InboundCounters

    counters = InboundCounters(accepted=1)
    m = Message("XR/frame_timing", _report(1, 10**10), received_s=111.0)
    assert log.ingest([m], counters.refuse) == 0
    assert counters.accepted == 0 and counters.dropped["bad_fields"] == 1
    assert counters.last_problem("bad_fields").startswith("XR/frame_timing: 'frames' is")


def test_a_meter_told_the_display_slots_reports_them_beside_frames_that_missed():
    """A headset knows its display's slots (OpenXR's predicted display times): the bus
    report carries the slots without a new frame (``missed_slots`` of ``paced``, the
    terminal's "missed") and the late frames, labelled; ``missed`` stays a count of frames
    (<= frames, what a server that predates the slot counts checks) even when most slots
    were skipped. A probe's stored session said "24.7% of 255 frames missed" (the late
    frames) where the terminal said 154 of 415 slots."""
    meter = FrameTimingMeter(target_period_s=0.1)
    t, report = 100.0, None
    slots = [1] + [3] * 40  # one frame in three slots: 80 skipped, more than the frames
    for k, n in enumerate(slots):
        t += 0.1 * n
        report = meter.frame(t, slots=n, late=k % 4 == 0) or report
    last = meter.payload()
    assert last["paced"] == sum(slots) and last["missed_slots"] == sum(slots) - len(slots)
    assert last["missed_slots"] > last["frames"] == len(slots)
    assert last["missed"] == 40 and last["late"] == 11
    assert report is not None and {"paced", "missed_slots", "late"} <= report.keys()
    decode(encode("XR/frame_timing", {**last, **_envelope()}, TO_SERVER))
    # a client that knows no slots sends none of them (the desktop window)
    assert not {"paced", "missed_slots", "late"} & FrameTimingMeter(0.1).payload().keys()


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"paced": 100, "missed_slots": 101}, "expected missed_slots <= paced"),
        ({"missed_slots": 3}, "'paced' is None"),
        ({"late": 901}, "expected late <= frames"),
        ({"paced": -1}, "'paced' is -1, expected >= 0"),
        ({"paced": 2.0}, "'paced' is float, expected an integer"),
        ({"paced": 2**62}, "'paced' is 4611686018427387904, expected at most"),
    ],
)
def test_the_server_refuses_slot_counts_that_cannot_be(change, expected):
    import msgpack

    fields = {"frames": 900, "missed": 3, "frame_period_s_p50": 0.011, "frame_period_s_p99": 0.02}
    with pytest.raises(BusMessageError) as e:
        decode([b"XR/frame_timing", msgpack.packb({**fields, **_envelope(), **change})])
    assert e.value.reason == "bad_fields" and expected in str(e.value)


def test_log_adds_up_the_slot_counts_over_a_restart_and_stores_them_labelled():
    log = FrameTimingLog()
    base = {"frame_period_s_p50": 0.1, "frame_period_s_p99": 0.3, "target_period_s": 0.1}
    log.update("XR", {**_envelope(0), **base, "frames": 260, "missed": 100, "paced": 415,
                      "missed_slots": 155, "late": 65})  # fmt: skip
    # the client restarted: its counts start again, and the log adds them up
    log.update("XR", {**_envelope(0), **base, "frames": 10, "missed": 0, "paced": 10,
                      "missed_slots": 0, "late": 1})  # fmt: skip
    log.update("VIEW", {**_envelope(0), **base, "frames": 30, "missed": 0})
    summary = log.summary()
    xr = summary["XR"]
    assert (xr["paced"], xr["missed_slots"], xr["late"]) == (425, 155, 66)
    assert xr["missed_slots_fraction"] == pytest.approx(155 / 425)
    assert xr["frames"] == 270 and xr["missed"] == 100
    assert not {"paced", "missed_slots", "missed_slots_fraction", "late"} & summary["VIEW"].keys()
