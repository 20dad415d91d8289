"""The wire contract's rules, one by one, without sockets (docs/bus.md)."""

from __future__ import annotations

import math

import msgpack
import numpy as np
import pytest

from haptics.bus.contract import (
    MAX_MESSAGE_BYTES,
    TO_CLIENT,
    TO_SERVER,
    TOPICS,
    decode,
    decode_reply,
    decode_request,
    encode,
    encode_reply,
    encode_request,
    pose_from_payload,
    pose_payload,
    topic_spec,
)
from haptics.bus.errors import BusMessageError
from haptics.errors import HapticsError
from kinematics.transforms import quat_xyzw_to_matrix
from tests.haptics.bus.conftest import EXAMPLES, concrete_topic


def _envelope(direction: str, seq: int = 7) -> dict:
    env = {"v": 1, "stamp_s": 123.25, "seq": seq}
    if direction == TO_CLIENT:
        env["used_seq"] = 41
    return env


def _frames(topic: str, payload: dict) -> list[bytes]:
    return [topic.encode(), msgpack.packb(payload)]


def _reason(frames, direction=TO_SERVER) -> str:
    with pytest.raises(BusMessageError) as info:
        decode(frames, direction)
    assert isinstance(info.value, HapticsError)
    return info.value.reason


def test_every_topic_has_an_example_and_round_trips():
    assert {(s.direction, s.pattern) for s in TOPICS} == set(EXAMPLES)
    for (direction, pattern), fields in EXAMPLES.items():
        topic = concrete_topic(pattern)
        payload = {**fields, **_envelope(direction)}
        frames = encode(topic, payload, direction)
        message = decode(frames, direction, received_s=5.0)
        assert message.topic == topic and message.received_s == 5.0
        assert message.payload == payload  # msgpack keeps ints, floats, strings, nil, bools


def test_message_splits_component_and_crtk_name():
    payload = {"position_rad": [0.1], **_envelope(TO_SERVER)}
    m = decode(_frames("MTML/gripper/measured_js", payload))
    assert (m.component, m.name) == ("MTML", "gripper/measured_js")


def test_numpy_values_go_on_the_wire_as_plain_numbers():
    payload = {
        "position_m": np.array([0.1, 0.2, 0.3]),
        "orientation_xyzw": np.array([0, 0, 0, 1.0], dtype=np.float32),
        "v": np.int64(1),
        "stamp_s": np.float64(2.0),
        "seq": 0,
    }
    m = decode(encode("MTMR/measured_cp", payload))
    assert m.payload["position_m"] == [0.1, 0.2, 0.3]
    assert m.payload["orientation_xyzw"] == [0.0, 0.0, 0.0, 1.0]


def test_direction_decides_which_topics_exist():
    """A device may not publish force feedback; a server's messages need used_seq."""
    cf = {"force_n": [0, 0, 0], "torque_nm": [0, 0, 0], **_envelope(TO_CLIENT)}
    assert _reason(_frames("MTMR/servo_cf", cf), TO_SERVER) == "unknown_topic"
    cp = {**EXAMPLES[(TO_SERVER, "<dev>/measured_cp")], **_envelope(TO_SERVER)}
    assert _reason(_frames("PSM1/measured_cp", cp), TO_CLIENT) == "bad_fields"  # no used_seq
    assert topic_spec("scene/state", TO_SERVER) is None
    assert topic_spec("scene/measured_cp", TO_SERVER) is None  # reserved component


def test_frame_count():
    good = _frames("MTMR/clutch", {"pressed": True, **_envelope(TO_SERVER)})
    for frames in ([good[0]], [*good, b""], [good[0], b"", good[1]], []):
        assert _reason(frames) == "wrong_frame_count"


def test_size_limit_counts_both_frames():
    base = {"pressed": True, **_envelope(TO_SERVER)}
    topic = b"MTMR/clutch"
    overhead = len(msgpack.packb({**base, "pad": "x" * 1000})) - 1000  # str16 header
    fill = MAX_MESSAGE_BYTES - len(topic) - overhead
    at_limit = [topic, msgpack.packb({**base, "pad": "x" * fill})]
    assert len(at_limit[0]) + len(at_limit[1]) == MAX_MESSAGE_BYTES
    decode(at_limit)  # exactly the limit is fine (unknown extra fields are allowed)
    over = [topic, msgpack.packb({**base, "pad": "x" * (fill + 1)})]
    assert _reason(over) == "too_large"
    with pytest.raises(BusMessageError, match="65537 bytes, the limit is 65536"):
        decode(over)


