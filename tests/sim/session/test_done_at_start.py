"""Exercise steps done before anyone moves (``sim.session.done_at_start``): the auditor's
one-step drill, whose ``entered`` region sat around the tip's starting position, validated
"ok" and then completed at 0 s, 100 PASS, a qualifying attempt."""

from __future__ import annotations

import re

import pytest

from scenarios.loader import LIBRARY, library_names, load_scenario, parse_scenario
from sim.session.done_at_start import steps_done_at_start
from sim.session.session import Session
from sim.world.scene import OBJECT_TYPES

PEG = (LIBRARY / "peg-transfer.yaml").read_text()
SEED = 4300


def _line_of(text: str, needle: str) -> int:
    return next(i + 1 for i, line in enumerate(text.splitlines()) if needle in line)


def _one_step(center_m) -> str:
    """Peg transfer cut to one step: PSM1's tip inside a 1 cm sphere around ``center_m``."""
    steps = re.search(r"  steps:\n(    - .*\n|      .*\n)+", PEG)
    x, y, z = (f"{v:.4f}" for v in center_m)
    one = (
        "  steps:\n"
        "    - id: touch\n"
        "      instruction: Touch the marked spot with the right instrument.\n"
        "      done_when: {entered: {instrument: PSM1, region: "
        f"{{center_m: [{x}, {y}, {z}], radius_m: 0.01}}}}}}\n"
    )
    return PEG[: steps.start()] + one + PEG[steps.end() :]


def _tip_start() -> list[float]:
    with Session(load_scenario("peg-transfer"), seed=SEED) as session:
        return list(session.arms["PSM1"].measured_cp("world")[:3, 3])


def test_a_region_around_the_tips_start_is_done_at_once_and_said_at_the_step():
    text = _one_step(_tip_start())
    scenario = parse_scenario(text, "touch.yaml", object_types=OBJECT_TYPES)
    (warning,) = steps_done_at_start(scenario, seed=SEED)
    assert (warning.file, warning.line) == ("touch.yaml", _line_of(text, "- id: touch"))
    assert "exercise.steps[0] (touch): done at 0 s with nobody moving" in warning.message
    assert "completes at once" in warning.message and "qualifying attempt" in warning.message
    assert "move an entered region away from the tip's starting position" in warning.message


def test_a_region_the_tip_must_reach_is_no_warning():
    x, y, z = _tip_start()
    scenario = parse_scenario(_one_step([x - 0.04, y, z - 0.03]), object_types=OBJECT_TYPES)
    assert steps_done_at_start(scenario, seed=SEED) == []


def test_a_first_step_done_at_the_start_of_a_longer_exercise_is_said_at_that_step():
    """Ring 1 'placed' on peg 1, where it starts: the first of twelve steps is free."""
    old = 'done_when: {placed: {object: "board/ring0", target: "board:peg6"}}'
    text = PEG.replace(old, 'done_when: {placed: {object: "board/ring0", target: "board:peg0"}}')
    assert text != PEG
    (warning,) = steps_done_at_start(parse_scenario(text, "free.yaml"), seed=SEED + 1)
    assert warning.line == _line_of(text, "- id: across-1")
    assert "(across-1): done at 0 s" in warning.message
    assert "told it is done before doing it" in warning.message


@pytest.mark.parametrize("name", library_names())
def test_no_bundled_step_is_done_at_the_start(name):
    assert steps_done_at_start(load_scenario(name, object_types=OBJECT_TYPES), seed=SEED) == []


def test_objects_that_fall_with_nobody_touching_them_are_a_warning_at_their_entry():
    """A 1 cm board (the rings beside it, in the air) and gravity pointing up both
    validated "ok" (the idle check ran 0.02 s), and an idle run booked 31 and 3 drops.
    The idle session now runs a simulated second and measures every object's drift."""
    from scenarios.lint import implausible_gravity
    from sim.session.done_at_start import SETTLE_S, start_warnings, unsettled_objects

    assert unsettled_objects(load_scenario("peg-transfer")) == []
    tiny = PEG.replace(
        "      type: peg_board\n",
        "      type: peg_board\n      params: {board_size_m: [0.01, 0.01, 0.008]}\n",
        1,
    )
    (warning,) = unsettled_objects(parse_scenario(tiny, "tiny.yaml"))
    assert warning.line == _line_of(tiny, "- id: board")
    assert "6 of its bodies, 'board/ring" in warning.message
    assert f"in the first {SETTLE_S:g} s with nobody touching it" in warning.message
    assert "counted as dropped (left workspace)" in warning.message

    up = PEG.replace("  objects:\n", "  gravity_m_s2: [0, 0, 9.81]\n  objects:\n", 1)
    scenario = parse_scenario(up, "up.yaml")
    (lint,) = implausible_gravity(scenario)
    assert lint.line == _line_of(up, "gravity_m_s2") and "it points up" in lint.message
    assert any(
        "'board/ring" in w.message and "moves" in w.message for w in start_warnings(scenario)
    )
    for name in library_names():
        assert implausible_gravity(load_scenario(name)) == []


@pytest.mark.parametrize(
    "gravity, words",
    [
        ("[0, 0, -98.1]", "far from Earth's 9.81"),
        ("[9.81, 0, 0]", "sideways"),
        ("[0, 0, 0]", "no gravity"),
    ],
)
def test_gravity_that_looks_like_a_slip_is_a_warning(gravity, words):
    from scenarios.lint import implausible_gravity

    text = PEG.replace("  objects:\n", f"  gravity_m_s2: {gravity}\n  objects:\n", 1)
    (lint,) = implausible_gravity(parse_scenario(text, "g.yaml"))
    assert words in lint.message


def _move_ring_at(at_s: float, z_m: float) -> str:
    """Peg transfer with an event that moves ring 0 to the board's centre at ``at_s``."""
    text = PEG.replace(
        "  events:\n",
        f"  events:\n    - at: {at_s}\n      do: [{{move: {{object: board/ring0, "
        f"pose: {{position_m: [0.0, 0.0, {z_m}]}}}}}}]\n",
        1,
    )
    assert text != PEG
    return text


def test_an_object_the_scenario_moves_is_measured_from_where_the_move_put_it():
    """The instructor's finding: a ``move`` of a ring onto the board at 0.5 s read "moves
    98 mm in the first 1 s with nobody touching it ... put it on something". Its drift is
    now measured from where the action put it: resting there is no warning, and a ring
    moved into the air (it falls) still is, naming the action."""
    from sim.session.done_at_start import unsettled_objects

    on_board = parse_scenario(_move_ring_at(0.5, 0.011), "move.yaml")
    assert unsettled_objects(on_board) == []
    text = _move_ring_at(0.5, 0.06)
    (warning,) = unsettled_objects(parse_scenario(text, "air.yaml"))
    assert warning.line == _line_of(text, "- id: board")
    assert "'board/ring0' (from where the move or spawn at 0.5 s put it) moves" in warning.message
    assert "Nothing holds it where that action puts it" in warning.message
