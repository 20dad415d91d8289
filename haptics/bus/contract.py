"""The device bus wire contract (docs/bus.md, version 1) as data and two functions.

Every message is two ZeroMQ frames ``[topic, payload]``: a UTF-8 topic
``<component>/<crtk name>`` and one msgpack map. This module is the single home of the
rules: each topic kind is one :class:`TopicSpec` in :data:`TOPICS` (its fields, their
types and lengths); :func:`encode` and :func:`decode` apply them; requests and replies on
the ROUTER socket have their own specs in :data:`REQUESTS`. A receiver never trusts a
sender: :func:`decode` raises :class:`~haptics.bus.errors.BusMessageError` with a
``reason`` to count and a message that says what was wrong and what was expected.

Numbers are SI units; quaternions are ``[x, y, z, w]`` (xyzw); every number anywhere in a
payload must be finite.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from haptics.bus.errors import BusMessageError
from kinematics.errors import closest_names
from kinematics.transforms import matrix_to_quat_xyzw, quat_xyzw_to_matrix

__all__ = [
    "CONTRACT_VERSION",
    "DEFAULT_PORT",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_MESSAGE_BYTES",
    "MAX_REPLY_BYTES",
    "OPERATING_STATES",
    "REQUESTS",
    "TOPICS",
    "TO_CLIENT",
    "TO_SERVER",
    "Message",
    "TopicSpec",
    "decode",
    "decode_reply",
    "decode_request",
    "encode",
    "encode_reply",
    "encode_request",
    "pose_from_payload",
    "pose_payload",
    "topic_spec",
]

#: The ``v`` of every message this code sends; anything >= 1 is accepted.
CONTRACT_VERSION = 1
#: The range of every integer on the wire (a signed 64-bit int, as C and Java clients have).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Base port P: server PUB at P, SUB at P + 1, ROUTER at P + 2.
DEFAULT_PORT = 5570
#: Largest message (both frames together, bytes) a receiver accepts on a topic or request.
MAX_MESSAGE_BYTES = 65536
#: Largest reply a client accepts: a ``hello`` reply may carry the whole scene description.
MAX_REPLY_BYTES = 16 * 1024 * 1024
#: Directions of a topic: device -> server, and server -> clients (viewers, devices).
TO_SERVER = "to_server"
TO_CLIENT = "to_client"
#: Values of ``<arm>/operating_state``'s ``state``.
OPERATING_STATES = ("DISABLED", "ALIGNING", "FOLLOWING", "CLUTCHED", "HOLDING", "SERVO", "IDLE")
#: A device or arm name: letters first, then letters, digits, ``_`` or ``-`` (32 at most).
NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_\-]{0,31}"
#: Names that cannot be devices or arms because fixed topics start with them.
RESERVED_COMPONENTS = ("scene", "session")

_NAME_RE = re.compile(NAME_PATTERN + r"\Z")
_QUAT_NORM_TOLERANCE = 0.1

# --------------------------------------------------------------------------- field checks
# Each check takes a value and returns '' when it is fine, else what is wrong with it.
Check = Callable[[Any], str]


# Checks run on what msgpack decoded (encode() checks its own output the same way), so
# values are plain int, float, bool, str, bytes, list, dict or None: exact type tests are
# both right (bool is not a number here) and the fastest.
_NUMBER_TYPES = frozenset((int, float))


def _is_number(x) -> bool:
    return type(x) in _NUMBER_TYPES


def _is_int(x) -> bool:
    return type(x) is int


def _kind(x) -> str:
    return "nil" if x is None else type(x).__name__


def number(minimum: float | None = None) -> Check:
    """A number (int or float, not bool), optionally ``>= minimum``."""

    def check(x) -> str:
        if not _is_number(x):
            return f"is {_kind(x)}, expected a number"
        if minimum is not None and math.isfinite(x) and x < minimum:  # the finite scan: NaN, inf
            return f"is {x}, expected >= {minimum}"
        return ""

    return check


def integer(minimum: int | None = None) -> Check:
    """An integer (not bool) that fits a signed 64-bit int, optionally ``>= minimum``.

    msgpack carries integers up to 2**64 - 1; the upper half of that range is no count a
    sender could reach, and a value there (a ``seq`` of 2**64 - 1) would grow past what
    msgpack can send again once the server adds to it (docs/bus.md: integers are int64).
    """

    def check(x) -> str:
        if not _is_int(x):
            return f"is {_kind(x)}, expected an integer"
        if minimum is not None and x < minimum:
            return f"is {x}, expected >= {minimum}"
        if not INT64_MIN <= x <= INT64_MAX:
            return f"is {x}, expected an integer from {INT64_MIN} to {INT64_MAX} (int64)"
        return ""

    return check


def boolean(x) -> str:
    """A msgpack bool (true/false, not 0/1)."""
    return "" if isinstance(x, bool) else f"is {_kind(x)}, expected true or false"


def text(x) -> str:
    """A UTF-8 string."""
    return "" if isinstance(x, str) else f"is {_kind(x)}, expected a string"


def one_of(*values: str) -> Check:
    """A string among ``values``."""

    def check(x) -> str:
        if not isinstance(x, str):
            return f"is {_kind(x)}, expected one of {list(values)}"
        if x not in values:
            return f"is {x!r}, expected one of {list(values)}." + closest_names(x, values)
        return ""

    return check


def numbers(length: int | None = None) -> Check:
    """An array of numbers, of exactly ``length`` elements when given."""

    def check(x) -> str:
        if not isinstance(x, list):
            return f"is {_kind(x)}, expected an array of numbers"
        if length is not None and len(x) != length:
            return f"has {len(x)} elements, expected {length}"
        for e in x:  # a plain loop: the hot path of every sample
            if type(e) not in _NUMBER_TYPES:
                break
        else:
            return ""
        i, e = next((i, e) for i, e in enumerate(x) if not _is_number(e))
        return f"[{i}] is {_kind(e)}, expected a number"

    return check


def texts(x) -> str:
    """An array of strings."""
    if not isinstance(x, list):
        return f"is {_kind(x)}, expected an array of strings"
    for i, e in enumerate(x):
        if not isinstance(e, str):
            return f"[{i}] is {_kind(e)}, expected a string"
    return ""


def quaternion(x) -> str:
    """A unit quaternion ``[x, y, z, w]`` (norm within 10% of 1; receivers normalise)."""
    problem = numbers(4)(x)
    if problem:
        return problem
    if not all(map(math.isfinite, x)):
        return ""  # a NaN or infinity is the finite scan's to report (non_finite), not a norm
    norm = math.sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2] + x[3] * x[3])
    if not abs(norm - 1.0) <= _QUAT_NORM_TOLERANCE:  # also refuses a norm that overflows
        return f"has norm {norm:.3g}, expected a unit quaternion [x, y, z, w]"
    return ""


def rows(width: int) -> Check:
    """An array of arrays of ``width`` numbers (e.g. poses ``[x, y, z, qx, qy, qz, qw]``)."""
    row = numbers(width)

    def check(x) -> str:
        if not isinstance(x, list):
            return f"is {_kind(x)}, expected an array of {width}-number arrays"
        for i, e in enumerate(x):
            problem = row(e)
            if problem:
                return f"[{i}] {problem}"
        return ""

    return check


def mapping(x) -> str:
    """A map with string keys (msgpack map)."""
    if not isinstance(x, dict):
        return f"is {_kind(x)}, expected a map"
    return ""


def number_map_or_nil(x) -> str:
    """A map from names to numbers or nil (live metrics)."""
    if not isinstance(x, dict):
        return f"is {_kind(x)}, expected a map of name -> number or nil"
    for k, e in x.items():
        if e is not None and not _is_number(e):
            return f"[{k!r}] is {_kind(e)}, expected a number or nil"
    return ""


def number_or_nil(x) -> str:
    """A number, or nil when there is none yet."""
    return "" if x is None or _is_number(x) else f"is {_kind(x)}, expected a number or nil"


def events(x) -> str:
    """An array of ``{time_s, kind, data}`` maps."""
    if not isinstance(x, list):
        return f"is {_kind(x)}, expected an array of events"
    fields = {"time_s": number(), "kind": text}
    for i, e in enumerate(x):
        if not isinstance(e, dict):
            return f"[{i}] is {_kind(e)}, expected a map with time_s, kind and data"
        for name, check in fields.items():
            if name not in e:
                return f"[{i}] has no {name!r}"
            problem = check(e[name])
            if problem:
                return f"[{i}].{name} {problem}"
    return ""


# --------------------------------------------------------------------------- topic specs
@dataclass(frozen=True)
class TopicSpec:
    """One topic kind of the contract: its pattern, direction, fields and meaning.

    Attributes:
        pattern: the topic with ``<dev>`` or ``<arm>`` standing for a name, e.g.
            ``"<dev>/measured_cp"``; a fixed topic has no placeholder (``"scene/state"``).
        direction: :data:`TO_SERVER` or :data:`TO_CLIENT`.
        fields: required field name -> check (besides the envelope ``v``, ``stamp_s``,
            ``seq`` and, towards clients, ``used_seq``).
        doc: one line for docs/bus.md.
        rate: how often it is sent, as docs/bus.md says it.
        extra: an optional check across fields (e.g. names and values of equal length).
    """

    pattern: str
    direction: str
    fields: Mapping[str, Check]
    doc: str
    rate: str = ""
    extra: Callable[[dict], str] | None = None

    @property
    def suffix(self) -> str:
        """What follows the placeholder (``"measured_cp"``), or the whole fixed topic."""
        return self.pattern.split("/", 1)[1] if self.pattern.startswith("<") else self.pattern

    @property
    def is_fixed(self) -> bool:
        """True for topics without a name placeholder (``scene/state``, ``session/...``)."""
        return not self.pattern.startswith("<")


def _same_length(a: str, b: str) -> Callable[[dict], str]:
    def check(p: dict) -> str:
        if len(p[a]) != len(p[b]):
            return f"{a!r} has {len(p[a])} elements but {b!r} has {len(p[b])}; expected equal"
        return ""

    return check


#: The fastest display a ``frame_timing`` report may describe (Hz): 10x the fastest
#: monitors sold (~1 kHz), so no real display is refused; a frame period below its
#: period (0.1 ms) is no display's.
MAX_DISPLAY_HZ = 10_000.0
#: Shortest frame period (and display period) a report may give (s).
MIN_FRAME_PERIOD_S = 1.0 / MAX_DISPLAY_HZ
#: Longest frame period a report may give (s): a display frozen for a minute is still a
#: display that froze, and is worth its record; a longer "period" is no frame rate.
MAX_FRAME_PERIOD_S = 60.0
#: Longest display period ``target_period_s`` may give (s): a display refreshes at least
#: once a second.
MAX_TARGET_PERIOD_S = 1.0
#: Longest a client may have run when it reports (s; 30 days): with
#: :data:`MAX_DISPLAY_HZ`, the most ``frames`` a report may count (2.6e10). The server
#: bounds each client's later counts by the time between its reports as well
#: (:class:`haptics.bus.frame_timing.FrameTimingLog`).
MAX_CLIENT_RUN_S = 30 * 24 * 3600.0
#: Most frames a ``frame_timing`` report may count.
MAX_FRAMES = int(MAX_DISPLAY_HZ * MAX_CLIENT_RUN_S)


def _frame_timing(p: dict) -> str:
    """``<dev>/frame_timing``: missed frames are frames; the p50 is not above the p99;
    the optional ``target_period_s`` (the display's own period) is a positive number; and
    every figure is one a display can show (docs/bus.md): periods from
    :data:`MIN_FRAME_PERIOD_S` to :data:`MAX_FRAME_PERIOD_S` (both 0: no frame period in
    the window), a display period up to :data:`MAX_TARGET_PERIOD_S`, at most
    :data:`MAX_FRAMES` frames (a client's values are stored in the trainee's record)."""
    if p["missed"] > p["frames"]:
        return f"'missed' is {p['missed']} but 'frames' is {p['frames']}; expected missed <= frames"
    if p["frames"] > MAX_FRAMES:
        return (
            f"'frames' is {p['frames']}, expected at most {MAX_FRAMES} (a client that ran"
            f" {MAX_CLIENT_RUN_S / 86400:.0f} days at {MAX_DISPLAY_HZ:.0f} Hz)"
        )
    p50, p99 = p["frame_period_s_p50"], p["frame_period_s_p99"]
    if p50 > p99:
        return (
            f"'frame_period_s_p50' ({p50}) is above 'frame_period_s_p99' ({p99});"
            " expected p50 <= p99"
        )
    if p50 or p99:  # both 0: no frame period since the previous report
        for key in ("frame_period_s_p50", "frame_period_s_p99"):
            if not MIN_FRAME_PERIOD_S <= p[key] <= MAX_FRAME_PERIOD_S:
                return (
                    f"{key!r} is {p[key]} s, expected {MIN_FRAME_PERIOD_S:g} to"
                    f" {MAX_FRAME_PERIOD_S:g} s (a display at most {MAX_DISPLAY_HZ:.0f} Hz,"
                    " a frame held at most a minute), or 0 with the other period 0"
                )
    problem = _frame_timing_counts(p)
    if problem:
        return problem
    target = p.get("target_period_s")
    if target is not None and not (_is_number(target) and target > 0):
        return f"'target_period_s' is {target!r}, expected a number > 0 (s) or no such field"
    if target is not None and not MIN_FRAME_PERIOD_S <= target <= MAX_TARGET_PERIOD_S:
        return (
            f"'target_period_s' is {target} s, expected {MIN_FRAME_PERIOD_S:g} to"
            f" {MAX_TARGET_PERIOD_S:g} s (a display of {1 / MAX_TARGET_PERIOD_S:g} to"
            f" {MAX_DISPLAY_HZ:.0f} Hz)"
        )
    return ""


def _frame_timing_counts(p: dict) -> str:
    """``frame_timing``'s optional counts (added within version 1, docs/bus.md): ``paced``
    display slots, ``missed_slots`` of them (needs ``paced``), ``late`` frames (of
    ``frames``); each an integer from 0 to :data:`MAX_FRAMES`."""
    for key in ("paced", "missed_slots", "late"):
        if key in p:
            problem = integer(0)(p[key])
            if problem:
                return f"{key!r} {problem}"
            if p[key] > MAX_FRAMES:
                return f"{key!r} is {p[key]}, expected at most {MAX_FRAMES}"
    if "missed_slots" in p and p["missed_slots"] > p.get("paced", -1):
        return (
            f"'missed_slots' is {p['missed_slots']} but 'paced' is {p.get('paced')};"
            " expected missed_slots <= paced"
        )
    if "late" in p and p["late"] > p["frames"]:
        return f"'late' is {p['late']} but 'frames' is {p['frames']}; expected late <= frames"
    return ""


_POSE = {"position_m": numbers(3), "orientation_xyzw": quaternion}
#: ``<dev>/frame_timing``'s fields (a client's display keeping up; optional topic).
FRAME_TIMING_FIELDS: dict[str, Check] = {
    "frames": integer(0),
    "missed": integer(0),
    "frame_period_s_p50": number(0.0),
    "frame_period_s_p99": number(0.0),
}
_PEDAL = {"pressed": boolean}

#: Every topic kind of contract version 1.
TOPICS: tuple[TopicSpec, ...] = (
    # device -> server
    TopicSpec(
        "<dev>/measured_cp",
        TO_SERVER,
        _POSE,
        "the handle's pose in the device's base frame M",
        "the device's rate, 1 kHz for a haptic master",
    ),
    TopicSpec(
        "<dev>/gripper/measured_js",
        TO_SERVER,
        {"position_rad": numbers(1)},
        "the gripper opening [angle], 0 = closed",
        "with measured_cp (send it first)",
    ),
    TopicSpec("<dev>/clutch", TO_SERVER, _PEDAL, "the clutch pedal", "on change, and >= 10 Hz"),
    TopicSpec(
        "<dev>/camera", TO_SERVER, _PEDAL, "the camera pedal (optional)", "on change, >= 10 Hz"
    ),
    TopicSpec(
        "<dev>/frame_timing",
        TO_SERVER,
        FRAME_TIMING_FIELDS,
        "how the client's display keeps up (optional)",
        "about 1 Hz",
        _frame_timing,
    ),
    # server -> clients
    TopicSpec("<arm>/measured_cp", TO_CLIENT, _POSE, "the tool tip in the world frame", ">= 60 Hz"),
    TopicSpec(
        "<arm>/measured_js",
        TO_CLIENT,
        {"position_rad": numbers(), "name": texts},
        "joint positions (prismatic in m) and their names",
        ">= 60 Hz",
        _same_length("position_rad", "name"),
    ),
    TopicSpec(
        "<arm>/jaw/measured_js", TO_CLIENT, {"position_rad": numbers(1)}, "jaw angle", ">= 60 Hz"
    ),
    TopicSpec(
        "<arm>/operating_state",
        TO_CLIENT,
        {
            "state": one_of(*OPERATING_STATES),
            "following": boolean,
            "aligned": boolean,
            "align_error_rad": number(0.0),
        },
        "the arm's teleoperation state",
        "on change, and >= 10 Hz",
    ),
    TopicSpec(
        "<dev>/servo_cf",
        TO_CLIENT,
        {"force_n": numbers(3), "torque_nm": numbers(3)},
        "force feedback for the device, in its frame M",
        ">= 500 Hz",
    ),
    TopicSpec(
        "scene/state",
        TO_CLIENT,
        {"time_s": number(0.0), "names": texts, "poses": rows(7)},
        "every drawn body and arm link, world frame, [x, y, z, qx, qy, qz, qw]",
        ">= 60 Hz",
        _same_length("names", "poses"),
    ),
    TopicSpec("session/events", TO_CLIENT, {"events": events}, "events as they happen"),
    TopicSpec(
        "session/step",
        TO_CLIENT,
        {"index": integer(0), "total": integer(0), "id": text, "instruction": text},
        "the exercise's current step",
        "on change, and 1 Hz",
    ),
    TopicSpec(
        "session/metrics",
        TO_CLIENT,
        {"metrics": number_map_or_nil, "score_estimate": number_or_nil},
        "live metrics",
        ">= 5 Hz",
    ),
    TopicSpec(
        "session/ending",
        TO_CLIENT,
        {"reason": text, "score_within_s": number(0.0)},
        "the session has ended; the server is silent while it scores and stores it, and "
        "session/score follows",
        "once, at the end",
    ),
    TopicSpec("session/score", TO_CLIENT, {}, "the final result (surgisim run --json)", "once"),
)

# any finite stamp_s: a device clock's epoch is its own (only differences count), so one
# counting from a negative origin is as good as any; 0 alone means invalid (CRTK)
_ENVELOPE: dict[str, Check] = {"v": integer(1), "stamp_s": number(), "seq": integer(0)}
_ENVELOPE_TO_CLIENT: dict[str, Check] = {**_ENVELOPE, "used_seq": integer(-1)}
_BY_SUFFIX = {
    (s.direction, s.suffix): s for s in TOPICS if not s.is_fixed
}  # ("to_server", "measured_cp") -> spec
_FIXED = {(s.direction, s.pattern): s for s in TOPICS if s.is_fixed}


def topic_spec(topic: str, direction: str = TO_SERVER) -> TopicSpec | None:
    """The spec of ``topic`` sent in ``direction``, or None when the contract has no such topic."""
    spec = _FIXED.get((direction, topic))
    if spec is not None:
        return spec
    component, _, suffix = topic.partition("/")
    if not _NAME_RE.match(component) or component in RESERVED_COMPONENTS:
        return None
    return _BY_SUFFIX.get((direction, suffix))


def _unknown_topic(topic: str, direction: str) -> BusMessageError:
    def detail() -> str:  # built only when read: a flood of bad topics costs no difflib
        valid = [s.pattern for s in TOPICS if s.direction == direction]
        component, _, suffix = topic.partition("/")
        hint = closest_names(suffix, [s.suffix for s in TOPICS if s.direction == direction])
        if suffix and not _NAME_RE.match(component):
            hint = f" The name {component!r} must match {NAME_PATTERN}." + hint
        toward = direction[3:]
        return f"unknown topic {topic!r} (towards the {toward}); valid topics are {valid}.{hint}"

    return BusMessageError("unknown_topic", detail)


# --------------------------------------------------------------------------- messages
@dataclass(frozen=True, slots=True)
class Message:
    """One validated message.

    Attributes:
        topic: e.g. ``"MTMR/measured_cp"``.
        payload: the msgpack map, envelope included (``v``, ``stamp_s``, ``seq``...).
        received_s: the receiver's monotonic clock when it took the message off the
            socket (s); 0.0 when it was not received from a socket.
    """

    topic: str
    payload: dict
    received_s: float = 0.0

    @property
    def component(self) -> str:
        """The device, arm or fixed prefix: ``"MTMR"`` of ``"MTMR/gripper/measured_js"``."""
        return self.topic.partition("/")[0]

    @property
    def name(self) -> str:
        """The CRTK part after the component: ``"gripper/measured_js"``."""
        return self.topic.partition("/")[2]


def _default(obj):
    """msgpack hook: numpy arrays and scalars go on the wire as plain lists and numbers."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot send a {type(obj).__name__} on the bus; use numbers, lists, maps")


