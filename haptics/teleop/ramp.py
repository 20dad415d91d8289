"""First-order hold: a slow device's target spread over its sample period, not stepped.

Why: the pipeline's target changes only when a sample is followed, and the session
applies it every physics step. A device that samples slower than physics runs (a VR
controller at 125 Hz, physics at 500 Hz-1 kHz) therefore reached the tool as a
staircase: the target jumped once per sample and the arm sat still for the steps in
between (at 125 Hz and 500 Hz, 4 steps: on a steady stroke the target's speed peaked at
4.1x its mean, the measured tip's at 3.1x), which made the tool jerk and scored the same
hand worse on smoothness (LDLJ -19.5 against -11.8 on a 1 kHz device; bench/RESULTS.md,
"The 125 Hz staircase").

What: when a sample is followed, the target leaves from where the output is at that
moment and reaches the new filtered target one device period later, position linearly
and orientation by slerp (shortest arc), measured on the loop clock. It never goes past
the sample it aims at (a late or missing sample: the target stops there, no
extrapolation), and it moves no faster than the tip's speed and angular-speed limits in
loop time (``max_tip_speed_m_s``, ``max_tip_angular_speed_rad_s``): a ramp that would
is made longer. The price is latency: the target reaches each sample one period after
it was taken, half a period on average more than the zero-order hold it replaces (at
125 Hz: 8 ms at most, 4 ms on average). Whatever stops following (a hold, a clutch or
camera-pedal press, a filter reset or re-make, a restart, another source taking over)
stops the ramp where its output last was (:meth:`Teleoperation.stop_ramp`).

The ramp lives in one float64 vector ``Rm`` (offsets below), beside the pipeline's ``S``;
rotations are unit quaternions in ``xyzw`` order, as in :mod:`haptics.teleop.kernels`.
"""

from __future__ import annotations

import math

from numba import njit

from haptics.teleop import kernels as K

# ---- offsets in the ramp vector Rm ------------------------------------------------------
FROM_P = 0  # where the ramp leaves from: position in R (m), 3
FROM_Q = 3  # and orientation R_RT (quaternion xyzw), 4
TO_P = 7  # where it goes: the filtered target's position in R (m), 3
TO_Q = 10  # and orientation, 4
T0_S = 14  # loop time the ramp left (s)
SPAN_S = 15  # how long it takes (s): the device period, or longer for the limits
RAMP_SIZE = 16

#: A device whose samples come more than this many loop periods apart is ramped. Below
#: it (a 1 kHz device, a headless session's one sample per step, a device 1.2x slower
#: than physics, whose staircase is one repeated step in five) the target steps at once
#: as it always did, bit for bit.
SPREAD_MIN_LOOP_PERIODS = 1.5


@njit(cache=True, inline="always")
def _ramp_at(Rm, now_s):
    """The ramp's share done at loop time ``now_s``, in [0, 1] (NaN or before: 0)."""
    share = (now_s - Rm[T0_S]) / Rm[SPAN_S]
    if not share > 0.0:
        return 0.0
    return min(share, 1.0)


@njit(cache=True, inline="always")
def _pose_at(Rm, share):
    """(position tuple, unit quaternion) a ``share`` of the way along the ramp."""
    p = (
        Rm[FROM_P] + share * (Rm[TO_P] - Rm[FROM_P]),
        Rm[FROM_P + 1] + share * (Rm[TO_P + 1] - Rm[FROM_P + 1]),
        Rm[FROM_P + 2] + share * (Rm[TO_P + 2] - Rm[FROM_P + 2]),
    )
    q0 = K.qget(Rm, FROM_Q)
    d = K.qmul(K.qconj(q0), K.qget(Rm, TO_Q))  # qpow takes the shortest arc
    return p, K.qnormalize(K.qmul(q0, K.qpow(d, share)))


@njit(cache=True)
def ramp_mark(Rm, S, now_s, moving):
    """Set where the next ramp leaves from: the running ramp's pose at ``now_s`` when
    ``moving``, else the target in ``S`` (call it before ``follow`` changes that)."""
    if moving:
        p, q = _pose_at(Rm, _ramp_at(Rm, now_s))
        Rm[FROM_P], Rm[FROM_P + 1], Rm[FROM_P + 2] = p[0], p[1], p[2]
        K.qput(Rm, FROM_Q, q)
    else:
        for i in range(3):
            Rm[FROM_P + i] = S[K.P_TGT + i]
        for i in range(4):
            Rm[FROM_Q + i] = S[K.Q_TGT + i]


@njit(cache=True)
def ramp_aim(Rm, S, P, now_s, period_s):
    """Aim the ramp marked by :func:`ramp_mark` at the target in ``S`` (after
    ``follow``), leaving at ``now_s`` and taking ``period_s``, or longer where that
    would move faster than the speed limits ``P[V_MAX]`` (m/s) or ``P[W_MAX]`` (rad/s)."""
    dist2 = 0.0
    for i in range(3):
        Rm[TO_P + i] = S[K.P_TGT + i]
        step = Rm[TO_P + i] - Rm[FROM_P + i]
        dist2 += step * step
    for i in range(4):
        Rm[TO_Q + i] = S[K.Q_TGT + i]
    turn = K.qangle(K.qmul(K.qconj(K.qget(Rm, FROM_Q)), K.qget(Rm, TO_Q)))
    span = max(period_s, math.sqrt(dist2) / P[K.V_MAX], turn / P[K.W_MAX])
    Rm[T0_S] = now_s
    Rm[SPAN_S] = span


@njit(cache=True)
def ramp_pose(Rm, now_s, X):
    """Write the ramp's pose at loop time ``now_s`` into the 4x4 ``X`` (rigid to machine
    precision); returns True when the ramp has arrived (``X`` is then not written: the
    target itself is the output)."""
    share = _ramp_at(Rm, now_s)
    if share >= 1.0:
        return True
    p, q = _pose_at(Rm, share)
    K.store_matrix(q, X)
    X[0, 3], X[1, 3], X[2, 3] = p[0], p[1], p[2]
    X[3, 0], X[3, 1], X[3, 2], X[3, 3] = 0.0, 0.0, 0.0, 1.0
    return False
