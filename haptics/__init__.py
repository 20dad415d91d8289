"""Master side of surgisim: teleoperation, tremor filters, synthetic operators and the bus.

Nothing here imports pybullet (DESIGN.md): the master side runs in device processes,
in viewers and in headless benchmarks. Submodules are imported on demand.
"""

from kinematics.numba_cache import use_user_cache

use_user_cache()  # the kernels compile into the user's cache, never into site-packages
