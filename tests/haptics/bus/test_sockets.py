"""ServerBus and ClientBus over real loopback sockets (TCP and ipc)."""

from __future__ import annotations

import time

import msgpack
import pytest
import zmq

from haptics.bus.contract import TO_CLIENT, TO_SERVER
from haptics.bus.errors import BusError, BusMessageError, BusSecurityError, BusTimeoutError
from haptics.bus.sockets import ClientBus, ServerBus, bus_endpoints, is_loopback
from tests.haptics.bus.conftest import EXAMPLES, ServerPump, concrete_topic


def _poll_until(client: ClientBus, count: int, timeout_s: float = 5.0) -> list:
    out: list = []
    deadline = time.monotonic() + timeout_s
    while len(out) < count and time.monotonic() < deadline:
        out.extend(client.poll(0.05))
    return out


def test_every_device_topic_arrives_with_envelope(served, client):
    server, pump = served
    topics = [(p, f) for (d, p), f in EXAMPLES.items() if d == TO_SERVER]
    for _ in range(3):
        for pattern, fields in topics:
            client.publish(concrete_topic(pattern), fields)
    got = pump.take(3 * len(topics))
    assert [m.topic for m in got] == [concrete_topic(p) for p, _ in topics] * 3
    for m in got:
        assert m.payload["v"] == 1 and m.received_s >= m.payload["stamp_s"] > 0
    by_topic: dict[str, list[int]] = {}
    for m in got:
        by_topic.setdefault(m.topic, []).append(m.payload["seq"])
    assert all(seqs == [0, 1, 2] for seqs in by_topic.values())  # per-topic seq from 0
    assert server.counters.messages.accepted == len(got)
    assert server.counters.messages.total_dropped == 0


def test_every_server_topic_arrives_with_used_seq(served, client):
    server, _ = served
    topics = [(p, f) for (d, p), f in EXAMPLES.items() if d == TO_CLIENT]
    for pattern, fields in topics:
        server.publish(concrete_topic(pattern, "PSM1"), fields, used_seq=12)
    got = _poll_until(client, len(topics))
    assert [m.topic for m in got] == [concrete_topic(p, "PSM1") for p, _ in topics]
    assert all(m.payload["used_seq"] == 12 and m.payload["seq"] == 0 for m in got)
    assert server.counters.sent == len(topics)


def test_subscription_prefixes_filter(served):
    server, _ = served
    with ClientBus(port=server.port, subscribe=("scene/",)) as viewer:
        viewer.wait_ready(5.0)
        scene = EXAMPLES[(TO_CLIENT, "scene/state")]
        cf = EXAMPLES[(TO_CLIENT, "<dev>/servo_cf")]
        deadline = time.monotonic() + 5.0
        got: list = []
        while not got and time.monotonic() < deadline:  # SUB side: wait for the first one
            server.publish("MTMR/servo_cf", cf)
            server.publish("scene/state", scene)
            got = viewer.poll(0.05)
        assert got and {m.topic for m in got} == {"scene/state"}


def test_publish_refuses_what_breaks_the_contract(served, client):
    server, _ = served
    with pytest.raises(BusMessageError, match="unknown topic 'MTMR/servo_cf'"):
        client.publish("MTMR/servo_cf", {"force_n": [0, 0, 0], "torque_nm": [0, 0, 0]})
    with pytest.raises(BusMessageError, match="'pressed' is int"):
        client.publish("MTMR/clutch", {"pressed": 1})
    with pytest.raises(BusMessageError, match="unknown topic"):
        server.publish("MTMR/clutch", {"pressed": True})


def test_requests_get_their_own_reply(served, client):
    _, pump = served
    reply = client.request({"request": "state_command", "arm": "all", "command": "pause"})
    assert reply["ok"] is True and reply["reply_to"] == 1  # hello (wait_ready) was seq 0
    assert pump.requests[-1]["command"] == "pause"


def test_a_bad_request_is_answered_with_the_reason(served, client):
    server, _ = served
    with pytest.raises(BusMessageError, match="'command' is 'reboot'"):  # the client checks
        client.request({"request": "state_command", "arm": "PSM1", "command": "reboot"})
    ctx = zmq.Context()  # a peer that does not check: the server answers with the reason
    try:
        dealer = ctx.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.connect(server.endpoints[2])
        bad = {"v": 1, "stamp_s": 1.0, "seq": 5, "request": "state_command", "arm": "PSM1"}
        dealer.send_multipart([b"", msgpack.packb({**bad, "command": "reboot"})])
        assert dealer.poll(5000)
        reply = msgpack.unpackb(dealer.recv_multipart()[-1])
        assert reply["ok"] is False and "'command' is 'reboot'" in reply["error"]
        assert reply["reply_to"] == 5  # its seq could still be read
        assert server.counters.requests.dropped["bad_fields"] == 1
    finally:
        ctx.destroy(linger=0)


