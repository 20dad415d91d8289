"""The scenario language: what an instructor writes in one YAML file, as pydantic models.

A scenario says what the scene is (arms and their ports, the camera, the task-board
objects), what the exercise is (ordered steps with completion triggers, and scripted
events: on a timeline ``at:`` or on triggers ``when:``), and how it is scored (which
metrics, their benchmarks and weights, and the pass rule). Models forbid unknown fields
so that a typo is an error with a suggestion, not a silently ignored setting.

Units: metres, radians, seconds, newtons; fields say so in their names.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

SCHEMA_VERSION = 1

Vec3 = tuple[float, float, float]


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


# ---- scene ---------------------------------------------------------------------------------
class Pose(Model):
    """A pose in the world frame: position (m) and roll-pitch-yaw (rad, URDF order)."""

    position_m: Vec3 = (0.0, 0.0, 0.0)
    rpy_rad: Vec3 = (0.0, 0.0, 0.0)


class Port(Model):
    """Where an arm's remote centre of motion sits, and how its shaft is aimed.

    ``look_at_m`` (a world point the shaft aims at when yaw = pitch = 0) replaces
    ``rpy_rad`` when given.
    """

    position_m: Vec3
    rpy_rad: Vec3 = (0.0, 0.0, 0.0)
    look_at_m: Vec3 | None = None


class Arm(Model):
    """A patient-side arm mounted with its remote centre of motion at a port."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
    kind: Literal["psm", "ecm"]
    port: Port
    start_joints: list[float] | None = None
    insertion_m: Annotated[float, Field(ge=0)] = 0.05
    jaw_rate_rad_s: Annotated[float, Field(gt=0)] = 2.0
    hand: Literal["left", "right"] | None = None
    teleoperated: bool | None = Field(
        default=None, description="driven by a master (default: PSMs yes, the ECM no)"
    )

    @property
    def driven(self) -> bool:
        """Whether a master drives this arm."""
        return self.kind == "psm" if self.teleoperated is None else self.teleoperated


class Camera(Model):
    """The endoscope view: carried by an ECM arm, or fixed at a pose."""

    arm: str | None = None
    pose: Pose | None = None
    fov_deg: Annotated[float, Field(gt=1, lt=170)] = 60.0
    near_m: Annotated[float, Field(gt=0)] = 0.005
    far_m: Annotated[float, Field(gt=0)] = 0.5

    @model_validator(mode="after")
    def _one_mount(self) -> Camera:
        if (self.arm is None) == (self.pose is None):
            raise ValueError("give exactly one of 'arm' (an ECM's name) or 'pose' (a fixed camera)")
        if self.far_m <= self.near_m:
            raise ValueError("far_m must be greater than near_m")
        return self


