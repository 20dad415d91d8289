"""surgisim's default tremor filter: a Kalman filter whose tremor model is a resonator.

Physiological tremor is not a sine: it is narrow-band *noise*, a resonance of the
limb-muscle loop driven by unsynchronised motor-unit firing, 0.2-3 Hz wide, centred at
6-12 Hz, its centre and size drifting, each axis on its own. So, per axis, this filter
models the measured position as

- voluntary motion: position, velocity and acceleration driven by white jerk of
  spectral density ``q`` (it follows smooth motion with no lag), plus
- tremor: a damped rotating phasor (a resonator) at the axis's tremor frequency ``f``,
  whose damping ``pi B`` gives its spectral line the -3 dB width ``B``, and whose variance
  ``sigma^2`` is the tremor's,

and outputs the Kalman estimate of the voluntary position. Two such models run side by
side as an interacting multiple model (IMM) filter: the hand moving (jerk density ``q``)
and the hand still (a hundredth of it), each kept with a 1 s mean dwell and weighted per
sample by how well it predicted the sample (:attr:`ResonatorKalmanFilter.still_probability`).
The weights are no clean motion detector: at rest the still model carries 0.3-0.9 of
them, sample to sample; as a stroke brakes to a stop (the largest jerk, which ``q``'s
one-second average cannot follow) the moving model takes nearly all of it within tens
of milliseconds, and the still model wins it back over ~0.5 s of rest. What the mixture
buys is statistical: on the tuning sets 0.4-0.7 dB more attenuation with no more RMS
error (a lower ``q`` alone buys the same dB for 0.1x more error). The model's four
numbers are
not fixed guesses but measured from the signal, each on its own time scale, because each
varies between people and over a session:

- ``f`` and ``B`` from a separate tracker on a band-passed copy of the input (5.5-16 Hz,
  8th order, so voluntary motion hardly reaches it): a phasor follows the band-passed
  signal, and its lag-40 ms autocorrelation, averaged over 0.5 s, has the tremor's
  frequency as its angle and ``exp(-pi B lag)`` as its magnitude (a Lorentzian line);
  the estimate reads narrow, not wide: on clean Lorentzian lines of 1 / 2 / 3 Hz it
  reads ~0.45 / 0.7 / 0.95 Hz, ~0.6x the true width on the narrow tuning set and ~0.4x
  on the broadband one. That bias is part of the tuning: given the *true* widths the
  filter gains dB only by losing as much RMS error on the voluntary motion
  (``bench/RESULTS.md``, "oracle ceilings of the default's parameter estimates").
- ``sigma^2`` from the band-passed power, averaged over 1 s.
- ``q`` from the operator's recent voluntary jerk: the mean square third derivative of a
  2.5 Hz (4th order) low-passed copy of the input over 1 s, times a correlation time
  (0.03 s). A hand that moves briskly needs a model that follows briskly; a slow hand
  lets the filter remove more tremor.

Each estimate is clamped to a physiological range, so no input can drive the model
somewhere absurd, and a glitch is forgotten within seconds.

**The estimate never strays further from the sample than tremor can.** The measurement is
the hand plus tremor plus sensor noise, so the hand lies within a few tremor sigmas of
the sample. After each update, a model whose voluntary position lies further than
``tremor_bound_sigmas`` (5) x (tremor RMS + sensor noise RMS) from the sample is
projected back onto that bound, in the metric of its covariance, so velocity and
acceleration are corrected with the position. Without this, a hand setting off briskly
after a rest (when ``q`` has sunk and the still model holds most of the weight) made the
filter lag, then overshoot by more than the movement: +4.6 mm on a 1 cm reach in 0.1 s,
and a 5 cm step came out as 36 cm. The tremor RMS the bound uses is not the band power
(a quick reach puts power in 6-16 Hz too, and the bound would widen exactly when it is
needed) but a running *median* of the band-passed square: each sample moves it by a
fixed factor up or down, so a transient of any size moves it by at most ``exp(3 x its
duration / power_time_s)``, while sustained tremor sets it to 0.455 sigma^2 (the median
of a squared Gaussian). Tremor that is not Gaussian reads otherwise: the square of a
pure sinusoid of RMS s has the median s^2, so the bound takes it for s / sqrt(0.455) =
1.48 s (measured: 1.476 s at 0.5 and 0.2 mm amplitude, 9 Hz). Five sigmas is a tail a
Gaussian reaches once in two million samples; the number is not fitted. On the tuning
sets the bound costs <= 0.05 dB and lowers the RMS error; quick reaches without tremor
now come through within 0.1-0.2 mm (was 6-10 mm; ``bench/RESULTS.md``, "the brisk
hand").

The Kalman filter keeps its full covariance (5 states per axis and model), as ``f``,
``B``, ``sigma^2`` and ``q`` change every sample; that costs about a thousand flops per
axis, under a microsecond for a 3-D sample.

How the numbers were chosen: on generator A only (:mod:`haptics.signals`,
``narrow``/``broadband`` in :mod:`haptics.tremor.sets`), never on the unseen generator B.
What the design could and could not reach, and why, is in ``bench/RESULTS.md``
("tremor, round 2").
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy import signal as sps

from haptics.errors import HapticsError
from haptics.tremor.base import (
    TremorFilter,
    require_band,
    require_below_nyquist,
    require_positive,
    sample_ok,
    settle,
    sos_cascade,
)

_NS = 5  # Kalman states per axis: p, v, a (voluntary), c, s (tremor phasor)
_SECTIONS = 4  # biquads of the tracker's band-pass (8th order)
_LP_SECTIONS = 2  # biquads of the jerk low-pass (4th order)
_OBSERVER_GAIN = 0.3  # per-sample pull of the tracker phasor towards the band-passed input
#: the running median of the band-passed square moves by exp(+-MEDIAN_STEPS / (power_time_s
#: x rate)) per sample: a 4x change of tremor power (3/4 of the samples on one side) is
#: followed in about ``power_time_s``, like the band power's exponential average
MEDIAN_STEPS = 3.0
_MODEL_EVERY = 8  # samples between updates of the model's frequency and width
_CHI2_1_MEDIAN = 0.454936  # median of a squared unit Gaussian: of b^2 / sigma^2
_MU_MIN = 1e-6  # floor of either model's probability (numerical safety; IMM keeps it > 0)

# coef header
(
    _C_DT,
    _C_F_LO,
    _C_F_HI,
    _C_F0,
    _C_B_LO,
    _C_B_HI,
    _C_B0,
    _C_LAG,
    _C_BETA_TRACK,
    _C_BETA_POWER,
    _C_BETA_JERK,
    _C_KAPPA,
    _C_Q_LO,
    _C_Q_HI,
    _C_R,
    _C_VAR0,
    _C_VAR_LO,
    _C_VAR_HI,
    _C_P_V0,
    _C_P_A0,
    _C_STILL,
    _C_STAY,
    _C_BOUND,
    _C_MED_UP,
    _C_MED_DOWN,
) = range(25)
_HDR = 25
_C_BP = _HDR  # band-pass sos (4 x 6)
_C_LP = _C_BP + 6 * _SECTIONS  # jerk low-pass sos (2 x 6)
_COEF_SIZE = _C_LP + 6 * _LP_SECTIONS

# per-axis state
_A_X = 0  # Kalman mean (5)
_A_P = _A_X + _NS  # Kalman covariance (5 x 5, row-major)
_A_BP = _A_P + _NS * _NS  # band-pass z (4 x 2)
_A_PH = _A_BP + 2 * _SECTIONS  # tracker phasor (c, s)
_A_ACC = _A_PH + 2  # lag correlation re, im and phasor power
_A_F = _A_ACC + 3  # tremor frequency (Hz)
_A_B = _A_F + 1  # tremor line width (Hz)
_A_VAR = _A_B + 1  # tremor variance (m^2)
_A_LP = _A_VAR + 1  # jerk low-pass z (2 x 2)
_A_HIST = _A_LP + 2 * _LP_SECTIONS  # last three low-passed positions
_A_J = _A_HIST + 3  # mean square jerk (m^2/s^6)
_A_ROT = _A_J + 1  # cos, sin of the tremor's rotation per sample, damping per sample
_A_STILL = _A_ROT + 3  # the still-hand model's Kalman mean (5) and covariance (5 x 5)
_A_MU = _A_STILL + _NS + _NS * _NS  # probability of the moving and the still model
_A_MED = _A_MU + 2  # running median of the band-passed square (m^2)
_A_RING = _A_MED + 1  # phasor history for the lag correlation (lag x 2)
_BANK = _NS + _NS * _NS  # one model's mean and covariance
# global state: [initialised, sample counter], then scratch (F P and gain; the last
# update's innovation and its variance; the two models' mixed starting points), then axes
_S_SCRATCH = 2
_SCR_INNOVATION = _NS * _NS + _NS
_SCR_MIXED = _SCR_INNOVATION + 2
_S_AXES = _S_SCRATCH + _SCR_MIXED + 2 * _BANK


def _axis_stride(lag: int) -> int:
    return _A_RING + 2 * lag


@njit(cache=True, inline="always")
def _clamp(x, lo, hi):
    return min(max(x, lo), hi)


@njit(cache=True)
def _kalman(state, a, scr, y, cos_w, sin_w, rho, var, q, dt, r, bound):
    """One predict + update of one axis's 5-state filter (state[a:], scratch at scr).

    The transition is block-diagonal: voluntary ``[[1, dt, dt^2/2], [0, 1, dt], [0, 0,
    1]]`` and tremor ``rho R(2 pi f dt)``, so ``F P F'`` is written out row and column
    operations instead of two dense 5 x 5 products.
    """
    FP = scr
    K = scr + _NS * _NS
    cw = rho * cos_w
    sw = rho * sin_w
    h = 0.5 * dt * dt
    X = a + _A_X
    P = a + _A_P
    # mean: x = F x
    p0 = state[X]
    v0 = state[X + 1]
    a0 = state[X + 2]
    c0 = state[X + 3]
    s0 = state[X + 4]
    state[X] = p0 + dt * v0 + h * a0
    state[X + 1] = v0 + dt * a0
    state[X + 3] = cw * c0 - sw * s0
    state[X + 4] = sw * c0 + cw * s0
    # F P (row operations)
    for j in range(_NS):
        r0 = state[P + j]
        r1 = state[P + _NS + j]
        r2 = state[P + 2 * _NS + j]
        r3 = state[P + 3 * _NS + j]
        r4 = state[P + 4 * _NS + j]
        state[FP + j] = r0 + dt * r1 + h * r2
        state[FP + _NS + j] = r1 + dt * r2
        state[FP + 2 * _NS + j] = r2
        state[FP + 3 * _NS + j] = cw * r3 - sw * r4
        state[FP + 4 * _NS + j] = sw * r3 + cw * r4
    # (F P) F' (column operations), symmetric by construction
    for i in range(_NS):
        row = FP + i * _NS
        c0 = state[row]
        c1 = state[row + 1]
        c2 = state[row + 2]
        c3 = state[row + 3]
        c4 = state[row + 4]
        state[P + i * _NS] = c0 + dt * c1 + h * c2
        state[P + i * _NS + 1] = c1 + dt * c2
        state[P + i * _NS + 2] = c2
        state[P + i * _NS + 3] = cw * c3 - sw * c4
        state[P + i * _NS + 4] = sw * c3 + cw * c4
    # + Q: white jerk of density q on (p, v, a); white drive of the resonator
    dt2 = dt * dt
    state[P + 0] += q * dt2 * dt2 * dt / 20.0
    state[P + 1] += q * dt2 * dt2 / 8.0
    state[P + 2] += q * dt2 * dt / 6.0
    state[P + 5] += q * dt2 * dt2 / 8.0
    state[P + 6] += q * dt2 * dt / 3.0
    state[P + 7] += q * dt2 / 2.0
    state[P + 10] += q * dt2 * dt / 6.0
    state[P + 11] += q * dt2 / 2.0
    state[P + 12] += q * dt
    tremor_q = var * (1.0 - rho * rho)
    state[P + 18] += tremor_q
    state[P + 24] += tremor_q
    # update with y = p + c + sensor noise
    for i in range(_NS):
        state[K + i] = state[P + i * _NS] + state[P + i * _NS + 3]
    s_inn = r + state[K] + state[K + 3]
    innovation = y - state[X] - state[X + 3]
    for i in range(_NS):
        state[K + i] /= s_inn
        state[X + i] += state[K + i] * innovation
    # P -= K (P H')' = K K' s (one triangle computed, mirrored)
    for i in range(_NS):
        for j in range(i, _NS):
            value = state[P + i * _NS + j] - state[K + i] * state[K + j] * s_inn
            state[P + i * _NS + j] = value
            state[P + j * _NS + i] = value
    state[scr + _SCR_INNOVATION] = innovation
    state[scr + _SCR_INNOVATION + 1] = s_inn
    # the hand is where the sample is, give or take the tremor: an estimate further from
    # the sample than the tremor can reach is projected back onto that bound (in the
    # metric of its covariance, so velocity and acceleration are corrected with it)
    beyond = state[X] - y
    if beyond > bound:
        beyond -= bound
    elif beyond < -bound:
        beyond += bound
    else:
        beyond = 0.0
    if beyond != 0.0:
        pp = state[P]
        for i in range(_NS):
            state[X + i] -= state[P + i] / pp * beyond
    return state[X]


@njit(cache=True, inline="always")
def _mix(state, src0, w0, src1, w1, dst):
    """``dst`` = the mixture of two models' Gaussians (mean and covariance at ``src0`` and
    ``src1``) with weights ``w0 + w1 = 1``: the mean, and the covariances plus each
    mean's spread about it (the IMM's mixing step). One triangle computed, mirrored."""
    for i in range(_NS):
        state[dst + i] = w0 * state[src0 + i] + w1 * state[src1 + i]
    for i in range(_NS):
        d0i = state[src0 + i] - state[dst + i]
        d1i = state[src1 + i] - state[dst + i]
        for j in range(i, _NS):
            d0j = state[src0 + j] - state[dst + j]
            d1j = state[src1 + j] - state[dst + j]
            k = _NS + i * _NS + j
            value = w0 * (state[src0 + k] + d0i * d0j) + w1 * (state[src1 + k] + d1i * d1j)
            state[dst + k] = value
            state[dst + _NS + j * _NS + i] = value


@njit(cache=True)
def _two_models(state, a, scr, y, cos_w, sin_w, rho, var, q, still, stay, dt, r, bound):
    """One sample of one axis through the two models, mixed as an interacting multiple
    model (IMM) filter: the hand moving (jerk density ``q``) and the hand still
    (``still * q``), each model keeping ``stay`` of its probability per sample. Returns
    the probability-weighted voluntary position."""
    moving, resting, mu = a + _A_X, a + _A_STILL, a + _A_MU
    mixed = scr + _SCR_MIXED
    mu0, mu1 = state[mu], state[mu + 1]
    c0 = stay * mu0 + (1.0 - stay) * mu1
    c1 = 1.0 - c0
    _mix(state, moving, stay * mu0 / c0, resting, (1.0 - stay) * mu1 / c0, mixed)
    _mix(state, moving, (1.0 - stay) * mu0 / c1, resting, stay * mu1 / c1, mixed + _BANK)
    for i in range(_BANK):
        state[moving + i] = state[mixed + i]
        state[resting + i] = state[mixed + _BANK + i]
    p0 = _kalman(state, moving, scr, y, cos_w, sin_w, rho, var, q, dt, r, bound)
    inn0, s0 = state[scr + _SCR_INNOVATION], state[scr + _SCR_INNOVATION + 1]
    p1 = _kalman(state, resting, scr, y, cos_w, sin_w, rho, var, still * q, dt, r, bound)
    inn1, s1 = state[scr + _SCR_INNOVATION], state[scr + _SCR_INNOVATION + 1]
    # posterior model probabilities from the innovations' Gaussian likelihoods: their
    # log ratio, still : moving (one log and one exp per axis and sample)
    log_ratio = 0.5 * (inn0 * inn0 / s0 - inn1 * inn1 / s1 + math.log(s0 / s1))
    m0 = _clamp(1.0 / (1.0 + (c1 / c0) * math.exp(min(log_ratio, 700.0))), _MU_MIN, 1.0 - _MU_MIN)
    state[mu] = m0
    state[mu + 1] = 1.0 - m0
    return m0 * p0 + (1.0 - m0) * p1


@njit(cache=True, inline="always")
def _set_rotation(state, a, dt):
    """Per-sample rotation (cos, sin) and damping of the axis's tremor model."""
    w = 2.0 * math.pi * state[a + _A_F] * dt
    state[a + _A_ROT] = math.cos(w)
    state[a + _A_ROT + 1] = math.sin(w)
    state[a + _A_ROT + 2] = math.exp(-math.pi * state[a + _A_B] * dt)