def test_request_without_server_times_out_with_a_hint():
    with ClientBus(port=1) as lonely:  # nothing listens on port 3
        t0 = time.monotonic()
        with pytest.raises(BusTimeoutError, match=r"tcp://127.0.0.1:3 .*surgisim serve"):
            lonely.request("hello", timeout_s=0.2)
        assert time.monotonic() - t0 < 2.0


def test_a_late_reply_is_not_taken_for_the_next_one(server):
    with ClientBus(port=server.port) as c:
        with pytest.raises(BusTimeoutError):
            c.request("hello", timeout_s=0.2)  # nobody answers yet
        pump = ServerPump(server)  # now the first request is answered late
        try:
            reply = c.request({"request": "stop"}, timeout_s=5.0)
            assert reply["reply_to"] == 1
        finally:
            pump.stop()


def test_wait_ready_first_message(served):
    server, _ = served
    with ClientBus(port=server.port) as viewer:
        with pytest.raises(BusTimeoutError, match="no message from"):
            viewer.wait_ready(0.5, first_message=True)
        server.publish("session/step", EXAMPLES[(TO_CLIENT, "session/step")])
        viewer.wait_ready(5.0, first_message=True)
        assert [m.topic for m in viewer.poll(0.5)] == ["session/step"]


def test_ipc_transport(tmp_path):
    with ServerBus(port=5570, ipc_dir=tmp_path) as server:
        pump = ServerPump(server)
        try:
            with ClientBus(port=5570, ipc_dir=tmp_path) as c:
                assert c.endpoints[1] == f"ipc://{tmp_path}/bus-5571"
                c.wait_ready(5.0)
                c.publish("MTMR/clutch", {"pressed": True})
                assert [m.topic for m in pump.take(1)] == ["MTMR/clutch"]
        finally:
            pump.stop()


def test_binding_beyond_loopback_without_keys_is_refused():
    for host in ("0.0.0.0", "*", "192.168.1.10", "::", "example.org"):
        with pytest.raises(BusSecurityError, match="surgisim keys new"):
            ServerBus(port=0, bind_host=host)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.3.2.1") and not is_loopback("0.0.0.0")


def test_a_taken_port_says_so(server):
    with pytest.raises(BusError, match=rf"cannot bind tcp://127.0.0.1:{server.port}.*--port"):
        ServerBus(port=server.port)


def test_endpoints():
    assert bus_endpoints("127.0.0.1", 5570) == (
        "tcp://127.0.0.1:5570",
        "tcp://127.0.0.1:5571",
        "tcp://127.0.0.1:5572",
    )
    assert bus_endpoints("::1", 5570)[0] == "tcp://[::1]:5570"


def test_raw_pyzmq_peer_speaks_the_contract(served):
    """A client written from docs/bus.md alone (plain pyzmq + msgpack, REQ socket)."""
    server, _ = served
    ctx = zmq.Context()
    try:
        req = ctx.socket(zmq.REQ)
        req.linger = 0
        req.connect(server.endpoints[2])
        req.send(msgpack.packb({"v": 1, "stamp_s": time.monotonic(), "seq": 0, "request": "hello"}))
        assert req.poll(5000)
        reply = msgpack.unpackb(req.recv())
        assert reply["ok"] is True and reply["reply_to"] == 0
    finally:
        ctx.destroy(linger=0)


@pytest.mark.parametrize(
    ("frames", "reply_to"),
    [
        ([b"", "BODY", b"x"], 31),  # a delimiter, the body and one frame too many
        ([b"xx", "BODY"], 31),  # a first frame that is no empty delimiter
        ([b"xx", b"yy", b"zz"], -1),  # nothing that reads as a request
    ],
)
def test_a_request_with_the_wrong_frames_is_answered_too(served, frames, reply_to):
    """docs/bus.md: a request that breaks the contract is answered at once with
    ``ok: false``. One with the wrong frame count was only counted, and its DEALER
    waited for ever; the ROUTER knows who asked, so it is answered."""
    server, _ = served
    body = msgpack.packb({"v": 1, "stamp_s": 1.0, "seq": 31, "request": "hello"})
    ctx = zmq.Context()
    try:
        dealer = ctx.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.connect(server.endpoints[2])
        dealer.send_multipart([body if f == "BODY" else f for f in frames])
        assert dealer.poll(5000), "no reply"
        reply = msgpack.unpackb(dealer.recv_multipart()[-1])
        assert reply["ok"] is False and "frames, expected [empty, body]" in reply["error"]
        assert reply["reply_to"] == reply_to
        assert server.counters.requests.dropped["wrong_frame_count"] == 1
    finally:
        ctx.destroy(linger=0)


