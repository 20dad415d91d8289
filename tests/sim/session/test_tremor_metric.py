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
