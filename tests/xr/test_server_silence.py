"""The headset client's answer to a silent training server (no headset needed: the client's
check runs on its bus alone). A key removed from the server's allow directory ended the
session as "the training server sent nothing (stopped, crashed or unreachable)"; it now
says the server refuses this headset, with the server's reason. A stream that was only
cut (the key put back) is reconnected, the controllers' link too, and the session goes on.
"""

from __future__ import annotations

import time

import pytest

from haptics.bus.probe import Silence, SilenceCheck
from sim.xr.client import SERVER_SILENCE_S, VrClient, VrOptions
from sim.xr.link import SceneFeed
from tests.haptics.bus.conftest import KeyedLab
from tests.sim.server.test_server import Device, Served


def _watching(served: Served, lines: list[str], curve=None) -> tuple[VrClient, SceneFeed]:
    """A headset client's silence check (as ``run()`` sets it up) on a feed of ``served``,
    once the scene flows; the client logs to ``lines``."""
    client = VrClient(VrOptions(port=served.server.port), log=lines.append)
    feed = SceneFeed("127.0.0.1", served.server.port, curve)
    client._silence = SilenceCheck(feed.bus, "this headset", SERVER_SILENCE_S)
    deadline = time.monotonic() + 60.0
    while feed.messages < 10:
        feed.update()
        if time.monotonic() > deadline:
            feed.close()
            raise AssertionError("no scene/state came")
        time.sleep(0.02)
    return client, feed


def _until_ended(client: VrClient, feed: SceneFeed, timeout_s: float, lines) -> None:
    """Run the client's end check, as its frame loop does, until it ends the session."""
    deadline = time.monotonic() + timeout_s
    while not client._server_ended(feed):
        assert time.monotonic() < deadline, lines
        time.sleep(0.02)


def test_a_headset_whose_key_is_removed_ends_saying_the_server_refuses_it(tmp_path):
    lab = KeyedLab(tmp_path, "headset", "hands")
    served = Served(curve=lab.server)
    # the session starts once its devices send: two hands on a key of their own
    hands = Device(served.server.port, curve=lab.client["hands"])
    lines: list[str] = []
    client, feed = _watching(served, lines, lab.client["headset"])
    try:
        assert not client._server_ended(feed)
        lab.remove("headset")
        _until_ended(client, feed, 30.0, lines)
    finally:
        feed.close()
        hands.close()
        served.stopped = True
        served.thread.join(60)
        served.close()
    lost = client.report.server_lost
    assert lost.startswith("the training server refuses this headset: "), lost
    assert "removed from the server's allow directory" in lost
    assert lost.endswith(": the headset session ends") and lines[-1] == lost
    assert client.report.stopped_by == "server lost"


class _Feed:
    """The feed's side of the check: silent for 10 s, no score."""

    score = None
    ending = None
    messages = 5

    def update(self) -> bool:
        return False

    def silent_s(self, now_s: float) -> float:
        return 10.0


class _Check:
    def __init__(self, verdict: Silence) -> None:
        self.verdict = verdict

    def heard(self) -> None:
        pass

    def check(self, silent_s: float, now_s: float) -> Silence:
        return self.verdict


class _Link:
    resubscribed = 0

    def resubscribe(self) -> None:
        self.resubscribed += 1


@pytest.mark.parametrize(
    ("kind", "ends"), [("resubscribed", False), ("gone", True), ("deaf", True)]
)
def test_only_a_cut_stream_goes_on_and_it_reconnects_the_controllers_too(kind, ends):
    lines: list[str] = []
    client = VrClient(VrOptions(), log=lines.append)
    client._silence = _Check(Silence(kind, f"the server: {kind}"))
    client._link = _Link()
    assert client._server_ended(_Feed()) is ends
    assert lines == [f"the server: {kind}" + (": the headset session ends" if ends else "")]
    assert client._link.resubscribed == (0 if ends else 1)
    assert (client.report.server_lost is not None) is ends


def test_after_the_servers_ending_notice_its_silence_is_waited_out_for_the_score():
    """A 2-minute practice in the headset ended "the training server sent nothing for 2.0 s
    (stopped, crashed or unreachable)": the server was scoring and storing the session.
    With its ``session/ending`` taken, the headset waits for the score (no probe), and
    ends with the verdict once it comes."""
    lines: list[str] = []
    client = VrClient(VrOptions(), log=lines.append)

    class Asked(SilenceCheck):
        def __init__(self) -> None:
            super().__init__(None, "this headset", SERVER_SILENCE_S)

    client._silence = Asked()  # a probe would fail: its bus is None
    feed = _Feed()
    feed.ending, feed.ending_s = {"reason": "time", "score_within_s": 120.0}, time.monotonic()
    for _ in range(3):
        assert client._server_ended(feed) is False
    assert lines == [
        "the session ended on the server (time): waiting for its result while the server "
        "scores and stores it"
    ]
    feed.score = {"passed": False, "score": 0.0, "completed": False}
    assert client._server_ended(feed) is True
    assert client.report.server_lost is None and client.report.stopped_by == "session ended"
    assert lines[-1].startswith("the session ended on the server: FAIL, score 0.0")


def test_a_server_silent_for_longer_than_the_probe_while_it_stores_the_session_is_waited_for():
    """Real sockets: the session ends, and the server takes 4 s (twice the headset's
    silence limit, more than the probe's second) before its score, as scoring and storing
    a long session on a busy machine does. The headset waits and ends with the verdict."""
    served = Served()
    hands = Device(served.server.port)
    lines: list[str] = []
    client, feed = _watching(served, lines)
    try:
        served.stop()  # the loop ends: session/ending goes out, then silence
        hands.close()
        finished_s = time.monotonic() + 2.0 * SERVER_SILENCE_S
        while time.monotonic() < finished_s:
            assert not client._server_ended(feed), lines
            time.sleep(0.05)
        served.server.publish_score({"scenario": "needle-handover", "passed": False,
                                     "score": 12.5, "completed": False})  # fmt: skip
        _until_ended(client, feed, 10.0, lines)
    finally:
        feed.close()
        hands.close()
        served.close()
    assert client.report.server_lost is None, lines
    assert lines[0].startswith("the session ended on the server (interrupted): waiting"), lines
    assert lines[-1].startswith("the session ended on the server: FAIL, score 12.5"), lines
