"""The runtime or the server going away under a running headset client: the client ends
with a clean line and status; the training server's session goes on (runtime lost) and
is stored when it ends."""

from __future__ import annotations

import contextlib
import signal
import time

import pytest

from sim.xr.monado import MonadoService
from tests.xr.conftest import Server, start_client

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def _headset_running(xr_root, tmp_path, name: str):
    """A server, Monado (simulated headset) and a client in its FOCUSED session, with
    the server seeing the arms; everything stopped afterwards."""
    server = Server(tmp_path)
    service = MonadoService(xr_root, "simulated", log_path=tmp_path / "monado.log")
    service.start()
    client = None
    try:
        client = start_client(xr_root, service, server.port, name, "--seconds", "120")
        assert client.wait_for_line("OpenXR session: FOCUSED", 180), client.output
        assert server.viewer.wait_for(lambda: server.viewer.state("PSM1") is not None, 60)
        time.sleep(2.0)
        yield server, service, client
    finally:
        if client is not None and client.process.poll() is None:
            client.process.kill()
        service.stop()
        server.close()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["crash", "shutdown"])
def test_client_survives_the_runtime_going_away(xr_root, tmp_path, how):
    with _headset_running(xr_root, tmp_path, "loss") as (server, service, client):
        killed_at = time.monotonic()
        service.kill(how)  # the runtime crashes
        code = client.wait(120)
        took = time.monotonic() - killed_at
        out = client.output
        print(f"client exit {code} {took:.1f} s after the runtime died")
        assert code == 3, out
        assert "Traceback" not in out, out
        assert "runtime went away" in out, out
        assert client.report()["runtime_lost"], client.report()
        # the server goes on: its clock runs and it still answers, its arms hold
        assert server.process.poll() is None, server.log
        t0 = server.viewer.payload("scene/state")["time_s"]
        assert server.viewer.wait_for(
            lambda: server.viewer.payload("scene/state")["time_s"] > t0 + 0.2, 60
        )
        assert server.viewer.wait_for(lambda: server.viewer.state("PSM1") == "HOLDING", 60)
        result = server.stop()
    # stopped before the exercise ended: stored as incomplete, exit 130 (as after Ctrl-C)
    assert server.process.returncode == 130, server.log
    assert result["stopped_by"] == "stop request" and result["session_id"] >= 1, result
    assert "stored as session" in server.log


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_client_ends_when_the_server_goes_or_ends_the_session(xr_root, tmp_path, how):
    """The server killed: the headset showed the last scene, frozen, with no word, for as
    long as the runtime ran. Now it ends 2 s into the silence, says so, exits 4. The
    server ending the session (scored and stored): the headset ends too, exit 0."""
    with _headset_running(xr_root, tmp_path, "gone") as (server, _, client):
        if how == "killed":
            server.process.kill()
        else:
            server.stop()
        code = client.wait(120)
        out = client.output
        assert "Traceback" not in out, out
        if how == "killed":
            assert code == 4, out
            assert "sent nothing for" in out and client.report()["server_lost"], out
        else:
            assert code == 0, out
            assert "the session ended on the server: FAIL" in out, out  # stopped early
            assert client.report()["session_score"]["session_id"] >= 1, client.report()
