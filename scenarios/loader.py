"""Loading scenario files: YAML -> validated :class:`~scenarios.schema.Scenario`, with
errors that point at ``FILE:LINE:COL`` and say what was expected and the closest name.

YAML is parsed twice from the same text: once into plain data for pydantic, once into a
node tree that remembers where every key and value starts. A pydantic error's location
(the path of keys and indices) is walked down that tree to the offending line. After
the schema, cross-references are checked (objects, arms and steps named in triggers and
actions must exist), and, when the caller passes the physics world's object types, so
are the scene's object types.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from scenarios.errors import ScenarioError, suggest
from scenarios.schema import Scenario

LIBRARY = Path(__file__).parent / "library"


def library_names() -> list[str]:
    """Names of the bundled scenarios (``scenarios/library/*.yaml``)."""
    return sorted(p.stem for p in LIBRARY.glob("*.yaml"))


def resolve(name_or_path: str | Path) -> Path:
    """A bundled scenario's file by name, or the given path.

    Raises:
        ScenarioError: neither a bundled name nor an existing file (lists the names).
    """
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ScenarioError(f"scenario file {str(path)!r} does not exist.")
        return path
    bundled = LIBRARY / f"{name_or_path}.yaml"
    if bundled.is_file():
        return bundled
    names = library_names()
    raise ScenarioError(
        f"unknown scenario {str(name_or_path)!r}; bundled scenarios are {names}, or give a path "
        "to a .yaml file." + suggest(str(name_or_path), names)
    )


def load_scenario(
    name_or_path: str | Path, *, object_types: Iterable[str] | None = None
) -> Scenario:
    """Read, validate and cross-check a scenario.

    Args:
        name_or_path: a bundled scenario name or a path to a YAML file.
        object_types: the object types the physics world can build; when given, the
            scene's objects are checked against them.

    Raises:
        ScenarioError: with ``file``, ``line``, ``col`` and a message naming the field,
            what was expected and the closest valid name.
    """
    path = resolve(name_or_path)
    return parse_scenario(path.read_text(), str(path), object_types=object_types)


def parse_scenario(
    text: str, file: str = "<scenario>", *, object_types: Iterable[str] | None = None
) -> Scenario:
    """Validate scenario YAML ``text``; ``file`` names it in errors."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        hint = " (check the indentation: nested fields go two spaces further in)"
        raise ScenarioError(
            f"YAML syntax: {problem}{hint if 'indent' in problem or 'mapping' in problem else ''}",
            file,
            mark.line + 1 if mark else None,
            mark.column + 1 if mark else None,
        ) from None
    if not isinstance(data, dict):
        raise ScenarioError(
            "a scenario is a mapping of fields (schema_version, name, ...).", file, 1, 1
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc, root, file) from None
    _check_references(scenario, root, file, object_types)
    scenario._source_file = file
    scenario._positions = lambda loc: _position(root, loc)
    return scenario


# ---- positions ---------------------------------------------------------------------------
def _node_at(root, loc: tuple) -> tuple[Any, Any]:
    """(key node, value node) at ``loc``; stops at the deepest node that exists."""
    node, key_node = root, None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    key_node, node = k, v
                    break
            else:
                continue  # a union tag or a missing key: stay at the parent
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            key_node, node = None, node.value[part]
        # scalars: nothing deeper
    return key_node, node


def _position(root, loc: tuple, on_key: bool = False) -> tuple[int, int]:
    key_node, node = _node_at(root, loc)
    target = key_node if (on_key and key_node is not None) else node
    if target is None:
        return 1, 1
    return target.start_mark.line + 1, target.start_mark.column + 1


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("mscore", "fls") or "[" in str(part) or str(part).startswith("function-"):
            continue  # union branch tags, not user fields
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _model_fields_at(loc: tuple) -> list[str]:
    """Field names of the model that owns the last element of ``loc`` (for suggestions)."""
    model: Any = Scenario
    for part in loc[:-1]:
        model = _descend(model, part)
        if model is None:
            return []
    base = _unwrap_model(model)
    return list(base.model_fields) if base else []


def _unwrap_model(tp) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp):
        found = _unwrap_model(arg)
        if found:
            return found
    return None


def _descend(tp, part):
    model = _unwrap_model(tp) if not (isinstance(tp, type) and issubclass(tp, BaseModel)) else tp
    origin = typing.get_origin(tp)
    if isinstance(part, int) and origin in (list, tuple):
        return typing.get_args(tp)[0]
    if origin is dict:
        return typing.get_args(tp)[1]
    if model is None:
        return None
    if part in model.model_fields:
        return model.model_fields[part].annotation
    if part in ("mscore", "fls"):
        return tp
    return None


def _first_error(exc: ValidationError, root, file: str) -> ScenarioError:
    # an unknown field is usually a typo of a required one: report it before "missing"
    rank = {"extra_forbidden": 0, "missing": 2}
    err = min(exc.errors(), key=lambda e: rank.get(e["type"], 1))
    loc = tuple(err["loc"])
    kind = err["type"]
    where = _path(loc)
    if kind == "extra_forbidden":
        valid = _model_fields_at(loc)
        line, col = _position(root, loc, on_key=True)
        parent = _path(loc[:-1])
        msg = f"unknown field {loc[-1]!r} in {parent}; valid fields are {valid}." + suggest(
            str(loc[-1]), valid
        )
    elif kind == "missing":
        line, col = _position(root, loc[:-1])
        msg = f"missing required field {where!r}."
    else:
        line, col = _position(root, loc)
        got = err.get("input")
        text = err["msg"].removeprefix("Value error, ")
        shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
        msg = f"{where}: {text} (got {shown})."
    return ScenarioError(msg, file, line, col)


# ---- cross-references --------------------------------------------------------------------
def _check_references(scenario: Scenario, root, file: str, object_types) -> None:
    objects = {o.id for o in scenario.scene.objects}
    for event in scenario.exercise.events:
        for action in event.do:
            if action.spawn is not None:
                objects.add(action.spawn.id)
    arms = [a.name for a in scenario.scene.arms]
    steps = [s.id for s in scenario.exercise.steps]

    def fail(loc: tuple, message: str):
        line, col = _position(root, loc)
        raise ScenarioError(message, file, line, col)

    if object_types is not None:
        valid = sorted(object_types)
        for i, obj in enumerate(scenario.scene.objects):
            if obj.type not in valid:
                fail(
                    ("scene", "objects", i, "type"),
                    f"scene.objects[{i}].type: unknown object type {obj.type!r}; valid types "
                    f"are {valid}." + suggest(obj.type, valid),
                )

    def check_object(name: str, loc: tuple):
        # "board", a body of it "board/ring0", or a landmark "board:peg7", "board/ring0:wall1"
        base = name.split(":", 1)[0].split("/", 1)[0]
        if name != "any" and base not in objects:
            fail(
                loc,
                f"{_path(loc)}: no object {base!r} in the scene; objects are "
                f"{sorted(objects)}." + suggest(base, objects),
            )

    def check_trigger(trigger, loc: tuple):
        if trigger.placed:
            check_object(trigger.placed.object, (*loc, "placed", "object"))
            check_object(trigger.placed.target, (*loc, "placed", "target"))
        for key in ("dropped", "released"):
            ref = getattr(trigger, key)
            if ref:
                check_object(ref.object, (*loc, key, "object"))
        if trigger.grasped:
            check_object(trigger.grasped.object, (*loc, "grasped", "object"))
            if trigger.grasped.by and trigger.grasped.by not in arms:
                fail(
                    (*loc, "grasped", "by"),
                    f"{_path((*loc, 'grasped', 'by'))}: no arm "
                    f"{trigger.grasped.by!r}; arms are {arms}." + suggest(trigger.grasped.by, arms),
                )
        if trigger.entered and trigger.entered.instrument not in ("any", *arms):
            fail(
                (*loc, "entered", "instrument"),
                f"no arm {trigger.entered.instrument!r}; arms "
                f"are {arms}." + suggest(trigger.entered.instrument, arms),
            )
        if trigger.step_completed and trigger.step_completed not in steps:
            fail(
                (*loc, "step_completed"),
                f"{_path((*loc, 'step_completed'))}: no step "
                f"{trigger.step_completed!r}; steps are {steps}."
                + suggest(trigger.step_completed, steps),
            )
        if trigger.needle_passed:
            check_object(trigger.needle_passed, (*loc, "needle_passed"))
        if trigger.centered:
            check_object(trigger.centered.object, (*loc, "centered", "object"))
        if trigger.near:
            check_object(trigger.near.object, (*loc, "near", "object"))
            check_object(trigger.near.target, (*loc, "near", "target"))
        for key in ("all", "any"):
            for k, sub in enumerate(getattr(trigger, key) or []):
                check_trigger(sub, (*loc, key, k))
        if trigger.held:
            check_trigger(trigger.held.trigger, (*loc, "held", "trigger"))

    for i, step in enumerate(scenario.exercise.steps):
        check_trigger(step.done_when, ("exercise", "steps", i, "done_when"))
    for i, event in enumerate(scenario.exercise.events):
        if event.when:
            check_trigger(event.when, ("exercise", "events", i, "when"))
        for j, action in enumerate(event.do):
            loc = ("exercise", "events", i, "do", j)
            if action.move:
                check_object(action.move.object, (*loc, "move", "object"))
            if action.remove:
                check_object(action.remove, (*loc, "remove"))
