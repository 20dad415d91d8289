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
