"""The session's face: StepState, command sources, reset, live metrics, hostile input,
pickling. Real pybullet throughout."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haptics.master import MasterSample
from scenarios.loader import load_scenario
from sim.session.commands import ArmCommand
from sim.session.demo import Demonstrator
from sim.session.plans import plan_for
from sim.session.session import Session, SessionConfig
from sim.session.state import OPERATING_STATES, StepState

BUNDLED = ["peg-transfer", "ring-walk", "needle-handover", "needle-tissue", "camera-targeting"]


@pytest.fixture(scope="module")
def handover():
    return load_scenario("needle-handover")


@pytest.fixture
def session(handover):
    s = Session(handover, seed=11)
    yield s
    s.close()


# ---- StepState -------------------------------------------------------------------------------
def test_step_returns_plain_state_of_every_arm(session):
    state = session.step()
    assert isinstance(state, StepState)
    assert state.step_count == 1 and state.time_s == pytest.approx(session.world.dt)
    assert set(state.arms) == {"PSM1", "PSM2", "ECM"}
    for name, arm in state.arms.items():
        assert arm.operating_state in OPERATING_STATES
        np.testing.assert_allclose(arm.X_WT, session.arms[name].X_WR @ arm.X_RT, atol=1e-12)
        assert arm.measured_js.shape == (len(arm.joint_names),)
        assert arm.tip_force_n.shape == (3,)
    assert state.exercise.steps_total == len(session.scenario.exercise.steps)
    assert state.exercise.instruction  # the first step's instruction
    assert "completion_time_s" in state.metrics or state.metrics == {}
    assert {"pad", "pad/needle"} <= set(state.body_poses)
    assert "PSM1/roll_link" in state.node_names and state.node_poses.shape[1:] == (4, 4)
    np.testing.assert_allclose(state.pose("PSM1/tool_tip"), state.arms["PSM1"].X_WT, atol=1e-5)
    pickle.loads(pickle.dumps(state))  # crosses process boundaries


def test_state_reports_the_events_of_its_own_step(session):
    state = session.step({"PSM9": ArmCommand(jaw_rad=0.3)})
    assert [e.kind for e in state.events] == ["command_refused"]
    assert "PSM9" in state.events[0].data["reason"] and "PSM1" in state.events[0].data["reason"]
    assert session.step().events == ()


# ---- command sources -------------------------------------------------------------------------
def _hand_path(t_s: float, seq: int) -> MasterSample:
    """A hand drawing a 2 cm circle at 0.5 Hz, the gripper half open (clutch free)."""
    X = np.eye(4)
    X[:3, 3] = 0.02 * np.array([math.cos(math.pi * t_s), math.sin(math.pi * t_s), 0.0])
    return MasterSample(t_s, X, 0.5, clutch=False, seq=seq)


def test_samples_given_between_steps_drive_the_arm_as_in_the_step(handover):
    """``command`` (a live server feeding samples as they arrive) then ``step`` moves the
    arm exactly as ``step`` with the same samples; its events come with the next step."""
    fed, stepped = Session(handover, seed=5), Session(handover, seed=5)
    try:
        start = fed.arms["PSM1"].measured_cp()[:3, 3]
        for k in range(400):
            sample = _hand_path(fed.now_s(), k)
            fed.command({"PSM1": sample})
            a = fed.step({})
            b = stepped.step({"PSM1": sample})
        assert a.arms["PSM1"].used_seq == b.arms["PSM1"].used_seq == 399
        np.testing.assert_array_equal(a.arms["PSM1"].measured_js, b.arms["PSM1"].measured_js)
        assert np.linalg.norm(a.arms["PSM1"].X_WT[:3, 3] - start) > 1e-3  # the hand moved it
        fed.command({"PSM9": ArmCommand(jaw_rad=0.3)})
        assert [e.kind for e in fed.step({}).events] == ["command_refused"]
        assert fed.step({}).events == ()
    finally:
        fed.close()
        stepped.close()


def test_servo_cp_moves_the_tip_there_and_marks_the_arm_as_servo(session):
    arm = session.arms["PSM1"]
    X = arm.measured_cp("world")
    X[:3, 3] += (0.01, 0.0, 0.01)
    session.advance({"PSM1": ArmCommand(servo_cp=X)}, steps=400)
    state = session.step()
    assert state.arms["PSM1"].operating_state == "SERVO"
    np.testing.assert_allclose(state.arms["PSM1"].X_WT[:3, 3], X[:3, 3], atol=2e-4)


def test_servo_jp_in_the_rcm_frame_and_the_jaw(session):
    arm = session.arms["PSM2"]
    q = arm.measured_js()[0] + np.array([0.05, -0.05, 0.01, 0.2, 0.1, -0.1])
    session.advance({"PSM2": ArmCommand(servo_jp=q, jaw_rad=0.8)}, steps=500)
    np.testing.assert_allclose(arm.measured_js()[0], q, atol=2e-3)
    assert arm.measured_jaw() == pytest.approx(0.8, abs=0.02)
    X_RT = arm.measured_cp("rcm")
    X_RT[:3, 3] += (0.0, 0.005, 0.0)
    session.advance({"PSM2": ArmCommand(servo_cp=X_RT, frame="rcm")}, steps=300)
    np.testing.assert_allclose(arm.measured_cp("rcm")[:3, 3], X_RT[:3, 3], atol=2e-4)


@pytest.mark.parametrize("seed", [23, 57])
def test_one_arm_teleoperated_and_one_by_servo_cp_complete_a_handover(handover, seed):
    s = Session(handover, seed=seed)
    try:
        demo = Demonstrator(s, "expert", seed=seed, servo=["PSM2"])
        plan_for(handover)(demo)
        demo.until(lambda: s.finished, 2.0)
        state = s.state()
        assert state.exercise.completed, [e for e in s.recorder.events if e.kind == "drop"]
        assert state.arms["PSM2"].operating_state == "SERVO"
        assert state.arms["PSM1"].operating_state in ("FOLLOWING", "CLUTCHED")
        kinds = [(e.kind, e.data.get("arm")) for e in s.trace().events if e.kind == "grasp"]
        assert ("grasp", "PSM1") in kinds and ("grasp", "PSM2") in kinds
        assert not s.trace().events_of("drop")
    finally:
        s.close()


# ---- hostile input ---------------------------------------------------------------------------
def _goals(session):
    return {name: arm.goal_js() for name, arm in session.arms.items()}


@pytest.mark.parametrize(
    "command, reason",
    [
        (ArmCommand(servo_cp=np.full((4, 4), np.nan)), "holds NaN or inf"),
        (ArmCommand(servo_cp=np.diag([2.0, 1.0, 1.0, 1.0])), "rigid"),
        (ArmCommand(servo_cp=np.eye(3)), "4x4 pose (m), got shape (3, 3)"),
        (ArmCommand(servo_cp=np.eye(4), frame="camera"), "frame"),
        (ArmCommand(servo_jp=[0.1, 0.2]), "needs 6 values"),
        (ArmCommand(servo_jp=[np.nan] * 6), "NaN"),
        (ArmCommand(jaw_rad=float("inf")), "jaw_rad"),
        ("garbage", "must be an ArmCommand"),
        (ArmCommand(master=("not a sample",)), "MasterSample"),
        # a command with anything wrong moves nothing: not its good part either
        (ArmCommand(servo_cp=np.eye(4), servo_jp=[0.0] * 6), "give one goal"),
        (ArmCommand(servo_jp=[0.1, -0.1, 0.12, 0, 0, 0], jaw_rad=math.nan), "jaw_rad"),
        (ArmCommand(servo_jp=[1e200] * 6), "beyond its range"),
        (ArmCommand(servo_jp=[0.0, 0.0, -5.0, 0.0, 0.0, 0.0]), "beyond its range"),
        # a Session API probe: these raised out of step() or were taken silently
        (ArmCommand(jaw_rad=10**400), "jaw_rad"),  # OverflowError
        (ArmCommand(servo_jp=[10**400] * 6), "real numbers"),
        (ArmCommand(servo_cp=[[10**400] * 4] * 4), "real numbers"),
        (ArmCommand(servo_cp=np.eye(4) * (1 + 1j)), "real numbers"),  # imaginary part lost
        (ArmCommand(servo_jp=np.zeros((2, 3))), "vector"),  # flattened and used
        (ArmCommand(jaw_rad="0.5"), "jaw_rad"),
        (ArmCommand(jaw_rad=True), "jaw_rad"),
        (ArmCommand(master=(MasterSample(0.0, np.eye(4), 0.3),), servo_cp=np.eye(4)), "source"),
    ],
)
def test_bad_commands_hold_the_arm_and_say_why(session, command, reason):
    before = _goals(session)
    state = session.step({"PSM1": command})
    refused = [e for e in state.events if e.kind == "command_refused"]
    assert refused and reason in refused[0].data["reason"], state.events
    for name, goal in _goals(session).items():
        np.testing.assert_array_equal(goal, before[name])


def test_a_refused_command_repeated_over_steps_is_refused_once(session):
    before = _goals(session)
    session.advance({"PSM1": ArmCommand(servo_cp=np.full((4, 4), np.nan))}, steps=10)
    events = [e for e in session.recorder.events if e.kind == "command_refused"]
    assert len(events) == 1, events
    for name, goal in _goals(session).items():
        np.testing.assert_array_equal(goal, before[name])


def test_state_after_advance_holds_the_events_of_every_step_it_advanced(session):
    """An agent repeating a refused action through ``advance(..., k)`` read ``state()``
    with the last step's events only, and never learnt why its arm did not move."""
    session.advance({"PSM1": ArmCommand(servo_cp=np.full((4, 4), np.nan))}, steps=5)
    kinds = [e.kind for e in session.state().events]
    assert kinds.count("command_refused") == 1, kinds
    assert [e.kind for e in session.step().events].count("command_refused") == 0


