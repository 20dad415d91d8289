"""Generator B, the *unseen* evaluation signals: nothing in surgisim is tuned on them.

Written independently of generator A (:class:`haptics.signals.ResonatorTremor`, the
tuning generator) and built differently on purpose, so that a filter whose internal
model copies generator A's construction cannot look better than it is:

- :class:`SinusoidTremor`: tremor as a sum of many randomly phased sinusoids (the
  classical spectral-representation construction of a Gaussian random process, Rice
  1944 / Shinozuka). The component frequencies are drawn from a *Gaussian* line shape of
  the given width (generator A's resonator has a Lorentzian one, with heavier tails); all
  components follow a centre frequency that wanders as a sum of a few slow sinusoids
  (generator A: an Ornstein-Uhlenbeck process); a sum-of-sinusoids envelope modulates the
  amplitude (A: log-normal); every component carries its own phase-locked second
  harmonic; three independent sources are mixed by a random rotation (A: one source per
  device axis).
- :func:`lognormal_reaches`: voluntary motion as overlapping submovements with
  log-normal speed profiles, the sigma-lognormal model of human rapid movements
  (Plamondon 1995; Plamondon & Djioua 2006): asymmetric bells that overlap, unlike the
  symmetric, separate minimum-jerk reaches of :func:`haptics.signals.voluntary_reaches`.

Numbers (frequency, size, bandwidth, speed) stay within the physiological ranges of
``shared/notes/measured-facts.md``. Positions are metres, times seconds, rates hertz;
randomness only comes from the caller's ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from haptics.errors import HapticsError

#: FWHM of a Gaussian line = this many standard deviations
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class SinusoidTremor:
    """Tremor as randomly phased sinusoids around a wandering centre frequency.

    Attributes:
        rms_m: RMS of the 3-D tremor displacement (m).
        centre_hz: mean centre frequency (Hz).
        bandwidth_hz: full width at half maximum of the Gaussian line (Hz) for a still
            centre frequency.
        wander_hz: standard deviation of the centre frequency's wander (Hz).
        wander_period_s: (shortest, longest) period of the wander's sinusoids (s).
        envelope_depth: standard deviation of the relative amplitude modulation.
        harmonic: second-harmonic amplitude relative to the fundamental.
        source_spread_hz: standard deviation of each source's own centre offset (Hz):
            the three sources (muscle groups) need not resonate at one frequency.
        components: sinusoids per source.
    """

    rms_m: float = 100e-6
    centre_hz: float = 9.0
    bandwidth_hz: float = 1.5
    wander_hz: float = 0.5
    wander_period_s: tuple[float, float] = (2.0, 20.0)
    envelope_depth: float = 0.25
    harmonic: float = 0.1
    source_spread_hz: float = 0.3
    components: int = 80

    def __post_init__(self) -> None:
        if not (0 <= self.rms_m <= 1e-2):
            raise HapticsError(f"SinusoidTremor.rms_m must lie in [0, 0.01] m, got {self.rms_m}.")
        if not (3.0 <= self.centre_hz <= 20.0 and 0.0 < self.bandwidth_hz <= 6.0):
            raise HapticsError(
                "SinusoidTremor needs centre_hz in [3, 20] Hz and bandwidth_hz in (0, 6] Hz, "
                f"got {self.centre_hz} and {self.bandwidth_hz}."
            )
        if not (0.0 <= self.envelope_depth < 1.0 and self.components >= 8):
            raise HapticsError(
                "SinusoidTremor needs envelope_depth in [0, 1) and components >= 8, got "
                f"{self.envelope_depth} and {self.components}."
            )

    @classmethod
    def random(
        cls, rng: np.random.Generator, bandwidth_hz: tuple[float, float] = (0.2, 3.0)
    ) -> SinusoidTremor:
        """A tremor from the physiological range (6-12 Hz centre, 50-200 µm RMS)."""
        return cls(
            rms_m=float(rng.uniform(50e-6, 200e-6)),
            centre_hz=float(rng.uniform(6.5, 11.5)),
            bandwidth_hz=float(rng.uniform(*bandwidth_hz)),
            wander_hz=float(rng.uniform(0.2, 0.8)),
            envelope_depth=float(rng.uniform(0.1, 0.35)),
            harmonic=float(rng.uniform(0.0, 0.25)),
            source_spread_hz=float(rng.uniform(0.0, 0.4)),
        )

    def sample(self, n: int, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
        """An (n, 3) tremor trace at ``rate_hz`` (m), scaled to ``rms_m``."""
        if n <= 0:
            return np.zeros((0, 3))
        t = np.arange(n) / rate_hz
        centre = self.centre_hz + self.wander_hz * _slow_wave(t, self.wander_period_s, rng)
        centre = np.clip(centre, 3.0, 0.45 * rate_hz)
        centre_phase = 2.0 * math.pi * np.cumsum(centre) / rate_hz
        sigma = self.bandwidth_hz / _FWHM_PER_SIGMA
        sources = np.empty((n, 3))
        for s in range(3):
            offsets = rng.normal(self.source_spread_hz * rng.normal(), sigma, self.components)
            amplitude = rng.rayleigh(size=self.components)
            phase0 = rng.uniform(0.0, 2.0 * math.pi, size=self.components)
            harmonic_phase = rng.uniform(0.0, 2.0 * math.pi, size=self.components)
            # sum_k a_k [cos(C + w_k t + p_k) + h cos(2 (C + w_k t + p_k) + q_k)], C the
            # centre's phase: the sums over k are slow complex envelopes times exp(i C)
            fundamental = _line_envelope(amplitude * np.exp(1j * phase0), offsets, n, rate_hz)
            harmonic = _line_envelope(
                amplitude * np.exp(1j * (2.0 * phase0 + harmonic_phase)), 2.0 * offsets, n, rate_hz
            )
            x = (fundamental * np.exp(1j * centre_phase)).real + self.harmonic * (
                harmonic * np.exp(2j * centre_phase)
            ).real
            envelope = 1.0 + self.envelope_depth * _slow_wave(t, (1.0, 10.0), rng)
            sources[:, s] = x * np.maximum(envelope, 0.05) * rng.uniform(0.4, 1.0)
        out = sources @ _random_rotation(rng).T
        rms = math.sqrt(np.mean(np.sum(out**2, axis=1)))
        return out * (self.rms_m / rms) if rms > 0 else out


def _line_envelope(weights, offsets_hz, n: int, rate_hz: float, block: int = 4096):
    """``sum_k weights_k exp(2 pi i offsets_k t)`` at ``n`` samples, in blocks of ``block``.

    Each block reuses one table of per-sample rotations, so the cost is one complex
    multiply-add per component and sample instead of a cosine.
    """
    block = min(block, n)
    table = np.exp(2j * math.pi * np.outer(offsets_hz, np.arange(block)) / rate_hz)
    out = np.empty(n, dtype=complex)
    for start in range(0, n, block):
        stop = min(start + block, n)
        phase = np.exp(2j * math.pi * offsets_hz * start / rate_hz)
        out[start:stop] = (weights * phase) @ table[:, : stop - start]
    return out


def _slow_wave(t: np.ndarray, period_s: tuple[float, float], rng, waves: int = 4) -> np.ndarray:
    """Unit-RMS sum of ``waves`` sinusoids with random periods in ``period_s`` and phases."""
    periods = rng.uniform(period_s[0], period_s[1], size=waves)
    phases = rng.uniform(0.0, 2.0 * math.pi, size=waves)
    x = np.sin(2.0 * math.pi * t[:, None] / periods[None, :] + phases[None, :]).sum(axis=1)
    return x / math.sqrt(waves / 2.0)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))[None, :]
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def lognormal_reaches(
    duration_s: float,
    rate_hz: float,
    rng: np.random.Generator,
    *,
    distance_m: tuple[float, float] = (0.005, 0.04),
    half_time_s: tuple[float, float] = (0.4, 1.0),
    log_spread: tuple[float, float] = (0.2, 0.35),
    gap_s: tuple[float, float] = (0.25, 1.6),
    workspace_m: float = 0.06,
) -> np.ndarray:
    """(n, 3) hand positions: overlapping sigma-lognormal submovements (m).

    Submovement i starts at ``t0`` and moves ``D`` along a unit direction with speed
    ``D / (sigma sqrt(2 pi) (t - t0)) exp(-(ln(t - t0) - mu)^2 / (2 sigma^2))``, so its
    displacement is ``D Phi((ln(t - t0) - mu) / sigma)``; ``exp(mu)``, the time from
    onset to half the distance, is drawn from ``half_time_s``, ``sigma`` from
    ``log_spread``. Onsets follow each other by ``gap_s``, so submovements overlap when
    the gap is shorter than a stroke. Directions are random but pulled back towards the
    origin as the hand nears ``workspace_m``.
    """
    n = round(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    out = np.zeros((n, 3))
    target = np.zeros(3)
    onset = float(rng.uniform(0.0, 0.5))
    while onset < duration_s:
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        pull = -target / workspace_m
        direction = direction + 2.0 * pull * (np.linalg.norm(target) / workspace_m)
        direction /= max(np.linalg.norm(direction), 1e-12)
        distance = float(rng.uniform(*distance_m))
        mu = math.log(float(rng.uniform(*half_time_s)))
        sigma = float(rng.uniform(*log_spread))
        active = t > onset
        u = (np.log(t[active] - onset) - mu) / (sigma * math.sqrt(2.0))
        out[active] += np.outer(distance * 0.5 * (1.0 + erf(u)), direction)
        target = target + distance * direction
        onset += float(rng.uniform(*gap_s))
    return out
