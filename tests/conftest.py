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


@pytest.fixture(autouse=True)
def _own_temporary_folder(tmp_path_factory, monkeypatch):
    """Each test's temporary folder (``tempfile``'s, in this process) is its own: the
    folder where a session that cannot be stored is kept (``/tmp/surgisim-UID-unstored``)
    is shared by everything this user runs, and a
    session another surgisim kept there (a full disk elsewhere) changed what ``store
    --orphans`` said in a test. (``TMPDIR`` is left alone: the processes a test starts
    share sockets with session-wide fixtures, the OpenXR runtime's among them.)"""
    import tempfile

    folder = tmp_path_factory.mktemp("tmp")
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
