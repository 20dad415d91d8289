"""One default for the endoscope's field of view in every path a user takes.

The scenario's camera said 60 degrees and the world's scene description and an arm's
camera settings 70: a scenario without ``fov_deg`` (the session, ``surgisim run``, the
renderer and the "in view" checks) saw a narrower view than the same scene built in
Python (the README's physics world). Within one path the view checks and the renderer
read the same settings (the camera arm's); this holds the paths to one value.
"""

from __future__ import annotations

import math

import pytest

from scenarios.loader import LIBRARY, parse_scenario
from scenarios.schema import ENDOSCOPE_FOV_DEG
from sim.world.arm import CameraSettings
from sim.world.scenario_scene import build_scene_spec
from sim.world.scene import ArmSpec, scene_from_dict


def _scenario_without_fov():
    text = (LIBRARY / "peg-transfer.yaml").read_text()
    assert text.count("camera: {arm: ECM, fov_deg: 70}") == 1
    text = text.replace("camera: {arm: ECM, fov_deg: 70}", "camera: {arm: ECM}")
    return parse_scenario(text, "no-fov.yaml")


def test_the_scenario_the_scene_spec_and_the_arm_default_to_one_field_of_view():
    scenario = _scenario_without_fov()
    assert scenario.scene.camera.fov_deg == ENDOSCOPE_FOV_DEG
    (ecm,) = [a for a in build_scene_spec(scenario).arms if a.name == "ECM"]
    assert ecm.fov_deg == ENDOSCOPE_FOV_DEG  # the scenario path
    world_ecm = scene_from_dict({"arms": [{"name": "ECM", "model": "ecm"}]}).arms[0]
    assert world_ecm.fov_deg == ENDOSCOPE_FOV_DEG  # a scene built in Python
    assert ArmSpec(name="ECM", model="ecm").fov_deg == ENDOSCOPE_FOV_DEG
    assert CameraSettings().fov_deg == ENDOSCOPE_FOV_DEG  # World.add_arm without a camera


def test_a_session_renders_and_checks_the_view_with_the_default():
    from sim.session.session import Session

    session = Session(_scenario_without_fov(), seed=0)
    try:
        camera = session.scene_description().camera  # what the renderer draws
        assert camera.fov_y_rad == pytest.approx(math.radians(ENDOSCOPE_FOV_DEG))
        assert session.world.arm("ECM").camera.fov_deg == ENDOSCOPE_FOV_DEG  # "in view"
    finally:
        session.close()
