"""The exercise engine's window on a session (:class:`scenarios.script.WorldView`).

The engine judges steps and triggers on what it sees here: object and landmark
positions, who holds what, tool-tip positions, the camera's aim, and the world events
since its last tick. Tool tips come from the arms' per-step measurement cache.
"""

from __future__ import annotations

import math

import numpy as np


class SessionView:
    """What the exercise may observe of ``session``; positions in the world frame (m)."""

    def __init__(self, session) -> None:
        self._s = session
        self.arm_names = list(session.arms)

    @property
    def time_s(self) -> float:
        """The session's simulated time (s)."""
        return self._s.world.time_s

    def present(self, name: str) -> bool:
        """Whether the body of ``name`` (``object`` or ``object:landmark``) is in the
        world now (an event's ``remove`` takes one out)."""
        return self._s.world.has_body(name.partition(":")[0])

    def object_position(self, name: str) -> np.ndarray:
        """Position (3,) of an object's base, or of a landmark ``object:landmark``;
        world frame, m."""
        body, _, mark = name.partition(":")
        if mark:
            return self._s.world.landmark(body, mark)
        return self._s.world.body_pose(body)[:3, 3]

    def object_speed(self, name: str) -> float:
        """Linear speed of the object's base (of a landmark's body); world frame, m/s."""
        world = self._s.world
        linear, _ = world.pb.getBaseVelocity(
            world.body_id(name.partition(":")[0]), physicsClientId=world.client
        )
        return float(np.linalg.norm(linear))

    def holders(self, name: str) -> set[str]:
        """The arms whose jaws hold the object now (empty when none)."""
        return self._s.holders(name)

    def tip_position(self, arm: str) -> np.ndarray:
        """The arm's measured tool-tip position (3,), from this step's measurement
        cache; world frame, m."""
        return self._s.arms[arm].measured_cp("world")[:3, 3]

    def camera_angle_to(self, name: str) -> float:
        """Angle (rad, 0..pi) between the camera's view axis (+z of the camera frame C)
        and the direction from the camera to the object or landmark, in the world frame."""
        X = self._s.camera_pose_W()
        d = self.object_position(name) - X[:3, 3]
        return float(math.acos(np.clip(d @ X[:3, 2] / max(np.linalg.norm(d), 1e-12), -1, 1)))

    def graspable(self) -> list[str]:
        """The names of the objects in the world now (what ``any`` stands for)."""
        return self._s.world.object_names()

    def happened(self) -> list:
        """The world events (grasp, release, drop, needle_exit, ...) since the last
        call, handed over once: a second call returns only newer ones."""
        out, self._s._pending_events = self._s._pending_events, []
        return out
