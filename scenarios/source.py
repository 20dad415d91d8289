"""Reading a YAML file an instructor wrote: plain data plus where every value came from.

Why not ``yaml.safe_load``: it silently keeps the last of two equal keys, accepts ``.inf``
and ``.nan`` where a time or a penalty is meant, recurses (a deeply nested file ends in
``RecursionError``), expands aliases without limit (a "billion laughs" file), and forgets
positions, so a later error cannot say ``FILE:LINE:COL``. Here the document is built from
libyaml's event stream (C, iterative) in one pass, with every value's position kept in a
:class:`SourceMap` (plain tuples and dicts, so it pickles with the scenario), and every
problem raised as :class:`~scenarios.errors.ScenarioError` at its line and column.

Bounds (:class:`Limits`) keep the cost of a hostile or accidental giant file small: the
file's size, the number of YAML nodes (aliases count at their expanded size), and the
nesting depth are checked while reading, before any validation runs.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from scenarios.errors import ScenarioError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when it is installed

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_FLOAT = "tag:yaml.org,2002:float"
# a YAML 1.2 core-schema float that YAML 1.1 leaves as text (no dot: 1e-9, 2E+3)
_NUMBER_12 = re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$")
_SCALAR_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:binary",
}

# YAML 1.1 printable characters (tab, line breaks, and everything above the C0/C1 controls)
_UNPRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


@dataclass(frozen=True)
class Limits:
    """Upper bounds on a scenario file, checked while it is read.

    The defaults are far above any real exercise (the bundled ones are 4-9 kB with 3-12
    steps) and keep a file that passes them quick to validate (well under a second).

    Attributes:
        max_bytes: size of the file.
        max_nodes: YAML values (scalars, lists, mappings); an alias counts as the size of
            what it repeats.
        max_depth: nesting of lists and mappings.
        max_steps, max_events, max_objects: entries of ``exercise.steps``,
            ``exercise.events`` and ``scene.objects`` (spawned objects count as objects).
        max_abs_number: magnitude of any number (no quantity in SI units in a scenario
            comes near 1e9: that is 31 years, or a million kilometres).
    """

    max_bytes: int = 1_000_000
    max_nodes: int = 50_000
    max_depth: int = 32
    max_steps: int = 1_000
    max_events: int = 1_000
    max_objects: int = 64
    max_abs_number: float = 1e9


DEFAULT_LIMITS = Limits()


class SourceMap:
    """Where each value of a YAML document starts, 1-based, by its path of keys and indices.

    A tree of ``(line, col, key_line, key_col, children)`` tuples; ``children`` is a dict
    (mapping keys), a list (sequence items) or None. Plain data, so a scenario that keeps
    one still pickles.
    """

    __slots__ = ("root",)

    def __init__(self, root: tuple) -> None:
        self.root = root

    def __getstate__(self):
        return self.root

    def __setstate__(self, state) -> None:
        self.root = state

    def __eq__(self, other) -> bool:
        return isinstance(other, SourceMap) and self.root == other.root

    def __hash__(self) -> int:
        return hash(self.root[:4])

    def position(self, loc: tuple, on_key: bool = False) -> tuple[int, int]:
        """(line, col) of the value at ``loc``, or of its key with ``on_key``.

        Parts of ``loc`` that name no node (a union branch tag such as ``'mscore'``, or a
        missing key) are skipped, so a path always lands on the deepest node that exists.
        """
        node = self.root
        for part in loc:
            children = node[4]
            child = None
            if isinstance(children, dict):
                child = children.get(part)
                if child is None and not isinstance(part, str):
                    child = children.get(str(part))
            elif (
                isinstance(children, list)
                and isinstance(part, int)
                and not isinstance(part, bool)
                and 0 <= part < len(children)
            ):
                child = children[part]
            if child is not None:
                node = child
        if on_key and node[2]:
            return node[2], node[3]
        return node[0], node[1]


@dataclass
class _Frame:
    """A mapping or sequence being built."""

    is_map: bool
    data: Any
    children: Any
    line: int
    col: int
    anchor: str | None
    count: int = 1
    key: Any = None
    key_pos: tuple[int, int] | None = None
    has_key: bool = False
    merged: dict | None = None
    merged_children: dict | None = None
    key_lines: dict | None = None


def _mark(event) -> tuple[int, int]:
    return event.start_mark.line + 1, event.start_mark.column + 1


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def decode(data: bytes, file: str) -> str:
    """UTF-8 text of a file (a leading byte-order mark is dropped).

    Raises:
        ScenarioError: at the line and column of the first byte that is not UTF-8.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
        line_start = data.rfind(b"\n", 0, start) + 1
        line = data.count(b"\n", 0, start) + 1
        col = len(data[line_start:start].decode("utf-8", "replace")) + 1
        raise ScenarioError(
            f"the file is not UTF-8 text: byte 0x{data[start]:02x} cannot start or continue "
            "a character here. Save the file as UTF-8 (most editors: 'Save with encoding').",
            file,
            line,
            col,
        ) from None


