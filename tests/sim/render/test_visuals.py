"""The world as a viewer sees it: describe_scene (bodies, arm links from their URDF visuals,
materials) and the per-frame poses, checked against the world's own measurements."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from scenarios.visual import MATERIALS, SceneDescription
from sim.world.visuals import PoseReader, camera_model, describe_scene, node_poses


def test_description_has_bodies_links_tips_and_materials(peg_scene, peg_world):
    description, _ = peg_scene
    names = description.node_names
    assert "board" in names and all(f"board/ring{k}" in names for k in range(6))
    assert "floor" not in names  # no visual geometry
    for arm in ("PSM1", "PSM2"):
        assert description.tip_nodes[arm] == f"{arm}/tool_tip"
        for link in ("roll_link", "wrist_pitch_link", "wrist_yaw_link", "jaw_left_link"):
            assert f"{arm}/{link}" in names
    assert description.scope_node == "ECM/tool_tip"
    assert description.camera.arm == "ECM"
    materials = {n.name: {m.material for m in n.meshes} for n in description.nodes}
    assert materials["board"] == {"board", "peg"}
    assert materials["board/ring0"] == {"ring"}
    assert materials["PSM1/roll_link"] == {"black"}
    assert materials["PSM1/jaw_left_link"] == {"metal"}
    assert all(m in MATERIALS for ms in materials.values() for m in ms)
    # smooth shading keeps sharp rims: the shaft's normals are unit and mostly radial
    shaft = description.nodes[description.index("PSM1/roll_link")].meshes[0]
    assert np.allclose(np.linalg.norm(shaft.normals, axis=1), 1.0, atol=1e-5)


def test_poses_match_the_world(peg_world, peg_scene):
    description, _ = peg_scene
    X = node_poses(peg_world, description)
    assert X.shape == (len(description.nodes), 4, 4) and X.dtype == np.float64
    for arm in ("PSM1", "PSM2", "ECM"):
        i = description.index(f"{arm}/tool_tip")
        # pybullet's link states are single precision: 1e-6 m
        assert np.allclose(X[i], peg_world.arm(arm).measured_cp(), atol=1e-6)
    for k in range(6):
        name = f"board/ring{k}"
        assert np.allclose(X[description.index(name)], peg_world.body_pose(name), atol=1e-9)
    assert np.allclose(description.camera_pose(X), peg_world.arm("ECM").measured_cp(), atol=1e-6)


def test_pose_reader_follows_motion(gl_backend):
    """A prepared reader sees arms and rings move (static scenery is read once)."""
    from sim.world.scripted import peg_transfer_scene
    from sim.world.world import World

    with World(peg_transfer_scene()) as world:
        description = describe_scene(world, camera_model(world))
        reader = PoseReader(world, description)
        before = reader()
        arm = world.arm("PSM1")
        goal = arm.measured_cp()
        goal[:3, 3] += (0.01, 0.0, 0.01)
        arm.servo_cp(goal)
        world.step(300)
        after = reader()
        fresh = node_poses(world, description)
        assert np.allclose(after, fresh)
        i = description.index("PSM1/tool_tip")
        assert np.linalg.norm(after[i, :3, 3] - before[i, :3, 3]) > 0.005
        assert np.allclose(after[i], arm.measured_cp(), atol=1e-6)
        j = description.index("board")
        assert np.array_equal(after[j], before[j])


def test_description_round_trips_through_dict_and_pickle(peg_scene):
    description, _ = peg_scene
    for copy in (
        SceneDescription.from_dict(description.to_dict()),
        pickle.loads(pickle.dumps(description)),
    ):
        assert copy.node_names == description.node_names
        assert copy.tip_nodes == description.tip_nodes and copy.scope_node == "ECM/tool_tip"
        assert copy.camera.fov_y_rad == description.camera.fov_y_rad
        for a, b in zip(copy.nodes, description.nodes, strict=True):
            assert len(a.meshes) == len(b.meshes)
            for ma, mb in zip(a.meshes, b.meshes, strict=True):
                assert np.array_equal(ma.vertices_m, mb.vertices_m)
                assert np.array_equal(ma.faces, mb.faces)
                assert np.array_equal(ma.normals, mb.normals)
                assert ma.rgba == mb.rgba and ma.material == mb.material


def test_unknown_camera_arm_is_refused(peg_world):
    from scenarios.visual import CameraModel
    from sim.errors import SimError

    with pytest.raises(SimError, match="ECM"):
        describe_scene(peg_world, CameraModel(1.0, arm="ECM2"))
