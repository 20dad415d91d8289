"""Roles of client keys (roles.yaml beside the allowed keys): what each key may send."""

from __future__ import annotations

import os
import time

import pytest

from haptics.bus.errors import BusSecurityError
from haptics.bus.roles import OPERATOR, load_roles, parse_role
from haptics.bus.security import ClientCurve, ServerCurve, new_keypair
from haptics.bus.sockets import ClientBus, ServerBus
from tests.haptics.bus.conftest import ServerPump


def test_the_roles_and_what_each_allows():
    device = parse_role("device: MTMR, MTML")
    assert str(device) == "device:MTML,MTMR"
    assert device.may_send_as("MTMR") and not device.may_send_as("PSM_console")
    assert device.may_request("stop") and device.may_request("state_command")
    observer = parse_role("observer")
    assert observer.may_request("hello") and not observer.may_request("stop")
    assert not observer.may_send_as("MTMR")
    # a viewer's frame timing report moves nothing: any key sends it, under any name
    assert observer.may_send_as("VIEW", "frame_timing")
    assert device.may_send_as("XR", "frame_timing") and not device.may_send_as("XR", "clutch")
    # ... but not under a mapped device's name: it would be stored as that device's
    assert not observer.may_send_as("MTMR", "frame_timing", mapped={"MTMR"})
    assert device.may_send_as("MTMR", "frame_timing", mapped={"MTMR", "MTML"})
    assert not parse_role("device:MTMR").may_send_as("MTML", "frame_timing", mapped={"MTML"})
    assert OPERATOR.may_send_as("MTMR", "frame_timing", mapped={"MTMR"})
    assert parse_role("operator") is OPERATOR
    assert OPERATOR.may_send_as("anything") and OPERATOR.may_request("stop")
    for bad, says in (
        ("device:", "needs the device names"),
        ("device:MT MR", "not a device name"),
        ("admin", "unknown role 'admin'; the roles are"),
    ):
        with pytest.raises(ValueError, match=says):
            parse_role(bad)


def test_a_roles_file_is_read_by_key_name_and_its_mistakes_are_named(tmp_path):
    assert load_roles(tmp_path) == {}  # no file: every key is an operator
    path = tmp_path / "roles.yaml"
    path.write_text("# lab 2\nstation2-MTMR: device:MTMR\nlaptop: observer\n")
    roles = load_roles(tmp_path)
    assert str(roles["station2-MTMR"]) == "device:MTMR" and str(roles["laptop"]) == "observer"
    for text, says in (
        ("laptop: observer\nstation2: admin\n", r"roles.yaml, line 2: 'station2': unknown role"),
        ("laptop: observer\nlaptop: operator\n", r"line 2: 'laptop' is given a role twice"),
        ("laptop: [observer]\n", r"line 1: the role of 'laptop' must be text"),
        ("- laptop\n", r"line 1: expected key names mapped to roles"),
        ("laptop: observer\n  : :\n", r"not YAML"),
    ):
        path.write_text(text)
        with pytest.raises(BusSecurityError, match=says):
            load_roles(tmp_path)
    path.write_text("laptop: operator\n")
    os.chmod(path, 0o666)
    with pytest.raises(BusSecurityError, match=r"mode 0666.*chmod go-w"):
        load_roles(tmp_path)


@pytest.fixture
def lab(tmp_path):
    """Keys for a server and three clients, all allowed; roles.yaml gives two of them
    roles (the instructor's key is not named: an operator)."""
    key_dir, allow = tmp_path / "keys", tmp_path / "allow"
    made = {n: new_keypair(n, key_dir) for n in ("server", "station2", "laptop", "instructor")}
    allow.mkdir(mode=0o755)
    for name in ("station2", "laptop", "instructor"):
        (allow / f"{name}.key").write_bytes(made[name].public.read_bytes())
    (allow / "roles.yaml").write_text("station2: device:MTMR\nlaptop: observer\n")
    return made, allow


def _client(made, name: str, server: ServerBus) -> ClientBus:
    """A CurveZMQ client of ``server`` with the key ``name`` of the ``lab``."""
    return ClientBus(
        port=server.port, curve=ClientCurve.from_files(made[name].secret, made["server"].public)
    )


def test_a_bad_roles_file_stops_the_server_at_start(lab):
    made, allow = lab
    (allow / "roles.yaml").write_text("laptop: watcher\n")
    with pytest.raises(BusSecurityError, match=r"roles.yaml, line 1: 'laptop': unknown role"):
        ServerCurve.from_files(made["server"].secret, allow)


