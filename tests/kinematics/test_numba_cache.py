"""numba's compiled kernels go to the user's cache, not beside the installed modules:
there pip uninstall left folders that shadowed a later clone, and a read-only
site-packages recompiled every kernel in every process (kinematics.numba_cache)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: compiles (or loads) a cached kernel, and says where numba put it
_SCRIPT = """
import numpy as np
from kinematics.models import psm
chain = psm()
chain.fk(np.zeros(chain.dof))
import numba.core.config as c
print(c.CACHE_DIR)
"""


def _run(env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _cached(root: Path) -> list[Path]:
    return sorted(root.rglob("*.nbi"))


def test_kernels_are_cached_in_the_users_cache_directory(tmp_path):
    done = _run({"XDG_CACHE_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    where = tmp_path / "surgisim" / "numba"
    assert done.stdout.strip() == str(where)
    cached = _cached(where)
    assert cached and any("kinematics" in str(p) for p in cached)


def test_a_cache_directory_the_user_chose_stands(tmp_path):
    mine = tmp_path / "mine"
    done = _run({"XDG_CACHE_HOME": str(tmp_path / "xdg"), "NUMBA_CACHE_DIR": str(mine)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(mine)
    assert _cached(mine) and not (tmp_path / "xdg").exists()


def test_without_a_writable_home_the_kernels_go_to_a_private_temporary_folder(tmp_path):
    """HOME a file (a service without a home): numba fell back to caching beside the
    installed modules, and pip uninstall left its folders behind."""
    home = tmp_path / "not-a-folder"
    home.write_text("")
    (tmp_path / "tmp").mkdir()
    done = _run({"HOME": str(home), "XDG_CACHE_HOME": "", "TMPDIR": str(tmp_path / "tmp")})
    assert done.returncode == 0, done.stderr
    where = Path(done.stdout.strip())
    assert where == tmp_path / "tmp" / f"surgisim-{os.getuid()}" / "numba"
    assert _cached(where)
