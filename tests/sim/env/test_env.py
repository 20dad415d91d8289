"""The Gymnasium environments: registration, the env checker, random policies, reset
determinism, the reward's documented parts, vector environments. Real pybullet."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sim.env
from kinematics.transforms import axis_angle
from scenarios.evaluate import score_trace
from scenarios.loader import resolve
from sim.errors import SimError
from sim.session.controllers import ScriptedController

BUNDLED_IDS = [i for i, name in sim.env.ENVIRONMENTS.items() if name is not None]


def _make(env_id: str, **kwargs):
    if env_id == "surgisim/Scenario-v0":
        kwargs.setdefault("scenario", str(resolve("needle-handover")))
    return gym.make(env_id, **kwargs)


def test_every_bundled_scenario_is_registered_and_importing_registers_only():
    from gymnasium.envs.registration import registry

    assert set(sim.env.ENVIRONMENTS) <= set(registry)
    assert {registry[i].entry_point for i in sim.env.ENVIRONMENTS} == {sim.env.ENTRY_POINT}
    code = (
        "import sys, sim.env; heavy = {'pybullet', 'numba', 'sim.env.surgical'} & "
        "set(sys.modules); print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("env_id", list(sim.env.ENVIRONMENTS))
def test_env_checker_passes(env_id):
    env = _make(env_id)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


@pytest.mark.parametrize("mode", ["cp", "jp"])
def test_other_action_modes_pass_the_checker(mode):
    env = _make("surgisim/NeedleHandover-v0", action_mode=mode)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_scenario_env_takes_a_name_or_a_path_and_rejects_bad_options():
    env = gym.make("surgisim/Scenario-v0", scenario="camera-targeting")
    try:
        assert env.unwrapped.driven == ["ECM"] and env.action_space.shape == (3,)
    finally:
        env.close()
    with pytest.raises(SimError, match="action mode"):
        gym.make("surgisim/RingWalk-v0", action_mode="torque")
    with pytest.raises(SimError, match="divide"):
        gym.make("surgisim/RingWalk-v0", control_rate_hz=33.0)
    for bad in (
        {"control_rate_hz": 0},
        {"control_rate_hz": float("nan")},
        {"max_episode_s": -1.0},
        {"max_speed_m_s": True},
        {"score_weight": float("inf")},
    ):
        with pytest.raises(SimError, match="must be a"):
            gym.make("surgisim/RingWalk-v0", **bad)


@pytest.mark.parametrize("mode", ["delta_cp", "cp", "jp"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_non_finite_action_holds_the_arm_with_one_event_per_step(mode, bad):
    env = _make("surgisim/NeedleHandover-v0", action_mode=mode)
    try:
        env.reset(seed=3)
        session = env.unwrapped.session
        sl = env.unwrapped.action_slices["PSM1"]
        goals = {n: a.goal_js() for n, a in session.arms.items()}
        action = np.zeros(env.action_space.shape, np.float32)
        action[sl.start + 4] = bad  # one value: a rotation (or a joint) of PSM1
        _, _, _, _, info = env.step(action)
        assert info["events"].count("command_refused") == 1, info["events"]
        refused = [e for e in info["event_details"] if e["kind"] == "command_refused"]
        assert refused[0]["arm"] == "PSM1" and "NaN or infinity" in refused[0]["reason"]
        np.testing.assert_array_equal(session.arms["PSM1"].goal_js(), goals["PSM1"])
    finally:
        env.close()


def test_an_action_of_another_shape_is_refused_and_moves_nothing():
    """A researcher's probe: ``step(None)`` said "action has 1 values", and a (1, 14)
    batch was taken silently, as a (2, 7) array would be, arm values mixed."""
    from sim.errors import SimError

    env = _make("surgisim/NeedleHandover-v0")
    try:
        env.reset(seed=603)
        session = env.unwrapped.session
        goals = {n: a.goal_js() for n, a in session.arms.items()}
        n = env.action_space.shape[0]
        with pytest.raises(SimError, match=r"step\(None\).*action_space.sample"):
            env.step(None)
        for bad in (np.zeros((1, n)), np.zeros((2, n // 2)), np.zeros(n + 1), "left"):
            with pytest.raises(SimError, match=r"shape|not an array"):
                env.step(bad)
        for name, arm in session.arms.items():
            np.testing.assert_array_equal(arm.goal_js(), goals[name])
        env.step([0.0] * n)  # a list of the right length is an action
    finally:
        env.close()


def _random_rollout(env, seed: int, steps: int):
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    observations = [obs]
    for _ in range(steps):
        action = rng.uniform(-1.0, 1.0, env.action_space.shape).astype(np.float32)
        obs, reward, terminated, truncated, _ = env.step(action)
        observations.append(obs)
        assert env.observation_space.contains(obs)
        assert np.isfinite(reward)
        if terminated or truncated:
            obs, _ = env.reset(seed=seed + 1)
    return observations


@pytest.mark.slow
@pytest.mark.parametrize("env_id", BUNDLED_IDS)
def test_a_random_policy_runs_a_thousand_steps(env_id):
    env = _make(env_id)
    try:
        _random_rollout(env, 0, 1000)
    finally:
        env.close()


def _flat(obs) -> np.ndarray:
    return np.concatenate([np.ravel(v) for v in _leaves(obs)])


def _leaves(obs):
    if isinstance(obs, dict):
        for key in sorted(obs):
            yield from _leaves(obs[key])
    else:
        yield np.asarray(obs, dtype=float)


def test_reset_with_a_seed_repeats_the_episode_bit_for_bit():
    env = _make("surgisim/PegTransfer-v0")
    fresh = _make("surgisim/PegTransfer-v0")
    try:
        first = _random_rollout(env, 5, 40)
        _random_rollout(env, 9, 10)  # another episode in between
        again = _random_rollout(env, 5, 40)
        other = _random_rollout(fresh, 5, 40)
        for a, b, c in zip(first, again, other, strict=True):
            np.testing.assert_array_equal(_flat(a), _flat(b))
            np.testing.assert_array_equal(_flat(a), _flat(c))
    finally:
        env.close()
        fresh.close()


def _cp_action(env, commands) -> np.ndarray:
    """Absolute-pose actions standing for servo_cp commands (the inverse of the mapping)."""
    lo, hi = env._workspace
    jaw_lo, jaw_hi = env._jaw_range
    action = np.zeros(env.action_space.shape)
    for name, sl in env.action_slices.items():
        X, jaw = commands[name].servo_cp, commands[name].jaw_rad
        axis, angle = axis_angle(X[:3, :3])
        action[sl] = np.concatenate(
            [
                2 * (X[:3, 3] - lo) / (hi - lo) - 1,
                axis * angle / np.pi,
                [2 * (jaw - jaw_lo) / (jaw_hi - jaw_lo) - 1],
            ]
        )
    return action


def test_an_episodes_return_is_the_sum_of_its_documented_parts():
    """The scripted plan with both instruments on servo_cp drives the environment through
    absolute-pose actions at the physics rate; the return must equal step_reward per
    completed step plus score_weight times the scorer's own score / 100."""
    env = gym.make(
        "surgisim/NeedleHandover-v0", action_mode="cp", control_rate_hz=500.0, score_weight=7.0
    ).unwrapped
    plan = ScriptedController("expert", servo=env.driven)
    try:
        env.reset(seed=31)
        plan.reset(env.scenario, 31)
        plan.attach(env.session)
        total, parts, end = 0.0, {"steps": 0.0, "score": 0.0}, None
        while end is None:
            commands = plan.act(env.session.state())
            action = _cp_action(env, commands) if commands is not None else np.zeros(14)
            _, reward, terminated, truncated, info = env.step(action)
            total += reward
            for key, value in info["reward_parts"].items():
                parts[key] += value
            if terminated or truncated:
                end = info
        trace = env.session.trace()
        steps_done = len(trace.events_of("step_done"))
        _, result = score_trace(env.scenario, trace)
        assert steps_done >= 1  # the step part is not trivially zero
        assert total == pytest.approx(parts["steps"] + parts["score"], abs=1e-12)
        assert parts["steps"] == pytest.approx(1.0 * steps_done)
        assert parts["score"] == pytest.approx(7.0 * result.score / 100.0)
        assert end["score"] == pytest.approx(result.score)
    finally:
        plan.close()
        env.close()


