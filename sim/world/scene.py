"""Plain scene descriptions: what a world contains, as dataclasses or dicts, validated.

The scenario language (a later layer) produces these descriptions; the builder
(:mod:`sim.world.builder`) turns them into pybullet bodies. Nothing here imports pybullet or
YAML, so descriptions can be made, checked and stored anywhere.

A description is a :class:`SceneSpec`: physics settings, arms mounted at ports, and
objects. Build one from dataclasses, or from a dict with :func:`scene_from_dict`::

    scene_from_dict({
        "physics": {"rate_hz": 1000, "seed": 7},
        "arms": [{"name": "PSM1", "model": "psm", "port_position_m": [-0.08, -0.07, 0.14],
                  "port_look_at_m": [0, 0, 0.01]}],
        "objects": [{"type": "peg_board", "name": "board"},
                    {"type": "box", "name": "cube", "size_m": [0.01, 0.01, 0.01],
                     "position_m": [0.05, 0.05, 0.02]}],
    })

Every problem raises :class:`~sim.errors.SimError` naming the entry and the field, what
was expected, and (for names) the valid choices with the closest one.

Units: metres, kilograms, radians, seconds; ``rpy_rad`` is URDF fixed-axis
roll-pitch-yaw; colours are RGBA in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

from scenarios.schema import ENDOSCOPE_FOV_DEG, PSM_JAW_RATE_RAD_S
from sim.errors import SimError, closest_names

Vec3 = tuple[float, float, float]


def _real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return _real(v) and math.isfinite(v)


def _seq(v, n: int) -> bool:
    return isinstance(v, Sequence) and not isinstance(v, str) and len(v) == n


# field checks: name -> (test, what is expected)
_CHECKS = {
    "positive": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "nonneg": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "number": (_is_number, "a finite number"),
    "vec3": (lambda v: _seq(v, 3) and all(_is_number(x) for x in v), "3 finite numbers"),
    "size3": (
        lambda v: _seq(v, 3) and all(_is_number(x) and x > 0 for x in v),
        "3 positive numbers",
    ),
    "rgba": (
        lambda v: _seq(v, 4) and all(_is_number(x) and 0 <= x <= 1 for x in v),
        "4 numbers in [0, 1] (RGBA)",
    ),
    "name": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "count": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an int >= 1"),
}


def _f(default, check: str, doc: str = ""):
    """A dataclass field with a validation rule (see ``_CHECKS``) and a unit/meaning note."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable default")  # pragma: no cover - programming error
    return field(default=default, metadata={"check": check, "doc": doc})


def _validate(spec, where: str) -> None:
    """Check every field of ``spec`` against its rule; raise naming the field."""
    for f in fields(spec):
        check = f.metadata.get("check")
        value = getattr(spec, f.name)
        if check is None or (value is None and f.default is None):
            continue
        test, expected = _CHECKS[check]
        if not test(value):
            unit = f" ({f.metadata['doc']})" if f.metadata.get("doc") else ""
            raise SimError(
                f"{where}: field {f.name!r} must be {expected}{unit}, got {value!r}. "
                f"Fix the value of {f.name!r}."
            )


@dataclass(frozen=True)
class PhysicsSpec:
    """World-wide physics settings.

    Attributes:
        rate_hz: physics steps per simulated second (1 kHz default; 500 Hz is enough
            for contact-heavy scenes and twice as cheap).
        gravity_m_s2: gravity vector in the world frame.
        seed: seed of the world's ``numpy.random.Generator`` (object placement jitter).
        solver_iterations: constraint solver iterations per step (at most).
        solver_residual: the solver stops iterating once its residual falls below this.
        contact_breaking_m: contact points are kept (and solved) until surfaces are this
            far apart. Bullet's default of 2 cm suits metre-sized robots; on a board of
            centimetre rings it keeps every nearby pair in the solver (measured: 3x the
            step time with two instruments near six rings), so 2 mm here.
        drop_height_m: a released object that falls this far below its release height
            (without being grasped again) is reported as dropped.
        floor: add a static floor plane at z = 0 (the box trainer's base).
    """

    rate_hz: float = _f(1000.0, "positive", "Hz")
    gravity_m_s2: Vec3 = _f((0.0, 0.0, -9.81), "vec3", "m/s^2")
    seed: int = _f(0, "int")
    solver_iterations: int = _f(50, "count")
    solver_residual: float = _f(1e-4, "positive")
    contact_breaking_m: float = _f(0.002, "positive", "m")
    drop_height_m: float = _f(0.04, "positive", "m")
    floor: bool = _f(True, "bool")

    def __post_init__(self) -> None:
        _validate(self, "physics")