def _pack(payload: Mapping) -> bytes:
    try:
        return msgpack.packb(payload, default=_default, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as e:
        raise BusMessageError("bad_fields", f"payload cannot be packed: {e}") from None


def _unpack_map(data: bytes, what: str) -> dict:
    try:
        payload = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as e:  # msgpack raises ValueError, TypeError, UnicodeDecodeError, ...
        raise BusMessageError(
            "bad_msgpack", f"{what} is not one msgpack value ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(payload, dict):
        raise BusMessageError("bad_fields", f"{what} is a msgpack {_kind(payload)}, expected a map")
    key = _non_string_key(payload)
    if key is not None:  # msgpack's strict_map_key lets bin keys through as bytes
        raise BusMessageError(
            "bad_msgpack",
            f"{what} has a map key {key!r} ({_kind(key)}); map keys must be msgpack"
            " strings (str), not bin: encode the keys as text strings",
        )
    return payload


def _non_string_key(payload: dict):
    """The first map key anywhere in ``payload`` that is not a string (None when all are).

    ``strict_map_key`` admits bytes (msgpack bin) keys besides str: such a map came out as
    "missing ['v', 'stamp_s', 'seq']" (``bad_fields``) when the whole map had bin keys.
    A list that sums (numbers only, the bulk of every payload) is cleared in C."""
    stack: list[Any] = [payload]
    while stack:
        value = stack.pop()
        if type(value) is dict:
            for k, v in value.items():
                if type(k) is not str:
                    return k
                if type(v) is dict or type(v) is list:
                    stack.append(v)
        else:  # a list
            try:
                sum(value)
                continue
            except (TypeError, OverflowError):
                pass
            stack.extend(v for v in value if type(v) is dict or type(v) is list)
    return None


def _check_fields(payload: dict, fields: Mapping[str, Check], where: str) -> None:
    for name, check in fields.items():
        if name not in payload:
            missing = [n for n in fields if n not in payload]
            raise BusMessageError(
                "bad_fields",
                f"{where}: missing {missing}; required fields are {list(fields)}",
                f"missing {missing[0]}",
            )
        problem = check(payload[name])
        if problem:
            raise BusMessageError("bad_fields", f"{where}: {name!r} {problem}", name)


def _all_finite(payload: dict) -> bool:
    """True when no NaN or infinity hides anywhere in ``payload`` (the fast path).

    A list of numbers is summed in C first: a NaN or an infinity anywhere makes the sum
    NaN or infinite, so a finite sum clears the whole list at once. A list that cannot
    be summed (strings, maps inside) or whose sum overflows is walked element by element.
    """
    isfinite = math.isfinite
    stack: list[Any] = [payload]
    while stack:
        value = stack.pop()
        t = type(value)
        if t is float:
            if not isfinite(value):
                return False
        elif t is list:
            try:
                if isfinite(sum(value)):
                    continue
            except TypeError:
                pass
            stack.extend(value)
        elif t is dict:
            stack.extend(value.values())
    return True


def _first_non_finite(payload: dict) -> str:
    """Path of the first NaN or infinity anywhere in ``payload`` ('' when all are finite)."""
    if _all_finite(payload):
        return ""
    stack: list[tuple[str, Any]] = [("", payload)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                return f"{path} is {value}"
        elif isinstance(value, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(value))
    return ""


def _check_payload(payload: dict, envelope: Mapping[str, Check], spec: TopicSpec, where: str):
    """``where``: how errors name the message (``"topic 'MTMR/clutch'"``)."""
    _check_fields(payload, envelope, where)
    _check_fields(payload, spec.fields, where)
    if not _all_finite(payload):
        raise BusMessageError(
            "non_finite", f"{where}: {_first_non_finite(payload)}; every number must be finite"
        )
    if spec.extra is not None:
        problem = spec.extra(payload)
        if problem:
            raise BusMessageError("bad_fields", f"{where}: {problem}", spec.suffix)


#: (raw topic, direction) -> (topic, spec, how errors name the message and its payload)
#: of topics already found valid: a device sends the same few topics thousands of times
#: a second. Bounded, so that a flood of made-up topic names cannot grow it; a topic not
#: in it takes the full path.
_KNOWN_TOPICS: dict[tuple[bytes, str], tuple[str, TopicSpec, str, str]] = {}
_KNOWN_TOPICS_MAX = 1024


def decode(frames: Sequence[bytes], direction: str = TO_SERVER, received_s: float = 0.0) -> Message:
    """Check two received frames against the contract and return the :class:`Message`.

    The checks run cheapest first: frame count, size, topic, msgpack, fields (envelope
    and the topic's own), finite numbers, cross-field rules.

    Args:
        frames: the multipart message as received (bytes or zmq frames).
        direction: :data:`TO_SERVER` (what a server accepts) or :data:`TO_CLIENT`.
        received_s: the receiver's clock when the message arrived (s).

    Raises:
        BusMessageError: with ``reason`` in :data:`~haptics.bus.errors.DROP_REASONS`.
    """
    if len(frames) != 2:
        raise BusMessageError(
            "wrong_frame_count", f"message has {len(frames)} frames, expected 2: [topic, payload]"
        )
    raw_topic, data = bytes(frames[0]), bytes(frames[1])
    size = len(raw_topic) + len(data)
    if size > MAX_MESSAGE_BYTES:
        raise BusMessageError(
            "too_large", f"message is {size} bytes, the limit is {MAX_MESSAGE_BYTES}"
        )
    known = _KNOWN_TOPICS.get((raw_topic, direction))
    if known is None:
        try:
            topic = raw_topic.decode("utf-8")
        except UnicodeDecodeError:
            raise BusMessageError(
                "unknown_topic", f"topic {raw_topic[:40]!r} is not UTF-8"
            ) from None
        spec = topic_spec(topic, direction)
        if spec is None:
            raise _unknown_topic(topic, direction)
        where, what = f"topic {topic!r}", f"payload of {topic!r}"
        if len(_KNOWN_TOPICS) < _KNOWN_TOPICS_MAX:
            _KNOWN_TOPICS[raw_topic, direction] = (topic, spec, where, what)
    else:
        topic, spec, where, what = known
    payload = _unpack_map(data, what)
    envelope = _ENVELOPE_TO_CLIENT if direction == TO_CLIENT else _ENVELOPE
    _check_payload(payload, envelope, spec, where)
    return Message(topic, payload, received_s)


def encode(topic: str, payload: Mapping, direction: str = TO_SERVER) -> list[bytes]:
    """The two frames ``[topic, msgpack payload]`` of a message that :func:`decode` accepts.

    The payload must already hold the envelope (``v``, ``stamp_s``, ``seq`` and, towards
    clients, ``used_seq``); :class:`~haptics.bus.sockets.ServerBus` and
    :class:`~haptics.bus.sockets.ClientBus` add it for you. numpy arrays and scalars are
    sent as lists and numbers. The frames are checked by :func:`decode` itself, so that a
    sender can never emit what a receiver would drop.

    Raises:
        BusMessageError: the message breaks the contract (the reason says how).
    """
    frames = [topic.encode("utf-8"), _pack(payload)]
    decode(frames, direction)
    return frames


# --------------------------------------------------------------------------- requests
#: request name -> (fields besides the envelope and ``request``, what it does).
REQUESTS: dict[str, tuple[Mapping[str, Check], str]] = {
    "hello": ({}, "who is there: scenario, arms, device map, topics, rates (+ scene if asked)"),
    "state_command": (
        {"arm": text, "command": one_of("enable", "disable", "pause", "resume")},
        "enable or disable one arm (or all); pause or resume the whole session",
    ),
    "stop": ({}, "end the session, score it and store it"),
}
_OPTIONAL_REQUEST_FIELDS: dict[str, Mapping[str, Check]] = {"hello": {"scene": boolean}}


def encode_request(payload: Mapping) -> bytes:
    """The one frame of a request (envelope and ``request`` included), checked.

    Raises:
        BusMessageError: the request breaks the contract.
    """
    data = _pack(payload)
    decode_request(data)
    return data


def decode_request(data: bytes) -> dict:
    """Check one request frame (``v``, ``stamp_s``, ``seq``, ``request`` and its fields).

    Raises:
        BusMessageError: with reason ``too_large``, ``bad_msgpack``, ``unknown_request``,
            ``bad_fields`` or ``non_finite``.
    """
    data = bytes(data)
    if len(data) > MAX_MESSAGE_BYTES:
        raise BusMessageError(
            "too_large", f"request is {len(data)} bytes, the limit is {MAX_MESSAGE_BYTES}"
        )
    payload = _unpack_map(data, "request")
    _check_fields(payload, {**_ENVELOPE, "request": text}, "request")
    name = payload["request"]
    if name not in REQUESTS:
        raise BusMessageError(
            "unknown_request",
            lambda: (
                f"unknown request {name!r}; valid requests are {sorted(REQUESTS)}."
                + closest_names(name, REQUESTS)
            ),
        )
    fields = REQUESTS[name][0]
    _check_fields(payload, fields, f"request {name!r}")
    for key, check in _OPTIONAL_REQUEST_FIELDS.get(name, {}).items():
        problem = check(payload[key]) if key in payload else ""
        if problem:
            raise BusMessageError("bad_fields", f"request {name!r}: {key!r} {problem}")
    problem = _first_non_finite(payload)
    if problem:
        raise BusMessageError("non_finite", f"request {name!r}: {problem}")
    return payload


_REPLY_FIELDS: dict[str, Check] = {**_ENVELOPE, "reply_to": integer(-1), "ok": boolean}


def encode_reply(payload: Mapping) -> bytes:
    """The one frame of a reply (``v``, ``stamp_s``, ``seq``, ``reply_to``, ``ok``), checked.

    Raises:
        BusMessageError: the reply breaks the contract (e.g. ``ok`` false without ``error``).
    """
    data = _pack(payload)
    _check_reply(_unpack_map(data, "reply"))
    return data


def decode_reply(data: bytes) -> dict:
    """Check one reply frame; replies may be up to :data:`MAX_REPLY_BYTES`.

    Raises:
        BusMessageError: the reply breaks the contract.
    """
    data = bytes(data)
    if len(data) > MAX_REPLY_BYTES:
        raise BusMessageError(
            "too_large", f"reply is {len(data)} bytes, the limit is {MAX_REPLY_BYTES}"
        )
    payload = _unpack_map(data, "reply")
    _check_reply(payload)
    return payload


def _check_reply(payload: dict) -> None:
    _check_fields(payload, _REPLY_FIELDS, "reply")
    if not payload["ok"]:
        _check_fields(payload, {"error": text}, "reply with ok false")
    problem = _first_non_finite(payload)
    if problem:
        raise BusMessageError("non_finite", f"reply: {problem}")


# --------------------------------------------------------------------------- payload helpers
def pose_payload(X_AB) -> dict:
    """``{"position_m": [x, y, z], "orientation_xyzw": [x, y, z, w]}`` of a 4x4 pose (m)."""
    X = np.asarray(X_AB, dtype=float)
    if X.shape != (4, 4):
        raise BusMessageError("bad_fields", f"pose has shape {X.shape}, expected (4, 4)")
    return {
        "position_m": X[:3, 3].tolist(),
        "orientation_xyzw": matrix_to_quat_xyzw(X[:3, :3]).tolist(),
    }


def pose_from_payload(payload: Mapping) -> np.ndarray:
    """The 4x4 pose (m) of a payload with ``position_m`` and ``orientation_xyzw`` (xyzw).

    The quaternion is normalised here (the contract accepts norms within 10% of 1), so
    the rotation block is orthonormal to machine precision.
    """
    X = np.eye(4)
    X[:3, :3] = quat_xyzw_to_matrix(payload["orientation_xyzw"])
    X[:3, 3] = payload["position_m"]
    return X
