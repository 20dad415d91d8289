"""Instrument clashes are fed back to both masters; the recorded tip force leaves them out.

An outsider brought the two instruments together over the bus: the tips met, PSM2 was
pushed 3 cm off its path and the clash was scored, while both masters got exactly zero
force (``tip_forces(clashes=False)`` was the force fed back). The trace's tip force and
the metrics judge tissue and object handling, so they keep leaving clashes out; the
masters now feel them (``ArmState.feedback_force_n``).
"""

from __future__ import annotations

import numpy as np

from scenarios.loader import load_scenario
from sim.session.commands import ArmCommand
from sim.session.session import Session
from sim.world.scripted import R_DOWN


def _goal(p) -> np.ndarray:
    X = np.eye(4)
    X[:3, :3], X[:3, 3] = R_DOWN, p
    return X


def test_both_masters_feel_a_clash_that_the_recorded_tip_force_leaves_out():
    session = Session(load_scenario("peg-transfer"), seed=8200)
    try:
        state = session.step({})
        p1, p2 = (state.arms[a].X_WT[:3, 3].copy() for a in ("PSM1", "PSM2"))
        meet = (p1 + p2) / 2
        apart, through = np.array([0.004, 0.0, 0.0]), np.array([0.01, 0.0, 0.0])
        clash = {"PSM1": 0.0, "PSM2": 0.0}  # the largest clash force each master got (N)
        for k in range(1000):
            reach = min(1.0, k / 600)  # the tips 8 mm apart, then PSM1 pushes through
            g1 = p1 + reach * (meet + apart - p1) if k < 800 else meet - through
            g2 = p2 + reach * (meet - apart - p2)
            goals = {"PSM1": g1, "PSM2": g2}
            state = session.step({a: ArmCommand(servo_cp=_goal(g)) for a, g in goals.items()})
            for arm in clash:
                a = state.arms[arm]
                if k < 300:  # still centimetres apart: the very same force
                    np.testing.assert_array_equal(a.feedback_force_n, a.tip_force_n)
                extra = np.linalg.norm(a.feedback_force_n - a.tip_force_n)
                clash[arm] = max(clash[arm], float(extra))
        assert clash["PSM1"] > 0.5 and clash["PSM2"] > 0.5, clash
    finally:
        session.close()
