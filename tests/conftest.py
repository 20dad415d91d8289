"""Shared fixtures: the reference arms and a seeded generator."""

from __future__ import annotations

import os

import numpy as np
import pytest

# numba's parallel kernels and the tests share two cores; keep runs reproducible.
os.environ.setdefault("NUMBA_NUM_THREADS", str(os.cpu_count() or 1))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
