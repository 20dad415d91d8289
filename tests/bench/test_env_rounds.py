"""``surgisim bench env``: both sides warmed up before timing, the order alternating."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np

from bench import env as bench_env


class _Session:
    def __init__(self, log):
        self.log, self.advanced = log, 0

    def reset(self, seed):
        self.log.append("bare")

    def advance(self, commands, steps):
        self.advanced += 1
        if self.advanced == 1:
            time.sleep(0.05)  # the bare side's cold start

    def state(self):
        return {}


class _Env:
    physics_steps = 10
    action_space = gym.spaces.Box(-1.0, 1.0, (3,), dtype=np.float32)

    def __init__(self):
        self.log, self.stepped = [], 0
        self.session = _Session(self.log)
        self.unwrapped = self

    def reset(self, seed=None):
        self.log.append("env")

    def commands(self, action):
        return {"a": action}

    def step(self, action):
        self.stepped += 1
        if self.stepped == 1:
            time.sleep(0.05)  # as the first env.step: ~38 ms of warm-up

    def close(self):
        pass


def test_warm_up_is_charged_to_neither_side_and_rounds_alternate(monkeypatch):
    fake = _Env()
    monkeypatch.setattr(gym, "make", lambda name: fake)
    out = bench_env.env_vs_session(steps=10, rounds=3, seed=5000)
    # both cold starts (50 ms over 10 steps: 5 ms a step) fell in the untimed warm-up
    assert max(out["env_step_s_rounds"]) < 2e-3 and max(out["bare_step_s_rounds"]) < 2e-3
    assert out["order"] == ["env first", "bare first", "env first"]
    assert fake.log == ["env", "bare", "env", "bare", "bare", "env", "env", "bare"]
    assert out["warmup_steps"] == bench_env.WARMUP_STEPS > 0