def test_what_an_arm_cannot_take_is_refused_not_dropped(handover):
    """Master samples for an arm no master drives, and a jaw angle for an arm without a
    jaw, went nowhere without a word."""
    scenario = load_scenario("peg-transfer")  # its ECM holds the camera, driven by no hand
    s = Session(scenario, seed=2011)
    try:
        before = s.arms["ECM"].goal_js()
        sample = MasterSample(0.0, np.eye(4), 0.3)
        for command, words in (
            (sample, "no master drives ECM"),
            (ArmCommand(master=(sample,)), "no master drives ECM"),
            (ArmCommand(jaw_rad=0.5), "has no jaw"),
        ):
            s.reset()  # each said once an episode
            reasons = [e.data["reason"] for e in s.step({"ECM": command}).events]
            assert any(words in r for r in reasons), reasons
        np.testing.assert_array_equal(s.arms["ECM"].goal_js(), before)
        # said once: a device mapped to such an arm sends a thousand samples a second
        events = [e for _ in range(20) for e in s.step({"ECM": sample}).events]
        assert len([e for e in events if e.kind == "command_refused"]) == 1, events
    finally:
        s.close()


@pytest.mark.parametrize(
    "clock",
    [
        lambda: (_ for _ in ()).throw(RuntimeError("clock device gone")),
        lambda: None,
        lambda: np.array([1.0, 2.0]),
        lambda: 10**400,
    ],
    ids=["raises", "none", "array", "overflow"],
)
def test_a_faulty_clock_holds_the_arm_and_never_raises(handover, clock):
    """A clock that raised or answered no number raised out of step(), state() and
    reset(); it now reads NaN (the watchdog holds, as for a NaN clock) and says so."""
    s = Session(handover, seed=2012, clock=clock)
    try:
        events = []
        for k in range(20):
            events += s.step({"PSM1": MasterSample(0.001 * k, np.eye(4), 0.3)}).events
            assert np.isfinite(s.arms["PSM1"].goal_js()).all()
        failed = [e for e in events if e.kind == "clock_failed"]
        assert len(failed) == 1 and "session clock failed" in failed[0].data["reason"]
        s.reset(2013)
    finally:
        s.close()


