"""The cap on client names a server keeps state for (haptics.bus.names), on real sockets."""

from __future__ import annotations

import time

import msgpack
import zmq

from haptics.bus.names import NameLimit
from haptics.bus.sockets import ServerBus

_BODY = msgpack.packb({"v": 1, "stamp_s": 1.0, "seq": 0, "pressed": False})


def _joined(ctx: zmq.Context, server: ServerBus, name: str) -> zmq.Socket:
    """A publisher to ``server`` whose ``name/clutch`` has been received (the slow join)."""
    pub = ctx.socket(zmq.PUB)
    pub.linger = 0
    pub.connect(server.endpoints[1])
    deadline, got = time.monotonic() + 5, []
    while not got and time.monotonic() < deadline:
        pub.send_multipart([f"{name}/clutch".encode(), _BODY])
        server.wait(0.05)
        got = server.drain()
    return pub


def test_a_name_limit_admits_reserved_names_whatever_came_first():
    names = NameLimit(limit=3)
    assert [names.admit(n) for n in ("A", "B", "C", "D")] == [True, True, True, False]
    names.reserve(["MTMR"])
    assert names.admit("MTMR") and names.admit("A") and not names.admit("E")


def test_the_budget_survives_churn_and_what_it_keeps_stays_bounded():
    """An outside fuzzer sent under 1000 short-lived viewer names (V0..V999): they used
    the 32-name budget up for the rest of the session, and a later viewer's reports
    (VIEWZ) were dropped as too_many_names. Live names count now: a name silent for
    idle_s frees its slot; its state is kept as retired (up to retired_kept), and the
    oldest retired names are forgotten, so state is bounded whatever the churn."""
    names = NameLimit(limit=32, reserved=["MTMR", "MTML"])
    admitted = set()
    for n in range(1000):  # each viewer reports for a few seconds, then is gone
        t = n * 0.5
        for k in range(4):
            if names.admit(f"V{n}", t + k):
                admitted.add(f"V{n}")
        assert names.admit("MTMR", t)  # the mapped devices are never refused
    assert len(admitted) == 1000  # a slot freed every 10 s of silence, one in use per ~20
    assert names.admit("VIEWZ", 600.0)
    live, retired = names.names, names.retired
    assert len(live) <= 32 and {"MTMR", "MTML", "VIEWZ"} <= live
    assert len(retired) == 32 and "V999" in set(retired) | live
    assert names.forgotten == 1000 - len(live - {"MTMR", "MTML", "VIEWZ"}) - len(retired)
    forgotten = names.pop_forgotten()
    assert len(forgotten) == names.forgotten and forgotten[0] == "V0"
    assert names.pop_forgotten() == []
    # while every slot is live, a new name is refused, as before
    busy = NameLimit(limit=3, reserved=["MTMR"])
    assert busy.admit("A", 0.0) and busy.admit("B", 5.0)
    assert not busy.admit("C", 9.9) and busy.admit("A", 9.9)
    assert busy.admit("C", 15.1) and busy.retired == ("B",)  # B silent 10 s: A was heard
    assert busy.admit("B", 15.2) is False  # retired, and no slot idle now
    assert busy.admit("B", 26.0) and set(busy.retired) == {"A"}  # back, with its state


def test_messages_under_names_beyond_the_limit_are_dropped_counted_and_logged_once(caplog):
    with ServerBus(port=0) as server:
        server.names = NameLimit(limit=4, reserved=["MTMR"])
        ctx = zmq.Context()
        try:
            pub = _joined(ctx, server, "D0")
            with caplog.at_level("WARNING", logger="haptics.bus"):
                for n in range(1, 20):
                    pub.send_multipart([f"D{n}/clutch".encode(), _BODY])
                pub.send_multipart([b"MTMR/clutch", _BODY])
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


def test_a_viewer_after_a_churn_of_names_is_heard_on_real_sockets():
    with ServerBus(port=0) as server:
        server.names = NameLimit(limit=4, reserved=["MTMR"], idle_s=0.3, retired_kept=2)
        ctx = zmq.Context()
        try:
            pub = _joined(ctx, server, "V0")
            kept: set[str] = set()
            for batch in range(5):  # 5 waves of 20 short-lived names, 0.8 s apart
                for n in range(20):
                    pub.send_multipart([f"V{batch}-{n}/clutch".encode(), _BODY])
                deadline = time.monotonic() + 0.8
                while time.monotonic() < deadline:
                    server.wait(0.05)
                    kept |= {m.component for m in server.drain()}
            pub.send_multipart([b"VIEWZ/clutch", _BODY])
            deadline = time.monotonic() + 5
            while "VIEWZ" not in kept and time.monotonic() < deadline:
                server.wait(0.05)
                kept |= {m.component for m in server.drain()}
        finally:
            ctx.destroy(linger=0)
        assert "VIEWZ" in kept
        # the first wave finds 2 free slots (V0 holds the third), each later one 3
        assert len(kept - {"V0", "VIEWZ"}) == 2 + 4 * 3
        assert len(server.names.retired) == 2 and len(server.names.names) == 4
        counters = server.counters.as_dict()
        assert counters["names_forgotten"] == server.names.forgotten == 16 - 3 - 2
        assert counters["messages"]["dropped"]["too_many_names"] == 100 - 14