def test_an_episode_is_truncated_at_its_time_limit():
    env = _make("surgisim/CameraTargeting-v0", max_episode_s=0.2)
    try:
        env.reset(seed=0)
        steps = 0
        for _ in range(20):
            _, _, terminated, truncated, info = env.step(np.zeros(3, np.float32))
            steps += 1
            assert not terminated
            if truncated:
                break
        assert truncated and steps == 10 and "score" in info  # 0.2 s at 50 Hz
        # doing nothing until the time runs out earns no score (it once scored 100/100,
        # the largest reward: "at or better than the expert" on every metric)
        assert info["score"] == 0.0 and info["reward_parts"]["score"] == 0.0
        with pytest.raises(SimError, match="reset"):
            env.step(np.zeros(3, np.float32))
    finally:
        env.close()


@pytest.mark.slow
def test_async_vector_env_steps_two_sessions_in_workers():
    envs = gym.make_vec("surgisim/NeedleHandover-v0", num_envs=2, vectorization_mode="async")
    try:
        obs, _ = envs.reset(seed=[1, 2])
        assert obs["arms"]["PSM1"]["tip_position_m"].shape == (2, 3)
        for _ in range(20):
            obs, reward, _, _, _ = envs.step(envs.action_space.sample())
        assert reward.shape == (2,)
        positions = obs["objects"]["pad/needle"]["position_m"]
        assert np.isfinite(positions).all()
    finally:
        envs.close()


