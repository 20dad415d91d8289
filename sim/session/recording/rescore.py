"""Re-scoring a recording under an edited rubric, from its recorded metrics.

A recording holds the commands and the score, not the per-row trace, so its metrics
cannot be measured again here: a rubric that changes the thresholds (force limit, idle
or movement speed) is refused, with the way to get them applied (replay the recording,
which re-runs the session and measures it). A rubric of another scenario is refused
unless forced, as for a stored session.
"""

from __future__ import annotations

import dataclasses

from sim.errors import SimError
from sim.session.recording.reader import read_recording


def rescore_recording(path, scenario=None, *, force: bool = False):
    """(original, new) :class:`ScoreResult` of a recording; ``scenario`` (a name or a YAML
    path) gives the rubric, else the recorded scenario's own.

    Raises:
        SimError: the recording has no score, the rubric is another scenario's (without
            ``force``), or it changes the thresholds the metrics were measured with.
    """
    from scenarios.archive import result_from_dict
    from scenarios.loader import load_scenario, parse_scenario
    from scenarios.scoring import score_session

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
    if spec.scoring.thresholds != recorded.scoring.thresholds:
        raise SimError(
            f"the rubric changes the thresholds the metrics were measured with "
            f"({spec.scoring.thresholds.model_dump()} instead of "
            f"{recorded.scoring.thresholds.model_dump()}); a recording keeps no trace to "
            "measure them again: replay it (surgisim replay) with the edited scenario."
        )
    new = score_session(rec.score["metrics"], rec.score["completed"], spec.scoring)
    context = {
        "scenario": spec.name,
        "session_scenario": recorded.name,
        "forced": spec.name != recorded.name,
        "metrics_from": "as recorded",
        "rubric": str(scenario) if scenario is not None else f"{recorded.name} as recorded",
    }
    return original, dataclasses.replace(new, context=context)
