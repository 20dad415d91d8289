"""Contacts classified by kind, with forces, and the tip force estimate."""

from __future__ import annotations

import numpy as np

from sim.world.contacts import INSTRUMENT_ENVIRONMENT, INSTRUMENT_INSTRUMENT, INSTRUMENT_OBJECT
from sim.world.scripted import R_DOWN, move_tool, pick

UP = np.array([0.0, 0.0, 1.0])


def test_instruments_touching_each_other_are_detected(world):
    assert world.contacts() == []
    meet = np.array([0.0, -0.03, 0.05])
    move_tool(world, "PSM2", np.add(meet, (-0.004, 0, 0)), 0.6, rotation=R_DOWN)
    move_tool(world, "PSM1", np.add(meet, (0.004, 0, 0)), 0.6, rotation=R_DOWN)
    move_tool(world, "PSM1", np.add(meet, (-0.01, 0, 0)), 0.4)  # push through PSM2's wrist
    clashes = [c for c in world.contacts() if c.kind == INSTRUMENT_INSTRUMENT]
    assert clashes, "no instrument-instrument contact while the wrists overlap"
    c = clashes[0]
    assert {c.instrument, c.other} == {"PSM2", "PSM1"}
    assert c.link.endswith("_link") and c.other_link.endswith("_link")
    assert sum(x.normal_force_n for x in clashes) > 0.0
    assert abs(np.linalg.norm(c.normal) - 1.0) < 1e-6
    forces = world.tip_forces()
    assert np.linalg.norm(forces["PSM2"]) > 0 and np.linalg.norm(forces["PSM1"]) > 0
    # each clash is reported once, not once per arm
    keys = [(x.instrument, x.link, x.other_link, tuple(x.position_m)) for x in clashes]
    assert len(keys) == len(set(keys))


def test_pressing_on_the_board_is_an_environment_contact_with_force(world):
    spot = np.add(world.landmark("board", "top"), (0.0, -0.045, 0.0))
    move_tool(world, "PSM2", spot + 0.03 * UP, 0.6, rotation=R_DOWN, jaw_rad=0.0)
    move_tool(world, "PSM2", spot + 0.006 * UP, 0.4)  # jaw tips 4 mm into the board
    world.step(200)
    contacts = [c for c in world.contacts() if c.kind == INSTRUMENT_ENVIRONMENT]
    assert contacts and {c.other for c in contacts} == {"board"}
    assert {c.link for c in contacts} <= {"jaw_left_link", "jaw_right_link"}
    force = world.tip_forces()["PSM2"]
    assert force[2] > 0.5, f"the board should push the jaws up, got {force} N"
    assert np.linalg.norm(world.tip_forces()["PSM1"]) == 0.0


def test_touching_a_ring_is_an_object_contact(world):
    top = world.landmark("board/ring2", "wall1")
    move_tool(world, "PSM2", top + 0.03 * UP, 0.6, rotation=R_DOWN, jaw_rad=0.0)
    move_tool(world, "PSM2", top + 0.008 * UP, 0.4)  # closed jaw tips 2 mm into the wall
    touching = [c for c in world.contacts() if c.kind == INSTRUMENT_OBJECT]
    assert touching and {c.other for c in touching} == {"board/ring2"}
    assert {c.instrument for c in touching} == {"PSM2"}
    assert world.tip_forces()["PSM2"][2] > 0.0


def test_a_held_ring_loads_the_tip_with_its_weight(world):
    pick(world, "PSM2", "board/ring0", wall=1)
    force = world.tip_forces()["PSM2"]
    np.testing.assert_allclose(force, (0.0, 0.0, -9.81 * 0.005), atol=1e-9)
    assert INSTRUMENT_OBJECT not in {c.kind for c in world.contacts()}  # no self-contact