#: Arm models the builder knows (see :mod:`sim.world.robots`).
ARM_MODELS = ("psm", "ecm")

#: How close (m) a port's look-at point may come to the port itself: the shaft's direction
#: is the unit vector from one to the other, which is undefined (a division by ~0) below
#: this. :func:`sim.world.robots.port_pose` refuses the same distance when a run builds the
#: arm; checking it here lets ``surgisim scenario validate`` refuse it first.
PORT_LOOK_AT_MIN_M = 1e-9


@dataclass(frozen=True)
class ArmSpec:
    """An arm mounted with its remote centre of motion at a port.

    Attributes:
        name: unique name, e.g. ``"PSM1"``, ``"ECM"``.
        model: ``"psm"`` (instrument with jaws) or ``"ecm"`` (endoscope).
        port_position_m: RCM position in the world.
        port_rpy_rad: RCM orientation (roll-pitch-yaw); identity puts the shaft straight
            down at yaw = pitch = 0. Ignored when ``port_look_at_m`` is given.
        port_look_at_m: a world point the shaft aims at when yaw = pitch = 0.
        q: initial joint values (rad / m), in the model's joint order; default: zero
            angles and ``insertion_m``.
        insertion_m: default insertion when ``q`` is not given.
        jaw_rad: initial jaw angle (PSM).
        jaw_rate_rad_s: how fast the jaw may open or close.
        fov_deg, aspect, near_m, far_m: the scope's view (ECM).
    """

    name: str = _f("", "name")
    model: str = _f("psm", "name")
    port_position_m: Vec3 = _f((0.0, 0.0, 0.15), "vec3", "m, world frame")
    port_rpy_rad: Vec3 = _f((0.0, 0.0, 0.0), "vec3", "rad")
    port_look_at_m: Vec3 | None = _f(None, "vec3", "m, world frame")
    q: tuple[float, ...] | None = None
    insertion_m: float = _f(0.05, "nonneg", "m")
    jaw_rad: float = _f(0.0, "number", "rad")
    jaw_rate_rad_s: float = _f(PSM_JAW_RATE_RAD_S, "positive", "rad/s")
    fov_deg: float = _f(ENDOSCOPE_FOV_DEG, "positive", "degrees")
    aspect: float = _f(4.0 / 3.0, "positive", "width / height")
    near_m: float = _f(0.005, "positive", "m")
    far_m: float = _f(0.3, "positive", "m")

    def __post_init__(self) -> None:
        where = f"arm {self.name!r}"
        _validate(self, where)
        if not self.name:
            raise SimError("arm: field 'name' is empty; give each arm a name such as 'PSM1'.")
        if self.model not in ARM_MODELS:
            raise SimError(
                f"{where}: field 'model' is {self.model!r}; valid models are {ARM_MODELS}."
                + closest_names(self.model, ARM_MODELS)
            )
        if self.q is not None and not (
            isinstance(self.q, Sequence) and all(_is_number(v) for v in self.q)
        ):
            raise SimError(f"{where}: field 'q' must be finite numbers (rad / m), got {self.q!r}.")
        if not 0 < self.fov_deg < 180:
            raise SimError(f"{where}: field 'fov_deg' must lie in (0, 180), got {self.fov_deg}.")
        if self.port_look_at_m is not None:
            gap = math.dist(self.port_look_at_m, self.port_position_m)
            if gap < PORT_LOOK_AT_MIN_M:
                raise SimError(
                    f"{where}: field 'port_look_at_m' {list(self.port_look_at_m)} is "
                    f"{gap:.3g} m from the port position {list(self.port_position_m)}; the "
                    f"shaft aims from the port to that point, so it must be at least "
                    f"{PORT_LOOK_AT_MIN_M:g} m away. Aim at a point below the port (the "
                    "middle of the task board)."
                )
        if self.q is not None:
            from sim.world.robots import robot_model  # the kinematic chain, no pybullet

            joints = robot_model(self.model).chain().joint_names
            if len(self.q) != len(joints):
                raise SimError(
                    f"{where}: field 'q' needs {len(joints)} values for joints "
                    f"{list(joints)}, got {len(self.q)}. Give one value per joint."
                )
        if self.near_m >= self.far_m:
            raise SimError(
                f"{where}: fields 'near_m' ({self.near_m}) and 'far_m' ({self.far_m}) need "
                "near_m < far_m."
            )


