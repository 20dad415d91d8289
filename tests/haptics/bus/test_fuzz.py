"""A hostile process throws 100k malformed messages at the server's SUB and ROUTER sockets.

Nothing may raise, every message taken off a socket is counted (accepted + dropped by
reason = sent), and the good messages sent in between all arrive, in order.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from haptics.bus.sockets import ServerBus

SENDER = Path(__file__).with_name("fuzz_sender.py")
N_PER_SOCKET = 50_000  # 100k in all


def test_garbage_from_another_process_is_counted_and_never_raises():
    with ServerBus(port=0) as server:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(SENDER),
                server.endpoints[1],
                server.endpoints[2],
                "7",
                str(N_PER_SOCKET),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        good_seqs, requests, ended = [], [], {"sub": False, "router": False}
        deadline = time.monotonic() + 120
        try:
            while not all(ended.values()) and time.monotonic() < deadline:
                if not server.wait(0.05):
                    continue
                for m in server.drain():
                    if m.topic == "END/clutch":
                        ended["sub"] = True
                    else:
                        assert m.topic == "GOOD/measured_cp"
                        good_seqs.append(m.payload["seq"])
                for origin, request in server.requests():
                    requests.append(request)
                    ended["router"] |= request["request"] == "stop"
                    server.reply(origin, {"ok": True, "bye": request["request"] == "stop"})
            out, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 0 and all(ended.values())
        sent = json.loads(out)
        msg, req = server.counters.messages, server.counters.requests
        assert sent["sub_good"] + sent["sub_garbage"] == N_PER_SOCKET
        assert good_seqs == list(range(sent["sub_good"]))  # every good one, in order
        assert msg.accepted == sent["sub_good"] + 1  # + the end marker
        assert msg.total == N_PER_SOCKET + 1  # nothing lost, nothing counted twice
        assert req.accepted == len(requests) == sent["router_good"] + 1
        assert req.total == N_PER_SOCKET + 1
        for reason in (
            "wrong_frame_count",
            "too_large",
            "unknown_topic",
            "bad_msgpack",
            "bad_fields",
            "non_finite",
        ):
            assert msg.dropped[reason] > 0, reason
        for reason in (
            "wrong_frame_count",
            "too_large",
            "unknown_request",
            "bad_msgpack",
            "bad_fields",
            "non_finite",
        ):
            assert req.dropped[reason] > 0, reason
        assert msg.dropped["unknown_request"] == 0 and req.dropped["unknown_topic"] == 0


def test_raw_tcp_garbage_does_not_disturb_the_bus(served, client):
    """Bytes that are not even ZMTP (a port scanner, a confused program) on every port."""
    server, pump = served
    rng = np.random.default_rng(3)
    for port in (server.port, server.port + 1, server.port + 2):
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(rng.bytes(int(rng.integers(1, 4096))))
    client.publish("MTMR/clutch", {"pressed": True})
    assert [m.topic for m in pump.take(1)] == ["MTMR/clutch"]
    assert client.request("hello")["ok"] is True
