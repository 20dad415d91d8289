"""The building blocks every scenario model shares: the strict pydantic base, and the
:class:`Ref` mark that says a field names something (an object, a landmark, an arm, a
step), with :func:`references`, which finds every such name in a loaded scenario.

Kept apart from :mod:`scenarios.schema` so that the trigger kinds
(:mod:`scenarios.triggers`) can build on them without an import cycle.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Strict

#: A number in a scenario: an integer or a float, never a bool or a quoted string (pydantic
#: would read ``penalty: yes`` as 1 and ``cutoff_s: "120"`` as 120, silently).
Real = Annotated[float, Strict()]
#: A whole number, never a bool, a float or a quoted string.
Count = Annotated[int, Strict()]
#: ``true`` or ``false``, never 1, 0 or a string.
Flag = Annotated[bool, Strict()]
Vec3 = tuple[Real, Real, Real]


class FieldError(ValueError):
    """A model check's finding about one of its fields (or a list item below it).

    Pydantic places a model check's error at the model itself, so the loader would point
    at the model's first line (a duplicate step id reported at ``time_limit_s``); ``loc``,
    relative to the model, lets it point at the field at fault; ``on_key`` points at the
    field's key instead of its value (a misnamed metric is its key, as an unknown field).
    """

    def __init__(self, loc: tuple, message: str, on_key: bool = False):
        super().__init__(message)
        self.loc = tuple(loc)
        self.on_key = on_key


@dataclass(frozen=True)
class Ref:
    """Marks a field whose value names something elsewhere in the scenario or the world.

    The reference checks (names in the file: :mod:`scenarios.loader`; bodies and landmarks
    the world will build: ``sim.world.scenario_check``) read these marks, so a new trigger
    or action field that names an object declares it here, once, and is checked everywhere.

    Attributes:
        kind: ``"body"`` (an object id or a body it generates, e.g. ``board/ring0``),
            ``"point"`` (a body, or one of its landmarks as ``body:landmark``, e.g.
            ``board:peg7``), ``"arm"`` (an arm's name) or ``"step"`` (a step id).
        any_ok: the value ``any`` stands for every candidate.
        movable: a ``body`` must be one that can be grasped and moved (a ring, a needle),
            not fixed scenery (a board): a trigger on a board being grasped never fires.
    """

    kind: Literal["body", "point", "arm", "step"]
    any_ok: bool = False
    movable: bool = False


BodyRef = Annotated[str, Ref("body")]
#: a graspable object (or ``any``): what can be picked up, dropped, placed
AnyObjectRef = Annotated[str, Ref("body", any_ok=True, movable=True)]
AnyBodyRef = Annotated[str, Ref("body", any_ok=True)]
PointRef = Annotated[str, Ref("point")]


class Model(BaseModel):
    """Base: unknown fields are errors; numbers are finite (a ``"inf"`` string is refused,
    not read as infinity); values are validated on assignment too."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False
    )


def references(model: BaseModel, loc: tuple = ()) -> Iterator[tuple[tuple, Ref, str]]:
    """Every ``(loc, ref, name)`` in ``model`` and below: each field marked with :class:`Ref`
    that holds a name, with the path of keys and indices that leads to it (the path the
    loader turns into ``FILE:LINE:COL``)."""
    for name, ref, nested in _field_plan(type(model)):
        value = getattr(model, name)
        if value is None:
            continue
        if ref is not None and isinstance(value, str):
            yield (*loc, name), ref, value
        elif nested:
            if isinstance(value, BaseModel):
                yield from references(value, (*loc, name))
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, BaseModel):
                        yield from references(item, (*loc, name, i))
            elif isinstance(value, dict):
                for key, item in value.items():
                    if isinstance(item, BaseModel):
                        yield from references(item, (*loc, name, key))


@cache
def _field_plan(cls: type[BaseModel]) -> tuple[tuple[str, Ref | None, bool], ...]:
    """Per field of ``cls``: (name, its :class:`Ref` or None, whether models may nest in it)."""
    plan = []
    for name, info in cls.model_fields.items():
        ref = next((m for m in info.metadata if isinstance(m, Ref)), None) or _ref_in(
            info.annotation
        )
        plan.append((name, ref, ref is None and _may_hold_models(info.annotation)))
    return tuple(plan)


def _ref_in(tp) -> Ref | None:
    for meta in getattr(tp, "__metadata__", ()):
        if isinstance(meta, Ref):
            return meta
    for arg in typing.get_args(tp):
        found = _ref_in(arg)
        if found is not None:
            return found
    return None


def _may_hold_models(tp) -> bool:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return True
    return any(_may_hold_models(arg) for arg in typing.get_args(tp))


def did_you_mean(name: str, valid) -> str:
    """`` Did you mean 'x'?`` for the closest valid name, or ''."""
    from scenarios.errors import suggest

    return suggest(name, valid)
