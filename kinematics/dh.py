"""Modified Denavit-Hartenberg (Craig) rows to chains.

The dVRK publishes its arms in this convention; each row gives
``T_i = RotX(alpha) TransX(a) RotZ(theta + offset + q) TransZ(d)`` for a revolute joint and
``T_i = RotX(alpha) TransX(a) RotZ(theta) TransZ(d + offset + q)`` for a prismatic one.
Because RotZ and TransZ commute, each row is a fixed transform followed by a motion
about (or along) the joint's z axis, which is exactly a :class:`~kinematics.chain.Joint`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from kinematics.chain import Chain, Joint
from kinematics.errors import KinematicsError, closest_names
from kinematics.transforms import rot_x, rot_z, translation

_KIND_ALIASES = {
    "r": "revolute",
    "revolute": "revolute",
    "p": "prismatic",
    "prismatic": "prismatic",
}
_FIELDS = ("alpha", "a", "theta", "d", "offset", "kind", "lower", "upper", "name")
_OPTIONAL_FIELDS = ("velocity_limit", "effort_limit")


@dataclass(frozen=True)
class DHRow:
    """One modified-DH row. Angles in rad, lengths in m; limits in rad or m.

    Attributes:
        alpha: twist about the previous x axis.
        a: length along the previous x axis.
        theta: rotation about z (joint angle at q = 0, before ``offset``).
        d: translation along z.
        offset: added to theta (revolute) or d (prismatic), as dVRK tables give it.
        kind: ``"revolute"``/``"R"`` or ``"prismatic"``/``"P"``.
        lower, upper: joint limits.
        name: joint name.
        velocity_limit, effort_limit: optional, ``nan`` when unknown.
    """

    alpha: float
    a: float
    theta: float
    d: float
    offset: float = 0.0
    kind: str = "revolute"
    lower: float = -math.inf
    upper: float = math.inf
    name: str = ""
    velocity_limit: float = math.nan
    effort_limit: float = math.nan

    def fixed_transform(self) -> np.ndarray:
        """The part of the row that does not depend on q (4x4)."""
        if self.kind_name == "revolute":
            return (
                rot_x(self.alpha)
                @ translation(self.a, 0, 0)
                @ rot_z(self.theta + self.offset)
                @ translation(0, 0, self.d)
            )
        return (
            rot_x(self.alpha)
            @ translation(self.a, 0, 0)
            @ rot_z(self.theta)
            @ translation(0, 0, self.d + self.offset)
        )

    @property
    def kind_name(self) -> str:
        """Canonical kind, ``"revolute"`` or ``"prismatic"``."""
        kind = _KIND_ALIASES.get(str(self.kind).lower())
        if kind is None:
            raise KinematicsError(
                f"DH row {self.name!r}: kind {self.kind!r} is not valid; use 'R'/'revolute' "
                "or 'P'/'prismatic'."
            )
        return kind


def _as_row(row, index: int) -> DHRow:
    if isinstance(row, DHRow):
        out = row
    elif isinstance(row, Mapping):
        valid = (*_FIELDS, *_OPTIONAL_FIELDS)
        unknown = [k for k in row if k not in valid]
        if unknown:
            raise KinematicsError(
                f"DH row {index}: unknown field {unknown[0]!r}; valid fields are {valid}."
                + closest_names(unknown[0], valid)
            )
        try:
            out = DHRow(**row)
        except TypeError as exc:
            raise KinematicsError(
                f"DH row {index}: {exc}; required fields are alpha, a, theta, d."
            ) from None
    elif isinstance(row, Sequence) and not isinstance(row, str):
        if not 4 <= len(row) <= len(_FIELDS):
            raise KinematicsError(
                f"DH row {index}: expected 4 to {len(_FIELDS)} values in the order {_FIELDS}, "
                f"got {len(row)}."
            )
        out = DHRow(*row)
    else:
        raise KinematicsError(
            f"DH row {index}: expected a DHRow, a mapping or a sequence, got {type(row).__name__}."
        )
    values = (out.alpha, out.a, out.theta, out.d, out.offset)
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        raise KinematicsError(
            f"DH row {index} ({out.name or 'unnamed'}): alpha, a, theta, d, offset must be finite "
            f"numbers, got {values}."
        )
    return out


def chain_from_modified_dh(
    rows: Sequence,
    X_tip_tool: np.ndarray | None = None,
    *,
    name: str = "dh_chain",
    base_link: str = "base",
    tip_link: str = "tool_tip",
) -> Chain:
    """Build a :class:`Chain` from modified DH rows.

    Args:
        rows: :class:`DHRow` objects, mappings with the same field names, or sequences in
            the order ``(alpha, a, theta, d, offset, kind, lower, upper, name)``.
        X_tip_tool: optional fixed 4x4 transform appended after the last row.
        name: chain name.
        base_link, tip_link: names of the base frame and the tool-tip frame.
    """
    joints = []
    for index, raw in enumerate(rows):
        row = _as_row(raw, index)
        joints.append(
            Joint(
                name=row.name or f"joint_{index + 1}",
                kind=row.kind_name,
                X_parent_joint=row.fixed_transform(),
                axis=np.array([0.0, 0.0, 1.0]),
                lower=row.lower,
                upper=row.upper,
                velocity_limit=row.velocity_limit,
                effort_limit=row.effort_limit,
            )
        )
    return Chain(joints, X_tip_tool, base_link=base_link, tip_link=tip_link, name=name)
