"""Re-scoring a recording under an edited rubric, from its recorded metrics (the session
is not re-run, as for a stored session)."""

from __future__ import annotations

from sim.errors import SimError
from sim.session.recording.reader import read_recording


def rescore_recording(path, scenario=None):
    """(original, new) :class:`ScoreResult` of a recording; ``scenario`` (a name or a YAML
    path) gives the rubric, else the recorded scenario's own."""
    from scenarios.archive import result_from_dict
    from scenarios.loader import load_scenario, parse_scenario
    from scenarios.scoring import score_session

    rec = read_recording(path)
    if rec.score is None:
        raise SimError(
            f"{path} has no score (session/score): the recording was cut short before the "
            "session ended."
        )
    original = result_from_dict(rec.score["result"])
    if scenario is None:
        rubric = parse_scenario(rec.scenario_yaml, f"<scenario in {path}>").scoring
    else:
        rubric = load_scenario(scenario).scoring
    new = score_session(rec.score["metrics"], rec.score["completed"], rubric)
    return original, new
