"""One hand, sampled by a device at a chosen rate, through a real peg-transfer session.

Shared by the slow-device tests and the measurement in bench/RESULTS.md ("The 125 Hz
staircase"): the same hand motion (a rest while the pipeline measures the device's
rate, then a steady stroke and a minimum-jerk reach) reaches the session as a 125 Hz VR
controller's or a 1 kHz master's samples would, stamped when taken, each given to the
first physics step at or after its stamp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from haptics.master import MasterSample
from haptics.signals import minimum_jerk
from scenarios import metrics as M
from scenarios.loader import load_scenario
from sim.session.session import Session

#: the hand rests this long (s): the pipeline knows a 125 Hz device's rate after two
#: windows of 64 samples (1.02 s) and re-anchors there
REST_S = 1.2
#: then moves at this speed (m/s, hand: 5 mm/s at the tool at 3:1), along this direction
STROKE_M_S = 0.015
STROKE_DIR = np.array([0.8, 0.6, 0.0])
STROKE_S = 1.5
#: then reaches this far (m, hand) in this time (s), minimum jerk (tool peak 16.6 mm/s)
REACH_M = np.array([0.0, 0.03, 0.03])
REACH_S = 1.6
END_S = REST_S + STROKE_S + REACH_S + 0.3


def hand_m(t_s: float, rng: np.random.Generator, noise_m: float) -> np.ndarray:
    """The handle position (m, M) at ``t_s``; ``noise_m`` RMS of white sensor noise."""
    t = max(t_s - REST_S, 0.0)
    p = STROKE_DIR * STROKE_M_S * min(t, STROKE_S)
    if t > STROKE_S:
        p = p + minimum_jerk(np.zeros(3), REACH_M, REACH_S, np.array([t - STROKE_S]))[0]
    return p + rng.normal(0.0, noise_m, 3) if noise_m else p


@dataclass
class Run:
    """What one run measured, every physics step (``t_s``, m in the world frame)."""

    t_s: np.ndarray
    target_W: np.ndarray  # the teleoperation target of PSM1's tip
    tip_W: np.ndarray  # PSM1's measured tool tip
    rate_hz: float  # physics
    trace_tip_W: np.ndarray  # the tip as the trace recorded it (record rate)
    trace_rate_hz: float
    spread_s: float  # the period the pipeline spread the steps over (0: none)


def drive(device_rate_hz: float, seed: int, noise_m: float = 0.0, each_step=None) -> Run:
    """Run the hand through a peg-transfer session (500 Hz physics) at ``device_rate_hz``;
    ``each_step(session, samples)``, if given, is called before each physics step."""
    rng = np.random.default_rng(seed)
    session = Session(load_scenario("peg-transfer"), seed=seed)
    try:
        rate = session.world.rate_hz
        period = 1.0 / device_rate_hz
        t_next, seq = 0.0, 0
        ts, targets, tips = [], [], []
        while session.time_s < END_S:
            now = session.now_s()
            samples = []
            while t_next <= now + 1e-9:
                X = np.eye(4)
                X[:3, 3] = hand_m(t_next, rng, noise_m)
                samples.append(MasterSample(t_next, X, 0.0, clutch=False, seq=seq))
                seq += 1
                t_next = seq * period
            if each_step is not None:
                each_step(session, samples)
            session.advance({"PSM1": samples} if samples else None)
            ts.append(session.time_s)
            targets.append(session.tip_target_W("PSM1")[:3, 3])
            tips.append(session.arms["PSM1"].measured_tip_W())
        trace = session.recorder.finish(False, None, [])
        spread = getattr(session.teleops["PSM1"], "spread_s", 0.0)  # 0.0 before the change
    finally:
        session.close()
    return Run(
        np.array(ts),
        np.array(targets),
        np.array(tips),
        rate,
        np.asarray(trace.instruments["PSM1"].tip_position_m),
        trace.rate_hz,
        spread,
    )


def ripple(run: Run, positions: np.ndarray) -> float:
    """Peak over mean speed, step to step, during the steady stroke (its first and last
    0.3 s left out: the filter's start and the reach)."""
    t = run.t_s[1:]
    v = M.speed_profile(positions, run.rate_hz)
    window = (t > REST_S + 0.3) & (t < REST_S + STROKE_S - 0.05)
    return float(v[window].max() / v[window].mean())


def reach_ldlj(run: Run, per_step: bool = False) -> float:
    """LDLJ of the tip's speed over the reach (the session's smoothness metric, on the
    trace's rows or, ``per_step``, every physics step)."""
    if per_step:
        t, p, fs = run.t_s, run.tip_W, run.rate_hz
    else:
        fs = run.trace_rate_hz
        p = run.trace_tip_W
        t = np.arange(len(p)) / fs
    start = REST_S + STROKE_S
    window = (t >= start) & (t <= start + REACH_S + 0.3)
    return M.ldlj(M.speed_profile(p[window], fs), fs)