def test_unknown_topics_name_the_valid_ones_and_the_closest():
    payload = {"pressed": True, **_envelope(TO_SERVER)}
    with pytest.raises(BusMessageError, match="Did you mean 'measured_cp'") as info:
        decode(_frames("MTMR/measured_cq", payload))
    assert "<dev>/measured_cp" in str(info.value) and info.value.reason == "unknown_topic"
    for topic in (
        b"\xff\xfe/clutch",
        b"1MTM/clutch",
        b"MTMR",
        b"",
        b"MTMR/clutch/x",
        b"a b/clutch",
    ):
        assert _reason([topic, msgpack.packb(payload)]) == "unknown_topic"


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc1", msgpack.packb({"v": 1})[:-1], msgpack.packb({"a": 1}) + b"\x00", b"\xa3ab"],
)
def test_bad_msgpack(data):
    assert _reason([b"MTMR/clutch", data]) == "bad_msgpack"


def test_payload_must_be_a_map_with_string_keys():
    assert _reason([b"MTMR/clutch", msgpack.packb([1, 2])]) == "bad_fields"
    assert _reason([b"MTMR/clutch", msgpack.packb({1: 2})]) == "bad_msgpack"  # strict_map_key


def test_bin_map_keys_are_bad_msgpack_saying_keys_must_be_strings():
    """msgpack's strict_map_key admits bin keys (as bytes): a map whose keys were all bin
    came out as bad_fields "missing ['v', 'stamp_s', 'seq']"; docs/bus.md lists non-string
    map keys under bad_msgpack."""
    fields = {"v": 1, "stamp_s": 1.0, "seq": 0, "pressed": True}
    all_bin = {k.encode(): v for k, v in fields.items()}
    one_bin = {**fields, b"extra": 1}
    nested = {**fields, "extra": [1.0, {"ok": {b"deep": 2}}]}
    for payload in (all_bin, one_bin, nested):
        with pytest.raises(BusMessageError) as info:
            decode([b"MTMR/clutch", msgpack.packb(payload, use_bin_type=True)])
        assert info.value.reason == "bad_msgpack", payload
        assert "map keys must be msgpack strings" in str(info.value)
    # string keys anywhere, and lists of numbers or of maps, are fine
    fine = {**fields, "extra": [1.0, 2, {"ok": [{"a": 1}]}]}
    assert decode([b"MTMR/clutch", msgpack.packb(fine, use_bin_type=True)]).payload == fine
    with pytest.raises(BusMessageError) as info:
        decode_request(msgpack.packb({b"v": 1, b"stamp_s": 1.0, b"seq": 0, b"request": b"hello"}))
    assert info.value.reason == "bad_msgpack"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"v": None}, "'v' is nil, expected an integer"),
        ({"v": 0}, "'v' is 0, expected >= 1"),
        ({"seq": -1}, "'seq' is -1"),
        ({"seq": 1.0}, "'seq' is float, expected an integer"),
        ({"seq": True}, "'seq' is bool"),
        ({"stamp_s": "now"}, "'stamp_s' is str"),
        ({"stamp_s": None}, "'stamp_s' is nil"),
        ({"position_m": [0, 0]}, "'position_m' has 2 elements, expected 3"),
        ({"position_m": [0, "0", 0]}, "'position_m' [1] is str"),
        ({"position_m": [0, True, 0]}, "'position_m' [1] is bool"),
        ({"position_m": {"x": 0}}, "'position_m' is dict"),
        ({"orientation_xyzw": [0, 0, 0, 0]}, "norm 0, expected a unit quaternion"),
        ({"orientation_xyzw": [0, 0, 0, 2]}, "norm 2"),
    ],
)
def test_bad_fields_say_what_was_wrong(change, expected):
    payload = {**EXAMPLES[(TO_SERVER, "<dev>/measured_cp")], **_envelope(TO_SERVER), **change}
    with pytest.raises(BusMessageError) as info:
        decode(_frames("MTMR/measured_cp", payload))
    assert info.value.reason == "bad_fields"
    assert expected in str(info.value)


def test_a_stamp_from_a_clock_with_a_negative_epoch_is_taken():
    """A device clock counting from -1e6 s lost every sample and its hello ('expected >=
    0.0'); only differences of stamps count, so any finite stamp but 0 is valid."""
    payload = {**EXAMPLES[(TO_SERVER, "<dev>/measured_cp")], **_envelope(TO_SERVER)}
    payload["stamp_s"] = -966070.83
    assert decode(_frames("MTMR/measured_cp", payload)).payload["stamp_s"] == -966070.83
    request = {"v": 1, "stamp_s": -966080.15, "seq": 0, "request": "hello"}
    assert decode_request(msgpack.packb(request))["stamp_s"] == -966080.15


def test_missing_fields_are_listed():
    with pytest.raises(BusMessageError, match=r"missing \['orientation_xyzw'\]"):
        decode(_frames("MTMR/measured_cp", {"position_m": [0, 0, 0], **_envelope(TO_SERVER)}))


