"""The training server on its own thread, for the server's tests (``served``)."""

from __future__ import annotations

import pytest

from tests.sim.server.test_server import Served


@pytest.fixture
def served():
    s = Served()
    yield s
    s.stopped = True
    s.thread.join(timeout=60)
    s.close()
