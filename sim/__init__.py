"""The simulator: pybullet world, robot models, task boards, and the command line.

Modules, one job each (import what you need; nothing heavy is imported here):

- :mod:`sim.world`: :class:`~sim.world.World`, a pybullet client stepping a scene.
- :mod:`sim.scene`: plain scene descriptions (dataclasses or dicts) and their checks.
- :mod:`sim.builder`: descriptions to pybullet bodies.
- :mod:`sim.bodies`: what the world records about each body (name, role, landmarks).
- :mod:`sim.boards`: task boards and primitives as trimesh geometry (no pybullet).
- :mod:`sim.robots`: the PSM/ECM models (generated URDFs) and port poses.
- :mod:`sim.arm`: joint / Cartesian / jaw commands and measurements of one arm.
- :mod:`sim.grasp`: sticky grasps and the grasp / release / drop events.
- :mod:`sim.contacts`: instrument contacts, classified, and tip force estimates.
- :mod:`sim.frustum`: the scope's view frustum (pure numpy).
- :mod:`sim.scripted`: the standard peg-transfer scene and scripted tool paths.
- :mod:`sim.errors`: :class:`~sim.errors.SimError`, the package's one exception.
"""
