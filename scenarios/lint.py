"""Warnings about a valid scenario: settings the schema must allow but that are probably
not what the author meant. ``surgisim scenario validate`` prints them; nothing refuses a
file for them.

Each check is a small function from a loaded scenario to its warnings, placed at the
line of the setting at fault (``FILE:LINE:COL: warning: ...``). :func:`scenario_warnings`
runs them all; add a check to :data:`CHECKS` to have validate report it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from pydantic import BaseModel

from scenarios.errors import ScenarioWarning, suggest
from scenarios.glossary import instrument_of
from scenarios.loader import library_names, load_scenario
from scenarios.schema import FLSRule, MScoreRule, Scenario, references
from scenarios.scoring import COLLISION_PARTS, never_measured, unscored_safety


def warning_at(scenario: Scenario, loc: tuple, message: str, on_key: bool = False):
    """A warning placed at the YAML node at ``loc`` (the deepest that exists, so a field
    left at its default is placed at the mapping that would hold it)."""
    line, col = scenario.position_of(loc, on_key=on_key)
    return ScenarioWarning(message, scenario.source_file, line, col)


def unknown_prerequisites(scenario: Scenario) -> list[ScenarioWarning]:
    """A prerequisite that names no bundled scenario: it may name an institution's own
    scenario, so it cannot be an error, but a misspelt bundled name would otherwise pass
    unnoticed (the closest bundled name is suggested, whatever its case)."""
    names = library_names()
    return [
        warning_at(
            scenario,
            ("prerequisites", i),
            f"prerequisites[{i}]: {name!r} is not a bundled scenario (bundled: {names}); "
            "fine if it is one of your own." + suggest(name, names),
        )
        for i, name in enumerate(scenario.prerequisites)
        if name not in names
    ]


def time_past_cutoff(scenario: Scenario) -> list[ScenarioWarning]:
    """Under the FLS rule, a time limit past the rubric's cut-off leaves time that can only
    score 0 (a finished attempt past the cut-off and an unfinished one both score 0): the
    trainee works on with nothing left to gain."""
    rule = scenario.scoring.rule
    limit_s = scenario.exercise.time_limit_s
    if not isinstance(rule, FLSRule) or limit_s <= rule.cutoff_s:
        return []
    given = "time_limit_s" in scenario.exercise.model_fields_set
    # a limit left at its default is placed at the exercise, where it would be written
    loc = ("exercise", "time_limit_s") if given else ("exercise",)
    what = f"{limit_s:g} s" if given else f"{limit_s:g} s by default"
    return [
        warning_at(
            scenario,
            loc,
            f"exercise.time_limit_s ({what}) is longer than the rubric's cutoff_s "
            f"({rule.cutoff_s:g} s): from {rule.cutoff_s:g} s on the score is 0, finished or "
            f"not, so the last {limit_s - rule.cutoff_s:g} s cannot score. Set time_limit_s: "
            f"{rule.cutoff_s:g}.",
            on_key=not given,
        )
    ]


def mscore_without_completion(scenario: Scenario) -> list[ScenarioWarning]:
    """``require_completion: false`` under the MScore rule scores an attempt not completed
    on what it measured, and an attempt that does little measures little: giving up at
    0.5 s scored 85.7, above a completed run with one clash (82.1), since no path and no
    safety event earn 100 on every metric but time. Under FLS the cut-off time leaves an
    attempt not completed nothing, so ``false`` there is no warning."""
    scoring = scenario.scoring
    if not isinstance(scoring.rule, MScoreRule) or scoring.require_completion:
        return []
    return [
        warning_at(
            scenario,
            ("scoring", "require_completion"),
            "scoring.require_completion: false under the mscore rule scores an attempt not "
            "completed on what it measured, so doing little scores well (giving up at once "
            "or sitting idle: no path, no clash, 100 on every metric but time, above a "
            "completed attempt with one clash). Remove it (true is the default) so an "
            "attempt not completed scores 0.",
        )
    ]


def ldlj_scored(scenario: Scenario) -> list[ScenarioWarning]:
    """A rubric that scores ``ldlj`` (a benchmark, penalty or limit): LDLJ divides the
    jerk by the peak speed squared, so it is measured only where a tip once moved faster
    than ``movement_speed_m_s`` (below, the simulation's nanometre noise outweighs the
    motion), and an attempt crawled below that is not judged on it at all (a slow reach
    passed where the same reach done briskly failed). SPARC is measured on any tip that
    travelled 5 mm and is robust to noise (Balasubramanian et al. 2015)."""
    rule = scenario.scoring.metrics.get("ldlj")
    scored = rule is not None and (rule.benchmark, rule.penalty, rule.limit) != (None, None, None)
    if not scored:
        return []
    return [
        warning_at(
            scenario,
            ("scoring", "metrics", "ldlj"),
            "ldlj is scored, but it is measured only where a tip once moved faster than "
            "movement_speed_m_s (it divides by the peak speed squared, so noise outweighs a "
            "slow motion): an attempt crawled below that is not judged on it. Score sparc "
            "instead (measured on any tip that travelled 5 mm, robust to noise), or keep "
            "ldlj reported only.",
            on_key=True,
        )
    ]


def unscored_safety_metrics(scenario: Scenario) -> list[ScenarioWarning]:
    """Safety metrics the scene can produce but the rubric does not score (see
    :func:`scenarios.scoring.unscored_safety`): a trainee could pass while clashing."""
    unsafe = unscored_safety(scenario)
    if not unsafe:
        return []
    return [
        warning_at(
            scenario,
            ("scoring", "metrics"),
            f"safety metrics not scored: {', '.join(unsafe)} (give them a penalty, benchmark "
            "or limit: docs/scenarios.md)",
            on_key=True,
        )
    ]


def limits_never_measured(scenario: Scenario) -> list[ScenarioWarning]:
    """A proficiency limit on a metric this scene never measures (``drops`` where there is
    nothing to pick up) is always met: most likely a rule copied from another scenario."""
    never = never_measured(scenario)
    return [
        warning_at(
            scenario,
            ("scoring", "proficiency", "limits", name),
            f"scoring.proficiency.limits.{name}: this scene never measures {name}, so the "
            "limit is always met (copied from another scenario?); remove it or limit a "
            "metric this scene has.",
            on_key=True,
        )
        for name in scenario.scoring.proficiency.limits
        if name in never
    ]


def metrics_never_measured(scenario: Scenario) -> list[ScenarioWarning]:
    """A rubric metric this scene never measures reads "does not apply" in every session:
    its benchmark or limit never counts (a re-check: ``path_length_cm[ECM]`` limited to
    1 cm in a scene whose scope no hand drives validated clean and never applied)."""
    never = never_measured(scenario)
    return [
        warning_at(
            scenario,
            ("scoring", "metrics", name),
            f"scoring.metrics.{name}: this scene never measures {name}, so it does not apply"
            " in any session and its rule never counts"
            + (
                " (a scope's path is traced only when a hand drives it: give the arm"
                " `teleoperated: true` and a `hand`)"
                if instrument_of(name) is not None
                else ""
            )
            + "; remove it or score a metric this scene has.",
            on_key=True,
        )
        for name in scenario.scoring.metrics
        if name in never
    ]


def timers_never_started(scenario: Scenario) -> list[ScenarioWarning]:
    """A ``stop_timer`` whose timer no action starts records nothing (a misspelt name, or
    a start removed): its ``timer_stopped`` event says no time."""
    started = {name for _, name in scenario.exercise.timer_actions("start_timer")}
    return [
        warning_at(
            scenario,
            loc,
            f"stop_timer {name!r}: no start_timer starts a timer of that name, so it "
            f"measures nothing; timers started: {sorted(started) or 'none'}."
            + suggest(name, sorted(started)),
        )
        for loc, name in scenario.exercise.timer_actions("stop_timer")
        if name not in started
    ]


#: A length (m) past this in a laparoscopic scene (tens of centimetres across) is most
#: likely millimetres or centimetres written as metres.
IMPLAUSIBLE_LENGTH_M = 1.0
#: An angle (rad) past a full turn is most likely degrees written as radians.
FULL_TURN_RAD = 2 * math.pi
#: A field of view (deg) under this is most likely radians written as degrees (a real
#: endoscope sees 30-120 degrees).
IMPLAUSIBLE_FOV_DEG = 10.0


def _numbers(value) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _numbers(v)]
    return []


def _settings(value, loc: tuple = ()):
    """Every ``(loc, key, value)`` in a scenario's fields, objects' ``params`` included."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _settings(getattr(value, name), (*loc, name))
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _settings(item, (*loc, key))
        return
    if isinstance(value, (list, tuple)) and any(
        isinstance(v, (BaseModel, dict, list, tuple)) for v in value
    ):
        for i, item in enumerate(value):
            yield from _settings(item, (*loc, i))
        return
    if loc and isinstance(loc[-1], str):
        yield loc, loc[-1], value