@pytest.mark.parametrize(
    "config",
    [
        {"unreachable_tolerance_m": math.nan},
        {"unreachable_tolerance_m": -1.0},
        {"observe_rate_hz": 0},
        {"observe_rate_hz": math.nan},
        {"pose_rate_hz": -5.0},
        {"record_rate_hz": math.inf},
        {"ik_restarts": -1},
    ],
)
def test_a_config_no_session_can_run_on_is_refused_when_made(config):
    """A NaN tolerance made every pose goal silently unreachable; a rate of 0 divided by
    zero at the first step."""
    from sim.errors import SimError

    with pytest.raises(SimError, match="SessionConfig"):
        SessionConfig(**config)


@pytest.mark.parametrize(
    "config", [{"record_rate_hz": 25.0}, {"observe_rate_hz": 25.0}, {"record_rate_hz": 32.0}]
)
def test_a_row_rate_the_metrics_cannot_use_is_refused_when_made(config):
    """At 25 Hz a session ran to its end, then scoring failed: the tremor band-pass needs
    its 16 Hz edge below half the rate."""
    from sim.errors import SimError

    with pytest.raises(SimError, match="faster than 32 Hz"):
        SessionConfig(**config)


def test_a_row_rate_rounded_below_what_the_metrics_use_is_refused(handover):
    """62.5 Hz observations (500 Hz physics, asked 60) and 33 Hz rows: one row every
    second observation is 31.25 Hz."""
    from sim.errors import SimError
    from sim.session.session import RateAdjustedWarning

    config = SessionConfig(observe_rate_hz=62.5, record_rate_hz=33.0)
    with pytest.warns(RateAdjustedWarning), pytest.raises(SimError, match=r"31\.25 Hz"):
        Session(handover, seed=1, config=config)