class SceneObject(Model):
    """A task-board object. ``type`` and ``params`` are checked against the physics world's
    builders when the scene is built; positions are in the world frame."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    type: str
    pose: Pose = Pose()
    params: dict = {}


class Scene(Model):
    """Everything that exists in the exercise."""

    arms: Annotated[list[Arm], Field(min_length=1)]
    camera: Camera
    objects: list[SceneObject] = []
    physics_rate_hz: Annotated[float, Field(ge=100, le=5000)] = 1000.0
    gravity_m_s2: Vec3 = (0.0, 0.0, -9.81)
    workspace_m: tuple[Vec3, Vec3] | None = Field(
        default=None, description="objects leaving this box count as dropped"
    )

    @model_validator(mode="after")
    def _names(self) -> Scene:
        arm_names = [a.name for a in self.arms]
        _unique(arm_names, "arm name")
        _unique([o.id for o in self.objects], "object id")
        if self.camera.arm is not None and self.camera.arm not in arm_names:
            raise ValueError(
                f"camera.arm {self.camera.arm!r} is not one of the arms {arm_names}"
                + _did_you_mean(self.camera.arm, arm_names)
            )
        return self


# ---- triggers and actions ------------------------------------------------------------------
class Region(Model):
    """A sphere in the world frame."""

    center_m: Vec3
    radius_m: Annotated[float, Field(gt=0)]


class Placed(Model):
    """Object ``object`` rests, released, on target ``target`` (an object, or an object's
    landmark as ``object:landmark``, e.g. ``board:peg7``): within ``radius_m`` of it
    horizontally and ``height_m`` vertically, moving slower than ``speed_m_s``."""

    object: AnyObjectRef
    target: PointRef
    radius_m: Annotated[float, Field(gt=0)] = 0.008
    height_m: Annotated[float, Field(gt=0)] = 0.03
    speed_m_s: Annotated[float, Field(gt=0)] = 0.02


class Centered(Model):
    """The camera looks at ``object`` (or landmark): within ``tolerance_deg`` of its axis."""

    object: PointRef
    tolerance_deg: Annotated[float, Field(gt=0, lt=90)] = 5.0


class ObjectRef(Model):
    """An object id, or ``any``."""

    object: AnyObjectRef = "any"


class Grasped(Model):
    """Object grasped, optionally by a given instrument (``only``: by it alone, e.g. a
    handover is complete when the receiving instrument holds the object alone)."""

    object: AnyObjectRef = "any"
    by: Annotated[str, Ref("arm")] | None = None
    only: bool = False


class Near(Model):
    """Object (held or not) within ``radius_m`` of a target object or landmark."""

    object: AnyBodyRef
    target: PointRef
    radius_m: Annotated[float, Field(gt=0)] = 0.01


class Entered(Model):
    """An instrument tip (or ``any``) enters a region."""

    instrument: Annotated[str, Ref("arm", any_ok=True)] = "any"
    region: Region


class Held(Model):
    """``trigger`` (a state, e.g. ``centered`` or ``near``) has held without a break for
    ``for_s`` seconds: a dwell, so that passing through a state does not count as reaching
    it. World events (``dropped``, ``released``, ``needle_passed``) last no time and cannot
    be held."""

    trigger: Trigger
    for_s: Annotated[float, Field(gt=0)]

    @model_validator(mode="after")
    def _a_state(self) -> Held:
        momentary = [k for k in MOMENTARY_TRIGGERS if getattr(self.trigger, k) is not None]
        if momentary:
            raise ValueError(
                f"'held' needs a state trigger; {momentary[0]!r} is a world event that lasts no "
                "time. Use it without 'held', or hold a state such as 'placed' or 'near'."
            )
        return self


#: Triggers that are world events (true on the tick they happen), not lasting states.
MOMENTARY_TRIGGERS = ("dropped", "released", "needle_passed")


class Trigger(Model):
    """Exactly one condition. ``all``/``any`` combine conditions; ``held`` asks that one
    hold for a while."""

    placed: Placed | None = None
    dropped: ObjectRef | None = None
    grasped: Grasped | None = None
    near: Near | None = None
    released: ObjectRef | None = None
    time_elapsed_s: Annotated[float, Field(ge=0)] | None = None
    entered: Entered | None = None
    step_completed: Annotated[str, Ref("step")] | None = None
    centered: Centered | None = None
    needle_passed: (
        Annotated[str, Ref("body", movable=True), Field(description="needle body")] | None
    ) = None
    all: list[Trigger] | None = None
    any: list[Trigger] | None = None
    held: Held | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a trigger needs exactly one condition of "
                f"{list(type(self).model_fields)}, got {given or 'none'}"
            )
        return self


class Action(Model):
    """Exactly one effect."""

    message: str | None = None
    start_timer: str | None = None
    stop_timer: str | None = None
    spawn: SceneObject | None = None
    move: MoveObject | None = None
    remove: BodyRef | None = None
    complete: bool | None = None
    fail: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"an action needs exactly one of {list(type(self).model_fields)}, "
                f"got {given or 'none'}"
            )
        return self


class MoveObject(Model):
    """Teleport an object to a pose (e.g. to reset a dropped ring)."""

    object: BodyRef
    pose: Pose


class Event(Model):
    """Do ``do`` at time ``at`` (s) or whenever ``when`` becomes true (once unless repeat)."""

    at: Annotated[float, Field(ge=0)] | None = None
    when: Trigger | None = None
    do: Annotated[list[Action], Field(min_length=1)]
    repeat: bool = False

    @model_validator(mode="after")
    def _one_condition(self) -> Event:
        if (self.at is None) == (self.when is None):
            raise ValueError("an event needs exactly one of 'at' (seconds) or 'when' (a trigger)")
        return self


class Step(Model):
    """One stage of the exercise: an instruction, done when its trigger holds."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    instruction: str
    done_when: Trigger


class Exercise(Model):
    """The ordered steps and the scripted events."""

    steps: Annotated[list[Step], Field(min_length=1)]
    events: list[Event] = []
    time_limit_s: Annotated[
        float, Field(ge=1.0, description="s; at least 1 s: a session needs time to record")
    ] = 600.0

    @model_validator(mode="after")
    def _unique_steps(self) -> Exercise:
        _unique([s.id for s in self.steps], "step id")
        return self


# ---- scoring -------------------------------------------------------------------------------
METRIC_NAMES = (
    "completion_time_s",
    "path_length_cm",
    "master_workspace_range_cm",
    "collisions",
    "instrument_collisions",
    "environment_collisions",
    "held_object_collisions",
    "excessive_force_time_s",
    "peak_force_n",
    "out_of_view_time_s",
    "drops",
    "clutch_count",
    "idle_time_s",
    "movements",
    "ldlj",
    "sparc",
    "tremor_rms_um",
    "needle_entry_error_mm",
    "needle_exit_error_mm",
)

