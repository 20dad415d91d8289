"""``surgisim practice --port P`` on a port block a running server holds: refused before
anything starts (a second practice on a taken port saw its own server fail to bind, then
opened its window and devices on the first trainee's session, and both trainees' hands
were held as two senders under one name)."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from haptics.bus.ports import block_is_free, free_port_block
from sim.cli import app
from sim.cli.practice import port_block_for_practice


def _listening(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_a_block_with_one_port_listened_on_is_not_free_and_a_closed_one_is():
    port = free_port_block()
    assert block_is_free(port)
    for taken in range(3):  # any of P, P+1 (requests), P+2 taken makes the block unusable
        with _listening(port + taken):
            assert not block_is_free(port)
    assert block_is_free(port)
    assert port_block_for_practice(port) == port
    assert block_is_free(port_block_for_practice(0))


def test_practice_on_a_taken_port_is_refused_before_the_server_starts():
    port = free_port_block()
    with _listening(port + 1):
        result = CliRunner().invoke(app, ["practice", "peg-transfer", "--port", str(port)])
    assert result.exit_code != 0
    assert f"ports {port}-{port + 2} are in use" in result.output
    assert "choose another --port" in result.output
    assert "Traceback" not in result.output
