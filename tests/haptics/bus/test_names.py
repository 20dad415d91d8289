"""The cap on client names a server keeps state for (haptics.bus.names), on real sockets."""

from __future__ import annotations

import time

import msgpack
import zmq

from haptics.bus.names import NameLimit
from haptics.bus.sockets import ServerBus


def test_a_name_limit_admits_reserved_names_whatever_came_first():
    names = NameLimit(limit=3)
    assert [names.admit(n) for n in ("A", "B", "C", "D")] == [True, True, True, False]
    names.reserve(["MTMR"])
    assert names.admit("MTMR") and names.admit("A") and not names.admit("E")


def test_messages_under_names_beyond_the_limit_are_dropped_counted_and_logged_once(caplog):
    with ServerBus(port=0) as server:
        server.names = NameLimit(limit=4, reserved=["MTMR"])
        ctx = zmq.Context()
        try:
            pub = ctx.socket(zmq.PUB)
            pub.linger = 0
            pub.connect(server.endpoints[1])
            body = msgpack.packb({"v": 1, "stamp_s": 1.0, "seq": 0, "pressed": False})
            deadline, got = time.monotonic() + 5, []
            while not got and time.monotonic() < deadline:  # through the slow join
                pub.send_multipart([b"D0/clutch", body])
                server.wait(0.05)
                got = server.drain()
            with caplog.at_level("WARNING", logger="haptics.bus"):
                for n in range(1, 20):
                    pub.send_multipart([f"D{n}/clutch".encode(), body])
                pub.send_multipart([b"MTMR/clutch", body])
                received: list = []
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and not any(
                    m.component == "MTMR" for m in received
                ):
                    server.wait(0.05)
                    received += server.drain()
        finally:
            ctx.destroy(linger=0)
        kept = {m.component for m in received}
        assert kept == {"D1", "D2", "MTMR"}  # D0, D1, D2 and the reserved MTMR: 4
        assert server.counters.messages.dropped["too_many_names"] == 17
        assert caplog.text.count("dropped a message (too_many_names)") == 1