#: Units that end in ``_m`` but are no length: N/m, N s/m, kg m (a tissue's stiffness of
#: 1000 N/m, its default, read "1000 m is more than a laparoscopic scene spans").
_NOT_LENGTHS = ("_n_m", "_n_s_m", "_s_m", "_kg_m", "_per_m")


def _is_length(key: str) -> bool:
    return key.endswith("_m") and not key.endswith(_NOT_LENGTHS)


def implausible_units(scenario: Scenario) -> list[ScenarioWarning]:
    """Numbers whose unit looks mistaken, as an author slips: a position or size in
    millimetres (``[20, -30, 13]``, ``size_m: [10, 10, 10]``), degrees in a ``_rad`` field
    (``rpy_rad: [0, 0, 45]``), radians in ``fov_deg`` (1.22). They validate (the schema
    cannot know intent) and then build a scene nothing like the one meant."""
    out = []
    for loc, key, value in _settings(scenario):
        numbers = _numbers(value)
        if not numbers or loc[0] == "plan":
            continue
        largest = max(abs(x) for x in numbers)
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)[1:]
        if _is_length(key) and largest > IMPLAUSIBLE_LENGTH_M:
            out.append(
                warning_at(
                    scenario,
                    loc,
                    f"{where}: {largest:g} m is more than a laparoscopic scene spans; lengths "
                    "are in metres (10 mm is 0.01): millimetres?",
                )
            )
        elif key.endswith("_rad") and largest > FULL_TURN_RAD + 1e-9:
            out.append(
                warning_at(
                    scenario,
                    loc,
                    f"{where}: {largest:g} rad is more than a full turn; angles are in "
                    f"radians (45 degrees is {math.radians(45):.4f}): degrees?",
                )
            )
        elif key == "fov_deg" and largest < IMPLAUSIBLE_FOV_DEG:
            out.append(
                warning_at(
                    scenario,
                    loc,
                    f"{where}: a {largest:g} degree field of view sees almost nothing; "
                    f"fov_deg is in degrees ({largest:g} rad is {math.degrees(largest):.0f}): "
                    "radians?",
                )
            )
    return out


