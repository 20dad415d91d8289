"""Signal models of a surgeon's hand: minimum-jerk voluntary motion and physiological tremor.

Shared by the synthetic operators (demos, tests, headless sessions) and by the tremor
benchmark, so that filters are tuned and judged on the same kind of motion a trainee
produces. Sources for the numbers are in ``shared/notes/measured-facts.md``: tremor peaks
at 6-12 Hz (up to 14 Hz), 50-200 µm RMS at the tool, is narrow-band but drifts in
frequency and amplitude; 98.9% of voluntary-motion power lies below 2 Hz.

All positions are metres, times seconds, rates hertz. Randomness only comes from the
``numpy.random.Generator`` the caller passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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