def test_the_readme_example_runs():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = text[text.index("### Gymnasium environments") :]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(block, namespace)
    env = namespace["env"]
    try:
        assert env.observation_space.contains(namespace["obs"])
        assert "reward_parts" in namespace["info"]
    finally:
        env.close()


@pytest.mark.parametrize(("mode", "value"), [("delta_cp", -1.0), ("jp", 1.0)])
def test_every_observation_lies_in_the_observation_space_even_past_joint_limits(mode, value):
    """Driving every action to one end for 3 s pushes joints past their limits under
    contact (a wrist 0.29 rad in ``delta_cp``, the jaw to 3.36 rad in ``jp``, seed 721):
    the space must still contain every observation (it declared limits + 0.1 rad)."""
    env = gym.make("surgisim/NeedleHandover-v0", action_mode=mode, max_episode_s=3.0)
    try:
        obs, _ = env.reset(seed=721)
        action = np.full(env.action_space.shape, value, np.float32)
        for _ in range(150):
            obs, _, terminated, truncated, _ = env.step(action)
            assert env.observation_space.contains(obs)
            if terminated or truncated:
                break
    finally:
        env.close()


def test_the_constructor_seed_starts_the_first_episode_and_the_stream_after_it():
    a = gym.make("surgisim/NeedleHandover-v0", seed=706)
    b = gym.make("surgisim/NeedleHandover-v0")
    try:
        obs_a, info_a = a.reset()
        obs_b, info_b = b.reset(seed=706)
        assert info_a["seed"] == info_b["seed"] == 706
        assert repr(obs_a) == repr(obs_b)
        # later unseeded resets draw from the generator that seed started: they repeat
        assert a.reset()[1]["seed"] == b.reset()[1]["seed"]
        assert a.reset(seed=5)[1]["seed"] == 5
    finally:
        a.close()
        b.close()


def test_reset_options_object_actions_and_calls_after_close_are_refused_clearly():
    env = gym.make("surgisim/NeedleHandover-v0")
    env.reset(seed=704, options={})  # none given: fine
    with pytest.raises(SimError, match="takes no reset options"):
        env.reset(seed=704, options={"foo": 1})
    with pytest.raises(SimError, match="array of object"):
        env.step(np.array([None] * env.action_space.shape[0]))
    env.close()
    for call in (lambda: env.unwrapped.step(env.action_space.sample()), env.unwrapped.reset):
        with pytest.raises(SimError, match="closed environment"):
            call()


def test_scenario_v0_without_a_scenario_is_refused_not_peg_transfer():
    with pytest.raises(SimError, match="needs scenario=NAME or FILE"):
        gym.make("surgisim/Scenario-v0")


