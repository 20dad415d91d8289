"""Performance metrics of surgical simulators, as pure functions over recorded signals.

Each function documents its definition and unit. Sources: Balasubramanian et al. 2012/2015
(SPARC, LDLJ; reference values reproduced in the tests), Finnegan et al. 2013 and the
simulator manuals summarised in ``shared/notes/scoring.md`` (economy of motion, master
workspace range, collisions, excessive force, instruments out of view, drops). Where a
threshold is not public it is a parameter with a documented default, never a hidden
constant.
"""

from __future__ import annotations

import math

import numpy as np


# ---- smoothness (published definitions) ----------------------------------------------
def dimensionless_jerk(speed, sample_rate_hz: float) -> float:
    """Dimensionless jerk of a speed profile: -(T^3 / v_peak^2) sum (d2v/dt2)^2 dt.

    T = N dt is the profile's duration. Always <= 0; closer to 0 is smoother.
    """
    v = np.asarray(speed, dtype=float)
    if v.ndim != 1 or len(v) < 3:
        raise ValueError(f"speed must be a 1-D profile of at least 3 samples, got {v.shape}.")
    dt = 1.0 / sample_rate_hz
    peak = float(np.max(np.abs(v)))
    if peak == 0.0:
        raise ValueError("speed profile is all zeros: smoothness is undefined for no movement.")
    duration = len(v) * dt
    jerk = np.diff(v, 2) / dt**2
    return float(-(duration**3 / peak**2) * np.sum(jerk**2) * dt)


def ldlj(speed, sample_rate_hz: float) -> float:
    """Log dimensionless jerk of one movement's speed profile: -ln|dimensionless jerk|
    (Balasubramanian et al. 2012, 2015).

    Higher is smoother; a complete minimum-jerk reach gives -ln(720 / 1.875^2) = -5.32.
    Defined for *one* movement, rest to rest: given a profile with rests in it, T grows
    and the value falls by about 3 ln T with the motion unchanged (a session's worth of
    rows read -12.5 for a reach that alone reads -5.2). Sessions use
    :func:`movement_ldlj`. A profile cut mid-movement (still moving at its first or last
    sample) has little jerk for its duration and can read above 0.
    """
    return float(-math.log(abs(dimensionless_jerk(speed, sample_rate_hz))))


