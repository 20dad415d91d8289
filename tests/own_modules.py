"""A module of a test's own, written to a file and importable by the test and by the
processes it starts (sweep workers, Ray): what a researcher's controller or solver module
is. The test may edit its source (fingerprints)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator


def own_module(tmp_path, monkeypatch, prefix: str, source: str) -> Iterator[str]:
    """Write ``source`` as a fresh module under ``tmp_path``; yield its name (for a
    pytest fixture), and forget it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    )
    yield name
    sys.modules.pop(name, None)