def test_a_rate_rounded_to_a_whole_fraction_is_said(handover):
    """observe_rate_hz=40 at 500 Hz physics was 41.67 Hz without a word."""
    from sim.session.session import RateAdjustedWarning

    config = SessionConfig(observe_rate_hz=40.0, record_rate_hz=40.0)
    with pytest.warns(RateAdjustedWarning, match=r"uses 41\.6667 Hz"):
        s = Session(handover, seed=1, config=config)
    try:
        assert s.record_rate_hz == pytest.approx(500.0 / 12)
    finally:
        s.close()


@pytest.mark.parametrize("seed", [2.5, "2019", True, -1])
def test_a_seed_that_is_not_an_int_from_0_is_refused(handover, seed):
    from sim.errors import SimError

    with pytest.raises(SimError, match="seed must be an int"):
        Session(handover, seed=seed)


def test_a_clock_that_is_not_callable_is_refused_when_made(handover):
    from sim.errors import SimError

    with pytest.raises(SimError, match="clock must be a callable"):
        Session(handover, seed=0, clock="x")


def test_a_joint_goal_just_past_a_limit_is_clipped_onto_it(session):
    chain = session.arms["PSM1"].chain
    q = 0.5 * (chain.lower + chain.upper)
    q[2] = chain.upper[2] + 0.001 * (chain.upper[2] - chain.lower[2])
    state = session.step({"PSM1": ArmCommand(servo_jp=q)})
    assert not [e for e in state.events if e.kind == "command_refused"]
    assert session.arms["PSM1"].goal_js()[2] == pytest.approx(chain.upper[2])


def test_an_unreachable_pose_holds_the_arm_with_one_event(session):
    arm = session.arms["PSM1"]
    before = arm.goal_js()
    X = arm.measured_cp("world")
    X[:3, 3] = (1.0, 1.0, 1.0)  # a metre away from the port
    events = []
    for _ in range(20):
        events += session.step({"PSM1": ArmCommand(servo_cp=X)}).events
    np.testing.assert_array_equal(arm.goal_js(), before)
    assert [e.kind for e in events] == ["unreachable"]
    assert "mm" in events[0].data["reason"]


def test_a_master_rotation_scaled_past_rigid_never_aborts_the_session(session):
    """A rotation scaled by 1+3e-5 passes the master's 1e-4 orthonormality check; the
    session must turn it into a rigid target or hold, never raise (seen in a probe)."""
    X = np.eye(4)
    X[:3, :3] *= 1.0 + 3e-5
    for k in range(200):
        sample = MasterSample(session.now_s(), X, 0.5, clutch=k < 20)
        session.step({"PSM1": sample})
    target = session.teleops["PSM1"].X_RT
    assert np.abs(target[:3, :3].T @ target[:3, :3] - np.eye(3)).max() < 1e-6


