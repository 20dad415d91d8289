"""``render_mode="rgb_array"`` on the Gymnasium environments: the endoscope's view as an
image (what ``RecordVideo`` records), one renderer across episodes. Real pybullet and
real OpenGL (Mesa)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import sim.env  # noqa: F401  (registers the environments)
from sim.errors import SimError


def test_rgb_array_is_the_endoscope_view_and_one_renderer_serves_every_episode(gl_backend):
    env = gym.make("surgisim/NeedleHandover-v0", render_mode="rgb_array", render_size=(160, 120))
    try:
        assert env.unwrapped.metadata["render_modes"] == ["rgb_array"]
        env.reset(seed=702)
        first = env.render()
        assert first.shape == (120, 160, 3) and first.dtype == np.uint8
        assert first.std() > 5.0  # a picture (the pad and two instruments), not a blank
        renderer = env.unwrapped._renderer
        for _ in range(25):  # the instruments move: the picture changes
            env.step(np.tile([0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0], 2).astype(np.float32))
        moved = env.render()
        assert np.abs(moved.astype(int) - first.astype(int)).max() > 30
        env.reset(seed=702)
        assert np.array_equal(env.render(), first)  # same episode start, same picture
        assert env.unwrapped._renderer is renderer  # not re-made per episode
    finally:
        env.close()
    assert env.unwrapped._renderer is None
    with pytest.raises(SimError, match="closed environment"):
        env.unwrapped.render()


def test_without_a_render_mode_render_returns_none_and_bad_modes_are_refused():
    env = gym.make("surgisim/NeedleHandover-v0")
    try:
        env.reset(seed=703)
        assert env.render() is None
    finally:
        env.close()
    # ("human" is Gymnasium's: gym.make draws rgb_array frames in a window of its own)
    with pytest.raises(SimError, match="render_mode='ansi'"):
        gym.make("surgisim/NeedleHandover-v0", render_mode="ansi")
    with pytest.raises(SimError, match="render_size"):
        gym.make("surgisim/NeedleHandover-v0", render_mode="rgb_array", render_size=(0, 10))
