"""The simulator side of surgisim: everything that owns a pybullet world or composes the
parts, in rooms (nothing heavy is imported here; import the module you need):

- :mod:`sim.world`: pybullet physics: the world, arms, grasps, contacts, tissue, task
  boards, scene descriptions and building, robot models.
- :mod:`sim.session`: the session (the composition root a server, a renderer and a
  learning agent all drive), its recorder, the headless runner, the demonstrator and
  the demonstration plans.
- :mod:`sim.cli`: the ``surgisim`` commands, thin: parse, call, print.
- :mod:`sim.errors`: :class:`~sim.errors.SimError`, the package's one exception, and
  ``lookup`` (errors that list the valid names).

Viewer-side rooms (``render``, ``xr``) import no pybullet, so they can run in a Python
without it.
"""

from kinematics.numba_cache import use_user_cache

use_user_cache()  # the kernels compile into the user's cache, never into site-packages
