"""A pybullet world as a viewer sees it: a scene description once, node poses every frame.

:func:`describe_scene` turns a :class:`~sim.world.world.World` into a
:class:`~scenarios.visual.SceneDescription`: every body with visual geometry (its
trimesh meshes and colours from :mod:`sim.world.boards`, body frame) becomes a node named
as the world names it (``board``, ``board/ring3``); every arm link with a URDF ``<visual>``
becomes a node ``ARM/LINK`` (``PSM1/roll_link``), its meshes moved by the visual's
``<origin>`` into the link frame; each arm also gets a mesh-less ``ARM/tool_tip`` node (the
instrument tips, and the scope's camera frame).

:class:`PoseReader` then reads the poses of those nodes cheaply, as the live server needs
at 60-500 Hz: one ``getLinkStates`` call per arm (URDF link frames, forward kinematics
computed), one ``getBasePositionAndOrientation`` per movable body, and nothing for static
scenery, whose poses are read once. :func:`node_poses` is the one-off form.

Materials: board pieces take theirs from the colour constant :mod:`sim.world.boards` gave
them (each kind of part has its own), tissue bodies are ``tissue``; arm links take theirs
from the URDF material name (``shaft`` and ``scope`` black, ``wrist`` and ``jaw`` metal).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import numpy as np

from kinematics.transforms import pose, rpy_to_matrix
from scenarios.visual import (
    CameraModel,
    SceneDescription,
    VisualMesh,
    VisualNode,
    poses_from_pq,
)
from sim.errors import SimError
from sim.world import boards

#: Material of each part colour the task boards use (:mod:`sim.world.boards`).
MATERIAL_OF_COLOUR: dict[tuple, str] = {
    tuple(boards.BOARD_RGBA): "board",
    tuple(boards.PEG_RGBA): "peg",
    tuple(boards.RING_RGBA): "ring",
    tuple(boards.WIRE_RGBA): "wire",
    tuple(boards.TISSUE_RGBA): "tissue",
    tuple(boards.MARK_RGBA): "mark",
    tuple(boards.NEEDLE_RGBA): "needle",
}

#: Material of each URDF ``<material name=...>`` the robot models use.
MATERIAL_OF_URDF: dict[str, str] = {
    "shaft": "black",
    "scope": "black",
    "wrist": "metal",
    "jaw": "metal",
}

#: Link of every arm whose frame is the tool tip (the camera frame on a scope).
TIP_LINK = "tool_tip"

#: Edges sharper than this keep separate normals on each side (a cylinder's rim), smoother
#: ones are shaded round (its side).
SMOOTH_ANGLE_RAD = math.radians(35.0)


def _mesh(trimesh_mesh, rgba, material: str, X=None) -> VisualMesh:
    import trimesh

    m = trimesh_mesh.copy()
    if X is not None:
        m.apply_transform(X)
    m = trimesh.graph.smooth_shade(m, angle=SMOOTH_ANGLE_RAD)
    return VisualMesh(
        np.asarray(m.vertices, dtype=np.float32),
        np.asarray(m.faces, dtype=np.uint32),
        np.asarray(m.vertex_normals, dtype=np.float32),
        tuple(float(c) for c in rgba),
        material,
    )


def _body_material(geometry, rgba) -> str:
    material = MATERIAL_OF_COLOUR.get(tuple(rgba), "default")
    if geometry.tissue and material not in ("mark",):
        return "tissue"
    return material


def _urdf_origin(element) -> np.ndarray:
    origin = element.find("origin") if element is not None else None
    if origin is None:
        return np.eye(4)
    xyz = [float(v) for v in origin.get("xyz", "0 0 0").split()]
    rpy = [float(v) for v in origin.get("rpy", "0 0 0").split()]
    return pose(rpy_to_matrix(*rpy), xyz)


@cache
def urdf_link_meshes(urdf_path: str) -> dict[str, tuple[VisualMesh, ...]]:
    """Visual meshes of each link of a URDF (link frame), with materials and colours.

    Only ``<mesh>`` geometry is read (the generated robot models use nothing else); its
    ``scale`` and the visual's ``<origin>`` are applied. Parsed once per file.
    """
    import trimesh

    path = Path(urdf_path)
    root = ET.parse(path).getroot()
    colours = {
        m.get("name"): m.find("color").get("rgba")
        for m in root.findall("material")
        if m.find("color") is not None
    }
    out: dict[str, tuple[VisualMesh, ...]] = {}
    for link in root.findall("link"):
        meshes = []
        for visual in link.findall("visual"):
            geometry = visual.find("geometry/mesh")
            if geometry is None:
                raise SimError(
                    f"{path}: link {link.get('name')!r} has a visual that is not a <mesh>; "
                    "the viewer reads mesh visuals only (export primitives as OBJ)."
                )
            mesh = trimesh.load(path.parent / geometry.get("filename"), force="mesh")
            scale = [float(s) for s in geometry.get("scale", "1 1 1").split()]
            X = _urdf_origin(visual) @ np.diag([*scale, 1.0])
            material = visual.find("material")
            name = material.get("name") if material is not None else None
            color = material.find("color") if material is not None else None
            rgba_text = color.get("rgba") if color is not None else colours.get(name)
            rgba = [float(c) for c in rgba_text.split()] if rgba_text else [0.7, 0.7, 0.7, 1.0]
            meshes.append(_mesh(mesh, rgba, MATERIAL_OF_URDF.get(name, "default"), X))
        out[link.get("name")] = tuple(meshes)
    return out


def camera_model(world, arm: str = "ECM") -> CameraModel:
    """The :class:`CameraModel` of an arm's scope, from the arm's camera settings."""
    settings = world.arm(arm).camera
    return CameraModel(
        math.radians(settings.fov_deg), settings.aspect, settings.near_m, settings.far_m, arm=arm
    )


def describe_scene(world, camera: CameraModel, name: str = "") -> SceneDescription:
    """The scene description of ``world``: body nodes (id order), then arm link nodes.

    Args:
        world: the :class:`~sim.world.world.World`.
        camera: the endoscope (its ``arm`` must be one of the world's arms).
        name: a name for the scene (the scenario's).

    The description holds for the bodies present now; describe again after spawning or
    removing a body.
    """
    if camera.arm is not None and camera.arm not in world.arms:
        raise SimError(
            f"camera arm {camera.arm!r} is not an arm of this world; arms are {sorted(world.arms)}."
        )
    nodes: list[VisualNode] = []
    for body in sorted(world.bodies):
        info = world.bodies[body]
        if info.geometry is None:
            continue
        g = info.geometry
        meshes = tuple(_mesh(m, rgba, _body_material(g, rgba)) for m, rgba in g.visuals)
        nodes.append(VisualNode(info.name, meshes))
    tips = {}
    for arm_name, arm in world.arms.items():
        links = urdf_link_meshes(str(arm.model.urdf))
        for link, meshes in links.items():
            if meshes:
                nodes.append(VisualNode(f"{arm_name}/{link}", meshes))
        nodes.append(VisualNode(f"{arm_name}/{TIP_LINK}"))
        if arm.has_jaw:
            tips[arm_name] = f"{arm_name}/{TIP_LINK}"
    scope = None if camera.arm is None else f"{camera.arm}/{TIP_LINK}"
    return SceneDescription(tuple(nodes), camera, scope, tips, name)


class PoseReader:
    """Reads ``X_WN`` (N, 4, 4) for a description from a world, as cheaply as pybullet allows.

    Built once per (world, description); call it every frame. Static bodies (role
    ``environment``) are read when the reader is built and never again.
    """

    def __init__(self, world, description: SceneDescription) -> None:
        self._world = world
        pb, c = world.pb, world.client
        self._pb, self._c = pb, c
        n = len(description.nodes)
        self._pq = np.zeros((n, 7))
        self._pq[:, 6] = 1.0
        self._bodies: list[tuple[int, int]] = []  # (row, body id) read every frame
        self._arms: list[tuple[int, list[int], list[int]]] = []  # body, link idx, rows
        arm_rows: dict[str, tuple[list[int], list[int]]] = {}
        for row, node in enumerate(description.nodes):
            arm_name, _, link = node.name.partition("/")
            if arm_name in world.arms and link:
                arm = world.arms[arm_name]
                if link not in arm.links:
                    raise SimError(
                        f"node {node.name!r}: arm {arm_name!r} has no link {link!r}; its links "
                        f"are {sorted(arm.links)}."
                    )
                indices, rows = arm_rows.setdefault(arm_name, ([], []))
                indices.append(arm.links[link])
                rows.append(row)
                continue
            body = world.body_id(node.name)
            info = world.bodies[body]
            if info.role == "environment":
                pos, orn = pb.getBasePositionAndOrientation(body, physicsClientId=c)
                self._pq[row] = (*pos, *orn)
            else:
                self._bodies.append((row, body))
        for arm_name, (indices, rows) in arm_rows.items():
            body = world.arms[arm_name].body
            if -1 in indices:  # the base link (rcm) is fixed: read it once
                k = indices.index(-1)
                pos, orn = pb.getBasePositionAndOrientation(body, physicsClientId=c)
                self._pq[rows[k]] = (*pos, *orn)
                indices, rows = indices[:k] + indices[k + 1 :], rows[:k] + rows[k + 1 :]
            if indices:
                self._arms.append((body, indices, rows))
        rows = [r for _, _, arm in self._arms for r in arm] + [r for r, _ in self._bodies]
        self._rows = np.array(rows, dtype=np.intp)

    def __call__(self) -> np.ndarray:
        """The current poses, (N, 4, 4) float64, in description node order."""
        pb, c = self._pb, self._c
        values = []
        for body, indices, _ in self._arms:
            states = pb.getLinkStates(
                body, indices, computeForwardKinematics=True, physicsClientId=c
            )
            values += [(*s[4], *s[5]) for s in states]  # URDF link frames, not the COMs
        for _, body in self._bodies:
            pos, orn = pb.getBasePositionAndOrientation(body, physicsClientId=c)
            values.append((*pos, *orn))
        if values:
            self._pq[self._rows] = values
        return poses_from_pq(self._pq)


def node_poses(world, description: SceneDescription) -> np.ndarray:
    """``X_WN`` (N, 4, 4) of ``description``'s nodes in ``world`` now (keep a
    :class:`PoseReader` instead when reading every frame)."""
    return PoseReader(world, description)()
