"""The Python lists a world hands pybullet for mesh data, kept and handed again on reset.

pybullet 3.2 keeps a reference to the vertex and index lists given to
``createVisualShape`` and ``createCollisionShape`` (``GEOM_MESH``) and never releases
them, so a world that rebuilt its scene with fresh lists leaked them at every reset:
~150 KB per ``reset()`` of the needle-handover scene, 16 MB per 100 episodes, measured
(a researcher's thousands of episodes would have run into gigabytes). Handing pybullet
the same list objects again costs nothing more: their leaked references only count up.
"""

from __future__ import annotations

import hashlib

import numpy as np


class PinnedLists:
    """``array.tolist()``, the same list object for the same array contents, for the life
    of the world (across resets)."""

    def __init__(self) -> None:
        self._lists: dict[tuple, list] = {}

    def __call__(self, array) -> list:
        a = np.ascontiguousarray(array)
        key = (a.dtype.str, a.shape, hashlib.blake2b(a.tobytes(), digest_size=16).digest())
        kept = self._lists.get(key)
        if kept is None:
            kept = self._lists[key] = a.tolist()
        return kept

    def __len__(self) -> int:
        return len(self._lists)