def test_a_frame_over_1_mib_cuts_the_sender_off_and_is_counted_and_logged(server, caplog):
    """libzmq refuses a frame over 1 MiB by disconnecting its sender (documented); that
    was neither counted nor logged. Now the ended connection is (``disconnects``), the
    first one logged; the sender reconnects and its next message is taken as usual."""
    ctx = zmq.Context()
    good = msgpack.packb({"v": 1, "stamp_s": 1.0, "seq": 0, "pressed": False})
    try:
        pub = ctx.socket(zmq.PUB)
        pub.linger = 0
        pub.connect(server.endpoints[1])

        def received_within(timeout_s: float) -> list:
            deadline, got = time.monotonic() + timeout_s, []
            while not got and time.monotonic() < deadline:
                pub.send_multipart([b"MTMR/clutch", good])
                server.wait(0.05)
                got = server.drain()
            return got

        assert received_within(5.0), "the sender never got through"
        assert server.counters.messages.disconnects == 0
        with caplog.at_level("INFO", logger="haptics.bus"):
            pub.send_multipart([b"MTMR/measured_cp", b"\0" * (2 * 1024 * 1024)])
            deadline = time.monotonic() + 5.0
            while server.counters.messages.disconnects == 0 and time.monotonic() < deadline:
                server.wait(0.05)
                server.drain()
        assert server.counters.messages.disconnects == 1
        assert server.counters.as_dict()["messages"]["disconnects"] == 1
        assert "frame over 1048576 bytes" in caplog.text
        assert received_within(5.0), "the sender did not get back in after reconnecting"
    finally:
        ctx.destroy(linger=0)


def test_read_late_says_which_drains_read_a_backlog(server):
    """A drain that stops at a bound leaves a backlog; what it and the next drain return
    waited in it (their receipt times are read times: the stamp-rate check must not
    time them). A drain that follows one that ran dry is on time again."""
    ctx = zmq.Context()
    try:
        pub = ctx.socket(zmq.XPUB)
        pub.linger = 0
        pub.sndhwm = 0  # queue all 2000: a PUB drops past its bound (1000 by default)
        pub.connect(server.endpoints[1])
        deadline = time.monotonic() + 10
        while not pub.poll(10):  # the server's subscription: sent once its socket is used
            assert server.drain() == [] and time.monotonic() < deadline
        pub.recv()
        for seq in range(2000):
            body = {"v": 1, "stamp_s": time.monotonic(), "seq": seq, "pressed": False}
            pub.send_multipart([b"MTMR/clutch", msgpack.packb(body)])
        assert server.wait(5.0, requests=False)
        time.sleep(0.5)  # the rest of the 2000 on its way
        assert len(server.drain(max_messages=100)) == 100 and server.read_late
        rest = server.drain()
        assert server.read_late  # it followed a drain stopped at its bound
        deadline = time.monotonic() + 10
        while len(rest) < 1900 and time.monotonic() < deadline:
            rest += server.drain()
            if len(rest) < 1900:
                server.wait(0.5, requests=False)
        assert len(rest) == 1900
        assert server.drain() == [] and not server.read_late
    finally:
        ctx.destroy(linger=0)


def _block_in_the_ephemeral_range(port: int) -> int:
    """``port`` when its block of three is free and lies in the ephemeral range (where a
    self-connection happens by chance); else the test is skipped."""
    from haptics.bus.ports import block_is_free, ephemeral_range

    low, high = ephemeral_range()
    if not (low <= port and port + 2 <= high and block_is_free(port)):
        pytest.skip(f"ports {port}-{port + 2} are taken or outside {low}-{high}")
    return port


def _connect_requests_to_itself(bus: ClientBus, port: int) -> None:
    """Make ``bus``'s request socket connect to itself on ``port``, as a waiting client's
    retries do by chance when ``port`` lies in the ephemeral range: the kernel gave a retry
    ``port`` as its source port (here the endpoint names it as the source)."""
    bus._dealer.disconnect(bus._dealer_endpoint)
    bus._dealer_endpoint = f"tcp://127.0.0.1:{port};127.0.0.1:{port}"
    bus._dealer.connect(bus._dealer_endpoint)


def test_a_request_socket_connected_to_itself_reconnects_and_frees_the_port(caplog):
    """A device waiting for its server on a base port in Linux's ephemeral range connected
    to itself (TCP simultaneous open), read its own hello as a bad reply (``dropped a
    message (bad_fields)``) and held P + 2: the server started next could not bind it."""
    port = _block_in_the_ephemeral_range(39210)
    with ClientBus(port=port) as device:
        _connect_requests_to_itself(device, port + 2)
        with pytest.raises(BusTimeoutError, match="came back to itself"):
            device.request("hello", timeout_s=30.0)
        assert device.self_connections == 1
        assert device.counters.requests.total_dropped == 0  # not a bad reply
        assert "connected to itself" in caplog.text
        with ServerBus(port=port) as server:  # P + 2 is free again
            pump = ServerPump(server)
            try:
                assert device.wait_ready(10.0)["ok"]  # and the device reaches the server
            finally:
                pump.stop()


def test_a_taken_port_names_a_waiting_client():
    """The server's message named only another server; a device connected to itself (in
    the ephemeral range) held the port and nothing listened there."""
    port = _block_in_the_ephemeral_range(39220)
    with ServerBus(port=port), pytest.raises(BusError, match="waiting for a server on") as e:
        ServerBus(port=port)
    assert "can connect to itself there; base ports below" in str(e.value)