@dataclass(frozen=True)
class ObjectSpec:
    """Fields every object has: a name and a pose of its body frame in the world."""

    type: ClassVar[str] = ""
    name: str = _f("", "name")
    position_m: Vec3 = _f((0.0, 0.0, 0.0), "vec3", "m, world frame")
    rpy_rad: Vec3 = _f((0.0, 0.0, 0.0), "vec3", "rad")

    def __post_init__(self) -> None:
        _validate(self, f"{self.type} {self.name!r}" if self.name else self.type)
        self.check()

    def check(self) -> None:
        """Cross-field checks beyond the per-field rules (overridden where needed)."""


@dataclass(frozen=True)
class _Primitive(ObjectSpec):
    mass_kg: float = _f(0.01, "nonneg", "kg; 0 makes it static")
    friction: float = _f(0.8, "nonneg", "Coulomb coefficient")
    color_rgba: tuple = _f((0.8, 0.3, 0.2, 1.0), "rgba")
    environment: bool = _f(False, "bool")


@dataclass(frozen=True)
class BoxSpec(_Primitive):
    """A box; ``environment=True`` makes it part of the environment (not an object)."""

    type: ClassVar[str] = "box"
    size_m: Vec3 = _f((0.01, 0.01, 0.01), "size3", "m, full edge lengths")


@dataclass(frozen=True)
class SphereSpec(_Primitive):
    """A sphere."""

    type: ClassVar[str] = "sphere"
    radius_m: float = _f(0.005, "positive", "m")


@dataclass(frozen=True)
class CylinderSpec(_Primitive):
    """A cylinder along its body z axis."""

    type: ClassVar[str] = "cylinder"
    radius_m: float = _f(0.005, "positive", "m")
    height_m: float = _f(0.01, "positive", "m")


@dataclass(frozen=True)
class MeshSpec(_Primitive):
    """A mesh file (OBJ, STL, PLY, ... as trimesh reads them), collision = its convex hull.

    Relative paths are taken from the current directory.
    """

    type: ClassVar[str] = "mesh"
    file: str = _f("", "name")
    scale: float = _f(1.0, "positive", "file units to metres")

    def check(self) -> None:
        path = Path(self.file)
        if not self.file or not path.is_file():
            near = ""
            if path.parent.is_dir():
                near = closest_names(path.name, [p.name for p in path.parent.iterdir()])
            raise SimError(
                f"mesh {self.name!r}: field 'file' names {self.file!r}, which is not a file "
                f"(looked in {str(path.parent.resolve())!r}). Give the path of an OBJ/STL/PLY "
                "mesh." + near
            )


