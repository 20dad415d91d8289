"""Force feedback: the tip's contact force felt in the hand, and the device-side renderer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haptics.errors import HapticsError
from haptics.force import ForceFeedback, ForceFeedbackConfig, ForceRenderer
from haptics.master import MasterSample
from haptics.teleop import (
    ALIGNING,
    CLUTCHED,
    DISABLED,
    FOLLOWING,
    HOLDING,
    TeleopConfig,
    Teleoperation,
)
from kinematics.transforms import inverse, pose, rot_x, rot_y, rot_z

DT = 1e-3
UP_W = np.array([0.0, 0.0, 1.0])
#: an arm base somewhere in the room (the RCM frame R in world W)
X_WR = pose(rot_z(0.7)[:3, :3] @ rot_x(0.3)[:3, :3], [0.4, -0.2, 0.9])
X_RW = inverse(X_WR)


def _level_camera(yaw_rad=0.0, roll_rad=0.0):
    """A camera looking horizontally (z along the floor), image 'down' (y) towards the
    floor, turned by ``yaw_rad`` about the vertical and rolled about its optical axis."""
    R = np.column_stack([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])  # x, y, z in W
    return pose(rot_z(yaw_rad)[:3, :3] @ R @ rot_z(roll_rad)[:3, :3], [0.0, 0.0, 1.0])


def _settle(fb, force_R, X_RC, n=300, state=FOLLOWING, **kw):
    out = None
    for k in range(n):
        out = fb.step(k * DT, force_R, X_RC, state, **kw)
    return out


def test_tissue_pushing_the_tip_up_pushes_the_hand_up_on_the_screen():
    """Pressing the tip down into tissue (down in the image): the reaction pushes the hand
    along the camera's 'up' in M (-y, image y pointing down)."""
    fb = ForceFeedback()
    X_RC = X_RW @ _level_camera()
    out = _settle(fb, X_RW[:3, :3] @ (2.0 * UP_W), X_RC)
    np.testing.assert_allclose(out.force_n, [0.0, -2.0 / 3.0, 0.0], atol=1e-9)
    assert out.active and not out.saturated
    # the camera rolled 90° about its axis: 'up' in the image is now the hand's +x or -x
    fb = ForceFeedback()
    out = _settle(fb, X_RW[:3, :3] @ (2.0 * UP_W), X_RW @ _level_camera(roll_rad=math.pi / 2))
    assert abs(abs(out.force_n[0]) - 2.0 / 3.0) < 1e-9 and abs(out.force_n[1]) < 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_the_hand_feels_the_reaction_through_the_same_camera_as_it_moves(seed):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=4)
    from kinematics.transforms import quat_xyzw_to_matrix

    X_WC = pose(quat_xyzw_to_matrix(q), rng.normal(size=3))
    R_CM = rot_y(rng.uniform(-0.3, 0.3))[:3, :3]
    X_RC = X_RW @ X_WC
    config = ForceFeedbackConfig(R_CM=tuple(map(tuple, R_CM)))
    fb = ForceFeedback(config)
    force_W = 1.5 * UP_W  # the tissue pushes the tip up
    out = _settle(fb, X_RW[:3, :3] @ force_W, X_RC)
    R_WM = X_WC[:3, :3] @ R_CM
    np.testing.assert_allclose(out.force_n, config.force_scale * R_WM.T @ force_W, atol=1e-9)
    # the hand motion that would drive the tip straight down into the tissue is opposed
    R_RM = X_RC[:3, :3] @ R_CM  # what the arm's teleoperation maps hand motion through
    hand_down = R_RM.T @ X_RW[:3, :3] @ -UP_W
    assert out.force_n @ hand_down == pytest.approx(-config.force_scale * 1.5, abs=1e-9)


def test_saturation_keeps_the_direction():
    fb = ForceFeedback()
    out = _settle(fb, np.array([60.0, -80.0, 0.0]), np.eye(4), n=500)
    assert np.linalg.norm(out.force_n) == pytest.approx(3.0, abs=1e-9)
    np.testing.assert_allclose(out.force_n / 3.0, [0.6, -0.8, 0.0], atol=1e-9)
    assert out.saturated
    out = _settle(ForceFeedback(), np.zeros(3), np.eye(4), torque_on_tip_R_nm=[0, 0, 5.0])
    assert out.torque_nm[2] == pytest.approx(ForceFeedbackConfig().max_torque_nm)


