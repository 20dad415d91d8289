"""Units in the names of the arm's motor send and pose solve, and of the Rodrigues kernel
(DESIGN.md: the unit in the name where it is not obvious).

``Arm._send`` had ``dt: float = 1.0``: a call without the control step divided the
setpoint step by one second and sent a feed-forward velocity a thousand times too small,
without a word. The step is now required and named in seconds.
"""

from __future__ import annotations

import inspect

from kinematics import _kernels as K
from sim.world.arm import Arm


def _parameters(function) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(getattr(function, "py_func", function)).parameters)


def test_the_motor_send_needs_the_control_step_in_seconds():
    parameters = _parameters(Arm._send)
    assert list(parameters)[1:] == ["dt_s"]
    assert parameters["dt_s"].default is inspect.Parameter.empty


def test_tolerances_and_angles_say_their_units():
    assert list(_parameters(Arm._solve_pose))[2:4] == ["pos_tol_m", "rot_tol_rad"]
    assert list(_parameters(K.axis_angle_rot)) == ["x", "y", "z", "angle_rad"]
