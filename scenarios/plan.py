"""The demonstration plans a scenario may name (``plan:``), one strict model per kind.

Each kind declares the fields its plan reads, their types and defaults, and how many
driven instruments it needs; an unknown field (``drivr``), a wrong type (``entry: 5``) or
a field another kind reads (``driver`` on ``ring_walk``) is an error at its line, with
the closest field. What the file alone settles (the driver is an arm with jaws that a
master drives, the plan has instruments enough) is checked here, at validation; the
bodies and landmarks a plan looks up are checked against the world's geometry by
``sim.session.plans.plan_missing`` (through ``sim.world.scenario_check``), before a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field, Strict

from scenarios.model import FieldError, Model, Ref, did_you_mean

if TYPE_CHECKING:
    from scenarios.schema import Scenario

#: an arm's name in a plan (checked against the scene's arms with the other references)
ArmName = Annotated[str, Strict(), Ref("arm")]
#: a body or landmark name in a plan, e.g. ``board``, ``entry0``
Name = Annotated[str, Strict(), Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]


class PlanModel(Model):
    """What every plan kind shares: its ``kind``, and the instruments it drives."""

    #: how many driven instruments (arms with jaws, ``kind: psm``) the plan drives
    hands: ClassVar[int] = 2

    def check(self, scenario: Scenario) -> None:
        """Refuse what the scenario's file alone says the plan cannot do (a
        :class:`FieldError` placed relative to the scenario's top)."""
        instruments = driven_instruments(scenario)
        if len(instruments) < self.hands:
            raise FieldError(
                ("plan", "kind"),
                f"the {self.kind} plan drives {self.hands} instruments, one with each hand, "
                f"and the scenario maps {len(instruments)} ({', '.join(instruments) or 'none'}): "
                f"give it {self.hands} arms of kind psm that a master drives (not "
                "'teleoperated: false'), or practise this exercise with a device.",
            )


def driven_instruments(scenario: Scenario) -> list[str]:
    """The arms with jaws (PSMs) that a master, or a synthetic operator, drives."""
    return [a.name for a in scenario.scene.arms if a.kind == "psm" and a.driven]


class CameraTargetingPlan(PlanModel):
    """Aims the teleoperated endoscope at each step's target."""

    kind: Literal["camera_targeting"]
    hands: ClassVar[int] = 0


class PegTransferPlan(PlanModel):
    """Six rings from the left pegs to the right ones and back, with mid-air handovers."""

    kind: Literal["peg_transfer"]
    board: Name = Field(
        default="board", description="the id of the peg_board whose rings the plan moves"
    )


class NeedleHandoverPlan(PlanModel):
    """Pick the needle up, hand it over in mid-air and back."""

    kind: Literal["needle_handover"]


class NeedleTissuePlan(PlanModel):
    """Drive the needle from the ``entry`` mark to the ``exit`` mark with ``driver``."""

    kind: Literal["needle_tissue"]
    driver: ArmName | None = Field(
        default=None, description="the arm that drives the needle (default: the first instrument)"
    )
    entry: Name = "entry0"
    exit: Name = "exit0"

    def check(self, scenario: Scenario) -> None:
        """The driver must be a driven arm with jaws (an ECM has none: the plan used to
        run with it and store a failed attempt)."""
        super().check(scenario)
        arms = {a.name: a for a in scenario.scene.arms}
        if self.driver is None or self.driver not in arms:
            return  # an unknown arm is reported with the other references, at its line
        instruments = driven_instruments(scenario)
        arm = arms[self.driver]
        if arm.kind != "psm":
            why = f"{self.driver!r} is an {arm.kind.upper()}, which has no jaws"
        elif not arm.driven:
            why = f"{self.driver!r} is not driven ('teleoperated: false')"
        else:
            return
        raise FieldError(
            ("plan", "driver"),
            f"the needle_tissue plan grasps and drives the needle with its "
            f"driver, and {why}; driven instruments are {instruments}."
            + did_you_mean(self.driver, instruments),
        )


class RingWalkPlan(PlanModel):
    """Walk the ring along the wire, relaying it at the crest."""

    kind: Literal["ring_walk"]


#: every plan kind's model
PLAN_MODELS: tuple[type[PlanModel], ...] = (
    CameraTargetingPlan,
    NeedleHandoverPlan,
    NeedleTissuePlan,
    PegTransferPlan,
    RingWalkPlan,
)

#: ``plan:`` in a scenario: one of the kinds, told apart by ``kind``
Plan = Annotated[
    CameraTargetingPlan | NeedleHandoverPlan | NeedleTissuePlan | PegTransferPlan | RingWalkPlan,
    Field(discriminator="kind"),
]

#: the plan kinds, as ``plan.kind`` names them
PLAN_KINDS: tuple[str, ...] = tuple(
    sorted(m.model_fields["kind"].annotation.__args__[0] for m in PLAN_MODELS)
)
