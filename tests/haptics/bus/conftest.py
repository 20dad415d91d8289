"""Fixtures for the bus tests: a loopback server on a free port block, answered in a thread."""

from __future__ import annotations

import threading
import time

import pytest

from haptics.bus.sockets import ClientBus, ServerBus

#: Example payloads (topic fields only) for every topic kind of the contract; a test checks
#: that each TopicSpec has one, so a new topic cannot go untested.
EXAMPLES = {
    ("to_server", "<dev>/measured_cp"): {
        "position_m": [0.01, -0.02, 0.3],
        "orientation_xyzw": [0.0, 0.0, 0.38268343, 0.92387953],
    },
    ("to_server", "<dev>/gripper/measured_js"): {"position_rad": [0.4]},
    ("to_server", "<dev>/clutch"): {"pressed": True},
    ("to_server", "<dev>/camera"): {"pressed": False},
    ("to_server", "<dev>/frame_timing"): {
        "frames": 5400,
        "missed": 12,
        "frame_period_s_p50": 0.0111,
        "frame_period_s_p99": 0.0223,
        "target_period_s": 0.0111,
    },
    ("to_client", "<arm>/measured_cp"): {
        "position_m": [0.1, 0.2, 0.05],
        "orientation_xyzw": [0.0, 1.0, 0.0, 0.0],
    },
    ("to_client", "<arm>/measured_js"): {
        "position_rad": [0.1, -0.2, 0.12, 0.0, 0.3, -0.1],
        "name": ["yaw", "pitch", "insertion", "roll", "wrist_pitch", "wrist_yaw"],
    },
    ("to_client", "<arm>/jaw/measured_js"): {"position_rad": [0.5]},
    ("to_client", "<arm>/operating_state"): {
        "state": "FOLLOWING",
        "following": True,
        "aligned": True,
        "align_error_rad": 0.01,
    },
    ("to_client", "<dev>/servo_cf"): {"force_n": [0.1, 0.0, -1.5], "torque_nm": [0.0, 0.0, 0.0]},
    ("to_client", "scene/state"): {
        "time_s": 12.5,
        "names": ["board", "ring0"],
        "poses": [[0, 0, 0, 0, 0, 0, 1], [0.01, 0.02, 0.03, 0, 0, 0, 1]],
    },
    ("to_client", "session/events"): {
        "events": [{"time_s": 3.2, "kind": "grasp", "data": {"arm": "PSM1", "body": "ring0"}}]
    },
    ("to_client", "session/step"): {
        "index": 1,
        "total": 6,
        "id": "transfer1",
        "instruction": "Move the ring to peg 4",
    },
    ("to_client", "session/ending"): {"reason": "completed", "score_within_s": 120.0},
    ("to_client", "session/metrics"): {
        "metrics": {"time_s": 12.5, "path_length_m": 0.31, "drops": 0, "sparc": None},
        "score_estimate": 71.5,
    },
    ("to_client", "session/score"): {"scenario": "peg_transfer", "score": 80.0, "passed": True},
}


def concrete_topic(pattern: str, name: str = "MTMR") -> str:
    """A topic of the pattern with the placeholder filled in."""
    return pattern.replace("<dev>", name).replace("<arm>", name)


def received_while_publishing(server: ServerBus, listener, seconds: float = 0.5, each=None) -> int:
    """Messages ``listener`` (a client bus or a device link: anything with
    ``poll(timeout_s)``) receives in ``seconds`` of the server publishing a session step at
    20 Hz. ``each`` runs before every poll: a client that sends as a device does (a
    pumped server reads its allow list at its reads)."""
    received, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        server.publish("session/step", EXAMPLES[("to_client", "session/step")])
        if each is not None:
            each()
        received += len(listener.poll(0.05))
    return received


class ServerPump:
    """Runs a server's receive side in a thread, as the real server loop does every tick.

    It drains device messages into :attr:`messages` and answers every request (``ok``).
    A bound SUB socket only sends its subscription to a new publisher when its owner
    touches it, so a server that nobody drains never lets a client's
    :meth:`~haptics.bus.sockets.ClientBus.wait_ready` finish: this pump is that owner.
    The test thread may still :meth:`~haptics.bus.sockets.ServerBus.publish` (another socket).
    """

    def __init__(self, server: ServerBus) -> None:
        self.server = server
        self.requests: list[dict] = []
        self.messages: list = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.server.wait(0.02):
                got = self.server.drain()
                with self._lock:
                    self.messages.extend(got)
                for origin, request in self.server.requests():
                    self.requests.append(request)
                    self.server.reply(origin, {"ok": True, "contract": 1})

    def take(self, count: int, timeout_s: float = 5.0) -> list:
        """Wait until ``count`` messages arrived (or the timeout); take them all."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    break
            time.sleep(0.01)
        with self._lock:
            out, self.messages = self.messages, []
        return out

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def server():
    bus = ServerBus(port=0)
    try:
        yield bus
    finally:
        bus.close()


@pytest.fixture
def served(server):
    """(server, pump): the server's receive side runs in a thread (see :class:`ServerPump`)."""
    pump = ServerPump(server)
    try:
        yield server, pump
    finally:
        pump.stop()


@pytest.fixture
def client(served):
    server, _ = served
    bus = ClientBus(port=server.port)
    try:
        bus.wait_ready(5.0)
        yield bus
    finally:
        bus.close()


class KeyedLab:
    """A lab network's keys in ``folder``: the server's pair, one pair per client, and an
    allow directory (mode 0700) holding every client's public key.

    Attributes:
        allow: the allow directory; server: the server's ``ServerCurve``;
        client: ``{name: ClientCurve}``.
    """

    def __init__(self, folder, *clients: str) -> None:
        from haptics.bus.security import ClientCurve, ServerCurve, new_keypair

        self.made = {n: new_keypair(n, folder / "keys") for n in ("server", *clients)}
        self.allow = folder / "allow"
        self.allow.mkdir(mode=0o700)
        for name in clients:
            self.put_back(name)
        self.server = ServerCurve.from_files(self.made["server"].secret, self.allow)
        self.client = {
            n: ClientCurve.from_files(self.made[n].secret, self.made["server"].public)
            for n in clients
        }

    def remove(self, name: str) -> None:
        """Take a client's key out of the allow directory (a lost laptop)."""
        (self.allow / f"{name}.key").unlink()

    def put_back(self, name: str) -> None:
        """Put a client's public key (back) in the allow directory."""
        (self.allow / f"{name}.key").write_bytes(self.made[name].public.read_bytes())
