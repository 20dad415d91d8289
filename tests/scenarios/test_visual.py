"""The scene-description data contract: checks, msgpack-friendly dicts, pickling, and the
(N, 7) position + quaternion (xyzw) form of per-frame poses."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys

import numpy as np
import pytest

from kinematics.transforms import axis_rotation, matrix_to_quat_xyzw, pose
from scenarios.errors import ScenarioError
from scenarios.visual import (
    MATERIALS,
    CameraModel,
    SceneDescription,
    VisualMesh,
    VisualNode,
    check_poses,
    poses_from_pq,
    poses_to_pq,
    vertex_normals,
)

CUBE_V = np.array([[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)])
CUBE_F = np.array(
    [[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
     [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]]
)  # fmt: skip


def _scene(fixed: bool = True) -> SceneDescription:
    cube = VisualMesh(CUBE_V * 0.01, CUBE_F, rgba=(0.2, 0.5, 0.9, 1.0), material="ring")
    nodes = (VisualNode("board/ring0", (cube,)), VisualNode("PSM1/tool_tip"))
    if fixed:
        camera = CameraModel(math.radians(70), X_WC=pose(None, (0.0, 0.0, 0.2)))
        return SceneDescription(nodes, camera, None, {"PSM1": "PSM1/tool_tip"}, "test")
    nodes = (*nodes, VisualNode("ECM/tool_tip"))
    return SceneDescription(nodes, CameraModel(1.2, arm="ECM"), "ECM/tool_tip", {}, "scoped")


def _random_poses(rng, n: int) -> np.ndarray:
    X = np.zeros((n, 4, 4))
    for i in range(n):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        X[i] = pose(axis_rotation(axis, rng.uniform(-math.pi, math.pi)), rng.normal(size=3))
    return X


def _only_msgpack_types(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _only_msgpack_types(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_only_msgpack_types(v) for v in value)
    return value is None or type(value) in (str, int, float, bool, bytes)


def test_mesh_normals_are_computed_outward_and_unit():
    mesh = VisualMesh(CUBE_V, CUBE_F)
    assert mesh.normals.dtype == np.float32 and mesh.faces.dtype == np.uint32
    assert np.allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, atol=1e-6)
    # a cube corner's normal points outwards: within 55 degrees of the corner's diagonal
    cosines = np.einsum("ij,ij->i", mesh.normals, CUBE_V / math.sqrt(3.0))
    assert (cosines > math.cos(math.radians(55))).all()
    flipped = VisualMesh(CUBE_V, CUBE_F[:, ::-1])  # clockwise faces: normals point inwards
    assert np.allclose(flipped.normals, -mesh.normals)
    assert np.allclose(vertex_normals(np.zeros((1, 3)), np.zeros((0, 3), int)), [[0, 0, 1]])


def test_bad_meshes_and_names_are_refused_with_the_fix():
    with pytest.raises(ScenarioError, match="Did you mean 'metal'"):
        VisualMesh(CUBE_V, CUBE_F, material="metals")
    with pytest.raises(ScenarioError, match=r"faces index vertices 0\.\.7"):
        VisualMesh(CUBE_V, CUBE_F + 1)
    with pytest.raises(ScenarioError, match="rgba"):
        VisualMesh(CUBE_V, CUBE_F, rgba=(1.0, 0.0, 0.0))
    with pytest.raises(ScenarioError, match="repeated"):
        SceneDescription((VisualNode("a"), VisualNode("a")), CameraModel(1.0, arm="ECM"))
    with pytest.raises(ScenarioError, match="exactly one"):
        CameraModel(1.0)
    with pytest.raises(ScenarioError, match="Did you mean 'ECM/tool_tip'"):
        SceneDescription((VisualNode("ECM/tool_tip"),), CameraModel(1.0, arm="ECM"), "ECM/tooltip")


def test_every_material_has_a_documented_look_and_a_shading():
    from sim.render.materials import SHADING

    assert set(SHADING) == set(MATERIALS)
    assert {"tissue", "ring", "peg", "board", "wire", "needle", "mark", "metal", "black",
            "default"} == set(MATERIALS)  # fmt: skip
    assert all(len(look) > 10 for look in MATERIALS.values())


@pytest.mark.parametrize("fixed", [True, False])
def test_description_round_trips_through_plain_types_and_pickle(fixed):
    scene = _scene(fixed)
    data = scene.to_dict()
    assert _only_msgpack_types(data)
    for copy in (SceneDescription.from_dict(data), pickle.loads(pickle.dumps(scene))):
        assert copy.node_names == scene.node_names and copy.name == scene.name
        assert copy.scope_node == scene.scope_node and copy.tip_nodes == scene.tip_nodes
        assert copy.camera.arm == scene.camera.arm
        if fixed:
            assert np.array_equal(copy.camera.X_WC, scene.camera.X_WC)
        a, b = copy.nodes[0].meshes[0], scene.nodes[0].meshes[0]
        assert np.array_equal(a.vertices_m, b.vertices_m) and np.array_equal(a.faces, b.faces)
        assert np.array_equal(a.normals, b.normals) and a.rgba == b.rgba


def test_arrays_travel_little_endian():
    data = _scene().to_dict()
    vertices = data["nodes"][0]["meshes"][0]["vertices_m"]
    assert vertices["dtype"] == "float32" and vertices["shape"] == [8, 3]
    expected = (CUBE_V * 0.01).astype("<f4").tobytes()
    assert vertices["data"] == expected


def test_another_format_version_is_refused():
    data = _scene().to_dict()
    data["format"] = 99
    with pytest.raises(ScenarioError, match="format 99"):
        SceneDescription.from_dict(data)


def test_poses_to_pq_and_back(rng):
    X = _random_poses(rng, 200)
    pq = poses_to_pq(X)
    assert pq.shape == (200, 7)
    assert np.allclose(np.linalg.norm(pq[:, 3:], axis=1), 1.0)
    assert (pq[:, 6] >= 0).all()
    assert np.allclose(poses_from_pq(pq), X, atol=1e-12)
    # the same quaternions (xyzw) as the project's one-pose conversion, up to sign
    for i in range(10):
        q = matrix_to_quat_xyzw(X[i, :3, :3])
        assert np.allclose(pq[i, 3:], q * np.sign(q[3] or 1.0), atol=1e-12)


def test_pq_handles_half_turns_and_unnormalised_quaternions():
    half_turns = np.stack([pose(axis_rotation(a, math.pi)) for a in np.eye(3)] + [np.eye(4)])
    assert np.allclose(poses_from_pq(poses_to_pq(half_turns)), half_turns, atol=1e-12)
    pq = np.array([[0.1, 0.2, 0.3, 0.0, 0.0, 2.0, 2.0]])
    X = poses_from_pq(pq)[0]
    assert np.allclose(X[:3, :3] @ X[:3, :3].T, np.eye(3)) and np.allclose(X[:3, 3], pq[0, :3])
    with pytest.raises(ScenarioError, match=r"\(N, 7\)"):
        poses_from_pq(np.zeros((3, 4, 4)))


def test_check_poses_names_the_expected_shape():
    scene = _scene()
    assert check_poses(np.stack([np.eye(4)] * 2), scene).shape == (2, 4, 4)
    with pytest.raises(ScenarioError, match=r"\(2, 4, 4\)"):
        check_poses(np.eye(4), scene)


def test_pinhole_projection():
    camera = CameraModel(math.radians(90), X_WC=np.eye(4))
    assert camera.focal_px(480) == pytest.approx(240.0)
    assert np.allclose(camera.project([0.0, 0.0, 1.0], 640, 480), [320.0, 240.0])
    assert np.allclose(camera.project([0.5, 0.25, 1.0], 640, 480), [440.0, 300.0])


def test_module_needs_only_numpy():
    code = (
        "import sys, scenarios.visual\n"
        "print(sorted(m for m in ('pybullet', 'OpenGL', 'pydantic', 'trimesh', 'numba') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
