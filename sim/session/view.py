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
        return self._s.world.time_s

    def present(self, name: str) -> bool:
        return self._s.world.has_body(name.partition(":")[0])

    def object_position(self, name: str) -> np.ndarray:
        body, _, mark = name.partition(":")
        if mark:
            return self._s.world.landmark(body, mark)
        return self._s.world.body_pose(body)[:3, 3]

    def object_speed(self, name: str) -> float:
        world = self._s.world
        linear, _ = world.pb.getBaseVelocity(
            world.body_id(name.partition(":")[0]), physicsClientId=world.client
        )
        return float(np.linalg.norm(linear))

    def holders(self, name: str) -> set[str]:
        return self._s.holders(name)

    def tip_position(self, arm: str) -> np.ndarray:
        return self._s.arms[arm].measured_cp("world")[:3, 3]

    def camera_angle_to(self, name: str) -> float:
        X = self._s.camera_pose_W()
        d = self.object_position(name) - X[:3, 3]
        return float(math.acos(np.clip(d @ X[:3, 2] / max(np.linalg.norm(d), 1e-12), -1, 1)))

    def graspable(self) -> list[str]:
        return self._s.world.object_names()

    def happened(self) -> list:
        out, self._s._pending_events = self._s._pending_events, []
        return out