@dataclass(frozen=True)
class PegBoardSpec(ObjectSpec):
    """FLS-style peg transfer board: 12 pegs in two groups of 6, and 6 triangular rings.

    The body frame sits at the centre of the board's bottom face; pegs are numbered 0-5
    on the left (-x) group and 6-11 on the right, row by row from -y.
    """

    type: ClassVar[str] = "peg_board"
    board_size_m: Vec3 = _f((0.24, 0.14, 0.008), "size3", "m")
    peg_height_m: float = _f(0.025, "positive", "m above the board")
    peg_radius_m: float = _f(0.002, "positive", "m")
    peg_spacing_m: float = _f(0.04, "positive", "m between neighbouring pegs")
    group_offset_m: float = _f(0.07, "positive", "m from the centre to each group's centre")
    ring_side_m: float = _f(0.030, "positive", "m, outer triangle side")
    ring_wall_m: float = _f(0.0025, "positive", "m")
    ring_height_m: float = _f(0.006, "positive", "m")
    ring_mass_kg: float = _f(0.005, "positive", "kg")
    ring_jitter_m: float = _f(0.0, "nonneg", "m, random ring offset from the world's seed")
    rings_on: tuple[int, ...] = (0, 1, 2, 3, 4, 5)

    def check(self) -> None:
        where = f"peg_board {self.name!r}"
        if not isinstance(self.rings_on, Sequence) or not all(
            isinstance(i, int) and 0 <= i < 12 for i in self.rings_on
        ):
            raise SimError(
                f"{where}: field 'rings_on' must list peg numbers 0-11, got {self.rings_on!r}."
            )
        if len(set(self.rings_on)) != len(self.rings_on):
            raise SimError(f"{where}: field 'rings_on' repeats a peg: {self.rings_on!r}.")
        inradius = self.ring_side_m / (2 * math.sqrt(3))
        if inradius - self.ring_wall_m <= self.peg_radius_m:
            raise SimError(
                f"{where}: a ring's hole (inradius {inradius - self.ring_wall_m:.4f} m) must be "
                f"wider than a peg (radius {self.peg_radius_m} m); reduce 'ring_wall_m' or "
                "'peg_radius_m', or enlarge 'ring_side_m'."
            )


#: Across a box trainer (m): the FLS box's floor is about 0.45 m wide, and the instruments
#: reach less than that from their ports. No course or pad in a trainer is longer, so it
#: caps the counts below however small their spacing is made.
BOX_TRAINER_SPAN_M = 0.5

#: The shortest wire segment (m): as long as the default wire is thick (2 x 1 mm), and the
#: distance (``PhysicsSpec.contact_breaking_m``) within which Bullet keeps a contact: a
#: shorter capsule only adds contact pairs with the ring on the same 2 mm of wire without
#: changing the shape it feels. So a wire has at most ``wire_length_m`` / 2 mm segments.
MIN_WIRE_SEGMENT_M = 0.002
#: Segments of the longest wire a trainer holds at the shortest segment (0.5 m / 2 mm);
#: building is linear in it (a capsule and a mesh each; 16 per pybullet compound link).
MAX_WIRE_SEGMENTS = round(BOX_TRAINER_SPAN_M / MIN_WIRE_SEGMENT_M)

#: The closest suture marks (m, centre to centre): 5 mm, the tightest spacing of the
#: interrupted skin sutures a pad trains (5-10 mm); closer marks are one target, not two.
#: The row of marks must also fit on the pad (``pad_size_m[0]``).
MIN_MARK_SPACING_M = 0.005
#: Mark pairs on the longest pad a trainer holds (0.5 m / 5 mm).
MAX_MARK_PAIRS = round(BOX_TRAINER_SPAN_M / MIN_MARK_SPACING_M)


def _at_most(where: str, name: str, value: int, bound: int, why: str, fix: str) -> None:
    """Refuse a count above its physical bound before anything is built from it (a
    million wire segments or suture marks used to hang validation, not fail it)."""
    if value > bound:
        raise SimError(
            f"{where}: field {name!r} is {value}, above its bound of {bound} ({why}). {fix}"
        )


@dataclass(frozen=True)
class RingWireSpec(ObjectSpec):
    """Ring-and-wire course: a wavy wire on two posts and a ring threaded on it.

    The trainee carries the ring (by its tab) along the wire without touching it.
    """

    type: ClassVar[str] = "ring_wire"
    base_size_m: Vec3 = _f((0.18, 0.05, 0.008), "size3", "m")
    wire_length_m: float = _f(0.14, "positive", "m between the posts")
    wire_height_m: float = _f(0.04, "positive", "m above the base")
    wave_amplitude_m: float = _f(0.012, "nonneg", "m")
    waves: float = _f(1.0, "positive", "full waves along the wire")
    wire_radius_m: float = _f(0.001, "positive", "m")
    segments: int = _f(16, "count")
    ring_radius_m: float = _f(0.007, "positive", "m, centre line of the ring")
    ring_tube_m: float = _f(0.0012, "positive", "m, radius of the ring's wire")
    ring_mass_kg: float = _f(0.004, "positive", "kg")

    def check(self) -> None:
        where = f"ring_wire {self.name!r}"
        _at_most(
            where,
            "segments",
            self.segments,
            MAX_WIRE_SEGMENTS,
            f"a wire at most {BOX_TRAINER_SPAN_M:g} m long, the span of a box trainer, in "
            f"segments no shorter than {MIN_WIRE_SEGMENT_M * 1000:g} mm",
            "Use fewer segments (16 follow the default wave closely).",
        )
        fit = math.floor(self.wire_length_m / MIN_WIRE_SEGMENT_M + 1e-9)
        _at_most(
            where,
            "segments",
            self.segments,
            max(fit, 1),
            f"its {self.wire_length_m:g} m wire in segments no shorter than "
            f"{MIN_WIRE_SEGMENT_M * 1000:g} mm, the shortest that changes the wire's shape "
            "a ring feels",
            "Use fewer segments, or a longer 'wire_length_m'.",
        )
        if self.ring_radius_m - self.ring_tube_m <= self.wire_radius_m:
            raise SimError(
                f"ring_wire {self.name!r}: the ring's opening ('ring_radius_m' - 'ring_tube_m') "
                f"must exceed 'wire_radius_m' ({self.wire_radius_m} m)."
            )


