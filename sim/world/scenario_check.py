"""Checking a scenario against what the world will build, before anything runs.

The loader (:mod:`scenarios.loader`) knows the file: it checks that a trigger's object
id, arm or step exists. Only the world knows what an object turns into: a ``peg_board``
called ``board`` becomes the bodies ``board`` and ``board/ring0`` ... ``board/ring5``
(as many rings as ``rings_on`` lists), with landmarks ``board:peg0`` ... ``board:peg11``.
This module builds each object's geometry (:func:`sim.world.boards.bodies_for`: plain
data, no pybullet, a few milliseconds) and checks every name a trigger or action uses
(the fields the schema marks with :class:`~scenarios.schema.Ref`) against those bodies
and landmarks, the spawned objects' descriptions against the world's rules, and the
demonstration plan's kind against the plans that exist. Each problem is a
:class:`~scenarios.errors.ScenarioError` at the YAML line that names it, so
``surgisim scenario validate`` says what a run would otherwise stumble on mid-session.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable

import numpy as np

from scenarios.errors import ScenarioError, suggest
from scenarios.schema import Ref, Scenario, references
from sim.errors import SimError
from sim.world.scenario_scene import build_scene_spec, field_loc
from sim.world.scene import ObjectSpec, SceneSpec, object_from_dict


@dataclasses.dataclass(frozen=True)
class BodyNames:
    """What a trigger may say about one body the world will build.

    Attributes:
        movable: the body can be grasped and moved (a ring, a needle), not scenery.
        landmarks: its named points (``peg7``, ``wall0``, ``entry1``, ...).
    """

    movable: bool
    landmarks: tuple[str, ...]


def check_scenario(
    scenario: Scenario,
    *,
    plan_kinds: Iterable[str] | None = None,
    seed: int = 0,
    plan_unrunnable: Callable[[Scenario], str | None] | None = None,
    plan_missing: Callable[[Scenario, dict], tuple[tuple, str] | None] | None = None,
) -> SceneSpec:
    """Everything a run of ``scenario`` will look up, looked up now.

    Args:
        scenario: a loaded scenario (its positions point errors at the YAML).
        plan_kinds: the demonstration plans that exist (``sim.session.plans.PLANS``);
            when given, a ``plan.kind`` must be one of them.
        seed: world seed for building the scene (only jitter depends on it).
        plan_unrunnable: why the scenario's plan certainly cannot run in it, or None
            (``sim.session.plans.plan_unrunnable``, passed in: the world does not import
            the session's plans); a reason is an error at ``plan.kind``.
        plan_missing: the first body or landmark the plan looks up that the world will
            not build, as ``(loc, message)``, or None (``sim.session.plans.plan_missing``,
            passed in likewise); given the bodies this check knows.

    Returns:
        The world's scene description (as :func:`build_scene_spec` returns it).

    Raises:
        ScenarioError: at the line of the first unknown body, landmark, spawned object
            description or plan kind, listing the valid names and the closest one.
    """
    try:
        spec = build_scene_spec(scenario, seed)
    except ScenarioError as exc:  # the world quotes values in full: a long list stays short
        if len(exc.message) <= 600:
            raise
        raise ScenarioError(exc.message[:600] + " ...", exc.file, exc.line, exc.col) from None
    bodies: dict[str, BodyNames] = {}
    placed = [(("scene", "objects", i), obj) for i, obj in enumerate(spec.objects)]
    for loc, obj in placed + _spawned(scenario):
        bodies.update(_geometry_names(scenario, loc, obj))
    for loc, ref, name in references(scenario):
        if ref.kind in ("body", "point") and not (ref.any_ok and name == "any"):
            _check_name(scenario, loc, ref, name, bodies)
    if spec.workspace_m is not None:
        _check_inside_workspace(scenario, placed + _spawned(scenario), spec.workspace_m, seed)
    if plan_kinds is not None and scenario.plan is not None:
        kinds = sorted(plan_kinds)
        kind = scenario.plan.kind
        if kind not in kinds:
            _fail(
                scenario,
                ("plan", "kind"),
                f"plan.kind: unknown demonstration plan {kind!r}; plans are {kinds}."
                + suggest(str(kind), kinds),
            )
    if plan_unrunnable is not None and scenario.plan is not None:
        why = plan_unrunnable(scenario)
        if why is not None:
            _fail(scenario, ("plan", "kind"), f"plan.kind: {why}")
    if plan_missing is not None and scenario.plan is not None:
        missing = plan_missing(scenario, bodies)
        if missing is not None:
            loc, why = missing
            _fail(scenario, loc, f"{_dotted(loc)}: {why}")
    return spec


def body_names(obj: ObjectSpec) -> dict[str, BodyNames]:
    """Body name -> :class:`BodyNames` for one described object.

    The geometry is built once per distinct *template*: the description with its name,
    pose and every non-zero real-valued field (sizes, masses, stiffnesses) put back to
    their defaults, since names and roles depend on counts and choices (``rings_on``,
    ``mark_pairs``, ``environment``, a zero mass), never on dimensions
    (``tests/sim/world/test_scenario_check.py`` holds every object type to that). So a
    scene of many boards costs one build per kind of board.
    """
    changes: dict = {"name": "_"}
    sizes: dict = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name in ("position_m", "rpy_rad"):
            changes[f.name] = f.default
        elif (
            f.default is not dataclasses.MISSING
            and value != 0.0  # a zero can matter (a mass of 0 makes a body static)
            and _real_valued(value)
            and _real_valued(f.default)
        ):
            sizes[f.name] = f.default
    try:
        template = dataclasses.replace(obj, **changes, **sizes)
    except SimError:  # counts only its own sizes hold (a long pad's many marks): as given
        template = dataclasses.replace(obj, **changes)
    return {obj.name + suffix: names for suffix, names in _names_of(template)}


def _geometry_names(scenario: Scenario, loc: tuple, obj: ObjectSpec) -> dict[str, BodyNames]:
    """:func:`body_names`, with what only building the geometry finds (a mesh file that
    exists but is no mesh) as an error at the object, not an internal error."""
    try:
        return body_names(obj)
    except SimError as exc:
        message = str(exc).replace(f"{obj.type} '_'", f"{obj.type} {obj.name!r}")
        _fail(scenario, (*loc, *field_loc("objects", message)), f"{_dotted(loc)}: {message}")


def _real_valued(value) -> bool:
    """A float, or a tuple of them (a size, a colour)."""
    if isinstance(value, tuple):
        return bool(value) and all(_real_valued(v) for v in value)
    return isinstance(value, float)


@functools.lru_cache(maxsize=256)
def _names_of(template: ObjectSpec) -> tuple[tuple[str, BodyNames], ...]:
    from sim.world.boards import OBJECT, bodies_for

    out = []
    for body in bodies_for(template, np.random.default_rng(0)):
        suffix = body.name.removeprefix(template.name)
        out.append((suffix, BodyNames(body.role == OBJECT, tuple(body.landmarks))))
    return tuple(out)


def _spawned(scenario: Scenario) -> list[tuple[tuple, ObjectSpec]]:
    """The world's description of each spawned object (checked by the world's rules)."""
    out = []
    for i, event in enumerate(scenario.exercise.events):
        for j, action in enumerate(event.do):
            spawn = action.spawn
            if spawn is None:
                continue
            loc = ("exercise", "events", i, "do", j, "spawn")
            data = {
                "type": spawn.type,
                "name": spawn.id,
                "position_m": list(spawn.pose.position_m),
                "rpy_rad": list(spawn.pose.rpy_rad),
                **spawn.params,
            }
            try:
                out.append((loc, object_from_dict(data, f"spawn {spawn.id!r}")))
            except SimError as exc:  # at the value of the field it names, if written
                _fail(scenario, (*loc, *field_loc("objects", str(exc))), f"{_dotted(loc)}: {exc}")
    return out


def _check_inside_workspace(scenario: Scenario, objects, workspace_m, seed: int) -> None:
    """Every movable body starts, is spawned and is moved inside ``workspace_m``: one that
    is not counts as dropped at once, a penalty the trainee did nothing to earn (a box
    placed at ``[20, -30, 13]``, millimetres for metres, validated and cost a drop)."""
    from sim.world.boards import OBJECT, bodies_for

    low, high = (np.asarray(corner, dtype=float) for corner in workspace_m)

    def outside(p) -> bool:
        return bool(np.any(p < low) or np.any(p > high))

    def fail(loc: tuple, what: str, p) -> None:
        hint = " Positions are in metres: millimetres?" if np.max(np.abs(p)) > 1.0 else ""
        _fail(
            scenario,
            loc,
            f"{_dotted(loc)}: {what} at {_metres(p)} m, outside scene.workspace_m "
            f"[{_metres(low)}, {_metres(high)}]: it would count as dropped at once. Move it "
            f"inside, or widen workspace_m.{hint}",
        )

    rng = np.random.default_rng(seed)
    for loc, obj in objects:
        # a jittered ring may start anywhere within its disc, whatever the seed: the
        # nominal places widened by the jitter are checked (seed 0 alone passed a jitter
        # that put rings outside on 10 seeds of 12)
        jitter_m = float(getattr(obj, "ring_jitter_m", 0.0) or 0.0)
        nominal = dataclasses.replace(obj, ring_jitter_m=0.0) if jitter_m else obj
        reach = np.array([jitter_m, jitter_m, 0.0])
        bodies = bodies_for(nominal, rng)
        if jitter_m:
            _check_rings_on_board(scenario, loc, obj, bodies, jitter_m)
        for body in bodies:
            p = body.X_WB[:3, 3]
            if body.role != OBJECT or not (outside(p - reach) or outside(p + reach)):
                continue
            if jitter_m and not outside(p):
                _fail(
                    scenario,
                    (*loc, "params", "ring_jitter_m"),
                    f"{_dotted(loc)}.params.ring_jitter_m: with {jitter_m:g} m of jitter "
                    f"{body.name!r} can start up to {jitter_m:g} m from {_metres(p)} m, "
                    f"past scene.workspace_m [{_metres(low)}, {_metres(high)}]: on some "
                    "seeds it would count as dropped at once. Reduce the jitter, or widen "
                    "workspace_m.",
                )
            verb = "is spawned" if "spawn" in loc else "starts"
            # a body the object builds (a board's ring) is placed by the object's pose
            # when one is written, else by the object's type alone
            placed = body.name == obj.name or any(obj.position_m)
            fail((*loc, "pose", "position_m") if placed else loc, f"{body.name!r} {verb}", p)
    for i, event in enumerate(scenario.exercise.events):
        for j, action in enumerate(event.do):
            if action.move is not None:
                p = np.asarray(action.move.pose.position_m, dtype=float)
                if outside(p):
                    loc = ("exercise", "events", i, "do", j, "move", "pose", "position_m")
                    fail(loc, f"{action.move.object!r} is moved", p)


def _check_rings_on_board(scenario: Scenario, loc: tuple, board, bodies, jitter_m: float):
    """A jittered ring must start on its board: one whose centre lands past the board's
    edge falls off at once, a drop nobody caused (a 3.4 cm jitter validated, the board's
    edge being 3 cm from the outer pegs, and dropped a ring on seed 2610)."""
    from sim.world.boards import OBJECT

    size = getattr(board, "board_size_m", None)
    base = next((b for b in bodies if b.name == board.name), None)
    if size is None or base is None:
        return
    half = np.asarray(size[:2], dtype=float) / 2
    R, t = base.X_WB[:3, :3], base.X_WB[:3, 3]
    for body in bodies:
        if body.role != OBJECT:
            continue
        on_board = R.T @ (body.X_WB[:3, 3] - t)  # the ring's centre in the board's frame
        if np.any(np.abs(on_board[:2]) + jitter_m > half):
            edge_m = float(np.min(half - np.abs(on_board[:2])))
            _fail(
                scenario,
                (*loc, "params", "ring_jitter_m"),
                f"{_dotted(loc)}.params.ring_jitter_m: with {jitter_m:g} m of jitter "
                f"{body.name!r}, {edge_m:.3g} m from the board's edge, can start off the "
                "board and fall at once (a drop on some seeds). Keep the jitter under "
                f"{edge_m:.3g} m, or make the board larger (board_size_m).",
            )


def _metres(p) -> str:
    return "[" + ", ".join(f"{float(v):.4g}" for v in p) + "]"


def _check_name(scenario, loc: tuple, ref: Ref, name: str, bodies: dict[str, BodyNames]):
    body, colon, mark = name.partition(":")
    if colon and not mark:
        _fail(
            scenario,
            loc,
            f"{_dotted(loc)}: {name!r} names no landmark after ':'; write {body!r} for the "
            f"body, or {body}:LANDMARK for a point on it.",
        )
    if mark and ref.kind != "point":
        _fail(
            scenario,
            loc,
            f"{_dotted(loc)}: {name!r} names a landmark; this field takes a body "
            f"({body!r}), not a point on it.",
        )
    if body not in bodies:
        _fail(
            scenario,
            loc,
            f"{_dotted(loc)}: the scene has no body {body!r}; bodies are "
            f"{_listing(bodies)}." + suggest(body, bodies),
        )
    names = bodies[body]
    if mark and mark not in names.landmarks:
        _fail(
            scenario,
            loc,
            f"{_dotted(loc)}: body {body!r} has no landmark {mark!r}; its landmarks are "
            f"{_listing(names.landmarks)}." + suggest(mark, names.landmarks),
        )
    if ref.movable and not names.movable:
        movable = [b for b, n in bodies.items() if n.movable]
        _fail(
            scenario,
            loc,
            f"{_dotted(loc)}: {body!r} is fixed scenery and is never grasped, dropped or "
            f"placed; objects that move are {_listing(movable)}." + suggest(body, movable),
        )


def _listing(names: Iterable[str], limit: int = 24) -> str:
    names = sorted(names)
    if len(names) <= limit:
        return str(names)
    return str(names[:limit])[:-1] + f", ... ({len(names) - limit} more)]"


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _fail(scenario: Scenario, loc: tuple, message: str):
    line, col = scenario.position_of(loc)
    raise ScenarioError(message, scenario.source_file, line, col)
