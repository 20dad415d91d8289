"""The session as a bus client sees it, and the trainer's overlay built from it: one
definition for every screen that shows a live session.

The desktop window (:mod:`sim.view.viewer`) and the headset client (:mod:`sim.xr.client`)
take the same bus messages (``scene/state``, ``session/step``, ``session/metrics``,
``session/events``, ``<arm>/operating_state``, ``<arm>/measured_cp``,
``session/score``) into a :class:`LiveState`, turn metrics and events into timed warnings
(:class:`LiveAlerts`, through :class:`sim.view.warnings.WarningWatch`) and build the
overlay's :class:`sim.view.hud.HudContent` with :func:`hud_content`; each then draws it
its own way (a window-sized layer, or a panel in each eye). Imports no pybullet, GL or
Pillow (the headset client runs in a Python with only the viewer's side of surgisim).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from haptics.bus.probe import ending_words
from scenarios.glossary import verdict_text
from scenarios.visual import SceneDescription, poses_from_pq
from sim.view.hud import ArmLine, HudContent
from sim.view.warnings import Alert, WarningWatch, speed_notice

#: How long a warning stays on screen (s).
WARNING_S = 4.0
#: Without a scene/state for this long the overlay says it is waiting (s).
STALE_S = 1.5
#: Hands the device names map to, for the overlay.
HAND_OF = {"MTMR": "right", "MTML": "left"}


class LiveState:
    """The session as the bus shows it (updated message by message)."""

    def __init__(self, description: SceneDescription) -> None:
        self.set_description(description)
        self.scene_time_s = 0.0
        self.X_WN: np.ndarray | None = None
        self.new_frame = False
        self.last_scene_s = -math.inf
        self.arms: dict[str, dict] = {}
        self.step: dict = {}
        self.metrics: dict | None = None
        self.new_metrics: dict | None = None
        self.score_estimate: float | None = None
        self.events: list = []
        self.score: dict | None = None
        #: the server's ``session/ending`` (the session ended; its result follows while
        #: the server, silent, scores and stores it) and the monotonic time it came
        self.ending: dict | None = None
        self.ending_s = 0.0
        self.scene_changed = False
        #: the server says the session is paused (``operating_state``'s ``paused``)
        self.paused = False
        #: why the stream is silent, once the server was asked (it is gone, or it refuses
        #: this client's key; :class:`haptics.bus.probe.SilenceCheck`), '' otherwise
        self.silence = ""

    def set_description(self, description: SceneDescription) -> None:
        """A new scene description (the order of poses to come)."""
        self.description = description
        self._names: tuple | None = None
        self._order: np.ndarray | None = None

    def take(self, message, now_s: float) -> None:
        """Fold one bus message in."""
        topic, p = message.topic, message.payload
        if topic == "scene/state":
            names = tuple(p["names"])
            if names != self._names:
                index = {n: i for i, n in enumerate(names)}
                try:
                    self._order = np.array([index[n] for n in self.description.node_names])
                except KeyError:  # the scene changed under us: wait for the new description
                    self._order = None
                    self.scene_changed = True
                self._names = names
            if self._order is not None:
                self.X_WN = poses_from_pq(np.asarray(p["poses"], dtype=float)[self._order])
                self.scene_time_s = float(p["time_s"])
                self.new_frame = True
                self.last_scene_s = now_s
        elif topic == "session/step":
            self.step = dict(p)
        elif topic == "session/metrics":
            self.metrics = dict(p.get("metrics") or {})
            self.new_metrics = self.metrics
            self.score_estimate = p.get("score_estimate")
        elif topic == "session/events":
            for event in p.get("events") or ():
                self.events.append(event)
                if event.get("kind") == "scene_changed":
                    self.scene_changed = True
        elif topic == "session/score":
            self.score = dict(p)
        elif topic == "session/ending":
            if self.ending is None:
                self.ending, self.ending_s = dict(p), now_s
        else:
            arm, _, kind = topic.partition("/")
            if kind == "measured_cp":
                from haptics.bus.contract import pose_from_payload

                self.arms.setdefault(arm, {})["X_WT"] = pose_from_payload(p)
            elif kind == "operating_state":
                entry = self.arms.setdefault(arm, {})
                entry["state"] = str(p.get("state", ""))
                entry["align_error_rad"] = float(p.get("align_error_rad", math.nan))
                self.paused = bool(p.get("paused", False))

    def camera_pose(self) -> np.ndarray | None:
        """``X_WC`` of the current frame (the scope node's, or the fixed camera's)."""
        if self.X_WN is None:
            return None
        return self.description.camera_pose(self.X_WN)


def tip_in_view(description: SceneDescription, X_WC, p_WT) -> bool:
    """Whether a tool tip at ``p_WT`` (world, m) lies in the endoscope's view: in front,
    within the near and far planes, and inside the camera's nominal image."""
    camera = description.camera
    p_C = np.asarray(X_WC)[:3, :3].T @ (np.asarray(p_WT) - np.asarray(X_WC)[:3, 3])
    if not camera.near_m <= p_C[2] <= camera.far_m:
        return False
    height = 1000
    width = camera.aspect * height
    u, v = camera.project(p_C, width, height)
    return 0.0 <= u <= width and 0.0 <= v <= height


