"""The desktop trainer's pure parts: warnings from metrics and events, the input mapping
checked against the real teleoperation pipeline, the gamepad, the overlay."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from haptics.master import MasterSample
from haptics.teleop import TeleopConfig, Teleoperation
from scenarios.trace import TraceEvent
from sim.view import input as I
from sim.view.hud import ArmLine, HudContent, draw_hud
from sim.view.warnings import SPEED_NOTICE_S, WarningWatch


def test_warnings_come_from_changes_of_what_is_scored():
    watch = WarningWatch()
    assert watch.update(0.0, {"instrument_collisions": 0.0, "excessive_force_time_s": 0.0}) == []
    alerts = watch.update(1.0, {"instrument_collisions": 1.0, "excessive_force_time_s": 0.0})
    assert [(a.kind, a.time_s) for a in alerts] == [("collision", 1.0)]
    alerts = watch.update(1.5, {"instrument_collisions": 3.0, "environment_collisions": 1.0})
    assert [a.detail for a in alerts] == ["instrument_collisions"] * 2 + ["environment_collisions"]
    watch.update(1.6, {"instrument_collisions": 1.0, "excessive_force_time_s": 0.0})
    # force grows for three updates: one warning for the episode
    kinds = []
    for k, force_time in enumerate((0.01, 0.03, 0.05, 0.05, 0.07)):
        metrics = {"instrument_collisions": 1.0, "excessive_force_time_s": force_time}
        kinds += [a.kind for a in watch.update(2.0 + k, metrics)]
    assert kinds == ["excessive_force", "excessive_force"]  # the second after a pause
    # no number: the live peak is the session's so far, not this episode's
    watch.update(9.0, {"excessive_force_time_s": 0.07, "peak_force_n": 65.9})
    alerts = watch.update(10.0, {"excessive_force_time_s": 0.09, "peak_force_n": 65.9})
    assert [a.text for a in alerts] == ["Excessive force"]
    # events: drops (objects or the bus's dicts), scenario messages and a held arm's
    # ignored clutch press; nothing else
    ignored = {"arm": "PSM1", "detail": "clutch press ignored while holding (stale sample)"}
    events = [
        TraceEvent(3.5, "drop", {"object": "pad/needle", "arm": "PSM2"}),
        {"time_s": 3.6, "kind": "grasp", "data": {"object": "pad/needle"}},
        {"time_s": 3.7, "kind": "message", "data": {"text": "Needle dropped"}},
        {"time_s": 3.8, "kind": "holding", "data": {"arm": "PSM1", "detail": "stale sample"}},
        TraceEvent(3.9, "clutch_ignored", ignored),
    ]
    alerts = watch.update(4.0, None, events)
    assert [(a.kind, a.time_s, a.detail) for a in alerts] == [
        ("drop", 3.5, "pad/needle"),
        ("message", 3.7, ""),
        ("message", 3.9, "PSM1"),
    ]
    assert "PSM1" in alerts[-1].text and "press it again" in alerts[-1].text
    # a window whose device taps the clutch itself does not ask the trainee to press (a
    # probe student, having pressed nothing, was told to on a busy machine)
    watch.auto_clutch = True
    [tapped] = watch.update(5.0, None, [TraceEvent(4.9, "clutch_ignored", ignored)])
    assert "PSM1" in tapped.text and "tapping again" in tapped.text
    assert "press it again" not in tapped.text


def test_speed_limit_events_keep_a_notice_up_for_a_second_after_the_last():
    watch = WarningWatch()
    assert watch.speed_limited(0.0) == []
    limit = {
        "time_s": 2.0,
        "kind": "speed_limit",
        "data": {"arm": "PSM1", "detail": "limit reached"},
    }
    assert watch.update(2.0, None, [limit]) == []  # a notice while it lasts, not an alert
    assert watch.speed_limited(2.0) == ["PSM1"] and watch.speed_limited(2.9) == ["PSM1"]
    watch.update(2.5, None, [TraceEvent(2.5, "speed_limit", {"arm": "PSM1"})])
    assert watch.speed_limited(3.4) == ["PSM1"]  # one second after the last, not the first
    assert watch.speed_limited(2.5 + SPEED_NOTICE_S) == []
    watch.update(4.0, None, [TraceEvent(3.9, "speed_limit", {"arm": "PSM2"})])
    assert watch.speed_limited(4.0) == ["PSM2"]


def test_a_quick_stroke_through_the_real_pipeline_raises_the_notice():
    """The server's teleoperation (its config, mouse-like jumps of the hand at 60 Hz): a
    stroke asking the tool for about 400 mm/s raises speed_limit; the notice goes a second
    after the tool has caught up."""
    X_RT = np.eye(4)
    X_RT[:3, 3] = (0.0, 0.0, -0.1)
    config = TeleopConfig(translation_scale=1.0 / 3.0, start_enabled=True, align_tolerance_rad=None)
    teleop = Teleoperation(config, X_RT, np.eye(4))
    hand = np.eye(4)
    hand[:3, :3] = I.aligned_hand_rotation(X_RT[:3, :3], np.eye(3), config.R_CM)
    d_M = I.tool_to_hand((0.4 / 60.0, 0.0, 0.0), config.R_CM, config.translation_scale)
    watch, t = WarningWatch(), 0.0
    jumps = range(16, 200, 16)  # the first sample (k = 0) places the hand
    for k in range(1500):  # 0.2 s of stroke, then the hand stays
        t += 0.001
        if k in jumps:
            hand[:3, 3] += d_M
        out = teleop.step([MasterSample(t, hand.copy(), 0.3)], t)
        events = [{"time_s": e.time_s, "kind": e.kind, "data": {"arm": "PSM1"}} for e in out.events]
        watch.update(t, None, events)
        if k == 150:
            assert watch.speed_limited(t) == ["PSM1"]  # during the stroke
    assert watch.speed_limited(t) == []  # 1.3 s after the stroke, the notice has gone
    np.testing.assert_allclose(
        teleop.X_RT[:3, 3] - X_RT[:3, 3], (len(jumps) * 0.4 / 60.0, 0, 0), atol=1e-6
    )


def _teleop() -> Teleoperation:
    X_RT = np.eye(4)
    X_RT[:3, 3] = (0.0, 0.0, -0.1)
    X_RC = np.eye(4)
    X_RC[:3, :3] = I.rotation_about((1.0, 0.2, 0.1), 2.5)  # an oblique camera
    config = TeleopConfig(
        translation_scale=1.0 / 3.0, tremor_filter="none", start_enabled=True,
        R_CM=tuple(map(tuple, I.rotation_about((0.0, 0.0, 1.0), 0.3))),
    )  # fmt: skip
    return Teleoperation(config, X_RT, X_RC)


def test_the_hand_the_device_presents_is_accepted_and_tool_motion_maps_back():
    teleop = _teleop()
    c = teleop.config
    R_RC = teleop.X_RC[:3, :3]
    # the hand aligned from the poses a device sees (world = R here)
    R_MH = I.aligned_hand_rotation(teleop.X_RT[:3, :3], R_RC, c.R_CM)
    hand = np.eye(4)
    hand[:3, :3] = R_MH
    t, out = 0.0, None
    for _ in range(20):
        t += 0.001
        out = teleop.step([MasterSample(t, hand.copy(), 0.3)], t)
    assert out.state == "FOLLOWING"
    start = teleop.X_RT[:3, 3].copy()
    # ask for 1 cm right and 5 mm down in the image: the hand moves by tool_to_hand(...)
    d_C = np.array([0.01, 0.005, 0.0])
    d_M = I.tool_to_hand(d_C, c.R_CM, c.translation_scale)
    for k in range(1, 201):  # in 200 samples (0.2 s), as a mouse drag arrives
        t += 0.001
        X = hand.copy()
        X[:3, 3] += d_M * k / 200
        out = teleop.step([MasterSample(t, X, 0.3)], t)
    for _ in range(300):  # let the rate limits settle
        t += 0.001
        out = teleop.step([MasterSample(t, X, 0.3)], t)
    moved_C = R_RC.T @ (teleop.X_RT[:3, 3] - start)
    np.testing.assert_allclose(moved_C, d_C, atol=2e-5)
    assert out.state == "FOLLOWING"


def test_pointer_motion_keeps_the_tip_under_the_pointer():
    focal, depth = 500.0, 0.15
    d = I.pointer_to_tool(40.0, -20.0, depth, focal)
    # a point at that depth moved by d projects 40 px right and 20 px up
    u0, v0 = 0.0, 0.0
    p = np.array([0.0, 0.0, depth]) + d
    assert focal * p[0] / p[2] - u0 == pytest.approx(40.0)
    assert focal * p[1] / p[2] - v0 == pytest.approx(-20.0)


def test_gamepad_sticks_drive_one_hand_each():
    axes = [0.5, 0.0, 0.0, -1.0, -1.0, 1.0]  # LX half right, RY full up; RT pulled
    out = I.gamepad_command(axes, [0] * 15, dt_s=0.1)
    left, right = out["MTML"], out["MTMR"]
    assert left.d_C_m[0] > 0 and left.d_C_m[1] == 0 and left.d_C_m[2] == 0
    assert right.d_C_m[1] == pytest.approx(-I.GAMEPAD_SPEED_M_S * 0.1)
    assert left.gripper_rad == pytest.approx(I.GRIPPER_OPEN_RAD) and right.gripper_rad == 0.0
    # dead zone, and the shoulder button turns the stick's vertical into depth
    buttons = [0] * 15
    buttons[5] = 1
    out = I.gamepad_command([0.1, 0.1, 0.0, -1.0, -1.0, -1.0], buttons, dt_s=0.1)
    assert not np.any(out["MTML"].d_C_m)
    assert out["MTMR"].d_C_m[1] == 0 and out["MTMR"].d_C_m[2] > 0


def test_the_overlay_shows_its_text_where_it_belongs():
    content = HudContent(
        title="Needle pick-up", step="Step 1/3", instruction="Pick up the needle.",
        time_s=83.4, score=87.0,
        arms=(ArmLine("PSM1", "right", "FOLLOWING", active=True),
              ArmLine("PSM2", "left", "ALIGNING", math.radians(23))),
        warnings=(("PSM2 is out of view", "warning"),), bindings=I.BINDINGS,
    )  # fmt: skip
    hud = draw_hud(content, 960, 720)
    assert hud.shape == (720, 960, 4)
    alpha = hud[..., 3]
    bright = hud[..., :3].max(axis=2) > 200
    assert bright[:60, :400].any() and bright[:60, -200:].any()  # instruction; timer
    assert bright[-70:, :400].any()  # the arm lines
    assert (alpha[300:, :] == 0).mean() > 0.5  # the scene stays visible
    helped = draw_hud(HudContent(help=True, bindings=I.BINDINGS), 960, 720)
    assert helped[200:500, 300:660, 3].mean() > alpha[200:500, 300:660].mean()
    assert content.key() != HudContent(**{**content.__dict__, "time_s": 83.6}).key()
    assert content.key() == HudContent(**{**content.__dict__, "time_s": 83.41}).key()


def test_the_timer_rounds_before_it_splits_minutes():
    from sim.view.hud import _clock

    assert _clock(59.96) == "01:00.0"  # read "00:60.0" at a session's 120 s cut-off
    assert _clock(119.99) == "02:00.0" and _clock(14.64) == "00:14.6"


class _Master:
    def __init__(self):
        self.camera = []

    def set_camera(self, device, pressed):
        self.camera.append((device, pressed))


@pytest.fixture(scope="module")
def description():
    from scenarios.loader import load_scenario
    from sim.session.session import Session

    with Session(load_scenario("needle-handover"), seed=0) as s:
        return s.scene_description()


def _viewer(description, hello):
    from sim.view.viewer import LiveState, Viewer

    viewer = Viewer(device=False, say=lambda _: None)
    viewer.state = LiveState(description)
    viewer.hello = hello
    return viewer


def test_the_end_screen_shows_the_final_score_and_nothing_live(description):
    hello = {"title": "Needle handover", "time_limit_s": 120.0, "devices": {"MTMR": "PSM1"}}
    viewer = _viewer(description, hello)
    viewer.state.score_estimate = 98.0
    viewer.state.arms = {"PSM1": {"state": "FOLLOWING", "align_error_rad": 0.0}}
    viewer.state.last_scene_s = time.monotonic() + 3600  # a scene has just come
    live = viewer._hud(0.0)
    assert live.score == 98.0 and [a.state for a in live.arms] == ["FOLLOWING"]
    assert live.time_limit_s == 120.0
    # the server fell silent: its last arm states and score are not shown as live (the
    # window kept "PSM1: FOLLOWING" in green beside "sent nothing for 4.5 s")
    viewer.state.last_scene_s = time.monotonic() - 60
    silent = viewer._hud(0.0)
    assert silent.status and silent.arms == () and silent.score is None
    # the session ended, its score not come yet: no "press and release the clutch"
    viewer.state.last_scene_s = time.monotonic() + 3600
    viewer.state.ending = {"reason": "interrupted"}
    assert viewer._hud(0.0).arms == ()
    viewer.state.ending = None
    viewer.state.score = {"score": 0.0, "passed": False, "interrupted": True}
    ended = viewer._hud(0.0)
    assert ended.score == 0.0 and ended.arms == ()  # the window said 98 beside "score 0"
    assert ended.instruction == ""  # the result box cut through it
    assert ended.result.startswith("FAIL (stopped by the user)")


def test_moving_too_fast_names_the_instruments_speed_limit(description):
    teleop = {"PSM1": {"max_tip_speed_m_s": 0.2}, "PSM2": {"max_tip_speed_m_s": 0.2}}
    hello = {"devices": {"MTMR": "PSM1", "MTML": "PSM2"}, "teleop": teleop}
    viewer = _viewer(description, hello)
    viewer.state.last_scene_s = time.monotonic() + 3600  # the scene is live
    viewer.state.scene_time_s = 5.0
    event = {"time_s": 5.0, "kind": "speed_limit", "data": {"arm": "PSM1", "detail": ""}}
    viewer.state.events = [event]
    viewer._warnings(0.0)
    shown = viewer._hud(0.0).warnings
    assert ("Moving too fast: PSM1 is speed-limited (200 mm/s)", "warning") in shown
    assert not any("PSM2" in text for text, _ in shown)
    viewer.state.scene_time_s = 5.9
    assert any("Moving too fast" in text for text, _ in viewer._hud(0.0).warnings)
    viewer.state.scene_time_s = 6.0  # a second after the last event: gone
    assert not any("Moving too fast" in text for text, _ in viewer._hud(0.0).warnings)
    older = _viewer(description, {"devices": {"MTMR": "PSM1"}})  # a hello without the limit
    older.state.events = [event]
    older.state.last_scene_s = time.monotonic() + 3600
    older.state.scene_time_s = 5.0
    older._warnings(0.0)
    assert ("Moving too fast: PSM1 lags behind the hand", "warning") in older._hud(0.0).warnings


def test_the_camera_pedal_says_so_when_the_endoscope_is_fixed(description):
    hello = {"camera_arm": "ECM", "teleop": {"PSM1": {}, "PSM2": {}}}
    viewer = _viewer(description, hello)
    viewer.master, viewer.devices = _Master(), ["MTMR"]
    viewer._key("c", True)
    assert any("endoscope is fixed" in text for _, text, _ in viewer._alerts.shown)
    driven = _viewer(description, {"camera_arm": "ECM", "teleop": {"ECM": {}, "PSM1": {}}})
    driven.master, driven.devices = _Master(), ["MTMR"]
    driven._key("c", True)
    assert not driven._alerts.shown and driven.master.camera == [("MTMR", True)]


def test_an_instruction_is_wrapped_by_its_drawn_width_and_never_cut_silently():
    """The ring walk's instruction lost "with the right instrument." at 640x480: the
    overlay counted characters and drew two lines at most, without a mark."""
    from PIL import Image, ImageDraw

    from sim.view.hud import MAX_INSTRUCTION_LINES, font, wrap_to_width

    ring_walk = (
        "Walk the ring up to the crest, the wire in the middle of the ring and the ring"
        " square to it; leave it hanging there and take it by its tab with the right"
        " instrument."
    )
    draw = ImageDraw.Draw(Image.new("RGBA", (10, 10)))
    body = font(round(19 * 480 / 720))
    width_of = lambda t: draw.textlength(t, font=body)  # noqa: E731
    lines = wrap_to_width(ring_walk, width_of, 480.0)
    assert " ".join(lines) == ring_walk  # every word, in order
    assert 2 < len(lines) <= MAX_INSTRUCTION_LINES and max(map(width_of, lines)) <= 480.0
    # too long for the lines there are: the last line says so
    cut = wrap_to_width(ring_walk, width_of, 150.0)
    assert len(cut) == MAX_INSTRUCTION_LINES and cut[-1].endswith("…")
    assert max(map(width_of, cut)) <= 150.0
    assert wrap_to_width("", width_of, 100.0) == [""]


class _SilenceCheck:
    """The server's answers, in order, to a window whose scene stopped coming."""

    def __init__(self, *verdicts) -> None:
        self.verdicts = list(verdicts)
        self.asked = self.heard_count = 0

    def heard(self) -> None:
        self.heard_count += 1

    def check(self, silent_s: float, now_s: float):
        self.asked += 1
        return self.verdicts.pop(0) if self.verdicts else None


