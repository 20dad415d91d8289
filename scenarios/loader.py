"""Loading scenario files: YAML -> validated :class:`~scenarios.schema.Scenario`, with
errors that point at ``FILE:LINE:COL`` and say what was expected and the closest name.

The file is read once (:mod:`scenarios.source`: UTF-8, bounded in size, count and depth,
no duplicate keys, finite numbers) into plain data and a map of where each value starts.
A pydantic error's location (the path of keys and indices) is looked up in that map.
After the schema, the counts of steps, events and objects are bounded, and the names
that triggers and actions use (fields marked :class:`~scenarios.schema.Ref`) are checked
against the scene's objects, arms and steps; when the caller passes the physics world's
object types, so are the scene's object types. What only the world knows (the bodies and
landmarks an object generates, the demonstration plans) is checked on the ``sim`` side,
by ``sim.world.scenario_check``.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from scenarios.errors import ScenarioError, suggest
from scenarios.glossary import family_of, instrument_of, timer_of
from scenarios.schema import (
    ARM_NAME_PATTERN,
    ID_PATTERN,
    SCENARIO_NAME_PATTERN,
    FieldError,
    Scenario,
    references,
)
from scenarios.source import DEFAULT_LIMITS, Limits, SourceMap, decode, read_yaml

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
            if path.is_dir():
                what = "is a directory, not a file"
            elif path.exists():  # a FIFO, socket or device: reading it could block for ever
                what = "is not a regular file (a pipe, socket or device?); give a .yaml file"
            else:
                what = "does not exist"
            raise ScenarioError(f"scenario file {str(path)!r} {what}.")
        return path
    bundled = LIBRARY / f"{name_or_path}.yaml"
    if bundled.is_file():
        return bundled
    names = library_names()
    raise ScenarioError(
        f"unknown scenario {str(name_or_path)!r}; bundled scenarios are {names}, or give a path "
        "to a .yaml file." + suggest(str(name_or_path), names)
    )


def read_text(path: Path, limits: Limits = DEFAULT_LIMITS) -> str:
    """A scenario file's text: bounded in size, UTF-8 (errors at the first bad byte)."""
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ScenarioError(
                f"the file is {size:,} bytes; scenario files are limited to "
                f"{limits.max_bytes:,} bytes. Split the exercise, or remove generated bulk.",
                str(path),
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(
            f"cannot read scenario file: {exc.strerror or exc}.", str(path)
        ) from None
    return decode(data, str(path))


def load_scenario(
    name_or_path: str | Path,
    *,
    object_types: Iterable[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Scenario:
    """Read, validate and cross-check a scenario.

    Args:
        name_or_path: a bundled scenario name or a path to a YAML file.
        object_types: the object types the physics world can build; when given, the
            scene's objects are checked against them.
        limits: bounds on the file (size, counts, nesting).

    Raises:
        ScenarioError: with ``file``, ``line``, ``col`` and a message naming the field,
            what was expected and the closest valid name.
    """
    path = resolve(name_or_path)
    return parse_scenario(
        read_text(path, limits), str(path), object_types=object_types, limits=limits
    )


def parse_scenario(
    text: str | bytes,
    file: str = "<scenario>",
    *,
    object_types: Iterable[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Scenario:
    """Validate scenario YAML ``text`` (str, or UTF-8 bytes); ``file`` names it in errors."""
    if isinstance(text, bytes):
        text = decode(text, file)
    data, positions = read_yaml(text, file, limits)
    if not isinstance(data, dict):
        raise ScenarioError(
            "a scenario is a mapping of fields (schema_version, name, ...).", file, 1, 1
        )
    _check_counts(data, positions, file, limits)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc, positions, file, data) from None
    except (RecursionError, OverflowError, TypeError) as exc:  # pragma: no cover - bounded above
        raise ScenarioError(f"the scenario could not be validated: {exc}", file) from None
    scenario._source_file = file
    scenario._positions = positions
    _check_references(scenario, file, object_types)
    return scenario


def _check_counts(data: dict, positions: SourceMap, file: str, limits: Limits) -> None:
    """Bound the lists whose length drives the cost of a session and of its checks."""

    def entries(*keys: str) -> tuple[tuple, Any]:
        node: Any = data
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return keys, node

    spawned = 0
    _, events = entries("exercise", "events")
    if isinstance(events, list):
        for event in events:
            actions = event.get("do") if isinstance(event, dict) else None
            if isinstance(actions, list):
                spawned += sum(1 for a in actions if isinstance(a, dict) and "spawn" in a)
    for (loc, items), limit, what, extra in (
        (entries("exercise", "steps"), limits.max_steps, "steps", 0),
        (entries("exercise", "events"), limits.max_events, "events", 0),
        (
            entries("scene", "objects"),
            limits.max_objects,
            "objects (spawned ones included)",
            spawned,
        ),
    ):
        count = (len(items) if isinstance(items, list) else 0) + extra
        if count > limit:
            line, col = positions.position(loc, on_key=True)
            raise ScenarioError(
                f"{'.'.join(loc)}: {count} {what}; a scenario may have at most {limit}. "
                "Split the exercise into several scenarios.",
                file,
                line,
                col,
            )


# ---- error locations --------------------------------------------------------------------
def _path(loc: tuple) -> str:
    out = ""
    tp: Any = Scenario
    for part in loc:
        tagged = _tagged_member(tp, part)
        tp = _descend(tp, part) if tp is not None else None
        internal = "[" in str(part) and family_of(str(part)) is None  # a validator's tag
        if tagged is not None or internal or str(part).startswith("function-"):
            continue  # union branch tags (a rule's kind), not user fields
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _model_fields_at(loc: tuple) -> list[str]:
    """Field names of the model that owns the last element of ``loc`` (for suggestions):
    in a tagged union (``rule: {kind: fls, ...}``), those of the variant its kind names."""
    model: Any = Scenario
    for part in loc[:-1]:
        model = _descend(model, part)
        if model is None:
            return []
    base = _unwrap_model(model)
    return list(base.model_fields) if base else []


def _tagged_member(tp, tag) -> type[BaseModel] | None:
    """The model of the union ``tp`` that the tag ``tag`` names (pydantic puts a tagged
    union's tag, e.g. ``fls``, in an error's location), or None when ``tp`` is no union
    or no member has that tag: a member is tagged by a ``Literal`` field holding it."""
    if isinstance(tp, type) or not isinstance(tag, str):
        return None
    members = _union_models(tp)
    if len(members) < 2:
        return None
    for member in members:
        for field in member.model_fields.values():
            if typing.get_origin(field.annotation) is typing.Literal and tag in typing.get_args(
                field.annotation
            ):
                return member
    return None


def _tags_at(loc: tuple) -> list[str]:
    """The ``kind`` values of the tagged union at ``loc`` (a plan's, a rule's)."""
    tp: Any = Scenario
    for part in loc:
        tp = _descend(tp, part) if tp is not None else None
    tags = []
    for member in _union_models(tp) if tp is not None else []:
        field = member.model_fields.get("kind")
        if field is not None and typing.get_origin(field.annotation) is typing.Literal:
            tags += [str(t) for t in typing.get_args(field.annotation)]
    return tags


def _union_models(tp) -> list[type[BaseModel]]:
    """The models of a (possibly ``Annotated``, possibly optional) union, in order."""
    if isinstance(tp, type):
        return [tp] if issubclass(tp, BaseModel) else []
    if typing.get_origin(tp) in (list, tuple, dict):
        return []
    return [m for arg in typing.get_args(tp) for m in _union_models(arg)]


def _unwrap_model(tp) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp):
        found = _unwrap_model(arg)
        if found:
            return found
    return None


def _optional_of(tp):
    """``X`` of ``X | None`` and of ``Annotated[X, ...]`` (a list inside either is still
    a list: ``all: [...]`` of a trigger listed no fields for a typo in its items)."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp


def _descend(tp, part):
    tp = _optional_of(tp)
    model = _unwrap_model(tp) if not (isinstance(tp, type) and issubclass(tp, BaseModel)) else tp
    origin = typing.get_origin(tp)
    if isinstance(part, int) and origin in (list, tuple):
        return typing.get_args(tp)[0]
    if origin is dict:
        return typing.get_args(tp)[1]
    tagged = _tagged_member(tp, part)
    if tagged is not None:
        return tagged
    if model is None:
        return None
    if part in model.model_fields:
        return model.model_fields[part].annotation
    return None


def _first_error(
    exc: ValidationError, positions: SourceMap, file: str, data: dict
) -> ScenarioError:
    # an unknown field is usually a typo of a required one: report it before "missing"
    rank = {"extra_forbidden": 0, "missing": 2}
    err = min(exc.errors(), key=lambda e: rank.get(e["type"], 1))
    loc = tuple(err["loc"])
    cause = (err.get("ctx") or {}).get("error")
    on_key = False
    if isinstance(cause, FieldError):  # a model's check naming the field at fault
        loc = (*loc, *cause.loc)
        on_key = cause.on_key
    kind = err["type"]
    where = _path(loc)
    if kind == "extra_forbidden":
        valid = _model_fields_at(loc)
        line, col = positions.position(loc, on_key=True)
        parent = _path(loc[:-1])
        home = _misplaced(str(loc[-1]), loc, data)
        if home:  # a field of another section: where it goes is the fix, not a look-alike
            msg = f"unknown field {_short(loc[-1])} in {parent}: {home}. "
            msg += f"The fields of {parent} are {valid}."
        else:
            msg = f"unknown field {_short(loc[-1])} in {parent}; valid fields are {valid}." + (
                suggest(str(loc[-1]), valid)
            )
    elif kind == "missing":
        line, col = positions.position(loc[:-1])
        msg = f"missing required field {where!r}."
    elif kind == "union_tag_not_found":  # pydantic: "Unable to extract tag using discriminator"
        line, col = positions.position(loc)
        tags = _tags_at(loc)
        msg = f"missing required field '{where}.kind'; kinds are {tags}."
    else:
        line, col = positions.position(loc, on_key=on_key)
        got = err.get("input")
        text, hint = _reworded(err)
        # a whole mapping or list says nothing: the message and the location say it
        shown = "" if isinstance(got, (dict, list)) else f" (got {_short(got)})"
        stop = "" if f"{text}{shown}".endswith((".", "?", "!")) else "."
        msg = f"{where}: {text}{shown}{stop}{hint}"
    return ScenarioError(msg, file, line, col)


# ---- a field in the wrong section ---------------------------------------------------------
#: In a schema path (:func:`_schema_path`), where a list's item or a mapping's value stands.
_ITEM, _VALUE = "[]", "{}"


@functools.cache
def _homes() -> dict[str, tuple[tuple[tuple, str | None], ...]]:
    """Each field name of the scenario language -> where it is a field: ``(schema path of
    its model, the model's kind)``, the kind only for a member of a tagged union (a rule,
    a plan). A schema path names fields, with :data:`_ITEM` and :data:`_VALUE` for list
    items and mapping values."""
    homes: dict[str, list] = {}

    def walk(model: type[BaseModel], path: tuple, tag: str | None, above: frozenset) -> None:
        for name, field in model.model_fields.items():
            homes.setdefault(name, []).append((path, tag))
            for sub, suffix, sub_tag in _nested_models(field.annotation):
                if sub not in above:  # a trigger's all/any holds triggers: walk it once
                    walk(sub, (*path, name, *suffix), sub_tag, above | {sub})

    walk(Scenario, (), None, frozenset({Scenario}))
    return {name: tuple(places) for name, places in homes.items()}


def _nested_models(tp) -> list[tuple[type[BaseModel], tuple, str | None]]:
    """The models a field's type holds: ``(model, path suffix, kind)``."""
    tp = _optional_of(tp)
    origin = typing.get_origin(tp)
    if origin is list:
        return [(m, (_ITEM, *sfx), t) for m, sfx, t in _nested_models(typing.get_args(tp)[0])]
    if origin is dict:
        return [(m, (_VALUE, *sfx), t) for m, sfx, t in _nested_models(typing.get_args(tp)[1])]
    if origin is tuple:
        return []
    members = _union_models(tp)
    if len(members) == 1:
        return [(members[0], (), None)]
    return [(m, (), _kind_of(m)) for m in members]


def _kind_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("kind")
    if field is None or typing.get_origin(field.annotation) is not typing.Literal:
        return None
    return str(typing.get_args(field.annotation)[0])


def _schema_path(loc: tuple) -> tuple[list[tuple[Any, Any]], str | None]:
    """``loc`` (a pydantic error's path to a model) as ``[(schema part, its part in
    loc)]``, union tags left out, and the kind of the model it ends at (None if untagged)."""
    tp: Any = Scenario
    parts: list[tuple[Any, Any]] = []
    tag = None
    for part in loc:
        if _tagged_member(tp, part) is not None:
            tag = str(part)
        else:
            origin = typing.get_origin(_optional_of(tp))
            if origin is dict:
                parts.append((_VALUE, part))
            elif isinstance(part, int) and origin in (list, tuple):
                parts.append((_ITEM, part))
            else:
                parts.append((part, part))
            tag = None
        tp = _descend(tp, part) if tp is not None else None
    return parts, tag


def _shown(parts: list[tuple[Any, Any]]) -> str:
    """A path of ``(schema part, loc part)`` as an instructor reads it."""
    out = ""
    for schema, real in parts:
        if schema == _ITEM:
            out += f"[{real}]" if isinstance(real, int) else "[...]"
        elif schema == _VALUE:
            out += f".{real}" if real is not None else ".<name>"
        else:
            out += ("." if out else "") + str(real)
    return out or "the top level"


def _misplaced(name: str, loc: tuple, data: dict) -> str:
    """Where ``name``, an unknown field at ``loc``, is a field after all ('' if nowhere
    near): one level out (indented too far: ``require_completion`` inside ``rule``), one
    level in (not indented enough: ``workspace_m`` beside ``scene``), another kind of the
    same union (``pass_score`` in an mscore rule), or the one place it exists."""
    homes = _homes().get(name, ())
    if not homes:
        return ""
    parent, tag = _schema_path(loc[:-1])
    schema = tuple(p for p, _ in parent)
    container = len(parent)
    while container and parent[container - 1][0] in (_ITEM, _VALUE):
        container -= 1
    if container and any(path == schema[: container - 1] for path, _ in homes):
        around = parent[: container - 1]
        inside = parent[container - 1][1]
        return f"it belongs in {_shown(around)}, beside {inside} (not inside it)"
    inner = [
        (path[-1], t) for path, t in homes if len(path) == len(schema) + 1 and path[:-1] == schema
    ]
    inner = [(key, t) for key, t in inner if key not in (_ITEM, _VALUE)]
    if inner:
        key, kind = inner[0]
        where = _shown([*parent, (key, key)]) + (f" (kind: {kind})" if kind else "")
        here = _mapping_at(data, [real for _, real in parent])
        if isinstance(here, dict) and key in here:
            return f"it belongs under {where}: indent it to sit under '{key}:'"
        value = here.get(name) if isinstance(here, dict) else None
        shown = _short(value, 20) if isinstance(value, (int, float, str)) else "..."
        return f"it belongs under {where}: write {key}: {{{name}: {shown}}}"
    kinds = sorted({t for path, t in homes if path == schema and t is not None and t != tag})
    if kinds and schema:
        return (
            f"it is a field of a {schema[-1]} of kind {' or '.join(map(repr, kinds))} only, "
            f"and this one is kind "
            f"{tag!r}: remove it, or change the kind"
        )
    places = {path for path, _ in homes}
    if len(places) == 1:
        (path,) = places
        shown = _shown([(p, None if p in (_ITEM, _VALUE) else p) for p in path])
        return f"it belongs in {shown}: move it there"
    return ""


def _mapping_at(data: Any, loc: list) -> Any:
    """The value at ``loc`` in the file's data, or None where the path leads nowhere."""
    for part in loc:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def _reworded(err: dict) -> tuple[str, str]:
    """A pydantic message in an instructor's words, and a hint at the fix ('' if none):
    pydantic speaks of "instances of MetricRule" and "tags", and YAML reads ``yes`` as a
    boolean and ``85,5`` inside ``{...}`` as two entries."""
    kind, got = err["type"], err.get("input")
    text = re.sub(r" or instance of \w+", "", err["msg"].removeprefix("Value error, "))
    if kind in ("float_type", "int_type", "int_from_float") and isinstance(got, bool):
        return text, " yes/no and true/false are booleans in YAML: write a number."
    if kind in ("float_type", "int_type") and isinstance(got, str):
        try:
            float(got)
        except ValueError:  # a word ("twenty"), not a quoted number
            return text, " Write it in digits (e.g. 20)."
        return text, " Write the number without quotes."
    if kind == "int_from_float" or (kind == "int_type" and isinstance(got, float)):
        return "Input should be a whole number", ""
    if kind in ("model_type", "dict_type") and got is None:
        return (
            "the value is empty",
            " Write {} for a mapping with no fields (a metric that is reported, not scored).",
        )
    if kind == "union_tag_invalid":
        ctx = err.get("ctx") or {}
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        text = f"unknown kind {ctx.get('tag')!r}; kinds are {tags}"
        return text, suggest(str(ctx.get("tag")), tags)
    if kind == "string_pattern_mismatch":
        pattern = str((err.get("ctx") or {}).get("pattern", ""))
        if pattern in _PATTERN_WORDS:
            words, example, fit = _PATTERN_WORDS[pattern]
            fixed = _fitted(str(got), pattern, fit)
            hint = f" Did you mean {fixed!r}?" if fixed else f" For example {example!r}."
            return words, hint
    if kind == "string_too_long" and tuple(err["loc"]) == ("name",):
        limit = (err.get("ctx") or {}).get("max_length")
        return (
            f"a scenario name is at most {limit} characters (this one has {len(str(got))}): "
            "it starts the names of the session's files",
            " Shorten it; the title can say more.",
        )
    if kind == "string_too_long":
        limit = (err.get("ctx") or {}).get("max_length")
        return (
            f"must be at most {limit} characters (this one has {len(str(got))})",
            " Shorten it; the description can say more.",
        )
    if kind in _BOUNDS:
        return _bound_words(err)
    if kind == "string_type" and not isinstance(got, (str, dict, list, type(None))):
        # YAML reads version: 1.0 as a number and 2024-01-31 as a date
        read_as = _YAML_READS_AS.get(type(got).__name__, f"a {type(got).__name__}")
        return text, f' YAML reads it as {read_as}: quote it ("{got}").'
    if kind == "list_type":
        return text, " Write one item per line, each starting with '- ' (or [a, b] on one line)."
    if kind == "invalid_key":
        return (
            "a key must be a name",
            " Inside {...} a comma separates entries: write decimals with a point (85.5).",
        )
    return text, ""


#: What YAML made of an unquoted value, in words ("a int" read badly).
_YAML_READS_AS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "a boolean",
    "date": "a date",
    "datetime": "a date and time",
}

#: A pydantic bound's error type -> its key in the error's context, and it in words.
_BOUNDS = {
    "greater_than": ("gt", "above"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "below"),
    "less_than_equal": ("le", "at most"),
}

#: A field name's unit suffix -> its symbol and the unit in words (longest suffix first).
_UNITS = (
    ("_m_s2", "m/s²", "metres per second squared"),
    ("_rad_s", "rad/s", "radians per second"),
    ("_m_s", "m/s", "metres per second"),
    ("_deg", "°", "degrees"),
    ("_rad", "rad", "radians"),
    ("_kg", "kg", "kilograms"),
    ("_hz", "Hz", "hertz"),
    ("_n", "N", "newtons"),
    ("_s", "s", "seconds"),
    ("_m", "m", "metres"),
)


def _bound_words(err: dict) -> tuple[str, str]:
    """A number out of its field's range, with the unit the field's name carries and the
    fix: "must be at least 1 s" and "Write it in seconds, at least 1" (pydantic said
    "Input should be greater than or equal to 1")."""
    key, words = _BOUNDS[err["type"]]
    bound = (err.get("ctx") or {}).get(key)
    field = next((str(p) for p in reversed(err["loc"]) if isinstance(p, str)), "")
    symbol, unit = next(((sym, u) for sfx, sym, u in _UNITS if field.endswith(sfx)), ("", ""))
    shown = f"{bound:g}" if isinstance(bound, (int, float)) else str(bound)
    value = f"{shown}{symbol}" if symbol == "°" else f"{shown} {symbol}".rstrip()
    of = "of " if words.startswith("at ") else ""
    fix = (
        f" Write it in {unit}, {words} {shown}." if unit else f" Write a value {of}{words} {shown}."
    )
    return f"must be {words} {value}", fix


#: A name pattern of the schema in words, with an example, and how a value is made to
#: fit it: lower-cased or not, the characters it may hold, what stands for the others.
_PATTERN_WORDS = {
    SCENARIO_NAME_PATTERN: (
        "a scenario name is lower-case letters, digits and '-' (it names files and records)",
        "twin-cubes",
        (True, "a-z0-9-", "-"),
    ),
    ID_PATTERN: (
        "an id is letters a-z or A-Z, digits, '_', '.' and '-' only (no spaces or accents)",
        "lift-2",
        (False, "A-Za-z0-9_.-", "-"),
    ),
    ARM_NAME_PATTERN: (
        "an arm name is a letter, then letters, digits and '_' (no spaces or '-')",
        "PSM1",
        (False, "A-Za-z0-9_", "_"),
    ),
}


def _fitted(value: str, pattern: str, fit: tuple[bool, str, str]) -> str | None:
    """``value`` made to fit ``pattern`` the obvious way (accents dropped, lower case
    where asked, other characters as ``fit``'s stand-in), or None when that does not fit
    either."""
    import unicodedata

    lower, allowed, stand_in = fit
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    plain = plain.lower() if lower else plain
    plain = re.sub(f"[^{allowed}]+", stand_in, plain).strip(stand_in)
    return plain if plain and re.fullmatch(pattern, plain) else None


def _short(value, limit: int = 60) -> str:
    """``repr(value)``, cut short: an error message quotes the value, not a whole blob."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---- cross-references --------------------------------------------------------------------
def _check_references(scenario: Scenario, file: str, object_types) -> None:
    """Names used by triggers and actions (fields marked ``Ref`` in the schema) must exist:
    objects by their id (the part before ``/`` or ``:``), arms and steps by name."""
    objects = {o.id: ("scene", "objects", i) for i, o in enumerate(scenario.scene.objects)}
    spawned = []
    for i, event in enumerate(scenario.exercise.events):
        for j, action in enumerate(event.do):
            if action.spawn is not None:
                spawn_loc = ("exercise", "events", i, "do", j, "spawn")
                if action.spawn.id in objects:
                    line, col = scenario.position_of((*spawn_loc, "id"))
                    raise ScenarioError(
                        f"{_path((*spawn_loc, 'id'))}: an object {action.spawn.id!r} already "
                        "exists; a spawned object needs an id of its own.",
                        file,
                        line,
                        col,
                    )
                objects[action.spawn.id] = spawn_loc
                spawned.append((spawn_loc, action.spawn))
    names = {
        "arm": [a.name for a in scenario.scene.arms],
        "step": [s.id for s in scenario.exercise.steps],
    }

    def fail(loc: tuple, message: str):
        line, col = scenario.position_of(loc)
        raise ScenarioError(f"{_path(loc)}: {message}", file, line, col)

    if object_types is not None:
        valid = sorted(object_types)
        entries = [(("scene", "objects", i), o) for i, o in enumerate(scenario.scene.objects)]
        for loc, obj in entries + spawned:
            if obj.type not in valid:
                fail(
                    (*loc, "type"),
                    f"unknown object type {obj.type!r}; valid types are {valid}."
                    + suggest(obj.type, valid),
                )

    _check_timer_metrics(scenario, file)
    _check_instrument_metrics(scenario, file)
    for loc, ref, name in references(scenario):
        if ref.any_ok and name == "any":
            continue
        if ref.kind in ("body", "point"):
            # "board", a body of it "board/ring0", a landmark "board:peg7", "board/ring0:wall1"
            base = name.split(":", 1)[0].split("/", 1)[0]
            if base not in objects:
                fail(
                    loc,
                    f"no object {base!r} in the scene; objects are {sorted(objects)}."
                    + suggest(base, objects),
                )
        else:
            valid = names[ref.kind]
            if name not in valid:
                fail(
                    loc,
                    f"no {ref.kind} {name!r}; {ref.kind}s are {valid}."
                    + (" ('any' means every arm.)" if ref.any_ok else "")
                    + suggest(name, valid),
                )


def _rubric_metric_names(scenario: Scenario) -> list[tuple[tuple, str]]:
    """``(loc, name)`` of every metric the rubric and its proficiency rule name."""
    scoring = scenario.scoring
    named = [(("scoring", "metrics", m), m) for m in scoring.metrics]
    limits = scoring.proficiency.limits
    return named + [(("scoring", "proficiency", "limits", m), m) for m in limits]


def _check_instrument_metrics(scenario: Scenario, file: str) -> None:
    """A rubric's ``path_length_cm[ARM]`` must name an arm of the scene: any other would
    never be measured, and its benchmark or limit never apply."""
    arms = [a.name for a in scenario.scene.arms]
    for loc, metric in _rubric_metric_names(scenario):
        arm = instrument_of(metric)
        if arm is None or arm in arms:
            continue
        line, col = scenario.position_of(loc, on_key=True)
        raise ScenarioError(
            f"{_path(loc)}: the scene has no arm {arm!r} (its arms are {arms}): one "
            f"instrument's metric names an arm, e.g. {metric.split('[')[0]}[{arms[0]}]."
            + suggest(arm, arms),
            file,
            line,
            col,
        )


def _check_timer_metrics(scenario: Scenario, file: str) -> None:
    """A rubric's or proficiency rule's ``timer_s[NAME]`` must name a timer the exercise
    starts: a misspelt one would never be measured, and its limit or penalty never apply."""
    started = sorted({name for _, name in scenario.exercise.timer_actions("start_timer")})
    for loc, metric in _rubric_metric_names(scenario):
        timer = timer_of(metric)
        if timer is None or timer in started:
            continue
        line, col = scenario.position_of(loc, on_key=True)
        starts = f"the timers it starts are {started}" if started else "it starts none"
        raise ScenarioError(
            f"{_path(loc)}: the exercise never starts a timer {timer!r} ({starts}); add "
            f"{{start_timer: {timer}}} to an event's do: list, or name a timer it starts."
            + suggest(timer, started),
            file,
            line,
            col,
        )
