"""Peg transfer: six rings across and back, each handed over in mid-air."""

from __future__ import annotations

import numpy as np

from sim.session.demo import Demonstrator
from sim.session.plans.common import UP, carry_to, grasp, release, wall_normal


def transfer_ring(demo: Demonstrator, ring: int, to_peg: int, giver: str, taker: str) -> None:
    """Lift a ring with ``giver``, hand it to ``taker`` above the board, place it on a peg."""
    world = demo.session.world
    body = f"board/ring{ring}"
    center = world.landmark(body, "center")
    # the giver prefers the wall facing its own side, the taker the one facing its side
    side = 1.0 if demo.session.arms[giver].X_WR[0, 3] > 0 else -1.0
    giver_walls = sorted(range(3), key=lambda w: -side * wall_normal(world, body, w)[0])
    if not grasp(demo, giver, body, giver_walls):
        return
    tip = demo.session.tip_target_W(giver)[:3, 3]
    held = min(range(3), key=lambda w: np.linalg.norm(world.landmark(body, f"grip{w}") - tip))
    board_top = world.landmark("board", "top")
    handover = np.array([0.0, center[1], board_top[2] + 0.06])
    # the receiving hand waits beside the handover point, on its own side, out of the way
    taker_side = -side
    demo.move_tip(taker, handover + np.array([0.05 * taker_side, 0.0, 0.03]), width_m=0.01)
    carry_to(demo, giver, body, center + 0.04 * UP)
    carry_to(demo, giver, body, handover)
    taker_walls = sorted(
        (w for w in range(3) if w != held), key=lambda w: side * wall_normal(world, body, w)[0]
    )
    # from above, the wrist clear of the ring (at depth 0 the clevis sits in its wall)
    if not grasp(demo, taker, body, taker_walls, approach_m=0.015, depth_m=0.006):
        return
    release(demo, giver, body)
    peg = world.landmark("board", f"peg{to_peg}")
    carry_to(demo, taker, body, peg + 0.015 * UP)
    carry_to(demo, taker, body, peg - 0.006 * UP, width_m=0.002)
    release(demo, taker, body)


def peg_transfer(demo: Demonstrator) -> None:
    """Six rings from the left pegs to the right ones and back, handing over mid-air."""
    s = demo.session
    left, right = sorted(s.driven, key=lambda a: s.arms[a].X_WR[0, 3])
    for ring in range(6):
        if demo.stopped:
            return
        transfer_ring(demo, ring, ring + 6, giver=left, taker=right)
    for ring in range(6):
        if demo.stopped:
            return
        transfer_ring(demo, ring, ring, giver=right, taker=left)