def test_rate_limit_and_low_pass():
    config = ForceFeedbackConfig()
    fb = ForceFeedback(config)
    forces = [fb.step(k * DT, [0.0, 0.0, 9.0], np.eye(4), FOLLOWING).force_n for k in range(100)]
    steps = np.linalg.norm(np.diff([np.zeros(3), *forces], axis=0), axis=1)
    assert steps.max() <= config.max_force_rate_n_s * DT * (1 + 1e-9)
    assert np.linalg.norm(forces[-1]) == pytest.approx(3.0, abs=1e-6)  # and it gets there
    # a small step the rate limit does not touch: first-order, 63% after one time constant
    fb = ForceFeedback(config)
    tau_s = 1.0 / (2.0 * math.pi * config.cutoff_hz)
    n = round(tau_s / DT)
    out = None
    for k in range(n + 1):
        out = fb.step(k * DT, [0.3, 0.0, 0.0], np.eye(4), FOLLOWING)
    expected = 0.1 * (1.0 - math.exp(-n * DT / tau_s))
    assert out.force_n[0] == pytest.approx(expected, rel=1e-9)


def test_a_force_that_ends_decays_to_exactly_zero():
    """The first-order low-pass never reaches 0 by itself: a probe read -1.6e-119 N long
    after contact ended, which a device testing force != 0 renders as contact."""
    fb = ForceFeedback()
    _settle(fb, [0.0, 2.0, -1.5], np.eye(4), n=200)
    outs = [fb.step((200 + k) * DT, [0.0, 0.0, 0.0], np.eye(4), FOLLOWING) for k in range(3000)]
    assert np.all(outs[-1].force_n == 0.0) and np.all(outs[-1].torque_nm == 0.0)
    first_zero = next(k for k, o in enumerate(outs) if not o.force_n.any())
    assert first_zero < 1000  # within a second: 5 ms time constant down to 1e-9 N
    assert all(not o.force_n.any() for o in outs[first_zero:])


@pytest.mark.parametrize("state", [DISABLED, ALIGNING, CLUTCHED, HOLDING])
def test_zero_unless_following_and_no_kick_when_following_resumes(state):
    config = ForceFeedbackConfig()
    fb = ForceFeedback(config)
    force = np.array([0.0, 6.0, 0.0])
    assert np.linalg.norm(_settle(fb, force, np.eye(4)).force_n) == pytest.approx(2.0)
    out = fb.step(1.0, force, np.eye(4), state)
    assert not out.active and state in out.reason
    assert not out.force_n.any() and not out.torque_nm.any()
    out = fb.step(1.001, force, np.eye(4), FOLLOWING)
    assert np.linalg.norm(out.force_n) <= config.max_force_rate_n_s * DT * (1 + 1e-9)


@pytest.mark.parametrize(
    "change",
    [
        {"force_time_s": 0.0},  # measured 300 ms ago
        {"force_on_tip_R_n": [np.nan, 0.0, 0.0]},
        {"force_on_tip_R_n": "strong"},
        {"X_RC": np.diag([1.0, 2.0, 1.0, 1.0])},
        {"wall_excess_m": [0.0, np.inf, 0.0]},
        {"now_s": math.nan},
    ],
)
def test_stale_or_broken_input_gives_zero(change):
    fb = ForceFeedback()
    _settle(fb, np.array([0.0, 6.0, 0.0]), np.eye(4))
    args = {"now_s": 0.3, "force_on_tip_R_n": [0.0, 6.0, 0.0], "X_RC": np.eye(4)}
    args.update(change)
    out = fb.step(state=FOLLOWING, **args)
    assert not out.active and out.reason
    assert not out.force_n.any()


