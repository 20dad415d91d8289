"""The scenario language: what an instructor writes in one YAML file, as pydantic models.

A scenario says what the scene is (arms and their ports, the camera, the task-board
objects), what the exercise is (ordered steps with completion triggers, and scripted
events: on a timeline ``at:`` or on triggers ``when:``), and how it is scored (which
metrics, their benchmarks and weights, and the pass rule). Models forbid unknown fields
so that a typo is an error with a suggestion, not a silently ignored setting.

Units: metres, radians, seconds, newtons; fields say so in their names.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from scenarios.glossary import METRICS
from scenarios.model import (  # noqa: F401 - re-exported: the schema's public names
    AnyBodyRef,
    AnyObjectRef,
    BodyRef,
    Model,
    PointRef,
    Ref,
    Vec3,
    did_you_mean,
    references,
)
from scenarios.triggers import (  # noqa: F401 - re-exported
    MOMENTARY_TRIGGERS,
    Centered,
    Condition,
    Dropped,
    Entered,
    Grasped,
    Held,
    Near,
    ObjectRef,
    Placed,
    Region,
    Released,
    Trigger,
)

SCHEMA_VERSION = 1


# ---- scene ---------------------------------------------------------------------------------

#: How fast a PSM's jaw opens or closes (rad/s) unless a scenario says otherwise: 2π, the
#: cap the dVRK puts on the jaw while it follows the master's gripper
#: (``TeleOperationPSM::JawRate``, sawIntuitiveResearchKit); the PSM's own trajectory
#: limit for its wrist and jaw joints is higher (3 x 360°/s, ``mtsIntuitiveResearchKitPSM``).
PSM_JAW_RATE_RAD_S = 2.0 * math.pi


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
    jaw_rate_rad_s: Annotated[float, Field(gt=0)] = PSM_JAW_RATE_RAD_S
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
    params: dict = Field(default_factory=dict)


class Scene(Model):
    """Everything that exists in the exercise."""

    arms: Annotated[list[Arm], Field(min_length=1)]
    camera: Camera
    objects: list[SceneObject] = Field(default_factory=list)
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


# ---- actions ------------------------------------------------------------------------------
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
    events: list[Event] = Field(default_factory=list)
    time_limit_s: Annotated[
        float, Field(ge=1.0, description="s; at least 1 s: a session needs time to record")
    ] = 600.0

    @model_validator(mode="after")
    def _unique_steps(self) -> Exercise:
        _unique([s.id for s in self.steps], "step id")
        return self


# ---- scoring -------------------------------------------------------------------------------
#: Every metric a rubric can name (described in :mod:`scenarios.glossary`).
METRIC_NAMES = tuple(METRICS)

#: Metrics where a larger value is better (all others: smaller is better).
HIGHER_IS_BETTER = frozenset(n for n, m in METRICS.items() if m.higher_is_better)


class Benchmark(Model):
    """Expert performance on a metric: mean and standard deviation (metric's units).

    ``published`` says whether the numbers come from published expert data (cite it in
    ``source``) or are a parameter the scenario's author chose (say how in ``source``);
    reports show which, so that nobody mistakes a parameter for measured expert data.
    """

    mean: float
    sd: Annotated[float, Field(ge=0)]
    published: bool = False
    source: str = ""


class MetricRule(Model):
    """How one metric counts.

    ``benchmark`` (expert mean and SD) drives the MScore-style rule; ``limit`` is a plain
    pass threshold (e.g. drops <= 0) under either rule; ``penalty`` is the FLS-style cost
    in seconds per unit of the metric (per drop, per second out of view). A metric with
    none of them is reported, not scored.
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
    """FLS-style: score = max(0, cutoff - time - sum(penalty x metric)) / normaliser x 100,
    at most 100.

    The normaliser is ``normaliser_s`` when given, else ``cutoff_s - target_s`` (a
    performance at the target time with no penalties scores 100: the proficiency target of
    FLS peg transfer is 48 s), else ``cutoff_s``.
    """

    kind: Literal["fls"] = "fls"
    cutoff_s: Annotated[float, Field(gt=0)] = 300.0
    target_s: Annotated[float, Field(ge=0)] | None = None
    normaliser_s: Annotated[float, Field(gt=0)] | None = None
    pass_score: Annotated[float, Field(ge=0, le=100)] = 50.0

    @model_validator(mode="after")
    def _one_normaliser(self) -> FLSRule:
        if self.target_s is not None and self.normaliser_s is not None:
            raise ValueError(
                "give target_s (the normaliser is then cutoff_s - target_s) or normaliser_s, "
                "not both"
            )
        if self.target_s is not None and self.target_s >= self.cutoff_s:
            raise ValueError(
                f"target_s ({self.target_s:g} s) must be below cutoff_s ({self.cutoff_s:g} s)"
            )
        return self

    @property
    def normaliser(self) -> float:
        """The divisor of the score (s)."""
        if self.normaliser_s is not None:
            return self.normaliser_s
        if self.target_s is not None:
            return self.cutoff_s - self.target_s
        return self.cutoff_s


class Proficiency(Model):
    """When a trainee counts as proficient: qualifying attempts in a row and in total.

    An attempt qualifies when it passes, scores at least ``min_score`` (when given) and
    keeps every metric in ``limits`` at or below its value (e.g. FLS peg transfer: 48 s
    with no drops, i.e. ``min_score: 100`` and ``limits: {drops: 0}``).
    """

    consecutive: Annotated[int, Field(ge=1)] = 2
    total: Annotated[int, Field(ge=1)] = 10
    min_score: Annotated[float, Field(ge=0, le=100)] | None = None
    limits: dict[str, float] = Field(default_factory=dict)

    @field_validator("limits")
    @classmethod
    def _known_limits(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            _check_metric_name(name)
        return value

    def describe(self) -> str:
        """The rule in words, e.g. ``2 in a row and 12 in all, scoring >= 100, drops <= 0``."""
        parts = [f"{self.consecutive} in a row and {self.total} in all"]
        if self.min_score is not None:
            parts.append(f"scoring at least {self.min_score:g}")
        parts += [f"{METRICS[n].label.lower()} at most {v:g}" for n, v in self.limits.items()]
        return ", ".join(parts)


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
            _check_metric_name(name)
        return value

    @model_validator(mode="after")
    def _rule_needs(self) -> Scoring:
        if isinstance(self.rule, MScoreRule):
            wrong = [n for n, r in self.metrics.items() if r.penalty is not None]
            if wrong:
                raise ValueError(
                    f"penalty is part of the fls rule; under the mscore rule give {wrong} a "
                    "benchmark or a limit"
                )
        else:
            wrong = [n for n, r in self.metrics.items() if r.benchmark is not None]
            if wrong:
                raise ValueError(
                    f"benchmark is part of the mscore rule; under the fls rule give {wrong} a "
                    "penalty (seconds per unit) or a limit"
                )
            if "completion_time_s" in self.metrics and (
                self.metrics["completion_time_s"].penalty is not None
            ):
                raise ValueError(
                    "completion_time_s counts in the fls formula itself; it takes no penalty"
                )
        return self

    def scored(self, name: str) -> bool:
        """Whether metric ``name`` moves the score or the verdict under this rubric."""
        rule = self.metrics.get(name)
        if rule is None:
            return False
        if name == "completion_time_s" and isinstance(self.rule, FLSRule):
            return True
        return any(x is not None for x in (rule.limit, rule.penalty, rule.benchmark))


def _check_metric_name(name: str) -> None:
    if name not in METRIC_NAMES:
        raise ValueError(
            f"unknown metric {name!r}; valid metrics are {list(METRIC_NAMES)}"
            + _did_you_mean(name, METRIC_NAMES)
        )


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
    prerequisites: list[str] = Field(default_factory=list)
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


def _unique(names: list[str], what: str) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise ValueError(f"duplicate {what} {n!r}")
        seen.add(n)


_did_you_mean = did_you_mean