def test_a_silent_server_is_asked_why_and_the_window_shows_its_answer(description):
    """A key removed from the server's allow directory showed "waiting for the session on
    the bus..." for ever; the window now shows the server's refusal (and says it once on
    the console), and a cut stream that is reconnected shows nothing new."""
    from haptics.bus.probe import Silence

    said: list[str] = []
    viewer = _viewer(description, {"devices": {"MTMR": "PSM1"}})
    viewer.say = said.append
    refused = Silence("refused", "the training server refuses this window: key removed")
    viewer._silence = _SilenceCheck(refused, refused, Silence("resubscribed", "reconnected"))
    viewer._check_silence(100.0)
    assert viewer._silence.asked == 0  # no scene yet: a server waiting for its devices
    viewer.state.last_scene_s = 100.0
    viewer._check_silence(101.0)
    assert viewer._silence.asked == 0 and viewer._silence.heard_count == 1  # flowing
    viewer._check_silence(103.0)
    viewer._check_silence(105.0)
    assert viewer.state.silence == refused.text and said == [refused.text]  # said once
    assert viewer._hud(0.0).status == refused.text
    viewer._check_silence(107.0)
    assert viewer.state.silence == "" and said == [refused.text, "reconnected"]
    assert viewer._hud(0.0).status.startswith("waiting for the session")
    viewer.state.score = {"score": 50.0, "passed": False}
    viewer._check_silence(110.0)
    assert viewer._silence.asked == 3  # an ended session is not asked about


def test_a_long_status_is_wrapped_in_a_box_inside_the_window():
    """A server's refusal (~250 characters: the key, the reason, the fix) was drawn as one
    centred line, cut off at both edges of the window."""
    from sim.view.hud import HudContent, draw_hud

    refusal = (
        "the training server refuses this window: a request from a client connected with"
        " the key 'laptop' was dropped: that key was removed from the server's allow"
        " directory since the client connected, which cuts the client off (put its"
        " NAME.key back to let it in again)"
    )
    for width, height in ((640, 480), (960, 720)):
        alpha = draw_hud(HudContent(status=refusal), width, height)[..., 3]
        band = alpha[height // 4 : 3 * height // 4]  # the status, centred
        columns = band.max(axis=0).nonzero()[0]
        rows = band.max(axis=1).nonzero()[0]
        assert columns.min() > 0.05 * width and columns.max() < 0.95 * width
        assert rows.max() - rows.min() > 3 * 19 * height / 720  # several lines
