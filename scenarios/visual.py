"""What a viewer needs to draw a scene, as plain data: meshes once, poses every frame.

The simulator (which owns pybullet) describes its scene once as a
:class:`SceneDescription` - named nodes, each with triangle meshes in the node's own frame,
a material name and a colour - and then sends, every frame, one pose per node
(``X_WN``, a float64 array (N, 4, 4) in the order of :attr:`SceneDescription.nodes`).
A renderer in the same process, the live server's bus, or the OpenXR client in another
Python (no pybullet there) all consume the same two things.

Everything here is numpy and dataclasses: picklable, and convertible with ``to_dict`` /
``from_dict`` to msgpack-friendly types only (str, int, float, bool, list, dict, bytes).
Arrays travel as ``{"data": little-endian bytes, "shape": [...], "dtype": "float32"}``.

Frames follow the project: ``X_AB`` is the pose of frame B in frame A (4x4, metres).
The camera frame ``C`` is the scope tip's (as in :mod:`sim.world.frustum`): ``z`` is the
viewing direction, ``x`` points right and ``y`` down in the image. Quaternions are xyzw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from scenarios.errors import ScenarioError, suggest

#: Version of the dict layout written by ``to_dict`` (a reader refuses other versions).
FORMAT_VERSION = 1

#: The materials a mesh may name, each with the look a renderer should give it.
MATERIALS: dict[str, str] = {
    "tissue": "moist soft tissue: pinkish, slightly mottled, glossy wet highlights",
    "ring": "moulded plastic ring: saturated colour, soft specular",
    "peg": "smooth plastic peg: light, soft specular",
    "board": "matte task board (foam or rubber): diffuse, faint grain, almost no gloss",
    "wire": "polished metal wire: coloured, sharp highlights",
    "needle": "surgical steel needle: bright, sharp white highlights",
    "mark": "ink mark on tissue: dark, matte",
    "metal": "instrument wrist and jaws: brushed stainless steel, strong specular",
    "black": "instrument shaft: black coated, faint broad highlight",
    "default": "anything else: plain diffuse with a little gloss",
}


def _array_to_dict(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    little = a.astype(a.dtype.newbyteorder("<"), copy=False)
    return {"data": little.tobytes(), "shape": list(a.shape), "dtype": a.dtype.name}


def _array_from_dict(d: Mapping, what: str, dtype) -> np.ndarray:
    try:
        stored = np.dtype(d["dtype"]).newbyteorder("<")
        a = np.frombuffer(d["data"], dtype=stored).reshape(d["shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(
            f"{what}: expected {{'data': bytes, 'shape': [...], 'dtype': str}} holding an "
            f"array, got {type(d).__name__} ({exc})."
        ) from None
    return a.astype(dtype)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit vertex normals (V, 3) float32: face normals summed, weighted by face area.

    A vertex on no face (or on degenerate faces only) gets (0, 0, 1).
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    n = np.zeros_like(v)
    if len(f):
        face_n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])  # 2 x area
        for k in range(3):
            np.add.at(n, f[:, k], face_n)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    out = np.where(length > 0, n / np.where(length > 0, length, 1.0), (0.0, 0.0, 1.0))
    return out.astype(np.float32)


@dataclass(frozen=True, eq=False)
class VisualMesh:
    """One triangle mesh with one material, in the frame of the node that carries it.

    Attributes:
        vertices_m: (V, 3) float32 positions (m, node frame).
        faces: (F, 3) uint32 vertex indices, counter-clockwise seen from outside.
        normals: (V, 3) float32 unit normals (computed from the faces when not given).
        rgba: base colour, 4 floats in [0, 1] (sRGB).
        material: one of :data:`MATERIALS`.
    """

    vertices_m: np.ndarray
    faces: np.ndarray
    normals: np.ndarray | None = None
    rgba: tuple[float, float, float, float] = (0.8, 0.8, 0.8, 1.0)
    material: str = "default"

    def __post_init__(self) -> None:
        v = np.ascontiguousarray(self.vertices_m, dtype=np.float32)
        f = np.asarray(self.faces)
        if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
            raise ScenarioError(f"VisualMesh vertices_m must be finite (V, 3), got {v.shape}.")
        if f.ndim != 2 or f.shape[1] != 3:
            raise ScenarioError(f"VisualMesh faces must be (F, 3) indices, got {f.shape}.")
        if len(f) and (f.min() < 0 or f.max() >= len(v)):
            raise ScenarioError(
                f"VisualMesh faces index vertices 0..{len(v) - 1}, got {f.min()}..{f.max()}."
            )
        f = np.ascontiguousarray(f, dtype=np.uint32)
        n = vertex_normals(v, f) if self.normals is None else self.normals
        n = np.ascontiguousarray(n, dtype=np.float32)
        if n.shape != v.shape:
            raise ScenarioError(
                f"VisualMesh normals must match vertices {v.shape}, got {n.shape}; leave "
                "normals out to compute them."
            )
        rgba = tuple(float(c) for c in self.rgba)
        if len(rgba) != 4 or not all(0.0 <= c <= 1.0 for c in rgba):
            raise ScenarioError(f"VisualMesh rgba must be 4 numbers in [0, 1], got {self.rgba}.")
        if self.material not in MATERIALS:
            raise ScenarioError(
                f"VisualMesh material {self.material!r} is not one of {sorted(MATERIALS)}."
                + suggest(self.material, MATERIALS)
            )
        for name, value in (("vertices_m", v), ("faces", f), ("normals", n)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "rgba", rgba)

    def to_dict(self) -> dict:
        """msgpack-friendly dict (arrays as little-endian bytes)."""
        return {
            "vertices_m": _array_to_dict(self.vertices_m),
            "faces": _array_to_dict(self.faces),
            "normals": _array_to_dict(self.normals),
            "rgba": list(self.rgba),
            "material": self.material,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> VisualMesh:
        """Inverse of :meth:`to_dict`."""
        return cls(
            _array_from_dict(d["vertices_m"], "VisualMesh vertices_m", np.float32),
            _array_from_dict(d["faces"], "VisualMesh faces", np.uint32),
            _array_from_dict(d["normals"], "VisualMesh normals", np.float32),
            tuple(d["rgba"]),
            d["material"],
        )


@dataclass(frozen=True, eq=False)
class VisualNode:
    """A rigid part that moves as one: a body (``board``, ``board/ring3``) or an arm link
    (``PSM1/roll_link``). A node with no meshes is a frame a viewer may want to know
    (an instrument's ``tool_tip``, the scope's camera frame)."""

    name: str
    meshes: tuple[VisualMesh, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ScenarioError(f"VisualNode name must be a non-empty string, got {self.name!r}.")
        object.__setattr__(self, "meshes", tuple(self.meshes))

    def to_dict(self) -> dict:
        """msgpack-friendly dict."""
        return {"name": self.name, "meshes": [m.to_dict() for m in self.meshes]}

    @classmethod
    def from_dict(cls, d: Mapping) -> VisualNode:
        """Inverse of :meth:`to_dict`."""
        return cls(d["name"], tuple(VisualMesh.from_dict(m) for m in d["meshes"]))


@dataclass(frozen=True, eq=False)
class CameraModel:
    """The endoscope's optics and mount.

    Attributes:
        fov_y_rad: full vertical field of view (rad), in (0, pi).
        aspect: nominal image width / height; a renderer keeps ``fov_y_rad`` and widens or
            narrows the horizontal view to the image it is asked for.
        near_m, far_m: clip distances along the view axis (m).
        arm: the scope arm whose tool-tip frame is the camera frame (``"ECM"``), or None.
        X_WC: the fixed camera pose (4x4) when ``arm`` is None.
    """

    fov_y_rad: float
    aspect: float = 4.0 / 3.0
    near_m: float = 0.005
    far_m: float = 0.3
    arm: str | None = None
    X_WC: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.fov_y_rad < math.pi:
            raise ScenarioError(
                f"CameraModel fov_y_rad must lie in (0, pi), got {self.fov_y_rad}; pass "
                "math.radians(degrees)."
            )
        if not self.aspect > 0.0:
            raise ScenarioError(f"CameraModel aspect must be > 0, got {self.aspect}.")
        if not 0.0 < self.near_m < self.far_m:
            raise ScenarioError(
                f"CameraModel needs 0 < near_m < far_m (m), got {self.near_m}, {self.far_m}."
            )
        if (self.arm is None) == (self.X_WC is None):
            raise ScenarioError(
                "CameraModel needs exactly one of 'arm' (the scope arm's name) or 'X_WC' "
                "(a fixed 4x4 pose)."
            )
        if self.X_WC is not None:
            X = np.array(self.X_WC, dtype=np.float64)
            if X.shape != (4, 4) or not np.isfinite(X).all():
                raise ScenarioError(f"CameraModel X_WC must be a finite 4x4 pose, got {X.shape}.")
            X.setflags(write=False)
            object.__setattr__(self, "X_WC", X)
        for name in ("fov_y_rad", "aspect", "near_m", "far_m"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def focal_px(self, height_px: int) -> float:
        """Pinhole focal length (pixels) for an image ``height_px`` high."""
        return 0.5 * height_px / math.tan(0.5 * self.fov_y_rad)

    def project(self, points_C, width_px: int, height_px: int) -> np.ndarray:
        """Pixel coordinates (u right, v down; (0, 0) the top-left corner of the top-left
        pixel) of points (N, 3) or (3,) given in the camera frame (m)."""
        P = np.asarray(points_C, dtype=np.float64)
        f = self.focal_px(height_px)
        uv = f * P[..., :2] / P[..., 2:3]
        return uv + np.array([0.5 * width_px, 0.5 * height_px])

    def to_dict(self) -> dict:
        """msgpack-friendly dict."""
        return {
            "fov_y_rad": self.fov_y_rad,
            "aspect": self.aspect,
            "near_m": self.near_m,
            "far_m": self.far_m,
            "arm": self.arm,
            "X_WC": None if self.X_WC is None else _array_to_dict(self.X_WC),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> CameraModel:
        """Inverse of :meth:`to_dict`."""
        X = d.get("X_WC")
        return cls(
            d["fov_y_rad"],
            d["aspect"],
            d["near_m"],
            d["far_m"],
            d.get("arm"),
            None if X is None else _array_from_dict(X, "CameraModel X_WC", np.float64),
        )


@dataclass(frozen=True, eq=False)
class SceneDescription:
    """Everything static about a scene: the nodes (in the order per-frame poses come),
    the camera, and where the instrument tips and the scope are.

    Attributes:
        nodes: the nodes; poses ``X_WN`` (N, 4, 4) arrive in this order.
        camera: the endoscope.
        scope_node: name of the node whose frame is the camera frame (the scope arm's
            tool tip), or None for a fixed camera.
        tip_nodes: instrument arm name to the name of its tool-tip node.
        name: the scene's (scenario's) name.
    """

    nodes: tuple[VisualNode, ...]
    camera: CameraModel
    scope_node: str | None = None
    tip_nodes: dict[str, str] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        nodes = tuple(self.nodes)
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "tip_nodes", dict(self.tip_nodes))
        names = [n.name for n in nodes]
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ScenarioError(f"SceneDescription node names must be unique; repeated: {twice}.")
        index = {n: i for i, n in enumerate(names)}
        object.__setattr__(self, "_index", index)
        wanted = list(self.tip_nodes.values())
        if self.scope_node is not None:
            wanted.append(self.scope_node)
        for name in wanted:
            if name not in index:
                raise ScenarioError(
                    f"SceneDescription refers to node {name!r}, which it does not have."
                    + suggest(name, names)
                )

    @property
    def node_names(self) -> list[str]:
        """The node names in pose order."""
        return [n.name for n in self.nodes]

    def index(self, name: str) -> int:
        """Position of the node called ``name`` in the pose array."""
        try:
            return self._index[name]
        except KeyError:
            raise ScenarioError(
                f"no node named {name!r}; this scene has {sorted(self._index)}."
                + suggest(name, self._index)
            ) from None

    def camera_pose(self, X_WN: np.ndarray) -> np.ndarray:
        """``X_WC`` for the frame: the scope node's pose, or the fixed camera's."""
        if self.scope_node is None:
            return self.camera.X_WC
        return np.asarray(X_WN)[self.index(self.scope_node)]

    def to_dict(self) -> dict:
        """msgpack-friendly dict (the whole description, meshes included)."""
        return {
            "format": FORMAT_VERSION,
            "name": self.name,
            "nodes": [n.to_dict() for n in self.nodes],
            "camera": self.camera.to_dict(),
            "scope_node": self.scope_node,
            "tip_nodes": dict(self.tip_nodes),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> SceneDescription:
        """Inverse of :meth:`to_dict`; refuses another format version."""
        if d.get("format") != FORMAT_VERSION:
            raise ScenarioError(
                f"scene description format {d.get('format')!r} is not the supported "
                f"{FORMAT_VERSION}; sender and viewer must run matching surgisim versions."
            )
        return cls(
            tuple(VisualNode.from_dict(n) for n in d["nodes"]),
            CameraModel.from_dict(d["camera"]),
            d.get("scope_node"),
            dict(d.get("tip_nodes", {})),
            d.get("name", ""),
        )


# ---- per-frame poses ---------------------------------------------------------------------


def check_poses(X_WN, description: SceneDescription) -> np.ndarray:
    """``X_WN`` as a float64 (N, 4, 4) array for ``description``, or a ScenarioError."""
    X = np.asarray(X_WN, dtype=np.float64)
    n = len(description.nodes)
    if X.shape != (n, 4, 4):
        raise ScenarioError(
            f"per-frame poses must be (N, 4, 4) = ({n}, 4, 4) for scene "
            f"{description.name!r} (one per node, in node order), got {X.shape}."
        )
    return X


def poses_to_pq(X_WN) -> np.ndarray:
    """(N, 4, 4) poses to (N, 7) rows: position (m) then quaternion xyzw (unit, w >= 0)."""
    X = np.asarray(X_WN, dtype=np.float64)
    R = X[:, :3, :3]
    m00, m11, m22 = R[:, 0, 0], R[:, 1, 1], R[:, 2, 2]
    # Shepperd: build from the largest of the four squared components, for each row
    t = np.stack(
        [1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22, 1 + m00 + m11 + m22]
    )
    k = np.argmax(t, axis=0)
    q = np.empty((len(X), 4))
    s = np.sqrt(np.maximum(t[k, np.arange(len(X))], 1e-300)) * 2  # 4 * |largest|
    r = lambda i, j: R[:, i, j]  # noqa: E731
    cand = {
        0: (0.25 * s, (r(0, 1) + r(1, 0)) / s, (r(0, 2) + r(2, 0)) / s, (r(2, 1) - r(1, 2)) / s),
        1: ((r(0, 1) + r(1, 0)) / s, 0.25 * s, (r(1, 2) + r(2, 1)) / s, (r(0, 2) - r(2, 0)) / s),
        2: ((r(0, 2) + r(2, 0)) / s, (r(1, 2) + r(2, 1)) / s, 0.25 * s, (r(1, 0) - r(0, 1)) / s),
        3: ((r(2, 1) - r(1, 2)) / s, (r(0, 2) - r(2, 0)) / s, (r(1, 0) - r(0, 1)) / s, 0.25 * s),
    }
    for case, parts in cand.items():
        rows = k == case
        q[rows] = np.stack(parts, axis=1)[rows]
    q *= np.where(q[:, 3:4] < 0, -1.0, 1.0)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return np.concatenate([X[:, :3, 3], q], axis=1)


def poses_from_pq(pq) -> np.ndarray:
    """(N, 7) rows of position (m) and quaternion xyzw to (N, 4, 4) poses (quaternions
    are normalised first)."""
    pq = np.asarray(pq, dtype=np.float64)
    if pq.ndim != 2 or pq.shape[1] != 7:
        raise ScenarioError(f"poses_from_pq takes (N, 7) rows (xyz, qx qy qz qw), got {pq.shape}.")
    q = pq[:, 3:] / np.sqrt(np.einsum("ij,ij->i", pq[:, 3:], pq[:, 3:]))[:, None]
    x, y, z, w = q.T
    xx, yy, zz, xy, xz, yz, wx, wy, wz = (
        x * x,
        y * y,
        z * z,
        x * y,
        x * z,
        y * z,
        w * x,
        w * y,
        w * z,
    )
    X = np.zeros((len(pq), 4, 4))
    X[:, :3, :3] = np.stack(
        [1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
         2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
         2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy)],
        axis=1,
    ).reshape(-1, 3, 3)  # fmt: skip
    X[:, :3, 3] = pq[:, :3]
    X[:, 3, 3] = 1.0
    return X
