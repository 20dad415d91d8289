"""Peg transfer, run headless end to end: the expert finishes all twelve transfers; a
novice on the same seed scores lower. The grip geometry leaves margin for the hand's
scatter; the plan picks up a ring from wherever it lies, and says so when it cannot; the
two hands work at the same time. (Whether the synthetic expert passes is the synthetic
operators' concern: the rubric is FLS's, with its 48 s proficiency target, and is not set
to pass them.)"""

from __future__ import annotations

import numpy as np
import pytest

from kinematics import solve_ik
from kinematics.transforms import pose
from scenarios.loader import load_scenario
from sim.errors import SimError
from sim.session.demo import Demonstrator
from sim.session.plans import peg_transfer as plan
from sim.session.session import Session
from sim.world.scripted import hold, move_tool
from tests.sim.session.test_scenario_robustness import UNSEEN_SEED, UNSEEN_SEEDS


@pytest.fixture
def expert(headless_run):
    return headless_run("peg-transfer", "expert", UNSEEN_SEED)


def test_expert_transfers_all_six_rings_across_and_back(expert):
    assert expert.trace.completed
    steps = [e.data["step"] for e in expert.trace.events if e.kind == "step_started"]
    assert len(steps) == 12
    assert expert.metrics["drops"] == 0
    # the hand stays in a workspace a person can reach, clutching in strokes
    assert expert.metrics["master_workspace_range_cm"] < 20
    assert expert.metrics["clutch_count"] > 12


@pytest.mark.slow
def test_novice_scores_below_expert(expert, headless_run):
    novice = headless_run("peg-transfer", "novice", UNSEEN_SEED)
    assert novice.result.score < expert.result.score


@pytest.mark.slow
@pytest.mark.parametrize("seed", UNSEEN_SEEDS[1:3])
def test_expert_passes_the_fls_rubric_and_the_novice_is_slower_and_less_economical(
    headless_run, seed
):
    """Issue 14 on seeds nothing was tuned on: the expert passes the FLS-anchored rubric
    (unchanged) with no drop, inside the FLS exam's mean + 1 SD (115 s); the novice takes
    longer, moves its instruments further for each step of the exercise it gets done
    (economy of motion: path per unit of work), and scores lower.

    Path per step, not the total: a novice stuck after 10 drops, out of time with 4 of 12
    steps done, had moved 515 cm to the expert's 564 cm for all 12 (seed 536 on one
    machine; 129 against 47 cm a step), and the total compared a third of the task with
    all of it."""
    expert = headless_run("peg-transfer", "expert", seed)
    novice = headless_run("peg-transfer", "novice", seed)
    assert expert.trace.completed and expert.metrics["drops"] == 0
    assert expert.result.passed
    assert expert.metrics["completion_time_s"] < 115.0
    assert novice.sim_time_s > 1.5 * expert.sim_time_s
    assert _path_per_step_cm(novice) > _path_per_step_cm(expert)
    assert novice.result.score < expert.result.score


def _path_per_step_cm(run) -> float:
    """Tool-tip path (cm) per exercise step done (an unfinished run counts what it did)."""
    done = sum(1 for e in run.trace.events if e.kind == "step_done")
    return run.metrics["path_length_cm"] / max(done, 1)


@pytest.mark.slow
def test_the_expert_is_faster_than_the_old_plan_ever_was_on_unseen_seeds(headless_run):
    """Issue 14, the expert's time (bench/RESULTS.md, "Issue 14: expert peg transfer
    time"): 88.2-91.8 s, mean 89.8, on seeds 60-79 run once (101.7-113.8 s before, seeds
    0-39, mean ~105.5). Here, on three seeds nobody tuned on: no drop, the mean well
    under the old plan's fastest run in 40 seeds (101.7 s) and each run under it, with
    room for a missed grasp or two on a machine whose last bits differ (a miss costs
    ~2-8 s)."""
    times = []
    for seed in UNSEEN_SEEDS[:3]:
        run = headless_run("peg-transfer", "expert", seed)
        assert run.trace.completed and run.metrics["drops"] == 0
        times.append(run.metrics["completion_time_s"])
    assert np.mean(times) < 94.0, times
    assert max(times) < 101.7, times


