"""The exercise engine on a scripted stand-in for the world (a unit test of the engine)."""

from __future__ import annotations

import math

import numpy as np

from scenarios.loader import parse_scenario
from scenarios.script import ExerciseRunner
from scenarios.trace import TraceEvent

from .test_loader import VALID


class FakeWorld:
    """A world whose state the test sets directly."""

    arm_names = ("PSM1",)

    def __init__(self):
        self.time_s = 0.0
        self.positions = {
            "ring1": np.zeros(3),
            "board": np.zeros(3),
            "board:peg7": np.array([0.06, 0.0, 0.0]),
        }
        self.held = {}
        self.events = []
        self.tip = np.zeros(3)
        self.angle = 1.0

    def present(self, name):
        return name in self.positions

    def object_position(self, name):
        return self.positions[name]

    def object_speed(self, name):
        return 0.0

    def holders(self, name):
        return self.held.get(name, set())

    def tip_position(self, arm):
        return self.tip

    def camera_angle_to(self, name):
        return self.angle

    def graspable(self):
        return ["ring1"]

    def happened(self):
        out, self.events = self.events, []
        return out


SCRIPT = VALID.replace(
    "      done_when: {grasped: {object: ring1, by: PSM1}}\n",
    "      done_when: {grasped: {object: ring1, by: PSM1}}\n"
    "    - id: place\n"
    "      instruction: Put it on peg 7\n"
    '      done_when: {placed: {object: ring1, target: "board:peg7"}}\n',
).replace(
    "      do: [{message: Dropped}]\n",
    "      do: [{message: Dropped}]\n"
    "      repeat: true\n"
    "    - when: {time_elapsed_s: 5}\n"
    "      do: [{message: Hurry}]\n",
)
assert "- id: place" in SCRIPT and "Hurry" in SCRIPT


def _kinds(outcome):
    return [e.kind for e in outcome.events]


def test_steps_advance_on_state_and_complete():
    runner = ExerciseRunner(parse_scenario(SCRIPT, "s.yaml").exercise)
    world = FakeWorld()
    assert _kinds(runner.start(world)) == ["step_started"]
    out = runner.tick(world)
    assert _kinds(out) == ["message"]  # the at: 0 message
    world.time_s = 1.0
    world.held["ring1"] = {"PSM1"}
    out = runner.tick(world)
    assert _kinds(out) == ["step_done", "step_started"] and runner.current_step.id == "place"
    world.time_s = 2.0
    world.held.clear()
    world.positions["ring1"] = np.array([0.062, 0.001, 0.004])
    out = runner.tick(world)
    assert _kinds(out) == ["step_done", "completed"]
    assert runner.completed and runner.completion_time_s == 2.0


def test_events_fire_on_rising_edges_and_repeat():
    runner = ExerciseRunner(parse_scenario(SCRIPT, "s.yaml").exercise)
    world = FakeWorld()
    runner.start(world)
    runner.tick(world)
    messages = []
    for k in range(1, 8):
        world.time_s = float(k)
        if k in (2, 3):
            world.events = [TraceEvent(world.time_s, "drop", {"object": "ring1"})]
        messages += [e.data["text"] for e in runner.tick(world).events if e.kind == "message"]
    assert messages == ["Dropped", "Dropped", "Hurry"]  # repeat: every drop; Hurry once


def test_time_limit_fails_the_run():
    runner = ExerciseRunner(parse_scenario(SCRIPT, "s.yaml").exercise)
    world = FakeWorld()
    world.time_s = runner.exercise.time_limit_s
    out = runner.tick(world)
    assert runner.failed and "time limit" in runner.failed and "failed" in _kinds(out)


