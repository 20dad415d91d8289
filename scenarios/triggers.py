"""Trigger kinds, each in one place: its fields, its checks and its evaluation.

A trigger is the condition that completes a step (``done_when:``) or fires an event
(``when:``): exactly one kind, e.g. ``{placed: {object: board/ring0, target:
board:peg6}}``. A kind with fields is a :class:`Condition` model here: pydantic fields
(with :class:`~scenarios.model.Ref` marks on those that name objects, arms or steps, which
the loader and the world-side check read), validators, whether it is ``momentary`` (a
world event such as a drop, true on the tick it happens, rather than a lasting state),
and ``holds(ctx)``, its evaluation against the world. A kind written as a plain value
(``time_elapsed_s: 30``, ``step_completed: lift``, ``needle_passed: pad/needle``, and the
combinators ``all`` / ``any``) is a :class:`ValueKind` in :data:`VALUE_KINDS`. Adding a
kind: a class (or a ``ValueKind``) here and a field on :class:`Trigger`; the import-time
check below refuses a field without an evaluation. The exercise engine
(:mod:`scenarios.script`) only calls :meth:`Trigger.holds`.

Positions are in the world frame (m), angles in degrees where the field says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import numpy as np
from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from scenarios.model import AnyBodyRef, AnyObjectRef, Flag, Model, PointRef, Real, Ref, Vec3

if TYPE_CHECKING:
    from scenarios.script import WorldView
    from scenarios.trace import TraceEvent


@dataclass
class TriggerContext:
    """What a trigger is judged against on one tick.

    Attributes:
        world: the world now (see :class:`scenarios.script.WorldView`).
        happened: world events since the last tick (grasp, release, drop, needle_exit).
        steps_done: ids of the steps completed so far.
        held_since: when each ``held`` trigger (by ``id``) became true; kept across ticks
            by the caller.
    """

    world: WorldView
    happened: list[TraceEvent]
    steps_done: set[str]
    held_since: dict[int, float]

    @property
    def time_s(self) -> float:
        """The session time (s)."""
        return self.world.time_s

    def names(self, name: str) -> list[str]:
        """``[name]``, or every graspable object for ``any``; a body an event removed is
        none of them (it is nowhere: no trigger on it holds)."""
        if name == "any":
            return self.world.graspable()
        return [name] if self.world.present(name) else []


class Condition(Model):
    """A trigger kind with fields. Subclasses say whether they are ``momentary`` and
    how they are evaluated (:meth:`holds`)."""

    #: a world event (true on the tick it happens), not a lasting state
    momentary: ClassVar[bool] = False

    def holds(self, ctx: TriggerContext) -> bool:  # pragma: no cover - abstract
        """Whether the condition is true now."""
        raise NotImplementedError


class Region(Model):
    """A sphere in the world frame."""

    center_m: Vec3
    radius_m: Annotated[Real, Field(gt=0)]


class Placed(Condition):
    """Object ``object`` rests, released, on target ``target`` (an object, or an object's
    landmark as ``object:landmark``, e.g. ``board:peg7``): within ``radius_m`` of it
    horizontally and ``height_m`` vertically, moving slower than ``speed_m_s``."""

    object: AnyObjectRef
    target: PointRef
    radius_m: Annotated[Real, Field(gt=0)] = 0.008
    height_m: Annotated[Real, Field(gt=0)] = 0.03
    speed_m_s: Annotated[Real, Field(gt=0)] = 0.02

    @field_validator("target")
    @classmethod
    def _not_on_itself(cls, target: str, info: ValidationInfo) -> str:
        if target == info.data.get("object"):
            raise ValueError(
                f"{target!r} cannot be placed on itself: the step would never be done; "
                "name where it goes (e.g. board:top)"
            )
        return target

    def holds(self, ctx: TriggerContext) -> bool:
        """Whether some object named (or any) rests free on the target now: within
        ``radius_m`` horizontally and ``height_m`` vertically of it (world frame, m) and
        slower than ``speed_m_s`` (m/s); a held object is not placed, a removed target
        places nothing."""
        world = ctx.world
        if not world.present(self.target):
            return False
        target = world.object_position(self.target)
        for name in ctx.names(self.object):
            if world.holders(name):
                continue
            d = world.object_position(name) - target
            if (
                np.hypot(d[0], d[1]) <= self.radius_m
                and abs(d[2]) <= self.height_m
                and world.object_speed(name) <= self.speed_m_s
            ):
                return True
        return False


class Centered(Condition):
    """The camera looks at ``object`` (or landmark): within ``tolerance_deg`` of its axis."""

    object: PointRef
    tolerance_deg: Annotated[Real, Field(gt=0, lt=90)] = 5.0

    def holds(self, ctx: TriggerContext) -> bool:
        """Whether the angle between the camera's view axis and the direction to the
        object (or landmark) is at most ``tolerance_deg`` now; False once it is removed."""
        if not ctx.world.present(self.object):
            return False
        return ctx.world.camera_angle_to(self.object) <= math.radians(self.tolerance_deg)


class ObjectRef(Condition):
    """An object id, or ``any``: the base of the world events on one object."""

    #: the world event's kind in the trace
    event_kind: ClassVar[str] = ""
    momentary: ClassVar[bool] = True

    object: AnyObjectRef = "any"

    def holds(self, ctx: TriggerContext) -> bool:
        """Whether an event of :attr:`event_kind` on the object (or any) happened since
        the last tick: true on that tick only (a world event, momentary)."""
        return any(
            e.kind == self.event_kind and self.object in ("any", e.data.get("object"))
            for e in ctx.happened
        )


class Dropped(ObjectRef):
    """An object (or ``any``) was dropped: released and fallen, or out of the workspace."""

    event_kind: ClassVar[str] = "drop"


class Released(ObjectRef):
    """An object (or ``any``) was let go by an instrument."""

    event_kind: ClassVar[str] = "release"


class Grasped(Condition):
    """Object grasped, optionally by a given instrument (``only``: by it alone, e.g. a
    handover is complete when the receiving instrument holds the object alone)."""

    object: AnyObjectRef = "any"
    by: Annotated[str, Ref("arm")] | None = None
    only: Flag = False

    def holds(self, ctx: TriggerContext) -> bool:
        """Whether an object named (or any) is held now: by ``by`` if given (by it alone
        with ``only``), else by any instrument."""
        for held in (ctx.world.holders(n) for n in ctx.names(self.object)):
            if not held:
                continue
            if self.by is None or (held == {self.by} if self.only else self.by in held):
                return True
        return False


class Near(Condition):
    """Object (held or not) within ``radius_m`` of a target object or landmark."""

    object: AnyBodyRef
    target: PointRef
    radius_m: Annotated[Real, Field(gt=0)] = 0.01

    def holds(self, ctx: TriggerContext) -> bool:
        """Whether an object named (or any), held or not, is within ``radius_m`` (m,
        world frame, centre to centre) of the target now; False once the target is
        removed."""
        world = ctx.world
        if not world.present(self.target):
            return False
        target = world.object_position(self.target)
        return any(
            np.linalg.norm(world.object_position(n) - target) <= self.radius_m
            for n in ctx.names(self.object)
        )


class Entered(Condition):
    """An instrument tip (or ``any``) enters a region."""

    instrument: Annotated[str, Ref("arm", any_ok=True)] = "any"
    region: Region

    def holds(self, ctx: TriggerContext) -> bool:
        """Whether the instrument's tip (or any instrument's) is inside the region's
        sphere now (world frame, m)."""
        world = ctx.world
        if self.instrument != "any":
            arms = [self.instrument]
        else:
            arms = list(getattr(world, "arm_names", []))
        centre = np.asarray(self.region.center_m)
        return any(
            np.linalg.norm(world.tip_position(a) - centre) <= self.region.radius_m for a in arms
        )


class Held(Condition):
    """``trigger`` (a state, e.g. ``centered`` or ``near``) has held without a break for
    ``for_s`` seconds: a dwell, so that passing through a state does not count as reaching
    it. World events (``dropped``, ``released``, ``needle_passed``) last no time and cannot
    be held."""

    trigger: Trigger
    for_s: Annotated[Real, Field(gt=0)]

    @model_validator(mode="after")
    def _a_state(self) -> Held:
        if self.trigger.momentary:
            raise ValueError(
                f"'held' needs a state trigger; {self.trigger.kind!r} is a world event that "
                "lasts no time. Use it without 'held', or hold a state such as 'placed' or "
                "'near'."
            )
        return self

    def holds(self, ctx: TriggerContext) -> bool:
        """Whether the inner trigger has held without a break for ``for_s`` seconds of
        session time; a tick on which it does not hold starts the dwell again. Judged on
        every tick (the caller keeps ``ctx.held_since`` across them)."""
        # the inner trigger is judged every tick, so that its own dwell keeps time
        if not self.trigger.holds(ctx):
            ctx.held_since.pop(id(self), None)
            return False
        return ctx.time_s - ctx.held_since.setdefault(id(self), ctx.time_s) >= self.for_s


@dataclass(frozen=True)
class ValueKind:
    """A trigger kind written as a plain value (a number, a name, a list of triggers).

    Attributes:
        holds: ``holds(value, ctx)``, its evaluation.
        momentary: a world event rather than a lasting state.
    """

    holds: Callable[[Any, TriggerContext], bool]
    momentary: bool = False


def _needle_passed(needle: str, ctx: TriggerContext) -> bool:
    return any(e.kind == "needle_exit" and e.data.get("needle") == needle for e in ctx.happened)


#: Evaluation of the kinds whose value is not a model. ``all``/``any`` judge every part
#: every tick (no short cut), so that a ``held`` inside keeps time.
VALUE_KINDS: dict[str, ValueKind] = {
    "time_elapsed_s": ValueKind(lambda t, ctx: ctx.time_s >= t),
    "step_completed": ValueKind(lambda step, ctx: step in ctx.steps_done),
    "needle_passed": ValueKind(_needle_passed, momentary=True),
    "all": ValueKind(lambda parts, ctx: all([p.holds(ctx) for p in parts])),
    "any": ValueKind(lambda parts, ctx: any([p.holds(ctx) for p in parts])),
}


class Trigger(Model):
    """Exactly one condition. ``all``/``any`` combine conditions; ``held`` asks that one
    hold for a while."""

    placed: Placed | None = None
    dropped: Dropped | None = None
    grasped: Grasped | None = None
    near: Near | None = None
    released: Released | None = None
    time_elapsed_s: Annotated[Real, Field(ge=0)] | None = None
    entered: Entered | None = None
    step_completed: Annotated[str, Ref("step")] | None = None
    centered: Centered | None = None
    needle_passed: (
        Annotated[str, Ref("body", movable=True), Field(description="needle body")] | None
    ) = None
    all: list[Trigger] | None = None
    any: list[Trigger] | None = None
    held: Held | None = None
    #: the one condition's name, found when validated (again on every assignment): the
    #: exercise engine asks for it for every trigger at 100 Hz
    _kind: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a trigger needs exactly one condition of "
                f"{list(type(self).model_fields)}, got {given or 'none'}"
            )
        self._kind = given[0]
        return self

    @property
    def kind(self) -> str:
        """The name of the one condition given (``"placed"``, ``"all"``, ...)."""
        return self._kind

    @property
    def momentary(self) -> bool:
        """A world event (true on the tick it happens), not a lasting state: an event on
        it fires on each occurrence rather than when it becomes true."""
        value = getattr(self, self.kind)
        if isinstance(value, Condition):
            return value.momentary
        return VALUE_KINDS[self.kind].momentary

    def holds(self, ctx: TriggerContext) -> bool:
        """Whether the trigger is true now."""
        kind = self.kind
        value = getattr(self, kind)
        if isinstance(value, Condition):
            return value.holds(ctx)
        return VALUE_KINDS[kind].holds(value, ctx)


Held.model_rebuild()
Trigger.model_rebuild()


def _kind_classes() -> dict[str, type | None]:
    """Trigger field -> its Condition class (None for value kinds)."""
    import typing

    out: dict[str, type | None] = {}
    for name, info in Trigger.model_fields.items():
        found = [
            a
            for a in typing.get_args(info.annotation)
            if isinstance(a, type) and issubclass(a, Condition)
        ]
        out[name] = found[0] if found else None
    return out


# every kind has exactly one evaluation: a Condition model or a ValueKind, never both
for _name, _cls in _kind_classes().items():
    if (_cls is None) == (_name not in VALUE_KINDS):
        raise TypeError(  # pragma: no cover - a programming error, caught at import
            f"trigger kind {_name!r} needs exactly one evaluation: a Condition model or an "
            "entry in VALUE_KINDS"
        )

#: Triggers that are world events (true on the tick they happen), not lasting states.
MOMENTARY_TRIGGERS: tuple[str, ...] = tuple(
    name
    for name, cls in _kind_classes().items()
    if (cls.momentary if cls is not None else VALUE_KINDS[name].momentary)
)
