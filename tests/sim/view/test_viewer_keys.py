"""A server that uses CurveZMQ is silent to a client with the wrong keys: the desktop
viewer and the headset's scene feed say so instead of only "start a server"."""

from __future__ import annotations

import pytest

from haptics.bus.errors import BusTimeoutError
from haptics.bus.security import ClientCurve, ServerCurve, new_keypair
from haptics.bus.sockets import ServerBus
from sim.errors import SimError
from sim.view.viewer import Viewer
from sim.xr.link import SceneFeed


@pytest.fixture
def keyed_server(tmp_path):
    made = {n: new_keypair(n, tmp_path / "kd") for n in ("server", "VIEW", "rogue")}
    (tmp_path / "allow").mkdir()
    (tmp_path / "allow" / "VIEW.key").write_bytes(made["VIEW"].public.read_bytes())
    with ServerBus(
        port=0, curve=ServerCurve.from_files(made["server"].secret, tmp_path / "allow")
    ) as bus:
        yield bus, made


def test_the_viewer_with_a_wrong_server_key_names_the_keys(keyed_server):
    bus, made = keyed_server
    wrong = ClientCurve.from_files(made["VIEW"].secret, made["rogue"].public)
    viewer = Viewer(port=bus.port, curve=wrong, connect_timeout_s=0.5, say=lambda _: None)
    viewer.bus = viewer._client()
    try:
        with pytest.raises(SimError) as info:
            viewer._hello()
    finally:
        viewer.bus.close()
    text = str(info.value)
    assert "no training server answered" in text and "surgisim serve" in text
    assert "wrong --server-public-key" in text and "does not allow" in text


def test_the_headset_feed_without_keys_says_a_keyed_server_needs_them(keyed_server):
    bus, _ = keyed_server
    with pytest.raises(
        BusTimeoutError, match="CurveZMQ needs --client-key and --server-public-key"
    ):
        SceneFeed("127.0.0.1", bus.port, None, timeout_s=0.5)