def _on_second_step(done_when: str, angle_rad: float = 1.0):
    """A runner whose second step is done when ``done_when`` holds, past its first step
    (the camera ``angle_rad`` off the board meanwhile)."""
    text = SCRIPT.replace(
        'done_when: {placed: {object: ring1, target: "board:peg7"}}', f"done_when: {done_when}"
    )
    runner = ExerciseRunner(parse_scenario(text, "s.yaml").exercise)
    world = FakeWorld()
    world.held["ring1"] = {"PSM1"}
    world.angle = angle_rad
    runner.tick(world)
    assert runner.current_step.id == "place"
    return runner, world


def test_centered_and_entered_triggers():
    runner, world = _on_second_step("{centered: {object: board, tolerance_deg: 5}}")
    world.angle = math.radians(4)
    runner.tick(world)
    assert runner.completed


def test_held_trigger_needs_the_state_to_last_without_a_break():
    runner, world = _on_second_step(
        "{held: {for_s: 1.0, trigger: {centered: {object: board, tolerance_deg: 5}}}}"
    )
    world.angle = math.radians(4)
    for t in (1.0, 1.5, 1.99):  # centred from 1.0 s: not yet held for 1 s
        world.time_s = t
        runner.tick(world)
    assert not runner.completed
    world.time_s, world.angle = 2.1, math.radians(6)  # drifts out: the dwell starts over
    runner.tick(world)
    world.angle = math.radians(4)
    for t in (2.2, 3.1):
        world.time_s = t
        runner.tick(world)
    assert not runner.completed
    world.time_s = 3.2
    runner.tick(world)
    assert runner.completed and runner.completion_time_s == 3.2


def test_held_inside_all_keeps_time_while_another_part_is_false():
    runner, world = _on_second_step(
        "{all: [{grasped: {object: ring1}}, "
        "{held: {for_s: 1.0, trigger: {centered: {object: board}}}}]}",
        angle_rad=math.radians(1),  # centred from the start: since 0 s
    )
    world.time_s, world.angle = 0.5, math.radians(20)
    world.held.clear()
    runner.tick(world)  # the first part is false: the break must still be seen
    world.time_s, world.angle = 1.2, math.radians(1)
    world.held["ring1"] = {"PSM1"}
    runner.tick(world)
    assert not runner.completed  # centred again only since 1.2 s


def test_handover_needs_the_receiver_alone():
    text = SCRIPT.replace(
        "{grasped: {object: ring1, by: PSM1}}", "{grasped: {object: ring1, by: PSM1, only: true}}"
    )
    runner = ExerciseRunner(parse_scenario(text, "s.yaml").exercise)
    world = FakeWorld()
    world.held["ring1"] = {"PSM1", "PSM2"}
    runner.tick(world)
    assert runner.current_step.id == "lift"  # both still hold it
    world.held["ring1"] = {"PSM1"}
    runner.tick(world)
    assert runner.current_step.id == "place"


def test_the_last_steps_own_events_run_before_the_end():
    """``when: {step_completed: <last step>}`` had no next tick to fire in: the run ended
    at completion first (the probe's c-foreign-body: stop_timer, remove, message lost)."""
    text = SCRIPT.replace(
        "    - when: {time_elapsed_s: 5}\n",
        "    - when: {step_completed: place}\n"
        "      do: [{stop_timer: total}, {remove: ring1}, {message: Well done}]\n"
        "    - when: {time_elapsed_s: 5}\n",
    )
    runner = ExerciseRunner(parse_scenario(text, "s.yaml").exercise)
    world = FakeWorld()
    runner.start(world)
    runner.tick(world)
    world.time_s = 1.0
    world.held["ring1"] = {"PSM1"}
    runner.tick(world)
    world.time_s = 2.0
    world.held.clear()
    world.positions["ring1"] = np.array([0.062, 0.001, 0.004])
    out = runner.tick(world)
    assert _kinds(out) == ["step_done", "timer_stopped", "message", "completed"]
    assert [a.remove for a in out.actions] == ["ring1"]  # carried out by the session
    assert runner.completed and runner.completion_time_s == 2.0
    world.time_s = 2.5
    assert _kinds(runner.tick(world)) == []  # once: nothing fires again after the end