#: The most force (N) a teleoperated tip was measured to press with: 38.7 N, PSM1's closed
#: jaws driven 16-26 mm into the peg board until the insertion motor stalled at its 20 N
#: effort limit and the pitch and yaw motors pushed the rest (docs/scenarios.md, Metrics).
#: An ``excessive_force_n`` past this is practically never exceeded, so excessive-force
#: time reads 0 whatever the trainee does: most likely millinewtons written as newtons.
MEASURED_MAX_TIP_FORCE_N = 38.7
#: The tool tip's teleoperation speed limit (m/s): ``haptics.teleop.TeleopConfig``'s
#: ``max_tip_speed_m_s`` (scenarios may not import haptics; a test keeps the two equal).
#: A speed threshold past it is one no teleoperated tip reaches: every sample is idle, no
#: peak is a movement. Most likely mm/s written as m/s.
TIP_SPEED_LIMIT_M_S = 0.2


def _smaller_unit_hint(value: float, units_are: str, smaller: str, least: float) -> str:
    """The end of a unit-slip warning: the value read in the unit a thousand times
    smaller, only where that reading is a plausible threshold (``least`` of it or more:
    2500 mN, 5 mm/s). A 40 N limit is a choice past the motors, not 0.04 N written in
    millinewtons; "(40 mN is 0.04): millinewtons?" misled."""
    if value < least:
        return "."
    return f"; {units_are} ({value:g} {smaller} is {value / 1000:g}): {smaller}?"


