"""The README's code examples do what their comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _block(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading) :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_physics_world_example_grasps_places_and_releases_without_a_drop():
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(_block("### The physics world in ten lines"), namespace)
    world = namespace["world"]
    try:
        printed = out.getvalue().splitlines()
        assert "kind='grasp'" in printed[0] and "arm='PSM2'" in printed[0]
        assert "kind='release'" in printed[1] and "kind='drop'" not in printed[1]
        ring, peg = world.landmark("board/ring0", "center"), world.landmark("board", "peg6")
        assert abs(ring[0] - peg[0]) < 0.005 and abs(ring[1] - peg[1]) < 0.005  # on peg 7
        assert world.grasps.held_by(world.body_id("board/ring0")) == []
    finally:
        world.close()


def test_session_example_runs_and_the_arm_follows_its_pose_command():
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(_block("### The session: one core every driver shares"), namespace)
    session = namespace["session"]
    try:
        assert "SERVO" in out.getvalue()
        assert namespace["description"].scope_node == "ECM/tool_tip"
        assert session.time_s == 0.0  # after the reset
    finally:
        session.close()


def test_port_example_builds_a_urdf_chain_and_reaches_through_the_port():
    """The README named an ``iiwa`` the package does not have; the example now builds one."""
    namespace: dict = {}
    exec(_block("### An arm without a remote centre of motion, through a port"), namespace)
    result = namespace["result"]
    assert result.success and result.pos_error < 1e-4


def test_plug_in_example_solves_and_filters(tmp_path, monkeypatch):
    import re as _re

    import numpy as np
    import pytest

    from haptics.tremor import make_filter
    from kinematics import psm
    from kinematics.solvers import load_ik_solver

    text = README.read_text()
    section = text[text.index("### Your own IK solver and tremor filter") :]
    module, usage = _re.findall(r"```python\n(.*?)```", section, _re.S)[:2]
    (tmp_path / "my_plugins.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict = {}
    exec(usage, namespace)
    config = namespace["config"]
    chain = psm()
    X = chain.fk(chain.random_q(np.random.default_rng(0)))
    result = load_ik_solver(config.ik_solver)(
        chain, X, chain.random_q(np.random.default_rng(1)) * 0.9,
        pos_tol=1e-5, rot_tol=1e-4, max_iters=60, restarts=0, seed=0,
    )  # fmt: skip
    assert result.success and np.linalg.norm(chain.fk(result.q)[:3, 3] - X[:3, 3]) < 1e-5
    f = make_filter(config.teleop.tremor_filter, 1000.0, **config.teleop.tremor_params)
    out = f.filter(np.tile([0.0, 0.0, 0.0], (20, 1)) + np.arange(20.0)[:, None] * 1e-3)
    assert out[-1, 0] == pytest.approx(0.0145, abs=1e-12)  # a 10-sample average


def test_tremor_example_runs_as_written():
    """The docs audit: it used ``master_positions_m`` without defining it (NameError)."""
    namespace: dict = {}
    exec(_block("### Tremor filtering in a few lines"), namespace)
    assert namespace["clean"].shape == namespace["master_positions_m"].shape


def test_plug_in_filter_with_a_one_sample_window_passes_samples_through(tmp_path, monkeypatch):
    """The README's config (``window_s=0.01``) on a 100 Hz device gives ``window == 1``.

    The old example sliced ``recent[1 - window:]``, which is ``recent[0:]`` for a window of
    one: it kept every sample, averaged the whole history and grew without bound.
    """
    import re as _re

    import numpy as np

    from haptics.tremor import make_filter

    text = README.read_text()
    section = text[text.index("### Your own IK solver and tremor filter") :]
    module = _re.findall(r"```python\n(.*?)```", section, _re.S)[0]
    (tmp_path / "my_plugins_one.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    samples_m = np.arange(30.0)[:, None] * np.array([1e-3, 2e-3, -1e-3])
    f = make_filter("my_plugins_one:moving_average", 100.0, window_s=0.01)
    np.testing.assert_array_equal(f.filter(samples_m), samples_m)  # a window of one
    import my_plugins_one

    raw = my_plugins_one.moving_average(100.0, window_s=0.01)
    for sample in samples_m:
        raw.step(sample)
    assert len(raw.recent) == 1  # bounded by the window, not the history
