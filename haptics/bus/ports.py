"""Free blocks of loopback ports for a bus server started next (``surgisim practice``,
the benchmarks and the tests start one in a subprocess and must name its ports first).

A bus takes three consecutive ports (publish, subscribe, requests: ``docs/bus.md``), so a
free port is not enough: the whole block must bind, as ZeroMQ binds (``SO_REUSEADDR``).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

from haptics.bus.errors import BusError


def block_is_free(port: int, count: int = 3) -> bool:
    """True when ports ``port`` .. ``port + count - 1`` can all be bound on loopback.

    With SO_REUSEADDR, as ZeroMQ binds: a port left in TIME_WAIT by the last practice is
    free, one a running server listens on is not."""
    for k in range(count):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port + k))
            except OSError:
                return False
    return True


#: the lowest base port :func:`free_port_block` picks (below: ports of services)
LOWEST_FREE_BASE = 20000


def ephemeral_range() -> tuple[int, int]:
    """The lowest and highest port the kernel gives outgoing connections as their source
    (Linux's ``ip_local_port_range``; 32768-60999, its default, where that cannot be
    read). A client that waits for a server on a port in this range can connect to
    itself (see :meth:`haptics.bus.sockets.ClientBus.request`)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2]
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port_block(count: int = 3) -> int:
    """A base port P with P .. P + count - 1 free on loopback, for a server started next.

    Taken below the ephemeral range where there is room: a port the system picks (a bind
    to port 0) lies in the range the kernel also gives every outgoing connection, and
    between the check and the server's bind one took it ("Address already in use", in a
    test run with hundreds of connections). Ports below are never handed out that way.
    """
    top = ephemeral_range()[0] - count
    below = top - LOWEST_FREE_BASE >= 1000
    pick = random.Random()  # not the global generator, which a caller may have seeded
    for _ in range(200):
        if below:
            port = pick.randrange(LOWEST_FREE_BASE, top)
        else:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        if port + count < 65535 and block_is_free(port, count):
            return port
    raise BusError("no free block of loopback ports for the training server.")
