"""What each metric is, in words a trainee can read: one home for a metric's name, label,
unit, direction and group, used by the schema (valid names, direction), the scorer, the
reports and the command line.

Groups follow Mimic's MScore (see ``shared/notes/scoring.md``): "quality and efficiency"
(time, economy of motion, the hand's workspace, smoothness) and "risk and safety"
(collisions, excessive force, instruments out of view, drops, a held object touching the
scenery). A rubric's safety metrics are the ones a trainee must never be able to
compensate for with speed alone.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Literal

Group = Literal["efficiency", "safety"]

#: Group names as reports print them (MScore's wording).
GROUP_TITLES: dict[str, str] = {
    "efficiency": "Quality and efficiency",
    "safety": "Risk and safety",
}


@dataclass(frozen=True)
class MetricInfo:
    """One metric, described.

    Attributes:
        name: the metric's name in rubrics and records (unit in the name).
        label: what a trainee reads ("Completion time").
        unit: the unit printed after values ("s", "cm"); "" for counts and pure numbers.
        noun: what one unit is called in a penalty term ("drop", "s out of view").
        higher_is_better: direction; most metrics are better lower.
        group: ``"efficiency"`` or ``"safety"``.
        explanation: one or two sentences: what is measured and what a good value is.
    """

    name: str
    label: str
    unit: str
    noun: str
    higher_is_better: bool
    group: Group
    explanation: str


_INFO = (
    MetricInfo(
        "completion_time_s",
        "Completion time",
        "s",
        "s",
        False,
        "efficiency",
        "From the start to the last step done; an attempt not completed shows how long it "
        "lasted and scores as if it took the cut-off.",
    ),
    MetricInfo(
        "path_length_cm",
        "Economy of motion (tool-tip path)",
        "cm",
        "cm of tip path",
        False,
        "efficiency",
        "Distance travelled by the instrument tips, all instruments together. Purposeful, "
        "direct movements keep it short.",
    ),
    MetricInfo(
        "master_workspace_range_cm",
        "Master workspace range",
        "cm",
        "cm of hand range",
        False,
        "efficiency",
        "Radius around its centre holding 95 % of a hand's positions while not clutching, "
        "for the hand that ranged wider. Clutch to keep your hands near the centre of the "
        "workspace.",
    ),
    MetricInfo(
        "collisions",
        "Collisions (all)",
        "",
        "collision",
        False,
        "safety",
        "Instrument-instrument collisions and instrument contacts with the scenery, counted "
        "as episodes (touches closer than 0.1 s count once).",
    ),
    MetricInfo(
        "instrument_collisions",
        "Instrument collisions",
        "",
        "instrument collision",
        False,
        "safety",
        "Times one instrument struck another.",
    ),
    MetricInfo(
        "environment_collisions",
        "Scenery contacts",
        "",
        "scenery contact",
        False,
        "safety",
        "Times an instrument touched the board, pegs, posts or tissue (not the task objects).",
    ),
    MetricInfo(
        "held_object_collisions",
        "Held object touching the scenery",
        "",
        "held-object contact",
        False,
        "safety",
        "Times an object you were carrying touched the scenery (a ring on its wire).",
    ),
    MetricInfo(
        "excessive_force_time_s",
        "Excessive force",
        "s",
        "s of excessive force",
        False,
        "safety",
        "Time the instrument tips pushed harder than the scenario's force limit, added "
        "over the instruments (two tips over it for 1 s count 2 s). The "
        "arm follows your hand stiffly: pressed on the board or a peg, a tip reaches "
        "about 20 N within a third of a millimetre, so any firm touch of rigid scenery "
        "counts here; the soft pad and light objects give way gradually.",
    ),
    MetricInfo(
        "peak_force_n",
        "Peak tip force",
        "N",
        "N of peak force",
        False,
        "safety",
        "The largest force any instrument tip exerted on tissue, objects or the scenery.",
    ),
    MetricInfo(
        "out_of_view_time_s",
        "Instruments out of view",
        "s",
        "s out of view",
        False,
        "safety",
        "Time instrument tips were outside the camera's view, added over the instruments. "
        "An instrument you cannot see can hurt tissue unseen.",
    ),
    MetricInfo(
        "drops",
        "Drops",
        "",
        "drop",
        False,
        "safety",
        "Objects dropped (out of the jaws without being placed).",
    ),
    MetricInfo(
        "clutch_count",
        "Clutch presses",
        "",
        "clutch press",
        False,
        "efficiency",
        "How often you clutched: each press of the clutch (or, for the endoscope, the "
        "camera pedal) while the instrument followed your hand. Holds of the watchdog and a "
        "device's own clutch taps are not counted. Clutching to recentre your hands is good "
        "practice; this is reported to compare attempts, not scored for its own sake.",
    ),
    MetricInfo(
        "idle_time_s",
        "Idle time",
        "s",
        "s idle",
        False,
        "efficiency",
        "Time every instrument tip moved slower than the idle speed (5 mm/s by default).",
    ),
    MetricInfo(
        "movements",
        "Movements",
        "",
        "movement",
        False,
        "efficiency",
        "Number of distinct tip movements (speed peaks above the movement speed), all "
        "instruments together. Fewer, purposeful movements are better.",
    ),
    MetricInfo(
        "ldlj",
        "Smoothness (log dimensionless jerk)",
        "",
        "",
        True,
        "efficiency",
        "Higher is smoother. Measured on each movement of the tips and averaged, longer "
        "movements counting more: a single smooth reach scores about -5 to -6, hesitant "
        "or corrected movements lower (whole exercises about -7 to -10).",
    ),
    MetricInfo(
        "sparc",
        "Smoothness (spectral arc length)",
        "",
        "",
        True,
        "efficiency",
        "Higher (closer to zero) is smoother. Measured on each tip's speed over the whole "
        "exercise and averaged over the instruments: a single smooth reach scores about "
        "-1.4, and many or hesitant, start-stop movements make it more negative.",
    ),
    MetricInfo(
        "tremor_rms_um",
        "Hand tremor",
        "µm",
        "µm of tremor",
        False,
        "efficiency",
        "Root-mean-square hand motion at 6-16 Hz while your hand is still (before the "
        "tremor filter), averaged over your hands. Surgeons typically show 50-200 µm. Not "
        "measured (n/a) when your hand was still for under 1 s in all: too little still "
        "time to tell tremor from movement.",
    ),
    MetricInfo(
        "timer_s",
        "Timer",
        "s",
        "s on the timer",
        False,
        "efficiency",
        "Time the scenario's timer of this name ran, from its start to its stop, added over "
        "each time it ran; a timer still running at the end counts up to the end.",
    ),
    MetricInfo(
        "needle_entry_error_mm",
        "Needle entry: distance from the mark",
        "mm",
        "mm from the entry mark",
        False,
        "efficiency",
        "How far from the entry mark the needle went in.",
    ),
    MetricInfo(
        "needle_exit_error_mm",
        "Needle exit: distance from the mark",
        "mm",
        "mm from the exit mark",
        False,
        "efficiency",
        "How far from the exit mark the needle came out.",
    ),
    MetricInfo(
        "needle_withdrawals",
        "Needle withdrawals",
        "",
        "needle withdrawal",
        False,
        "safety",
        "Times the needle was drawn back out through the wound it went in by (point "
        "still facing into the tissue) instead of being driven on: each one and the "
        "puncture that follows wound the tissue again.",
    ),
)

METRICS: dict[str, MetricInfo] = {m.name: m for m in _INFO}

_PER_INSTRUMENT = re.compile(r"^(?P<base>[a-z0-9_]+)\[(?P<arm>[^\]]+)\]$")

#: A scenario timer's metric, ``timer_s[NAME]``: NAME is a ``start_timer`` action's value.
TIMER_METRIC = re.compile(r"^timer_s\[(?P<timer>[^\[\]]+)\]$")


def timer_metric(timer: str) -> str:
    """The metric name of scenario timer ``timer`` (``reach`` -> ``timer_s[reach]``)."""
    return f"timer_s[{timer}]"


def timer_of(name: str) -> str | None:
    """The timer a metric name reads (``timer_s[reach]`` -> ``reach``), or None."""
    match = TIMER_METRIC.match(name)
    return match["timer"] if match else None


#: The metrics also measured per instrument, as ``BASE[ARM]`` (ARM an arm of the scene,
#: the scope included): what :class:`scenarios.live.MetricAccumulator` reports per arm.
PER_INSTRUMENT_METRICS = ("path_length_cm",)


def instrument_of(name: str) -> str | None:
    """The arm a per-instrument metric name reads (``path_length_cm[PSM1]`` -> ``PSM1``),
    or None (a timer's ``timer_s[NAME]`` is no instrument's)."""
    match = _PER_INSTRUMENT.match(name)
    return match["arm"] if match and match["base"] in PER_INSTRUMENT_METRICS else None


def family_of(name: str) -> str | None:
    """The base metric of a bracketed metric name (``timer_s[reach]`` -> ``timer_s``,
    ``path_length_cm[PSM1]`` -> ``path_length_cm``), or None for any other name."""
    if timer_of(name) is not None:
        return "timer_s"
    if instrument_of(name) is not None:
        return name.split("[", 1)[0]
    return None


def info(name: str) -> MetricInfo:
    """The description of ``name``; a per-instrument metric (``path_length_cm[PSM1]``)
    gets its base metric's description with the instrument in the label. An unknown name
    (a metric of a newer version, read from an old record) gets a plain description."""
    if name in METRICS:
        return METRICS[name]
    timer = timer_of(name)
    if timer is not None:
        return dataclasses.replace(
            METRICS["timer_s"], name=name, label=f"Timer '{timer}'", noun=f"s on timer '{timer}'"
        )
    match = _PER_INSTRUMENT.match(name)
    if match and match["base"] in METRICS:
        base = METRICS[match["base"]]
        return MetricInfo(
            name,
            f"{base.label}, {match['arm']}",
            base.unit,
            base.noun,
            base.higher_is_better,
            base.group,
            base.explanation,
        )
    return MetricInfo(name, name, "", "", False, "efficiency", "")


def direction(name: str) -> str:
    """``"higher is better"`` or ``"lower is better"``."""
    return "higher is better" if info(name).higher_is_better else "lower is better"


def with_unit(name: str, value: float | None, digits: int = 3) -> str:
    """``value`` with its unit, e.g. ``168 s``, ``2``, ``-35.5``; ``n/a`` for None."""
    if value is None:
        return "n/a"
    unit = info(name).unit
    if abs(value) < 1e-6:  # rounding noise in units people read (8.41e-25 µm of tremor)
        value = 0.0
    text = f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"
    return f"{text} {unit}" if unit else text


def ordered(names) -> list[str]:
    """``names`` in the glossary's order (time first, then motion, safety, smoothness):
    records store metrics with sorted keys, reports show them in a reading order."""
    order = {n: i for i, n in enumerate(METRICS)}
    return sorted(names, key=lambda n: (order.get(n.split("[")[0], len(order)), n))


def is_count(name: str) -> bool:
    """Whether a metric counts things (collisions, drops): integer axes and values."""
    about = info(name)
    return not about.unit and not about.higher_is_better


def safety_metrics() -> frozenset[str]:
    """Names of the "risk and safety" metrics."""
    return frozenset(n for n, m in METRICS.items() if m.group == "safety")


#: How a session stopped before its end (Ctrl-C, a ``stop`` request, SIGTERM) is said,
#: live (:func:`verdict_text`) and in the records (``scenarios.records.ENDINGS``): the
#: console said "stopped before the end" where the report said "stopped by the user".
STOPPED_WORDS = "stopped by the user"


def verdict_text(passed: bool, interrupted: bool = False) -> str:
    """The verdict as every surface says it (terminal, window, headset): a run stopped
    before its end fails, and says why, whatever its score so far. Here, not in
    :mod:`scenarios.scoring`, because the headset's Python has no pydantic."""
    if interrupted:
        return f"FAIL ({STOPPED_WORDS})"
    return "PASS" if passed else "FAIL"