class LiveAlerts:
    """Warnings as they happen, each shown for :data:`WARNING_S`: the session's metrics
    and events through a :class:`WarningWatch`, and notices a client adds itself
    (:meth:`flash`)."""

    def __init__(self) -> None:
        self.watch = WarningWatch()
        self.shown: list[tuple[float, str, str]] = []  # (until, text, severity)
        #: every alert raised so far (:class:`sim.view.warnings.Alert`)
        self.seen: list[Alert] = []
        #: banners about an arm's hold ("PSM1 still holds: ..."): text -> [arm, the arm's
        #: state when last seen]; such a banner goes as soon as the hold ends (it stood
        #: for its 4 s beside the arm's FOLLOWING, telling of a hold that was over)
        self._about_hold: dict[str, list[str]] = {}

    def flash(self, text: str, severity: str, now_s: float) -> None:
        """Show ``text`` (``warning`` or ``info``) from ``now_s`` (monotonic s); the same
        text already on screen is shown longer, not twice (a late clutch tap said twice
        in a row stood twice, one banner over the other)."""
        self.shown = [a for a in self.shown if a[1:] != (text, severity)]
        self.shown.append((now_s + WARNING_S, text, severity))

    def update(self, state: LiveState, now_s: float) -> None:
        """Take the metrics and events ``state`` gathered since the last call (it hands
        them over: each is judged once) and drop the warnings that have had their time,
        those about an arm's hold once the hold is over, and all of them once the result
        has come."""
        metrics, state.new_metrics = state.new_metrics, None
        events, state.events = state.events, []
        for alert in self.watch.update(state.scene_time_s, metrics, events):
            self.seen.append(alert)
            self.flash(alert.text, "info" if alert.kind == "message" else "warning", now_s)
            if alert.kind == "message" and alert.detail:  # a clutch press that did not count
                arm_state = state.arms.get(alert.detail, {}).get("state", "")
                self._about_hold[alert.text] = [alert.detail, arm_state]
        for text, seen in list(self._about_hold.items()):
            now_state = state.arms.get(seen[0], {}).get("state", "")
            if now_state == "HOLDING":
                seen[1] = now_state
            elif now_state != seen[1]:  # the hold is over (or the operating state lagged
                # behind the event, and the hold came and went since)
                self.shown = [a for a in self.shown if a[1] != text]
        self.shown = [a for a in self.shown if a[0] > now_s]
        if state.score is not None:
            self.shown = []  # the result box says it all ("Stopping: ..." stood beside it)
        self._about_hold = {
            t: v for t, v in self._about_hold.items() if any(a[1] == t for a in self.shown)
        }

    def current(self) -> list[tuple[str, str]]:
        """The ``(text, severity)`` pairs on screen now, oldest first."""
        return [(text, severity) for _, text, severity in self.shown]


