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

from pydantic import AfterValidator, Field, PrivateAttr, field_validator, model_validator

from scenarios.glossary import (
    METRICS,
    PER_INSTRUMENT_METRICS,
    family_of,
    info,
    timer_metric,
    timer_of,
)
from scenarios.model import (  # noqa: F401 - re-exported: the schema's public names
    AnyBodyRef,
    AnyObjectRef,
    BodyRef,
    Count,
    FieldError,
    Flag,
    Model,
    PointRef,
    Real,
    Ref,
    Vec3,
    did_you_mean,
    references,
)
from scenarios.plan import Plan
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

#: What a name may hold (the loader words a mismatch from these, with a fitting example).
SCENARIO_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"  # names files and records
#: The longest scenario name (it starts the names of a session's files).
SCENARIO_NAME_MAX = 64
ID_PATTERN = r"^[A-Za-z0-9_.-]+$"  # objects and steps
ARM_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"


# ---- scene ---------------------------------------------------------------------------------

#: How fast a PSM's jaw opens or closes (rad/s) unless a scenario says otherwise: 2π, the
#: cap the dVRK puts on the jaw while it follows the master's gripper
#: (``TeleOperationPSM::JawRate``, sawIntuitiveResearchKit); the PSM's own trajectory
#: limit for its wrist and jaw joints is higher (3 x 360°/s, ``mtsIntuitiveResearchKitPSM``).
PSM_JAW_RATE_RAD_S = 2.0 * math.pi
#: The endoscope's full vertical field of view (deg) where a scenario or a scene gives
#: none: the one default of the scenario's camera, the world's scene description and an
#: arm's camera settings (they said 60 and 70: a scenario without ``fov_deg`` saw less than
#: the same scene built in Python, and every bundled scenario wrote 70 out).
ENDOSCOPE_FOV_DEG = 70.0


#: How far (m) from the world's origin a position may be: a room. A scene is tens of
#: centimetres across (validate warns past 1 m); past this the number is a slip
#: (millimetres written as metres), and a port 2000 km away made validate report an
#: internal error from inverse kinematics while ``run`` accepted the file.
ROOM_M = 10.0


def _in_room(value: tuple[float, float, float]) -> tuple[float, float, float]:
    if max(abs(v) for v in value) > ROOM_M:
        shown = ", ".join(f"{v:g}" for v in value)
        raise ValueError(
            f"[{shown}] is more than {ROOM_M:g} m from the world's origin: positions are "
            "in metres (millimetres?); a scene is tens of centimetres across"
        )
    return value


#: A point in the world (m), within :data:`ROOM_M` of the origin on every axis.
Position = Annotated[Vec3, AfterValidator(_in_room)]


class Pose(Model):
    """A pose in the world frame: position (m) and roll-pitch-yaw (rad, URDF order)."""

    position_m: Position = (0.0, 0.0, 0.0)
    rpy_rad: Vec3 = (0.0, 0.0, 0.0)


class Port(Model):
    """Where an arm's remote centre of motion sits, and how its shaft is aimed.

    ``look_at_m`` (a world point the shaft aims at when yaw = pitch = 0) replaces
    ``rpy_rad`` when given.
    """

    position_m: Position
    rpy_rad: Vec3 = (0.0, 0.0, 0.0)
    look_at_m: Position | None = None


class Arm(Model):
    """A patient-side arm mounted with its remote centre of motion at a port."""

    name: Annotated[str, Field(pattern=ARM_NAME_PATTERN)]
    kind: Literal["psm", "ecm"]
    port: Port
    start_joints: list[Real] | None = None
    insertion_m: Annotated[Real, Field(ge=0)] = 0.05
    jaw_rate_rad_s: Annotated[Real, Field(gt=0)] = PSM_JAW_RATE_RAD_S
    hand: Literal["left", "right"] | None = None
    teleoperated: Flag | None = Field(
        default=None, description="driven by a master (default: PSMs yes, the ECM no)"
    )

    @property
    def driven(self) -> bool:
        """Whether a master drives this arm."""
        return self.kind == "psm" if self.teleoperated is None else self.teleoperated

    @property
    def traced(self) -> bool:
        """Whether a session records this arm's tip (its trace columns, and so its path
        length): every instrument, and any arm a master drives (a scope no hand drives
        is not recorded)."""
        return self.kind == "psm" or self.driven


