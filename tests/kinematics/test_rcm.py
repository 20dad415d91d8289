"""Remote centre of motion for arms without one: a straight tool held through a port."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kinematics import KinematicsError, solve_ik, solve_ik_batch
from kinematics.rcm import port_distance, sample_port_targets, tool_pose_through_port
from kinematics.transforms import pose, rot_y, translation

from .arms import iiwa, panda

TOOL_LENGTH_M = 0.3


def _targets(port, n, rng, cone_deg=35.0):
    return sample_port_targets(port, n, rng, cone_half_angle_rad=math.radians(cone_deg))


@pytest.fixture(scope="module")
def reachable():
    """Targets whose full tool pose an ordinary 6-D IK (many restarts) can reach."""
    arm = iiwa().with_tool(translation(0, 0, TOOL_LENGTH_M))
    port = np.array([0.55, 0.0, 0.25])
    X = _targets(port, 150, np.random.default_rng(5))
    full = solve_ik_batch(arm, X, restarts=200)
    assert full.success.mean() > 0.9
    return arm, port, X[full.success]


def test_tip_position_through_port(reachable):
    arm, port, X = reachable
    for k in range(len(X)):
        result = solve_ik(arm, X[k][:3, 3], rcm=port, seed=k)
        assert result.success
        assert result.rcm_error <= 1e-5 and result.pos_error <= 1e-5
        X_got = arm.fk(result.q)
        assert port_distance(X_got, port) <= 1e-5
        assert np.linalg.norm(X_got[:3, 3] - X[k][:3, 3]) <= 1e-5
        assert arm.within_limits(result.q)


def test_roll_about_shaft_follows_target_x_axis(reachable):
    arm, port, X = reachable
    for k in range(0, len(X), 3):
        result = solve_ik(arm, X[k], rcm=port, seed=k)
        assert result.success and result.rot_error <= 1e-4
        X_got = arm.fk(result.q)
        # shaft through the port at the target tip means the whole target pose is met, up to
        # the shaft tilt that the position and port tolerances allow at this depth
        angle = math.acos(np.clip((np.trace(X_got[:3, :3].T @ X[k][:3, :3]) - 1) / 2, -1, 1))
        depth = np.linalg.norm(X[k][:3, 3] - port)
        assert angle <= 1e-4 + (1e-5 + 1e-5) / depth


def test_roll_ignores_target_x_tilt_along_shaft(reachable):
    """A target x axis not normal to the shaft is projected, not demanded literally."""
    arm, port, X = reachable
    target = X[0] @ rot_y(0.6)  # x axis tilted 0.6 rad towards the shaft
    result = solve_ik(arm, target, rcm=port)
    assert result.success
    x_got = arm.fk(result.q)[:3, 0]
    np.testing.assert_allclose(x_got, X[0][:3, 0], atol=2e-4)


def test_batch_rcm_and_warm_start(reachable):
    arm, port, X = reachable
    batch = solve_ik_batch(arm, X[:, :3, 3], rcm=port)
    assert batch.success.all() and (batch.rcm_error <= 1e-5).all()
    # a control loop: the next target 1 mm away, warm-started from the last answer
    step = solve_ik(arm, X[0][:3, 3] + [0.001, 0, 0], batch.q[0], rcm=port)
    assert step.success and step.iterations <= 10


def test_rcm_on_a_panda():
    arm = panda().with_tool(translation(0, 0, 0.25))
    port = np.array([0.5, 0.0, 0.2])
    X = _targets(port, 40, np.random.default_rng(9), cone_deg=25)
    full = solve_ik_batch(arm, X, restarts=200)
    X = X[full.success]
    assert len(X) > 20
    batch = solve_ik_batch(arm, X[:, :3, 3], rcm=port)
    assert batch.success.mean() >= 0.95


def test_tip_on_the_wrong_side_of_the_port_is_not_a_solution():
    arm = iiwa().with_tool(translation(0, 0, TOOL_LENGTH_M))
    port = np.array([0.55, 0.0, 0.25])
    # a target above the port cannot be reached with the shaft entering through it downward
    result = solve_ik(arm, [0.55, 0.0, 1.8], rcm=port, restarts=3)
    assert not result.success
    assert arm.within_limits(result.q)


@pytest.mark.parametrize("depth_m", [0.31, 0.35, 0.45])
def test_a_target_deeper_than_the_shaft_is_long_is_not_a_solution(depth_m):
    """A probe: with the tip 31-45 cm below the port on a 30 cm tool, the solver said
    success with the port 1-15 cm behind the flange, on the robot: the distance was
    measured to the shaft's line, not to the shaft."""
    arm = iiwa().with_tool(translation(0, 0, TOOL_LENGTH_M))
    port = np.array([0.5, 0.0, 0.5])
    target = port + np.array([0.02, 0.0, -depth_m])
    behind_m = math.hypot(0.02, depth_m) - TOOL_LENGTH_M  # the port past the flange
    result = solve_ik(arm, target, rcm=port, restarts=5)
    assert not result.success
    assert result.rcm_error == pytest.approx(behind_m, rel=0.05)
    batch = solve_ik_batch(arm, np.array([target, port + np.array([0.02, 0.0, -0.25])]), rcm=port)
    assert batch.success.tolist() == [False, True]
    assert batch.rcm_error[0] == pytest.approx(behind_m, rel=0.05)


