"""A live training server (``surgisim serve``'s TrainingServer) in a thread, on free ports."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def repo_env() -> dict:
    """The environment for a device subprocess: this checkout first on the path."""
    return {**os.environ, "PYTHONPATH": str(REPO)}


class Served:
    """``TrainingServer.run`` in a thread until stopped (or 120 s of wall time)."""

    def __init__(self, scenario: str = "needle-handover", port: int = 0, **config) -> None:
        from scenarios.loader import load_scenario
        from sim.server.server import ServeConfig, TrainingServer

        self.said: list[str] = []
        self.server = TrainingServer(
            load_scenario(scenario),
            seed=0,
            config=ServeConfig(port=port, **config),
            say=self.said.append,
        )
        self.port = self.server.port
        self.stopped = False
        self.outcome = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.outcome = self.server.run(stop=lambda: self.stopped, max_duration_s=120)
        except BaseException as e:  # surfaced by the test
            self.error = e

    def stop(self):
        self.stopped = True
        self.thread.join(timeout=60)
        return self.outcome

    def close(self) -> None:
        self.stop()
        self.server.close()


def free_port() -> int:
    """A base port whose block of three was free a moment ago (below the ephemeral
    range: no outgoing connection takes it before the server binds)."""
    from haptics.bus.ports import free_port_block

    return free_port_block()


@pytest.fixture
def served():
    s = Served()
    yield s
    s.close()