class Camera(Model):
    """The endoscope view: carried by an ECM arm, or fixed at a pose."""

    arm: str | None = None
    pose: Pose | None = None
    fov_deg: Annotated[Real, Field(gt=1, lt=170)] = ENDOSCOPE_FOV_DEG
    near_m: Annotated[Real, Field(gt=0)] = 0.005
    far_m: Annotated[Real, Field(gt=0)] = 0.5

    @model_validator(mode="after")
    def _one_mount(self) -> Camera:
        if (self.arm is None) == (self.pose is None):
            raise ValueError("give exactly one of 'arm' (an ECM's name) or 'pose' (a fixed camera)")
        if self.far_m <= self.near_m:
            raise FieldError(
                ("far_m",),
                f"far_m ({self.far_m:g} m) must be greater than near_m ({self.near_m:g} m)",
            )
        return self


class SceneObject(Model):
    """A task-board object. ``type`` and ``params`` are checked against the physics world's
    builders when the scene is built; positions are in the world frame."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    type: str
    pose: Pose = Pose()
    params: dict = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _not_any(cls, value: str) -> str:
        if value == "any":
            raise ValueError(
                "'any' is a word of the triggers (any object, any arm), not an object's id: "
                "a trigger on 'any' would mean every object; give it a name of its own"
            )
        return value

    @model_validator(mode="after")
    def _placement_once(self) -> SceneObject:
        # the builders take the pose and the id as keyword arguments too, so a
        # ``params.position_m`` used to replace ``pose`` without a word: one place each
        for key, where in _PLACED_BY.items():
            if key in self.params:
                raise FieldError(
                    ("params", key),
                    f"params.{key} is not a parameter of the object: {where}",
                )
        return self


#: the keys a ``params`` may not hold, and where they go instead
_PLACED_BY = {
    "position_m": "give the position as pose: {position_m: [x, y, z]}",
    "rpy_rad": "give the orientation as pose: {rpy_rad: [roll, pitch, yaw]}",
    "name": "the object's name is its id",
}


class Scene(Model):
    """Everything that exists in the exercise."""

    arms: Annotated[list[Arm], Field(min_length=1)]
    camera: Camera
    objects: list[SceneObject] = Field(default_factory=list)
    physics_rate_hz: Annotated[Real, Field(ge=100, le=5000)] = 1000.0
    gravity_m_s2: Vec3 = (0.0, 0.0, -9.81)
    workspace_m: tuple[Vec3, Vec3] | None = Field(
        default=None, description="objects leaving this box count as dropped"
    )

    @model_validator(mode="after")
    def _names(self) -> Scene:
        arm_names = [a.name for a in self.arms]
        _unique(arm_names, "arm name", ("arms", "name"))
        _unique([o.id for o in self.objects], "object id", ("objects", "id"))
        if self.camera.arm is not None and self.camera.arm not in arm_names:
            raise FieldError(
                ("camera", "arm"),
                f"camera.arm {self.camera.arm!r} is not one of the arms {arm_names}"
                + _did_you_mean(self.camera.arm, arm_names),
            )
        scopes = [a.name for a in self.arms if a.kind == "ecm"]
        if self.camera.arm is not None and self.camera.arm not in scopes:
            raise FieldError(
                ("camera", "arm"),
                f"camera.arm {self.camera.arm!r} is an instrument, not an endoscope: the view "
                "comes from an ECM's scope"
                + (f"; the scene's ECM is {scopes[0]!r}" if len(scopes) == 1 else "")
                + (f"; its ECMs are {scopes}" if len(scopes) > 1 else "")
                + ("" if scopes else "; add an arm of kind ecm, or give a fixed camera pose"),
            )
        # one master hand drives one instrument: a second arm on the same hand would get
        # no device at all (the scope, driven through the camera pedal, is not counted)
        hands = [
            a.hand if a.driven and a.name != self.camera.arm and a.hand else None for a in self.arms
        ]
        for i, hand in enumerate(hands):
            if hand is not None and hand in hands[:i]:
                raise FieldError(
                    ("arms", i, "hand"),
                    f"arms {arm_names[hands.index(hand)]!r} and {arm_names[i]!r} are both on "
                    f"hand {hand!r}; one master hand drives one instrument: give one of them "
                    "the other hand, or 'teleoperated: false'",
                )
        return self

    @field_validator("workspace_m")
    @classmethod
    def _box(cls, value):
        if value is not None and any(lo >= hi for lo, hi in zip(*value, strict=True)):
            raise ValueError(
                "workspace_m is [[xmin, ymin, zmin], [xmax, ymax, zmax]] in metres, each min "
                "below its max"
            )
        return value


# ---- actions ------------------------------------------------------------------------------
class Action(Model):
    """Exactly one effect."""

    message: str | None = None
    start_timer: str | None = None
    stop_timer: str | None = None
    spawn: SceneObject | None = None
    move: MoveObject | None = None
    remove: BodyRef | None = None
    complete: Flag | None = None
    fail: str | None = None

    @field_validator("start_timer", "stop_timer")
    @classmethod
    def _timer_name(cls, value: str | None) -> str | None:
        """A timer's name is also its metric's, ``timer_s[NAME]``: it cannot be empty or
        hold a bracket (``"a]b"`` validated, and then no rubric could name its metric)."""
        if value is not None and (not value.strip() or timer_of(timer_metric(value)) != value):
            raise ValueError(
                f"a timer's name cannot be empty or hold '[' or ']' (got {value!r}): it is "
                "also its metric's name, timer_s[NAME]"
            )
        return value

    @field_validator("complete")
    @classmethod
    def _complete_true(cls, value: bool | None) -> bool | None:
        if value is False:
            raise ValueError(
                "complete: false does nothing (there is no un-completing): write "
                "complete: true, or remove the action"
            )
        return value

    @field_validator("fail", "message")
    @classmethod
    def _said(cls, value: str | None, info) -> str | None:
        """Both are shown to the trainee: an empty one shows nothing (``{message: ""}``
        was accepted while ``{fail: ""}`` was refused)."""
        if value is not None and not value.strip():
            what = "the reason" if info.field_name == "fail" else "a message"
            fix = "say why" if info.field_name == "fail" else "say something, or remove the action"
            raise ValueError(f"{what} is shown to the trainee and cannot be empty: {fix}")
        return value

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

    at: Annotated[Real, Field(ge=0)] | None = None
    when: Trigger | None = None
    do: Annotated[list[Action], Field(min_length=1)]
    repeat: Flag = False

    @model_validator(mode="after")
    def _one_condition(self) -> Event:
        if (self.at is None) == (self.when is None):
            raise ValueError("an event needs exactly one of 'at' (seconds) or 'when' (a trigger)")
        return self


class Step(Model):
    """One stage of the exercise: an instruction, done when its trigger holds."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    instruction: str
    done_when: Trigger