@dataclass(frozen=True)
class SuturePadSpec(ObjectSpec):
    """A tissue pad with entry/exit target marks and a curved (half-circle) needle on it.

    Landmarks ``entry<k>`` and ``exit<k>`` are the mark centres on the pad's top face.
    """

    type: ClassVar[str] = "suture_pad"
    pad_size_m: Vec3 = _f((0.08, 0.05, 0.012), "size3", "m")
    mark_pairs: int = _f(3, "count")
    mark_spacing_m: float = _f(0.015, "positive", "m between pairs")
    mark_gap_m: float = _f(0.012, "positive", "m from entry to exit")
    mark_radius_m: float = _f(0.0015, "positive", "m")
    needle_radius_m: float = _f(0.0085, "positive", "m, half-circle needle")
    needle_wire_m: float = _f(0.0006, "positive", "m, radius of the needle's wire")
    needle_mass_kg: float = _f(0.002, "positive", "kg")
    tissue_stiffness_n_m: float = _f(
        1000.0, "positive", "N/m, soft contact of the pad, per contact point (jaws touch at two)"
    )
    tissue_damping_n_s_m: float = _f(10.0, "positive", "N s/m")

    def check(self) -> None:
        where = f"suture_pad {self.name!r}"
        _at_most(
            where,
            "mark_pairs",
            self.mark_pairs,
            MAX_MARK_PAIRS,
            f"a pad at most {BOX_TRAINER_SPAN_M:g} m long, the span of a box trainer, with "
            f"marks at least {MIN_MARK_SPACING_M * 1000:g} mm apart",
            "Use fewer mark pairs.",
        )
        # the marks' row, centred on the pad: (pairs - 1) spacings plus a mark's width
        row_m = (self.mark_pairs - 1) * self.mark_spacing_m + 2 * self.mark_radius_m
        if row_m > self.pad_size_m[0] + 1e-12:
            fit = 1 + int((self.pad_size_m[0] - 2 * self.mark_radius_m) / self.mark_spacing_m)
            raise SimError(
                f"{where}: field 'mark_pairs' is {self.mark_pairs}: a row of that many marks "
                f"{self.mark_spacing_m:g} m apart is {row_m:.4g} m long and does not fit on "
                f"the pad ({self.pad_size_m[0]:g} m long, 'pad_size_m'); at most "
                f"{max(fit, 0)} pairs fit. Use fewer mark pairs, a smaller "
                "'mark_spacing_m' or a longer pad."
            )


#: Object types a description may use, by their ``type`` name.
OBJECT_TYPES: dict[str, type[ObjectSpec]] = {
    cls.type: cls
    for cls in (
        BoxSpec,
        SphereSpec,
        CylinderSpec,
        MeshSpec,
        PegBoardSpec,
        RingWireSpec,
        SuturePadSpec,
    )
}