def _first_reachable(world, arm: str, grips) -> plan.Grip:
    a = world.arm(arm)
    for g in grips:
        ok = [
            solve_ik(a.chain, a.X_RW @ pose(g.R_W, p), a.goal_js(), restarts=20).success
            for p in (g.tip_W + g.approach_W, g.tip_W)
        ]
        if all(ok):
            return g
    raise AssertionError(f"{arm} reaches no grip")


@pytest.mark.parametrize("across_mm, along_mm", [(0, 0), (-0.5, 0), (0.5, 0), (0, -0.5), (0, 0.5)])
def test_jaws_come_down_around_a_wall_with_room_for_the_hands_scatter(world, across_mm, along_mm):
    """The operator aims the jaws within 0.3 mm (half ``AIM_WIDTH_M``); coming down
    0.5 mm off, across the wall or along it, the open fingers still pass round the wall,
    the peg and the next wall without touching them, and closing grasps the ring."""
    ring, arm = "board/ring1", "PSM2"  # PSM2 (the left hand) works on the left pegs
    grip = _first_reachable(world, arm, plan.ring_grips(world, ring))
    start = world.landmark(ring, "center")
    tilt0 = world.body_pose(ring)[:3, 2].copy()
    touched = []

    def watch(w):
        for c in w.contacts():
            if c.instrument == arm and c.other in (ring, "board") and c.normal_force_n > 0:
                touched.append((round(w.time_s, 3), c.link, c.other))

    approach = grip.tip_W + grip.approach_W
    move_tool(world, arm, approach, 0.8, rotation=grip.R_W, jaw_rad=plan.RING_JAW_OPEN_RAD)
    hold(world, 0.2)
    off = grip.tip_W + 1e-3 * (across_mm * grip.R_W[:, 1] + along_mm * grip.R_W[:, 0])
    move_tool(world, arm, off, 0.6, on_step=watch)
    hold(world, 0.1)
    assert touched == []
    assert np.linalg.norm(world.landmark(ring, "center") - start) < 2e-4
    assert world.body_pose(ring)[:3, 2] @ tilt0 > np.cos(np.radians(1.0))
    hold(world, 0.6, arm, -0.3)
    assert [(e.kind, e.arm, e.object) for e in world.pop_events()] == [("grasp", arm, ring)]


def test_the_waiting_jaws_are_above_the_pegs(world):
    """Moving in from afar, the jaws wait with their fingertips 15 mm over the peg tops:
    a long reach lands a few millimetres off (measured: 5 mm low)."""
    peg_top = world.landmark("board", "peg0")[2]
    for ring in ("board/ring0", "board/ring3"):
        for g in plan.ring_grips(world, ring):
            waiting_tip = g.tip_W + g.approach_W
            assert waiting_tip[2] - 0.010 >= peg_top + 0.015 - 1e-9


def _session():
    return Session(load_scenario("peg-transfer"), seed=UNSEEN_SEED)


def test_a_ring_lying_off_its_peg_is_picked_up_where_it_lies_and_placed():
    session = _session()
    try:
        world = session.world
        demo = Demonstrator(session, "expert", seed=UNSEEN_SEED)
        left, right = sorted(session.driven, key=lambda a: session.arms[a].X_WR[0, 3])
        ring = world.body_id("board/ring0")
        # knocked off peg 0 onto the board, turned: the plan must look, not remember
        yaw = np.radians(25.0)
        world.pb.resetBasePositionAndOrientation(
            ring,
            (-0.07, -0.02, world.landmark("board", "top")[2] + 0.0031),
            (0.0, 0.0, np.sin(yaw / 2), np.cos(yaw / 2)),
            physicsClientId=world.client,
        )
        world.step(100)
        assert plan.peg_under(world, "board/ring0") is None
        assert plan.transfer_ring(demo, 0, 6, giver=left, taker=right)
        demo.wait(0.5)
        assert plan.on_peg(demo, "board/ring0", "peg6")
        assert session.runner.step_index == 1  # the exercise saw ring 1 on peg 7
        assert not [e for e in session.trace().events if e.kind == "drop"]
    finally:
        session.close()