class Exercise(Model):
    """The ordered steps and the scripted events."""

    steps: Annotated[list[Step], Field(min_length=1)]
    events: list[Event] = Field(default_factory=list)
    time_limit_s: Annotated[
        Real, Field(ge=1.0, description="s; at least 1 s: a session needs time to record")
    ] = 600.0

    def timer_actions(self, kind: str) -> list[tuple[tuple, str]]:
        """``(loc, timer)`` of every ``kind`` action (``start_timer`` or ``stop_timer``),
        ``loc`` the path from the scenario's top to the action's value."""
        return [
            (("exercise", "events", i, "do", j, kind), getattr(action, kind))
            for i, event in enumerate(self.events)
            for j, action in enumerate(event.do)
            if getattr(action, kind) is not None
        ]

    @model_validator(mode="after")
    def _unique_steps(self) -> Exercise:
        _unique([s.id for s in self.steps], "step id", ("steps", "id"))
        return self


# ---- scoring -------------------------------------------------------------------------------
#: Every metric a rubric can name (described in :mod:`scenarios.glossary`), besides a
#: timer's ``timer_s[NAME]`` (the bare family name is no metric).
METRIC_NAMES = tuple(n for n in METRICS if n != "timer_s")

#: Metrics where a larger value is better (all others: smaller is better).
HIGHER_IS_BETTER = frozenset(n for n, m in METRICS.items() if m.higher_is_better)


