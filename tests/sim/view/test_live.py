"""The overlay's content from bus messages: one function for the desktop window and the
headset (:func:`sim.view.live.hud_content`)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from haptics.bus.contract import pose_payload
from sim.view.hud import HudContent
from sim.view.live import WARNING_S, LiveAlerts, LiveState, hud_content


@pytest.fixture(scope="module")
def description():
    from scenarios.loader import load_scenario
    from sim.session.session import Session

    with Session(load_scenario("needle-handover"), seed=0) as s:
        return s.scene_description()


def _message(topic, payload):
    return SimpleNamespace(topic=topic, payload=payload)


def _scene(description, time_s):
    n = len(description.node_names)
    poses = np.tile([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], (n, 1))
    return _message("scene/state", {"names": list(description.node_names), "poses": poses,
                                    "time_s": time_s, "used_seq": -1})  # fmt: skip


def test_the_overlay_content_follows_the_bus(description):
    hello = {"title": "Needle handover", "time_limit_s": 120.0,
             "devices": {"MTMR": "PSM1", "MTML": "PSM2"}}  # fmt: skip
    state, alerts = LiveState(description), LiveAlerts()
    X_WC = description.camera_pose(np.tile(np.eye(4), (len(description.nodes), 1, 1)))
    behind = np.eye(4)
    behind[:3, 3] = X_WC[:3, 3] - X_WC[:3, 2]  # a metre behind the scope
    step = {"index": 1, "total": 3, "id": "hand", "instruction": "Hand over."}
    drop = {"time_s": 12.0, "kind": "drop", "data": {"object": "needle"}}
    for m in (
        _scene(description, 12.34),
        _message("session/step", step),
        _message("session/metrics", {"metrics": {"instrument_collisions": 0},
                                     "score_estimate": 88.0}),
        _message("session/metrics", {"metrics": {"instrument_collisions": 1},
                                     "score_estimate": 87.0}),
        _message("session/events", {"events": [drop]}),
        _message("PSM1/operating_state", {"state": "ALIGNING", "align_error_rad": 0.5}),
        _message("PSM2/operating_state", {"state": "HOLDING", "paused": True}),
        _message("PSM2/measured_cp", pose_payload(behind)),
    ):  # fmt: skip
        state.take(m, now_s=100.0)
        alerts.update(state, 100.0)  # as each client does between messages and frames
    c = hud_content(state, hello, alerts, 100.2, hint="")
    assert (c.title, c.step, c.instruction) == ("Needle handover", "Step 2/3", "Hand over.")
    assert c.time_s == pytest.approx(12.34) and c.time_limit_s == 120.0 and c.score == 87.0
    assert [(a.name, a.hand, a.state) for a in c.arms] == [
        ("PSM1", "right", "ALIGNING"), ("PSM2", "left", "HOLDING")]  # fmt: skip
    assert not any(a.active or a.auto_clutch for a in c.arms) and c.hint == ""
    texts = [t for t, _ in c.warnings]
    assert "Dropped needle" in texts and "Instruments collided" in texts
    assert "PSM2 is out of view" in texts  # behind the scope
    assert any(t.startswith("Session paused") for t in texts)
    assert c.status == "" and c.result == ""
    assert hud_content(state, hello, alerts, 102.0).status.startswith("waiting")  # silent bus
    alerts.update(state, 105.0)  # WARNING_S later the drop has gone; the lasting ones stay
    texts = [t for t, _ in hud_content(state, hello, alerts, 100.2).warnings]
    assert "Dropped needle" not in texts and "PSM2 is out of view" in texts

    score = {"passed": False, "score": 40.0, "pass_score": 84.5, "session_id": 7,
             "reasons": ["the exercise was not completed"]}  # fmt: skip
    state.take(_message("session/score", score), now_s=101.0)
    end = hud_content(state, hello, alerts, 101.0, close_hint="closes in 4 s")
    assert end.arms == () and end.score == 40.0 and end.status == ""
    assert end.result.splitlines() == [
        "FAIL - score 40.0/100", "why: the exercise was not completed",
        "stored as session 7", "closes in 4 s"]  # fmt: skip


def test_the_end_says_it_is_scoring_then_why_an_attempt_out_of_time_failed(description):
    """The window showed "waiting for the session on the bus..." (and the console "the
    training server sent nothing for 1.5 s (stopped, crashed or unreachable)") while the
    server stored a session that had ended; and its end box said "FAIL - score 0.0/100"
    with no word of why."""
    hello = {"title": "Needle handover", "time_limit_s": 120.0}
    state, alerts = LiveState(description), LiveAlerts()
    state.take(_scene(description, 119.9), now_s=100.0)
    ending = {"reason": "failed", "failure": "time limit of 120 s reached",
              "score_within_s": 120.0}  # fmt: skip
    state.take(_message("session/ending", ending), now_s=100.1)
    assert state.ending == ending and state.ending_s == 100.1
    silent = hud_content(state, hello, alerts, 103.0)
    assert silent.status == (
        "The session has ended (failed: time limit of 120 s reached): scoring and storing it..."
    )
    score = {"passed": False, "score": 0.0, "completed": False, "interrupted": False,
             "failure": "time limit of 120 s reached", "session_id": 3}  # fmt: skip
    state.take(_message("session/score", score), now_s=104.0)
    end = hud_content(state, hello, alerts, 104.0, close_hint="")
    assert end.status == ""
    assert end.result.splitlines() == [
        "FAIL - score 0.0/100", "why: not completed: time limit of 120 s reached",
        "stored as session 3"]  # fmt: skip
    said_already = {**score, "reasons": ["the exercise was not completed"]}
    state.take(_message("session/score", said_already), now_s=104.0)
    lines = hud_content(state, hello, alerts, 104.0, close_hint="").result.splitlines()
    assert lines[1:] == ["why: the exercise was not completed", "stored as session 3"]


def test_a_warning_said_again_while_on_screen_stands_once_and_longer():
    """A late clutch tap said twice in a row stood twice, one banner over the other."""
    alerts = LiveAlerts()
    text = "PSM1 still holds: its clutch tap came too late to count (a busy machine)"
    alerts.flash(text, "warning", 10.0)
    alerts.flash("Drop!", "warning", 10.5)
    alerts.flash(text, "warning", 11.0)
    assert alerts.current() == [("Drop!", "warning"), (text, "warning")]
    assert alerts.shown[-1][0] == 11.0 + WARNING_S


HELLO = {"title": "Needle handover", "devices": {"MTMR": "PSM1", "MTML": "PSM2"}}


def _banners(state, alerts, now_s):
    alerts.update(state, now_s)
    return [text for text, _ in hud_content(state, HELLO, alerts, now_s, hint="").warnings]


def test_a_hold_banner_goes_when_the_hold_ends_and_every_banner_when_the_result_comes(
    description,
):
    """The probe saw "PSM1 still holds: ... tapping again" stand beside PSM1 FOLLOWING,
    and "Stopping: the session is scored and stored" beside the "Session over" box."""
    state, alerts = LiveState(description), LiveAlerts()
    alerts.watch.auto_clutch = True
    late = {"time_s": 3.0, "kind": "clutch_ignored", "data": {"arm": "PSM1"}}
    drop = {"time_s": 3.1, "kind": "drop", "data": {"object": "needle"}}
    for m in (
        _scene(description, 3.0),
        _message("PSM1/operating_state", {"state": "HOLDING"}),
        _message("PSM2/operating_state", {"state": "FOLLOWING"}),
        _message("session/events", {"events": [late, drop]}),
    ):
        state.take(m, now_s=50.0)
    shown = _banners(state, alerts, 50.0)
    assert any(t.startswith("PSM1 still holds") for t in shown) and "Dropped needle" in shown
    state.take(_message("PSM1/operating_state", {"state": "HOLDING"}), now_s=50.5)
    assert any(t.startswith("PSM1 still holds") for t in _banners(state, alerts, 50.5))
    state.take(_message("PSM1/operating_state", {"state": "FOLLOWING"}), now_s=51.0)
    state.take(_scene(description, 4.0), now_s=51.0)
    assert _banners(state, alerts, 51.0) == ["Dropped needle"]  # its own 4 s still run

    # an event ahead of the operating state that shows the hold: kept until it ends
    state.take(_message("session/events", {"events": [dict(late, time_s=5.0)]}), now_s=52.0)
    assert any(t.startswith("PSM1 still holds") for t in _banners(state, alerts, 52.0))
    state.take(_message("PSM1/operating_state", {"state": "HOLDING"}), now_s=52.2)
    assert any(t.startswith("PSM1 still holds") for t in _banners(state, alerts, 52.2))
    state.take(_message("PSM1/operating_state", {"state": "FOLLOWING"}), now_s=52.4)
    assert not any(t.startswith("PSM1 still holds") for t in _banners(state, alerts, 52.4))

    alerts.flash("Stopping: the session is scored and stored", "info", 53.0)
    assert "Stopping: the session is scored and stored" in _banners(state, alerts, 53.0)
    score = {"passed": False, "score": 75.0, "completed": True, "session_id": 4}
    state.take(_message("session/score", score), now_s=53.5)
    assert _banners(state, alerts, 53.5) == []
    assert hud_content(state, HELLO, alerts, 53.5).result.startswith("FAIL - score 75")


def test_the_help_panel_leaves_the_warning_banners_in_view():
    """F1's panel was drawn over the banners: they are drawn last, the panel below them."""
    from sim.view.hud import INFO_COLOUR, draw_hud
    from sim.view.input import BINDINGS

    def blue_pixels(content):
        image = draw_hud(content, 640, 480)  # the probe's window: the panel fills it
        return int(np.count_nonzero(np.all(image[..., :3] == INFO_COLOUR[:3], axis=-1)))

    said = (
        ("PSM1 still holds: its clutch tap came too late to count (a busy machine)", "info"),
        ("PSM2 still holds: its clutch tap came too late to count (a busy machine)", "info"),
    )
    banner = HudContent(instruction="Pick up the ring by its tab.", warnings=said)
    alone = blue_pixels(banner)
    assert alone > 500
    with_help = blue_pixels(dataclasses.replace(banner, help=True, bindings=tuple(BINDINGS)))
    assert with_help == alone
