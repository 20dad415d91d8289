"""A device slower than the loop: each step of its target is spread over its sample period.

A 125 Hz VR controller in a 500 Hz loop reached the tool as a staircase (the target
jumped every fourth step and sat still for three). Now each followed step ramps over the
device's measured period (first-order hold, :mod:`haptics.teleop.ramp`), and everything
that stops following stops the ramp where the output was. Seeds 6100-6199.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from haptics.master import MasterSample
from haptics.teleop import CLUTCHED, FOLLOWING, HOLDING, TeleopConfig, Teleoperation
from kinematics.transforms import pose, rot_x, rot_y, rot_z

LOOP_HZ = 500.0
SLOW_HZ = 125.0
START = pose(rot_y(0.4)[:3, :3] @ rot_z(1.1)[:3, :3], [0.01, -0.02, -0.1])
CAMERA = rot_x(2.6) @ rot_z(0.3)
#: the pipeline knows a 125 Hz device's rate after two windows of 64 samples (1.02 s)
MEASURED_S = 1.1


def _tele(loop_rate_hz, **kw):
    config = TeleopConfig(
        start_enabled=True,
        align_tolerance_rad=None,
        gap_timeout_s=0.05,
        translation_scale=1.0 / 3.0,
        loop_rate_hz=loop_rate_hz,
        **kw,
    )
    return Teleoperation(config, START, CAMERA)


def _still(t):
    return np.zeros(3), np.eye(3)


def _stroke(t):
    """At rest until 1.2 s, then a steady 15 mm/s stroke (5 mm/s at the tool)."""
    return np.array([0.012, 0.009, 0.0]) * max(t - 1.2, 0.0), np.eye(3)


def _turn(t):
    """At rest until 1.2 s, then a steady wrist turn at 0.6 rad/s."""
    return np.zeros(3), rot_x(0.6 * max(t - 1.2, 0.0))[:3, :3]


class Rig:
    """A loop at :data:`LOOP_HZ` feeding one pipeline a device's samples: each sample,
    stamped when taken, goes to the first loop step at or after its stamp."""

    def __init__(self, loop_rate_hz=LOOP_HZ, device_hz=SLOW_HZ, hand=_still, noise=None, **kw):
        self.tele = _tele(loop_rate_hz, **kw)
        self.device_hz, self.hand, self.noise = device_hz, hand, noise
        self.i = self.k = self.seq = 0
        self.outs = []

    @property
    def now(self):
        return self.i / LOOP_HZ

    def _sample(self, t, clutch=False, X=None):
        if X is None:
            p, R = self.hand(t)
            if self.noise is not None:
                p = p + self.noise.normal(0.0, 5e-5, 3)
            X = pose(R, p)
        self.seq += 1
        return MasterSample(t, X, 0.0, clutch, self.seq)

    def step(self, *, send=True, clutch=False, extra=(), now=None):
        """One loop step; ``send=False``: the device's samples due now are lost."""
        t_loop = self.now if now is None else now
        samples = []
        while self.k / self.device_hz <= self.now + 1e-12:
            if send:
                samples.append(self._sample(self.k / self.device_hz, clutch))
            self.k += 1
        samples.extend(extra)
        out = self.tele.step(tuple(samples), t_loop)
        self.outs.append(out)
        self.i += 1
        return out

    def run_until(self, t_s, **kw):
        while self.now < t_s - 1e-12:
            self.step(**kw)
        return self.outs[-1]

    def positions(self):
        return np.array([o.X_RT[:3, 3] for o in self.outs])


def _ripple(positions, first, last):
    """Peak over mean of the target's speed, step to step, over steps first..last."""
    v = np.linalg.norm(np.diff(positions[first:last], axis=0), axis=1)
    return v.max() / v.mean()