def test_the_last_time_lies_in_the_space_when_the_control_period_overshoots_the_limit(tmp_path):
    """The episode ends at the first control step at or after the time limit: with a
    2.6 s control period the last observation read 182 s against a 181 s bound."""
    text = resolve("camera-targeting").read_text()
    assert "time_limit_s: 180" in text
    path = tmp_path / "short.yaml"
    path.write_text(text.replace("time_limit_s: 180", "time_limit_s: 4"))
    env = gym.make("surgisim/Scenario-v0", scenario=str(path), control_rate_hz=1000 / 2600)
    try:
        obs, _ = env.reset(seed=3120)
        done = False
        while not done:
            obs, _, terminated, truncated, _ = env.step(np.zeros(env.action_space.shape))
            done = terminated or truncated
        assert obs["time_s"][0] > 4.0 + 1.0  # past the old bound
        assert env.observation_space.contains(obs)
    finally:
        env.close()


@pytest.mark.parametrize(("arm", "direction"), [("PSM1", 1.0), ("PSM2", -1.0)])
def test_delta_cp_goals_stop_at_the_workspace_box_and_come_back_at_once(arm, direction):
    """An agent pushing one way for 3 s drove PSM1's tip 0.2 m past the scenario's
    workspace (x 0.305 against a box to 0.2): the goal now stops at the box, on each axis,
    as teleoperation stops at its wall, and the first step back moves it back."""
    env = gym.make("surgisim/NeedleHandover-v0", max_episode_s=4.0)
    try:
        env.reset(seed=4007)
        unwrapped = env.unwrapped
        session, sl = unwrapped.session, unwrapped.action_slices[arm]
        lo, hi = np.asarray(unwrapped.scenario.scene.workspace_m, dtype=float)
        action = np.zeros(env.action_space.shape, np.float32)
        action[sl.start] = direction  # along world x, away from the other arm
        for _ in range(150):
            env.step(action)
        goal_x = session.arms[arm].goal_cp("world")[0, 3]
        wall = hi[0] if direction > 0 else lo[0]
        assert goal_x == pytest.approx(wall, abs=1e-5)  # the goal is IK's: within µm
        action[sl.start] = -direction
        env.step(action)
        back = session.arms[arm].goal_cp("world")[0, 3]
        assert abs(back - wall) == pytest.approx(unwrapped._dp, abs=1e-5)
    finally:
        env.close()


def test_a_scopes_delta_cp_goal_stops_at_the_workspace_box_too():
    """The endoscope's goal went on to x = 0.248 against a box to 0.2."""
    env = gym.make("surgisim/CameraTargeting-v0", max_episode_s=10.0)
    try:
        env.reset(seed=4011)
        unwrapped = env.unwrapped
        hi = np.asarray(unwrapped.scenario.scene.workspace_m, dtype=float)[1]
        action = np.zeros(env.action_space.shape, np.float32)
        action[unwrapped.action_slices["ECM"].start] = 1.0
        for _ in range(300):
            env.step(action)
        goal_x = unwrapped.session.arms["ECM"].goal_cp("world")[0, 3]
        assert goal_x <= hi[0] + 1e-5
    finally:
        env.close()


def test_a_scopes_tip_moves_along_the_commanded_line_and_its_goal_does_not_run_ahead():
    """40 steps of +x: the scope's tip left the line by 9 mm (its insertion ran ahead of
    its yaw, each joint ramped at its own limit) and its goal ran 8 mm ahead of it. Now a
    step the joints cannot make in one control step is shortened along the line."""
    env = gym.make("surgisim/CameraTargeting-v0", max_episode_s=10.0)
    try:
        obs, _ = env.reset(seed=9700)
        unwrapped = env.unwrapped
        scope = unwrapped.session.arms["ECM"]
        start = obs["arms"]["ECM"]["tip_position_m"].copy()
        action = np.zeros(env.action_space.shape, np.float32)
        action[unwrapped.action_slices["ECM"].start] = 1.0
        tips = [start]
        for _ in range(40):
            obs, *_ = env.step(action)
            tips.append(obs["arms"]["ECM"]["tip_position_m"].copy())
        tips = np.array(tips)
        off_line_m = np.abs(tips[:, 1:] - start[1:]).max()
        assert off_line_m < 0.5e-3  # was 9 mm
        goal_ahead_m = np.linalg.norm(scope.goal_cp("world")[:3, 3] - tips[-1])
        assert goal_ahead_m < 1e-3  # was 7.9 mm
        steps_m = np.diff(tips[:, 0])
        assert steps_m.max() <= unwrapped._dp * 1.05  # never faster than the action says
        assert tips[-1, 0] - start[0] > 0.04  # and it does move (61 mm of 80)
    finally:
        env.close()
