"""A hostile peer, run as its own process by test_fuzz.py: plain pyzmq + msgpack, no surgisim.

Usage: ``python fuzz_sender.py SUB_ENDPOINT ROUTER_ENDPOINT SEED N [DEVICE]``. Sends N
messages to each of the server's SUB and ROUTER sockets: random frames, truncated and
padded msgpack, wrong types, NaN, unknown topics, oversized and wrong frame counts, with
one good message in every 50 (numbered ``seq`` 0, 1, ...; device ``GOOD``), then one end
marker each (the ROUTER's is a ``stop`` request, seq :data:`STOP_SEQ`). The malformed
messages use the topics of ``DEVICE`` (default ``GOOD``; a live server's mapped device,
e.g. ``MTMR``, to aim them at an instrument). Prints a JSON summary of what it sent.
"""

from __future__ import annotations

import json
import math
import sys
import time

import msgpack
import numpy as np
import zmq

GOOD_EVERY = 50
#: The ``seq`` of the closing ``stop`` request: its reply (``reply_to``) ends the run.
STOP_SEQ = 1 << 30
#: Whose topics the malformed device messages use (argv[5]).
GARBAGE_DEVICE = b"GOOD"
#: One oversized body, sent in slices (65.6-90 kB): over the 64 kB limit, cheap to make.
BIG = memoryview(msgpack.packb({"pad": "x" * 90_000}))


def _env(seq: int) -> dict:
    return {"v": 1, "stamp_s": time.monotonic(), "seq": seq}


def _good_sample(seq: int) -> list[bytes]:
    payload = {"position_m": [0.01, 0.0, 0.0], "orientation_xyzw": [0, 0, 0, 1.0], **_env(seq)}
    return [b"GOOD/measured_cp", msgpack.packb(payload)]


def _garbage_message(rng: np.random.Generator) -> list[bytes]:
    kind = int(rng.integers(12))
    good = _good_sample(int(rng.integers(1 << 30)))
    good[0] = good[0].replace(b"GOOD", GARBAGE_DEVICE)
    if kind == 0:  # random frames, random count
        return [rng.bytes(int(rng.integers(0, 200))) for _ in range(int(rng.integers(1, 5)))]
    if kind == 1:  # truncated msgpack
        return [good[0], good[1][: int(rng.integers(0, len(good[1])))]]
    if kind == 2:  # trailing bytes after the map
        return [good[0], good[1] + rng.bytes(int(rng.integers(1, 20)))]
    if kind == 3:  # one frame only
        return [good[0]]
    if kind == 4:  # a non-finite number
        p = msgpack.unpackb(good[1])
        p["position_m"][int(rng.integers(3))] = [math.nan, math.inf, -math.inf][
            int(rng.integers(3))
        ]
        return [good[0], msgpack.packb(p)]
    if kind == 5:  # a wrong type
        p = msgpack.unpackb(good[1])
        p[["position_m", "seq", "v", "orientation_xyzw"][int(rng.integers(4))]] = "x"
        return [good[0], msgpack.packb(p)]
    if kind == 6:  # unknown topics
        topic = [b"GOOD/measured_cq", b"GOOD/servo_cf", b"\xff\xfe/clutch", b"scene/state"]
        topic = [t.replace(b"GOOD", GARBAGE_DEVICE) for t in topic]
        return [topic[int(rng.integers(4))], good[1]]
    if kind == 7:  # too large
        return [good[0], BIG[: int(rng.integers(65_600, 90_000))]]
    if kind == 8:  # not a map
        return [good[0], msgpack.packb([1, 2, 3])]
    if kind == 9:  # random bytes as payload of a valid topic
        return [good[0], rng.bytes(int(rng.integers(1, 100)))]
    if kind == 10:  # a zero quaternion, a missing field
        p = msgpack.unpackb(good[1])
        p.pop("orientation_xyzw") if rng.random() < 0.5 else p.update(orientation_xyzw=[0] * 4)
        return [good[0], msgpack.packb(p)]
    return [good[0], good[1], b""]  # three frames


def _good_request(seq: int) -> bytes:
    return msgpack.packb({**_env(seq), "request": "hello"})


def _garbage_request(rng: np.random.Generator) -> list[bytes]:
    kind = int(rng.integers(8))
    good = _good_request(int(rng.integers(1 << 30)))
    if kind == 0:
        return [b"", rng.bytes(int(rng.integers(0, 200)))]
    if kind == 1:
        return [b"", good[: int(rng.integers(0, len(good)))]]
    if kind == 2:  # delimiter, junk, body: wrong frame count
        return [b"", b"junk", good]
    if kind == 3:
        p = msgpack.unpackb(good)
        p["request"] = "reboot"
        return [b"", msgpack.packb(p)]
    if kind == 4:
        p = msgpack.unpackb(good)
        p["stamp_s"] = math.nan
        return [msgpack.packb(p)]  # no delimiter: still a valid envelope, bad payload
    if kind == 5:  # too large
        return [b"", BIG[: int(rng.integers(65_600, 90_000))]]
    if kind == 6:
        return [b"", msgpack.packb("hello")]
    p = msgpack.unpackb(good)
    p["request"] = 7
    return [b"", msgpack.packb(p)]


def main(sub_endpoint: str, router_endpoint: str, seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)  # an XPUB sees the server's subscription: no slow joiner
    pub.sndhwm = 0  # queue everything: the accounting must be exact
    pub.linger = -1
    pub.connect(sub_endpoint)
    dealer = ctx.socket(zmq.DEALER)
    dealer.sndhwm = 0
    dealer.linger = -1
    dealer.connect(router_endpoint)
    if not pub.poll(10_000):
        raise SystemExit("the server never subscribed")
    pub.recv()
    sent = {"sub_good": 0, "sub_garbage": 0, "router_good": 0, "router_garbage": 0}
    for i in range(n):
        if i % GOOD_EVERY == 0:
            pub.send_multipart(_good_sample(sent["sub_good"]))
            sent["sub_good"] += 1
            dealer.send_multipart([b"", _good_request(sent["router_good"])])
            sent["router_good"] += 1
        else:
            pub.send_multipart(_garbage_message(rng))
            sent["sub_garbage"] += 1
            dealer.send_multipart(_garbage_request(rng))
            sent["router_garbage"] += 1
        while dealer.poll(0):  # read the replies as they come (see below)
            dealer.recv_multipart()
    end = {"pressed": True, **_env(0)}
    pub.send_multipart([b"END/clutch", msgpack.packb(end)])
    dealer.send_multipart([b"", msgpack.packb({**_env(STOP_SEQ), "request": "stop"})])
    # Read every reply up to the server's answer to "stop" (the last one) before closing:
    # a TCP socket closed with unread data sends a reset, and the server's kernel then
    # throws away what it had not yet handed to the server.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if dealer.poll(100):
            reply = msgpack.unpackb(dealer.recv_multipart()[-1])
            if reply.get("bye") or reply.get("reply_to") == STOP_SEQ:
                break
    else:
        raise SystemExit("no reply to stop")
    print(json.dumps(sent), flush=True)
    pub.close()  # linger -1: everything queued goes out first
    dealer.close()
    ctx.term()


if __name__ == "__main__":
    if len(sys.argv) > 5:
        GARBAGE_DEVICE = sys.argv[5].encode()
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