def test_pedals_want_booleans_not_integers():
    assert _reason(_frames("MTMR/clutch", {"pressed": 1, **_envelope(TO_SERVER)})) == "bad_fields"


def test_server_topic_rules():
    env = _envelope(TO_CLIENT)
    js = {"position_rad": [0.1, 0.2], "name": ["a"], **env}
    with pytest.raises(BusMessageError, match="'position_rad' has 2 elements but 'name' has 1"):
        decode(_frames("PSM1/measured_js", js), TO_CLIENT)
    state = {**EXAMPLES[(TO_CLIENT, "<arm>/operating_state")], **env, "state": "FOLOWING"}
    with pytest.raises(BusMessageError, match="Did you mean 'FOLLOWING'"):
        decode(_frames("PSM1/operating_state", state), TO_CLIENT)
    scene = {"time_s": 1.0, "names": ["a"], "poses": [[0, 0, 0, 0, 0, 0]], **env}
    with pytest.raises(BusMessageError, match=r"'poses' \[0\] has 6 elements, expected 7"):
        decode(_frames("scene/state", scene), TO_CLIENT)
    events = {"events": [{"time_s": 1.0, "data": {}}], **env}
    with pytest.raises(BusMessageError, match=r"\[0\] has no 'kind'"):
        decode(_frames("session/events", events), TO_CLIENT)
    assert _reason(_frames("PSM1/measured_cp", {"position_m": [0] * 3, **env}), TO_CLIENT) == (
        "bad_fields"
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    ("topic", "direction", "where"),
    [
        ("MTMR/measured_cp", TO_SERVER, ("position_m", 1)),
        ("MTMR/gripper/measured_js", TO_SERVER, ("position_rad", 0)),
        ("MTMR/clutch", TO_SERVER, ("stamp_s", None)),
        ("scene/state", TO_CLIENT, ("poses", 1)),
        ("session/events", TO_CLIENT, ("events", 0)),
        ("session/metrics", TO_CLIENT, ("metrics", "sparc")),
        ("session/score", TO_CLIENT, ("extra", None)),
    ],
)
def test_every_number_must_be_finite_even_nested(bad, topic, direction, where):
    pattern = next(p for (d, p) in EXAMPLES if d == direction and concrete_topic(p) == topic)
    payload = {**EXAMPLES[(direction, pattern)], **_envelope(direction)}
    key, index = where
    value = payload.get(key)
    if index is None:
        payload[key] = bad
    elif key == "poses":
        payload[key] = [list(r) for r in value]
        payload[key][1][index] = bad
    elif key == "events":
        payload[key] = [{"time_s": 1.0, "kind": "x", "data": {"deep": [[0.0, bad]]}}]
    elif key == "metrics":
        payload[key] = {**value, index: bad}
    else:
        payload[key] = list(value)
        payload[key][index] = bad
    with pytest.raises(BusMessageError, match="every number must be finite") as info:
        decode(_frames(topic, payload), direction)
    assert info.value.reason == "non_finite"


def test_large_finite_numbers_whose_sum_overflows_are_finite():
    """The finite scan sums a list in one go first; a sum that overflows (every element
    finite) must fall back to looking at each element, not be taken for an infinity."""
    big = {"position_m": [1e308, 1e308, 1e308], "orientation_xyzw": [0.0, 0.0, 0.0, 1.0]}
    message = decode(_frames("MTMR/measured_cp", {**big, **_envelope(TO_SERVER)}))
    assert message.payload["position_m"] == [1e308] * 3
    mixed = {"position_rad": [1e308, 1e308, math.nan], "name": ["a", "b", "c"]}
    assert _reason(_frames("PSM1/measured_js", {**mixed, **_envelope(TO_CLIENT)}), TO_CLIENT) == (
        "non_finite"
    )


def test_a_known_topic_is_checked_as_fully_as_a_new_one():
    """The cache of topics already seen skips only the topic lookup: the payload of the
    thousandth message of a topic is checked like the first one's."""
    good = {"pressed": True, **_envelope(TO_SERVER)}
    for _ in range(3):
        assert decode(_frames("MTMR/clutch", good)).payload["pressed"] is True
    assert _reason(_frames("MTMR/clutch", {**good, "pressed": 1})) == "bad_fields"
    assert _reason(_frames("MTMR/clutch", {**good, "stamp_s": math.nan})) == "non_finite"
    assert _reason([b"MTMR/clutch", b"\xc1"]) == "bad_msgpack"
    assert _reason([b"MTMR/clutch", msgpack.packb([1, 2])]) == "bad_fields"
    assert _reason(_frames("MTMR/clutch", good), TO_CLIENT) == "unknown_topic"