def test_a_nan_or_backwards_clock_holds_and_never_raises(handover):
    now = [0.0]
    s = Session(handover, seed=0, clock=lambda: now[0])
    try:
        times = [0.001 * k for k in range(30)] + [math.nan, 0.01, 0.005]
        times += [0.04 + 0.001 * k for k in range(40)]
        for t in times:
            now[0] = t
            stamp = t if math.isfinite(t) else 0.0
            s.step({"PSM1": MasterSample(stamp, np.eye(4), 0.3)})
            assert np.isfinite(s.arms["PSM1"].goal_js()).all()
    finally:
        s.close()


def test_teleoperation_events_of_a_live_clock_are_stored_in_simulated_time(handover):
    """A live session's clock reads seconds since boot; the trace's events (and the
    report's event table) count simulated time, teleoperation's as well as the world's."""
    now = [4321.0]
    s = Session(handover, seed=0, clock=lambda: now[0])
    try:
        for k in range(120):
            now[0] = 4321.0 + 0.002 * k
            s.step({"PSM1": MasterSample(now[0], np.eye(4), 0.3, clutch=20 <= k < 60)})
        mine = [e for e in s.trace().events if e.data.get("arm") == "PSM1"]
        assert any(e.kind == "clutched" for e in mine)
        assert all(0.0 <= e.time_s <= s.time_s for e in mine)
        clutched = next(e for e in mine if e.kind == "clutched")
        assert abs(clutched.time_s - 20 * s.world.dt) < 0.01
    finally:
        s.close()


commands = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.integers(),
    st.builds(
        ArmCommand,
        servo_cp=st.one_of(
            st.none(),
            st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=16, max_size=16).map(
                lambda v: np.array(v).reshape(4, 4)
            ),
        ),
        servo_jp=st.one_of(st.none(), st.lists(st.floats(), max_size=8)),
        jaw_rad=st.one_of(st.none(), st.floats()),
        frame=st.sampled_from(["world", "rcm", "nope"]),
    ),
    st.builds(
        MasterSample,
        time_s=st.floats(),
        X_MH=st.lists(st.floats(), min_size=16, max_size=16).map(
            lambda v: np.array(v).reshape(4, 4)
        ),
        gripper_rad=st.floats(),
        clutch=st.booleans(),
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.dictionaries(st.sampled_from(["PSM1", "PSM2", "ECM", "X"]), commands), max_size=4)
)
def test_nothing_sent_raises_and_goals_stay_finite_within_limits(session, batches):
    for batch in batches:
        session.step(batch)
    for arm in session.arms.values():
        goal = arm.goal_js()
        assert np.isfinite(goal).all()
        assert arm.chain.within_limits(goal, tolerance=1e-9)


# ---- reset -----------------------------------------------------------------------------------
def _run_for(session: Session, seed: int, seconds: float):
    demo = Demonstrator(session, "expert", seed=seed, time_limit_s=session.time_s + seconds)
    plan_for(session.scenario)(demo)
    return session.world.state(), session.trace()


def test_reset_gives_the_run_a_fresh_session_gives(handover):
    fresh = Session(handover, seed=7)
    reused = Session(handover, seed=2)
    try:
        expected, trace = _run_for(fresh, 7, 2.0)
        _run_for(reused, 2, 0.5)
        state = reused.reset(seed=7)
        assert state.time_s == 0.0 and state.step_count == 0
        assert state.events[0].kind == "step_started"  # the episode's start
        client = reused.world.client
        got, trace_again = _run_for(reused, 7, 2.0)
        assert reused.world.client == client  # the same physics client
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(
            trace_again.instruments["PSM1"].tip_position_m, trace.instruments["PSM1"].tip_position_m
        )
        assert [e.kind for e in trace_again.events] == [e.kind for e in trace.events]
    finally:
        fresh.close()
        reused.close()


