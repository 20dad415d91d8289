"""The pipeline's direct path for the common step (following, one new well-formed sample,
no camera change) must give exactly what the general path gives, on every kind of input
stream: repeats, late and out-of-order samples, clutch presses, unnumbered samples, gaps,
several samples per step and camera changes."""

from __future__ import annotations

import math

import numpy as np

from haptics.master import MasterSample
from haptics.teleop import TeleopConfig, Teleoperation


def _pipeline(config: TeleopConfig, general_only: bool) -> Teleoperation:
    X0 = np.eye(4)
    X0[:3, 3] = (0.0, 0.0, 0.1)
    teleop = Teleoperation(config, X0, np.eye(4))
    if general_only:
        teleop._follow_one = lambda sample, now: None  # always the general path
    return teleop


def _output(out) -> tuple:
    align = out.align_error_rad
    return (
        out.state,
        out.X_RT.tobytes(),
        out.jaw_rad,
        tuple((e.kind, e.detail, e.time_s) for e in out.events),
        out.samples_used,
        out.used_seq,
        None if math.isnan(align) else align,
        None if out.master_filtered_m is None else out.master_filtered_m.tobytes(),
        out.X_RC.tobytes(),
    )


def _compare(config: TeleopConfig, seed: int, steps: int = 4000) -> int:
    """Feed both pipelines the same random stream; the number of direct-path steps taken."""
    rng = np.random.default_rng(seed)
    fast, general = _pipeline(config, False), _pipeline(config, True)
    taken = 0
    original = fast._follow_one

    def counting(sample, now):
        nonlocal taken
        out = original(sample, now)
        taken += out is not None
        return out

    fast._follow_one = counting
    R = fast.aligned_hand_rotation()
    for p in (fast, general):
        p.enable(0.0)
    now, seq = 0.0, 0
    for k in range(steps):
        now += 0.001 + (rng.random() < 0.003) * rng.random() * 0.08  # some gaps
        batch = []
        for _ in range(int(rng.integers(0, 3))):
            seq += 1
            X = np.eye(4)
            X[:3, :3] = R
            X[:3, 3] = 0.02 * np.sin(0.002 * k + np.arange(3))
            t = now - (rng.random() * 0.05 if rng.random() < 0.03 else 0.0)  # some late
            sample = MasterSample(
                float(t),
                X,
                float(rng.random()),
                bool(rng.random() < 0.02),
                seq if rng.random() < 0.5 else -1,
            )
            batch.append(sample)
            if rng.random() < 0.1:
                batch.append(sample)  # a repeat
        X_RC = None
        if rng.random() < 0.01:  # the camera moves now and then
            X_RC = np.eye(4)
            X_RC[:3, 3] = rng.normal(0.0, 0.01, 3)
        a = fast.step(tuple(batch), now, X_RC)
        b = general.step(tuple(batch), now, X_RC)
        assert _output(a) == _output(b), k
    return taken


def test_direct_path_equals_general_path_in_process_settings():
    config = TeleopConfig(start_enabled=True, align_tolerance_rad=None, rate_hz=1000.0)
    assert _compare(config, seed=101) > 400  # the direct path was exercised


def test_direct_path_equals_general_path_live_settings():
    assert _compare(TeleopConfig(rate_hz=1000.0), seed=202) > 400
