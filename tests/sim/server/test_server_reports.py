"""What the server reports about its devices: the score's ``used_seq``, names outside the
device map, and the wall time of a session that waited for its devices. Real loopback
sockets; margins, not timings."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from scenarios.loader import load_scenario
from sim.server import server as server_module
from sim.server.server import ServeConfig, TrainingServer
from tests.sim.server.test_server import Device, Served


def test_session_score_carries_the_newest_samples_seq():
    """``session/score`` went out with ``used_seq: -1`` although docs/bus.md says
    ``used_seq`` is in every server message (elsewhere: the newest sample of any device)."""
    served = Served(device_map={"MTMR": "PSM1"})
    device = Device(served.server.port, names=("MTMR",))
    try:

        def used() -> int:
            return int((device.latest("scene/state") or {}).get("used_seq", -1))

        assert device.wait_for(lambda: used() >= 50), used()
        served.stop()
        newest = served.server._last_seq
        assert newest >= 50
        sent = served.server.publish_score({"scenario": "needle-handover", "score": 1.0})
        assert sent["score"] == 1.0
        assert device.wait_for(lambda: device.latest("session/score") is not None, 10)
        assert device.latest("session/score")["used_seq"] == newest
    finally:
        device.close()
        served.close()


def test_the_end_is_announced_before_the_silent_scoring_and_the_score_follows():
    """A headset and a window took the seconds between a session's end and its score (the
    server scores, stores and writes the report, silent) for a crashed server: the server
    now says at once that the session ended, how, and how long to wait for the result."""
    served = Served(device_map={"MTMR": "PSM1"})
    device = Device(served.server.port, names=("MTMR",))
    try:
        assert device.wait_for(lambda: device.latest("scene/state") is not None)
        served.stop()
        assert device.wait_for(lambda: device.latest("session/ending") is not None, 10)
        ending = device.latest("session/ending")
        assert ending["reason"] == "interrupted" and ending["failure"] is None
        assert ending["score_within_s"] == server_module.SCORE_WITHIN_S > 0
        served.thread.join(60)
        served.server.publish_score({"scenario": "needle-handover", "score": 1.0})
        assert device.wait_for(lambda: device.latest("session/score") is not None, 10)
        with device._lock:
            topics = [m.topic for _, m in device.inbox]
        assert topics.index("session/ending") < topics.index("session/score")
        assert "scene/state" not in topics[topics.index("session/ending") :]
    finally:
        device.close()
        served.close()


def test_a_name_outside_the_map_is_named_while_the_server_waits(monkeypatch, caplog):
    """``mtmr/measured_cp`` was taken without a word while the server kept saying "still
    waiting for: MTMR": the waiting line now says whom it hears, and the first sample of
    such a name is logged once (WARNING, haptics.bus)."""
    monkeypatch.setattr(server_module, "WAIT_NOTICE_S", 0.2)
    said: list[str] = []
    server = TrainingServer(
        load_scenario("needle-handover"),
        config=ServeConfig(port=0, device_map={"MTMR": "PSM1"}),
        say=said.append,
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: server.wait_for_devices(stop.is_set, timeout_s=60), daemon=True
    )
    caplog.set_level(logging.WARNING, logger="haptics.bus")
    thread.start()
    device = Device(server.port, names=("mtmr",))
    try:

        def heard() -> bool:
            return any("heard from mtmr" in line for line in said)

        assert device.wait_for(heard, 20), said
        line = next(line for line in said if "heard from mtmr" in line)
        assert line == (
            "still waiting for: MTMR (heard from mtmr, which the device map does not name;"
            " names are case-sensitive)"
        )
        time.sleep(0.3)  # more of its samples: still one warning
        warnings = [r for r in caplog.records if "mtmr/measured_cp" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert warnings[0].levelno == logging.WARNING and warnings[0].name == "haptics.bus"
        assert "did you mean MTMR?" in warnings[0].getMessage()
    finally:
        stop.set()
        thread.join(10)
        device.close()
        server.close()


def test_wall_time_counts_from_the_devices_not_the_wait_for_them():
    """``serve`` printed "simulated 39.8 s in 80.6 s of wall time (0.5x real time)" beside
    the loop's 0.995x: the wall time counted the wait for the devices. It counts from
    when they were connected now, and the wait is given apart."""
    began = time.monotonic()
    served = Served(device_map={"MTMR": "PSM1"})
    wait_s = 1.5
    time.sleep(wait_s)  # nobody there yet
    device = Device(served.server.port, names=("MTMR",))
    try:
        assert device.wait_for(lambda: device.latest("scene/state") is not None, 20)
        time.sleep(0.5)
    finally:
        outcome = served.stop()
        device.close()
        served.close()
    total_s = time.monotonic() - began
    assert outcome.device_wait_s >= wait_s - 0.05, outcome.device_wait_s
    # the loop ran for ~0.5 s, after the wait: the two add up to no more than it all took
    assert 0.0 < outcome.wall_time_s <= total_s - outcome.device_wait_s, (outcome, total_s)
    assert outcome.loop.ticks > 0


def test_servo_cf_keeps_up_with_a_jittery_1_khz_device_and_its_cap():
    """Feedback goes out after each device sample between physics steps, capped at 1 kHz:
    with the cap at the device's own rate, a sample that came a little early (half of
    them, with jitter) got none. Measured: 869/s for a 1 kHz device at 500 Hz physics.
    The cap allows half a period of slack; over any span it still holds."""
    from sim.server.publish import Publisher, Rates

    rng = np.random.default_rng(0)
    samples = np.cumsum(0.001 + rng.normal(0.0, 0.0001, 10_000))  # 1 kHz, 0.1 ms jitter
    due = Publisher(None, {}, Rates()).force_due
    assert sum(due(t) for t in samples) >= 0.98 * len(samples)
    flood = np.sort(rng.uniform(0.0, 10.0, 30_000))  # 3 kHz of chances in 10 s
    due = Publisher(None, {}, Rates()).force_due
    assert sum(due(t) for t in flood) <= 10.0 * Rates().servo_cf_hz + 1
