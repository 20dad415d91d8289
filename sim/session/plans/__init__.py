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
from collections.abc import Callable, Iterable, Mapping

from scenarios.errors import ScenarioError, suggest
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


#: How many driven instruments each two-handed plan needs (others need one); the
#: schema's plan models (:mod:`scenarios.plan`) hold the scenario's own arms to it.
PLAN_HANDS: dict[str, int] = {
    "peg_transfer": 2,
    "needle_handover": 2,
    "needle_tissue": 2,
    "ring_walk": 2,
}

#: plan kind -> what the scenario must have for the plan to run at all, known before the
#: run (None when it has it): ``surgisim scenario validate`` refuses the file otherwise.
PLAN_NEEDS: dict[str, Callable[[Scenario], str | None]] = {
    "camera_targeting": _needs_driven_camera,
}


def plan_unrunnable(scenario: Scenario) -> str | None:
    """Why ``scenario``'s plan certainly cannot run in it (None when nothing says so)."""
    kind = scenario.plan.kind if scenario.plan is not None else None
    needs = PLAN_NEEDS.get(kind)
    missing = needs(scenario) if needs is not None else None
    if missing is None:
        return None
    return f"the {kind} plan needs {missing}: {INSTEAD}."


def find_needle(names: Iterable[str]) -> str | None:
    """The needle a needle plan handles: the first body named ``.../needle`` (a
    ``suture_pad``'s), or None; the plans and the check before a run share it."""
    return next((n for n in names if n.endswith("needle")), None)


def _marks(bodies: Mapping, name: str) -> tuple[str, ...]:
    return tuple(getattr(bodies.get(name), "landmarks", ()))


def plan_missing(scenario: Scenario, bodies: Mapping) -> tuple[tuple, str] | None:
    """``(loc, message)`` for the first body or landmark ``scenario``'s plan looks up that
    the world will not build (``bodies``: body name -> its movability and landmarks, as
    ``sim.world.scenario_check`` knows them), None when all are there. Run before every
    run and by validate: a missing one used to end a run in ``StopIteration``."""
    plan = scenario.plan
    if plan is None:
        return None
    movable = [b for b, n in bodies.items() if getattr(n, "movable", False)]
    if plan.kind == "peg_transfer":
        if plan.board not in bodies:
            boards = [b for b in bodies if "/" not in b and f"{b}/ring0" in bodies]
            return ("plan", "board") if "board" in plan.model_fields_set else ("plan", "kind"), (
                f"the peg_transfer plan moves the rings of the peg_board {plan.board!r} "
                f"(plan.board, default 'board'), and the scene has no object {plan.board!r}; "
                f"peg boards are "
                f"{boards}: name yours in plan.board." + suggest(plan.board, boards)
            )
        rings = [f"{plan.board}/ring{k}" for k in range(6)]
        pegs = [f"peg{k}" for k in range(12)]
        lacking = [r for r in rings if r not in bodies] + [
            f"{plan.board}:{p}" for p in pegs if p not in _marks(bodies, plan.board)
        ]
        if lacking:
            return ("plan", "board") if "board" in plan.model_fields_set else ("plan", "kind"), (
                f"the peg_transfer plan moves six rings over twelve pegs of {plan.board!r} "
                f"(plan.board), and the scene lacks {lacking[:6]}: give it a peg_board with "
                "all twelve pegs and rings_on listing six of them."
            )
    if plan.kind == "ring_walk" and not any(
        f"{b}/ring" in bodies and "start" in _marks(bodies, b) for b in bodies
    ):
        return ("plan", "kind"), (
            "the ring_walk plan walks the ring of a ring_wire course, and the scene has "
            "none: add an object of type ring_wire."
        )
    if plan.kind in ("needle_handover", "needle_tissue"):
        needle = find_needle(movable)
        if needle is None:
            return ("plan", "kind"), (
                f"the {plan.kind} plan handles a needle, and the scene has none: add a "
                "suture_pad (its needle is PAD/needle)."
            )
        pad = needle.rpartition("/")[0]
        if plan.kind == "needle_tissue":
            marks = _marks(bodies, pad)
            for field in ("entry", "exit"):
                mark = getattr(plan, field)
                if mark not in marks:
                    return ("plan", field), (
                        f"the needle_tissue plan drives the needle through the mark "
                        f"{mark!r} of {pad!r} (plan.{field}), which has no such landmark; "
                        f"its marks are {[m for m in sorted(marks) if m[:4] in ('entr', 'exit')]}."
                        + suggest(mark, marks)
                    )
    return None


def _guarded(kind: str, plan: Callable) -> Callable:
    """``plan``, with a name it looks up and the scenario lacks reported as the plan's
    need (not "no body named ..." from deep inside the world, 8 s into a run)."""

    @functools.wraps(plan)
    def run(demo) -> None:
        hands = PLAN_HANDS.get(kind, 1)
        driven = list(demo.session.driven)
        scenario = demo.session.scenario
        where = f"scenario {scenario.source_file or scenario.name}: "
        if len(driven) < hands:
            # a device for one hand on a two-handed exercise (--name MTMR, --map MTML=none)
            # ended in "not enough values to unpack" deep inside the plan; the advice
            # depends on who left a hand out: the scenario, or the device's options
            mapped = [a.name for a in scenario.scene.arms if a.kind == "psm" and a.driven]
            advice = (
                "map both instruments the plan drives in the scenario (two arms of kind "
                "psm, driven by a master)"
                if len(mapped) < hands
                else "drive every hand the scenario maps (no --name on surgisim device "
                "synthetic, no --map DEVICE=none on surgisim serve)"
            )
            raise PlanMismatchError(
                f"{where}the {kind} plan drives {hands} instruments with both hands, and "
                f"only {', '.join(driven) or 'none'} is driven here: {advice}, or practise "
                "this exercise yourself."
            )
        try:
            plan(demo)
        except UnknownNameError as exc:
            raise PlanMismatchError(
                f"{where}the {kind} plan needs a {exc.what} {exc.name!r}, which this "
                f"scenario does not have: {INSTEAD}."
            ) from exc

    return run


def plan_for(scenario: Scenario) -> Callable:
    """The demonstration plan named by ``scenario.plan.kind``.

    Raises:
        ScenarioError: no such plan.
        PlanMismatchError: the plan certainly cannot run in this scenario
            (:data:`PLAN_NEEDS`); and, from the plan as it runs, when it looks up a body
            or landmark the scenario does not have.
    """
    kind = scenario.plan.kind if scenario.plan is not None else None
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