def test_a_port_within_the_shaft_is_still_a_solution_up_to_its_full_length():
    arm = iiwa().with_tool(translation(0, 0, TOOL_LENGTH_M))
    port = np.array([0.5, 0.0, 0.5])
    for depth_m in (0.05, 0.2, 0.29):
        result = solve_ik(arm, port + np.array([0.02, 0.0, -depth_m]), rcm=port)
        assert result.success and result.rcm_error <= 1e-5, depth_m


def test_rcm_input_errors():
    arm = iiwa().with_tool(translation(0, 0, TOOL_LENGTH_M))
    with pytest.raises(KinematicsError, match="port point"):
        solve_ik(arm, [0.5, 0, 0.1], rcm=[0, 0])
    with pytest.raises(KinematicsError, match="NaN"):
        solve_ik(arm, [0.5, 0, 0.1], rcm=[0, np.nan, 0])
    with pytest.raises(KinematicsError, match="NaN"):
        solve_ik(arm, [0.5, np.inf, 0.1], rcm=[0, 0, 0])
    with pytest.raises(KinematicsError, match="tip position"):
        solve_ik(arm, np.eye(3), rcm=[0, 0, 0])
    with pytest.raises(KinematicsError, match="beyond the port"):
        tool_pose_through_port([0, 0, 0], [0, 0, 0])


def test_a_roll_target_whose_x_axis_runs_along_the_shaft_is_refused():
    """Its roll about the shaft is undefined; it came back success=True with any roll."""
    arm = iiwa().with_tool(translation(0, 0, TOOL_LENGTH_M))
    port = np.array([0.5, 0.0, 0.5])
    X = pose(np.column_stack([[0, 0, -1.0], [0, 1.0, 0], [1.0, 0, 0]]), port - (0, 0, 0.1))
    with pytest.raises(KinematicsError, match="runs along the shaft"):
        solve_ik(arm, X, rcm=port)
    near = X.copy()
    near[:3, 3] += [1e-8, 0, 0]  # 1e-7 rad off the shaft: still no roll to speak of
    with pytest.raises(KinematicsError, match=r"X_targets\[1\].*runs along the shaft"):
        solve_ik_batch(arm, np.stack([tool_pose_through_port(port, X[:3, 3]), near]), rcm=port)
    # x normal to the same shaft: a roll, solved
    assert solve_ik(arm, tool_pose_through_port(port, X[:3, 3]), rcm=port).success