def test_a_ring_out_of_reach_is_given_up_with_a_note_not_silently():
    session = _session()
    try:
        world = session.world
        demo = Demonstrator(session, "expert", seed=UNSEEN_SEED)
        left, right = sorted(session.driven, key=lambda a: session.arms[a].X_WR[0, 3])
        world.pb.resetBasePositionAndOrientation(
            world.body_id("board/ring0"),
            (0.0, 0.5, 0.01),
            (0.0, 0.0, 0.0, 1.0),
            physicsClientId=world.client,
        )
        assert not plan.transfer_ring(demo, 0, 6, giver=left, taker=right)
        said = " ".join(message for _, message in demo.notes)
        assert "cannot reach" in said and "gave up on board/ring0" in said
    finally:
        session.close()


def test_a_grip_that_is_gone_when_the_jaws_go_in_is_a_noted_miss_not_a_crash():
    """The ring may move under jaws aiming at it (nudged on its peg, the peg then stands
    where the inner finger would go: a novice's run once crashed there). The attempt is
    a miss: noted, the jaws back off open along the approach, and ``take`` looks again."""
    session = _session()
    try:
        demo = Demonstrator(session, "expert", seed=UNSEEN_SEED)
        left = min(session.driven, key=lambda a: session.arms[a].X_WR[0, 3])
        ring = "board/ring0"
        grip = plan.best_grips(demo, left, ring, [0, 1, 2])[0]
        looks = []

        def tip_at():
            looks.append(session.time_s)
            if len(looks) > 4:  # gone by the time the jaws go in from over the wall
                raise plan.GripGoneError(f"{ring} moved")
            return grip.tip_W

        assert not plan.close_on_wall(demo, left, ring, grip, tip_at)
        assert len(looks) == 5
        assert any(f"{ring} moved" in message for _, message in demo.notes)
        tip = session.tip_target_W(left)[:3, 3]
        np.testing.assert_allclose(
            tip, grip.tip_W - plan.HOVER_M * grip.R_W[:, 2] + grip.approach_W, atol=0.003
        )
        assert session.arms[left].measured_jaw() > plan.RING_JAW_OPEN_RAD - 0.1
        assert left not in session.holders(ring)
    finally:
        session.close()


def test_jaws_that_do_not_let_go_at_the_asked_opening_open_fully():
    """A ring grasped while a clash pried the fingers apart is held wider than the 0.7 rad
    a placing hand opens to: the hand opens fully after a second (noted) and lets go."""
    session = _session()
    try:
        demo = Demonstrator(session, "expert", seed=UNSEEN_SEED)
        left = min(session.driven, key=lambda a: session.arms[a].X_WR[0, 3])
        ring = "board/ring0"
        assert plan.take(demo, left, ring, [0, 1, 2])
        session.arms[left].jaw_hold_rad = 1.2  # as a pried grasp would have it
        plan.open_jaws(demo, left, ring, plan.RING_JAW_OPEN_RAD)
        assert left not in session.holders(ring)
        assert any("opens fully" in message for _, message in demo.notes)
    finally:
        session.close()


def _reach_steps(arms_targets: dict) -> int:
    """Physics steps a fresh session takes to move the given arms to their targets in
    one together() block."""
    session = _session()
    try:
        demo = Demonstrator(session, "expert", seed=UNSEEN_SEED)
        start = session.world.step_count
        goals = {a: session.tip_target_W(a)[:3, 3] + d for a, d in arms_targets.items()}
        with demo.together():
            for arm, goal in goals.items():
                demo.move_tip(arm, goal, 0.003)
        for arm, goal in goals.items():
            assert np.linalg.norm(session.tip_target_W(arm)[:3, 3] - goal) < 0.003
        return session.world.step_count - start
    finally:
        session.close()


def test_two_hands_move_at_the_same_time():
    a, b = {"PSM1": np.array([0.0, 0.02, 0.01])}, {"PSM2": np.array([-0.02, 0.0, 0.01])}
    alone_a, alone_b = _reach_steps(a), _reach_steps(b)
    # each hand draws from its own random stream: together they take the longer time
    assert _reach_steps({**a, **b}) == max(alone_a, alone_b)


def test_together_refuses_what_it_cannot_do():
    session = _session()
    try:
        demo = Demonstrator(session, "expert", seed=UNSEEN_SEED)
        with pytest.raises(SimError, match="do not nest"), demo.together(), demo.together():
            pass
        with pytest.raises(SimError, match="two moves of PSM1"), demo.together():
            demo.move_tip("PSM1", session.tip_target_W("PSM1")[:3, 3])
            demo.move_tip("PSM1", session.tip_target_W("PSM1")[:3, 3])
        with pytest.raises(SimError, match="cannot wait"), demo.together():
            demo.until(lambda: True, timeout_s=1.0)
    finally:
        session.close()