def test_encode_refuses_what_decode_would_drop():
    with pytest.raises(BusMessageError) as info:
        encode(
            "MTMR/measured_cp",
            {
                "position_m": [0, 0, math.nan],
                "orientation_xyzw": [0, 0, 0, 1],
                **_envelope(TO_SERVER),
            },
        )
    assert info.value.reason == "non_finite"
    with pytest.raises(BusMessageError, match="cannot send a object"):
        encode("MTMR/clutch", {"pressed": object(), **_envelope(TO_SERVER)})


def test_higher_versions_and_extra_fields_are_accepted():
    """A v2 sender may add fields; a v1 receiver reads what it knows."""
    payload = {"pressed": False, **_envelope(TO_SERVER), "v": 2, "pedal_force_n": 3.5}
    assert decode(_frames("MTMR/clutch", payload)).payload["v"] == 2


def test_requests_and_replies():
    env = {"v": 1, "stamp_s": 1.0, "seq": 3}
    hello = decode_request(encode_request({**env, "request": "hello", "scene": True}))
    assert hello["scene"] is True
    cmd = {**env, "request": "state_command", "arm": "PSM1", "command": "pause"}
    assert decode_request(encode_request(cmd))["command"] == "pause"
    with pytest.raises(BusMessageError, match="Did you mean 'hello'") as info:
        decode_request(msgpack.packb({**env, "request": "helo"}))
    assert info.value.reason == "unknown_request"
    with pytest.raises(BusMessageError, match="'command' is 'reboot'") as info:
        decode_request(msgpack.packb({**cmd, "command": "reboot"}))
    assert info.value.reason == "bad_fields"
    with pytest.raises(BusMessageError, match="'scene' is int"):
        decode_request(msgpack.packb({**env, "request": "hello", "scene": 1}))
    with pytest.raises(BusMessageError) as info:
        decode_request(msgpack.packb({**env, "request": "stop", "x": math.nan}))
    assert info.value.reason == "non_finite"
    with pytest.raises(BusMessageError) as info:
        decode_request(b"\x00" * (MAX_MESSAGE_BYTES + 1))
    assert info.value.reason == "too_large"
    reply = {**env, "reply_to": 3, "ok": True, "arms": [{"name": "PSM1"}]}
    assert decode_reply(encode_reply(reply))["arms"][0]["name"] == "PSM1"
    with pytest.raises(BusMessageError, match="missing \\['error'\\]"):
        encode_reply({**env, "reply_to": 3, "ok": False})


def test_pose_round_trip(rng):
    for _ in range(50):
        q = rng.normal(size=4)
        X = np.eye(4)
        X[:3, :3] = quat_xyzw_to_matrix(q)
        X[:3, 3] = rng.uniform(-0.2, 0.2, 3)
        payload = pose_payload(X)
        assert np.allclose(pose_from_payload(payload), X, atol=1e-12)
        wire = decode(encode("MTMR/measured_cp", {**payload, **_envelope(TO_SERVER)}))
        assert np.allclose(pose_from_payload(wire.payload), X, atol=1e-12)
    with pytest.raises(BusMessageError, match=r"shape \(3, 3\)"):
        pose_payload(np.eye(3))


def test_slightly_unnormalised_quaternions_give_rigid_poses():
    """float32 devices send norms like 0.9999999; the pose is orthonormal all the same."""
    X = pose_from_payload({"position_m": [0, 0, 0], "orientation_xyzw": [0.0, 0.0, 0.05, 1.02]})
    R = X[:3, :3]
    assert np.abs(R.T @ R - np.eye(3)).max() < 1e-12


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("direction", [TO_SERVER, TO_CLIENT])
def test_a_non_finite_quaternion_is_non_finite_not_a_bad_norm(bad, direction):
    """docs/bus.md: ``non_finite`` is a NaN or infinity anywhere. In a quaternion it made
    the norm NaN or inf, and the norm check ran first and called it ``bad_fields``."""
    topic = "MTMR/measured_cp" if direction == TO_SERVER else "PSM1/measured_cp"
    payload = {
        "position_m": [0.0, 0.0, 0.0],
        "orientation_xyzw": [0.0, 0.0, bad, 1.0],
        **_envelope(direction),
    }
    assert _reason(_frames(topic, payload), direction) == "non_finite"


def test_a_quaternion_whose_norm_overflows_is_still_refused():
    """Finite elements whose norm overflows are no unit quaternion (bad_fields), and the
    finite scan would let them through: the norm check must still see them."""
    payload = {
        "position_m": [0.0, 0.0, 0.0],
        "orientation_xyzw": [1e200, 0.0, 0.0, 1.0],
        **_envelope(TO_SERVER),
    }
    assert _reason(_frames("MTMR/measured_cp", payload)) == "bad_fields"
