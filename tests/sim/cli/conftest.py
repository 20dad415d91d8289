"""Fixtures shared by the CLI's tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    """This test's data directory (``$XDG_DATA_HOME/surgisim``) and temporary folder
    (where a session that cannot be stored is kept): nothing a test stores or keeps
    reaches the user's own."""
    import tempfile

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return tmp_path / "xdg" / "surgisim"
