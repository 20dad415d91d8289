"""``surgisim render --operator none`` (:func:`sim.session.preview.session_at`): a
scenario with no plan previewed past t = 0, the world and the scenario's events running
while the arms hold still."""

from __future__ import annotations

from scenarios.loader import LIBRARY, parse_scenario
from sim.session.preview import session_at

SPAWN = """  events:
    - at: 0.05
      do:
        - spawn:
            id: fb
            type: box
            pose: {position_m: [0.0, -0.02, 0.03]}
            params: {size_m: [0.008, 0.008, 0.008], mass_kg: 0.002}
"""


def test_no_operator_runs_the_world_without_a_plan():
    text = (LIBRARY / "peg-transfer.yaml").read_text()
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("plan:"))
    text = text.replace("  events:\n", SPAWN, 1)
    scenario = parse_scenario(text, "own.yaml")
    assert not scenario.plan
    with session_at(scenario, 0, 0.2, "none") as session:
        assert session.time_s >= 0.2 - 1e-9
        assert "fb" in session.world.object_names()  # spawned by the event at 0.05 s
