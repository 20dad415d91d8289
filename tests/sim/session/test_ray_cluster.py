"""A Ray address that does not answer is refused in seconds with a message saying how to
start a cluster, instead of Ray retrying it for minutes."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import SimError
from sim.session import ray_cluster


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_address_where_nothing_listens_is_refused_at_once():
    address = f"127.0.0.1:{_closed_port()}"
    start = time.perf_counter()
    with pytest.raises(SimError, match=r"no Ray cluster at .*ray start --head"):
        ray_cluster.check_reachable(address)
    assert time.perf_counter() - start < ray_cluster.TCP_TIMEOUT_S


def test_a_malformed_address_is_refused():
    with pytest.raises(SimError, match="expected 'host:port'"):
        ray_cluster.check_reachable("head-node:port")


@pytest.mark.timeout(60)
def test_a_listener_that_is_not_ray_is_given_up_after_the_timeout():
    """Something accepts the connection and says nothing (a proxy, a firewall, another
    service): the Ray driver trying it in a child process is stopped at the limit."""
    pytest.importorskip("ray")
    server = socket.create_server(("127.0.0.1", 0))
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
    start = time.perf_counter()
    try:
        with pytest.raises(SimError, match="Ray cluster"):
            ray_cluster.check_reachable(f"127.0.0.1:{server.getsockname()[1]}", timeout_s=5)
    finally:
        server.close()
    assert time.perf_counter() - start < 15


@pytest.mark.timeout(60)
def test_sweep_on_an_unreachable_address_exits_2_naming_it(tmp_path):
    pytest.importorskip("ray")
    address = f"127.0.0.1:{_closed_port()}"
    out = tmp_path / "r.csv"
    result = CliRunner().invoke(
        app, ["sweep", "camera-targeting", "--seeds", "0", "--ray", address, "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert address in text and "ray start --head" in text and "leave --ray out" in text


@pytest.mark.slow
def test_a_running_cluster_passes_the_check():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        ray_cluster.check_reachable(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


def test_a_cluster_that_refuses_the_drivers_token_is_named_not_called_absent(monkeypatch):
    """A running cluster with Ray's token authentication refused the sweep's driver; the
    driver's last line only said "Failed to connect", and the message told the user to
    start a cluster that was running."""
    import subprocess

    output = (
        "ray.exceptions.AuthenticationError: InvalidAuthToken: Authentication token is "
        "missing or incorrect\n"
        "ConnectionError: Failed to connect to Ray cluster at 192.0.2.2:17100.\n"
    )
    monkeypatch.setattr(ray_cluster, "_check_listening", lambda address, timeout_s: None)
    monkeypatch.setattr(
        subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", output)
    )
    with pytest.raises(SimError) as refused:
        ray_cluster.check_reachable("127.0.0.1:17100")
    said = str(refused.value)
    assert "refused this driver's authentication token" in said
    assert "RAY_AUTH_MODE=disabled" in said and "ray start --head" not in said