#: Metrics where a larger value is better (all others: smaller is better).
HIGHER_IS_BETTER = frozenset({"ldlj", "sparc"})


class Benchmark(Model):
    """Expert performance on a metric: mean and standard deviation (metric's units)."""

    mean: float
    sd: Annotated[float, Field(ge=0)]


class MetricRule(Model):
    """How one metric counts.

    ``benchmark`` (expert mean and SD) drives the MScore-style rule; ``limit`` is a plain
    pass threshold (e.g. drops <= 0); ``penalty`` is the FLS-style cost per unit (s).
    """

    weight: Annotated[float, Field(ge=0)] = 1.0
    benchmark: Benchmark | None = None
    limit: float | None = None
    penalty: Annotated[float, Field(ge=0)] | None = None


class MScoreRule(Model):
    """MScore-style: each metric passes within ``k_sd`` SDs of the expert mean; every metric
    must pass (no compensation). The score is the weighted mean of per-metric scores
    (100 at or better than the expert mean, falling linearly to 0 at ``zero_at_sd`` SDs)."""

    kind: Literal["mscore"] = "mscore"
    k_sd: Annotated[float, Field(gt=0)] = 1.0
    zero_at_sd: Annotated[float, Field(gt=0)] = 4.0


class FLSRule(Model):
    """FLS-style: score = max(0, cutoff - time - sum(penalty x metric)) / normaliser x 100."""

    kind: Literal["fls"] = "fls"
    cutoff_s: Annotated[float, Field(gt=0)] = 300.0
    normaliser_s: Annotated[float, Field(gt=0)] = 300.0
    pass_score: Annotated[float, Field(ge=0, le=100)] = 50.0


class Proficiency(Model):
    """When a trainee counts as proficient: passes in a row and in total."""

    consecutive: Annotated[int, Field(ge=1)] = 2
    total: Annotated[int, Field(ge=1)] = 10


class Thresholds(Model):
    """Where measurement turns into judgement (not public for commercial trainers: they are
    parameters here, with documented defaults)."""

    excessive_force_n: Annotated[float, Field(gt=0)] = 2.5
    idle_speed_m_s: Annotated[float, Field(gt=0)] = 0.005
    movement_speed_m_s: Annotated[float, Field(gt=0)] = 0.01


class Scoring(Model):
    """Which metrics count, how, and what passes."""

    metrics: dict[str, MetricRule]
    thresholds: Thresholds = Thresholds()
    rule: Annotated[MScoreRule | FLSRule, Field(discriminator="kind")]
    require_completion: bool = True
    proficiency: Proficiency = Proficiency()

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: dict[str, MetricRule]) -> dict[str, MetricRule]:
        for name in value:
            if name not in METRIC_NAMES:
                raise ValueError(
                    f"unknown metric {name!r}; valid metrics are {list(METRIC_NAMES)}"
                    + _did_you_mean(name, METRIC_NAMES)
                )
        return value

    @model_validator(mode="after")
    def _rule_needs(self) -> Scoring:
        if isinstance(self.rule, MScoreRule):
            missing = [
                n for n, r in self.metrics.items() if r.benchmark is None and r.limit is None
            ]
            if missing:
                raise ValueError(f"the mscore rule needs a benchmark or a limit for {missing}")
        return self


# ---- the scenario ----------------------------------------------------------------------------
class Scenario(Model):
    """One exercise, as an instructor writes it."""

    schema_version: Literal[1]
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    version: str = "1"
    title: str
    description: str = ""
    difficulty: Literal["beginner", "intermediate", "advanced"] = "beginner"
    estimated_time_s: Annotated[float, Field(gt=0)] = 120.0
    prerequisites: list[str] = []
    scene: Scene
    exercise: Exercise
    scoring: Scoring
    plan: dict = Field(default_factory=dict, description="scripted expert plan (demonstrations)")
    _source_file: str | None = PrivateAttr(default=None)
    #: a :class:`scenarios.source.SourceMap` (plain data: the scenario pickles with it)
    _positions: object = PrivateAttr(default=None)

    @property
    def source_file(self) -> str | None:
        """The file this scenario was read from (None when built in code)."""
        return self._source_file

    def position_of(self, loc: tuple, on_key: bool = False) -> tuple[int | None, int | None]:
        """(line, column), 1-based, of the YAML value at ``loc`` (of its key with
        ``on_key``); (None, None) for a scenario not read from a file."""
        if self._positions is None:
            return None, None
        return self._positions.position(loc, on_key)


Action.model_rebuild()
Held.model_rebuild()
Trigger.model_rebuild()


def _unique(names: list[str], what: str) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise ValueError(f"duplicate {what} {n!r}")
        seen.add(n)


def _did_you_mean(name: str, valid) -> str:
    from scenarios.errors import suggest

    return suggest(name, valid)


# ---- references ------------------------------------------------------------------------------
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
