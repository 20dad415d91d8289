"""Shared fixtures of the simulator tests."""

from __future__ import annotations

import pytest

from sim.scripted import peg_transfer_scene
from sim.world import World


@pytest.fixture
def world():
    """The standard peg-transfer scene (PSM1, PSM2, ECM, peg board), settled for 50 ms."""
    w = World(peg_transfer_scene())
    w.step(50)
    yield w
    w.close()
