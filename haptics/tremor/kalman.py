"""The previous default tremor filter: a Kalman canceller tuned to the tremor's own frequency.

Kept as ``adaptive_kalman`` for comparison (``surgisim bench tremor``). It assumes a
near-sinusoidal tremor (a notch ~0.3 Hz wide, one frequency shared by the three axes):
excellent on drifting tones (20 dB), 6.8 dB on the resonator tremor of generator A with
a 1-3 Hz line. The default is now :mod:`haptics.tremor.resonator`.

Why not a low-pass: any causal linear filter that passes voluntary motion (below 2 Hz)
without lag must overshoot between 2 and 6 Hz and cannot attenuate the whole 6-16 Hz
band by much (Bode's gain-phase relation; measured in ``bench/RESULTS.md``). Physiological
tremor, however, is narrow-band at any moment: one frequency between 6 and 14 Hz that
drifts slowly. So this filter

1. runs, per axis, a steady-state Kalman filter whose model is voluntary motion
   (position, velocity, acceleration driven by white jerk: it follows smooth motion
   with no lag) plus one tremor oscillator (a damped rotating phasor with a coherence
   time of about a second, i.e. a notch ~0.2 Hz wide);
2. outputs the estimated voluntary position;
3. re-tunes the oscillator to the tremor with a separate tracker: a band-passed copy of
   the input (4-16 Hz, 8th order, so voluntary motion hardly reaches it) drives a wide
   (0.1 s) oscillator per axis, whose phasors rotate per sample by the tremor frequency;
   their amplitude-weighted, smoothed rotation is the frequency for the next sample.
   Tracking must be fast (~0.1 s): a notch this narrow misses a tremor that drifted
   0.3 Hz. Reading the rotation off the main filter's own phasor instead lost lock
   during fast reaches (measured: the phasor absorbs part of the motion mismatch).

The gains for every frequency on a 0.05 Hz grid are solved once (discrete algebraic
Riccati equation) at construction and looked up per sample, so the loop costs a few
hundred flops per 3-D sample.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit
from scipy import linalg as sla
from scipy import signal as sps

from haptics.tremor.base import (
    TremorFilter,
    require_band,
    require_positive,
    sample_ok,
    settle,
    sos_cascade,
)

_NS = 5  # Kalman states per axis: p, v, a, tremor c, tremor s
_GRID_STEP_HZ = 0.05
_BP_SECTIONS = 4
_TRACKER_COHERENCE_S = 0.4
# coef: [beta (tracking), f_min, grid_step, n_grid, rate_hz, f_start, freeze speed^2],
#   band-pass sos,
#   main A table (G x 5 x 5), main K table (G x 5), tracker A (G x 2 x 2), tracker K (G x 2)
_HDR = 7
# state: [initialised, grid index, smoothed rotation re, im], Kalman states (3 x 5),
#   band-pass z (3 x sections x 2), tracker phasors (3 x 2)
_S_KF = 4
_S_BP = _S_KF + 3 * _NS
_S_TR = _S_BP + 3 * _BP_SECTIONS * 2
_STATE_SIZE = _S_TR + 6


def _oscillator(f_hz: float, dt: float, coherence_s: float) -> np.ndarray:
    """Transition of a damped rotating phasor at ``f_hz`` (2 x 2)."""
    w = 2 * math.pi * f_hz * dt
    rho = math.exp(-dt / coherence_s)
    return rho * np.array([[math.cos(w), -math.sin(w)], [math.sin(w), math.cos(w)]])


def _steady_state(F, Q, H, noise_var) -> tuple[np.ndarray, np.ndarray]:
    """Closed-loop matrix ``F - K H F`` and gain ``K`` of the steady-state Kalman filter."""
    P = sla.solve_discrete_are(F.T, H.T, Q, np.array([[noise_var]]))
    gain = (P @ H.T / (H @ P @ H.T + noise_var))[:, 0]
    return F - np.outer(gain, H[0] @ F), gain


@lru_cache(maxsize=32)
def _gain_tables(
    rate_hz: float,
    jerk_psd: float,
    tremor_var: float,
    coherence_s: float,
    noise_var: float,
    f_min: float,
    f_max: float,
) -> tuple[np.ndarray, ...]:
    """Per-frequency tables: main filter (A, K) and frequency tracker (A, K)."""
    dt = 1.0 / rate_hz
    F_v = np.array([[1, dt, dt * dt / 2], [0, 1, dt], [0, 0, 1]])
    Q_v = jerk_psd * np.array(
        [
            [dt**5 / 20, dt**4 / 8, dt**3 / 6],
            [dt**4 / 8, dt**3 / 3, dt**2 / 2],
            [dt**3 / 6, dt**2 / 2, dt],
        ]
    )
    rho = math.exp(-dt / coherence_s)
    Q = sla.block_diag(Q_v, np.eye(2) * tremor_var * (1 - rho * rho))
    H = np.array([[1.0, 0.0, 0.0, 1.0, 0.0]])
    rho_t = math.exp(-dt / _TRACKER_COHERENCE_S)
    Q_t = np.eye(2) * tremor_var * (1 - rho_t * rho_t)
    H_t = np.array([[1.0, 0.0]])
    freqs = np.arange(f_min, f_max + 0.5 * _GRID_STEP_HZ, _GRID_STEP_HZ)
    A = np.empty((len(freqs), _NS, _NS))
    K = np.empty((len(freqs), _NS))
    A_t = np.empty((len(freqs), 2, 2))
    K_t = np.empty((len(freqs), 2))
    for g, f in enumerate(freqs):
        F = sla.block_diag(F_v, _oscillator(f, dt, coherence_s))
        A[g], K[g] = _steady_state(F, Q, H, noise_var)
        A_t[g], K_t[g] = _steady_state(
            _oscillator(f, dt, _TRACKER_COHERENCE_S), Q_t, H_t, noise_var
        )
    return A, K, A_t, K_t


@njit(cache=True)
def adaptive_kalman_step(state, coef, x, out):
    """One 3-D sample: main Kalman update per axis, then the frequency tracker."""
    beta = coef[0]
    f_min, step, n_grid, rate = coef[1], coef[2], int(coef[3]), coef[4]
    bp_c = _HDR
    a_base = bp_c + 6 * _BP_SECTIONS
    k_base = a_base + n_grid * _NS * _NS
    at_base = k_base + n_grid * _NS
    kt_base = at_base + n_grid * 4
    first = state[0] == 0.0
    if first:
        state[0] = 1.0
        state[1] = round((coef[5] - f_min) / step)
        for i in range(2, _STATE_SIZE):
            state[i] = 0.0
        for ax in range(3):
            state[_S_KF + _NS * ax] = x[ax]
    g = int(state[1])
    a0 = a_base + g * _NS * _NS
    k0 = k_base + g * _NS
    at0 = at_base + g * 4
    kt0 = kt_base + g * 2
    new = np.empty(_NS)
    re = 0.0
    im = 0.0
    speed2 = 0.0
    for ax in range(3):
        # main filter: voluntary motion + narrow tremor oscillator
        kb = _S_KF + _NS * ax
        for i in range(_NS):
            acc = coef[k0 + i] * x[ax]
            row = a0 + i * _NS
            for j in range(_NS):
                acc += coef[row + j] * state[kb + j]
            new[i] = acc
        for i in range(_NS):
            state[kb + i] = new[i]
        out[ax] = new[0]
        speed2 += new[1] * new[1]
        # tracker: wide oscillator on the band-passed input; its phasor's rotation
        b = sos_cascade(
            state, _S_BP + ax * _BP_SECTIONS * 2, coef, bp_c, _BP_SECTIONS, x[ax], first
        )
        tb = _S_TR + 2 * ax
        c0 = state[tb]
        s0 = state[tb + 1]
        c1 = coef[at0] * c0 + coef[at0 + 1] * s0 + coef[kt0] * b
        s1 = coef[at0 + 2] * c0 + coef[at0 + 3] * s0 + coef[kt0 + 1] * b
        state[tb] = c1
        state[tb + 1] = s1
        re += c1 * c0 + s1 * s0
        im += s1 * c0 - c1 * s0
    # frequency for the next sample: smoothed rotation, shared by the three axes; fast
    # voluntary motion leaks into the band-pass, so the update pauses while the hand moves
    # fast (the tremor frequency hardly changes during one reach)
    gate = beta * coef[6] / (coef[6] + speed2)
    state[2] += gate * (re - state[2])
    state[3] += gate * (im - state[3])
    if state[2] > 0.0:
        f = math.atan2(state[3], state[2]) * rate / (2.0 * math.pi)
        state[1] = min(max(round((f - f_min) / step), 0), n_grid - 1)


@njit(cache=True)
def _guarded_step(state, coef, guard, x, out):
    ran = sample_ok(x)
    if ran:
        adaptive_kalman_step(state, coef, x, out)
    return settle(ran, state, guard, out)


class AdaptiveKalmanFilter(TremorFilter):
    """Tremor canceller: frequency-tracking Kalman filter (the previous ``default``).

    Args:
        rate_hz: sample rate (Hz).
        voluntary_jerk_psd: spectral density of the jerk driving voluntary motion
            (m^2/s^5); larger follows faster motion, smaller removes more tremor.
        tremor_rms_m: expected 3-D tremor RMS (m); sets the oscillator's variance.
        tremor_coherence_s: how long the tremor stays coherent (s): the oscillator's
            damping time constant; longer makes a narrower, deeper notch.
        sensor_noise_m: RMS of the device's position noise (m).
        frequency_range_hz: (min, max) tremor frequency considered (Hz).
        tracking_time_s: time constant of the frequency estimate (s).
        start_frequency_hz: frequency assumed until the estimate has data (Hz).
        freeze_speed_m_s: hand speed (m/s) at which frequency tracking slows to half;
            faster reaches leak into the tracker's band and would drag it off.
        tracker_band_hz: pass band of the tracker's band-pass (Hz).
    """

    name = "adaptive_kalman"
    _guarded = _guarded_step

    def __init__(
        self,
        rate_hz: float = 1000.0,
        voluntary_jerk_psd: float = 1e-2,
        tremor_rms_m: float = 100e-6,
        tremor_coherence_s: float = 1.0,
        sensor_noise_m: float = 1e-6,
        frequency_range_hz: tuple[float, float] = (4.0, 16.0),
        tracking_time_s: float = 0.1,
        start_frequency_hz: float = 9.5,
        freeze_speed_m_s: float = 0.1,
        tracker_band_hz: tuple[float, float] = (5.5, 16.0),
    ) -> None:
        params = {
            "voluntary_jerk_psd": voluntary_jerk_psd,
            "tremor_rms_m": tremor_rms_m,
            "tremor_coherence_s": tremor_coherence_s,
            "sensor_noise_m": sensor_noise_m,
            "frequency_range_hz": tuple(frequency_range_hz),
            "tracking_time_s": tracking_time_s,
            "start_frequency_hz": start_frequency_hz,
            "freeze_speed_m_s": freeze_speed_m_s,
            "tracker_band_hz": tuple(tracker_band_hz),
        }
        super().__init__(rate_hz, params)
        f_min, f_max = require_band("frequency_range_hz", frequency_range_hz, self.rate_hz)
        A, K, A_t, K_t = _gain_tables(
            self.rate_hz,
            require_positive("voluntary_jerk_psd", voluntary_jerk_psd, "m^2/s^5"),
            require_positive("tremor_rms_m", tremor_rms_m, "m") ** 2 / 3.0,
            require_positive("tremor_coherence_s", tremor_coherence_s, "s"),
            require_positive("sensor_noise_m", sensor_noise_m, "m") ** 2,
            f_min,
            f_max,
        )
        tracking_time_s = require_positive("tracking_time_s", tracking_time_s, "s")
        header = [
            min(1.0, 1.0 / (tracking_time_s * self.rate_hz)),
            f_min,
            _GRID_STEP_HZ,
            len(K),
            self.rate_hz,
            min(max(start_frequency_hz, f_min), f_max),
            require_positive("freeze_speed_m_s", freeze_speed_m_s, "m/s") ** 2,
        ]
        band_lo, band_hi = require_band("tracker_band_hz", tracker_band_hz, self.rate_hz)
        sos = sps.butter(
            _BP_SECTIONS, (band_lo, band_hi), btype="bandpass", fs=self.rate_hz, output="sos"
        )
        coef = np.concatenate([header, sos.ravel(), A.ravel(), K.ravel(), A_t.ravel(), K_t.ravel()])
        self._finish_init(coef, _STATE_SIZE)

    @property
    def tremor_frequency_hz(self) -> float:
        """The current tremor frequency estimate (Hz)."""
        return float(self._coef[1] + self._state[1] * self._coef[2])
