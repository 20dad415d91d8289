"""A device without keys against a server that uses CurveZMQ: it waits and keeps trying,
as for a server not there yet, and says that such a server needs keys (it crashed with
``unexpected Again: Resource temporarily unavailable`` after ~1.5 s: the request socket's
queue fills when no handshake ever completes)."""

from __future__ import annotations

import pytest

from haptics.bus.errors import BusTimeoutError
from haptics.bus.security import ServerCurve, new_keypair
from haptics.bus.sockets import ServerBus
from haptics.devices.link import DeviceLink
from tests.haptics.bus.conftest import ServerPump


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