@njit(cache=True)
def resonator_kalman_step(state, coef, x, out):
    """One 3-D sample: per axis, the Kalman update, then the model's estimates."""
    dt = coef[_C_DT]
    lag = int(coef[_C_LAG])
    stride = _A_RING + 2 * lag
    first = state[0] == 0.0
    if first:
        state[0] = 1.0
        state[1] = 0.0
        for i in range(_S_SCRATCH, state.shape[0]):
            state[i] = 0.0
        for ax in range(3):
            a = _S_AXES + ax * stride
            for bank in (a + _A_X, a + _A_STILL):
                state[bank] = x[ax]
                state[bank + _NS + 1 * _NS + 1] = coef[_C_P_V0]
                state[bank + _NS + 2 * _NS + 2] = coef[_C_P_A0]
                state[bank + _NS + 3 * _NS + 3] = coef[_C_VAR0]
                state[bank + _NS + 4 * _NS + 4] = coef[_C_VAR0]
            state[a + _A_MU] = 0.5
            state[a + _A_MU + 1] = 0.5
            state[a + _A_F] = coef[_C_F0]
            state[a + _A_B] = coef[_C_B0]
            state[a + _A_VAR] = coef[_C_VAR0]
            state[a + _A_MED] = _CHI2_1_MEDIAN * coef[_C_VAR0]
            state[a + _A_J] = coef[_C_Q_LO] / coef[_C_KAPPA]
            for h in range(3):
                state[a + _A_HIST + h] = x[ax]
            _set_rotation(state, a, dt)
    k = int(state[1])
    state[1] = k + 1.0
    slot = k % lag
    update_model = k >= lag and k % _MODEL_EVERY == 0
    j_hi = coef[_C_Q_HI] / coef[_C_KAPPA]
    bound_sigmas, noise_rms = coef[_C_BOUND], math.sqrt(coef[_C_R])
    med_lo, med_hi = _CHI2_1_MEDIAN * coef[_C_VAR_LO], _CHI2_1_MEDIAN * coef[_C_VAR_HI]
    for ax in range(3):
        a = _S_AXES + ax * stride
        y = x[ax]
        cos_w = state[a + _A_ROT]
        sin_w = state[a + _A_ROT + 1]
        q = _clamp(coef[_C_KAPPA] * state[a + _A_J], coef[_C_Q_LO], coef[_C_Q_HI])
        out[ax] = _two_models(
            state,
            a,
            _S_SCRATCH,
            y,
            cos_w,
            sin_w,
            state[a + _A_ROT + 2],
            state[a + _A_VAR],
            q,
            coef[_C_STILL],
            coef[_C_STAY],
            dt,
            coef[_C_R],
            bound_sigmas * (math.sqrt(state[a + _A_MED] / _CHI2_1_MEDIAN) + noise_rms),
        )
        # voluntary activity: jerk of a low-passed copy of the input
        lp = sos_cascade(state, a + _A_LP, coef, _C_LP, _LP_SECTIONS, y, first)
        h = a + _A_HIST
        jerk = (lp - 3.0 * state[h] + 3.0 * state[h + 1] - state[h + 2]) / (dt * dt * dt)
        state[h + 2] = state[h + 1]
        state[h + 1] = state[h]
        state[h] = lp
        state[a + _A_J] += coef[_C_BETA_JERK] * (min(jerk * jerk, j_hi) - state[a + _A_J])
        # tremor size: band-passed power
        b = sos_cascade(state, a + _A_BP, coef, _C_BP, _SECTIONS, y, first)
        power = state[a + _A_VAR] + coef[_C_BETA_POWER] * (
            min(b * b, coef[_C_VAR_HI]) - state[a + _A_VAR]
        )
        state[a + _A_VAR] = _clamp(power, coef[_C_VAR_LO], coef[_C_VAR_HI])
        # tremor size for the bound: the running median of the same square
        med = state[a + _A_MED]
        med *= coef[_C_MED_UP] if b * b > med else coef[_C_MED_DOWN]
        state[a + _A_MED] = _clamp(med, med_lo, med_hi)
        # tremor frequency and line width: a phasor on the band-passed signal, rotated
        # at the model's frequency and pulled towards the signal; its lag correlation
        c0 = state[a + _A_PH]
        s0 = state[a + _A_PH + 1]
        c1 = cos_w * c0 - sin_w * s0
        s1 = sin_w * c0 + cos_w * s0
        c1 += _OBSERVER_GAIN * (b - c1)
        state[a + _A_PH] = c1
        state[a + _A_PH + 1] = s1
        ring = a + _A_RING + 2 * slot
        cl = state[ring]
        sl = state[ring + 1]
        state[ring] = c1
        state[ring + 1] = s1
        if k >= lag:
            beta = coef[_C_BETA_TRACK]
            acc = a + _A_ACC
            state[acc] += beta * (c1 * cl + s1 * sl - state[acc])
            state[acc + 1] += beta * (s1 * cl - c1 * sl - state[acc + 1])
            state[acc + 2] += beta * (c1 * c1 + s1 * s1 - state[acc + 2])
        if update_model:
            acc = a + _A_ACC
            angle = math.atan2(state[acc + 1], state[acc])
            if angle < 0.0:
                angle += 2.0 * math.pi
            span = 2.0 * math.pi * lag * dt
            state[a + _A_F] = _clamp(angle / span, coef[_C_F_LO], coef[_C_F_HI])
            if state[acc + 2] > 0.0:
                coherence = math.hypot(state[acc], state[acc + 1]) / state[acc + 2]
                coherence = _clamp(coherence, 1e-6, 1.0)
                width = -math.log(coherence) * 2.0 / span
                state[a + _A_B] = _clamp(width, coef[_C_B_LO], coef[_C_B_HI])
            _set_rotation(state, a, dt)