def hud_content(
    state: LiveState,
    hello: Mapping,
    alerts: LiveAlerts,
    now_s: float,
    *,
    active_device: str | None = None,
    auto_clutch: bool = False,
    help: bool = False,
    bindings: Sequence[tuple[str, str]] = (),
    fps: float = 0.0,
    hint: str = "F1: help",
    close_hint: str = "Esc: close the window",
) -> HudContent:
    """What the overlay shows now, from the session as the bus showed it.

    Args:
        state: the live session; hello: the server's ``hello`` (title, time limit,
            devices, teleop limits).
        alerts: the warnings on screen (:meth:`LiveAlerts.update` first).
        now_s: monotonic time (s), to tell a silent server.
        active_device: the device this client's pointer drives (marked), None: none.
        auto_clutch: this client clutches a held arm back in by itself.
        help, bindings, fps, hint: as :class:`HudContent`.
        close_hint: the last line of the end result: how this screen closes.

    Besides the warnings that come and go, it adds the conditions that last: an
    instrument out of the endoscope's view, a hand too quick for its instrument's speed
    limit, and a paused session. Once the session has ended only the result is shown
    (with the final score, not the running estimate): no banner stays beside it.
    """
    ended = state.score is not None  # the result box says it all: nothing live stays
    warnings = [] if ended else alerts.current()
    X_WC = state.camera_pose()
    arms = []
    mapped = {arm: device for device, arm in (hello.get("devices") or {}).items()}
    status = ""
    if not ended and now_s - state.last_scene_s > STALE_S:
        status = state.silence or (
            f"The session has ended ({ending_words(state.ending)}): scoring and storing it..."
            if state.ending is not None
            else "waiting for the session on the bus..."
        )
    # nothing live is shown once the session is over or the server fell silent: a dead
    # server's arms stayed green FOLLOWING, and an ended session's arms HOLDING asked the
    # trainee to "press and release the clutch"
    live = not ended and not status and state.ending is None
    speeding = alerts.watch.speed_limited(state.scene_time_s)
    for arm, device in sorted(mapped.items(), key=lambda kv: kv[1], reverse=True):
        if not live:
            break
        seen = state.arms.get(arm, {})
        tip = seen.get("X_WT")
        if (
            X_WC is not None
            and tip is not None
            and not tip_in_view(state.description, X_WC, tip[:3, 3])
        ):
            warnings.append((f"{arm} is out of view", "warning"))
        if arm in speeding:
            limit = (hello.get("teleop") or {}).get(arm, {}).get("max_tip_speed_m_s")
            warnings.append((speed_notice(arm, limit), "warning"))
        arms.append(
            ArmLine(
                arm,
                HAND_OF.get(device, device),
                seen.get("state", ""),
                seen.get("align_error_rad", math.nan),
                device == active_device,
                auto_clutch,
            )
        )
    if state.paused and not ended:
        warnings.append(("Session paused: nothing moves until it resumes", "info"))
    step = state.step
    step_text = f"Step {step['index'] + 1}/{step['total']}" if step.get("total") else ""
    if step.get("total") and step.get("index", 0) >= step["total"]:
        step_text = "All steps done"
    score = state.score.get("score") if ended else state.score_estimate
    return HudContent(
        title=str(hello.get("title", "")),
        step=step_text,
        # over: the result box takes the middle (it cut through a two-line instruction)
        instruction="" if ended else str(step.get("instruction", "")),
        time_s=state.scene_time_s,
        time_limit_s=hello.get("time_limit_s"),
        score=score if ended or live else None,
        arms=tuple(arms),
        warnings=tuple(warnings),
        status=status,
        help=help,
        bindings=tuple(bindings),
        result=result_text(state.score, close_hint),
        fps=fps,
        hint=hint,
    )


def result_text(score: Mapping | None, close_hint: str = "Esc: close the window") -> str:
    """The end box's lines from ``session/score``: the verdict and score, why it did not
    pass (up to two of the rubric's reasons), where it is stored, and ``close_hint``."""
    if score is None:
        return ""
    verdict = verdict_text(bool(score.get("passed")), bool(score.get("interrupted")))
    value = score.get("score")
    lines = [verdict]
    if value is not None:
        lines = [f"{verdict} - score {_score_text(value, score.get('pass_score'))}/100"]
    reasons = [str(r) for r in score.get("reasons") or ()]
    unsaid = not any("not completed" in r for r in reasons)  # a rubric may say it first
    if not score.get("completed", True) and not score.get("interrupted") and unsaid:
        # out of time or failed by a rule: the first thing a trainee asks (the box said
        # "FAIL - score 0.0/100" with nothing more)
        failure = score.get("failure")
        reasons.insert(0, f"not completed: {failure}" if failure else "not completed")
    lines += [f"why: {r}" for r in reasons[:2]]
    if score.get("session_id") is not None:
        lines.append(f"stored as session {score['session_id']}")
    if close_hint:
        lines.append(close_hint)
    return "\n".join(lines)


def _score_text(value: float, pass_score: float | None) -> str:
    """The verdict's decimals, as on the report (:func:`scenarios.scoring.score_text`);
    one decimal where the scoring package cannot load (the headset's Python has the
    viewer's side of surgisim only: no pydantic)."""
    try:
        from scenarios.scoring import score_text
    except ImportError:
        return f"{value:.1f}"
    return score_text(value, pass_score)
