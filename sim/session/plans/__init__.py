"""Demonstration plans: how the scripted operators complete each bundled exercise.

A plan is a function of a :class:`~sim.session.demo.Demonstrator`; it looks at the world (ring
positions, peg tops, needle and marks) before every motion, like a surgeon who watches
the screen, and commands task-level primitives that the synthetic operators turn into
human-like hand motion. ``plan_for`` picks a plan by the scenario's ``plan.kind``; each
plan lives in its own module, imported only when a scenario asks for it.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

from scenarios.errors import ScenarioError
from scenarios.lint import INSTEAD
from scenarios.schema import Scenario
from sim.errors import SimError, UnknownNameError

#: plan kind -> "module:function" (imported lazily: plans pull in pybullet-side code)
PLANS: dict[str, str] = {
    "camera_targeting": "sim.session.plans.camera_targeting:camera_targeting",
    "peg_transfer": "sim.session.plans.peg_transfer:peg_transfer",
    "needle_handover": "sim.session.plans.needles:needle_handover",
    "needle_tissue": "sim.session.plans.needles:needle_tissue",
    "ring_walk": "sim.session.plans.ring_walk:ring_walk",
}


class PlanMismatchError(SimError):
    """A bundled plan met a scenario that lacks something it drives (a ring, a needle, a
    teleoperated camera): the scenario's choice of plan is at fault, not the simulator."""


def _needs_driven_camera(scenario: Scenario) -> str | None:
    camera = next((a for a in scenario.scene.arms if a.name == scenario.scene.camera.arm), None)
    if camera is not None and camera.driven:
        return None
    return (
        f"the camera arm {scenario.scene.camera.arm!r} teleoperated (it drives the endoscope "
        "to centre each target), and it is not"
    )


#: plan kind -> what the scenario must have for the plan to run at all, known before the
#: run (None when it has it): ``surgisim scenario validate`` refuses the file otherwise.
#: How many driven instruments each two-handed plan needs (others need one).
PLAN_HANDS: dict[str, int] = {
    "peg_transfer": 2,
    "needle_handover": 2,
    "needle_tissue": 2,
    "ring_walk": 2,
}

PLAN_NEEDS: dict[str, Callable[[Scenario], str | None]] = {
    "camera_targeting": _needs_driven_camera,
}


def plan_unrunnable(scenario: Scenario) -> str | None:
    """Why ``scenario``'s plan certainly cannot run in it (None when nothing says so)."""
    kind = scenario.plan.get("kind") if scenario.plan else None
    needs = PLAN_NEEDS.get(kind)
    missing = needs(scenario) if needs is not None else None
    if missing is None:
        return None
    return f"the {kind} plan needs {missing}: {INSTEAD}."


def _guarded(kind: str, plan: Callable) -> Callable:
    """``plan``, with a name it looks up and the scenario lacks reported as the plan's
    need (not "no body named ..." from deep inside the world, 8 s into a run)."""

    @functools.wraps(plan)
    def run(demo) -> None:
        hands = PLAN_HANDS.get(kind, 1)
        driven = list(demo.session.driven)
        if len(driven) < hands:
            # a device for one hand on a two-handed exercise (--name MTMR, --map MTML=none)
            # ended in "not enough values to unpack" deep inside the plan
            raise PlanMismatchError(
                f"the {kind} plan drives {hands} instruments with both hands, and only "
                f"{', '.join(driven) or 'none'} is driven here: drive every hand the "
                "scenario maps (no --name, no --map DEVICE=none), or practise this "
                "exercise yourself."
            )
        try:
            plan(demo)
        except UnknownNameError as exc:
            raise PlanMismatchError(
                f"the {kind} plan needs a {exc.what} {exc.name!r}, which this scenario does "
                f"not have: {INSTEAD}."
            ) from exc

    return run


def plan_for(scenario: Scenario) -> Callable:
    """The demonstration plan named by ``scenario.plan['kind']``.

    Raises:
        ScenarioError: no such plan.
        PlanMismatchError: the plan certainly cannot run in this scenario
            (:data:`PLAN_NEEDS`); and, from the plan as it runs, when it looks up a body
            or landmark the scenario does not have.
    """
    kind = scenario.plan.get("kind")
    entry = PLANS.get(kind)
    if entry is None:
        raise ScenarioError(
            f"scenario {scenario.name!r} has no demonstration plan ({kind!r}); known plans are "
            f"{sorted(PLANS)}. Synthetic operators need one; a master device does not. To "
            "preview it without one: surgisim render --operator none (the arms hold still)."
        )
    unrunnable = plan_unrunnable(scenario)
    if unrunnable is not None:
        raise PlanMismatchError(unrunnable)
    module, _, function = entry.partition(":")
    return _guarded(kind, getattr(importlib.import_module(module), function))
