"""What the world knows about each pybullet body: its name, role and landmarks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.errors import SimError

#: Roles: arms are instruments; movable things are objects; fixed scenery is environment.
ROLES = ("instrument", "object", "environment")


@dataclass
class BodyInfo:
    """What the world knows about a pybullet body.

    Attributes:
        name: unique name (an arm name for arms).
        role: ``"instrument"`` (an arm), ``"object"`` or ``"environment"``.
        landmarks: named points in the body frame (m).
        geometry: the :class:`~sim.world.boards.BodyGeometry` it was made from (None for arms).
    """

    name: str
    role: str
    landmarks: dict[str, np.ndarray] = field(default_factory=dict)
    geometry: object = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise SimError(f"body {self.name!r}: role {self.role!r} is not one of {ROLES}.")
