"""Demonstrator.parallel: each hand follows its own closed-loop plan at the same time as
the other (one places a ring while the other picks up the next), taking turns in a fixed
order, so a run stays bit-for-bit repeatable."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.loader import load_scenario
from sim.errors import SimError
from sim.session.demo import Demonstrator
from sim.session.session import Session
from tests.sim.session.test_scenario_robustness import UNSEEN_SEED

A, B = np.array([0.0, 0.02, 0.01]), np.array([-0.02, 0.0, 0.01])


def _session():
    return Session(load_scenario("peg-transfer"), seed=UNSEEN_SEED)


def _tip(session, arm):
    return session.tip_target_W(arm)[:3, 3].copy()


def _two_moves(demo, arm, first, then):
    """A branch: a move, then one planned from where the instrument is after it."""
    start = _tip(demo.session, arm)
    demo.move_tip(arm, start + first, 0.003)
    demo.move_tip(arm, _tip(demo.session, arm) + then, 0.003)


def _run(branches, ends=None):
    """Steps taken and tip paths of a fresh session running ``branches`` in parallel."""
    session = _session()
    try:
        demo = Demonstrator(session, "expert", seed=UNSEEN_SEED)
        start = session.world.step_count
        path = []

        def watch():
            path.append([_tip(session, a) for a in ("PSM1", "PSM2")])

        demo.on_progress = watch
        demo.parallel({arm: (lambda arm=arm, fn=fn: fn(demo, arm)) for arm, fn in branches.items()})
        if ends is not None:
            ends.update({arm: _tip(session, arm) for arm in branches})
        return session.world.step_count - start, np.array(path)
    finally:
        session.close()


def test_each_branch_moves_at_the_same_time_and_looks_before_each_move():
    alone_1, _ = _run({"PSM1": lambda d, a: _two_moves(d, a, A, B)})
    alone_2, _ = _run({"PSM2": lambda d, a: _two_moves(d, a, B, A)})
    ends = {}
    together, _ = _run(
        {"PSM1": lambda d, a: _two_moves(d, a, A, B), "PSM2": lambda d, a: _two_moves(d, a, B, A)},
        ends,
    )
    # each hand draws from its own random stream: side by side they take the longer time
    assert together == max(alone_1, alone_2)
    session = _session()
    try:
        for arm, first, then in (("PSM1", A, B), ("PSM2", B, A)):
            # the second move was planned from where the first really ended: the sum holds
            assert np.linalg.norm(ends[arm] - (_tip(session, arm) + first + then)) < 0.003
    finally:
        session.close()


def test_parallel_runs_repeat_bit_for_bit():
    def plan(d, a):
        _two_moves(d, a, A, B)

    n1, path1 = _run({"PSM1": plan, "PSM2": plan})
    n2, path2 = _run({"PSM1": plan, "PSM2": plan})
    assert n1 == n2 and np.array_equal(path1, path2)


def test_parallel_refuses_what_it_cannot_do_and_passes_errors_on():
    session = _session()
    try:
        demo = Demonstrator(session, "expert", seed=UNSEEN_SEED)
        with pytest.raises(SimError, match="branches may drive"):
            demo.parallel({"ECM": lambda: None})
        with pytest.raises(SimError, match="drives its own hand"):
            demo.parallel({"PSM1": lambda: demo.move_tip("PSM2", _tip(session, "PSM2"))})
        with pytest.raises(SimError, match="does not nest"):
            demo.parallel({"PSM1": lambda: demo.parallel({"PSM2": lambda: None})})
        with pytest.raises(SimError, match="does not nest"), demo.together():
            demo.parallel({"PSM1": lambda: None})

        def fails():
            demo.wait(0.02)
            raise ValueError("a plan's own error")

        done = []
        with pytest.raises(ValueError, match="own error"):
            demo.parallel({"PSM1": fails, "PSM2": lambda: (demo.wait(0.1), done.append(1))})
        assert done == [1]  # the other branch ran to its end
    finally:
        session.close()


def test_parallel_ends_when_the_session_runs_out_of_time():
    session = _session()
    try:
        demo = Demonstrator(session, "expert", seed=UNSEEN_SEED, time_limit_s=0.5)

        def forever(arm):
            while not demo.stopped:
                demo.wait(0.05)

        demo.parallel({"PSM1": lambda: forever("PSM1"), "PSM2": lambda: forever("PSM2")})
        assert 0.5 <= session.time_s < 0.6
    finally:
        session.close()


def test_a_servo_driven_arm_runs_beside_a_teleoperated_one():
    session = _session()
    try:
        demo = Demonstrator(session, "expert", seed=UNSEEN_SEED, servo=["PSM2"])
        start = {arm: _tip(session, arm) for arm in ("PSM1", "PSM2")}
        demo.parallel(
            {
                "PSM1": lambda: _two_moves(demo, "PSM1", A, B),
                "PSM2": lambda: (_two_moves(demo, "PSM2", B, A), demo.wait(0.2)),
            }
        )
        for arm in ("PSM1", "PSM2"):
            assert np.linalg.norm(_tip(session, arm) - (start[arm] + A + B)) < 0.003
        assert session.state().arms["PSM2"].operating_state == "SERVO"
    finally:
        session.close()


def test_an_arm_engaged_again_mid_block_turns_at_once():
    """A device process finds its arm held by the server while a together() block is
    collecting moves (it looks at the instrument before planning the next one) and turns
    the hand to engage it again: that turn runs now, and the block's moves after it,
    instead of ending the run with "two moves of PSM1 in one together() block" (seen in
    a two-process peg transfer on a starved server). Inside a parallel() branch only
    that branch's hand turns."""
    from haptics.operators import Reach

    session = _session()
    try:
        demo = Demonstrator(session, "expert", seed=UNSEEN_SEED)
        goal = _tip(session, "PSM1") + A

        def turn(arm):
            op = demo.operators[arm]
            return [Reach(tuple(op.virtual_hand_m), 0.004, tuple(map(tuple, np.eye(3))))]

        start = session.world.step_count
        with demo.together():
            demo.move_tip("PSM1", goal, 0.003)
            before = session.world.step_count
            demo.run_at_once({"PSM1": turn("PSM1")})
            assert session.world.step_count > before  # the turn ran inside the block
        assert np.linalg.norm(_tip(session, "PSM1") - goal) < 0.003  # the move after it
        assert session.world.step_count > start

        turned = []

        def branch_psm2():
            before = session.world.step_count
            demo.run_at_once({"PSM1": turn("PSM1"), "PSM2": turn("PSM2")})
            turned.append(session.world.step_count > before)

        demo.parallel({"PSM2": branch_psm2})
        assert turned == [True]
    finally:
        session.close()
