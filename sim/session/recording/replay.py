"""Re-simulating a recording from its inputs and seed, and comparing it with the recording.

A session is deterministic headless (same scenario, seed, configuration and commands:
the same run, bit for bit, on one machine), so a replay on the machine that recorded
reproduces every recorded tool-tip pose exactly; elsewhere the last bits of floating
point differ and contacts may amplify them. Recordings made with a live clock (the
server) replay on simulated time: their teleoperation timing is not reproduced.

A recording cut short (a run killed while recording) replays up to its last recorded
pose frame: the commands before it are all in the file, those after it are not.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np

from kinematics.transforms import rotation_angle
from sim.session import provenance
from sim.session.recording.reader import Recording, read_recording


@dataclass
class ReplayResult:
    """How a replay compares with its recording.

    Attributes:
        frames_compared: pose frames compared (each: every arm's tool tip).
        max_position_error_m: largest tool-tip position difference (m).
        max_rotation_error_rad: largest tool-tip orientation difference (rad).
        recorded_score, replayed_score: the score in the file and the replay's (None
            when the file has none).
        trace: the replayed session's trace (for exports).
        cut_short: None, or why the recording ends before its session did (then only
            the part it holds was replayed; see :attr:`Recording.cut_short`).
        sim_time_s: the simulated time replayed (s).
        recorded_by: the surgisim version that made the recording (None: the file does
            not say; surgisims before 2026-12-07 did not): the simulation changes between
            versions, so a replay on another is not expected to be bit-exact.
        changed_plugins: the plug-ins whose module's source differs from the digest the
            recording keeps (``"the tremor filter my_plugins:ma"``); empty also for a
            recording from before digests were kept (it cannot tell).
    """

    frames_compared: int
    max_position_error_m: float
    max_rotation_error_rad: float
    recorded_score: float | None
    replayed_score: float | None
    trace: object = None
    cut_short: str | None = None
    sim_time_s: float = 0.0
    recorded_by: str | None = None
    changed_plugins: tuple[str, ...] = ()

    def likely_cause(self, here: str) -> str:
        """Why a replay that differs most likely does, in words ("" when nothing
        changed that the file can tell): a plug-in (IK solver, tremor filter) whose
        module changed since recording, or another surgisim version than ``here``."""
        causes = [f"{name} changed since recording" for name in self.changed_plugins]
        if self.recorded_by != here:
            who = (
                f"surgisim {self.recorded_by}"
                if self.recorded_by
                else "an older surgisim (before 2026-12-07: the file does not say which)"
            )
            causes.append(
                f"it was recorded by {who} and replayed by surgisim {here}: the versions differ"
            )
        if not causes:
            return ""
        return (
            f"likely cause: {'; '.join(causes)} (a replay is bit-exact only with the "
            "plug-ins, surgisim version and machine that recorded)"
        )


def session_config(data: dict):
    """Rebuild a :class:`SessionConfig` written by ``config_dict``."""
    from haptics.teleop import TeleopConfig
    from sim.session.session import SessionConfig

    kwargs = {}
    for f in dataclasses.fields(SessionConfig):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name in ("teleop", "scope_teleop"):
            names = {g.name for g in dataclasses.fields(TeleopConfig)}
            value = TeleopConfig(**{k: _tuples(v) for k, v in value.items() if k in names})
        kwargs[f.name] = value
    return SessionConfig(**kwargs)


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def replay(recording) -> ReplayResult:
    """Re-run ``recording`` (a path or a :class:`Recording`) and compare tool-tip poses."""
    from scenarios.evaluate import score_trace
    from sim.session.session import Session
    from sim.world.scenario_scene import parse_world_scenario

    rec = recording if isinstance(recording, Recording) else read_recording(recording)
    scenario = parse_world_scenario(
        rec.scenario_yaml, f"<{rec.metadata.get('scenario')} in recording>"
    )
    config = session_config(json.loads(rec.metadata.get("config", "{}")))
    worst = [0.0, 0.0, 0]
    session = Session(scenario, seed=rec.seed, config=config)
    # after the session resolved (imported) them: one that no longer loads failed there
    changed = provenance.changed_plugins(rec.metadata, provenance.session_plugins(config))

    def compare() -> None:
        expected = rec.tips.get(session.world.step_count)
        if expected is None:
            return
        worst[2] += 1
        for arm, X in expected.items():
            Y = session.arms[arm].measured_cp("world")
            worst[0] = max(worst[0], float(np.linalg.norm(Y[:3, 3] - X[:3, 3])))
            worst[1] = max(worst[1], rotation_angle(Y[:3, :3].T @ X[:3, :3]))

    try:
        compare()
        last = max(rec.tips) if rec.tips else 0
        if rec.score is not None:
            last = max(last, int(rec.score.get("step", 0)))
        given = rec.commands
        if rec.cut_short is not None:  # the commands after the last frame may be missing
            given = [c for c in given if c[0] < last]
        for step, steps, commands in given:
            while session.world.step_count < step:
                session.advance(None)
                compare()
            session.advance(commands, steps=steps)
            compare()
        while session.world.step_count < last:
            session.advance(None)
            compare()
        trace = session.trace()
        _, result = score_trace(scenario, trace)
        sim_time_s = session.time_s
    finally:
        session.close()
    recorded = None if rec.score is None else rec.score["result"]["score"]
    return ReplayResult(
        worst[2],
        worst[0],
        worst[1],
        recorded,
        result.score,
        trace,
        rec.cut_short,
        sim_time_s,
        rec.metadata.get("surgisim_version") or None,
        tuple(changed),
    )