def implausible_thresholds(scenario: Scenario) -> list[ScenarioWarning]:
    """Rubric thresholds past what a tip can do (``excessive_force_n: 2500`` for 2.5 N,
    ``idle_speed_m_s: 5`` for 5 mm/s). They validated "ok" and switched the measures off:
    a re-scored expert session read 0 s of excessive force, the whole session idle, no
    movement, and passed."""
    thresholds = scenario.scoring.thresholds
    given = thresholds.model_fields_set
    out = []
    force_n = float(thresholds.excessive_force_n)
    if "excessive_force_n" in given and force_n > MEASURED_MAX_TIP_FORCE_N:
        out.append(
            warning_at(
                scenario,
                ("scoring", "thresholds", "excessive_force_n"),
                f"scoring.thresholds.excessive_force_n: {force_n:g} N is more than an arm's "
                f"motors press a tip with (measured at most {MEASURED_MAX_TIP_FORCE_N:g} N, "
                "jaws driven into the board), so excessive-force time is always 0 and cannot "
                "be penalised"
                + _smaller_unit_hint(force_n, "forces are in newtons", "mN", least=100.0),
            )
        )
    effects = {
        "idle_speed_m_s": "every moment counts as idle",
        "movement_speed_m_s": "no motion counts as a movement (and ldlj is never measured)",
    }
    for name, effect in effects.items():
        speed = float(getattr(thresholds, name))
        if name in given and speed > TIP_SPEED_LIMIT_M_S:
            out.append(
                warning_at(
                    scenario,
                    ("scoring", "thresholds", name),
                    f"scoring.thresholds.{name}: {speed:g} m/s is faster than the "
                    f"teleoperation speed limit lets a tip move ({TIP_SPEED_LIMIT_M_S:g} m/s), "
                    f"so {effect}"
                    + _smaller_unit_hint(speed, "speeds are in m/s", "mm/s", least=1.0),
                )
            )
    return out


#: The densest solid (kg/m³): osmium, 22,590; past this a mass is most likely grams
#: written as kilograms (a 1 cm cube of 5 g is 5,000 kg/m³, of "5 kg" 5,000,000).
MAX_SOLID_DENSITY_KG_M3 = 25_000.0
#: The lightest solid a task board holds (kg/m³): expanded polystyrene foam is 15-30,
#: balsa about 150; under this a mass is most likely milligrams or a slip of the size.
MIN_SOLID_DENSITY_KG_M3 = 10.0


def _volume_m3(kind: str, params: dict) -> float | None:
    """The volume of a primitive object from its parameters (their defaults where left
    out: :mod:`sim.world.scene`), None for other kinds or parameters that are no lengths."""
    try:
        if kind == "box":
            x, y, z = (float(v) for v in params.get("size_m", (0.01, 0.01, 0.01)))
            return x * y * z
        radius = float(params.get("radius_m", 0.005))
        if kind == "sphere":
            return 4.0 / 3.0 * math.pi * radius**3
        if kind == "cylinder":
            return math.pi * radius**2 * float(params.get("height_m", 0.01))
    except (TypeError, ValueError):
        return None
    return None


def implausible_density(scenario: Scenario) -> list[ScenarioWarning]:
    """A movable primitive whose mass and size give a density no solid has: ``mass_kg: 5``
    on a 1 cm cube (5 g meant) is 5,000,000 kg/m³, and the arms cannot lift it."""
    out = []
    for i, obj in enumerate(scenario.scene.objects):
        mass = obj.params.get("mass_kg")
        if isinstance(mass, bool) or not isinstance(mass, (int, float)) or mass <= 0:
            continue  # 0 is a static body; the default mass suits the default size
        if obj.params.get("environment") is True:
            continue  # scenery: its mass is not used
        volume = _volume_m3(obj.type, obj.params)
        lengths = _numbers([obj.params.get(k) for k in ("size_m", "radius_m", "height_m")])
        if not volume or volume <= 0 or any(x > IMPLAUSIBLE_LENGTH_M for x in lengths):
            continue  # no volume, or sizes already warned of as millimetres
        density = mass / volume
        if density > MAX_SOLID_DENSITY_KG_M3:
            why = (
                "denser than any solid (osmium is 22,590 kg/m³); mass_kg is in kilograms "
                f"({mass:g} g is {mass / 1000:g} kg): grams?"
            )
        elif density < MIN_SOLID_DENSITY_KG_M3:
            why = (
                "lighter than any solid (expanded polystyrene is about 15 kg/m³); mass_kg "
                "is in kilograms and sizes in metres: milligrams, or a size slip?"
            )
        else:
            continue
        out.append(
            warning_at(
                scenario,
                ("scene", "objects", i, "params", "mass_kg"),
                f"scene.objects[{i}].params.mass_kg: {mass:g} kg in {volume * 1e6:.3g} cm³ "
                f"({obj.id!r}) is {density:,.0f} kg/m³, {why}",
            )
        )
    return out


