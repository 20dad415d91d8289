"""The committed robot assets are exactly what the generator writes, and stand alone."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from assets import ROBOTS_DIR
from assets.generate_robots import generate


def test_regenerated_files_are_byte_identical(tmp_path):
    written = generate(tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == {
        p.relative_to(ROBOTS_DIR).as_posix() for p in ROBOTS_DIR.rglob("*") if p.is_file()
    }, "the committed assets and the generator disagree on which files exist"
    for path in written:
        committed = ROBOTS_DIR / path.relative_to(tmp_path)
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} differs from the generator's output; run "
            "`python -m assets.generate_robots` and commit the result"
        )


def test_generation_is_deterministic(tmp_path):
    first = {p.name: p.read_bytes() for p in generate(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in generate(tmp_path / "b")}
    assert first == second


def test_urdfs_stand_alone_with_relative_meshes():
    total = sum(p.stat().st_size for p in ROBOTS_DIR.rglob("*") if p.is_file())
    assert total < 200_000, f"robot assets grew to {total} bytes"
    for name in ("psm.urdf", "ecm.urdf"):
        text = (ROBOTS_DIR / name).read_text()
        assert "package://" not in text
        root = ET.fromstring(text)
        meshes = [m.get("filename") for m in root.iter("mesh")]
        assert meshes, f"{name} has no meshes"
        for mesh in meshes:
            assert not mesh.startswith("/") and not re.match(r"^\w+://", mesh)
            assert (ROBOTS_DIR / mesh).is_file(), f"{name} names a missing mesh {mesh}"


def _movable(root) -> list[str]:
    return [j.get("name") for j in root.iter("joint") if j.get("type") != "fixed"]


def _colliding(root) -> set[str]:
    return {link.get("name") for link in root.iter("link") if link.find("collision") is not None}


def test_joint_and_link_names_follow_the_kinematics_tables():
    psm = ET.fromstring((ROBOTS_DIR / "psm.urdf").read_text())
    ecm = ET.fromstring((ROBOTS_DIR / "ecm.urdf").read_text())
    assert _movable(psm) == [
        "yaw",
        "pitch",
        "insertion",
        "roll",
        "wrist_pitch",
        "wrist_yaw",
        "jaw_left",
        "jaw_right",
    ]
    assert _movable(ecm) == ["yaw", "pitch", "insertion", "roll"]
    for root in (psm, ecm):
        links = [link.get("name") for link in root.iter("link")]
        assert links[0] == "rcm" and "tool_tip" in links
        collides = {
            link.get("name") for link in root.iter("link") if link.find("collision") is not None
        }
        assert "roll_link" in collides
    psm_collides = {l.get("name") for l in psm.iter("link") if l.find("collision") is not None}  # noqa: E741
    assert {"wrist_pitch_link", "jaw_left_link", "jaw_right_link"} <= psm_collides
