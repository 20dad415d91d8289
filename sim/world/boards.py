"""Task boards and primitives as geometry: trimesh visuals plus simple collision shapes.

Each object description (:mod:`sim.world.scene`) becomes one or more :class:`BodyGeometry`:
a visual mesh (trimesh, body frame) for viewers, a list of collision primitives
(boxes, cylinders, capsules, spheres, convex hulls) for the physics engine, a mass, a
role (``"object"`` can be grasped; ``"environment"`` is fixed scenery) and named
landmarks (peg tops, wall midpoints, suture marks). Collision shapes are primitives on
purpose: a triangular ring as three boxes, a wire as a chain of capsules, so contacts
stay cheap and stable at 1 kHz (a concave triangle mesh would be slow and jittery).

This module builds geometry only; it imports no pybullet (viewers reuse the meshes).
Sizes follow real box trainers (FLS peg transfer, ring-and-wire, suture pads), in metres.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import trimesh

from kinematics.transforms import pose, rpy_to_matrix, translation
from sim.errors import SimError
from sim.world.scene import (
    BoxSpec,
    CylinderSpec,
    MeshSpec,
    ObjectSpec,
    PegBoardSpec,
    RingWireSpec,
    SphereSpec,
    SuturePadSpec,
)

ENVIRONMENT = "environment"
OBJECT = "object"

BOARD_RGBA = (0.85, 0.8, 0.7, 1.0)
PEG_RGBA = (0.9, 0.9, 0.9, 1.0)
RING_RGBA = (0.2, 0.5, 0.9, 1.0)
WIRE_RGBA = (0.7, 0.6, 0.2, 1.0)
TISSUE_RGBA = (0.9, 0.55, 0.55, 1.0)
MARK_RGBA = (0.1, 0.1, 0.1, 1.0)
NEEDLE_RGBA = (0.75, 0.75, 0.8, 1.0)


@dataclass(frozen=True)
class Shape:
    """One collision primitive in the body frame.

    Attributes:
        kind: ``"box"`` (size = half extents x, y, z), ``"sphere"`` (radius,),
            ``"cylinder"`` / ``"capsule"`` (radius, length along the shape's z), or
            ``"hull"`` (convex hull of ``vertices``).
        size: dimensions (m) as above.
        X_BS: 4x4 pose of the shape in the body frame.
        vertices: (N, 3) points for a hull (m, shape frame).
    """

    kind: str
    size: tuple[float, ...] = ()
    X_BS: np.ndarray = field(default_factory=lambda: np.eye(4))
    vertices: np.ndarray | None = None


@dataclass
class BodyGeometry:
    """Everything needed to create one rigid body and to draw it.

    Attributes:
        name: unique body name in the scene (``"board"``, ``"board/ring3"``).
        role: ``"object"`` (movable, graspable) or ``"environment"`` (static scenery).
        mass_kg: 0 for a static body.
        shapes: collision primitives.
        visuals: (mesh, rgba) pairs in the body frame.
        X_WB: initial pose of the body frame in the world.
        friction: lateral friction coefficient.
        landmarks: named points in the body frame (m).
        contact_stiffness_n_m: soft contact (tissue gives under a jaw) instead of rigid;
            None for rigid bodies.
        contact_damping_n_s_m: damping of the soft contact.
        tissue: a needle may pass through it (see :mod:`sim.world.tissue`).
        piercing_point: the landmark of a sharp point that pierces tissue (a needle's
            ``"tip"``); None for blunt bodies.
        piercing_direction: the way that point faces (unit vector, body frame): a needle's
            tangent at its tip, away from its body. It tells a point leaving tissue
            through a wound of its own (facing out) from one drawn back through the
            wound it went in by (see :mod:`sim.world.tissue`); None: not known.
    """

    name: str
    role: str
    mass_kg: float
    shapes: list[Shape]
    visuals: list[tuple[trimesh.Trimesh, tuple]]
    X_WB: np.ndarray
    friction: float = 0.8
    landmarks: dict[str, np.ndarray] = field(default_factory=dict)
    contact_stiffness_n_m: float | None = None
    contact_damping_n_s_m: float | None = None
    tissue: bool = False
    piercing_point: str | None = None
    piercing_direction: tuple[float, float, float] | None = None

    def visual_mesh(self) -> trimesh.Trimesh:
        """All visual parts as one mesh (body frame)."""
        return trimesh.util.concatenate([m for m, _ in self.visuals])


def spec_pose(spec: ObjectSpec) -> np.ndarray:
    """``X_WB`` from an object's ``position_m`` and ``rpy_rad``."""
    return pose(rpy_to_matrix(*spec.rpy_rad), spec.position_m)


def _segment_pose(a, b) -> tuple[np.ndarray, float]:
    """Pose whose z axis runs from ``a`` to ``b`` (origin at the midpoint), and the length."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    length = float(np.linalg.norm(d))
    z = d / length
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    return pose(np.column_stack([x, np.cross(z, x), z]), (a + b) / 2), length


def _box(half, X=None) -> tuple[Shape, trimesh.Trimesh]:
    X = np.eye(4) if X is None else X
    mesh = trimesh.creation.box(extents=2 * np.asarray(half, float), transform=X)
    return Shape("box", tuple(float(h) for h in half), X), mesh


def _rod(a, b, radius: float, kind: str = "capsule") -> tuple[Shape, trimesh.Trimesh]:
    X, length = _segment_pose(a, b)
    mesh = trimesh.creation.cylinder(radius=radius, segment=np.array([a, b], float), sections=12)
    return Shape(kind, (radius, length), X), mesh


def _polyline(points: np.ndarray, radius: float) -> tuple[list[Shape], list[trimesh.Trimesh]]:
    """Capsules (and their meshes) along consecutive points: a wire or a needle."""
    pieces = [_rod(a, b, radius) for a, b in itertools.pairwise(points)]
    return [p[0] for p in pieces], [p[1] for p in pieces]


# ---- primitives -----------------------------------------------------------------------


def _primitive(spec, shape: Shape, mesh: trimesh.Trimesh) -> list[BodyGeometry]:
    return [
        BodyGeometry(
            spec.name,
            ENVIRONMENT if spec.environment or spec.mass_kg == 0 else OBJECT,
            0.0 if spec.environment else spec.mass_kg,
            [shape],
            [(mesh, spec.color_rgba)],
            spec_pose(spec),
            spec.friction,
            {"center": np.zeros(3)},
        )
    ]


def box_bodies(spec: BoxSpec, rng: np.random.Generator) -> list[BodyGeometry]:
    """A box centred on its body frame."""
    return _primitive(spec, *_box(np.asarray(spec.size_m) / 2))


def sphere_bodies(spec: SphereSpec, rng: np.random.Generator) -> list[BodyGeometry]:
    """A sphere centred on its body frame."""
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=spec.radius_m)
    return _primitive(spec, Shape("sphere", (spec.radius_m,)), mesh)


def cylinder_bodies(spec: CylinderSpec, rng: np.random.Generator) -> list[BodyGeometry]:
    """A cylinder along its body z axis, centred on the body frame."""
    h = spec.height_m / 2
    shape, mesh = _rod((0, 0, -h), (0, 0, h), spec.radius_m, kind="cylinder")
    return _primitive(spec, shape, mesh)


def mesh_bodies(spec: MeshSpec, rng: np.random.Generator) -> list[BodyGeometry]:
    """A mesh file; its convex hull collides."""
    try:
        mesh = trimesh.load(spec.file, force="mesh")
    except Exception as exc:  # trimesh raises many types for unreadable files
        raise SimError(
            f"mesh {spec.name!r}: field 'file' {spec.file!r} could not be read as a mesh "
            f"({exc}); give an OBJ, STL or PLY file."
        ) from None
    if len(mesh.vertices) < 4:
        raise SimError(
            f"mesh {spec.name!r}: field 'file' {spec.file!r} has fewer than 4 vertices; give "
            "an OBJ, STL or PLY mesh of a solid."
        )
    mesh.apply_scale(spec.scale)
    hull = mesh.convex_hull
    return _primitive(spec, Shape("hull", vertices=np.asarray(hull.vertices)), mesh)


# ---- peg transfer ---------------------------------------------------------------------


def peg_positions(spec: PegBoardSpec) -> np.ndarray:
    """(12, 2) peg centres (x, y) in the board frame: pegs 0-5 left, 6-11 right."""
    out = []
    for side in (-1.0, 1.0):
        for row in (-1.0, 0.0, 1.0):
            for col in (-0.5, 0.5):
                x = side * spec.group_offset_m + col * spec.peg_spacing_m
                out.append((x, row * spec.peg_spacing_m))
    return np.array(out)


def triangle_frame_mesh(side_m: float, wall_m: float, height_m: float) -> trimesh.Trimesh:
    """A triangular prism with a triangular hole (an FLS ring), centred, one corner at +y."""
    inradius = side_m / (2 * math.sqrt(3))
    angles = np.radians([90.0, 210.0, 330.0])
    outer = 2 * inradius * np.column_stack([np.cos(angles), np.sin(angles)])
    inner = outer * (inradius - wall_m) / inradius
    h = height_m / 2
    ring2d = np.vstack([outer, inner])  # 0-2 outer, 3-5 inner
    vertices = np.vstack(
        [np.column_stack([ring2d, np.full(6, h)]), np.column_stack([ring2d, np.full(6, -h)])]
    )
    faces = []
    for k in range(3):
        o0, o1, i0, i1 = k, (k + 1) % 3, 3 + k, 3 + (k + 1) % 3
        faces += [(o0, o1, i1), (o0, i1, i0)]  # top
        faces += [(o0 + 6, i1 + 6, o1 + 6), (o0 + 6, i0 + 6, i1 + 6)]  # bottom
        faces += [(o0, o0 + 6, o1 + 6), (o0, o1 + 6, o1)]  # outer wall
        faces += [(i0, i1 + 6, i0 + 6), (i0, i1, i1 + 6)]  # inner wall
    mesh = trimesh.Trimesh(vertices, np.array(faces), process=True)
    mesh.fix_normals()
    return mesh


def _ring_geometry(spec: PegBoardSpec) -> tuple[list[Shape], trimesh.Trimesh, dict]:
    inradius = spec.ring_side_m / (2 * math.sqrt(3))
    inner_side = 2 * math.sqrt(3) * (inradius - spec.ring_wall_m)
    half_length = (spec.ring_side_m + inner_side) / 4
    top = np.array([0.0, 0.0, spec.ring_height_m / 2])
    shapes, landmarks = [], {"center": np.zeros(3)}
    for k, normal_deg in enumerate((150.0, 270.0, 30.0)):
        a = math.radians(normal_deg)
        n = np.array([math.cos(a), math.sin(a), 0.0])
        along = np.array([-math.sin(a), math.cos(a), 0.0])
        d = inradius - spec.ring_wall_m / 2
        X = pose(rpy_to_matrix(0.0, 0.0, a), d * n)
        half = (spec.ring_wall_m / 2, half_length, spec.ring_height_m / 2)
        shapes.append(_box(half, X)[0])
        landmarks[f"wall{k}"] = d * n + top
        # off the middle, towards a corner: the jaws straddle the wall clear of the peg
        landmarks[f"grip{k}"] = d * n + 0.25 * half_length * along + top
    mesh = triangle_frame_mesh(spec.ring_side_m, spec.ring_wall_m, spec.ring_height_m)
    return shapes, mesh, landmarks


def _in_disc(radius_m: float, rng: np.random.Generator) -> np.ndarray:
    """A point drawn uniformly from a disc of ``radius_m`` (x, y; m): the ring offsets
    ``ring_jitter_m`` promises ("by up to that much from its peg's centre"); a draw
    from the square reached 1.41x the radius at its corners."""
    u = rng.random(2)
    r, angle = radius_m * np.sqrt(u[0]), 2.0 * np.pi * u[1]
    return np.array([r * np.cos(angle), r * np.sin(angle)])


def peg_board_bodies(spec: PegBoardSpec, rng: np.random.Generator) -> list[BodyGeometry]:
    """The board with its 12 pegs (one static body) and 6 rings resting on pegs.

    Landmarks: board ``peg<k>`` (top centre of peg k), ``top`` (board top centre);
    each ring ``center``, ``wall<k>`` (top middle of wall k, whose outward normal points
    at 150°, 270° and 30° about the ring's z) and ``grip<k>`` (a place on wall k's top
    to grasp, between its middle and the next corner counter-clockwise).
    """
    bx, by, bz = spec.board_size_m
    shape, mesh = _box((bx / 2, by / 2, bz / 2), translation(0, 0, bz / 2))
    shapes, visuals = [shape], [(mesh, BOARD_RGBA)]
    landmarks = {"top": np.array([0.0, 0.0, bz])}
    peg_meshes = []
    for k, (x, y) in enumerate(peg_positions(spec)):
        peg, peg_mesh = _rod((x, y, bz), (x, y, bz + spec.peg_height_m), spec.peg_radius_m)
        shapes.append(Shape("cylinder", peg.size, peg.X_BS))
        peg_meshes.append(peg_mesh)
        landmarks[f"peg{k}"] = np.array([x, y, bz + spec.peg_height_m])
    visuals.append((trimesh.util.concatenate(peg_meshes), PEG_RGBA))
    X_WB = spec_pose(spec)
    bodies = [BodyGeometry(spec.name, ENVIRONMENT, 0.0, shapes, visuals, X_WB, 0.8, landmarks)]
    ring_shapes, ring_mesh, ring_marks = _ring_geometry(spec)
    pegs = peg_positions(spec)
    for i, peg in enumerate(spec.rings_on):
        jitter = _in_disc(spec.ring_jitter_m, rng) if spec.ring_jitter_m else (0, 0)
        # the peg passes through the hole: keep the ring centred within its clearance
        x, y = pegs[peg] + np.asarray(jitter)
        X_BR = translation(x, y, bz + spec.ring_height_m / 2 + 1e-4)
        bodies.append(
            BodyGeometry(
                f"{spec.name}/ring{i}",
                OBJECT,
                spec.ring_mass_kg,
                ring_shapes,
                [(ring_mesh, RING_RGBA)],
                X_WB @ X_BR,
                1.0,
                dict(ring_marks),
            )
        )
    return bodies


# ---- ring and wire --------------------------------------------------------------------


def wire_points(spec: RingWireSpec, s=None) -> np.ndarray:
    """Points of the wire's centre line in the course frame (m), at fractions ``s`` of its
    length (default: the ``segments + 1`` joints). Both ends are valleys, so a ring left on
    the wire rests against a post."""
    s = np.linspace(0.0, 1.0, spec.segments + 1) if s is None else np.atleast_1d(s)
    x = (s - 0.5) * spec.wire_length_m
    z = spec.base_size_m[2] + spec.wire_height_m
    z = z - spec.wave_amplitude_m * np.cos(2 * math.pi * spec.waves * s)
    return np.column_stack([x, np.zeros_like(x), z])


def ring_wire_bodies(spec: RingWireSpec, rng: np.random.Generator) -> list[BodyGeometry]:
    """Base, two posts and the wavy wire (static); a ring with a grasping tab (object).

    Landmarks: course ``start`` / ``end`` (wire ends); ring ``center`` and ``tab``
    (top of the tab, where the jaws hold it).
    """
    bx, by, bz = spec.base_size_m
    base, base_mesh = _box((bx / 2, by / 2, bz / 2), translation(0, 0, bz / 2))
    shapes, meshes = [base], [base_mesh]
    points = wire_points(spec)
    post_radius = 1.5 * spec.wire_radius_m
    for end in (points[0], points[-1]):
        post, post_mesh = _rod((end[0], 0, bz), end, post_radius, kind="cylinder")
        shapes.append(post)
        meshes.append(post_mesh)
    wire_shapes, wire_meshes = _polyline(points, spec.wire_radius_m)
    shapes += wire_shapes
    meshes += wire_meshes
    X_WB = spec_pose(spec)
    course = BodyGeometry(
        spec.name,
        ENVIRONMENT,
        0.0,
        shapes,
        [(base_mesh, BOARD_RGBA), (trimesh.util.concatenate(meshes[1:]), WIRE_RGBA)],
        X_WB,
        0.5,
        {"start": points[0].copy(), "end": points[-1].copy()},
    )
    # ring in the y-z plane (its axis along the wire), threaded at the start, by the post
    r, tube, n = spec.ring_radius_m, spec.ring_tube_m, 10
    ring_shapes = []
    for k in range(n):
        a = 2 * math.pi * k / n
        X = pose(rpy_to_matrix(a, 0.0, 0.0), (0.0, -r * math.sin(a), r * math.cos(a)))
        half = (tube, r * math.sin(math.pi / n) + tube / 2, tube)
        ring_shapes.append(_box(half, X)[0])
    tab_half = (0.001, 0.002, 0.004)
    tab_center = (0.0, 0.0, r + tube + tab_half[2])
    tab, tab_mesh = _box(tab_half, translation(*tab_center))
    ring_shapes.append(tab)
    torus = trimesh.creation.torus(major_radius=r, minor_radius=tube, major_sections=24)
    torus.apply_transform(pose(rpy_to_matrix(0.0, math.pi / 2, 0.0)))
    gap = post_radius + tube + 5e-4
    start = wire_points(spec, gap / spec.wire_length_m)[0]
    ring = BodyGeometry(
        f"{spec.name}/ring",
        OBJECT,
        spec.ring_mass_kg,
        ring_shapes,
        [(trimesh.util.concatenate([torus, tab_mesh]), RING_RGBA)],
        # the ring hangs on the wire: its inner top edge rests on the wire's top
        X_WB @ translation(start[0], 0.0, start[2] + spec.wire_radius_m - (r - tube) + 1e-4),
        0.5,
        {"center": np.zeros(3), "tab": np.array([0.0, 0.0, r + tube + 2 * tab_half[2]])},
    )
    return [course, ring]


# ---- suturing -------------------------------------------------------------------------


def suture_pad_bodies(spec: SuturePadSpec, rng: np.random.Generator) -> list[BodyGeometry]:
    """A tissue pad with entry/exit marks (static) and a half-circle needle lying on it.

    Landmarks: pad ``entry<k>``, ``exit<k>`` (mark centres on the top face); needle
    ``tip``, ``tail`` and ``middle`` (a place to grasp).
    """
    px, py, pz = spec.pad_size_m
    pad, pad_mesh = _box((px / 2, py / 2, pz / 2), translation(0, 0, pz / 2))
    marks, landmarks = [], {}
    for k in range(spec.mark_pairs):
        x = (k - (spec.mark_pairs - 1) / 2) * spec.mark_spacing_m
        for label, y in (("entry", -spec.mark_gap_m / 2), ("exit", spec.mark_gap_m / 2)):
            point = np.array([x, y + py / 6, pz])
            landmarks[f"{label}{k}"] = point
            disc = trimesh.creation.cylinder(
                radius=spec.mark_radius_m, segment=np.array([point, point + np.array([0, 0, 2e-4])])
            )
            marks.append(disc)
    X_WB = spec_pose(spec)
    bodies = [
        BodyGeometry(
            spec.name,
            ENVIRONMENT,
            0.0,
            [pad],
            [(pad_mesh, TISSUE_RGBA), (trimesh.util.concatenate(marks), MARK_RGBA)],
            X_WB,
            1.0,
            landmarks,
            contact_stiffness_n_m=spec.tissue_stiffness_n_m,
            contact_damping_n_s_m=spec.tissue_damping_n_s_m,
            tissue=True,
        )
    ]
    rn, wire = spec.needle_radius_m, spec.needle_wire_m
    arc = np.linspace(0.0, math.pi, 7)
    points = np.column_stack([rn * np.cos(arc), rn * np.sin(arc) - rn / 2, np.zeros_like(arc)])
    shapes, meshes = _polyline(points, wire)
    needle_at = translation(0.0, -py / 2 + rn + 0.004, pz + wire + 1e-4)
    bodies.append(
        BodyGeometry(
            f"{spec.name}/needle",
            OBJECT,
            spec.needle_mass_kg,
            shapes,
            [(trimesh.util.concatenate(meshes), NEEDLE_RGBA)],
            X_WB @ needle_at,
            0.8,
            {"tip": points[0].copy(), "tail": points[-1].copy(), "middle": points[3].copy()},
            piercing_point="tip",
            # d/da of the arc at a = 0 is (0, rn, 0), towards the body: the point faces -y
            piercing_direction=(0.0, -1.0, 0.0),
        )
    )
    return bodies


#: Geometry builder for each object type.
BUILDERS: dict[str, Callable[[ObjectSpec, np.random.Generator], list[BodyGeometry]]] = {
    "box": box_bodies,
    "sphere": sphere_bodies,
    "cylinder": cylinder_bodies,
    "mesh": mesh_bodies,
    "peg_board": peg_board_bodies,
    "ring_wire": ring_wire_bodies,
    "suture_pad": suture_pad_bodies,
}


def bodies_for(spec: ObjectSpec, rng: np.random.Generator) -> list[BodyGeometry]:
    """The bodies that make up one described object (board pieces first)."""
    return BUILDERS[spec.type](spec, rng)
