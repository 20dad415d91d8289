"""Hand tremor is measured in real sessions, not only on synthetic arrays."""

from __future__ import annotations

import math

from scenarios.loader import load_scenario
from sim.session.headless import run_headless

UNSEEN_SEED = 2044  # no plan, rubric or filter was tuned on it


def test_a_session_reports_the_hand_tremor_and_the_novice_shakes_more():
    """The synthetic expert's tremor is drawn from 50-80 µm RMS, the novice's from
    120-200 (``haptics/operators.py``): the trace's own measure must tell them apart.
    Before the fix the metric was absent from every session (the trace's first row, before
    any device sample, is NaN)."""
    scenario = load_scenario("needle-handover")
    expert = run_headless(scenario, operator="expert", seed=UNSEEN_SEED).metrics
    novice = run_headless(scenario, operator="novice", seed=UNSEEN_SEED).metrics
    assert math.isfinite(expert["tremor_rms_um"]) and math.isfinite(novice["tremor_rms_um"])
    assert 20.0 < expert["tremor_rms_um"] < 120.0
    assert novice["tremor_rms_um"] > 1.3 * expert["tremor_rms_um"]


def test_a_silent_device_leaves_gaps_in_the_hand_trace_not_a_frozen_hand():
    """A device that falls silent (unplugged, tracking lost) gives no handle position in
    the trace once its arm's pipeline would hold (its gap timeout: 100 ms live, 50 ms
    in-process), rather than its last position repeated: a frozen hand reads as a still
    hand without tremor and dilutes the metric."""
    import numpy as np

    from haptics.master import MasterSample
    from sim.session.session import Session

    session = Session(load_scenario("needle-handover"), seed=12)
    try:
        rng = np.random.default_rng(12)
        k = 0
        while session.time_s < 3.0:  # 1 s of hand, 1 s of silence, 1 s of hand
            if 1.0 <= session.time_s < 2.0:
                session.step()
                continue
            X = np.eye(4)
            X[:3, 3] = rng.normal(0.0, 1e-4, 3)
            session.step({"PSM1": MasterSample(session.now_s(), X, 0.5, clutch=False, seq=k)})
            k += 1
        trace = session.recorder.finish(False, None, [])
    finally:
        session.close()
    t = trace.time_s
    hand = np.isfinite(trace.instruments["PSM1"].master_position_m).all(axis=1)
    assert hand[(t > 0.05) & (t < 1.0)].all()
    hold_s = session.teleops["PSM1"].config.gap_timeout_s  # 50 ms in-process
    assert not hand[(t > 1.0 + hold_s + 0.011) & (t < 2.0)].any()  # silent past the hold
    assert hand[(t > 1.0) & (t <= 1.0 + hold_s - 0.011)].all()  # within it: the last one
    assert hand[(t > 2.02) & (t < 3.0)].all()
    assert not np.isfinite(trace.instruments["PSM2"].master_position_m).any()  # never sent


def _hand_trace(vibration_hz: float, seconds: float = 3.0):
    """The trace of a session whose PSM1 master sends one sample per physics step (500
    Hz) with a 100 µm (70.7 µm RMS) vibration along x, around a still hand."""
    import numpy as np

    from haptics.master import MasterSample
    from sim.session.session import Session

    session = Session(load_scenario("peg-transfer"), seed=7808)
    try:
        k = 0
        while session.time_s < seconds:
            X = np.eye(4)
            X[0, 3] = 100e-6 * np.sin(2 * np.pi * vibration_hz * session.time_s)
            session.step({"PSM1": MasterSample(session.now_s(), X, 0.5, clutch=False, seq=k)})
            k += 1
        return session.trace()
    finally:
        session.close()


def test_a_row_holds_the_mean_of_the_samples_since_the_last_so_vibration_does_not_alias():
    """Master positions were point-sampled once per 100 Hz row: 90 and 110 Hz vibration
    (a device's servo buzz) aliased onto 10 Hz and read as 70.8 µm of tremor, as much as a
    real 10 Hz tremor. The boxcar over each row passes 10 Hz (0.98) and keeps 90-110 Hz
    to about a tenth."""
    from scenarios import metrics as M

    for vibration_hz, low_um, high_um in (
        (10.0, 66.0, 71.0),
        (90.0, 0.0, 12.0),
        (110.0, 0.0, 12.0),
    ):
        trace = _hand_trace(vibration_hz)
        hand = trace.instruments["PSM1"].master_position_m
        tremor_um = 1e6 * M.tremor_rms_m(hand, trace.rate_hz)
        assert low_um < tremor_um < high_um, (vibration_hz, tremor_um)
