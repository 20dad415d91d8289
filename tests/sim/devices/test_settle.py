"""When a device process judges an arm at rest from the server's ``measured_cp`` stream."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from kinematics.transforms import axis_rotation
from sim.devices.pacing import RecentWindow
from sim.devices.remote import SETTLE_WINDOW_S, RemoteSession


def _seen(poses, used_seq, wall0=50.0, sim_rate=1.0, rate_hz=60.0):
    """A RemoteSession's recent poses of PSM1: ``poses`` (4x4) at 60 Hz, each message
    reporting its ``used_seq``; simulated time runs at ``sim_rate`` x wall time."""
    recent = RecentWindow(2 * SETTLE_WINDOW_S)
    for k, (X, seq) in enumerate(zip(poses, used_seq, strict=True)):
        wall = wall0 + k / rate_hz
        recent.add(wall, sim_rate * (wall - wall0), (X, seq))
    return SimpleNamespace(_recent_poses={"PSM1": recent})


def _at(x_m=0.0, angle_rad=0.0):
    X = np.eye(4)
    X[:3, :3] = axis_rotation(np.array([0.0, 0.0, 1.0]), angle_rad)
    X[0, 3] = x_m
    return X


def at_rest(session, used_seq=10, since_s=-math.inf) -> bool:
    return RemoteSession._at_rest(session, "PSM1", used_seq, since_s)


def test_an_arm_at_rest_after_the_last_sample_is_seen_so_in_three_messages():
    still = [_at()] * 3
    assert at_rest(_seen(still, [10, 10, 11]))
    assert not at_rest(_seen(still[:2], [10, 11]))  # 17 ms: not yet
    # measurements from before the server used the last sample do not count: the arm
    # may have been still only because the hand paused mid-way
    assert not at_rest(_seen([_at()] * 6, [7, 8, 9, 9, 9, 10]))
    assert not at_rest(_seen(still, [10, 10, 11]), since_s=50.02)  # only what came after


def test_a_creeping_or_turning_arm_or_a_slow_server_is_not_at_rest():
    seq = [10, 11, 12]
    creeping = [_at(x_m=0.01 * k / 60) for k in range(3)]  # 10 mm/s: 0.33 mm in 33 ms
    assert not at_rest(_seen(creeping, seq))
    turning = [_at(angle_rad=math.radians(0.4) * k) for k in range(3)]
    assert not at_rest(_seen(turning, seq))
    # 33 ms of wall time is 10 ms of simulation on a server at 0.3x: wait for more
    assert not at_rest(_seen([_at()] * 3, seq, sim_rate=0.3))
    assert at_rest(_seen([_at()] * 8, [10] * 8, sim_rate=0.3))