@dataclass(frozen=True)
class SceneSpec:
    """A whole scene: physics settings, arms, objects.

    Attributes:
        physics: :class:`PhysicsSpec`.
        arms: :class:`ArmSpec` entries (unique names).
        objects: object specs (unique names; empty names become ``<type><index>``).
        workspace_m: ``((xmin, ymin, zmin), (xmax, ymax, zmax))``: an object that leaves
            this box is reported as dropped (``left_workspace``); None = no such check.
    """

    physics: PhysicsSpec = field(default_factory=PhysicsSpec)
    arms: tuple[ArmSpec, ...] = ()
    objects: tuple[ObjectSpec, ...] = ()
    workspace_m: tuple[Vec3, Vec3] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "arms", tuple(self.arms))
        objects = []
        for i, obj in enumerate(self.objects):
            if not isinstance(obj, ObjectSpec):
                raise SimError(
                    f"objects[{i}]: expected an object spec (one of {sorted(OBJECT_TYPES)}), "
                    f"got {type(obj).__name__}; use scene_from_dict for dicts."
                )
            if not obj.name:
                obj = replace(obj, name=f"{obj.type}{i}")
            objects.append(obj)
        object.__setattr__(self, "objects", tuple(objects))
        names = [a.name for a in self.arms] + [o.name for o in self.objects]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SimError(f"scene: names must be unique across arms and objects; {dupes} repeat.")
        ws = self.workspace_m
        if ws is not None:
            ok = _seq(ws, 2) and all(_CHECKS["vec3"][0](c) for c in ws)
            if not ok or any(lo >= hi for lo, hi in zip(ws[0], ws[1], strict=True)):
                raise SimError(
                    "scene: field 'workspace_m' must be ((xmin, ymin, zmin), (xmax, ymax, zmax)) "
                    f"in metres with min < max, got {ws!r}."
                )


def _from_mapping(cls, data: Mapping[str, Any], where: str, skip: tuple[str, ...] = ()):
    if not isinstance(data, Mapping):
        raise SimError(f"{where}: expected a mapping of fields, got {type(data).__name__}.")
    valid = [f.name for f in fields(cls)]
    for key in data:
        if key in skip:
            continue
        if key not in valid:
            raise SimError(
                f"{where}: unknown field {key!r}; valid fields are {sorted(valid)}."
                + closest_names(str(key), valid)
            )
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except SimError as exc:
        raise SimError(f"{where}: {exc}") from None


def object_from_dict(data: Mapping[str, Any], where: str = "object") -> ObjectSpec:
    """One object spec from a dict with a ``type`` key (see :data:`OBJECT_TYPES`)."""
    if not isinstance(data, Mapping):
        raise SimError(f"{where}: expected a mapping with a 'type', got {type(data).__name__}.")
    kind = data.get("type")
    if kind is None:
        raise SimError(f"{where}: missing field 'type'; valid types are {sorted(OBJECT_TYPES)}.")
    cls = OBJECT_TYPES.get(kind)
    if cls is None:
        raise SimError(
            f"{where}: field 'type' is {kind!r}, which is not an object type; valid types are "
            f"{sorted(OBJECT_TYPES)}." + closest_names(str(kind), OBJECT_TYPES)
        )
    return _from_mapping(cls, data, where, skip=("type",))


def scene_from_dict(data: Mapping[str, Any]) -> SceneSpec:
    """A validated :class:`SceneSpec` from plain dicts and lists (e.g. parsed from a file).

    Raises:
        SimError: naming the entry (``objects[2]``, ``arms[0]``) and field at fault.
    """
    if not isinstance(data, Mapping):
        raise SimError(f"scene: expected a mapping, got {type(data).__name__}.")
    top = [f.name for f in fields(SceneSpec)]
    for key in data:
        if key not in top:
            raise SimError(
                f"scene: unknown field {key!r}; valid fields are {top}." + closest_names(key, top)
            )
    physics = _from_mapping(PhysicsSpec, data.get("physics", {}), "physics")
    arms = tuple(
        _from_mapping(ArmSpec, a, f"arms[{i}]") for i, a in enumerate(data.get("arms", ()))
    )
    objects = tuple(
        object_from_dict(o, f"objects[{i}]") for i, o in enumerate(data.get("objects", ()))
    )
    workspace = data.get("workspace_m")
    if workspace is not None and _seq(workspace, 2):
        workspace = tuple(tuple(c) if isinstance(c, list) else c for c in workspace)
    return SceneSpec(physics=physics, arms=arms, objects=objects, workspace_m=workspace)