@njit(cache=True)
def _guarded_step(state, coef, guard, x, out):
    ran = sample_ok(x)
    if ran:
        resonator_kalman_step(state, coef, x, out)
    return settle(ran, state, guard, out)


class ResonatorKalmanFilter(TremorFilter):
    """Tremor canceller: Kalman filter with a resonator tremor model (surgisim's ``default``).

    Args:
        rate_hz: sample rate (Hz).
        frequency_range_hz: (min, max) tremor frequency the tracker may report (Hz).
        start_frequency_hz: frequency assumed until the tracker has data (Hz).
        bandwidth_range_hz: (min, max) -3 dB width of the tremor line the model may take
            (Hz); physiological tremor is 0.2-3 Hz wide, its wander adds to that.
        start_bandwidth_hz: line width assumed until the tracker has data (Hz).
        coherence_lag_s: lag of the tracker's autocorrelation (s); frequency and width
            come from its angle and magnitude (long enough to resolve 0.2 Hz widths,
            short enough that 15 Hz does not alias: below 1 / 15 Hz).
        tracking_time_s: averaging time of the autocorrelation (s).
        power_time_s: averaging time of the tremor power (s).
        tremor_rms_range_m: (min, max) per-axis tremor RMS the model may take (m).
        start_tremor_rms_m: per-axis tremor RMS assumed at the start (m).
        jerk_time_s: averaging time of the voluntary jerk estimate (s).
        jerk_correlation_s: white-jerk density per mean-square jerk (s): ``q = this *
            mean square jerk``.
        jerk_psd_range: (min, max) white-jerk spectral density q (m^2/s^5).
        jerk_lowpass_hz: cut-off of the low-pass that keeps tremor out of the jerk
            estimate (Hz, 4th order).
        sensor_noise_m: RMS of the device's position noise (m).
        tracker_band_hz: pass band of the tracker's band-pass (Hz, 8th order).
        still_jerk_share: the still-hand model's jerk density as a share of ``q``.
        model_dwell_s: how long the hand stays moving or still, on average (s): each
            model keeps ``exp(-dt / this)`` of its probability per sample.
        tremor_bound_sigmas: how far the voluntary estimate may lie from the sample, in
            tremor (plus sensor noise) RMS: further is projected back (see above).
    """

    name = "resonator_kalman"
    _guarded = _guarded_step

    def __init__(
        self,
        rate_hz: float = 1000.0,
        frequency_range_hz: tuple[float, float] = (5.0, 15.0),
        start_frequency_hz: float = 9.5,
        bandwidth_range_hz: tuple[float, float] = (0.2, 4.0),
        start_bandwidth_hz: float = 1.0,
        coherence_lag_s: float = 0.04,
        tracking_time_s: float = 0.5,
        power_time_s: float = 1.0,
        tremor_rms_range_m: tuple[float, float] = (1e-6, 1e-3),
        start_tremor_rms_m: float = 60e-6,
        jerk_time_s: float = 1.0,
        jerk_correlation_s: float = 0.03,
        jerk_psd_range: tuple[float, float] = (1e-4, 1e2),
        jerk_lowpass_hz: float = 2.5,
        sensor_noise_m: float = 1e-6,
        tracker_band_hz: tuple[float, float] = (5.5, 16.0),
        still_jerk_share: float = 0.01,
        model_dwell_s: float = 1.0,
        tremor_bound_sigmas: float = 5.0,
    ) -> None:
        params = {
            "frequency_range_hz": tuple(frequency_range_hz),
            "start_frequency_hz": start_frequency_hz,
            "bandwidth_range_hz": tuple(bandwidth_range_hz),
            "start_bandwidth_hz": start_bandwidth_hz,
            "coherence_lag_s": coherence_lag_s,
            "tracking_time_s": tracking_time_s,
            "power_time_s": power_time_s,
            "tremor_rms_range_m": tuple(tremor_rms_range_m),
            "start_tremor_rms_m": start_tremor_rms_m,
            "jerk_time_s": jerk_time_s,
            "jerk_correlation_s": jerk_correlation_s,
            "jerk_psd_range": tuple(jerk_psd_range),
            "jerk_lowpass_hz": jerk_lowpass_hz,
            "sensor_noise_m": sensor_noise_m,
            "tracker_band_hz": tuple(tracker_band_hz),
            "still_jerk_share": still_jerk_share,
            "model_dwell_s": model_dwell_s,
            "tremor_bound_sigmas": tremor_bound_sigmas,
        }
        super().__init__(rate_hz, params)
        rate = self.rate_hz
        f_lo, f_hi = require_band("frequency_range_hz", frequency_range_hz, rate)
        b_lo, b_hi = require_band("bandwidth_range_hz", bandwidth_range_hz, rate)
        lag = round(require_positive("coherence_lag_s", coherence_lag_s, "s") * rate)
        if not 2 <= lag <= 0.95 * rate / f_hi:
            raise HapticsError(
                f"coherence_lag_s = {coherence_lag_s} s must span at least 2 samples and "
                f"stay below 1 / frequency_range_hz[1] = {1 / f_hi:.4f} s (else the top "
                "frequency aliases)."
            )
        rms_lo, rms_hi = _positive_range("tremor_rms_range_m", tremor_rms_range_m, "m")
        q_lo, q_hi = _positive_range("jerk_psd_range", jerk_psd_range, "m^2/s^5")
        band_lo, band_hi = require_band("tracker_band_hz", tracker_band_hz, rate)
        start_rms = require_positive("start_tremor_rms_m", start_tremor_rms_m, "m")
        header = np.zeros(_HDR)
        header[_C_DT] = 1.0 / rate
        header[_C_F_LO], header[_C_F_HI] = f_lo, f_hi
        header[_C_F0] = min(max(float(start_frequency_hz), f_lo), f_hi)
        header[_C_B_LO], header[_C_B_HI] = b_lo, b_hi
        header[_C_B0] = min(max(float(start_bandwidth_hz), b_lo), b_hi)
        header[_C_LAG] = lag
        header[_C_BETA_TRACK] = _per_sample("tracking_time_s", tracking_time_s, rate)
        header[_C_BETA_POWER] = _per_sample("power_time_s", power_time_s, rate)
        header[_C_BETA_JERK] = _per_sample("jerk_time_s", jerk_time_s, rate)
        header[_C_KAPPA] = require_positive("jerk_correlation_s", jerk_correlation_s, "s")
        header[_C_Q_LO], header[_C_Q_HI] = q_lo, q_hi
        header[_C_R] = require_positive("sensor_noise_m", sensor_noise_m, "m") ** 2
        header[_C_VAR0] = min(max(start_rms, rms_lo), rms_hi) ** 2
        header[_C_VAR_LO], header[_C_VAR_HI] = rms_lo**2, rms_hi**2
        header[_C_P_V0] = 0.01**2  # the hand may be moving at 1 cm/s when the filter starts
        header[_C_P_A0] = 0.1**2
        still = require_positive("still_jerk_share", still_jerk_share, "")
        if still >= 1.0:
            raise HapticsError(
                f"still_jerk_share must lie below 1 (the still hand's jerk density as a "
                f"share of the moving hand's), got {still_jerk_share!r}."
            )
        header[_C_STILL] = still
        dwell = require_positive("model_dwell_s", model_dwell_s, "s")
        header[_C_STAY] = min(math.exp(-1.0 / (dwell * rate)), 1.0 - 1e-9)
        header[_C_BOUND] = require_positive("tremor_bound_sigmas", tremor_bound_sigmas, "")
        step = MEDIAN_STEPS / (power_time_s * rate)
        header[_C_MED_UP], header[_C_MED_DOWN] = math.exp(step), math.exp(-step)
        band = sps.butter(_SECTIONS, (band_lo, band_hi), btype="bandpass", fs=rate, output="sos")
        lowpass = sps.butter(
            2 * _LP_SECTIONS,
            require_below_nyquist("jerk_lowpass_hz", jerk_lowpass_hz, rate),
            fs=rate,
            output="sos",
        )
        coef = np.concatenate([header, band.ravel(), lowpass.ravel()])
        assert coef.shape == (_COEF_SIZE,)
        self._finish_init(coef, _S_AXES + 3 * _axis_stride(lag))

    def _axis(self, ax: int) -> int:
        return _S_AXES + ax * _axis_stride(int(self._coef[_C_LAG]))

    @property
    def tremor_frequency_hz(self) -> np.ndarray:
        """The current tremor frequency estimate per axis (Hz)."""
        return np.array([self._state[self._axis(ax) + _A_F] for ax in range(3)])

    @property
    def tremor_bandwidth_hz(self) -> np.ndarray:
        """The current tremor line-width estimate per axis (Hz)."""
        return np.array([self._state[self._axis(ax) + _A_B] for ax in range(3)])

    @property
    def tremor_rms_m(self) -> np.ndarray:
        """The current tremor RMS estimate per axis (m)."""
        return np.sqrt([self._state[self._axis(ax) + _A_VAR] for ax in range(3)])

    @property
    def still_probability(self) -> np.ndarray:
        """Per axis, the weight the filter now gives the still-hand model (0-1)."""
        return np.array([self._state[self._axis(ax) + _A_MU + 1] for ax in range(3)])


def _per_sample(name: str, time_s: float, rate_hz: float) -> float:
    """Exponential-average weight per sample for an averaging time ``time_s``."""
    return min(1.0, 1.0 / (require_positive(name, time_s, "s") * rate_hz))


def _positive_range(name: str, pair, unit: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise HapticsError(f"{name} must be (min, max) in {unit}, got {pair!r}.") from None
    if not (0 < lo < hi and math.isfinite(hi)):
        raise HapticsError(f"{name} must be (min, max) with 0 < min < max {unit}, got {pair!r}.")
    return lo, hi
