"""Controllers: the interface, the runner, the two reference controllers, loading by
name and ``surgisim run --controller``. Real pybullet."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from scenarios.archive import ending_of
from scenarios.loader import load_scenario
from scenarios.records import ENDINGS, NOT_ATTEMPTS
from sim.cli import app
from sim.errors import SimError
from sim.session.commands import ArmCommand
from sim.session.controllers import (
    Controller,
    ScriptedController,
    TipTracker,
    load_controller,
    run_controller,
)


@pytest.fixture(scope="module")
def handover():
    return load_scenario("needle-handover")


def test_the_scripted_plan_as_a_controller_is_the_headless_run_bit_for_bit(handover, headless_run):
    expected = headless_run("needle-handover", "expert", 0)
    got = run_controller(handover, ScriptedController("expert"), seed=0)
    for arm, trace in expected.trace.instruments.items():
        np.testing.assert_array_equal(
            got.trace.instruments[arm].tip_position_m, trace.tip_position_m
        )
    assert [e.kind for e in got.trace.events] == [e.kind for e in expected.trace.events]
    assert got.result == expected.result and got.metrics == expected.metrics


def test_a_headless_runs_following_events_claim_no_alignment_past_the_gate(handover):
    """A headless run's teleoperation has no alignment gate (the synthetic hands start at
    the identity): its FOLLOWING events, which the report lists, must say so rather than
    "hand aligned with the tool within 128.5°" while the gate is 10°."""
    import re

    steps = iter(range(400))
    outcome = run_controller(
        handover, ScriptedController("expert"), seed=0, stop=lambda: next(steps, None) is None
    )
    following = [e for e in outcome.trace.events if e.kind == "following"]
    assert following
    for event in following:
        detail = event.data["detail"]
        angle = float(re.search(r"([0-9.]+)°", detail).group(1))
        if "aligned" in detail:  # a gate judged it: within the gate
            assert angle <= 10.0, detail
        else:
            assert "no alignment gate" in detail, detail


def test_the_tracker_brings_each_tip_to_its_goal_from_the_state_alone(handover):
    tracker = TipTracker()
    seen = []

    class Watch:
        name = "watch"

        def reset(self, scenario, seed):
            tracker.reset(scenario, seed)

        def act(self, state):
            seen.append(state)
            return tracker.act(state)

    outcome = run_controller(handover, Watch(), seed=4)
    assert isinstance(tracker, Controller)
    assert set(tracker.goals) == {"PSM1", "PSM2"}
    last = seen[-1]
    for arm, goal in tracker.goals.items():
        assert np.linalg.norm(last.arms[arm].X_WT[:3, 3] - goal) <= tracker.tolerance_m
        assert last.arms[arm].operating_state == "SERVO"
    # two instruments sent to one object stay apart
    assert np.linalg.norm(tracker.goals["PSM1"] - tracker.goals["PSM2"]) > 0.02
    assert outcome.sim_time_s < 10.0 and not outcome.result.completed  # it ended itself


def test_a_controller_that_returns_none_ends_the_run_and_is_still_scored(handover):
    class Stop:
        name = "stop"

        def reset(self, scenario, seed):
            self.calls = 0

        def act(self, state):
            self.calls += 1
            return None if self.calls > 50 else {"PSM1": ArmCommand(jaw_rad=0.2)}

    outcome = run_controller(handover, Stop(), seed=0)
    assert outcome.trace.time_s[-1] == pytest.approx(0.1, abs=0.011)  # 50 steps at 500 Hz
    assert outcome.result.score is not None
    # the controller ended it, not the scenario (it read "FAIL (ended by the scenario)"
    # with no failed event), nor the user (then "FAIL (stopped by the user)", no attempt):
    # the operator gave up, a failed attempt
    assert not outcome.interrupted  # not the user's Ctrl-C: no exit code 130
    assert not outcome.trace.events_of("interrupted")
    reason = "the controller ended the run before the exercise did"
    assert [e.data["reason"] for e in outcome.trace.events_of("gave_up")] == [reason]
    assert outcome.trace.failure == reason
    assert ending_of(outcome.trace, outcome.interrupted) == "gave_up"
    assert "gave_up" not in NOT_ATTEMPTS and ENDINGS["gave_up"] == "gave up"


class Raising:
    """A controller with a bug of its own, in ``act`` after a few steps or at the start."""

    name = "buggy"

    def __init__(self, on_step: int | None = 3):
        self.on_step = on_step

    def reset(self, scenario, seed):
        self.calls = 0
        if self.on_step is None:
            raise KeyError("gains")

    def act(self, state):
        self.calls += 1
        if self.calls > self.on_step:
            raise ValueError("my bug")
        return {}


@pytest.mark.parametrize(
    "on_step, said",
    [(3, r"'buggy' raised ValueError at 0\.006 s: my bug"), (None, "KeyError while starting")],
)
def test_a_controller_that_raises_is_blamed_not_the_simulator(handover, on_step, said):
    """The CLI printed "unexpected ValueError ... please report it" for a bug in the
    user's own controller: it now says whose the error is, and keeps it as the cause."""
    with pytest.raises(SimError, match=said) as caught:
        run_controller(handover, Raising(on_step), seed=0)
    assert isinstance(caught.value.__cause__, ValueError | KeyError)
    again = pickle.loads(pickle.dumps(caught.value))  # crosses to a sweep's Ray driver
    assert str(again) == str(caught.value) and type(again.cause) is type(caught.value.cause)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("no_colon", "package.module:factory"),
        ("sim.nope:make", "cannot be imported"),
        ("sim.session.controllers:trackr", "tracker"),
        ("sim.session.controllers:run_driven", "without arguments"),
        ("builtins:dict", "without \\['reset', 'act'\\]"),
    ],
)
def test_loading_a_controller_says_what_is_wrong(spec, message):
    with pytest.raises(SimError, match=message):
        load_controller(spec)


