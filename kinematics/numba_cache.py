"""Where numba keeps surgisim's compiled kernels: the user's cache, not the installed code.

numba's ``cache=True`` writes ``__pycache__/*.nbi`` and ``*.nbc`` files beside each
module. Installed from a wheel, that is site-packages, and pip does not know those files:
``pip uninstall surgisim`` left ``kinematics/``, ``haptics/`` and ``sim/`` folders holding
only caches, which Python then imported instead of a clone installed afterwards
(``No module named 'sim.world.scenario_check'``); and a read-only site-packages meant
every kernel compiled again in every process (34 s of wall time for a 7.7 s session).

So each package whose modules compile kernels (kinematics, haptics, sim) calls
:func:`use_user_cache` on import, before its first ``@njit(cache=True)``. The cache goes
to ``$NUMBA_CACHE_DIR`` when it is set (the user's choice stands), else
``$XDG_CACHE_HOME/surgisim/numba`` (``~/.cache/surgisim/numba``). numba mirrors each
source file's path below it, so two checkouts or a checkout and a wheel never share an
entry; where that directory cannot be written, numba falls back to its own locations.
This module imports nothing heavy: ``import kinematics`` stays cheap.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

__all__ = ["use_user_cache", "user_cache_dir"]


def user_cache_dir() -> Path:
    """The directory surgisim asks numba to cache its kernels in (see the module doc):
    ``$NUMBA_CACHE_DIR`` when set; else ``$XDG_CACHE_HOME/surgisim/numba`` (or
    ``~/.cache/...``) when it can be written; else a private folder under the system's
    temporary directory (a service or container without a writable home: numba then fell
    back to site-packages, and ``pip uninstall`` left its folders behind again)."""
    chosen = os.environ.get("NUMBA_CACHE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    home = Path(base) / "surgisim" / "numba"
    if _writable(home):
        return home
    return Path(tempfile.gettempdir()) / f"surgisim-{os.getuid()}" / "numba"


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def use_user_cache() -> None:
    """Point numba's kernel cache at :func:`user_cache_dir` (once numba is imported, or
    when it is: the environment variable carries it to numba and to child processes, so
    it is the process's numba cache for every cached function, a user's own too, unless
    ``NUMBA_CACHE_DIR`` was set before)."""
    path = str(user_cache_dir())
    os.environ.setdefault("NUMBA_CACHE_DIR", path)
    config = sys.modules.get("numba.core.config")
    if config is not None and not config.CACHE_DIR:  # numba came first: tell it directly
        config.CACHE_DIR = path