@pytest.mark.parametrize(
    ("device_hz", "loop_hz"),
    [(1000.0, 1000.0), (1000.0, 500.0), (400.0, 500.0)],  # 400 Hz: 1.25 loop periods
)
def test_a_device_no_slower_than_1_5_loop_periods_is_never_spread(device_hz, loop_hz):
    """Bit for bit what the pipeline gave before: a 1 kHz master, a headless session's
    one sample per step, and a device a little slower than the loop step at once."""
    runs = []
    for loop in (loop_hz, None):
        rig = Rig(loop, device_hz, _stroke, np.random.default_rng(6100))
        rig.run_until(1.6)
        rig.run_until(1.7, clutch=True)
        rig.run_until(2.0)
        assert rig.tele.spread_s == 0.0
        runs.append(rig.outs)
    for a, b in zip(*runs, strict=True):
        assert a.X_RT.tobytes() == b.X_RT.tobytes()
        assert (a.state, a.jaw_rad, a.events) == (b.state, b.jaw_rad, b.events)


def test_a_slow_steady_stroke_reaches_the_target_without_a_staircase():
    """At 125 Hz in a 500 Hz loop the target used to move every fourth step (speed peak
    over mean ~4 on a steady stroke); spread, it moves every step at an even speed."""
    ripple = {}
    for loop in (None, LOOP_HZ):
        rig = Rig(loop, SLOW_HZ, _stroke)
        rig.run_until(2.5)
        first, last = round(1.5 * LOOP_HZ), round(2.5 * LOOP_HZ)
        ripple[loop] = _ripple(rig.positions(), first, last)
    assert rig.tele.spread_s == pytest.approx(1.0 / SLOW_HZ, rel=1e-6)
    assert ripple[None] > 3.5  # the staircase
    assert ripple[LOOP_HZ] < 1.5
    assert ripple[LOOP_HZ] < 1.1  # measured 1.00


def test_a_steady_wrist_turn_is_slerped_and_stays_rigid():
    """The orientation ramps by slerp: an even turn every step, and every target a rigid
    transform to machine precision."""
    ripple, outs = {}, {}
    for loop in (None, LOOP_HZ):
        rig = Rig(loop, SLOW_HZ, _turn)
        rig.run_until(2.5)
        Rs = [o.X_RT[:3, :3] for o in rig.outs[round(1.5 * LOOP_HZ) :]]
        turns = [
            math.acos(min(1.0, (np.trace(a.T @ b) - 1.0) / 2.0)) for a, b in itertools.pairwise(Rs)
        ]
        ripple[loop] = max(turns) / np.mean(turns)
        outs[loop] = rig.outs
    assert ripple[None] > 3.5
    assert ripple[LOOP_HZ] < 1.5
    for o in outs[LOOP_HZ]:
        R = o.X_RT[:3, :3]
        assert np.abs(R.T @ R - np.eye(3)).max() < 1e-14
        assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-14)
        assert np.array_equal(o.X_RT[3], [0.0, 0.0, 0.0, 1.0])


def test_each_step_reaches_its_sample_one_period_later_and_never_goes_past_it():
    """The price of the spread: the target reaches each sample one device period after
    it arrives (8 ms at 125 Hz) and lies on the segment between two samples' targets."""
    zoh, foh = Rig(None, SLOW_HZ, _stroke), Rig(LOOP_HZ, SLOW_HZ, _stroke)
    zoh.run_until(2.5)
    foh.run_until(2.5)
    z, f = zoh.positions(), foh.positions()
    lag = round(LOOP_HZ / SLOW_HZ)
    first = lag * round(1.5 * LOOP_HZ / lag)
    arrivals = np.arange(first, len(f), lag)  # a sample arrives every fourth step
    assert np.abs(f[arrivals] - z[arrivals - lag]).max() < 1e-12
    for i in range(first, len(f)):
        a, b = z[i - lag - (i % lag)], z[i - (i % lag)]  # the step it is on
        u = b - a
        s = np.dot(f[i] - a, u) / np.dot(u, u)
        assert -1e-9 <= s <= 1.0 + 1e-9
        assert np.linalg.norm(a + s * u - f[i]) < 1e-12