def read_yaml(text: str, file: str, limits: Limits = DEFAULT_LIMITS) -> tuple[Any, SourceMap]:
    """Plain data (dicts, lists, scalars) and its :class:`SourceMap`, from one YAML document.

    Raises:
        ScenarioError: at the offending line and column for: a file over ``limits``, a
            control character, a YAML syntax error, two equal keys in one mapping, a
            non-finite or implausibly large number, an unknown tag or anchor, a complex
            key, or more than one document.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise ScenarioError(
            f"the file is {size:,} bytes; scenario files are limited to {limits.max_bytes:,} "
            "bytes. Split the exercise, or remove generated bulk.",
            file,
        )
    bad = _UNPRINTABLE.search(text)
    if bad is not None:
        line, col = _line_col(text, bad.start())
        raise ScenarioError(
            f"control character U+{ord(bad.group()):04X} is not allowed in a scenario file; "
            'remove it (inside a double-quoted string write it as an escape, e.g. "\\t").',
            file,
            line,
            col,
        )
    _refuse_odd_spaces(text, file)
    try:
        return _Builder(file, limits).build(yaml.parse(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        hint = ""
        lines = text.splitlines()
        at = lines[mark.line] if mark and mark.line < len(lines) else ""
        if "\t" in at[: len(at) - len(at.lstrip())] and "tab" not in problem:
            hint = " (the line is indented with a tab: YAML indents with spaces only)"
        elif "indent" in problem or "mapping" in problem or "expected key" in problem:
            hint = _indentation_hint(lines, mark.line if mark else 0)
        elif "expected '-'" in problem:
            hint = " (check the indentation: a list's items start with '-' in one column)"
        elif "expected node content" in problem:
            hint = " (a value is missing here: a doubled comma, or a ':' with nothing after it?)"
        raise ScenarioError(
            f"YAML syntax: {problem}{hint}",
            file,
            mark.line + 1 if mark else None,
            mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:  # ReaderError and friends: a character the reader refused
        position = getattr(exc, "position", None)
        line, col = _line_col(text, position) if isinstance(position, int) else (None, None)
        raise ScenarioError(f"YAML: {exc}".splitlines()[0], file, line, col) from None


#: Spaces that look like one but are not, as an editor or a web page may paste them.
_ODD_SPACES = {
    "\u00a0": "no-break space",
    "\u2007": "figure space",
    "\u202f": "narrow no-break space",
}


def _refuse_odd_spaces(text: str, file: str) -> None:
    """A space YAML does not take as one in a line's indentation (a no-break space pasted
    from a web page): YAML read the line as content and said "mapping values are not
    allowed" on the next line, with no word of the character."""
    for k, line in enumerate(text.splitlines()):
        stripped = line.lstrip(" " + "".join(_ODD_SPACES))
        lead = line[: len(line) - len(stripped)]
        for col, char in enumerate(lead):
            if char in _ODD_SPACES:
                raise ScenarioError(
                    f"the indentation holds a {_ODD_SPACES[char]} (U+{ord(char):04X}), which "
                    "YAML does not read as a space: retype the indentation with plain spaces.",
                    file,
                    k + 1,
                    col + 1,
                )


