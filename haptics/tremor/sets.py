"""The named hand-trace sets tremor filters are tuned and judged on.

Each set is voluntary motion plus tremor at a given rate, with the true voluntary motion
kept so that a filter's error can be measured. Tuning sets come from generator A
(:class:`haptics.signals.ResonatorTremor` on minimum-jerk reaches); the *unseen* sets
from generator B (:mod:`haptics.tremor.unseen`: randomly phased sinusoids on
sigma-lognormal submovements), written independently and never used for tuning. Each
set also draws its own random stream (its name is part of the seed), so no trace of an
unseen set shares a seed with a tuning trace.

The ``legacy`` set is the first benchmark's: the operators' drifting-sinusoid tremor
(:class:`haptics.signals.TremorModel`) on minimum-jerk reaches. The previous default
filter was tuned on it; it stays for comparison with the first round's figures.

The ``brisk`` set puts generator A's tremor (any width) on quick reaches after rests
(:func:`haptics.signals.brisk_reaches`): nothing is tuned on it; it shows what a filter
does to a hand that sets off briskly after it has settled.

Bandwidths are the -3 dB widths of the tremor's spectral line: "narrow" 0.2-0.6 Hz
(a tremor close to a drifting tone), "broadband" 1-3 Hz (the width physiological tremor
spectra show). Centre frequencies 6.5-11.5 Hz wander by 0.2-0.8 Hz; sizes 50-200 µm RMS.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from haptics.errors import HapticsError


@dataclass(frozen=True)
class TraceSet:
    """A recipe for seeded traces.

    Attributes:
        generator: ``"A"`` (tuning: resonator tremor, minimum-jerk reaches, separate and
            overlapping), ``"B"`` (unseen: sinusoid-sum tremor, sigma-lognormal
            submovements) or ``"legacy"`` (drifting sinusoid on minimum-jerk reaches).
        bandwidth_hz: (min, max) tremor line width drawn per trace (Hz); None for legacy.
        description: one line for tables.
        brisk: voluntary motion of quick reaches after rests
            (:func:`haptics.signals.brisk_reaches`) instead of the generator's own: a
            check of what a filter does to a hand that sets off briskly, not a tuning set.
    """

    generator: str
    bandwidth_hz: tuple[float, float] | None
    description: str
    brisk: bool = False

    @property
    def unseen(self) -> bool:
        """True for sets nothing was tuned on."""
        return self.generator == "B"


SETS = {
    "legacy": TraceSet("legacy", None, "first round's set: drifting sinusoid (tuning side)"),
    "narrow": TraceSet("A", (0.2, 0.6), "tuning, generator A, bandwidth 0.2-0.6 Hz"),
    "broadband": TraceSet("A", (1.0, 3.0), "tuning, generator A, bandwidth 1-3 Hz"),
    "unseen_narrow": TraceSet("B", (0.2, 0.6), "unseen, generator B, bandwidth 0.2-0.6 Hz"),
    "unseen_broadband": TraceSet("B", (1.0, 3.0), "unseen, generator B, bandwidth 1-3 Hz"),
    "brisk": TraceSet(
        "A", (0.2, 3.0), "generator A tremor on quick reaches after rests (a check)", brisk=True
    ),
}


def make_traces(
    set_name: str, n: int, duration_s: float, seed: int, rate_hz: float = 1000.0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` (voluntary, measured) pairs of (N, 3) position traces (m) from set ``set_name``.

    Raises:
        HapticsError: unknown set name (lists the valid ones).
    """
    recipe = SETS.get(set_name)
    if recipe is None:
        raise HapticsError(f"unknown trace set {set_name!r}; valid sets are {list(SETS)}.")
    rng = np.random.default_rng([seed, zlib.crc32(set_name.encode())])
    draw_tremor, motions = _generator(recipe)
    if recipe.brisk:
        from haptics.signals import brisk_reaches

        motions = (brisk_reaches,)
    traces = []
    for i in range(n):
        voluntary = motions[i % len(motions)](duration_s, rate_hz, rng)
        tremor = draw_tremor(rng).sample(len(voluntary), rate_hz, rng)
        traces.append((voluntary, voluntary + tremor))
    return traces


def _generator(recipe: TraceSet):
    """(draw a tremor model from a generator, voluntary-motion functions) of a recipe."""
    if recipe.generator == "legacy":
        from haptics.signals import TremorModel, voluntary_reaches

        return TremorModel.random, (voluntary_reaches,)
    if recipe.generator == "A":
        from haptics.signals import ResonatorTremor, overlapping_reaches, voluntary_reaches

        return (
            lambda rng: ResonatorTremor.random(rng, recipe.bandwidth_hz),
            (voluntary_reaches, overlapping_reaches),
        )
    from haptics.tremor.unseen import SinusoidTremor, lognormal_reaches

    return lambda rng: SinusoidTremor.random(rng, recipe.bandwidth_hz), (lognormal_reaches,)