def movement_ldlj(
    speed_m_s,
    sample_rate_hz: float,
    threshold_m_s: float = 0.01,
    min_separation_s: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """LDLJ of each movement in a speed profile, as the published metric is defined: with
    that movement's own duration and peak speed, rests left out.

    Movements are those :func:`movement_count` counts (see :func:`movement_spans`);
    one of fewer than 3 samples has no jerk to measure and is left out.

    Returns:
        ``(durations_s, ldljs)``: per movement, its duration (s) and its LDLJ.
    """
    v = np.asarray(speed_m_s, dtype=float)
    durations, values = [], []
    for start, stop in movement_spans(v, sample_rate_hz, threshold_m_s, min_separation_s):
        if stop - start >= 3:
            durations.append((stop - start) / sample_rate_hz)
            values.append(ldlj(v[start:stop], sample_rate_hz))
    return np.asarray(durations, dtype=float), np.asarray(values, dtype=float)


def session_ldlj(durations_s, ldljs) -> float:
    """A session's LDLJ from its movements' (:func:`movement_ldlj`, pooled over
    instruments): their mean weighted by duration.

    Balasubramanian et al. define LDLJ per movement and leave the aggregate open. The
    duration-weighted mean is our choice: each second of movement counts the same, so a
    0.1 s twitch just over the movement speed (whose few samples give the least reliable
    value) cannot count as much as a 3 s reach, and one movement reads its own value.
    """
    d = np.asarray(durations_s, dtype=float)
    if len(d) == 0:
        raise ValueError("no movement: smoothness is undefined for no movement.")
    return float(np.average(np.asarray(ldljs, dtype=float), weights=d))


def sparc(
    speed,
    sample_rate_hz: float,
    *,
    pad_level: int = 4,
    cutoff_hz: float = 10.0,
    amplitude_threshold: float = 0.05,
) -> float:
    """Spectral arc length of a speed profile (Balasubramanian et al. 2015).

    The profile is zero-padded to 2^(ceil(log2 N) + pad_level) samples; the magnitude
    spectrum, normalised to its maximum, is kept up to ``cutoff_hz`` and then from the
    lowest to the highest frequency where it is >= ``amplitude_threshold`` (as the
    reference implementation does); SPARC is minus the arc length
    of that curve with frequency normalised to the band. Dimensionless, <= 0, higher is
    smoother.
    """
    v = np.asarray(speed, dtype=float)
    if v.ndim != 1 or len(v) < 2:
        raise ValueError(f"speed must be a 1-D profile of at least 2 samples, got {v.shape}.")
    nfft = int(2 ** (math.ceil(math.log2(len(v))) + pad_level))
    f = np.arange(nfft) * sample_rate_hz / nfft
    magnitude = np.abs(np.fft.fft(v, nfft))
    if magnitude.max() == 0.0:
        raise ValueError("speed profile is all zeros: smoothness is undefined for no movement.")
    magnitude /= magnitude.max()
    keep = f <= cutoff_hz
    f_sel, m_sel = f[keep], magnitude[keep]
    above = np.flatnonzero(m_sel >= amplitude_threshold)
    band = slice(above[0], above[-1] + 1)
    f_sel, m_sel = f_sel[band], m_sel[band]
    if len(f_sel) < 2:
        return 0.0
    df = np.diff(f_sel) / (f_sel[-1] - f_sel[0])
    return float(-np.sum(np.sqrt(df**2 + np.diff(m_sel) ** 2)))


# ---- motion ------------------------------------------------------------------------------
def speed_profile(positions_m, sample_rate_hz: float) -> np.ndarray:
    """Speed (m/s) between consecutive (N, 3) positions: |p[k+1] - p[k]| * rate."""
    p = np.asarray(positions_m, dtype=float)
    return np.linalg.norm(np.diff(p, axis=0), axis=1) * sample_rate_hz


def path_length_m(positions_m) -> float:
    """Economy of motion: total distance travelled by the (N, 3) positions (m)."""
    p = np.asarray(positions_m, dtype=float)
    return float(np.sum(np.linalg.norm(np.diff(p, axis=0), axis=1)))


def workspace_range_m(positions_m, percentile: float = 95.0) -> float:
    """Master workspace range: radius (m) around the centroid holding ``percentile`` % of
    the samples. Small means the trainee clutches to stay in a comfortable central
    workspace (the manuals reward it); a percentile, not the maximum, so that one stray
    sample does not set the score. Rows without a position (NaN: no sample from the
    device yet, or the device silent) are left out.
    """
    p = np.asarray(positions_m, dtype=float)
    if len(p) == 0:
        return 0.0
    p = p[np.isfinite(p).all(axis=1)]
    if len(p) == 0:
        return math.nan
    return float(np.percentile(np.linalg.norm(p - p.mean(axis=0), axis=1), percentile))


def idle_time_s(speed_m_s, sample_rate_hz: float, threshold_m_s: float = 0.005) -> float:
    """Time (s) with speed below ``threshold_m_s`` (default 5 mm/s)."""
    v = np.asarray(speed_m_s, dtype=float)
    return float(np.count_nonzero(v < threshold_m_s) / sample_rate_hz)


def movement_count(
    speed_m_s,
    sample_rate_hz: float,
    threshold_m_s: float = 0.01,
    min_separation_s: float = 0.1,
) -> int:
    """Number of movements: speed peaks above ``threshold_m_s`` (default 10 mm/s).

    A movement is a run of samples above the threshold; runs closer than
    ``min_separation_s`` are merged (one movement that dipped briefly).
    """
    above = np.asarray(speed_m_s, dtype=float) >= threshold_m_s
    return len(_runs(above, round(min_separation_s * sample_rate_hz)))


def movement_spans(
    speed_m_s,
    sample_rate_hz: float,
    threshold_m_s: float = 0.01,
    min_separation_s: float = 0.1,
) -> list[tuple[int, int]]:
    """Each movement's (start, stop) indices into the speed profile, rest to rest.

    The movements are :func:`movement_count`'s (runs at or above ``threshold_m_s``,
    merged when closer than ``min_separation_s``), each widened on both sides to where
    the speed stops falling (its local minimum: where the hand was at rest, or where
    this movement and its neighbour meet), never into the neighbouring movement. Cut at
    the threshold instead, a reach would lose its start and end, where its jerk is
    largest, and read smoother the larger its peak speed is against the threshold.
    """
    v = np.asarray(speed_m_s, dtype=float)
    runs = _runs(v >= threshold_m_s, round(min_separation_s * sample_rate_hz))
    if not runs:
        return []
    k = np.arange(len(v))
    # where a walk outwards stops: the speed no longer falls beyond it (or the profile ends)
    left_stops = np.flatnonzero((k == 0) | (np.r_[np.inf, v[:-1]] >= v))
    right_stops = np.flatnonzero((k == len(v) - 1) | (np.r_[v[1:], np.inf] >= v))
    spans: list[tuple[int, int]] = []
    for i, (a, b) in enumerate(runs):
        start = int(left_stops[np.searchsorted(left_stops, a, side="right") - 1])
        stop = int(right_stops[np.searchsorted(right_stops, b - 1)]) + 1
        if spans:
            start = max(start, spans[-1][1])
        if i + 1 < len(runs):
            stop = min(stop, runs[i + 1][0])
        spans.append((start, stop))
    return spans


def _runs(flags: np.ndarray, merge_gap: int = 0) -> list[tuple[int, int]]:
    """(start, stop) index pairs of True runs, merging runs separated by <= merge_gap."""
    flags = np.asarray(flags, dtype=bool)
    if not flags.any():
        return []
    edges = np.diff(np.r_[0, flags.astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    runs: list[tuple[int, int]] = []
    for a, b in zip(starts, stops, strict=True):
        if runs and a - runs[-1][1] <= merge_gap:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((int(a), int(b)))
    return runs


# ---- safety ------------------------------------------------------------------------------
def contact_events(
    in_contact, sample_rate_hz: float, min_separation_s: float = 0.1
) -> list[tuple[int, int]]:
    """Contact episodes as (start, stop) sample indices: collisions are counted as events,
    not frames. Episodes closer than ``min_separation_s`` count as one (chatter)."""
    return _runs(in_contact, round(min_separation_s * sample_rate_hz))


def excessive_force(
    force_n, sample_rate_hz: float, threshold_n: float = 2.5
) -> tuple[float, float, int]:
    """(time above ``threshold_n`` in s, peak force in N, number of episodes).

    How commercial trainers threshold "excessive force" is not public; 2.5 N is the
    default here, and scenarios set their own.
    """
    f = np.asarray(force_n, dtype=float)
    above = f > threshold_n
    peak = float(f.max()) if len(f) else 0.0
    return float(np.count_nonzero(above) / sample_rate_hz), peak, len(_runs(above))


def time_true_s(flags, sample_rate_hz: float) -> float:
    """Time (s) a per-sample condition holds, e.g. an instrument out of the camera's view."""
    return float(np.count_nonzero(np.asarray(flags, dtype=bool)) / sample_rate_hz)


def rising_edges(flags) -> int:
    """How many times a boolean signal switches on (e.g. clutch presses)."""
    f = np.asarray(flags, dtype=bool)
    return int(np.count_nonzero(f[1:] & ~f[:-1]) + (1 if len(f) and f[0] else 0))


# ---- tremor ------------------------------------------------------------------------------
#: physiological hand tremor's band (Hz): the band-pass of :func:`tremor_rms_m`
TREMOR_BAND_HZ = (6.0, 16.0)

#: the lowest sample rate the metrics can use, exclusive (Hz): the tremor band-pass needs
#: its upper edge below half the rate (at 25 Hz scoring failed at the end of the session)
MIN_METRICS_RATE_HZ = 2.0 * TREMOR_BAND_HZ[1]


def tremor_rms_m(
    positions_m,
    sample_rate_hz: float,
    band_hz: tuple[float, float] = TREMOR_BAND_HZ,
    still_speed_m_s: float = 0.02,
    min_still_s: float = 1.0,
    still_margin_s: float = 0.2,
) -> float:
    """RMS (m) of the 3-D motion within ``band_hz``: physiological tremor amplitude.

    Measured on the master positions *before* the tremor filter, by zero-phase band-pass
    (offline, so no causality constraint), over the samples where the hand is nearly
    still (its 2 Hz low-passed speed below ``still_speed_m_s``) as tremor is assessed
    clinically: fast reaches leak into the band and would inflate it, so samples within
    ``still_margin_s`` of a movement are left out too (the filter rings). With less than
    ``min_still_s`` of still hand in all, tremor cannot be told from motion: NaN (too
    little still time to measure; a session reports it as n/a). The whole recording was
    used then, and read voluntary motion as tremor: a camera-targeting expert drawn with
    51 µm read 199 µm, above the novice's 156 µm (drawn 180; ``bench/RESULTS.md``, "hand
    tremor in sessions").

    Rows that are not finite (no sample from the device yet: a session's trace starts
    with one) split the recording: each finite stretch of at least 64 samples is
    filtered on its own and their samples pooled; with none, NaN.
    """
    p = np.asarray(positions_m, dtype=float)
    finite = np.isfinite(p).all(axis=1)
    powers, stills = [], []
    for start, stop in _runs(finite):
        if stop - start >= 64:
            power, still = _band_power_and_stillness(
                p[start:stop], sample_rate_hz, band_hz, still_speed_m_s, still_margin_s
            )
            powers.append(power)
            stills.append(still)
    if not powers:  # no stretch long enough to filter: too little time to measure (it
        return math.nan  # read 0 µm, no tremor, for a recording under 64 samples)
    power, still = np.concatenate(powers), np.concatenate(stills)
    if np.count_nonzero(still) < min_still_s * sample_rate_hz:
        return math.nan  # too little still time: the band holds voluntary motion
    return float(np.sqrt(np.mean(power[still])))


def _band_power_and_stillness(p, fs, band_hz, still_speed_m_s, still_margin_s):
    """Per sample of a finite (N, 3) stretch: the band-passed 3-D power (m^2), and
    whether the hand is still there and clear of movement by ``still_margin_s``."""
    from scipy import signal as sps

    sos = sps.butter(4, band_hz, btype="bandpass", fs=fs, output="sos")
    band = sps.sosfiltfilt(sos, p - p.mean(axis=0), axis=0)
    power = np.sum(band**2, axis=1)
    slow = sps.sosfiltfilt(sps.butter(2, 2.0, fs=fs, output="sos"), p, axis=0)
    speed = np.r_[0.0, np.linalg.norm(np.diff(slow, axis=0), axis=1) * fs]
    still = speed < still_speed_m_s
    # the band-pass rings for a while after a movement's onset and end: keep clear of them
    margin = round(still_margin_s * fs)
    if margin:
        moving = np.convolve(~still, np.ones(2 * margin + 1), mode="same") > 0
        still = ~moving
    return power, still
