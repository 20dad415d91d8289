"""Free blocks of loopback ports for a bus server started next (:mod:`haptics.bus.ports`)."""

from __future__ import annotations

from haptics.bus.ports import block_is_free, free_port_block


def test_a_free_block_is_taken_below_the_range_outgoing_connections_get():
    """A block the system picked (a bind to port 0) lay in the ephemeral range, which the
    kernel also gives every outgoing connection: one took a test server's port between
    the check and the server's bind ("Address already in use", in a CI run)."""
    from pathlib import Path

    from haptics.bus.ports import LOWEST_FREE_BASE

    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ranges.read_text().split()[0]) if ranges.exists() else 32768
    if low - 3 - LOWEST_FREE_BASE < 1000:
        import pytest

        pytest.skip(f"no room below this machine's ephemeral range (from {low})")
    bases = {free_port_block() for _ in range(20)}
    assert all(p >= LOWEST_FREE_BASE and p + 2 < low and block_is_free(p) for p in bases)
    assert len(bases) > 1  # drawn afresh: two servers started together do not collide
