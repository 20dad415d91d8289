"""Needles through tissue: the drive geometry, entry/exit events, the tissue's hold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kinematics.transforms import axis_rotation
from scenarios.loader import load_scenario
from sim.session.demo import Demonstrator
from sim.session.plans import needles
from sim.session.plans.common import release
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


def test_a_needle_lying_on_the_pad_is_not_an_entry(suturing):
    session, demo = suturing
    demo.wait(1.0)
    assert _needle_events(session) == []
    # it rests on the (soft) pad instead of falling through it
    assert session.world.landmark("pad/needle", "middle")[2] > 0.012


def test_driving_the_needle_enters_and_exits_at_the_marks_and_tissue_holds_it(suturing):
    session, demo = suturing
    world = session.world
    entry, exit_ = world.landmark("pad", "entry0"), world.landmark("pad", "exit0")
    driver = "PSM2"
    a, R = needles.drivable_grasp(demo, driver, "pad/needle", entry, exit_, clearance_m=0.03)
    assert needles.grasp_needle(demo, driver, "pad/needle", a, orientations=[R])
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