class Benchmark(Model):
    """Expert performance on a metric: mean and standard deviation (metric's units).

    ``published`` says whether the numbers come from published expert data (cite it in
    ``source``) or are a parameter the scenario's author chose (say how in ``source``);
    reports show which, so that nobody mistakes a parameter for measured expert data.
    """

    mean: Real
    sd: Annotated[
        Real, Field(gt=0, description="a benchmark needs a spread; for a hard bound use limit")
    ]
    published: Flag = False
    source: str = ""

    @model_validator(mode="after")
    def _cited(self) -> Benchmark:
        if self.published and not self.source.strip():
            raise FieldError(
                ("source",),
                "published: true marks expert data from a publication: cite it in 'source' "
                "(or set published: false for a number you chose)",
            )
        return self


#: A metric's weight where the rubric gives none. The FLS rule has no weights: any other
#: value there is refused (a stored FLS rubric holds this one, written out by model_dump).
_DEFAULT_WEIGHT = 1.0


class MetricRule(Model):
    """How one metric counts.

    ``benchmark`` (expert mean and SD) drives the MScore-style rule; ``limit`` is a plain
    pass threshold (e.g. drops <= 0) under either rule; ``penalty`` is the FLS-style cost
    in seconds per unit of the metric (per drop, per second out of view). A metric with
    none of them is reported, not scored.
    """

    weight: Annotated[Real, Field(ge=0)] = _DEFAULT_WEIGHT
    benchmark: Benchmark | None = None
    limit: Real | None = None
    penalty: Annotated[Real, Field(ge=0)] | None = None


class MScoreRule(Model):
    """MScore-style: each metric passes within ``k_sd`` SDs of the expert mean; every metric
    must pass (no compensation). The score is the weighted mean of per-metric scores
    (100 at or better than the expert mean, falling linearly to 0 at ``zero_at_sd`` SDs)."""

    kind: Literal["mscore"] = "mscore"
    k_sd: Annotated[Real, Field(gt=0)] = 1.0
    zero_at_sd: Annotated[Real, Field(gt=0)] = 4.0

    @model_validator(mode="after")
    def _zero_beyond_pass(self) -> MScoreRule:
        if self.zero_at_sd <= self.k_sd:
            raise FieldError(
                ("zero_at_sd",),
                f"zero_at_sd ({self.zero_at_sd:g}) must be above k_sd ({self.k_sd:g}): a "
                "metric within the pass mark would otherwise score 0",
            )
        return self


