"""Scenario actions carried out in the world: spawn, move and remove objects while the
exercise runs (each raises scene_changed for viewers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scenarios.loader import load_scenario, parse_scenario
from sim.session.session import Session


def _with_events(events_yaml: str) -> str:
    base = Path(load_scenario("needle-handover").source_file).read_text()
    head, _, rest = base.partition("  events:\n")
    assert rest, "needle-handover has an events section"
    return head + "  events:\n" + events_yaml + rest


def test_spawn_move_and_remove_happen_in_the_world_at_their_times():
    text = _with_events(
        """    - at: 0.1
      do:
        - spawn:
            id: cube
            type: box
            pose: {position_m: [0.03, 0.04, 0.05]}
            params: {size_m: [0.01, 0.01, 0.01], mass_kg: 0.01}
    - at: 0.3
      do: [{move: {object: cube, pose: {position_m: [-0.03, 0.04, 0.08]}}}]
    - at: 0.5
      do: [{remove: cube}]
"""
    )
    scenario = parse_scenario(text, "actions.yaml")
    session = Session(scenario, seed=0)
    try:
        before = session.scene_description().node_names
        kinds = []
        for _ in range(int(0.2 * session.world.rate_hz)):
            kinds += [e.kind for e in session.step().events]
        assert "spawned" in kinds and "scene_changed" in kinds
        assert "cube" in session.scene_description().node_names
        assert "cube" in session.world.object_names()
        for _ in range(int(0.15 * session.world.rate_hz)):
            session.step()
        np.testing.assert_allclose(session.world.body_pose("cube")[:2, 3], (-0.03, 0.04), atol=1e-3)
        for _ in range(int(0.25 * session.world.rate_hz)):
            kinds += [e.kind for e in session.step().events]
        assert "removed" in kinds
        assert "cube" not in session.world.object_names()
        assert session.scene_description().node_names == before
    finally:
        session.close()


def _peg_transfer_removing(body: str, steps_yaml: str | None = None) -> str:
    """Peg transfer whose events remove ``body`` at 0.1 s (and, given, other steps)."""
    text = Path(load_scenario("peg-transfer").source_file).read_text()
    head, _, rest = text.partition("  events:\n")
    assert rest, "peg-transfer has an events section"
    text = head + f"  events:\n    - at: 0.1\n      do: [{{remove: {body!r}}}]\n" + rest
    if steps_yaml is not None:
        start = text.index("  steps:\n")
        end = text.index("  events:\n")
        text = text[:start] + "  steps:\n" + steps_yaml + text[end:]
    return text


def _steps_for(session, seconds: float) -> list[str]:
    kinds = []
    for _ in range(int(seconds * session.world.rate_hz)):
        kinds += [e.kind for e in session.step().events]
    return kinds


def test_a_trigger_on_a_removed_body_never_holds_and_the_session_goes_on():
    """A step's ``placed`` (and ``near``, ``centered``) naming a body an event removed is
    false from then on; it raised UnknownNameError out of step() before."""
    steps = """    - id: wait
      instruction: Wait.
      done_when: {time_elapsed_s: 0.2}
    - id: on-peg
      instruction: Find the ring.
      done_when: {any: [{placed: {object: "board/ring0", target: "board:peg0", radius_m: 0.05}},
                        {near: {object: "board/ring0", target: "board", radius_m: 1.0}},
                        {centered: {object: "board/ring0", tolerance_deg: 89}}]}
"""
    scenario = parse_scenario(_peg_transfer_removing("board/ring0", steps), "remove.yaml")
    session = Session(scenario, seed=700)
    try:
        # the ring sat on its peg (each part held) until the event removed it at 0.1 s;
        # from 0.2 s the step on it is judged: none holds now
        kinds = _steps_for(session, 0.6)
        assert "removed" in kinds
        assert not session.world.has_body("board/ring0")
        assert session.step().exercise.step_id == "on-peg"
    finally:
        session.close()


def test_removing_the_needle_ends_its_tissue_tracking_and_a_reset_brings_it_back():
    """needle-handover's needle removed: the pad's entry/exit tracking forgets it (it
    raised KeyError from the world's step before); a reset restores the needle."""
    scenario = parse_scenario(
        _with_events('    - at: 0.1\n      do: [{remove: "pad/needle"}]\n'), "needle.yaml"
    )
    session = Session(scenario, seed=701)
    try:
        pairs = len(session.world.tissue.pairs)
        kinds = _steps_for(session, 0.4)
        assert "removed" in kinds and not session.world.has_body("pad/needle")
        assert len(session.world.tissue.pairs) < pairs or pairs == 0
        session.reset(seed=701)
        assert session.world.has_body("pad/needle")
        assert len(session.world.tissue.pairs) == pairs
        assert "removed" in _steps_for(session, 0.4)
    finally:
        session.close()
