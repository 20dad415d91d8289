"""Needles through tissue: the drive geometry, entry/exit events, the tissue's hold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kinematics.transforms import axis_rotation, inverse
from scenarios.loader import load_scenario
from sim.session.demo import Demonstrator
from sim.session.plans import needles
from sim.session.plans.common import UP, release
from sim.session.session import Session


@pytest.mark.parametrize("gap_m", [0.006, 0.012, 0.016])
def test_drive_axis_puts_both_marks_on_the_needle_circle(gap_m):
    rng = np.random.default_rng(3)
    heading = rng.uniform(0, 2 * math.pi)
    entry = np.array([0.01, -0.02, 0.012])
    exit_ = entry + gap_m * np.array([math.cos(heading), math.sin(heading), 0.0])
    center, axis, sweep = needles.drive_axis(entry, exit_, 0.0085)
    assert np.linalg.norm(entry - center) == pytest.approx(0.0085)
    assert np.linalg.norm(exit_ - center) == pytest.approx(0.0085)
    assert center[2] > entry[2]  # the centre stays above the surface
    # turning the entry point by +sweep about the axis lands on the exit, through the tissue
    np.testing.assert_allclose(axis_rotation(axis, sweep) @ (entry - center) + center, exit_)
    midway = axis_rotation(axis, sweep / 2) @ (entry - center) + center
    assert midway[2] < entry[2]


@pytest.mark.parametrize("gap_m", [0.004, 0.006, 0.012, 0.016])
def test_the_lead_pose_holds_the_tip_the_stated_clearance_over_the_tissue(gap_m):
    """Whatever the marks' gap, the drive starts with the tip LEAD_CLEARANCE_M over the
    surface (a fixed lead angle left 0.36 mm with marks 4 mm apart), and its first step
    goes down into the tissue."""
    entry = np.array([0.01, -0.02, 0.012])
    exit_ = entry + np.array([0.0, gap_m, 0.0])
    center, axis, _ = needles.drive_axis(entry, exit_, 0.0085)
    # a needle lying in the drive's plane, held with the tool at its centre
    e1 = (entry - center) / np.linalg.norm(entry - center)
    arc = needles.Arc(center, 0.0085, e1, np.cross(axis, e1))
    X_WT = np.eye(4)
    X_WT[:3, 3] = center
    path = needles.drive_path(arc, X_WT, entry, exit_)
    tips = [X[:3, :3] @ (arc.point(0.0) - center) + X[:3, 3] for X in path]
    assert tips[0][2] - entry[2] == pytest.approx(needles.LEAD_CLEARANCE_M, abs=1e-9)
    assert tips[1][2] < tips[0][2] and all(t[2] < entry[2] for t in tips[2:5])


def test_marks_too_far_apart_for_the_needle_are_refused():
    with pytest.raises(ValueError, match="too far"):
        needles.drive_axis(np.zeros(3), np.array([0.02, 0.0, 0.0]), 0.0085)


@pytest.fixture
def suturing():
    session = Session(load_scenario("needle-tissue"), seed=0)
    yield session, Demonstrator(session, "expert", seed=0)
    session.close()


def _needle_events(session):
    return [e for e in session.trace().events if e.kind.startswith("needle_")]


def _grasp_for_the_drive(demo, driver: str):
    """``driver`` picks the needle up in a grasp it can drive it with from the first
    entry mark to the first exit mark; returns those marks (world, m)."""
    world = demo.session.world
    entry, exit_ = world.landmark("pad", "entry0"), world.landmark("pad", "exit0")
    a, R = needles.drivable_grasp(demo, driver, "pad/needle", entry, exit_, clearance_m=0.03)
    assert needles.grasp_needle(demo, driver, "pad/needle", a, orientations=[R])
    return entry, exit_


def test_a_needle_lying_on_the_pad_is_not_an_entry(suturing):
    session, demo = suturing
    demo.wait(1.0)
    assert _needle_events(session) == []
    # it rests on the (soft) pad instead of falling through it
    assert session.world.landmark("pad/needle", "middle")[2] > 0.012


def test_driving_the_needle_enters_and_exits_at_the_marks_and_tissue_holds_it(suturing):
    session, demo = suturing
    world = session.world
    driver = "PSM2"
    entry, exit_ = _grasp_for_the_drive(demo, driver)
    needles.drive_needle(demo, driver, "pad/needle", entry, exit_)
    events = _needle_events(session)
    assert [e.kind for e in events] == ["needle_entry", "needle_exit"]
    assert events[0].data["mark"] == "entry0" and events[1].data["mark"] == "exit0"
    assert all(e.data["distance_m"] < 0.002 and e.data["needle"] == "pad/needle" for e in events)
    assert session.runner.step_index == 2  # picked up, then passed
    # let go with the needle through the tissue: the tissue holds it where it is
    before = world.body_pose("pad/needle")
    release(demo, driver, "pad/needle", retreat_m=0.02)
    demo.wait(1.0)
    after = world.body_pose("pad/needle")
    assert np.linalg.norm(after[:3, 3] - before[:3, 3]) < 1e-3
    assert not any(e.kind == "drop" for e in session.trace().events)


def _lead_tip_clearance_m(world, X_WT, path, entry) -> float:
    """Height (m) of the needle's tip over the entry mark with the tool at the drive's
    lead pose ``path[0]``, for the needle held as it is now with the tool at ``X_WT``."""
    tip_T = inverse(X_WT) @ np.r_[world.landmark("pad/needle", "tip"), 1.0]
    return float((path[0] @ tip_T)[2] - entry[2])


def test_the_last_move_onto_the_lead_pose_is_short_enough_to_stay_above_the_tissue(
    suturing, monkeypatch
):
    """A hand overshoots and scatters in proportion to a move's length (the expert
    preset's ``overshoot_ratio`` and ``endpoint_error_ratio``, per metre: 3 sigma along
    the move) and trembles (3x its largest tremor rms). The move that ends on the lead
    pose must be short enough for all of that to stay within the ~1 mm the lead pose
    leaves between the tip and the tissue: a tip pushed in there and pulled back out by
    the correction punctures the tissue twice. Coming down 30 mm in one move (the plan
    before 7116d2d) could overshoot by 2.8 mm."""
    session, demo = suturing
    world = session.world
    entry, exit_ = world.landmark("pad", "entry0"), world.landmark("pad", "exit0")
    targets = []
    monkeypatch.setattr(demo, "move_tip", lambda arm, target_W, **_: targets.append(target_W))
    X_WT = session.arms["PSM2"].measured_cp("world")
    path = needles.drive_path(needles.needle_arc(world, "pad/needle"), X_WT, entry, exit_)
    needles.drive_needle(demo, "PSM2", "pad/needle", entry, exit_)
    onto = next(k for k, t in enumerate(targets) if np.allclose(t, path[0][:3, 3]))
    last_move_m = float(np.linalg.norm(targets[onto] - targets[onto - 1]))
    hand = demo.operators["PSM2"].profile
    along_m = last_move_m * (hand.overshoot_ratio + 3 * hand.endpoint_error_ratio / math.sqrt(3))
    worst_m = along_m + 3 * hand.tremor_rms_m[1]
    clearance_m = _lead_tip_clearance_m(world, X_WT, path, entry)
    assert clearance_m == pytest.approx(needles.LEAD_CLEARANCE_M, abs=1e-6)
    assert worst_m < clearance_m, f"{1e3 * worst_m:.2f} mm over {1e3 * clearance_m:.2f} mm"


def test_a_needle_drawn_back_out_of_its_entry_is_a_withdrawal_not_an_exit(suturing):
    """Pushed point first 1.5 mm into the tissue at the entry mark and pulled straight
    back up, the point leaves facing into the tissue: a withdrawal through the entry
    wound, which neither scores as an exit nor passes the needle; driven through
    afterwards, it enters again and exits at the exit mark."""
    session, demo = suturing
    world = session.world
    driver = "PSM2"
    entry, exit_ = _grasp_for_the_drive(demo, driver)
    X_WT = session.arms[driver].measured_cp("world")
    path = needles.drive_path(needles.needle_arc(world, "pad/needle"), X_WT, entry, exit_)
    lead, R_lead = path[0][:3, 3], path[0][:3, :3]
    clearance_m = _lead_tip_clearance_m(world, X_WT, path, entry)
    demo.move_tip(driver, X_WT[:3, 3] + 0.03 * UP)
    demo.move_tip(driver, lead + 0.03 * UP, rotation_W=R_lead)
    demo.move_tip(driver, lead + 0.005 * UP, rotation_W=R_lead)
    # 1.5 mm deep: three times the entry hysteresis, many times a 3 mm move's scatter
    demo.move_tip(driver, lead - (clearance_m + 1.5e-3) * UP, width_m=0.001, rotation_W=R_lead)
    demo.move_tip(driver, lead + 0.005 * UP, rotation_W=R_lead)
    events = _needle_events(session)
    assert [e.kind for e in events] == ["needle_entry", "needle_withdrawal"]
    assert events[1].data["mark"] == "entry0" and events[1].data["distance_m"] < 0.002
    assert session.runner.step_index == 1  # picked up; not passed
    needles.drive_needle(demo, driver, "pad/needle", entry, exit_)
    kinds = [e.kind for e in _needle_events(session)]
    assert kinds == ["needle_entry", "needle_withdrawal", "needle_entry", "needle_exit"]
    assert session.runner.step_index == 2
