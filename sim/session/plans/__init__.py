"""Demonstration plans: how the scripted operators complete each bundled exercise.

A plan is a function of a :class:`~sim.session.demo.Demonstrator`; it looks at the world (ring
positions, peg tops, needle and marks) before every motion, like a surgeon who watches
the screen, and commands task-level primitives that the synthetic operators turn into
human-like hand motion. ``plan_for`` picks a plan by the scenario's ``plan.kind``; each
plan lives in its own module, imported only when a scenario asks for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from scenarios.errors import ScenarioError
from scenarios.schema import Scenario

#: plan kind -> "module:function" (imported lazily: plans pull in pybullet-side code)
PLANS: dict[str, str] = {
    "camera_targeting": "sim.session.plans.camera_targeting:camera_targeting",
    "peg_transfer": "sim.session.plans.peg_transfer:peg_transfer",
    "needle_handover": "sim.session.plans.needles:needle_handover",
    "needle_tissue": "sim.session.plans.needles:needle_tissue",
    "ring_walk": "sim.session.plans.ring_walk:ring_walk",
}


def plan_for(scenario: Scenario) -> Callable:
    """The demonstration plan named by ``scenario.plan['kind']``."""
    kind = scenario.plan.get("kind")
    entry = PLANS.get(kind)
    if entry is None:
        raise ScenarioError(
            f"scenario {scenario.name!r} has no demonstration plan ({kind!r}); known plans are "
            f"{sorted(PLANS)}. Synthetic operators need one; a master device does not."
        )
    module, _, function = entry.partition(":")
    return getattr(importlib.import_module(module), function)