def test_each_key_sends_what_its_role_allows_and_a_change_applies_to_connected_clients(lab, caplog):
    """Every allowed key could send under any device name (so drive any mapped arm) and
    ask anything (``stop`` ends the session). Live CurveZMQ sockets on loopback: the
    station's key sends as its own device only, the observer's sends nothing and may only
    say hello, the instructor's (no role line) does everything; a role changed in the
    file applies to the connected client."""
    made, allow = lab
    server_curve = ServerCurve.from_files(made["server"].secret, allow)

    def client(name, server):
        return _client(made, name, server)

    with (
        caplog.at_level("WARNING", logger="haptics.bus"),
        ServerBus(port=0, curve=server_curve) as server,
    ):
        pump = ServerPump(server)
        try:
            with (
                client("station2", server) as station,
                client("laptop", server) as laptop,
                client("instructor", server) as instructor,
            ):
                for c in (station, laptop, instructor):
                    assert c.wait_ready(5.0)["ok"] is True  # hello: every role
                station.publish("MTMR/clutch", {"pressed": True})
                station.publish("MTML/clutch", {"pressed": True})  # another station's hand
                laptop.publish("MTMR/clutch", {"pressed": False})
                instructor.publish("MTML/clutch", {"pressed": True})
                taken = pump.take(2, 5.0)
                dropped = server.counters.messages
                deadline = time.monotonic() + 5.0
                while dropped.dropped["not_permitted"] < 2 and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(0.1)  # anything else that came would be taken now
                taken += pump.take(0, 0.1)
                assert sorted((m.component, m.payload["pressed"]) for m in taken) == [
                    ("MTML", True),
                    ("MTMR", True),
                ]
                assert dropped.dropped["not_permitted"] == 2
                # counted and logged per key: a second key's drops are not hidden by the first
                assert dropped.dropped_by_key["not_permitted"] == {"station2": 1, "laptop": 1}
                assert "samples as 'MTML' from the key 'station2'" in caplog.text
                assert "samples as 'MTMR' from the key 'laptop'" in caplog.text
                # the last problem is either key's: the two come by separate connections
                last = dropped.last_problem("not_permitted")
                assert ("'laptop'" in last and "role 'observer' does not allow it" in last) or (
                    "'station2'" in last and "role 'device:MTMR' does not allow it" in last
                ), last

                refused = laptop.request("stop", timeout_s=2.0)
                assert refused["ok"] is False
                assert "the request 'stop' from the key 'laptop'" in refused["error"]
                assert station.request(
                    {"request": "state_command", "arm": "PSM1", "command": "enable"}
                )["ok"]
                assert instructor.request("stop")["ok"]
                asked = [r["request"] for r in pump.requests]
                assert asked.count("stop") == 1 and "state_command" in asked

                (allow / "roles.yaml").write_text("station2: device:MTMR\nlaptop: operator\n")
                deadline = time.monotonic() + 5.0
                while True:
                    laptop.publish("MTMR/clutch", {"pressed": True})
                    if pump.take(1, 0.2):
                        break
                    assert time.monotonic() < deadline, "the new role did not apply"
        finally:
            pump.stop()


_TIMING = {"frames": 90, "missed": 0, "frame_period_s_p50": 0.011, "frame_period_s_p99": 0.012}


def test_a_frame_timing_report_under_a_mapped_device_takes_a_key_that_may_send_as_it(lab):
    """A report moves nothing, so any key may send one under its own viewer's name; but
    one under a mapped device's name is stored as that device's, in the trainee's record:
    an observer's key may not write there, the device's own key (and an operator) may."""
    made, allow = lab
    server_curve = ServerCurve.from_files(made["server"].secret, allow)

    def client(name, server):
        return _client(made, name, server)

    with ServerBus(port=0, curve=server_curve) as server:
        server.names.reserve(["MTMR"])  # the server's device map
        pump = ServerPump(server)
        try:
            with client("station2", server) as station, client("laptop", server) as laptop:
                for c in (station, laptop):
                    assert c.wait_ready(5.0)["ok"] is True
                laptop.publish("MTMR/frame_timing", _TIMING)  # the observer, as the hand
                laptop.publish("VIEW/frame_timing", _TIMING)  # its own window
                station.publish("MTMR/frame_timing", _TIMING)  # the hand's own key
                taken = pump.take(2, 5.0)
                dropped = server.counters.messages
                deadline = time.monotonic() + 5.0
                while dropped.dropped["not_permitted"] < 1 and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(0.1)
                taken += pump.take(0, 0.1)
                assert sorted(m.topic for m in taken) == ["MTMR/frame_timing", "VIEW/frame_timing"]
                assert dropped.dropped_by_key["not_permitted"] == {"laptop": 1}
                last = dropped.last_problem("not_permitted")
                assert "frame_timing report under the mapped device name 'MTMR'" in last, last
        finally:
            pump.stop()