class FLSRule(Model):
    """FLS-style: score = max(0, cutoff - time - sum(penalty x metric)) / normaliser x 100,
    at most 100.

    The normaliser is ``normaliser_s`` when given, else ``cutoff_s - target_s`` (a
    performance at the target time with no penalties scores 100: the proficiency target of
    FLS peg transfer is 48 s), else ``cutoff_s``.
    """

    kind: Literal["fls"] = "fls"
    cutoff_s: Annotated[Real, Field(gt=0)] = 300.0
    target_s: Annotated[Real, Field(ge=0)] | None = None
    normaliser_s: Annotated[Real, Field(gt=0)] | None = None
    pass_score: Annotated[Real, Field(ge=0, le=100)] = 50.0

    @model_validator(mode="after")
    def _one_normaliser(self) -> FLSRule:
        if self.target_s is not None and self.normaliser_s is not None:
            raise FieldError(
                ("normaliser_s",),
                "give target_s (the normaliser is then cutoff_s - target_s) or normaliser_s, "
                "not both",
            )
        if self.target_s is not None and self.target_s >= self.cutoff_s:
            raise FieldError(
                ("target_s",),
                f"target_s ({self.target_s:g} s) must be below cutoff_s ({self.cutoff_s:g} s)",
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

    consecutive: Annotated[Count, Field(ge=1)] = 2
    total: Annotated[Count, Field(ge=1)] = 10
    min_score: Annotated[Real, Field(ge=0, le=100)] | None = None
    limits: dict[str, Real] = Field(default_factory=dict)

    @field_validator("limits")
    @classmethod
    def _known_limits(cls, value: dict[str, float]) -> dict[str, float]:
        for name, limit in value.items():
            _check_metric_name(name, (name,))
            _check_reachable(name, limit, (name,))
        return value

    @model_validator(mode="after")
    def _reachable(self) -> Proficiency:
        if self.consecutive > self.total:
            raise FieldError(
                ("consecutive",),
                f"consecutive ({self.consecutive}) cannot exceed total ({self.total}): "
                "attempts in a row are counted in the total",
            )
        return self

    def describe(self) -> str:
        """The rule in words, e.g. ``2 in a row and 12 in all, scoring >= 100, drops <= 0``."""
        parts = [f"{self.consecutive} in a row and {self.total} in all"]
        if self.min_score is not None:
            parts.append(f"scoring at least {self.min_score:g}")
        parts += [f"{info(n).label.lower()} at most {v:g}" for n, v in self.limits.items()]
        return ", ".join(parts)


class Thresholds(Model):
    """Where measurement turns into judgement (not public for commercial trainers: they are
    parameters here, with documented defaults)."""

    excessive_force_n: Annotated[Real, Field(gt=0)] = 2.5
    idle_speed_m_s: Annotated[Real, Field(gt=0)] = 0.005
    movement_speed_m_s: Annotated[Real, Field(gt=0)] = 0.01


class Scoring(Model):
    """Which metrics count, how, and what passes."""

    metrics: dict[str, MetricRule]
    thresholds: Thresholds = Thresholds()
    rule: Annotated[MScoreRule | FLSRule, Field(discriminator="kind")]
    require_completion: Flag = True
    proficiency: Proficiency = Proficiency()

    @field_validator("metrics", mode="before")
    @classmethod
    def _no_settings_among_metrics(cls, value):
        """A threshold or a scoring setting written among the metrics is named where it
        belongs before its value is read as a metric's rule (``excessive_force_n: 2.5``
        there read "Input should be a valid dictionary"; ``thresholds:`` nested in it was
        taken for a metric's name)."""
        if isinstance(value, dict):
            for name in value:
                if name in Thresholds.model_fields:
                    raise FieldError(
                        (name,),
                        f"{name!r} is a threshold, not a metric: it belongs under "
                        f"scoring.thresholds, beside metrics (thresholds: {{{name}: ...}})",
                        on_key=True,
                    )
                if name in cls.model_fields:
                    raise FieldError(
                        (name,),
                        f"{name!r} is a setting of scoring, not a metric: it belongs in "
                        "scoring, beside metrics (dedent it to line up with 'metrics:')",
                        on_key=True,
                    )
        return value

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: dict[str, MetricRule]) -> dict[str, MetricRule]:
        for name, rule in value.items():
            _check_metric_name(name, (name,))
            if rule.limit is not None:
                _check_reachable(name, rule.limit, (name, "limit"))
        return value

    @model_validator(mode="after")
    def _rule_needs(self) -> Scoring:
        if isinstance(self.rule, MScoreRule):
            for name, rule in self.metrics.items():
                if rule.penalty is not None:
                    raise FieldError(
                        ("metrics", name, "penalty"),
                        f"penalty is part of the fls rule; under the mscore rule give {name} "
                        "a benchmark or a limit",
                    )
            if not any(
                r.weight > 0 and (r.benchmark is not None or r.limit is not None)
                for r in self.metrics.values()
            ):
                raise FieldError(
                    ("metrics",),
                    "an mscore rubric scores the weighted mean of its metrics' scores, and "
                    "none of these metrics has a benchmark or a limit with a weight above 0: "
                    "give at least one (e.g. completion_time_s: {benchmark: {mean: 60, sd: 15}})",
                )
        else:
            for name, rule in self.metrics.items():
                if rule.benchmark is not None:
                    raise FieldError(
                        ("metrics", name, "benchmark"),
                        f"benchmark is part of the mscore rule; under the fls rule give {name} "
                        "a penalty (seconds per unit) or a limit",
                    )
                if rule.weight != _DEFAULT_WEIGHT:
                    raise FieldError(
                        ("metrics", name, "weight"),
                        f"weight is part of the mscore rule (a metric's share of the weighted "
                        f"mean); the fls score has no weights: to make {name} count more, give "
                        "it a larger penalty (seconds per unit), or remove the weight",
                    )
            if "completion_time_s" in self.metrics and (
                self.metrics["completion_time_s"].penalty is not None
            ):
                raise FieldError(
                    ("metrics", "completion_time_s", "penalty"),
                    "completion_time_s counts in the fls formula itself; it takes no penalty",
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


def _check_reachable(name: str, limit: float, loc: tuple) -> None:
    """A limit on the wrong side of every value the metric can take could never be met
    (``drops: {limit: -1}`` fails every session): an error, not a silent fail."""
    base = family_of(name) or name
    if base not in METRICS:
        return  # the unknown name is reported on its own
    if METRICS[base].higher_is_better and limit > 0:
        raise FieldError(
            loc,
            f"{name} is never above 0 (closer to 0 is better): a limit of "
            f"{limit:g} could never be met",
        )
    if not METRICS[base].higher_is_better and limit < 0:
        raise FieldError(loc, f"{name} is never below 0: a limit of {limit:g} could never be met")


def _check_metric_name(name: str, loc: tuple) -> None:
    """A metric a rubric may name; ``loc`` places the error at its key (the first
    metric's line was given for a misspelt one further down, and then its value)."""
    if family_of(name) is not None:
        return  # that the timer is started, or the arm exists, is checked with the references
    if name.startswith("timer_s"):
        raise FieldError(
            loc,
            f"{name!r}: a timer's metric names its timer, timer_s[NAME], NAME as in the "
            "exercise's start_timer action (e.g. timer_s[reach])",
            on_key=True,
        )
    if name not in METRIC_NAMES:
        per_arm = " or ".join(f"{m}[ARM]" for m in PER_INSTRUMENT_METRICS)
        raise FieldError(
            loc,
            f"unknown metric {name!r}; valid metrics are {list(METRIC_NAMES)}, a timer's "
            f"timer_s[NAME] and one instrument's {per_arm} (ARM an arm of the scene)."
            + _did_you_mean(name.split("[", 1)[0] if "[" in name else name, METRIC_NAMES),
            on_key=True,
        )


# ---- the scenario ----------------------------------------------------------------------------
class Scenario(Model):
    """One exercise, as an instructor writes it."""

    schema_version: Literal[1]
    name: Annotated[str, Field(pattern=SCENARIO_NAME_PATTERN, max_length=SCENARIO_NAME_MAX)]
    version: Annotated[str, Field(max_length=40)] = "1"
    title: str
    description: str = ""
    difficulty: Literal["beginner", "intermediate", "advanced"] = "beginner"
    estimated_time_s: Annotated[Real, Field(gt=0)] = 120.0
    prerequisites: list[str] = Field(default_factory=list)
    scene: Scene
    exercise: Exercise
    scoring: Scoring
    plan: Plan | None = Field(default=None, description="scripted expert plan (demonstrations)")
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

    @field_validator("title")
    @classmethod
    def _titled(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the title is shown to the trainee and cannot be blank")
        return value

    @model_validator(mode="after")
    def _not_its_own_prerequisite(self) -> Scenario:
        for i, name in enumerate(self.prerequisites):
            if name == self.name:
                raise FieldError(
                    ("prerequisites", i),
                    f"{name!r} is this scenario: it cannot be its own prerequisite",
                )
        return self

    @model_validator(mode="after")
    def _plan_fits(self) -> Scenario:
        if self.plan is not None:
            self.plan.check(self)
        return self


Action.model_rebuild()


def _unique(names: list[str], what: str, loc: tuple[str, str]) -> None:
    """Refuse a repeated name, at the repeat: ``loc`` is (list field, name field)."""
    seen = set()
    for i, n in enumerate(names):
        if n in seen:
            raise FieldError((loc[0], i, loc[1]), f"duplicate {what} {n!r}")
        seen.add(n)


_did_you_mean = did_you_mean