# ---- live metrics ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", BUNDLED)
def test_live_metrics_at_the_end_equal_the_final_metrics(headless_run, name):
    outcome = headless_run(name, "expert", 0)
    live, final = outcome.live_metrics, outcome.metrics
    assert set(live) <= set(final)
    assert {"completion_time_s", "path_length_cm", "collisions", "excessive_force_time_s"} <= set(
        live
    )
    for key, value in live.items():
        assert value == pytest.approx(final[key], rel=1e-9, abs=1e-12), key


# ---- pickling --------------------------------------------------------------------------------
def test_config_and_results_pickle(headless_run):
    config = SessionConfig(observe_rate_hz=250.0)
    assert pickle.loads(pickle.dumps(config)) == config
    outcome = headless_run("needle-handover", "expert", 0)
    again = pickle.loads(pickle.dumps(outcome))
    assert again.result == outcome.result and again.metrics == outcome.metrics


def test_scene_description_crosses_processes_and_matches_the_poses(session):
    from scenarios.visual import SceneDescription

    description = session.scene_description()
    again = SceneDescription.from_dict(pickle.loads(pickle.dumps(description.to_dict())))
    assert again.node_names == description.node_names == session.state().node_names
    assert description.scope_node == "ECM/tool_tip"
    assert set(description.tip_nodes) == {"PSM1", "PSM2"}
    session.reset(seed=3)
    assert session.scene_description().node_names == description.node_names


def test_a_held_object_is_let_go_only_past_the_reported_release_angle(session):
    """The jaws hold at the object's width, not at the jaw goal, so a controller must know
    how far to open: ``jaw_release_rad`` says it (a probe opened to 0.8 rad, short of a
    hold at 0.83, and the needle never left the jaws)."""
    down = np.diag([1.0, -1.0, -1.0])
    middle = session.world.landmark("pad/needle", "middle")

    def hold(height_m: float, jaw_rad: float, seconds: float):
        X = np.eye(4)
        X[:3, :3], X[:3, 3] = down, middle + np.array([0.0, 0.0, height_m])
        for _ in range(round(seconds / 0.002)):
            state = session.step({"PSM2": ArmCommand(servo_cp=X, jaw_rad=jaw_rad)})
        return state.arms["PSM2"]

    assert hold(0.02, 1.0, 0.6).jaw_release_rad is None  # open, above the needle
    hold(0.008, 1.0, 0.6)
    gripped = hold(0.008, 0.0, 0.5)
    assert gripped.holding == ("pad/needle",)
    release = gripped.jaw_release_rad
    assert release is not None and release > gripped.jaw_rad > 0.0  # resting on the needle
    short = hold(0.03, release - 0.05, 0.5)  # lifted, opened short of the release angle
    assert short.holding == ("pad/needle",) and short.jaw_release_rad == release
    opened = hold(0.03, release + 0.05, 0.5)
    assert opened.holding == () and opened.jaw_release_rad is None


def test_the_speed_limit_kept_with_a_session_is_the_teleoperation_s_own():
    """What the report draws on the speed plot is what teleoperation caps, for the
    headless operators and the live server alike."""
    from haptics.teleop import TeleopConfig
    from sim.server.server import live_session_config
    from sim.session.session import SessionConfig, speed_limit_conditions

    for config in (SessionConfig(), live_session_config()):
        kept = speed_limit_conditions(config.teleop)
        assert kept == {
            "max_tip_speed_m_s": config.teleop.max_tip_speed_m_s,
            "limit_carry_s": config.teleop.limit_carry_s,
        }
    assert speed_limit_conditions(TeleopConfig(max_tip_speed_m_s=0.1))["max_tip_speed_m_s"] == 0.1


def test_a_nan_tip_position_leaves_the_live_metrics_nan_without_raising(session):
    """Live metrics keep a NaN tip position's metrics NaN, as the final ones do (they
    were dropped, reading "does not apply"); the live score estimate is then none, where
    reading it raised."""
    arm = session.arms["PSM1"]
    measured = arm.measured_tip_W
    arm.measured_tip_W = lambda: np.full(3, np.nan)  # e.g. a physics blow-up
    try:
        state = session.advance(steps=20) or session.step()
    finally:
        arm.measured_tip_W = measured
    metrics = session.live_metrics()
    assert math.isnan(metrics["path_length_cm"]) and math.isnan(metrics["path_length_cm[PSM1]"])
    assert state.score_estimate is None
