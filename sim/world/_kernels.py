"""numba kernels for the world's per-step work (one compiled call where numpy took several).

Every physics step each arm moves its joint setpoint towards its goal and the world reads
its joints; on arrays of six or seven joints numpy's per-call overhead (abs, compare, all,
clip, add: ~1 µs each) was most of the cost. The arithmetic here is the same, operation
for operation, as the numpy it replaces, so results are bit-identical.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def ramp(goal, setpoint, velocity_limits, dt, step):
    """Move ``setpoint`` towards ``goal`` by at most ``velocity_limits * dt`` per joint,
    in place; write the change into ``step``. Returns True when it landed exactly on the
    goal (every joint within its limit: the setpoint becomes a copy of the goal)."""
    n = goal.shape[0]
    landed = True
    for i in range(n):
        if abs(goal[i] - setpoint[i]) > velocity_limits[i] * dt:
            landed = False
            break
    if landed:
        for i in range(n):
            step[i] = goal[i] - setpoint[i]
            setpoint[i] = goal[i]
        return True
    for i in range(n):
        delta = goal[i] - setpoint[i]
        limit = velocity_limits[i] * dt
        s = min(max(delta, -limit), limit)
        step[i] = s
        setpoint[i] += s
    return False
