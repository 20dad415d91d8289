"""Needles through tissue: passage through a rigid pad, and the entry and exit events.

pybullet has no cutting or deformable tissue that a thin needle could pierce stably, so a
suture pad is a soft-contact rigid box and the passage is modelled geometrically:

- A needle that an instrument holds does not collide with tissue: the driver pushes it
  through. A free needle that lies on the pad collides with it as usual.
- A needle left in the tissue (released while part of it is inside) is held there, as
  real tissue grips a needle, until an instrument takes it again to pull it out;
  collisions come back only once the needle is clear of the tissue (turning them on
  while it is inside would throw it out).
- Its sharp point (the ``piercing_point`` landmark) going into the tissue box is a
  ``needle_entry`` event, coming out of it a ``needle_exit`` event; each names the nearest
  ``entry<k>`` / ``exit<k>`` mark and the distance to it (m), the task-specific error a
  suturing exercise scores. A hysteresis of :data:`ENTRY_DEPTH_M` keeps a needle
  resting on the pad (soft contact sinks it a little) from counting as an entry.
- A point cuts new tissue only point first: one that leaves the tissue still facing into
  it (its ``piercing_direction`` against the outward normal of the face it crosses) is
  being drawn back along its own track and comes out through the wound it went in by.
  That is a ``needle_withdrawal`` event (naming the nearest ``entry<k>`` mark), not an
  exit: it is recorded as it happened, but it is not scored as a distance from the exit
  mark and does not pass the needle (a tip pushed 0.9 mm in and pulled back out once
  counted as an exit 12 mm from the exit mark and completed the drive step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kinematics.transforms import inverse
from sim.world.grasp import Event

NEEDLE_ENTRY = "needle_entry"
NEEDLE_EXIT = "needle_exit"
NEEDLE_WITHDRAWAL = "needle_withdrawal"

#: How deep the point must be inside the tissue to count as entered (m).
ENTRY_DEPTH_M = 5e-4
#: Penetration (negative distance) beyond which a needle counts as inside the tissue (m).
EMBEDDED_M = 2e-4


@dataclass
class _Pair:
    needle: int
    pad: int
    point_N: np.ndarray  # the piercing point in the needle frame (m)
    facing_N: np.ndarray | None  # the way the point faces, needle frame (unit); None: unknown
    X_PW: np.ndarray  # world -> pad box frame (the pad is static)
    half_m: np.ndarray  # the pad box's half extents (m)
    inside: bool = False
    colliding: bool = True
    pin: tuple | None = None  # (position, xyzw quaternion) where the tissue holds it


class TissueTracker:
    """Passage of every piercing body through every tissue body of a world, per step."""

    def __init__(self, world) -> None:
        self.world = world
        self.pb, self.client = world.pb, world.client
        self.events: list[Event] = []
        needles = [b for b, i in world.bodies.items() if i.geometry and i.geometry.piercing_point]
        pads = [b for b, i in world.bodies.items() if i.geometry and i.geometry.tissue]
        self.pairs = [self._pair(n, p) for n in needles for p in pads]

    def _pair(self, needle: int, pad: int) -> _Pair:
        info = self.world.bodies[pad]
        box = next((s for s in info.geometry.shapes if s.kind == "box"), None)
        if box is None:
            raise ValueError(f"tissue body {info.name!r} needs a box collision shape")
        X_WB = self.world.body_pose(info.name)
        X_WP = X_WB @ np.asarray(box.X_BS, float)
        geometry = self.world.bodies[needle].geometry
        point = np.asarray(geometry.landmarks[geometry.piercing_point], float)
        facing = geometry.piercing_direction
        facing = None if facing is None else np.asarray(facing, float) / np.linalg.norm(facing)
        return _Pair(needle, pad, point, facing, inverse(X_WP), np.asarray(box.size, float))

    def forget(self, body: int) -> None:
        """A body left the world (an event removed it): its needle-pad pairs end."""
        self.pairs = [p for p in self.pairs if body not in (p.needle, p.pad)]

    def update(self) -> None:
        """Once per step, after the grasp tracker: collisions, pins and events."""
        for pair in self.pairs:
            self._collisions(pair)
            self._crossing(pair)

    # ---- collisions and the tissue's hold -------------------------------------------------
    def _collisions(self, pair: _Pair) -> None:
        held = bool(self.world.grasps.held_by(pair.needle))
        if held:
            pair.pin = None
            self._set_colliding(pair, False)
            return
        if pair.pin is not None:
            self._hold(pair)
        elif pair.colliding:
            return
        elif self._embedded(pair):
            pair.pin = self._pin(pair.needle)
        else:
            self._set_colliding(pair, True)

    def _embedded(self, pair: _Pair) -> bool:
        points = self.pb.getClosestPoints(pair.needle, pair.pad, 0.0, physicsClientId=self.client)
        return any(p[8] < -EMBEDDED_M for p in points)

    def _set_colliding(self, pair: _Pair, on: bool) -> None:
        if pair.colliding != on:
            for link in range(-1, self.pb.getNumJoints(pair.pad, physicsClientId=self.client)):
                self.pb.setCollisionFilterPair(
                    pair.needle, pair.pad, -1, link, int(on), physicsClientId=self.client
                )
            pair.colliding = on

    def _pin(self, body: int) -> tuple:
        pb, c = self.pb, self.client
        pb.resetBaseVelocity(body, (0, 0, 0), (0, 0, 0), physicsClientId=c)
        return pb.getBasePositionAndOrientation(body, physicsClientId=c)

    def _hold(self, pair: _Pair) -> None:
        """Put a pinned needle back where the tissue holds it (a fixed constraint to the
        world cannot be made on these maximal-coordinate bodies)."""
        pb, c = self.pb, self.client
        pb.resetBasePositionAndOrientation(pair.needle, *pair.pin, physicsClientId=c)
        pb.resetBaseVelocity(pair.needle, (0, 0, 0), (0, 0, 0), physicsClientId=c)

    # ---- entry and exit -------------------------------------------------------------------
    def _crossing(self, pair: _Pair) -> None:
        X_WN = self.world.body_pose(self.world.bodies[pair.needle].name)
        point_W = X_WN[:3, :3] @ pair.point_N + X_WN[:3, 3]
        p = pair.X_PW[:3, :3] @ point_W + pair.X_PW[:3, 3]
        depth = float(np.min(pair.half_m - np.abs(p)))  # > 0 inside the box
        if not pair.inside and depth > ENTRY_DEPTH_M:
            pair.inside = True
            self._event(pair, NEEDLE_ENTRY, "entry", point_W)
        elif pair.inside and depth < 0.0:
            pair.inside = False
            if self._drawn_back(pair, X_WN, p):
                self._event(pair, NEEDLE_WITHDRAWAL, "entry", point_W)
            else:
                self._event(pair, NEEDLE_EXIT, "exit", point_W)

    @staticmethod
    def _drawn_back(pair: _Pair, X_WN: np.ndarray, p: np.ndarray) -> bool:
        """Whether a point leaving the box at ``p`` (pad frame, m) still faces into it:
        the component of its facing direction along the outward normal of the face it
        crosses (the face nearest to it) is negative. False when the facing is unknown."""
        if pair.facing_N is None:
            return False
        facing_P = pair.X_PW[:3, :3] @ (X_WN[:3, :3] @ pair.facing_N)
        axis = int(np.argmin(pair.half_m - np.abs(p)))
        return bool(facing_P[axis] * np.sign(p[axis]) < 0.0)

    def _event(self, pair: _Pair, kind: str, mark_prefix: str, point_W: np.ndarray) -> None:
        world = self.world
        pad = world.bodies[pair.pad]
        marks = {k: world.landmark(pad.name, k) for k in pad.landmarks if k.startswith(mark_prefix)}
        data = {"needle": world.bodies[pair.needle].name, "tissue": pad.name}
        if marks:
            mark = min(marks, key=lambda k: np.linalg.norm(marks[k] - point_W))
            data.update(mark=mark, distance_m=float(np.linalg.norm(marks[mark] - point_W)))
        held = world.grasps.held_by(pair.needle)
        arm = held[0] if held else ""
        self.events.append(Event(world.time_s, kind, data["needle"], pair.needle, arm, data=data))
