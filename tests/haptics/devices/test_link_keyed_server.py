"""A device without keys against a server that uses CurveZMQ: it waits and keeps trying,
as for a server not there yet, and says that such a server needs keys (it crashed with
``unexpected Again: Resource temporarily unavailable`` after ~1.5 s: the request socket's
queue fills when no handshake ever completes)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from haptics.bus.errors import BusTimeoutError
from haptics.bus.security import ServerCurve, new_keypair
from haptics.bus.sockets import ServerBus
from haptics.devices.base import DeviceReading
from haptics.devices.link import DeviceLink
from tests.haptics.bus.conftest import KeyedLab, ServerPump, received_while_publishing


def test_a_device_without_keys_waits_for_a_keyed_server_and_says_why(tmp_path):
    made = new_keypair("server", tmp_path / "keys")
    (tmp_path / "allow").mkdir(mode=0o700)
    client = new_keypair("MTMR", tmp_path / "client")  # an empty allow dir is refused
    (tmp_path / "allow" / "MTMR.key").write_bytes(client.public.read_bytes())
    curve = ServerCurve.from_files(made.secret, tmp_path / "allow")
    with ServerBus(port=0, curve=curve) as server:
        pump = ServerPump(server)
        said: list[str] = []
        link = DeviceLink(["MTMR"], port=server.port, notify=said.append, probe_timeout_s=0.2)
        try:
            with pytest.raises(BusTimeoutError):
                link.connect(timeout_s=4.0)  # many tries: well past the queue's limit
            assert len(said) == 1, said
            assert "CurveZMQ needs --keys DIR" in said[0] and "server.key" in said[0]
            for _ in range(3):  # and the loop's probe keeps going too
                assert link.check() == ""
        finally:
            link.close()
            pump.stop()


def test_a_device_whose_key_is_removed_says_it_is_refused_and_comes_back_when_it_is_put_back(
    tmp_path,
):
    """A device cut off by its key's removal heard nothing more and, probing, took the
    server's ``ok: false`` for a live server: it kept sending into the void, silent. It
    now says the server refuses it (with the server's reason) and holds; when the key is
    put back it reconnects what the server publishes to (libzmq does not retry a refused
    handshake), says the server is back, and receives again."""
    lab = KeyedLab(tmp_path, "MTMR")
    client_curve = lab.client["MTMR"]
    with ServerBus(port=0, curve=lab.server) as server:
        pump = ServerPump(server)
        said: list[str] = []
        # a probe that waits long: on a loaded machine a late answer must not read as a
        # server gone (that is another message)
        link = DeviceLink(
            ["MTMR"], port=server.port, curve=client_curve, notify=said.append, probe_timeout_s=5.0
        )

        def run_until(event: str, timeout_s: float = 10.0) -> int:
            """Publish at 20 Hz, poll and check as a device loop does, until ``check``
            says ``event``; how many server messages the link received meanwhile."""
            received, deadline = 0, time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                server.publish(
                    "session/step", {"index": 1, "total": 2, "id": "a", "instruction": ""}
                )
                link.send("MTMR", DeviceReading(np.eye(4), 0.3, False))
                received += len(link.poll(0.05))
                if link.check() == event:
                    return received
            raise AssertionError(f"no {event!r} in {timeout_s} s: {said}")

        try:
            assert link.connect(timeout_s=10.0)["ok"]
            lab.remove("MTMR")
            run_until("lost")
            assert (
                "refuses this device" in said[-1] and "removed from the server's allow" in said[-1]
            )
            assert not link.connected
            assert server.counters.messages.dropped["revoked_key"] > 0
            lab.put_back("MTMR")
            run_until("back")
            assert said[-1].endswith("is back") and link.connected
            deadline = time.monotonic() + 10.0
            while received_while_publishing(server, link) == 0:
                assert time.monotonic() < deadline, "nothing the server publishes arrives"
        finally:
            link.close()
            pump.stop()
