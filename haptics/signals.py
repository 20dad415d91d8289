"""Signal models of a surgeon's hand: minimum-jerk voluntary motion and physiological tremor.

Two tremor models live here; both are *tuning-side* signals:

- :class:`TremorModel`: a drifting sinusoid per oscillation plane, what the synthetic
  operators (demos, headless sessions) carry. Nearly a pure tone: too easy for judging a
  tremor filter (it is where the first default filter reached 20 dB and then lost 14 dB
  on real-looking tremor).
- :class:`ResonatorTremor`: **generator A, the tuning generator.** Physiological tremor
  is narrow-band *noise* (a resonance of the limb-muscle loop driven by unsynchronised
  motor-unit firing), so generator A drives each axis's own complex one-pole resonator
  (a damped rotating phasor, i.e. an AR(2)-type resonance) with white noise; its pole
  radius sets the -3 dB bandwidth (0.2-3 Hz), its angle follows a centre frequency that
  wanders as an Ornstein-Uhlenbeck process, a log-normal envelope modulates the
  amplitude and a phase-locked second harmonic rides on top. The tremor filters are
  tuned on this generator only.

The *unseen* evaluation signals come from a second generator written independently
(:mod:`haptics.tremor.unseen`: randomly phased sinusoids, a different voluntary-motion
model); the named trace sets are in :mod:`haptics.tremor.sets`. A filter whose model
matches generator A's construction could look better on A than it is: judging it on B
is what tells.

Sources for the numbers are in ``shared/notes/measured-facts.md``: tremor peaks at 6-12 Hz
(up to 14 Hz), 50-200 µm RMS at the tool, is narrow-band noise whose frequency and
amplitude drift; 98.9% of voluntary-motion power lies below 2 Hz.

All positions are metres, times seconds, rates hertz. Randomness only comes from the
``numpy.random.Generator`` the caller passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from haptics.errors import HapticsError


def minimum_jerk(p0, p1, duration_s: float, t_s) -> np.ndarray:
    """Positions of a minimum-jerk move from ``p0`` to ``p1`` at times ``t_s`` (clamped).

    The profile ``p0 + (p1 - p0) (10 s^3 - 15 s^4 + 6 s^5)``, s = t / duration, is what
    unconstrained human reaches follow (Flash & Hogan 1985).
    """
    p0 = np.asarray(p0, dtype=float)
    p1 = np.asarray(p1, dtype=float)
    s = np.clip(np.asarray(t_s, dtype=float) / duration_s, 0.0, 1.0)[..., None]
    shape = s**3 * (10.0 - 15.0 * s + 6.0 * s * s)
    return p0 + (p1 - p0) * shape


def minimum_jerk_peak_speed(distance_m: float, duration_s: float) -> float:
    """Peak speed (m/s) of a minimum-jerk move: 1.875 distance / duration."""
    return 1.875 * distance_m / duration_s


@dataclass(frozen=True)
class TremorModel:
    """Physiological tremor as a drifting narrow-band oscillation plus a broadband part.

    Attributes:
        rms_m: RMS of the 3-D tremor displacement magnitude (m), e.g. 50e-6 to 200e-6.
        frequency_hz: centre frequency (Hz), typically 6-14.
        frequency_drift_hz: standard deviation of the slow frequency wander (Hz).
        amplitude_drift: relative standard deviation of the slow amplitude wander.
        drift_time_s: correlation time of both wanders (s).
        broadband_fraction: share of tremor power spread evenly over 6-14 Hz instead of
            at the instantaneous frequency. 0 by default: the drift already makes the
            tremor "not a pure sine" as physiological tremor is described; a broadband
            floor is a stress case (no narrow-band canceller can remove it).
    """

    rms_m: float = 100e-6
    frequency_hz: float = 9.0
    frequency_drift_hz: float = 0.7
    amplitude_drift: float = 0.3
    drift_time_s: float = 1.5
    broadband_fraction: float = 0.0

    def __post_init__(self) -> None:
        if not (self.rms_m >= 0 and math.isfinite(self.rms_m)):
            raise HapticsError(f"tremor rms_m must be >= 0 metres, got {self.rms_m}.")
        if not (0.5 <= self.frequency_hz <= 40):
            raise HapticsError(
                f"tremor frequency_hz must lie in [0.5, 40] Hz, got {self.frequency_hz}."
            )
        if not 0 <= self.broadband_fraction <= 1:
            raise HapticsError(
                f"broadband_fraction must lie in [0, 1], got {self.broadband_fraction}."
            )

    @classmethod
    def random(cls, rng: np.random.Generator) -> TremorModel:
        """A tremor drawn from the physiological range: 6-14 Hz, 50-200 µm RMS."""
        return cls(
            rms_m=float(rng.uniform(50e-6, 200e-6)),
            frequency_hz=float(rng.uniform(6.5, 13.0)),
            frequency_drift_hz=float(rng.uniform(0.3, 1.0)),
            amplitude_drift=float(rng.uniform(0.15, 0.4)),
        )

    def sample(self, n: int, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
        """An (n, 3) tremor displacement trace sampled at ``rate_hz``, scaled to ``rms_m``."""
        if n <= 0:
            return np.zeros((0, 3))
        dt = 1.0 / rate_hz
        f = self.frequency_hz + self.frequency_drift_hz * _ou(n, dt, self.drift_time_s, rng)
        f = np.clip(f, 5.5, 15.0)
        amp = np.clip(1.0 + self.amplitude_drift * _ou(n, dt, self.drift_time_s, rng), 0.2, None)
        phase = 2 * math.pi * np.cumsum(f) * dt
        # a random, slowly turning oscillation plane per trace: tremor is not along one axis
        axes = rng.normal(size=(2, 3))
        out = np.zeros((n, 3))
        for k in range(2):
            offset = rng.uniform(0, 2 * math.pi)
            out += np.outer(amp * np.sin(phase + offset + k * math.pi / 2), axes[k])
        if self.broadband_fraction > 0:
            noise = _band_noise(n, rate_hz, 6.0, 14.0, rng)
            narrow_power = np.mean(np.sum(out**2, axis=1))
            noise_power = np.mean(np.sum(noise**2, axis=1))
            ratio = self.broadband_fraction / max(1.0 - self.broadband_fraction, 1e-9)
            out += noise * math.sqrt(ratio * narrow_power / max(noise_power, 1e-300))
        rms = math.sqrt(np.mean(np.sum(out**2, axis=1)))
        return out * (self.rms_m / rms) if rms > 0 else out


@dataclass(frozen=True)
class ResonatorTremor:
    """Generator A (tuning): tremor as white noise through a drifting resonator per axis.

    Each axis has its own driving noise, envelope and centre-frequency offset (tremor
    axes are not phase-locked to one another), all three share a slow wander of the
    centre frequency (the limb's resonance changes with stiffness and load).

    Attributes:
        rms_m: RMS of the 3-D tremor displacement (m), e.g. 50e-6 to 200e-6.
        centre_hz: mean centre frequency (Hz), typically 6-12.
        bandwidth_hz: -3 dB width of each axis's spectral peak (Hz) for a still centre
            frequency (a Lorentzian line: pole radius exp(-pi bandwidth / rate)).
        drift_hz: standard deviation of the centre frequency's wander (Hz).
        drift_time_s: correlation time of the wander and of the envelope (s).
        modulation: standard deviation of the log envelope (0.3 = amplitude varies by
            about +-30%).
        harmonic: amplitude of the phase-locked second harmonic relative to the
            fundamental (0-0.3).
        axis_spread_hz: standard deviation of each axis's own centre offset (Hz).
    """

    rms_m: float = 100e-6
    centre_hz: float = 9.0
    bandwidth_hz: float = 1.5
    drift_hz: float = 0.5
    drift_time_s: float = 2.0
    modulation: float = 0.3
    harmonic: float = 0.1
    axis_spread_hz: float = 0.3

    def __post_init__(self) -> None:
        checks = {
            "rms_m": (0.0, 1e-2, "m"),
            "centre_hz": (3.0, 20.0, "Hz"),
            "bandwidth_hz": (0.01, 6.0, "Hz"),
            "drift_hz": (0.0, 3.0, "Hz"),
            "drift_time_s": (0.05, 60.0, "s"),
            "modulation": (0.0, 1.0, "(log amplitude)"),
            "harmonic": (0.0, 1.0, "(ratio)"),
            "axis_spread_hz": (0.0, 3.0, "Hz"),
        }
        for name, (lo, hi, unit) in checks.items():
            value = getattr(self, name)
            if not (math.isfinite(value) and lo <= value <= hi):
                raise HapticsError(
                    f"ResonatorTremor.{name} must lie in [{lo}, {hi}] {unit}, got {value!r}."
                )

    @classmethod
    def random(
        cls, rng: np.random.Generator, bandwidth_hz: tuple[float, float] = (0.2, 3.0)
    ) -> ResonatorTremor:
        """A tremor drawn from the physiological range, bandwidth uniform in ``bandwidth_hz``."""
        return cls(
            rms_m=float(rng.uniform(50e-6, 200e-6)),
            centre_hz=float(rng.uniform(6.5, 11.5)),
            bandwidth_hz=float(rng.uniform(*bandwidth_hz)),
            drift_hz=float(rng.uniform(0.2, 0.8)),
            drift_time_s=float(rng.uniform(1.0, 4.0)),
            modulation=float(rng.uniform(0.1, 0.4)),
            harmonic=float(rng.uniform(0.0, 0.25)),
            axis_spread_hz=float(rng.uniform(0.0, 0.4)),
        )

    def sample(self, n: int, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
        """An (n, 3) tremor trace at ``rate_hz`` (m), scaled to ``rms_m``."""
        if n <= 0:
            return np.zeros((0, 3))
        dt = 1.0 / rate_hz
        wander = self.drift_hz * _ou(n, dt, self.drift_time_s, rng)
        offsets = self.axis_spread_hz * rng.normal(size=3)
        f = np.clip(self.centre_hz + wander[:, None] + offsets[None, :], 3.0, 0.45 * rate_hz)
        drive = rng.normal(size=(n, 3)) + 1j * rng.normal(size=(n, 3))
        start = (rng.normal(size=3) + 1j * rng.normal(size=3)) / math.sqrt(
            max(1.0 - math.exp(-2 * math.pi * self.bandwidth_hz * dt), 1e-12)
        )
        z = _resonate(
            drive, 2 * math.pi * f * dt, math.exp(-math.pi * self.bandwidth_hz * dt), start
        )
        magnitude = np.abs(z)
        x = z.real + self.harmonic * (z * z).real / np.maximum(magnitude, 1e-300)
        envelope = np.exp(
            self.modulation * np.stack([_ou(n, dt, self.drift_time_s, rng) for _ in range(3)], 1)
        )
        x *= envelope * rng.uniform(0.5, 1.5, size=3)  # each axis its own size
        rms = math.sqrt(np.mean(np.sum(x**2, axis=1)))
        return x * (self.rms_m / rms) if rms > 0 else x


@njit(cache=True)
def _resonate(drive, omega, radius, start):
    """z[k] = radius exp(i omega[k]) z[k-1] + drive[k], per column (complex one-pole)."""
    n, m = drive.shape
    z = np.empty_like(drive)
    for j in range(m):
        state = start[j]
        for k in range(n):
            state = (
                radius * complex(math.cos(omega[k, j]), math.sin(omega[k, j])) * state + drive[k, j]
            )
            z[k, j] = state
    return z


def _ou(n: int, dt: float, tau_s: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Ornstein-Uhlenbeck process (slow wander) of n samples."""
    a = math.exp(-dt / tau_s)
    noise = rng.normal(size=n) * math.sqrt(1 - a * a)
    out = np.empty(n)
    x = rng.normal()
    for i in range(n):
        x = a * x + noise[i]
        out[i] = x
    return out


def _band_noise(n: int, rate_hz: float, lo_hz: float, hi_hz: float, rng) -> np.ndarray:
    """(n, 3) Gaussian noise with its spectrum confined to [lo_hz, hi_hz] (FFT masking)."""
    spectrum = np.fft.rfft(rng.normal(size=(n, 3)), axis=0)
    freqs = np.fft.rfftfreq(n, 1.0 / rate_hz)
    spectrum[(freqs < lo_hz) | (freqs > hi_hz)] = 0
    return np.fft.irfft(spectrum, n=n, axis=0)


def voluntary_reaches(
    duration_s: float,
    rate_hz: float,
    rng: np.random.Generator,
    *,
    reach_m: tuple[float, float] = (0.01, 0.05),
    move_time_s: tuple[float, float] = (0.6, 2.0),
    pause_s: tuple[float, float] = (0.0, 0.6),
    workspace_m: float = 0.06,
) -> np.ndarray:
    """(n, 3) hand positions: minimum-jerk reaches between random via points, with pauses.

    Reaches of ``reach_m`` length take ``move_time_s`` each, so the motion lies below about
    2 Hz; via points stay inside a cube of half-width ``workspace_m`` around the origin.
    """
    n = round(duration_s * rate_hz)
    out = np.empty((n, 3))
    t = np.arange(n) / rate_hz
    p = np.zeros(3)
    start = 0.0
    i = 0
    while i < n:
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        target = np.clip(p + direction * rng.uniform(*reach_m), -workspace_m, workspace_m)
        move = float(rng.uniform(*move_time_s))
        end = start + move
        j = min(n, int(np.searchsorted(t, end, side="right")))
        out[i:j] = minimum_jerk(p, target, move, t[i:j] - start)
        p = target
        pause_end = end + float(rng.uniform(*pause_s))
        k = min(n, int(np.searchsorted(t, pause_end, side="right")))
        out[j:k] = p
        i = max(k, j, i + 1) if k > i else n
        start = pause_end
    return out


def brisk_reaches(duration_s: float, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """(n, 3) hand positions: quick minimum-jerk reaches of 1-5 cm in 0.1-0.4 s, each
    after a rest of 1-3 s (peak speeds 0.05-0.9 m/s).

    The reaches of :func:`voluntary_reaches` take 0.6-2 s with rests under 0.6 s, so a
    filter tuned on them never meets a hand that sets off briskly after it has settled:
    the case where a model that has learnt "the hand is still" lags, then overshoots.
    Quick aiming movements of a few centimetres take 0.2-0.5 s (Fitts' law tasks), and
    a surgeon repositions faster than he works; 0.1 s is a flick.
    """
    return voluntary_reaches(duration_s, rate_hz, rng, move_time_s=(0.1, 0.4), pause_s=(1.0, 3.0))


def overlapping_reaches(
    duration_s: float,
    rate_hz: float,
    rng: np.random.Generator,
    *,
    reach_m: tuple[float, float] = (0.005, 0.04),
    move_time_s: tuple[float, float] = (0.5, 1.6),
    onset_gap_s: tuple[float, float] = (0.3, 1.5),
    workspace_m: float = 0.06,
) -> np.ndarray:
    """(n, 3) hand positions: minimum-jerk submovements that start before the last ends.

    Real reaches are a primary movement blended with corrective submovements (Flash &
    Henis 1991: superposed minimum-jerk strokes), so the hand is rarely at rest and its
    speed profile has several peaks. Each submovement moves ``reach_m`` in ``move_time_s``
    and the next starts ``onset_gap_s`` after it, so strokes overlap whenever the gap is
    shorter than the stroke. Directions are random but turn back towards the origin as
    the hand nears ``workspace_m``. Faster and busier than :func:`voluntary_reaches`.
    """
    n = round(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    out = np.zeros((n, 3))
    goal = np.zeros(3)
    onset = 0.0
    while onset < duration_s:
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        direction -= 2.0 * goal * np.linalg.norm(goal) / workspace_m**2
        direction /= max(np.linalg.norm(direction), 1e-12)
        step = direction * rng.uniform(*reach_m)
        move = float(rng.uniform(*move_time_s))
        active = t >= onset
        out[active] += minimum_jerk(np.zeros(3), step, move, t[active] - onset)
        goal = goal + step
        onset += float(rng.uniform(*onset_gap_s))
    return out