def _indentation_hint(lines: list[str], k: int) -> str:
    """The fix for an indentation error reported at line ``k`` (0-based). YAML reports it
    where the parser gave up, often the line *after* the one indented wrong (a field
    indented 3 spaces among fields at 2 is taken, its next sibling is not): an odd indent
    on the line before is named as the likely culprit."""

    def indent(line: str) -> int:
        return len(line) - len(line.lstrip(" "))

    generic = (
        " (check the indentation of this line and the one before it: nested fields go two"
        " spaces further in)"
    )
    if k >= len(lines):
        return generic
    before = [j for j in range(k - 1, -1, -1) if lines[j].strip()]
    before = [j for j in before if not lines[j].lstrip().startswith("#")][:1]
    if before and indent(lines[before[0]]) % 2 and not indent(lines[k]) % 2:
        j = before[0]
        return (
            f" (check the indentation: line {j + 1} is indented {indent(lines[j])} spaces;"
            " fields of one mapping start in the same column, nested fields two spaces"
            " further in)"
        )
    if indent(lines[k]) % 2:
        return (
            f" (check the indentation: this line is indented {indent(lines[k])} spaces; fields"
            " of one mapping start in the same column, nested fields two spaces further in)"
        )
    return generic


class _Builder:
    """Builds data and positions from parser events, without recursion."""

    def __init__(self, file: str, limits: Limits) -> None:
        self.file = file
        self.limits = limits
        self.resolver = Resolver()
        self.constructor = SafeConstructor()
        self.anchors: dict[str, tuple[Any, tuple, int]] = {}
        self.nodes = 0

    def fail(self, message: str, pos: tuple[int, int]) -> ScenarioError:
        return ScenarioError(message, self.file, *pos)

    def build(self, events) -> tuple[Any, SourceMap]:
        stack: list[_Frame] = []
        result: list = []
        documents = 0
        for event in events:
            kind = type(event)
            if kind is yaml.ScalarEvent:
                pos = _mark(event)
                value = self._scalar(event, pos, stack)
                self._add(stack, result, value, (pos[0], pos[1], 0, 0, None), 1, event.anchor, pos)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                pos = _mark(event)
                is_map = kind is yaml.MappingStartEvent
                if event.tag not in (None, "!", _MAP if is_map else _SEQ):
                    raise self.fail(
                        f"tag {event.tag!r} is not supported in a scenario; write a plain "
                        f"{'mapping' if is_map else 'list'}.",
                        pos,
                    )
                if len(stack) >= self.limits.max_depth:
                    raise self.fail(
                        f"nesting deeper than {self.limits.max_depth} levels; a scenario needs "
                        "far fewer (flatten the 'all'/'any' triggers).",
                        pos,
                    )
                self._count(1, pos)
                stack.append(
                    _Frame(is_map, {} if is_map else [], {} if is_map else [], *pos, event.anchor)
                )
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                frame = stack.pop()
                data, children = frame.data, frame.children
                if frame.merged:
                    data = {**frame.merged, **data}
                    children = {**frame.merged_children, **children}
                posnode = (frame.line, frame.col, 0, 0, children)
                self._add(
                    stack, result, data, posnode, frame.count, frame.anchor, (frame.line, frame.col)
                )
            elif kind is yaml.AliasEvent:
                pos = _mark(event)
                if event.anchor not in self.anchors:
                    raise self.fail(
                        f"alias *{event.anchor} names no anchor defined above it; define "
                        f"&{event.anchor} first.",
                        pos,
                    )
                value, posnode, count = self.anchors[event.anchor]
                self._count(count, pos)
                value = copy.deepcopy(value) if isinstance(value, (dict, list)) else value
                self._add(stack, result, value, posnode, count, None, pos, counted=True)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise self.fail(
                        "a second YAML document ('---'): a scenario file holds one; remove the "
                        "separator or move the rest into its own file.",
                        _mark(event),
                    )
        if not result:
            return None, SourceMap((1, 1, 0, 0, None))
        value, posnode = result[0]
        return value, SourceMap(posnode)

    def _count(self, n: int, pos) -> None:
        self.nodes += n
        if self.nodes > self.limits.max_nodes:
            raise self.fail(
                f"more than {self.limits.max_nodes:,} values (aliases count at their expanded "
                "size); a scenario needs far fewer. Is this file generated by mistake?",
                pos,
            )

    def _add(self, stack, result, value, posnode, count, anchor, pos, counted=False) -> None:
        if not counted and posnode[4] is None:
            self._count(1, pos)
        if anchor is not None:
            self.anchors[anchor] = (value, posnode, count)
        if not stack:
            result.append((value, posnode))
            return
        frame = stack[-1]
        frame.count += count
        if not frame.is_map:
            frame.data.append(value)
            frame.children.append(posnode)
            return
        if not frame.has_key:
            if isinstance(value, (dict, list)):
                raise self.fail(
                    "a key must be a plain name, not a list or a mapping (did a '?' or a "
                    "missing line break slip in?).",
                    pos,
                )
            if frame.key_lines is None:
                frame.key_lines = {}
            if value in frame.key_lines and value != _MergeKey:
                line, col = frame.key_lines[value]
                raise self.fail(
                    f"duplicate key {value!r}: it is already given at line {line}, column "
                    f"{col} of this mapping; YAML would silently keep only the last one. "
                    "Remove or rename one of them.",
                    pos,
                )
            frame.key_lines[value] = pos
            frame.key, frame.key_pos, frame.has_key = value, pos, True
            return
        key, key_pos = frame.key, frame.key_pos
        frame.has_key = False
        if key is _MergeKey:
            self._merge(frame, value, posnode, pos)
            return
        frame.data[key] = value
        frame.children[key] = (posnode[0], posnode[1], key_pos[0], key_pos[1], posnode[4])

    def _merge(self, frame: _Frame, value, posnode, pos) -> None:
        """``<<: *base`` (or a list of them): keys not given here are taken from base."""
        sources = (
            [(value, posnode)]
            if isinstance(value, dict)
            else list(zip(value, posnode[4] or [], strict=False))
            if isinstance(value, list)
            else []
        )
        if not sources or not all(isinstance(v, dict) for v, _ in sources):
            raise self.fail("'<<' merges a mapping (or a list of mappings) into this one.", pos)
        if frame.merged is None:
            frame.merged, frame.merged_children = {}, {}
        for data, node in sources:  # earlier sources win, as YAML specifies
            for key, item in data.items():
                if key not in frame.merged:
                    frame.merged[key] = item
                    child = (node[4] or {}).get(key) if isinstance(node[4], dict) else None
                    frame.merged_children[key] = child or (pos[0], pos[1], pos[0], pos[1], None)

    def _scalar(self, event, pos, stack: list[_Frame]) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            if event.implicit[0]:
                tag = self.resolver.resolve(yaml.ScalarNode, event.value, (True, False))
                if tag == _STR and _NUMBER_12.match(event.value):
                    tag = _FLOAT  # YAML 1.2 reads 1e-9 as a number; YAML 1.1 as text
            else:
                tag = _STR
        if tag == _MERGE:
            return _MergeKey
        if tag not in _SCALAR_TAGS:
            raise self.fail(
                f"tag {tag!r} is not supported in a scenario; write the value plainly.", pos
            )
        if tag == _STR:
            return event.value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            value = self.constructor.yaml_constructors[tag](self.constructor, node)
        except (ValueError, OverflowError, TypeError, yaml.YAMLError) as exc:
            raise self.fail(
                f"{_field_at(stack)}cannot read {event.value[:40]!r} as {tag.rsplit(':', 1)[-1]}: "
                f"{str(exc).splitlines()[0]}",
                pos,
            ) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(
                f"{_field_at(stack)}{event.value[:40]!r} is not a finite number; times, "
                "distances, weights and "
                "penalties must be finite (leave the field out for its default).",
                pos,
            )
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and abs(value) > self.limits.max_abs_number
        ):
            raise self.fail(
                f"{_field_at(stack)}{event.value[:40]!r} is too large: numbers in a scenario "
                "are SI quantities "
                f"and stay within +-{self.limits.max_abs_number:g}.",
                pos,
            )
        return value


def _field_at(stack: list[_Frame]) -> str:
    """``"scene.camera.fov_deg: "``, the path of keys and indices to the value being read
    ('' at the top, or for a key): an error met while reading a number names its field,
    as the schema's errors do ("'.nan' is not a finite number" named none)."""
    out = ""
    for frame in stack:
        if frame.is_map:
            if not frame.has_key:
                return ""  # the value read is a key, not a field's value
            out += ("." if out else "") + str(frame.key)
        else:
            out += f"[{len(frame.data)}]"
    return f"{out}: " if out else ""


class _MergeKeyType:
    """The ``<<`` merge key (a sentinel: it is never a real key)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<<'"


_MergeKey = _MergeKeyType()
