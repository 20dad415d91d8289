"""The scope's view frustum: pure numpy, right on known points, and the ECM's in the world."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from kinematics.transforms import pose, rot_x
from sim.errors import SimError
from sim.world.frustum import Frustum
from sim.world.scripted import peg_transfer_scene
from sim.world.world import World


def test_known_points_in_and_out_of_view():
    X_WC = pose(rot_x(math.pi)[:3, :3], (0.0, 0.0, 0.2))  # looking straight down from 20 cm
    f = Frustum(X_WC, math.radians(60), aspect=1.0, near_m=0.01, far_m=0.5)
    half = 0.2 * math.tan(math.radians(30))  # half-width of the view at the floor
    points = np.array(
        [
            (0.0, 0.0, 0.0),  # straight ahead
            (0.99 * half, 0.0, 0.0),  # just inside the edge
            (1.01 * half, 0.0, 0.0),  # just outside
            (0.0, 0.0, 0.195),  # closer than near
            (0.0, 0.0, -0.31),  # beyond far
            (0.0, 0.0, 0.3),  # behind the camera
            (np.nan, 0.0, 0.0),
        ]
    )
    assert f.contains(points).tolist() == [True, True, False, False, False, False, False]
    assert f.contains((0.0, 0.0, 0.0)) is True
    corners = f.corners_W()
    assert corners.shape == (8, 3)
    np.testing.assert_allclose(corners[4:, 2], 0.2 - 0.5)


def test_bad_frustum_settings_are_rejected():
    with pytest.raises(SimError, match="fov_y_rad"):
        Frustum(np.eye(4), math.radians(200))
    with pytest.raises(SimError, match="near_m"):
        Frustum(np.eye(4), 1.0, near_m=0.3, far_m=0.1)


def test_frustum_module_imports_no_pybullet():
    code = "import sys, sim.world.frustum; print('pybullet' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_ecm_sees_the_board_and_not_behind_itself():
    with World(peg_transfer_scene()) as world:
        pegs = np.array([world.landmark("board", f"peg{k}") for k in range(12)])
        assert world.in_view(pegs).all()
        scope_tip = world.arms["ECM"].measured_cp()[:3, 3]
        behind = scope_tip + (scope_tip - pegs.mean(axis=0))
        assert not world.in_view(behind)
        assert not world.in_view((0.5, 0.5, 0.0))  # far off to the side
        assert world.tips_in_view() == {"PSM2": True, "PSM1": True}
        with pytest.raises(SimError, match="Did you mean 'ECM'"):
            world.camera("ECN")
        # turning the scope away takes the board out of view
        ecm = world.arms["ECM"]
        ecm.servo_jp([1.2, 0.0, 0.08, 0.0])
        world.step(1500)
        assert not world.in_view(pegs).any()
