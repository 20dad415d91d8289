"""URDF to :class:`~kinematics.chain.Chain` and back.

Reading: any serial path between a base link and a tip link of a URDF tree; fixed joints
on the way are folded into the next joint's fixed transform (or the tool transform).
Writing: a chain as a stand-alone kinematic URDF whose link frames equal ``chain.fk``,
so pybullet (or any URDF consumer) sees exactly the robot that ``kinematics`` computes.
Only the standard library's XML parser is used: no ROS, no pybullet.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinematics.chain import Chain, Joint
from kinematics.errors import KinematicsError, closest_names
from kinematics.transforms import matrix_to_rpy, pose, rpy_to_matrix

_MOVABLE = {"revolute": "revolute", "continuous": "revolute", "prismatic": "prismatic"}
_UNSUPPORTED = {"floating", "planar"}
#: Joint types whose <limit> the URDF spec requires (read without one, a revolute joint
#: would turn without end and a prismatic one would be locked at 0).
_NEEDS_LIMIT = ("revolute", "prismatic")


@dataclass(frozen=True)
class _UrdfJoint:
    name: str
    type: str
    parent: str
    child: str
    X_parent_child: np.ndarray
    axis: np.ndarray
    lower: float
    upper: float
    velocity: float
    effort: float
    mimic: bool
    has_limit: bool


def _floats(text: str | None, count: int, default: float, where: str) -> np.ndarray:
    if text is None:
        return np.full(count, default)
    try:
        values = np.array([float(v) for v in text.split()])
    except ValueError:
        raise KinematicsError(f"{where}: expected {count} numbers, got {text!r}.") from None
    if values.shape != (count,) or not np.isfinite(values).all():
        raise KinematicsError(f"{where}: expected {count} finite numbers, got {text!r}.")
    return values


def _attr_float(element, name: str, default: float, where: str) -> float:
    text = element.get(name) if element is not None else None
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        raise KinematicsError(f"{where}: attribute {name}={text!r} is not a number.") from None


def _parse_joint(el, source: str) -> _UrdfJoint:
    name = el.get("name", "")
    jtype = el.get("type", "")
    where = f"{source}: joint {name!r}"
    parent_el, child_el = el.find("parent"), el.find("child")
    if parent_el is None or child_el is None:
        raise KinematicsError(f"{where}: needs <parent link=...> and <child link=...>.")
    origin = el.find("origin")
    xyz = _floats(origin.get("xyz") if origin is not None else None, 3, 0.0, f"{where} origin xyz")
    rpy = _floats(origin.get("rpy") if origin is not None else None, 3, 0.0, f"{where} origin rpy")
    axis_el = el.find("axis")
    axis = _floats(axis_el.get("xyz") if axis_el is not None else None, 3, 0.0, f"{where} axis")
    if axis_el is None:
        axis = np.array([1.0, 0.0, 0.0])
    limit = el.find("limit")
    lower = _attr_float(limit, "lower", 0.0, where)
    upper = _attr_float(limit, "upper", 0.0, where)
    if jtype == "continuous":
        lower, upper = -math.inf, math.inf
    return _UrdfJoint(
        name=name,
        type=jtype,
        parent=parent_el.get("link", ""),
        child=child_el.get("link", ""),
        X_parent_child=pose(rpy_to_matrix(*rpy), xyz),
        axis=axis,
        lower=lower,
        upper=upper,
        velocity=_attr_float(limit, "velocity", math.nan, where),
        effort=_attr_float(limit, "effort", math.nan, where),
        mimic=el.find("mimic") is not None,
        has_limit=limit is not None,
    )


#: Largest URDF text read (characters): robot descriptions are kilobytes; meshes are
#: separate files.
MAX_URDF_CHARS = 20_000_000


def _parse(text: str, source: str) -> tuple[str, list[str], dict[str, _UrdfJoint]]:
    """The robot's name (``<robot name>``, or the file's stem without one), its links,
    and its joints by child link."""
    if len(text) > MAX_URDF_CHARS:
        raise KinematicsError(
            f"{source}: {len(text):,} characters; a URDF is read up to {MAX_URDF_CHARS:,} "
            "(robot descriptions are kilobytes: is this the right file?)."
        )
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise KinematicsError(f"{source}: not valid XML ({exc}).") from None
    if root.tag != "robot":
        raise KinematicsError(f"{source}: root element is <{root.tag}>, expected <robot>.")
    links = [el.get("name", "") for el in root.findall("link")]
    by_child: dict[str, _UrdfJoint] = {}
    for el in root.findall("joint"):
        joint = _parse_joint(el, source)
        other = by_child.get(joint.child)
        if other is not None:
            raise KinematicsError(
                f"{source}: link {joint.child!r} is the child of two joints, {other.name!r} "
                f"and {joint.name!r}; in a URDF tree every link has one parent joint."
            )
        by_child[joint.child] = joint
    return root.get("name") or Path(source).stem, links, by_child


def chain_from_urdf_string(text: str, base_link: str, tip_link: str, *, source="<string>") -> Chain:
    """Chain from URDF text; see :func:`chain_from_urdf`."""
    robot_name, links, by_child = _parse(text, source)
    for role, link in (("base_link", base_link), ("tip_link", tip_link)):
        if link not in links:
            raise KinematicsError(
                f"{source}: {role} {link!r} is not a link of this URDF; links are {links}."
                + closest_names(link, links)
            )
    path: list[_UrdfJoint] = []
    link = tip_link
    seen = {tip_link}
    while link != base_link:  # each step visits a new link: at most one pass over the joints
        joint = by_child.get(link)
        if joint is None:
            ancestors = [tip_link] + [j.parent for j in path]
            raise KinematicsError(
                f"{source}: {tip_link!r} is not below {base_link!r}; walking up from the tip "
                f"reaches {ancestors} only. Pick a base link on that path."
            )
        path.append(joint)
        link = joint.parent
        if link in seen:
            walked = [tip_link] + [j.parent for j in path]
            cycle = walked[walked.index(link) :]
            raise KinematicsError(
                f"{source}: the joints above {tip_link!r} form a cycle through the links "
                f"{' -> '.join(cycle)} (joints "
                f"{[j.name for j in path[walked.index(link) :]]}); a URDF must be a tree. "
                "Fix the <parent>/<child> of one of these joints."
            )
        seen.add(link)
    path.reverse()

    joints: list[Joint] = []
    X_pending = np.eye(4)
    for uj in path:
        X_pending = X_pending @ uj.X_parent_child
        if uj.type == "fixed":
            continue
        if uj.type in _UNSUPPORTED or uj.type not in _MOVABLE:
            raise KinematicsError(
                f"{source}: joint {uj.name!r} has type {uj.type!r}; a chain supports "
                "revolute, continuous, prismatic and fixed joints."
            )
        if not uj.has_limit and uj.type in _NEEDS_LIMIT:
            endless = ' (for one that turns without end, type="continuous")'
            raise KinematicsError(
                f"{source}: joint {uj.name!r} is {uj.type} but has no <limit lower=... "
                "upper=... effort=... velocity=.../>; the URDF spec requires one (pybullet "
                f"refuses the file){endless if uj.type == 'revolute' else ''}."
            )
        if uj.mimic:
            raise KinematicsError(
                f"{source}: joint {uj.name!r} mimics another joint; mimic joints inside a "
                "serial chain are not supported."
            )
        joints.append(
            Joint(
                name=uj.name,
                kind=_MOVABLE[uj.type],
                X_parent_joint=X_pending,
                axis=uj.axis,
                lower=uj.lower,
                upper=uj.upper,
                velocity_limit=uj.velocity,
                effort_limit=uj.effort,
                child_link=uj.child,
            )
        )
        X_pending = np.eye(4)
    if not joints:
        raise KinematicsError(
            f"{source}: no movable joints between {base_link!r} and {tip_link!r} "
            f"(the path holds only fixed joints: {[j.name for j in path]})."
        )
    return Chain(joints, X_pending, base_link=base_link, tip_link=tip_link, name=robot_name)


def chain_from_urdf(path, base_link: str, tip_link: str) -> Chain:
    """Chain between ``base_link`` and ``tip_link`` of the URDF file at ``path``.

    Fixed joints are folded in; the links after the last movable joint become the tool
    transform, so ``chain.fk(q)`` is ``X_base_tip`` for ``tip_link``. The chain is named
    after ``<robot name>`` (the file's stem when that is missing).

    Raises:
        KinematicsError: unreadable file, unknown link (the message lists the links that
            exist), tip not below base, no movable joint on the path, an unsupported
            joint type, or a revolute or prismatic joint on the path without ``<limit>``
            (the URDF spec requires it; ``continuous`` is the type for an endless joint).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise KinematicsError(f"cannot read URDF {str(path)!r}: {exc.strerror}.") from None
    return chain_from_urdf_string(text, base_link, tip_link, source=str(path))


def _numbers(values) -> str:
    """Space-separated shortest round-trip decimals (full double precision)."""
    return " ".join(repr(float(v)) for v in values)


def _origin_xml(X: np.ndarray) -> str:
    return f'<origin xyz="{_numbers(X[:3, 3])}" rpy="{_numbers(matrix_to_rpy(X[:3, :3]))}"/>'


def _limit_value(value: float, fallback: float) -> float:
    return value if math.isfinite(value) else fallback


def joint_xml(
    name: str,
    kind: str,
    parent: str,
    child: str,
    X_parent_joint: np.ndarray,
    axis=(0.0, 0.0, 1.0),
    *,
    lower: float = -math.inf,
    upper: float = math.inf,
    velocity: float = 10.0,
    effort: float = 100.0,
) -> str:
    """One URDF ``<joint>`` element, numbers written at full double precision.

    Args:
        name: joint name.
        kind: ``"revolute"``, ``"prismatic"`` or ``"fixed"``; a revolute joint with both
            limits infinite is written as ``"continuous"``.
        parent, child: link names.
        X_parent_joint: 4x4 pose of the joint frame in the parent link frame (m).
        axis: joint axis in the joint frame (ignored for fixed joints).
        lower, upper: limits (rad or m).
        velocity, effort: limits written beside finite position limits (rad/s or m/s;
            N m or N).

    Raises:
        KinematicsError: a movable joint with one limit finite and the other not (e.g.
            ``[0, inf)``): URDF has no such joint (a ``<limit>`` holds two numbers, and
            ``continuous`` would drop the finite side), so it is refused, not widened.
    """
    limit, axis_el = "", ""
    if kind != "fixed":
        axis_el = f'<axis xyz="{_numbers(axis)}"/>'
        finite = (math.isfinite(lower), math.isfinite(upper))
        if all(finite):
            limit = (
                f'<limit lower="{float(lower)!r}" upper="{float(upper)!r}" '
                f'velocity="{float(velocity)!r}" effort="{float(effort)!r}"/>'
            )
        elif kind == "revolute" and not any(finite):
            kind = "continuous"
        else:
            raise KinematicsError(
                f"joint {name!r}: limits [{lower}, {upper}] cannot be written to a URDF "
                "(a <limit> needs both ends finite; continuous drops both). Give the joint "
                "two finite limits, or none."
            )
    return (
        f'  <joint name="{name}" type="{kind}"><parent link="{parent}"/>'
        f'<child link="{child}"/>{_origin_xml(X_parent_joint)}{axis_el}{limit}</joint>'
    )


def _default_link_names(chain: Chain) -> list[str]:
    """Base, each joint's child link, tool tip; a tip named like a link before it (a chain
    read from a URDF up to a movable joint's own link) becomes ``<tip>_tool``."""
    names = [chain.base_link, *chain.link_names]
    tip = chain.tip_link
    while tip in names:
        tip += "_tool"
    return [*names, tip]


def chain_to_urdf(
    chain: Chain,
    robot_name: str | None = None,
    *,
    link_names: list[str] | None = None,
    link_extra: Callable[[str], str] | None = None,
    default_velocity: float = 10.0,
    default_effort: float = 100.0,
    extra_xml: str = "",
) -> str:
    """A stand-alone URDF whose link frames equal ``chain.fk`` / ``chain.link_frames``.

    Args:
        chain: the chain to write.
        robot_name: ``<robot name>``; defaults to the chain's name.
        link_names: names of the dof + 2 links (base, one per joint, tool tip), all
            different; defaults to the chain's base link, its joints' child links and its
            tip link. A chain read up to a movable joint's own link (iiwa to
            ``lbr_iiwa_link_7``) has that name twice: the tool tip is then written as
            ``<tip_link>_tool`` (its frame is the same there, the tool transform being the
            identity).
        link_extra: returns extra XML (inertial, visual, collision) for a link name; a
            small default inertial is written otherwise so physics engines accept it.
        default_velocity, default_effort: written where the chain has no limit (rad/s or
            m/s; N m or N), since URDF requires them.
        extra_xml: further ``<link>``/``<joint>`` elements (e.g. jaw fingers that move no
            chain frame), written before ``</robot>``.
    """
    names = link_names or _default_link_names(chain)
    if len(names) != chain.dof + 2:
        raise KinematicsError(f"link_names needs {chain.dof + 2} names, got {len(names)}.")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise KinematicsError(
            f"link_names {names} name {repeated} more than once; a URDF link name must be "
            "unique (pybullet and chain_from_urdf refuse the file)."
        )

    def body(link: str) -> str:
        if link_extra is not None:
            return link_extra(link)
        return (
            '<inertial><origin xyz="0 0 0" rpy="0 0 0"/><mass value="0.1"/>'
            '<inertia ixx="1e-4" ixy="0" ixz="0" iyy="1e-4" iyz="0" izz="1e-4"/></inertial>'
        )

    parts = [f'<?xml version="1.0"?>\n<robot name="{robot_name or chain.name}">']
    parts += [f'  <link name="{n}">{body(n)}</link>' for n in names]
    for i, joint in enumerate(chain.joints):
        parts.append(
            joint_xml(
                joint.name,
                joint.kind,
                names[i],
                names[i + 1],
                joint.X_parent_joint,
                joint.axis,
                lower=joint.lower,
                upper=joint.upper,
                velocity=_limit_value(joint.velocity_limit, default_velocity),
                effort=_limit_value(joint.effort_limit, default_effort),
            )
        )
    parts.append(joint_xml(f"{names[-1]}_fixed", "fixed", names[-2], names[-1], chain.X_tip_tool))
    if extra_xml:
        parts.append(extra_xml.rstrip("\n"))
    parts.append("</robot>\n")
    return "\n".join(parts)