def test_run_with_a_controller_stores_it_as_the_operator(tmp_path):
    db = f"sqlite:///{tmp_path / 'records.sqlite'}"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "needle-handover",
            "--seed",
            "2",
            "--controller",
            "sim.session.controllers:tracker",
            "--db",
            db,
            "--report",
            str(tmp_path / "r.html"),
            "--json",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    import json

    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["operator"] == "tip-tracker" and payload["completed"] is False
    shown = CliRunner().invoke(app, ["trainee", "show", "demo", "--db", db])
    assert "tip-tracker" in shown.output


def test_run_with_an_unknown_controller_fails_cleanly():
    result = CliRunner().invoke(app, ["run", "needle-handover", "--controller", "nope:make"])
    assert result.exit_code == 2 and "cannot be imported" in result.output


def test_a_scripted_plan_that_runs_out_gave_up_and_says_at_which_step():
    """A bundled plan on an author's scope tour ran out at 5 s: the report said "stopped
    by the user", proficiency left it out, and nothing named the step it could not do."""
    from scenarios.loader import parse_scenario, resolve

    text = resolve("camera-targeting").read_text()
    extra = (
        "    - id: look-around\n      instruction: Look around.\n"
        "      done_when: {time_elapsed_s: 170}\n"
    )
    scenario = parse_scenario(text.replace("  events:\n", extra + "  events:\n", 1), "tour.yaml")
    assert scenario.exercise.steps[-1].id == "look-around"
    controller = ScriptedController("expert", grace_s=0.5)
    outcome = run_controller(scenario, controller, seed=2205)
    assert not outcome.trace.completed and not outcome.interrupted
    assert outcome.sim_time_s < 160  # the plan ended, not the exercise's time limit
    reason = outcome.trace.failure
    assert reason == controller.ended_because
    assert reason.startswith("the expert operator's plan ended before the exercise did")
    assert "step 7 of 7, 'look-around'" in reason
    assert ending_of(outcome.trace, outcome.interrupted) == "gave_up"
