"""Dropped messages stay visible after the first of each reason: a different fault is said
again, and new drops are summed up every 10 s (haptics.bus.sockets)."""

from __future__ import annotations

import contextlib
import logging
import time

import msgpack
import numpy as np
import zmq

from haptics.bus.contract import TO_SERVER, decode, pose_payload
from haptics.bus.errors import BusMessageError
from haptics.bus.sockets import DROP_SUMMARY_S, MAX_SAID, InboundCounters, ServerBus

LOGGER = "haptics.bus"
_POSE = pose_payload(np.eye(4))


def _bad(topic: str, **change) -> BusMessageError:
    body = {"v": 1, "stamp_s": 1.0, "seq": 0, **_POSE, **change}
    try:
        decode([topic.encode(), msgpack.packb(body)], TO_SERVER)
    except BusMessageError as e:
        return e
    raise AssertionError("decoded")


def _said(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("dropped a")]


def test_a_later_different_fault_of_one_reason_is_said_too(caplog):
    """An operator saw only the first drop of each reason: a non-unit quaternion after an
    unrelated bad field was never shown (both are bad_fields)."""
    counters = InboundCounters()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for _ in range(3):
            counters.drop(_bad("MTMR/measured_cp", seq=5.0), sender="MTMR")
        for _ in range(3):
            counters.drop(_bad("MTMR/measured_cp", orientation_xyzw=[0, 0, 0, 2]), sender="MTMR")
    said = _said(caplog)
    assert len(said) == 2, said
    assert "'seq' is float" in said[0] and "'orientation_xyzw' has norm 2" in said[1]
    window, unsaid = counters.take_window()
    assert window == {"bad_fields": {"MTMR": 6}} and unsaid == 4
    assert counters.take_window() == ({}, 0)
    # bounded: a sender that tries every field cannot fill the console
    for n in range(MAX_SAID + 10):
        counters.drop(BusMessageError("bad_fields", f"field {n}", f"f{n}"), sender=f"D{n}")
    assert len(counters.said) == MAX_SAID
    window, _ = counters.take_window()
    assert len(window["bad_fields"]) == 9 and window["bad_fields"]["others"] == MAX_SAID + 2


@contextlib.contextmanager
def _publisher(server):
    """A PUB socket connected to ``server``'s inbound (P + 1) socket, as a device's is."""
    ctx = zmq.Context()
    try:
        pub = ctx.socket(zmq.PUB)
        pub.linger = 0
        pub.connect(server.endpoints[1])
        yield pub
    finally:
        ctx.destroy(linger=0)


def test_new_drops_are_summed_up_per_reason_and_sender_every_period(caplog):
    with ServerBus(port=0) as server, _publisher(server) as pub:
        good = msgpack.packb({"v": 1, "stamp_s": 1.0, "seq": 0, "pressed": False})
        deadline, got = time.monotonic() + 5, []
        while not got and time.monotonic() < deadline:  # through the slow join
            pub.send_multipart([b"MTMR/clutch", good])
            server.wait(0.05)
            got = server.drain()
        start = time.monotonic()
        assert server.drop_summary(start) is None  # nothing dropped
        bad = msgpack.packb({"v": 1, "stamp_s": 1.0, "seq": 0, "pressed": 1})
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            for _ in range(5):
                pub.send_multipart([b"MTMR/clutch", bad])
            pub.send_multipart([b"VIEW/frame_timing", b"\xc1"])
            deadline = time.monotonic() + 5
            while server.counters.messages.total_dropped < 6:
                assert time.monotonic() < deadline
                server.wait(0.05)
                server.drain()
            assert server.drop_summary(time.monotonic()) is None  # not due yet
            summary = server.drop_summary(time.monotonic() + DROP_SUMMARY_S)
            later = server.drop_summary(time.monotonic() + 2 * DROP_SUMMARY_S)
    assert summary["dropped"] == {"bad_fields": {"MTMR": 5}, "bad_msgpack": {"VIEW": 1}}
    assert "'pressed' is int, expected true or false" in summary["last_problem"]["bad_fields"]
    assert summary["period_s"] >= DROP_SUMMARY_S and later is None  # nothing new
    lines = [r.getMessage() for r in caplog.records]
    summed = [m for m in lines if m.startswith("dropped in the last")]
    assert len(summed) == 1 and "5 bad_fields (MTMR 5); 1 bad_msgpack (VIEW 1)" in summed[0]


def test_sender_names_from_the_wire_are_escaped_in_the_summary_and_the_event(caplog):
    """A sender name with ESC and CR went raw to the console in the drop summary (it
    cleared the operator's screen and could fake a line); now as ascii() writes it."""
    with ServerBus(port=0) as server, _publisher(server) as pub:
        frames = (
            [b"\x1b[2J\x1b[H\x1b[31mFAKE\r"],  # one frame: wrong_frame_count
            [b"\x1b[2J\x1b[1;31mX/measured_cp", b"\x80"],  # unknown_topic
            [b"M\xc3\xbcller/clutch", b"\xc1"],  # printable: kept as it is
        )
        deadline = time.monotonic() + 5
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            while server.counters.messages.total_dropped < 6:  # twice each, through the join
                assert time.monotonic() < deadline
                for message in frames:
                    pub.send_multipart(message)
                server.wait(0.05)
                server.drain()
            summary = server.drop_summary(time.monotonic() + DROP_SUMMARY_S)
    names = [name for senders in summary["dropped"].values() for name in senders]
    assert "'\\x1b[2J\\x1b[H\\x1b[31mFAKE\\r'" in names and "'\\x1b[2J\\x1b[1;31mX'" in names
    assert "Müller" in names
    summed = [r.getMessage() for r in caplog.records if "dropped in the last" in r.getMessage()]
    assert len(summed) == 1
    assert not any(ch in summed[0] for ch in "\x1b\r\n\x07"), repr(summed[0])
