"""Assets that ship with surgisim: generated robot models (URDF + meshes).

Generated files sit beside the script that made them; regenerate with
``python -m assets.generate_robots`` after changing a model.
"""

from __future__ import annotations

from pathlib import Path

#: Folder of the generated robot URDFs (``psm.urdf``, ``ecm.urdf``) and ``meshes/``.
ROBOTS_DIR = Path(__file__).resolve().parent / "robots"