def test_the_workspace_wall_pushes_the_hand_back():
    tcfg = TeleopConfig(tremor_filter="none", start_enabled=True, align_tolerance_rad=None,
                        workspace_upper_m=(0.005, 0.12, -0.02))  # fmt: skip
    camera = rot_y(math.pi / 2)  # the wall's normal is felt along the hand's own axes
    tele = Teleoperation(tcfg, pose(None, [0.0, 0.0, -0.1]), camera)
    fb = ForceFeedback()
    out = None
    path = np.r_[np.linspace(0.0, 0.035, 200), np.full(100, 0.035)]  # then the hand stays
    for k, x in enumerate(path):
        hand = camera[:3, :3].T @ np.array([x, 0.0, 0.0])  # along R's x, seen in M
        t_out = tele.step(MasterSample(k * DT, pose(None, hand)), k * DT)
        out = fb.step_teleop(t_out, np.zeros(3))
    past = 0.035 - 0.005 / tcfg.translation_scale  # hand metres past the wall: 1 cm
    spring = -ForceFeedbackConfig().wall_stiffness_n_m * past * (camera[:3, :3].T @ [1, 0, 0])
    np.testing.assert_allclose(out.force_n, spring, atol=1e-6)
    assert out.force_n @ (camera[:3, :3].T @ [1, 0, 0]) < 0  # back inside


def test_config_errors():
    with pytest.raises(HapticsError, match="max_force_n"):
        ForceFeedbackConfig(max_force_n=0.0)
    with pytest.raises(HapticsError, match="force_scale"):
        ForceFeedbackConfig(force_scale=-1.0)
    with pytest.raises(HapticsError, match="R_CM"):
        ForceFeedbackConfig(R_CM=((1.0, 0, 0), (0, 1, 0), (0, 0, -1)))
    with pytest.raises(HapticsError, match="stiffness_n_m"):
        ForceRenderer(stiffness_n_m=5000.0)


values = st.one_of(
    st.none(), st.floats(), st.text(max_size=3), st.lists(st.floats(), max_size=4),
    st.just(np.eye(4)), st.just(np.ones(3)), st.integers(-(10**400), 10**400),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(values, values, values, values, values, values), max_size=5))
def test_force_feedback_never_raises(ticks):
    fb = ForceFeedback()
    renderer = ForceRenderer()
    for now, force, camera, state, wall, extra in ticks:
        out = fb.step(now, force, camera, state, wall_excess_m=wall, torque_on_tip_R_nm=extra)
        assert np.isfinite(out.force_n).all() and np.linalg.norm(out.force_n) <= 3.0 + 1e-9
        fb.step_teleop(extra, force)
        renderer.receive(force, wall, now, stiffness_n_m=extra)
        f = renderer.render(wall, now)
        assert np.isfinite(f).all() and np.linalg.norm(f) <= 3.0 + 1e-9


# ---- the device-side renderer ----------------------------------------------------------------
def _settled(renderer, x, t0_s, ticks=20):
    """What ``renderer`` commands at hand position ``x`` once its slew limit has caught
    up (``ticks`` 1 ms renders from ``t0_s``), and the time after them."""
    out = None
    for k in range(ticks):
        out = renderer.render(x, t0_s + k * DT)
    return out, t0_s + ticks * DT


def test_renderer_local_spring_along_the_force():
    r = ForceRenderer(stiffness_n_m=100.0)
    x0 = np.array([0.01, 0.02, 0.0])
    assert r.receive([0.0, 0.0, 1.0], x0, 0.0)
    out, t = _settled(r, x0, 0.001)
    np.testing.assert_allclose(out, [0, 0, 1.0])
    # pushing 5 mm further into the contact (against the force) adds K x 5 mm
    out, t = _settled(r, x0 - [0, 0, 0.005], t)
    np.testing.assert_allclose(out, [0, 0, 1.5], atol=1e-12)
    # sliding sideways changes nothing; yielding lowers it (at once), never below zero
    sideways, back = np.array([0.03, -0.01, 0.0]), np.array([0.0, 0.0, 0.004])
    np.testing.assert_allclose(_settled(r, x0 + sideways, t)[0], [0, 0, 1.0], atol=1e-12)
    np.testing.assert_allclose(r.render(x0 + back, t + 0.02), [0, 0, 0.6], atol=1e-12)
    np.testing.assert_array_equal(r.render(x0 + 100 * back, t + 0.021), [0, 0, 0])
    # saturated however hard the hand pushes
    out, t = _settled(r, x0 - [0, 0, 1.0], t + 0.022)
    assert np.linalg.norm(out) == pytest.approx(3.0)
    # stale: the server fell silent for longer than max_age_s
    assert not r.render(x0, 0.2).any()


