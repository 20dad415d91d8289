"""Shared fixtures of the simulator tests."""

from __future__ import annotations

import pytest

from sim.world.scripted import peg_transfer_scene
from sim.world.world import World


@pytest.fixture(scope="session")
def headless_run():
    """``run(name, operator, seed)``: a bundled scenario run headless, each combination
    once per test session (a peg transfer takes ~30 s of wall time)."""
    from scenarios.loader import load_scenario
    from sim.session.headless import run_headless

    cache = {}

    def run(name: str, operator: str = "expert", seed: int = 0):
        key = (name, operator, seed)
        if key not in cache:
            cache[key] = run_headless(load_scenario(name), operator=operator, seed=seed)
        return cache[key]

    return run


@pytest.fixture
def world():
    """The standard peg-transfer scene (PSM2, PSM1, ECM, peg board), settled for 50 ms."""
    w = World(peg_transfer_scene())
    w.step(50)
    yield w
    w.close()
