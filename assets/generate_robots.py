"""Generate the PSM and ECM URDFs and their meshes from the ``kinematics`` chains.

The link frames of the written URDFs are exactly the chains' frames (the joint origins
come from :func:`kinematics.urdf.chain_to_urdf`), so pybullet's robot is the robot that
``kinematics`` computes. This script adds what kinematics does not know: the instrument
geometry (shaft, wrist, two jaw fingers; the ECM's scope) as trimesh meshes, masses,
and the joint velocity/effort limits.

Everything is deterministic (fixed mesh resolution, numbers rounded to 1 µm / 6
significant digits, a hand-written OBJ writer), so the tests regenerate the files into a
temporary folder and compare them byte for byte with the committed ones.

Run ``python -m assets.generate_robots`` from the repository root after changing a
model; it rewrites ``assets/robots/``. The URDFs use relative mesh paths and no
``package://`` URIs so that they load on their own in any pybullet program.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import trimesh

from assets import ROBOTS_DIR
from kinematics import Chain, ecm, psm
from kinematics.models import PSM_JAW_LIMITS_RAD
from kinematics.transforms import inverse
from kinematics.urdf import chain_to_urdf, joint_xml

#: Joint velocity (rad/s or m/s) and effort (N m or N) limits. The dVRK DH tables publish
#: none; these are chosen to be plausible for the dVRK Classic arms (tool-tip speeds of
#: 0.1-0.2 m/s at working depth, grip force of ~10 N at the jaw tips).
PSM_LIMITS = {
    "yaw": (1.5, 8.0),
    "pitch": (1.5, 8.0),
    "insertion": (0.2, 20.0),
    "roll": (3.0, 0.5),
    "wrist_pitch": (3.0, 0.3),
    "wrist_yaw": (3.0, 0.3),
    "jaw": (3.0, 0.1),
}
ECM_LIMITS = {
    "yaw": (1.0, 20.0),
    "pitch": (1.0, 20.0),
    "insertion": (0.1, 40.0),
    "roll": (1.5, 1.0),
}

#: Jaw finger joints of the PSM: each finger turns by half the jaw angle about the tool
#: tip's x axis (the wrist-yaw axis), so the jaw angle is ``jaw_left + jaw_right``.
JAW_JOINTS = ("jaw_left", "jaw_right")

#: Link names written for each arm: the RCM base, one link per joint, the tip.
PSM_LINKS = (
    "rcm",
    "yaw_link",
    "pitch_link",
    "insertion_link",
    "roll_link",
    "wrist_pitch_link",
    "wrist_yaw_link",
    "tool_tip",
)
ECM_LINKS = ("rcm", "yaw_link", "pitch_link", "insertion_link", "roll_link", "tool_tip")
JAW_LINKS = ("jaw_left_link", "jaw_right_link")

#: Reference insertion (m) at which shaft directions are measured (any value > 0 works).
_REFERENCE_INSERTION_M = 0.1


@dataclass(frozen=True)
class InstrumentGeometry:
    """Sizes (m) and masses (kg) of the modelled instrument parts.

    The Large Needle Driver has an 8 mm shaft, a 9.1 mm wrist and ~10 mm jaws; the
    Classic ECM carries a 12 mm stereo endoscope.
    """

    shaft_radius_m: float = 0.004
    shaft_length_m: float = 0.40
    shaft_mass_kg: float = 0.15
    wrist_radius_m: float = 0.003
    wrist_mass_kg: float = 0.01
    clevis_radius_m: float = 0.002
    jaw_length_m: float = 0.010
    jaw_width_m: float = 0.003
    jaw_thickness_m: float = 0.0015
    jaw_mass_kg: float = 0.003
    scope_radius_m: float = 0.006
    scope_length_m: float = 0.40
    scope_mass_kg: float = 0.5
    #: Links without modelled geometry (the parallelogram, the carriage): mass and inertia.
    frame_mass_kg: float = 0.1
    frame_inertia_kg_m2: float = 1e-4
    #: The tool-tip frame link (no geometry): kept light so the wrist motors carry it.
    tip_mass_kg: float = 0.002
    tip_inertia_kg_m2: float = 1e-8
    visual_sections: int = 24
    collision_sections: int = 10
    colors_rgba: dict = field(
        default_factory=lambda: {
            "shaft": (0.15, 0.15, 0.17, 1.0),
            "wrist": (0.55, 0.55, 0.6, 1.0),
            "jaw": (0.75, 0.75, 0.78, 1.0),
            "scope": (0.1, 0.1, 0.12, 1.0),
        }
    )


@dataclass
class _Part:
    """The geometry of one link: a visual and a collision mesh in the link frame."""

    visual: trimesh.Trimesh
    collision: trimesh.Trimesh
    mass_kg: float
    color: str


def _fmt(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _sig(value: float) -> str:
    text = f"{value:.6g}"
    return "0" if text == "-0" else text


def obj_text(mesh: trimesh.Trimesh) -> str:
    """Wavefront OBJ of ``mesh``: vertices rounded to 1 µm, 1-based triangle faces."""
    lines = [f"# surgisim assets/generate_robots.py: {len(mesh.vertices)} vertices"]
    lines += ["v " + " ".join(_fmt(c) for c in v) for v in mesh.vertices]
    lines += ["f " + " ".join(str(int(i) + 1) for i in f) for f in mesh.faces]
    return "\n".join(lines) + "\n"


def _cylinder(radius: float, start, end, sections: int) -> trimesh.Trimesh:
    return trimesh.creation.cylinder(
        radius=radius, segment=np.array([start, end], dtype=float), sections=sections
    )


def _box(lower, upper) -> trimesh.Trimesh:
    return trimesh.creation.box(bounds=np.array([lower, upper], dtype=float))


def _shaft_in_link(chain: Chain, link_index: int, tip_point) -> tuple[np.ndarray, np.ndarray]:
    """End point and unit direction (towards the RCM and beyond) of the shaft in a link frame.

    ``tip_point`` is the distal end of the shaft in the link frame; the shaft runs from it
    through the RCM (the chain's base origin), measured at a reference configuration.
    """
    q = np.zeros(chain.dof)
    q[chain.joint_names.index("insertion")] = _REFERENCE_INSERTION_M
    X_R_link = chain.link_frames(q)[link_index]
    p_rcm = (inverse(X_R_link) @ np.array([0.0, 0.0, 0.0, 1.0]))[:3]
    end = np.asarray(tip_point, dtype=float)
    direction = p_rcm - end
    return end, direction / np.linalg.norm(direction)


def _shaft_part(chain, link_index, tip_point, radius, length, mass, color, g) -> _Part:
    end, direction = _shaft_in_link(chain, link_index, tip_point)
    start = end + length * direction
    return _Part(
        _cylinder(radius, end, start, g.visual_sections),
        _cylinder(radius, end, start, g.collision_sections),
        mass,
        color,
    )


def psm_parts(g: InstrumentGeometry) -> dict[str, _Part]:
    """Geometry of the PSM's instrument links (Large Needle Driver), keyed by link name."""
    chain = psm()
    roll = chain.joint_names.index("roll")
    wrist_yaw = chain.joints[chain.joint_names.index("wrist_yaw")]
    pitch_to_yaw = wrist_yaw.X_parent_joint[:3, 3]
    shaft = _shaft_part(
        chain, roll, np.zeros(3), g.shaft_radius_m, g.shaft_length_m, g.shaft_mass_kg, "shaft", g
    )
    wrist = _Part(
        _cylinder(g.wrist_radius_m, np.zeros(3), pitch_to_yaw, g.visual_sections),
        _cylinder(g.wrist_radius_m, np.zeros(3), pitch_to_yaw, g.collision_sections),
        g.wrist_mass_kg,
        "wrist",
    )
    half = g.wrist_radius_m
    clevis_ends = (np.array([0.0, 0.0, -half]), np.array([0.0, 0.0, half]))
    clevis = _Part(
        _cylinder(g.clevis_radius_m, *clevis_ends, g.visual_sections),
        _cylinder(g.clevis_radius_m, *clevis_ends, g.collision_sections),
        g.wrist_mass_kg,
        "wrist",
    )
    w, t, L = g.jaw_width_m / 2, g.jaw_thickness_m, g.jaw_length_m
    z0 = g.clevis_radius_m
    left = _box((-w, -t, z0), (w, 0.0, L))
    right = _box((-w, 0.0, z0), (w, t, L))
    return {
        "roll_link": shaft,
        "wrist_pitch_link": wrist,
        "wrist_yaw_link": clevis,
        "jaw_left_link": _Part(left, left, g.jaw_mass_kg, "jaw"),
        "jaw_right_link": _Part(right, right, g.jaw_mass_kg, "jaw"),
    }


def ecm_parts(g: InstrumentGeometry) -> dict[str, _Part]:
    """Geometry of the ECM's scope (on the roll link), keyed by link name."""
    chain = ecm()
    roll = chain.joint_names.index("roll")
    tip_in_roll = chain.X_tip_tool[:3, 3]
    scope = _shaft_part(
        chain, roll, tip_in_roll, g.scope_radius_m, g.scope_length_m, g.scope_mass_kg, "scope", g
    )
    return {"roll_link": scope}


def _inertial_xml(part: _Part | None, g: InstrumentGeometry, tip: bool = False) -> str:
    if part is None:
        i = _sig(g.tip_inertia_kg_m2 if tip else g.frame_inertia_kg_m2)
        mass = _sig(g.tip_mass_kg if tip else g.frame_mass_kg)
        return (
            f'<inertial><origin xyz="0 0 0" rpy="0 0 0"/><mass value="{mass}"/>'
            f'<inertia ixx="{i}" ixy="0" ixz="0" iyy="{i}" iyz="0" izz="{i}"/></inertial>'
        )
    mesh = part.collision
    com = mesh.center_mass
    inertia = mesh.moment_inertia * (part.mass_kg / mesh.volume)
    # round-off of ~1e-24 off the diagonal must not reach the file (byte-identical output)
    inertia[np.abs(inertia) < 1e-9 * np.abs(inertia).max()] = 0.0
    xx, xy, xz, yy, yz, zz = inertia[np.triu_indices(3)]
    return (
        f'<inertial><origin xyz="{" ".join(_fmt(c) for c in com)}" rpy="0 0 0"/>'
        f'<mass value="{_sig(part.mass_kg)}"/>'
        f'<inertia ixx="{_sig(xx)}" ixy="{_sig(xy)}" ixz="{_sig(xz)}" '
        f'iyy="{_sig(yy)}" iyz="{_sig(yz)}" izz="{_sig(zz)}"/></inertial>'
    )


def _link_body(robot: str, parts: dict[str, _Part], g: InstrumentGeometry) -> Callable[[str], str]:
    def body(link: str) -> str:
        part = parts.get(link)
        xml = _inertial_xml(part, g, tip=link == "tool_tip")
        if part is None:
            return xml
        rgba = " ".join(_fmt(c) for c in g.colors_rgba[part.color])
        for kind in ("visual", "collision"):
            mesh_file = f"meshes/{robot}_{link}_{kind}.obj"
            geometry = f'<geometry><mesh filename="{mesh_file}" scale="1 1 1"/></geometry>'
            material = f'<material name="{part.color}"><color rgba="{rgba}"/></material>'
            xml += f"<{kind}>{geometry}{material if kind == 'visual' else ''}</{kind}>"
        return xml

    return body


def _with_limits(chain: Chain, limits: dict[str, tuple[float, float]]) -> Chain:
    joints = [
        replace(j, velocity_limit=limits[j.name][0], effort_limit=limits[j.name][1])
        for j in chain.joints
    ]
    return Chain(
        joints,
        chain.X_tip_tool,
        base_link=chain.base_link,
        tip_link=chain.tip_link,
        name=chain.name,
    )


def _jaw_xml(parts: dict[str, _Part], g: InstrumentGeometry) -> str:
    velocity, effort = PSM_LIMITS["jaw"]
    upper = PSM_JAW_LIMITS_RAD[1] / 2
    body = _link_body("psm", parts, g)
    xml = []
    for joint, link, sign in zip(JAW_JOINTS, JAW_LINKS, (1.0, -1.0), strict=True):
        xml.append(f'  <link name="{link}">{body(link)}</link>')
        xml.append(
            joint_xml(
                joint,
                "revolute",
                "tool_tip",
                link,
                np.eye(4),
                (sign, 0.0, 0.0),
                lower=0.0,
                upper=upper,
                velocity=velocity,
                effort=effort,
            )
        )
    return "\n".join(xml) + "\n"


def robot_files(g: InstrumentGeometry | None = None) -> dict[str, str]:
    """All generated files as ``{relative path: text}`` (URDFs and OBJ meshes)."""
    g = g or InstrumentGeometry()
    files: dict[str, str] = {}
    for robot, chain, limits, links, parts in (
        ("psm", psm(), PSM_LIMITS, PSM_LINKS, psm_parts(g)),
        ("ecm", ecm(), ECM_LIMITS, ECM_LINKS, ecm_parts(g)),
    ):
        extra = _jaw_xml(parts, g) if robot == "psm" else ""
        files[f"{robot}.urdf"] = chain_to_urdf(
            _with_limits(chain, limits),
            robot,
            link_names=list(links),
            link_extra=_link_body(robot, parts, g),
            extra_xml=extra,
        )
        for link, part in parts.items():
            files[f"meshes/{robot}_{link}_visual.obj"] = obj_text(part.visual)
            files[f"meshes/{robot}_{link}_collision.obj"] = obj_text(part.collision)
    return dict(sorted(files.items()))


def generate(out_dir: Path = ROBOTS_DIR) -> list[Path]:
    """Write every generated file under ``out_dir``; return the paths written."""
    out_dir = Path(out_dir)
    written = []
    for rel, text in robot_files().items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    for written_path in generate():
        print(written_path)
