"""A researcher's own IK solver (``SessionConfig.ik_solver``) drives servo_cp and
teleoperation; a broken one holds the arm with an event and never raises. Real pybullet."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from kinematics.errors import KinematicsError
from kinematics.solvers import load_ik_solver
from scenarios.loader import load_scenario
from sim.session.commands import ArmCommand
from sim.session.session import Session, SessionConfig
from tests import user_plugins


@pytest.fixture(scope="module")
def handover():
    return load_scenario("needle-handover")


def _session(handover, solver):
    return Session(handover, seed=11, config=SessionConfig(ik_solver=solver))


def test_a_user_dls_solver_brings_servo_cp_to_its_target_and_is_called(handover):
    user_plugins.CALLS.clear()
    with _session(handover, "tests.user_plugins:dls") as session:
        arm = session.arms["PSM1"]
        X = arm.measured_cp("world")
        X[:3, 3] += (0.01, 0.0, 0.01)
        session.advance({"PSM1": ArmCommand(servo_cp=X)}, steps=400)
        state = session.step()
        np.testing.assert_allclose(state.arms["PSM1"].X_WT[:3, 3], X[:3, 3], atol=2e-4)
        assert not [e for e in session.recorder.events if e.kind == "unreachable"]
    assert user_plugins.CALLS["dls"] >= 1


def test_teleoperation_solves_with_the_user_solver(handover):
    from haptics.master import MasterSample

    user_plugins.CALLS.clear()
    with _session(handover, "tests.user_plugins:dls") as session:
        start = np.array(session.arms["PSM1"].measured_tip_W())
        for k in range(300):
            X_MH = np.eye(4)
            X_MH[0, 3] = 0.03 * min(1.0, k / 200)  # the hand moves 3 cm along x
            t = session.time_s
            session.step({"PSM1": MasterSample(time_s=t, X_MH=X_MH, gripper_rad=0.5, seq=k)})
        moved = np.linalg.norm(np.array(session.arms["PSM1"].measured_tip_W()) - start)
    assert user_plugins.CALLS["dls"] >= 100
    assert moved > 0.005  # 3 cm of hand at 1:3 is a centimetre of tool


@pytest.mark.parametrize(
    "solver, reason",
    [
        ("raising", "raised RuntimeError: my solver is broken"),
        ("nan_q", "NaN"),
        ("wrong_shape", "shape (8,)"),
        ("not_a_result", "not an IKResult"),
        ("gives_up", "success=False"),
    ],
)
def test_a_broken_solver_holds_the_arm_with_one_event_and_never_raises(handover, solver, reason):
    with _session(handover, f"tests.user_plugins:{solver}") as session:
        arm = session.arms["PSM1"]
        before = arm.goal_js()
        X = arm.measured_cp("world")
        X[:3, 3] += (0.01, 0.0, 0.0)
        events = []
        for _ in range(20):
            events += session.step({"PSM1": ArmCommand(servo_cp=X)}).events
        np.testing.assert_array_equal(arm.goal_js(), before)
        events = [e for e in events if e.data.get("arm") == "PSM1"]
        assert [e.kind for e in events] == ["unreachable"]
        assert reason in events[0].data["reason"] and solver in events[0].data["reason"]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("no_colon", "must be 'package.module:function'"),
        ("tests.no_such_module:dls", "cannot be imported"),
        ("tests.user_plugins:dsl", "has no function 'dsl'.*Did you mean 'dls'"),
        ("tests.user_plugins:NOT_CALLABLE", "names a int, not a callable"),
    ],
)
def test_a_bad_solver_name_says_what_is_wrong(handover, spec, message):
    with pytest.raises(KinematicsError, match=message):
        load_ik_solver(spec)
    with pytest.raises(KinematicsError, match=message):
        _session(handover, spec)


def test_a_config_naming_plug_ins_pickles():
    from haptics.teleop import TeleopConfig

    config = SessionConfig(
        ik_solver="tests.user_plugins:dls",
        teleop=TeleopConfig(
            tremor_filter="tests.user_plugins:moving_average", tremor_params={"window": 5}
        ),
    )
    assert pickle.loads(pickle.dumps(config)) == config
