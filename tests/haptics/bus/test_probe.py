"""A client's silent stream sorted by asking the server (haptics.bus.probe), on real
loopback sockets: a key removed reads as a refusal with the server's reason, a key put
back as a stream to reconnect (and it flows again), a server that answers but never
publishes as deaf after the reconnections allowed, and a closed server as gone."""

from __future__ import annotations

import time

import pytest

from haptics.bus.probe import MAX_RESULT_WAIT_S, RESULT_WAIT_S, SilenceCheck, ask_server
from haptics.bus.sockets import ClientBus, ServerBus
from tests.haptics.bus.conftest import KeyedLab, ServerPump, received_while_publishing


def _received(server: ServerBus, client: ClientBus, seconds: float) -> int:
    """Server messages the client receives in ``seconds`` while it sends as a device."""
    return received_while_publishing(
        server, client, seconds, each=lambda: client.publish("MTMR/clutch", {"pressed": False})
    )


def _silent_for(server: ServerBus, client: ClientBus, seconds: float, timeout_s: float) -> None:
    """Publish until the client has heard nothing for ``seconds``."""
    quiet_since, deadline = time.monotonic(), time.monotonic() + timeout_s
    while time.monotonic() - quiet_since < seconds:
        assert time.monotonic() < deadline, "the stream never fell silent"
        if _received(server, client, 0.1):
            quiet_since = time.monotonic()


def test_a_removed_key_is_refused_a_key_put_back_is_reconnected_and_a_closed_server_is_gone(
    tmp_path,
):
    lab = KeyedLab(tmp_path, "viewer")
    server = ServerBus(port=0, curve=lab.server)
    pump = ServerPump(server)
    client = ClientBus(port=server.port, curve=lab.client["viewer"], subscribe=("session/",))
    check = SilenceCheck(client, "this test's client", silence_s=0.5, probe_timeout_s=5.0)
    try:
        client.wait_ready(10)
        assert _received(server, client, 0.5) > 0
        now = time.monotonic()
        assert check.check(0.1, now) is None  # flowing: nothing asked
        assert ask_server(client, 5.0).admits

        lab.remove("viewer")
        _silent_for(server, client, 0.6, timeout_s=10)
        silence = check.check(0.6, time.monotonic())
        assert silence is not None and silence.kind == "refused" and silence.ends
        assert silence.text.startswith("the training server refuses this test's client: ")
        assert "removed from the server's allow directory" in silence.text

        lab.put_back("viewer")
        time.sleep(0.6)  # past the allow list's look-again interval
        silence = check.check(2.0, time.monotonic() + 1.0)  # asked again after silence_s
        assert silence is not None and silence.kind == "resubscribed" and not silence.ends
        assert check.resubscribes == 1
        deadline = time.monotonic() + 10.0
        while _received(server, client, 0.5) == 0:
            assert time.monotonic() < deadline, "the stream did not come back"
        check.heard()
    finally:
        pump.stop()
        server.close()
    silence = check.check(3.0, time.monotonic() + 2.0)
    client.close()
    assert silence is not None and silence.kind == "gone" and silence.ends
    assert "sent nothing for 3.0 s" in silence.text


def test_a_server_that_answers_but_never_publishes_is_deaf_after_the_reconnections(tmp_path):
    server = ServerBus(port=0)
    pump = ServerPump(server)  # answers every request ok; publishes nothing
    client = ClientBus(port=server.port, subscribe=("session/",))
    check = SilenceCheck(client, "this window", silence_s=0.2, probe_timeout_s=5.0,
                         max_resubscribes=2)  # fmt: skip
    try:
        kinds, now = [], time.monotonic()
        for k in range(1, 4):
            silence = check.check(10.0 * k, now + 1.0 * k)  # each ask past silence_s
            kinds.append(silence.kind)
        assert check.check(30.0, now + 3.1) is None  # asked 0.1 s ago: not again yet
        assert kinds == ["resubscribed", "resubscribed", "deaf"], kinds
        assert "its stream has not reached this window for 30.0 s, after 2" in silence.text
        check.heard()  # a message came: the next silence may reconnect again
        assert check.check(50.0, now + 5.0).kind == "resubscribed"
    finally:
        client.close()
        pump.stop()
        server.close()


@pytest.mark.parametrize(
    ("within", "waited"),
    [(30.0, 30.0), (None, RESULT_WAIT_S), (float("nan"), RESULT_WAIT_S), (-1.0, RESULT_WAIT_S),
     ("soon", RESULT_WAIT_S), (1e9, MAX_RESULT_WAIT_S)],
)  # fmt: skip
def test_after_an_ending_notice_silence_is_waited_out_then_named_as_a_missing_result(
    within, waited
):
    """No probe while the server scores and stores (its bus is never touched: None here);
    a notice's wait that is no usable number is the default, a huge one is capped."""
    check = SilenceCheck(None, "this window", silence_s=1.5)
    said = check.ending(100.0, {"reason": "completed", "score_within_s": within})
    assert said.startswith("the session ended on the server (completed): waiting")
    # the first notice counts, and is said once
    assert check.ending(200.0, {"reason": "completed", "score_within_s": 1.0}) is None
    assert check.check(silent_s=waited - 1.0, now_s=100.0 + waited - 1.0) is None
    late = check.check(silent_s=waited + 1.0, now_s=100.0 + waited + 1.0)
    assert late.kind == "gone" and late.ends
    assert f"ended the session but sent no result within {waited:g} s" in late.text
