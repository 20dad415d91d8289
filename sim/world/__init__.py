"""pybullet physics: the world, arms, grasps, contacts, tissue, task boards, scenes.

Modules, one job each (``World`` and ``SceneSpec`` are importable from here, lazily):

- :mod:`sim.world.world`: :class:`World`, a pybullet client stepping a scene.
- :mod:`sim.world.scene`: plain scene descriptions (dataclasses or dicts) and their checks.
- :mod:`sim.world.scenario_scene`: a scenario's ``scene:`` section to a scene description.
- :mod:`sim.world.builder`: descriptions to pybullet bodies.
- :mod:`sim.world.bodies`: what the world records about each body (name, role, landmarks).
- :mod:`sim.world.boards`: task boards and primitives as trimesh geometry (no pybullet).
- :mod:`sim.world.robots`: the PSM/ECM models (generated URDFs) and port poses.
- :mod:`sim.world.arm`: joint / Cartesian / jaw commands and measurements of one arm.
- :mod:`sim.world.grasp`: sticky grasps and the grasp / release / drop events.
- :mod:`sim.world.contacts`: instrument contacts, classified, and tip force estimates.
- :mod:`sim.world.tissue`: soft tissue pads and needle entry / exit.
- :mod:`sim.world.frustum`: the scope's view frustum (pure numpy).
- :mod:`sim.world.scripted`: scripted tool paths (tests, benchmarks, examples).
"""

from __future__ import annotations

from sim._lazy import lazy_exports

_LAZY = {"World": "sim.world.world", "SceneSpec": "sim.world.scene"}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