def test_renderer_bounds_a_stiffness_given_with_a_message():
    r = ForceRenderer(max_stiffness_n_m=400.0)
    r.receive([0.0, 1.0, 0.0], np.zeros(3), 0.0, stiffness_n_m=1e9)
    out, _ = _settled(r, [0.0, -0.001, 0.0], 0.001)
    np.testing.assert_allclose(out, [0, 1.4, 0], atol=1e-12)
    r.receive([0.0, 1.0, 0.0], np.zeros(3), 0.0, stiffness_n_m=-5.0)
    out, _ = _settled(r, [0.0, -0.001, 0.0], 0.021)
    np.testing.assert_allclose(out, [0, 1.0, 0], atol=1e-12)
    assert not r.receive([np.nan, 0, 0], np.zeros(3), 0.01)


@pytest.mark.parametrize("server_rate_hz", [50.0, 100.0, 250.0])
def test_renderer_tracks_a_wall_better_than_holding_the_last_force(server_rate_hz):
    """A hand pressing into and out of a stiff contact; the server's force arrives at
    ``server_rate_hz``, the device renders at 1 kHz. The local spring (with a stiffness
    that is off by 40%) follows the true force more closely than a zero-order hold."""
    k_true = 80.0  # N/m at the hand
    renderer = ForceRenderer(stiffness_n_m=48.0)
    t = np.arange(0.0, 2.0, DT)
    depth = 0.02 * np.sin(2 * np.pi * 0.8 * t)  # m into the wall when positive
    hand = np.column_stack([np.zeros_like(t), np.zeros_like(t), -depth])  # the wall is below
    truth = k_true * np.maximum(depth, 0.0)
    every = round(1.0 / (server_rate_hz * DT))
    spring, hold = np.empty_like(t), np.empty_like(t)
    last = 0.0
    for i in range(len(t)):
        if i % every == 0:
            last = truth[i]
            renderer.receive([0.0, 0.0, last], hand[i], t[i])
        spring[i] = renderer.render(hand[i], t[i])[2]
        hold[i] = last
    assert np.all(spring >= 0.0) and spring.max() <= 3.0
    err_spring = np.sqrt(np.mean((spring - truth) ** 2))
    err_hold = np.sqrt(np.mean((hold - truth) ** 2))
    assert err_spring < 0.7 * err_hold


# ---- a stalled loop, bursts and silences: no step on the hand --------------------------------
def test_a_loop_stall_cannot_make_one_message_jump():
    """The outsider's call: five 2 ms ticks of no contact, then one 20 ms late with a
    hard contact. The rate limit ran on the loop clock's step, so that one message went
    0 -> 2.931 N; with a 2 ms tick it is 0.4 N, and it must be after a stall too."""
    config = ForceFeedbackConfig()
    fb, t = ForceFeedback(config), 0.0
    for _ in range(5):
        fb.step(t, [0, 0, 0], np.eye(4), FOLLOWING)
        t += 0.002
    out = fb.step(t + 0.020, [0, 0, -30.0], np.eye(4), FOLLOWING)
    assert config.max_force_step_n == pytest.approx(0.4)
    assert np.linalg.norm(out.force_n) <= config.max_force_step_n * (1 + 1e-9)


def test_the_step_cap_follows_the_physics_rate():
    from haptics.force import for_physics_rate

    config = for_physics_rate(ForceFeedbackConfig(), 1000.0)
    assert config.max_step_s == pytest.approx(0.001)
    assert config.max_force_step_n == pytest.approx(0.2)
    with pytest.raises(HapticsError):
        ForceFeedbackConfig(max_step_s=0.0)


