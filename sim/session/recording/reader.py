"""Reading a session recording back: metadata, the commands per step, the recorded tool
tips and the score (see :mod:`sim.session.recording.mcap_writer` for the layout)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from haptics.master import MasterSample
from sim.errors import SimError
from sim.session.commands import ArmCommand
from sim.session.recording.mcap_writer import FORMAT_VERSION, METADATA_NAME

_COMMAND_TOPICS = ("servo_cp", "servo_jp", "jaw/servo_jp", "master/measured_cp")


@dataclass
class Recording:
    """What a recording holds, as plain data.

    Attributes:
        metadata: the ``surgisim`` metadata record (scenario, YAML, seed, driver, config).
        commands: (physics step, steps held, commands by arm), in order.
        tips: per pose frame's physics step, each arm's tool-tip pose ``X_WT`` (4x4).
        score: the ``session/score`` message (result, metrics), or None.
        topics: topic -> (schema name, message encoding, message count).
    """

    metadata: dict[str, str]
    commands: list[tuple[int, int, dict[str, ArmCommand]]]
    tips: dict[int, dict[str, np.ndarray]]
    score: dict | None
    topics: dict[str, tuple[str, str, int]] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return int(self.metadata["seed"])

    @property
    def scenario_yaml(self) -> str:
        return self.metadata.get("scenario_yaml", "")


def read_recording(path) -> Recording:
    """Read ``path`` (an MCAP written by :class:`McapRecorder`).

    Raises:
        SimError: not a surgisim recording, or of a newer format.
    """
    from mcap.reader import make_reader

    path = Path(path)
    if not path.is_file():
        raise SimError(f"recording {str(path)!r} does not exist.")
    parts: dict[int, dict] = defaultdict(dict)
    tips: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
    score = None
    metadata: dict[str, str] = {}
    counts: dict[str, int] = defaultdict(int)
    channels = {}
    with path.open("rb") as f:
        reader = make_reader(f)
        for record in reader.iter_metadata():
            if record.name == METADATA_NAME:
                metadata = dict(record.metadata)
        if not metadata:
            raise SimError(
                f"{path} has no {METADATA_NAME!r} metadata: not a surgisim recording "
                "(write one with surgisim run --record FILE.mcap)."
            )
        if int(metadata.get("format_version", 0)) > FORMAT_VERSION:
            raise SimError(
                f"{path} is recording format {metadata['format_version']}; this surgisim "
                f"reads up to {FORMAT_VERSION}: upgrade surgisim."
            )
        for schema, channel, message in reader.iter_messages():
            topic = channel.topic
            counts[topic] += 1
            channels[topic] = (schema.name if schema else "", channel.message_encoding)
            if channel.message_encoding != "json":
                continue
            arm, _, kind = topic.partition("/")
            if kind in _COMMAND_TOPICS:
                data = json.loads(message.data)
                key = (data["step"], data["steps"])
                parts[key].setdefault(arm, {}).setdefault(kind, []).append(data)
            elif kind == "measured_js":
                data = json.loads(message.data)
                tips[data["step"]][arm] = np.array(data["X_WT"], dtype=float).reshape(4, 4)
            elif topic == "session/score":
                score = json.loads(message.data)
    commands = [(step, steps, _commands(arms)) for (step, steps), arms in sorted(parts.items())]
    topics = {t: (*channels[t], counts[t]) for t in sorted(counts)}
    return Recording(metadata, commands, dict(tips), score, topics)


def _commands(arms: dict[str, dict]) -> dict[str, ArmCommand]:
    out = {}
    for arm, kinds in arms.items():
        servo_cp = servo_jp = jaw = None
        frame = "world"
        if "servo_cp" in kinds:
            data = kinds["servo_cp"][-1]
            servo_cp = np.array(data["servo_cp"], dtype=float).reshape(4, 4)
            frame = data.get("frame", "world")
        if "servo_jp" in kinds:
            servo_jp = np.array(kinds["servo_jp"][-1]["servo_jp"], dtype=float)
        if "jaw/servo_jp" in kinds:
            jaw = float(kinds["jaw/servo_jp"][-1]["jaw_rad"])
        samples = sorted(kinds.get("master/measured_cp", []), key=lambda d: d["index"])
        master = tuple(
            MasterSample(
                d["time_s"],
                np.array(d["X_MH"], dtype=float).reshape(4, 4),
                d["gripper_rad"],
                d["clutch"],
            )
            for d in samples
        )
        out[arm] = ArmCommand(master, servo_cp, frame, servo_jp, jaw)
    return out
