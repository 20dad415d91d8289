"""``wait_readable``: a sub-millisecond wait on a ZeroMQ socket (the server's wait for
its next physics tick), on real sockets. Lower bounds only: a loaded machine may wake
late, never early."""

from __future__ import annotations

import threading
import time

import pytest
import zmq

from haptics.bus.sockets import wait_readable


@pytest.fixture
def pair():
    ctx = zmq.Context()
    sub, pub = ctx.socket(zmq.SUB), ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub.connect(f"tcp://127.0.0.1:{port}")
    sub.subscribe(b"")
    time.sleep(0.2)  # the subscription reaches the PUB (slow joiner)
    yield sub, pub
    sub.close(0)
    pub.close(0)
    ctx.term()


def _arrive(sub, pub, payload: bytes = b"x") -> None:
    """Send one message and wait (with ZeroMQ's own poll) until it is there."""
    pub.send(payload)
    assert sub.poll(5000, zmq.POLLIN)


def test_times_out_without_a_message_and_not_before_its_time(pair):
    sub, _ = pair
    for timeout_s in (0.0003, 0.0017, 0.02):
        start = time.monotonic()
        assert not wait_readable(sub, timeout_s)
        assert time.monotonic() - start >= timeout_s


def test_zero_or_negative_timeout_only_looks(pair):
    sub, pub = pair
    assert not wait_readable(sub, 0.0)
    assert not wait_readable(sub, -1.0)
    _arrive(sub, pub)
    assert wait_readable(sub, 0.0)


def test_a_message_already_waiting_is_seen_at_once(pair):
    """The notification descriptor is edge-triggered: a message that arrived before the
    wait (its edge already consumed by an earlier look) must still end it at once."""
    sub, pub = pair
    _arrive(sub, pub)
    sub.getsockopt(zmq.EVENTS)  # consume the edge, as any earlier look would
    start = time.monotonic()
    assert wait_readable(sub, 5.0)
    assert time.monotonic() - start < 1.0
    assert sub.recv(zmq.NOBLOCK) == b"x"


def test_a_message_sent_during_the_wait_ends_it(pair):
    sub, pub = pair
    sender = threading.Timer(0.05, lambda: pub.send(b"late"))
    # taken before the timer starts: a pause of this thread between the two (a garbage
    # collection) shortened the wait as measured, below the timer's 0.05 s
    start = time.monotonic()
    sender.start()
    try:
        assert wait_readable(sub, 10.0)
        assert 0.04 <= time.monotonic() - start < 5.0
        assert sub.recv(zmq.NOBLOCK) == b"late"
    finally:
        sender.join()


def test_many_messages_are_all_taken_and_then_the_wait_times_out(pair):
    sub, pub = pair
    for k in range(50):
        pub.send(str(k).encode())
    got = []
    while wait_readable(sub, 0.5):
        got.append(sub.recv(zmq.NOBLOCK))
    assert got == [str(k).encode() for k in range(50)]