def _stalling_server(seed, seconds=3.0):
    """``servo_cf`` as a server on a loaded machine makes it: 2 ms ticks with stalls of
    15-300 ms (some longer than the renderer's 100 ms timeout), a contact that comes and
    goes (30 N at the tip, saturated at the hand) and a hold now and then. Returns
    [(loop time, ForceOutput)]."""
    rng = np.random.default_rng(seed)
    fb, t, out = ForceFeedback(), 0.0, []
    while t < seconds:
        t += 0.002 if rng.random() > 0.05 else rng.uniform(0.015, 0.3)
        contact = [0.0, 10.0, -30.0] if rng.random() < 0.8 else [0.0, 0.0, 0.0]
        state = FOLLOWING if rng.random() > 0.005 else HOLDING
        out.append((t, fb.step(t, contact, np.eye(4), state)))
    return out


@pytest.mark.parametrize("seed", range(8200, 8204))
def test_server_messages_change_by_at_most_the_step_bound_while_following(seed):
    bound = ForceFeedbackConfig().max_force_step_n
    stream = _stalling_server(seed)
    assert max(np.linalg.norm(o.force_n) for _, o in stream) > 2.9  # contact, saturated
    before = np.zeros(3)
    for _, out in stream:
        if out.active:  # a hold is zero at once (documented); everything else ramps
            assert np.linalg.norm(out.force_n - before) <= bound * (1 + 1e-9)
        before = out.force_n


@pytest.mark.parametrize("seed", range(8200, 8204))
def test_the_renderer_never_steps_up_through_stalls_bursts_and_its_timeout(seed):
    """The stalling server's messages, delivered when the server sends them (a stall
    delivers nothing, then the next message), rendered at 1 kHz: the commanded force
    rises or turns by at most the renderer's per-tick bound, also after its 100 ms
    timeout zeroed it (the old renderer put 3 N back in one tick)."""
    renderer = ForceRenderer()
    stream = _stalling_server(seed)
    hand, k, commanded = np.zeros(3), 0, [np.zeros(3)]
    for tick in range(1, round(stream[-1][0] / DT) + 1):
        now = tick * DT
        while k < len(stream) and stream[k][0] <= now:
            renderer.receive(stream[k][1].force_n, hand, now)
            k += 1
        commanded.append(renderer.render(hand, now))
    magnitudes = np.linalg.norm(commanded, axis=1)
    assert magnitudes.max() > 2.9  # the contact was felt in full
    rises = np.diff(magnitudes)
    assert rises.max() <= renderer.max_step_n * (1 + 1e-9), rises.max()
    assert renderer.max_step_n == pytest.approx(0.4)
    # and the timeout did zero it: silences past 100 ms were in the stream
    assert (magnitudes[1:] == 0.0).any()


def test_the_renderer_turns_slowly_and_lets_go_at_once():
    renderer = ForceRenderer()
    renderer.receive([3.0, 0.0, 0.0], np.zeros(3), 0.0)
    out, t = _settled(renderer, np.zeros(3), 0.0)
    np.testing.assert_allclose(out, [3.0, 0.0, 0.0])
    renderer.receive([0.0, 3.0, 0.0], np.zeros(3), t)  # the same magnitude, turned 90°
    turned = renderer.render(np.zeros(3), t)  # 1 ms after the last render
    assert np.linalg.norm(turned - out) <= 200.0 * DT * (1 + 1e-9)
    renderer.receive([0.0, 0.0, 0.0], np.zeros(3), t + 2 * DT)  # a clutch: zero at once
    assert not renderer.render(np.zeros(3), t + 2 * DT).any()


def test_the_renderer_forgets_the_force_when_the_session_ends():
    renderer = ForceRenderer()
    renderer.receive([0.0, 2.0, 0.0], np.zeros(3), 0.0)
    out, t = _settled(renderer, np.zeros(3), 0.0)
    assert np.linalg.norm(out) == pytest.approx(2.0)
    renderer.forget()  # session/ending
    assert not renderer.render(np.zeros(3), t).any()
    assert not renderer.render(np.zeros(3), t + 0.05).any()  # and it stays zero


def test_renderer_settings_are_checked():
    for bad in ({"max_force_rate_n_s": 0.0}, {"max_step_s": math.nan}):
        with pytest.raises(HapticsError):
            ForceRenderer(**bad)
