"""Reading a session recording back: metadata, the commands per step, the recorded tool
tips and the score (see :mod:`sim.session.recording.mcap_writer` for the layout)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from mcap.records import Channel, Message, Metadata, Schema
from mcap.stream_reader import StreamReader

from haptics.master import MasterSample
from sim.errors import SimError
from sim.session.commands import ArmCommand
from sim.session.recording.mcap_writer import FORMAT_VERSION, METADATA_NAME
from sim.session.recording.partial import being_recorded, is_partial, partial_path, target_of

_COMMAND_TOPICS = ("servo_cp", "servo_jp", "jaw/servo_jp", "master/measured_cp")
#: The 8 bytes an MCAP file begins and ends with.
MCAP_MAGIC = b"\x89MCAP0\r\n"


@dataclass
class Recording:
    """What a recording holds, as plain data.

    Attributes:
        metadata: the ``surgisim`` metadata record (scenario, YAML, seed, driver, config).
        commands: (physics step, steps held, commands by arm), in order.
        tips: per pose frame's physics step, each arm's tool-tip pose ``X_WT`` (4x4).
        score: the ``session/score`` message (result, metrics), or None.
        topics: topic -> (schema name, message encoding, message count).
        cut_short: None for a whole recording; else why it ends before the session did
            (a file cut off mid-write, a run's partial file), in words naming the file.
            What it holds is the session's beginning, up to its last complete block of
            messages.
    """

    metadata: dict[str, str]
    commands: list[tuple[int, int, dict[str, ArmCommand]]]
    tips: dict[int, dict[str, np.ndarray]]
    score: dict | None
    topics: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    cut_short: str | None = None

    @property
    def seed(self) -> int:
        return int(self.metadata["seed"])

    @property
    def scenario_yaml(self) -> str:
        return self.metadata.get("scenario_yaml", "")


def read_recording(path) -> Recording:
    """Read ``path`` (an MCAP written by :class:`McapRecorder`).

    The file is read from its start, record by record, so that a recording cut off
    mid-write (a run killed while recording, a copy not finished) gives back what it holds
    up to its last complete block of messages, with :attr:`Recording.cut_short` saying so.

    Raises:
        SimError: the file is missing, empty, not an MCAP file, damaged, not a surgisim
            recording, of a newer format, or cut off before any message; the message
            names the file and says which.
    """
    path = Path(path)
    if not path.is_file():
        raise SimError(_missing(path))
    size = path.stat().st_size
    with path.open("rb") as f:
        if size == 0:
            raise SimError(f"{path} is empty: not a recording ({_WRITE_ONE}).")
        if f.read(len(MCAP_MAGIC)) != MCAP_MAGIC:
            raise SimError(
                f"{path} is not an MCAP file (it does not begin with MCAP's magic bytes): "
                f"not a recording ({_WRITE_ONE})."
            )
        f.seek(-min(size, len(MCAP_MAGIC)), 2)
        ends_whole = f.read() == MCAP_MAGIC
        f.seek(0)
        content = _Content()
        records = StreamReader(f, validate_crcs=True, record_size_limit=size).records
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except Exception as exc:  # whatever mcap, struct or zstd raise on bad bytes
                if ends_whole:
                    raise SimError(
                        f"{path} is damaged ({type(exc).__name__}: {exc or 'unreadable'}, "
                        f"after {content.messages} readable messages): it cannot be read as "
                        "a recording; record the session again."
                    ) from None
                content.cut_short = _cut_short(path)
                break
            content.add(record)
    if content.cut_short is None and content.score is None and is_partial(path):
        content.cut_short = _cut_short(path, ended=True)
    metadata = content.metadata
    if not metadata:
        if content.cut_short is not None:
            raise SimError(
                f"{content.cut_short}; it stops before its surgisim metadata: "
                "there is nothing in it to replay."
            )
        raise SimError(
            f"{path} has no {METADATA_NAME!r} metadata: not a surgisim recording ({_WRITE_ONE})."
        )
    if int(metadata.get("format_version", 0)) > FORMAT_VERSION:
        raise SimError(
            f"{path} is recording format {metadata['format_version']}; this surgisim "
            f"reads up to {FORMAT_VERSION}: upgrade surgisim."
        )
    if content.cut_short is not None and not content.messages:
        raise SimError(
            f"{content.cut_short}; it stops before its first block of messages: there is "
            "nothing in it to replay."
        )
    commands = [
        (step, steps, _commands(arms)) for (step, steps), arms in sorted(content.parts.items())
    ]
    return Recording(
        metadata,
        commands,
        dict(content.tips),
        content.score,
        content.topics(),
        content.cut_short,
    )


_WRITE_ONE = "write one with surgisim run --record FILE.mcap"


def _missing(path: Path) -> str:
    """Why ``path`` cannot be read, pointing at its partial file when a run left one."""
    partial = partial_path(path)
    if not is_partial(path) and partial.is_file():
        if being_recorded(partial):
            return (
                f"recording {str(path)!r} does not exist yet: a run is recording it now "
                f"(into {partial}); wait until the run ends."
            )
        return (
            f"recording {str(path)!r} does not exist, but {partial} does: a run was killed "
            f"while recording it; surgisim replay {partial} replays what it holds."
        )
    return f"recording {str(path)!r} does not exist."


def _cut_short(path: Path, *, ended: bool = False) -> str:
    """Why a recording ends before its session did, in words naming the file."""
    if is_partial(path):
        target = target_of(path)
        if being_recorded(path):
            return (
                f"{path} is the recording a run is writing now (to {target}); "
                "it holds what was written so far"
            )
        how = (
            "stopped by an error or a second Ctrl-C"
            if ended
            else "killed, or its disk filled (the run then said so),"
        )
        return f"{path} is unfinished: a run was {how} while recording to {target}"
    return (
        f"{path} is truncated: the MCAP file stops mid-write (a run killed while recording, "
        "or a copy that did not finish)"
    )


class _Content:
    """What the records read so far hold (see :class:`Recording`)."""

    def __init__(self) -> None:
        self.parts: dict[tuple[int, int], dict] = defaultdict(dict)
        self.tips: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
        self.score: dict | None = None
        self.metadata: dict[str, str] = {}
        self.counts: dict[str, int] = defaultdict(int)
        self.schemas: dict[int, str] = {}
        self.channels: dict[int, tuple[str, int, str]] = {}
        self.messages = 0
        self.cut_short: str | None = None

    def add(self, record) -> None:
        if isinstance(record, Schema):
            self.schemas[record.id] = record.name
        elif isinstance(record, Channel):
            self.channels[record.id] = (record.topic, record.schema_id, record.message_encoding)
        elif isinstance(record, Metadata):
            if record.name == METADATA_NAME:
                self.metadata = dict(record.metadata)
        elif isinstance(record, Message):
            self._message(record)

    def _message(self, message: Message) -> None:
        topic, _, encoding = self.channels[message.channel_id]
        self.messages += 1
        self.counts[topic] += 1
        if encoding != "json":
            return
        arm, _, kind = topic.partition("/")
        if kind in _COMMAND_TOPICS:
            data = json.loads(message.data)
            key = (data["step"], data["steps"])
            self.parts[key].setdefault(arm, {}).setdefault(kind, []).append(data)
        elif kind == "measured_js":
            data = json.loads(message.data)
            self.tips[data["step"]][arm] = np.array(data["X_WT"], dtype=float).reshape(4, 4)
        elif topic == "session/score":
            self.score = json.loads(message.data)

    def topics(self) -> dict[str, tuple[str, str, int]]:
        """topic -> (schema name, message encoding, message count), by topic."""
        out = {}
        for topic, schema_id, encoding in self.channels.values():
            if topic in self.counts:
                out[topic] = (self.schemas.get(schema_id, ""), encoding, self.counts[topic])
        return dict(sorted(out.items()))


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
        if servo_cp is not None or servo_jp is not None:
            # a recording made before such a command was refused: the servo goal drove
            # the arm and the samples were dropped, as they are here
            master = ()
        out[arm] = ArmCommand(master, servo_cp, frame, servo_jp, jaw)
    return out