def test_a_late_sample_leaves_the_target_at_the_last_sample():
    """No extrapolation: while the device is silent (shorter than the watchdog's 50 ms),
    the target stops at the last sample's target and waits there."""
    zoh, foh = Rig(None, SLOW_HZ, _stroke), Rig(LOOP_HZ, SLOW_HZ, _stroke)
    for rig in (zoh, foh):
        rig.run_until(2.0)
        rig.run_until(2.03, send=False)  # 30 ms of silence
    last_sample = zoh.outs[-1].X_RT  # the ZOH target is the last sample's
    settled = [o.X_RT for o in foh.outs[-(round(0.03 * LOOP_HZ) - 4) :]]
    for X in settled:
        assert np.abs(X - last_sample).max() < 1e-12
    assert foh.outs[-1].state == FOLLOWING
    for rig in (zoh, foh):  # and it goes on from there: the catching up spread too
        rig.run_until(2.3)
    n = round(0.3 * LOOP_HZ)
    leap = {}
    for name, rig in (("zoh", zoh), ("foh", foh)):
        leap[name] = np.linalg.norm(np.diff(rig.positions()[-n:], axis=0), axis=1).max()
    assert leap["foh"] < leap["zoh"] / 3.0


def _bad_pose(rig, t):
    X = pose(np.eye(3), rig.hand(t)[0])
    X[0, 0] = math.nan
    return X


@pytest.mark.parametrize("cause", ["nan", "not_rigid", "clutch", "future", "clock"])
def test_a_hold_or_a_clutch_press_mid_ramp_stops_the_target_at_once(cause):
    """Whatever stops following stops the ramp where the output last was: the target
    does not move on towards the sample it was ramping to. After the clutch (or the
    hold's press and release) following starts afresh from there: no sweep."""
    rig = Rig(LOOP_HZ, SLOW_HZ, _stroke)
    rig.run_until(1.8)
    while rig.i % 4 != 2:  # halfway through a ramp
        rig.step()
    before = rig.outs[-1].X_RT.copy()
    t = rig.now
    if cause == "nan":
        out = rig.step(extra=[rig._sample(t, X=_bad_pose(rig, t))])
    elif cause == "not_rigid":
        out = rig.step(extra=[rig._sample(t, X=pose(np.diag([1.0, 1.0, 1.1]), np.zeros(3)))])
    elif cause == "clutch":
        out = rig.step(extra=[rig._sample(t, clutch=True)])
    elif cause == "future":
        out = rig.step(extra=[rig._sample(t + 0.05)])
    else:  # the loop clock runs backwards
        out = rig.step(now=t - 0.01)
    wanted = CLUTCHED if cause == "clutch" else HOLDING
    assert out.state == wanted
    assert out.X_RT.tobytes() == before.tobytes()
    rig.run_until(rig.now + 0.1, clutch=True)  # press (holding: a fresh press resumes)
    for o in rig.outs[-round(0.1 * LOOP_HZ) :]:
        assert np.abs(o.X_RT - before).max() < 1e-12  # never moved on
    rig.run_until(rig.now + 0.5)  # release: follows again from where it stopped
    assert rig.outs[-1].state == FOLLOWING
    p = rig.positions()[-round(0.6 * LOOP_HZ) :]
    assert np.linalg.norm(np.diff(p, axis=0), axis=1).max() < 1.5 * 0.005 / LOOP_HZ


