"""Re-scoring a recording under an edited rubric.

A recording holds the commands, the seed and the score, not the per-row trace. A rubric
that keeps the thresholds is applied to the recorded metrics. One that changes them (force
limit, idle or movement speed) needs the metrics measured again, from a trace: the
recording is replayed (the session re-run from its recorded inputs and seed, as
``surgisim replay`` does) to regenerate it, and the replay must reproduce the recording
to replay's tolerance, else the trace would be another session's and the re-score is
refused. A rubric of another scenario is refused unless forced, as for a stored session.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from sim.errors import SimError
from sim.session.recording import TOLERANCE_M, TOLERANCE_RAD
from sim.session.recording.reader import read_recording


def rescore_recording(
    path,
    scenario=None,
    *,
    force: bool = False,
    notify: Callable[[str], None] | None = None,
):
    """(original, new) :class:`ScoreResult` of a recording; ``scenario`` (a name or a YAML
    path) gives the rubric, else the recorded scenario's own.

    Args:
        notify: told, in words, before the recording is replayed (it takes about as
            long as the session ran headless).

    Raises:
        SimError: the recording has no score (cut short), the rubric is another
            scenario's (without ``force``), or the thresholds changed and a replay does
            not reproduce the recording.
    """
    from scenarios.archive import result_from_dict
    from scenarios.loader import load_scenario, parse_scenario
    from scenarios.scoring import running_in, score_session

    rec = read_recording(path)
    if rec.score is None:
        why = rec.cut_short or f"{path} was cut short before the session ended"
        raise SimError(
            f"{why}; it has no score (session/score) to re-score. surgisim replay {path} "
            "replays the part it holds."
        )
    original = result_from_dict(rec.score["result"])
    recorded = parse_scenario(rec.scenario_yaml, f"<scenario in {path}>")
    spec = recorded if scenario is None else load_scenario(scenario)
    if spec.name != recorded.name and not force:
        raise SimError(
            f"{path} records a {recorded.name!r} session; the rubric given is the one of "
            f"{spec.name!r}. "
            f"Give a rubric of {recorded.name!r}, or --force to apply it anyway."
        )
    if spec.scoring.thresholds == recorded.scoring.thresholds:
        metrics = rec.score["metrics"]
        source = "as recorded"
    else:
        if notify is not None:
            notify(
                "the rubric changes the thresholds the metrics were measured with: "
                f"replaying {path} to measure them again."
            )
        metrics, source = _measured_by_replay(rec, path, spec, recorded)
    # the timers' events are the exercise engine's, whatever the thresholds: as recorded
    new = score_session(metrics, rec.score["completed"], spec.scoring, running_in(original))
    context = {
        "scenario": spec.name,
        "session_scenario": recorded.name,
        "forced": spec.name != recorded.name,
        "metrics_from": source,
        "rubric": str(scenario) if scenario is not None else f"{recorded.name} as recorded",
    }
    return original, dataclasses.replace(new, context=context)


def _measured_by_replay(rec, path, spec, recorded) -> tuple[dict, str]:
    """The metrics of a replay of ``rec`` under ``spec``'s thresholds, and where they
    came from in words; refused when the replay is not the recorded session."""
    from scenarios.evaluate import measure
    from sim.session.provenance import surgisim_version
    from sim.session.recording.replay import replay

    result = replay(rec)
    turned = not result.max_rotation_error_rad <= TOLERANCE_RAD
    if not result.max_position_error_m <= TOLERANCE_M or turned or not result.frames_compared:
        cause = result.likely_cause(surgisim_version()) or (
            "recorded on another machine or surgisim version?"
        )
        raise SimError(
            f"the rubric changes the thresholds the metrics were measured with "
            f"({spec.scoring.thresholds.model_dump()} instead of "
            f"{recorded.scoring.thresholds.model_dump()}), so they must be measured again "
            f"from a replay of {path}; but the replay does not reproduce the recording "
            f"(tool tips up to {result.max_position_error_m:.3g} m apart and "
            f"{result.max_rotation_error_rad:.3g} rad turned over {result.frames_compared} "
            f"pose frames, more than replay's tolerance of {TOLERANCE_M:g} m and "
            f"{TOLERANCE_RAD:g} rad; {cause}), so its "
            "metrics would be another session's. Keep the recorded thresholds, or record "
            "the session again here."
        )
    metrics = measure(result.trace, spec.scoring.thresholds)
    source = (
        f"measured again from a replay of the recording ({result.frames_compared} pose "
        f"frames, tool tips within {result.max_position_error_m:.3g} m of the recording)"
    )
    return metrics, source
