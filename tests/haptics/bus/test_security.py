"""CurveZMQ: key files, an allowed client gets through, an unknown one is refused and counted."""

from __future__ import annotations

import os
import stat
import time

import pytest
from typer.testing import CliRunner

from haptics.bus.errors import BusSecurityError, BusTimeoutError
from haptics.bus.security import (
    ClientCurve,
    ServerCurve,
    load_keys,
    load_public_key,
    new_keypair,
)
from haptics.bus.sockets import ClientBus, ServerBus
from sim.cli import app
from tests.haptics.bus.conftest import ServerPump


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def keys(tmp_path):
    """server, a known client, a stranger; the allow dir holds the known client's key only."""
    key_dir, allow = tmp_path / "keys", tmp_path / "allow"
    made = {n: new_keypair(n, key_dir) for n in ("server", "MTMR", "stranger")}
    allow.mkdir()
    (allow / "MTMR.key").write_bytes(made["MTMR"].public.read_bytes())
    return made, allow


def test_key_files_are_private(tmp_path):
    files = new_keypair("server", tmp_path / "new")
    assert _mode(files.secret) == 0o600
    assert _mode(tmp_path / "new") == 0o700
    assert _mode(files.public) == 0o644
    keys = load_keys(files.secret)
    assert keys.public == load_public_key(files.public) and len(keys.secret) == 40
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [
        "server.key",
        "server.key_secret",
    ]


def test_existing_keys_are_not_overwritten_by_accident(tmp_path):
    first = new_keypair("dev", tmp_path)
    old_public = load_public_key(first.public)
    with pytest.raises(BusSecurityError, match=r"exist already.*--force"):
        new_keypair("dev", tmp_path)
    second = new_keypair("dev", tmp_path, overwrite=True)
    assert second == first and load_public_key(second.public) != old_public  # new keys
    with pytest.raises(BusSecurityError, match="not usable as a file name"):
        new_keypair("../evil", tmp_path)


def test_a_readable_secret_is_refused(tmp_path):
    files = new_keypair("dev", tmp_path)
    os.chmod(files.secret, 0o644)
    with pytest.raises(BusSecurityError, match=r"mode 0644.*chmod 600"):
        load_keys(files.secret)
    with pytest.raises(BusSecurityError, match=r"not NAME\.key"):
        os.chmod(files.secret, 0o600)
        load_keys(files.public)
    with pytest.raises(BusSecurityError, match="surgisim keys new"):
        load_keys(tmp_path / "missing.key_secret")


def test_keys_command(tmp_path):
    runner = CliRunner()
    out = runner.invoke(app, ["keys", "new", "MTML", "--dir", str(tmp_path / "k")])
    assert out.exit_code == 0, out.output
    assert _mode(tmp_path / "k" / "MTML.key_secret") == 0o600
    again = runner.invoke(app, ["keys", "new", "MTML", "--dir", str(tmp_path / "k")])
    assert again.exit_code == 2 and "exist already" in again.output


def test_curve_admits_the_allowed_client_and_refuses_a_stranger(keys):
    made, allow = keys
    server_curve = ServerCurve.from_files(made["server"].secret, allow)
    # bound beyond loopback is allowed with keys; the clients still connect over loopback
    with ServerBus(port=0, bind_host="0.0.0.0", curve=server_curve) as server:
        pump = ServerPump(server)
        try:
            known = ClientCurve.from_files(made["MTMR"].secret, made["server"].public)
            with ClientBus(port=server.port, curve=known) as client:
                assert client.wait_ready(5.0)["ok"] is True
                client.publish("MTMR/clutch", {"pressed": True})
                assert [m.topic for m in pump.take(1)] == ["MTMR/clutch"]
            assert server.counters.refused_clients == 0

            stranger = ClientCurve.from_files(made["stranger"].secret, made["server"].public)
            with ClientBus(port=server.port, curve=stranger) as intruder:
                with pytest.raises(BusSecurityError, match="refused this client's CurveZMQ key"):
                    intruder.request("hello", timeout_s=1.0)
                intruder.publish("MTMR/clutch", {"pressed": False})  # goes nowhere
                time.sleep(0.2)
            assert pump.take(0, 0.1) == []
            assert server.counters.refused_clients >= 1
            assert len(pump.requests) == 1  # only the known client's hello
        finally:
            pump.stop()


def test_a_client_without_keys_gets_nothing_from_a_curve_server(keys):
    made, allow = keys
    server_curve = ServerCurve.from_files(made["server"].secret, allow)
    with ServerBus(port=0, curve=server_curve) as server:
        pump = ServerPump(server)
        try:
            with ClientBus(port=server.port) as plain, pytest.raises(BusTimeoutError):
                plain.request("hello", timeout_s=0.5)
            assert pump.requests == []
        finally:
            pump.stop()


def test_server_curve_needs_an_allow_dir(keys, tmp_path):
    made, _ = keys
    with pytest.raises(BusSecurityError, match=r"allow directory .* does not exist"):
        ServerCurve.from_files(made["server"].secret, tmp_path / "nope")