def test_a_restart_or_a_release_to_stops_the_ramp():
    """A paused session's restart keeps the tool where it was last sent; another source
    taking over makes its pose the output at once."""
    rig = Rig(LOOP_HZ, SLOW_HZ, _stroke)
    rig.run_until(1.8)
    while rig.i % 4 != 2:
        rig.step()
    before = rig.outs[-1].X_RT.copy()
    rig.tele.restart("paused", rig.now)
    assert np.abs(rig.step(send=False).X_RT - before).max() < 1e-12
    elsewhere = pose(np.eye(3), [0.0, 0.01, -0.12])
    rig.tele.release_to(elsewhere, rig.now)
    assert np.abs(rig.tele.X_RT - elsewhere).max() < 1e-12
    assert np.abs(rig.step(send=False).X_RT - elsewhere).max() < 1e-12


def test_the_filter_remade_for_the_measured_rate_does_not_move_the_tool():
    """The 125 Hz rate is known (and the filter re-made, the mapping re-anchored) while
    the hand moves: the spread starts there, from where the tool was last sent."""
    rig = Rig(LOOP_HZ, SLOW_HZ, lambda t: (np.array([0.012, 0.0, 0.0]) * t, np.eye(3)))
    rig.run_until(1.5)
    at = [i for i, o in enumerate(rig.outs) if any(e.kind == "filter_rate" for e in o.events)]
    assert len(at) == 1
    i = at[0]
    assert np.abs(rig.outs[i].X_RT - rig.outs[i - 1].X_RT).max() < 1e-12
    p = rig.positions()[i:]
    assert np.linalg.norm(np.diff(p, axis=0), axis=1).max() < 1.5 * 0.004 / LOOP_HZ


def test_the_speed_limits_hold_on_the_spread_target_in_loop_time():
    """A glitch (the hand 10 cm and 170° away at once): the target moves at most
    ``max_tip_speed_m_s`` and turns at most ``max_tip_angular_speed_rad_s`` per second
    of loop time, every step (a 125 Hz staircase moved 3.6 mm in one 2 ms step)."""
    moves, turns = {}, {}
    for loop in (None, LOOP_HZ):
        rig = Rig(loop, SLOW_HZ, _still, tremor_filter="none")
        rig.run_until(1.2)
        rig.hand = lambda t: (np.array([0.1, 0.0, 0.0]), rot_z(math.radians(170.0))[:3, :3])
        rig.run_until(1.5)
        X = [o.X_RT for o in rig.outs[round(1.19 * LOOP_HZ) :]]
        moves[loop] = max(np.linalg.norm(b[:3, 3] - a[:3, 3]) for a, b in itertools.pairwise(X))
        turns[loop] = max(
            math.acos(min(1.0, (np.trace(a[:3, :3].T @ b[:3, :3]) - 1.0) / 2.0))
            for a, b in itertools.pairwise(X)
        )
    config = rig.tele.config
    assert moves[None] > 3.0 * config.max_tip_speed_m_s / LOOP_HZ  # the staircase's leaps
    assert moves[LOOP_HZ] <= config.max_tip_speed_m_s / LOOP_HZ * (1.0 + 1e-9)
    assert turns[LOOP_HZ] <= config.max_tip_angular_speed_rad_s / LOOP_HZ * (1.0 + 1e-6)


def test_stop_ramp_holds_the_output_until_the_next_sample():
    """The session calls ``stop_ramp`` when it cannot reach the output (unreachable, the
    jump guard): the target stays there, and the next sample moves it on from there."""
    rig = Rig(LOOP_HZ, SLOW_HZ, _stroke)
    rig.run_until(1.8)
    while rig.i % 4 != 1:
        rig.step()
    before = rig.outs[-1].X_RT.copy()
    rig.tele.stop_ramp()
    assert np.abs(rig.tele.X_RT - before).max() < 1e-12
    out = rig.step()
    assert out.samples_used == 0 and np.abs(out.X_RT - before).max() < 1e-12
    rig.run_until(1.9)
    assert rig.outs[-1].state == FOLLOWING
    p = rig.positions()[-round(0.08 * LOOP_HZ) :]
    assert np.linalg.norm(np.diff(p, axis=0), axis=1).max() < 1.5 * 0.005 / LOOP_HZ
