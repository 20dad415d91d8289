"""Where surgisim keeps a user's data: ``$XDG_DATA_HOME/surgisim`` else ``~/.local/share/surgisim``.

Read from the environment at call time (no module-level state), so tests and users can
point it elsewhere by setting ``XDG_DATA_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The user's surgisim data directory (not created here)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "surgisim"


def traces_dir() -> Path:
    """Where session traces (``.npz``) are kept."""
    return data_dir() / "traces"


def reports_dir() -> Path:
    """Where HTML reports are written by default."""
    return data_dir() / "reports"
