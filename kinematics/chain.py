"""Serial kinematic chains: what a robot arm is, independent of where it came from.

A :class:`Chain` is an ordered list of 1-DOF joints (revolute or prismatic), each
preceded by a fixed transform, followed by a fixed tool transform. Modified-DH tables
(:mod:`kinematics.dh`) and URDF files (:mod:`kinematics.urdf`) both reduce to this form,
so forward kinematics, Jacobians and IK are written once, in numba, for all of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kinematics import _kernels as K
from kinematics.errors import KinematicsError
from kinematics.transforms import check_pose, refuse_complex

#: Revolute joints without limits (URDF "continuous") draw IK restarts from this range (rad).
CONTINUOUS_SAMPLE_RANGE_RAD = (-math.pi, math.pi)

JOINT_KINDS = ("revolute", "prismatic")


@dataclass(frozen=True)
class Joint:
    """One actuated joint of a chain.

    Attributes:
        name: joint name (CRTK / dVRK name for the built-in arms).
        kind: ``"revolute"`` (q in rad) or ``"prismatic"`` (q in m).
        X_parent_joint: 4x4 fixed transform from the previous moving frame (or the base)
            to this joint's frame at q = 0.
        axis: unit axis of motion in this joint's frame.
        lower, upper: position limits (rad or m); ``±inf`` for a continuous joint.
        velocity_limit: max speed (rad/s or m/s), ``nan`` when unknown.
        effort_limit: max torque/force (N m or N), ``nan`` when unknown.
        child_link: name of the link this joint moves (URDF), or the joint name.
    """

    name: str
    kind: str
    X_parent_joint: np.ndarray
    axis: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    lower: float = -math.inf
    upper: float = math.inf
    velocity_limit: float = math.nan
    effort_limit: float = math.nan
    child_link: str = ""

    def __post_init__(self) -> None:
        if self.kind not in JOINT_KINDS:
            raise KinematicsError(
                f"joint {self.name!r}: kind {self.kind!r} is not supported; "
                f"expected one of {JOINT_KINDS}."
            )
        X = check_pose(self.X_parent_joint, f"joint {self.name!r} fixed transform")
        axis = np.asarray(self.axis, dtype=float).reshape(-1)
        if axis.shape != (3,) or not np.isfinite(axis).all() or np.linalg.norm(axis) < 1e-12:
            raise KinematicsError(
                f"joint {self.name!r}: axis must be a finite non-zero 3-vector, got {self.axis!r}."
            )
        lower, upper = float(self.lower), float(self.upper)
        if math.isnan(lower) or math.isnan(upper) or lower > upper:
            raise KinematicsError(
                f"joint {self.name!r}: limits must satisfy lower <= upper, got [{lower}, {upper}]."
            )
        if self.kind == "prismatic" and not (math.isfinite(lower) and math.isfinite(upper)):
            raise KinematicsError(
                f"joint {self.name!r}: a prismatic joint needs finite limits (metres)."
            )
        object.__setattr__(self, "X_parent_joint", X)
        object.__setattr__(self, "axis", axis / np.linalg.norm(axis))
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        object.__setattr__(self, "child_link", self.child_link or self.name)


class Chain:
    """A serial chain from a base frame to a tool-tip frame.

    Build one with :meth:`from_modified_dh`, :meth:`from_urdf` or the models in
    :mod:`kinematics.models`. All poses are ``X_base_tip`` 4x4 matrices in metres.
    """

    def __init__(
        self,
        joints: Sequence[Joint],
        X_tip_tool: np.ndarray | None = None,
        *,
        base_link: str = "base",
        tip_link: str = "tool_tip",
        name: str = "chain",
    ) -> None:
        if len(joints) == 0:
            raise KinematicsError(
                f"chain {name!r} has no movable joints between {base_link!r} and {tip_link!r}; "
                "pick a tip link further from the base."
            )
        names = [j.name for j in joints]
        if len(set(names)) != len(names):
            raise KinematicsError(f"chain {name!r} has duplicate joint names: {names}.")
        self.joints: tuple[Joint, ...] = tuple(joints)
        self.X_tip_tool = (
            np.eye(4) if X_tip_tool is None else check_pose(X_tip_tool, "X_tip_tool").copy()
        )
        self.base_link = base_link
        self.tip_link = tip_link
        self.name = name
        self.frames, self.joint_table = self._pack()
        self.frames.setflags(write=False)
        self.joint_table.setflags(write=False)

    # ---- construction -------------------------------------------------------------
    @classmethod
    def from_modified_dh(cls, rows, X_tip_tool=None, *, name: str = "dh_chain") -> Chain:
        """Chain from modified (Craig) DH rows; see :func:`kinematics.dh.chain_from_modified_dh`."""
        from kinematics.dh import chain_from_modified_dh

        return chain_from_modified_dh(rows, X_tip_tool, name=name)

    @classmethod
    def from_urdf(cls, path, base_link: str, tip_link: str) -> Chain:
        """Chain between two links of a URDF file; see :func:`kinematics.urdf.chain_from_urdf`."""
        from kinematics.urdf import chain_from_urdf

        return chain_from_urdf(path, base_link, tip_link)

    def with_tool(self, X_tip_tool, *, tip_link: str | None = None) -> Chain:
        """A new chain with ``X_tip_tool`` appended after the current tool transform.

        Its tip is a new frame, so it gets a new name: ``tip_link``, by default the old
        tip's name plus ``"_tool"`` (the old name stays the flange's, and
        :func:`~kinematics.urdf.chain_to_urdf` writes both links).
        """
        X = check_pose(X_tip_tool, "X_tip_tool")
        return Chain(
            self.joints,
            self.X_tip_tool @ X,
            base_link=self.base_link,
            tip_link=tip_link or f"{self.tip_link}_tool",
            name=self.name,
        )

    def _pack(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.joints)
        frames = np.empty((n + 1, 3, 4))
        table = np.empty((n, K.JOINT_FIELDS))
        for i, j in enumerate(self.joints):
            frames[i] = j.X_parent_joint[:3]
            table[i, K.AXIS : K.AXIS + 3] = j.axis
            table[i, K.TYPE] = K.REVOLUTE if j.kind == "revolute" else K.PRISMATIC
            table[i, K.LOWER] = j.lower
            table[i, K.UPPER] = j.upper
            lo, hi = j.lower, j.upper
            if not math.isfinite(lo):
                lo = max(CONTINUOUS_SAMPLE_RANGE_RAD[0], min(hi, 0.0) - 2 * math.pi)
            if not math.isfinite(hi):
                hi = min(CONTINUOUS_SAMPLE_RANGE_RAD[1], max(lo, 0.0) + 2 * math.pi)
            table[i, K.SAMPLE_LO] = lo
            table[i, K.SAMPLE_HI] = hi
        frames[n] = self.X_tip_tool[:3]
        return np.ascontiguousarray(frames), np.ascontiguousarray(table)

    # ---- properties -----------------------------------------------------------------
    @property
    def dof(self) -> int:
        """Number of actuated joints."""
        return len(self.joints)

    @property
    def joint_names(self) -> list[str]:
        """Joint names, base to tip."""
        return [j.name for j in self.joints]

    @property
    def link_names(self) -> list[str]:
        """Names of the links moved by each joint, base to tip (URDF child links)."""
        return [j.child_link for j in self.joints]

    @property
    def lower(self) -> np.ndarray:
        """Lower joint limits (rad or m), shape (dof,)."""
        return self.joint_table[:, K.LOWER].copy()

    @property
    def upper(self) -> np.ndarray:
        """Upper joint limits (rad or m), shape (dof,)."""
        return self.joint_table[:, K.UPPER].copy()

    @property
    def is_prismatic(self) -> np.ndarray:
        """Boolean mask of prismatic joints, shape (dof,)."""
        return self.joint_table[:, K.TYPE] == K.PRISMATIC

    def __repr__(self) -> str:
        return (
            f"Chain({self.name!r}, dof={self.dof}, joints={self.joint_names}, "
            f"base={self.base_link!r}, tip={self.tip_link!r})"
        )

    # ---- kinematics ----------------------------------------------------------------
    def check_q(self, q, what: str = "q") -> np.ndarray:
        """Return ``q`` as a contiguous float64 (dof,) array or raise a clear error (the
        joint limits are not checked: :meth:`within_limits` does)."""
        refuse_complex(q, what)
        q = np.ascontiguousarray(q, dtype=np.float64)
        if q.shape != (self.dof,):
            raise KinematicsError(
                f"{what} must have shape ({self.dof},) for joints {self.joint_names}, "
                f"got shape {q.shape}."
            )
        if not np.isfinite(q).all():
            raise KinematicsError(f"{what} contains NaN or inf: {q.tolist()}.")
        return q

    def fk(self, q) -> np.ndarray:
        """Tool-tip pose ``X_base_tip`` (4x4, metres) at joint values ``q`` (rad / m),
        within the joint limits or not (FK of any joint values is defined; the limits are
        the solver's and the arm's business: :meth:`within_limits`)."""
        return K.fk_single(self.frames, self.joint_table, self.check_q(q))

    def fk_batch(self, Q) -> np.ndarray:
        """Tool-tip poses (N, 4, 4) for joint vectors ``Q`` (N, dof), parallel over cores."""
        Q = np.ascontiguousarray(Q, dtype=np.float64)
        if Q.ndim != 2 or Q.shape[1] != self.dof:
            raise KinematicsError(f"Q must have shape (N, {self.dof}), got shape {Q.shape}.")
        if not np.isfinite(Q).all():
            raise KinematicsError("Q contains NaN or inf.")
        return K.fk_many(self.frames, self.joint_table, Q)

    def link_frames(self, q) -> np.ndarray:
        """Poses (dof + 1, 4, 4) of each joint's child link frame, then the tool tip."""
        return K.link_frames(self.frames, self.joint_table, self.check_q(q))

    def jacobian(self, q) -> np.ndarray:
        """Geometric Jacobian (6, dof) at the tool tip in the base frame, linear rows first.

        Column i maps joint i's rate (rad/s or m/s) to the tip's linear velocity (m/s)
        and angular velocity (rad/s), both expressed in the base frame.
        """
        return K.jacobian_single(self.frames, self.joint_table, self.check_q(q))

    def within_limits(self, q, tolerance: float = 0.0) -> bool:
        """True when every joint value lies within its limits (± ``tolerance``, rad or m);
        False for a NaN joint value.

        Raises:
            KinematicsError: ``q`` complex or not of shape (dof,); ``tolerance`` negative
                or NaN (a negative one would quietly shrink the limits).
        """
        refuse_complex(q, "q")
        q = np.asarray(q, dtype=float)
        if q.shape != (self.dof,):
            raise KinematicsError(
                f"q must have shape ({self.dof},) for joints {self.joint_names}, "
                f"got shape {q.shape}."
            )
        if not tolerance >= 0.0:
            raise KinematicsError(f"tolerance must be >= 0 (rad or m), got {tolerance!r}.")
        return bool(
            np.all(q >= self.joint_table[:, K.LOWER] - tolerance)
            and np.all(q <= self.joint_table[:, K.UPPER] + tolerance)
        )

    def random_q(self, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
        """Joint vectors drawn uniformly within limits (sampling range for continuous joints)."""
        lo = self.joint_table[:, K.SAMPLE_LO]
        hi = self.joint_table[:, K.SAMPLE_HI]
        shape = (self.dof,) if n is None else (n, self.dof)
        return lo + (hi - lo) * rng.random(shape)