@pytest.mark.parametrize("arm, pegs", [("PSM1", range(6, 12)), ("PSM2", range(0, 6))])
def test_grips_keep_the_shaft_off_the_pegs(arm, pegs):
    """Holding a ring by the wall facing its port, an upright tool's wrist leans back
    over the ring's own peg: on the outer pegs the shaft came down on the peg top and
    the jaws stopped short of the wall (a missed grasp). Grips are kept only with the
    shaft clear of every peg and the board; each peg still has a grip for its hand."""
    session = _session()
    try:
        world = session.world
        demo = Demonstrator(session, "expert", seed=UNSEEN_SEED)
        spec = plan.board_spec(world, "board/ring0")
        side = 1.0 if arm == "PSM1" else -1.0
        rejected = 0
        for k in pegs:
            ring = f"board/ring{k % 6}"
            X = world.body_pose(ring).copy()
            X[:2, 3] = world.landmark("board", f"peg{k}")[:2]
            grips = plan.ring_grips(world, ring, plan._walls_facing(demo, ring, side), None, X)
            kept = plan.reachable_grips(demo, arm, grips, spec)
            assert kept, f"{arm} has no grip on a ring on peg {k}"
            for g in kept:
                q = plan.grip_q(demo, arm, g)
                assert plan.shaft_clearance_m(demo, arm, q, spec) >= plan.SHAFT_CLEARANCE_M
            qs = [q for q in (plan.grip_q(demo, arm, g) for g in grips) if q is not None]
            rejected += sum(
                plan.shaft_clearance_m(demo, arm, q, spec) < plan.SHAFT_CLEARANCE_M for q in qs
            )
        assert rejected  # IK alone would have tried some of them
    finally:
        session.close()


def test_a_grip_is_judged_by_the_carry_it_has_to_make():
    """The giver's grip is chosen for the carry to the handover too: a wrist that meets
    its limit on the way stalls there (the arm holds short and the taker misses). No
    carry is always possible from a reachable grip; a carry out of the workspace never."""
    session = _session()
    try:
        world = session.world
        demo = Demonstrator(session, "expert", seed=UNSEEN_SEED)
        ring = "board/ring0"
        spec = plan.board_spec(world, ring)
        center = world.landmark(ring, "center")
        grips = plan.reachable_grips(demo, "PSM2", plan.ring_grips(world, ring), spec)
        assert grips
        for g in grips:
            assert plan.carries_to(demo, "PSM2", ring, g, center)
            assert not plan.carries_to(demo, "PSM2", ring, g, center + np.array([0.0, 0.0, 0.3]))
    finally:
        session.close()


def test_every_step_names_its_pegs_by_where_they_are_as_the_endoscope_sees_them():
    """A probe student read "Lift ring 1 from peg 1 ... place it on peg 7" over a view
    that numbers nothing. Each step now names the peg by its row (front: nearest the
    endoscope) and its side in the pair; the words are checked against the board's peg
    positions and the step's target peg (the ring starts, and ends, on the same spot in
    the other group)."""
    from scenarios.loader import resolve
    from sim.world.boards import peg_positions
    from sim.world.scene import PegBoardSpec

    spec = PegBoardSpec()
    scenario = load_scenario(resolve("peg-transfer"))
    ecm = next(a for a in scenario.scene.arms if a.name == "ECM")
    assert ecm.port.position_m[1] < 0  # the endoscope looks from -y: the -y row is front

    def spot(peg: int) -> str:
        x, y = peg_positions(spec)[peg]
        row = {-1: "front", 0: "middle", 1: "back"}[round(y / spec.peg_spacing_m)]
        side = "left" if x < np.sign(x) * spec.group_offset_m else "right"
        return f"{row}-{side}"

    for step in scenario.exercise.steps:
        target = int(step.done_when.placed.target.removeprefix("board:peg"))
        assert not any(ch.isdigit() for ch in step.instruction), step.instruction
        assert f"{spot(target)} peg" in step.instruction, (step.id, spot(target))
        group = "left" if target >= 6 else "right"  # the ring comes from the other group
        assert f"{group} group's {spot(target)} peg" in step.instruction, step.instruction