def grasp_by_no_jaw(scenario: Scenario) -> list[ScenarioWarning]:
    """A condition on an object grasped ``by`` an arm without jaws (an ECM holds the
    camera): it can never hold, and the step or event waits forever."""
    from scenarios.triggers import Condition

    jawless = {a.name for a in scenario.scene.arms if a.kind == "ecm"}
    can = [a.name for a in scenario.scene.arms if a.kind != "ecm"]
    out = []
    for loc, model in _models(scenario):
        by = getattr(model, "by", None)
        if isinstance(model, Condition) and isinstance(by, str) and by in jawless:
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)[1:]
            kind = type(model).__name__.lower()
            out.append(
                warning_at(
                    scenario,
                    (*loc, "by"),
                    f"{where}.by: {by!r} is an endoscope arm with no jaws: it never holds "
                    f"an object, so this {kind} condition never holds (arms that can grasp: "
                    f"{', '.join(can) or 'none'})",
                )
            )
    return out


def _models(value, loc: tuple = ()):
    """Every ``(loc, model)`` in a scenario, nested ones included."""
    if isinstance(value, BaseModel):
        yield loc, value
        for name in type(value).model_fields:
            yield from _models(getattr(value, name), (*loc, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _models(item, (*loc, key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _models(item, (*loc, i))


def events_never_due(scenario: Scenario) -> list[ScenarioWarning]:
    """An event ``at`` a time at or past the exercise's time limit never fires."""
    limit_s = scenario.exercise.time_limit_s
    return [
        warning_at(
            scenario,
            ("exercise", "events", i, "at"),
            f"exercise.events[{i}].at: {event.at:g} s is not before the time limit of "
            f"{limit_s:g} s, so this event never happens.",
        )
        for i, event in enumerate(scenario.exercise.events)
        if event.at is not None and event.at >= limit_s
    ]


def _models_in(model: BaseModel, loc: tuple = ()):
    """Every model in ``model`` and below, with the path of keys and indices to it."""
    yield loc, model
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = (
            enumerate(value)
            if isinstance(value, list)
            else value.items()
            if isinstance(value, dict)
            else [(None, value)]
        )
        for key, item in items:
            if isinstance(item, BaseModel):
                yield from _models_in(item, (*loc, name) if key is None else (*loc, name, key))


def holds_past_the_limit(scenario: Scenario) -> list[ScenarioWarning]:
    """A ``held`` condition whose ``for_s`` is not shorter than the time limit can never
    hold long enough (``held: {for_s: 1e9}`` validated): its step is never done."""
    from scenarios.triggers import Held

    limit_s = scenario.exercise.time_limit_s
    out = []
    for loc, model in _models_in(scenario.exercise, ("exercise",)):
        if isinstance(model, Held) and model.for_s >= limit_s:
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)[1:]
            out.append(
                warning_at(
                    scenario,
                    (*loc, "for_s"),
                    f"{where}.for_s: {model.for_s:g} s is not shorter than the time limit of "
                    f"{limit_s:g} s, so it never holds that long: shorten it.",
                )
            )
    return out


def dotted(loc: tuple) -> str:
    """``loc`` as the dotted path the messages show (``exercise.steps[0].done_when``)."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)[1:]


def times_never_reached(scenario: Scenario) -> list[ScenarioWarning]:
    """A ``time_elapsed_s`` condition (a step's ``done_when``, an event's ``when``, inside
    ``all``/``any``/``held``) at or past the time limit never holds: the attempt ends
    first (``time_elapsed_s: 400`` under a 300 s limit validated clean). The same check
    as :func:`events_never_due` for ``at``."""
    from scenarios.triggers import Trigger

    limit_s = scenario.exercise.time_limit_s
    return [
        warning_at(
            scenario,
            (*loc, "time_elapsed_s"),
            f"{dotted(loc)}.time_elapsed_s: {model.time_elapsed_s:g} s is not before the "
            f"time limit of {limit_s:g} s, so this condition never holds (the attempt ends "
            "first): make it shorter than the limit, or the limit longer.",
        )
        for loc, model in _models_in(scenario.exercise, ("exercise",))
        if isinstance(model, Trigger)
        and model.time_elapsed_s is not None
        and model.time_elapsed_s >= limit_s
    ]


def region_off_the_scene(centre_m, radius_m: float) -> str | None:
    """Why an ``entered`` region (world, m) lies off the scene: the whole sphere below the
    floor (z = 0), where no tip goes; None when any of it is above. Not judged against
    ``workspace_m``: that is the box the objects must stay in, and a tip may reach past
    it (the reach itself is the world's check)."""
    if centre_m[2] + radius_m < 0:
        return "is below the floor (z = 0) by more than its radius, where no tip goes"
    return None


def entered_regions(scenario: Scenario):
    """Every ``(loc, entered)`` condition in the exercise (steps, events, nested)."""
    from scenarios.triggers import Entered

    for loc, model in _models_in(scenario.exercise, ("exercise",)):
        if isinstance(model, Entered):
            yield loc, model


def regions_out_of_the_scene(scenario: Scenario) -> list[ScenarioWarning]:
    """An ``entered`` region wholly below the floor (z = 0: an instrument's tip stops on
    it): most likely a slip of a coordinate or its sign (z = -0.05 validated clean, and
    the step was never done). A region above the floor that no tip reaches is the world's
    check (:mod:`sim.world.scene_warnings`, inverse kinematics through the ports)."""
    out = []
    for loc, model in entered_regions(scenario):
        centre = [float(v) for v in model.region.center_m]
        shown = ", ".join(f"{v:g}" for v in centre)
        why = region_off_the_scene(centre, float(model.region.radius_m))
        if why is None:
            continue
        out.append(
            warning_at(
                scenario,
                (*loc, "region", "center_m"),
                f"{dotted(loc)}.region.center_m: [{shown}] m {why}, so the region is most "
                "likely never entered; positions are in metres in the world frame, z up "
                "(a tip's reach is near the ports): check each coordinate and its sign.",
            )
        )
    return out


def collisions_counted_twice(scenario: Scenario) -> list[ScenarioWarning]:
    """A rubric that scores ``collisions`` (a penalty or benchmark) and also one of its
    parts scores every clash twice: ``collisions`` is their sum. A ``limit`` alone only
    gates proficiency and counts nothing."""
    metrics = scenario.scoring.metrics

    def in_score(name: str) -> bool:
        rule = metrics.get(name)
        return rule is not None and (rule.penalty, rule.benchmark) != (None, None)

    parts = [p for p in COLLISION_PARTS if in_score(p)]
    if not in_score("collisions") or not parts:
        return []
    return [
        warning_at(
            scenario,
            ("scoring", "metrics", "collisions"),
            f"scoring.metrics.collisions is instrument_collisions + environment_collisions, "
            f"and {' and '.join(parts)} {'is' if len(parts) == 1 else 'are'} scored too, so "
            "every such clash counts twice: score collisions alone, or its two parts "
            "without it.",
            on_key=True,
        )
    ]


def step_outline(scenario: Scenario) -> list[tuple[str, tuple[str, ...]]]:
    """The exercise's steps as a plan sees them: each step's id, in order, with the names
    its ``done_when`` refers to (objects, landmarks, arms) in order. Numbers (tolerances,
    hold times) are left out: tuning them does not change what a plan must do."""
    steps = scenario.exercise.steps
    names: list[list[str]] = [[] for _ in steps]
    for loc, _ref, name in references(scenario.exercise):
        if loc[0] == "steps":
            names[loc[1]].append(name)
    return [(step.id, tuple(refs)) for step, refs in zip(steps, names, strict=True)]


@functools.cache
def _bundled_outlines(kind: str) -> dict[str, list]:
    """Bundled scenario name -> its step outline, for those driven by plan ``kind``."""
    outlines = {}
    for name in library_names():
        bundled = load_scenario(name)
        if bundled.plan is not None and bundled.plan.kind == kind:
            outlines[name] = step_outline(bundled)
    return outlines


#: What to do instead when a bundled plan does not fit a scenario (validate's warning here,
#: and the run's error in :mod:`sim.session.plans`).
INSTEAD = (
    "the bundled plans drive the bundled exercises; write your own controller (README "
    "'Your own controller') or drive it with a device"
)


def plan_for_other_steps(scenario: Scenario) -> list[ScenarioWarning]:
    """A bundled demonstration plan whose steps differ from every bundled scenario that
    plan was written for (step ids, their order, the objects and landmarks they name):
    the plan drives its own exercise, not this one's steps, so a run collides and pushes
    to the time limit or stops on a name the scene lacks. A warning, not an error: a copy
    of a bundled exercise with steps renamed may still run."""
    kind = scenario.plan.kind if scenario.plan is not None else None
    bundled = _bundled_outlines(kind) if isinstance(kind, str) else {}
    if not bundled or step_outline(scenario) in bundled.values():
        return []
    loc = ("plan", "kind")
    return [
        warning_at(
            scenario,
            loc,
            f"plan.kind: the {kind} plan was written for {', '.join(sorted(bundled))}, whose "
            "steps (ids, order, the objects and landmarks they name) differ from this "
            f"scenario's: the plan may not do these steps (a run will tell). "
            f"{INSTEAD[0].upper()}{INSTEAD[1:]}.",
        )
    ]


#: Earth's gravity (m/s²), and how far from it a scene's may be before it looks like a slip.
EARTH_G_M_S2 = 9.81
GRAVITY_SLACK = 0.1


def implausible_gravity(scenario: Scenario) -> list[ScenarioWarning]:
    """Gravity not pointing down the world's z (``[0, 0, 9.81]``: every object rose off
    its board and counted as dropped), or of a size far from Earth's (``-98.1``)."""
    g = [float(v) for v in scenario.scene.gravity_m_s2]
    size = math.sqrt(sum(v * v for v in g))
    loc = ("scene", "gravity_m_s2")
    shown = ", ".join(f"{v:g}" for v in g)
    if size == 0:
        why = "there is no gravity: nothing rests, a released object floats on"
    elif -g[2] < math.cos(math.radians(10)) * size:
        way = "up" if g[2] > 0 else "sideways"
        why = f"it points {way}: objects fall off their boards and count as dropped"
    elif abs(size - EARTH_G_M_S2) > GRAVITY_SLACK * EARTH_G_M_S2:
        why = f"its size, {size:g} m/s², is far from Earth's {EARTH_G_M_S2:g}"
    else:
        return []
    return [
        warning_at(
            scenario,
            loc,
            f"scene.gravity_m_s2 [{shown}]: {why}. z is up in the world frame: Earth's "
            f"gravity is [0, 0, -{EARTH_G_M_S2:g}] (the default; leave the field out).",
        )
    ]


#: Every check validate runs, in the order their warnings are printed.
CHECKS: tuple[Callable[[Scenario], list[ScenarioWarning]], ...] = (
    unknown_prerequisites,
    time_past_cutoff,
    mscore_without_completion,
    ldlj_scored,
    unscored_safety_metrics,
    limits_never_measured,
    metrics_never_measured,
    timers_never_started,
    implausible_units,
    implausible_thresholds,
    implausible_density,
    implausible_gravity,
    grasp_by_no_jaw,
    events_never_due,
    holds_past_the_limit,
    times_never_reached,
    regions_out_of_the_scene,
    collisions_counted_twice,
    plan_for_other_steps,
)


def scenario_warnings(scenario: Scenario) -> list[ScenarioWarning]:
    """Every warning about a loaded (valid) scenario, in file order within each check."""
    return [warning for check in CHECKS for warning in check(scenario)]
