"""What the server tells the bus, at which rate, through which latency line.

Three channels can carry an injected telesurgery delay (:mod:`haptics.bus.latency`):
``command`` (device samples on their way to the instruments), ``video`` (everything a
viewer shows: scene, arm states, events, step, metrics) and ``haptic`` (force feedback on
its way to the device). The publisher holds back each outgoing message in its channel's
:class:`~haptics.bus.latency.DelayLine` and sends it once due, so a viewer sees the scene
as late as a remote console would.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from haptics.bus.contract import pose_payload
from kinematics.transforms import matrix_to_quat_xyzw
from scenarios.visual import poses_to_pq

CHANNELS = ("command", "video", "haptic")

#: How early (a fraction of its period) a ``servo_cf`` may come and still go out
#: (:class:`Every`): a 1 kHz device's samples ~1 ms apart all get their feedback.
SERVO_CF_SLACK = 0.5


@dataclass(frozen=True)
class Rates:
    """Publishing rates (Hz); force feedback goes out every physics step up to its rate."""

    servo_cf_hz: float = 1000.0
    arm_state_hz: float = 60.0
    scene_hz: float = 60.0
    metrics_hz: float = 5.0
    step_hz: float = 1.0
    operating_state_hz: float = 10.0


@dataclass(frozen=True)
class ChannelDelay:
    """An injected delay on one channel: mean (s), jitter SD (s), loss probability."""

    latency_s: float = 0.0
    jitter_s: float = 0.0
    loss: float = 0.0

    @property
    def zero(self) -> bool:
        """No delay, jitter or loss."""
        return self.latency_s == 0.0 and self.jitter_s == 0.0 and self.loss == 0.0

    def as_dict(self) -> dict:
        """Milliseconds and a share, for records and reports."""
        return {
            "latency_ms": 1000.0 * self.latency_s,
            "jitter_ms": 1000.0 * self.jitter_s,
            "loss": self.loss,
        }


def _plain(value):
    """A msgpack-friendly copy of event data (numpy to lists and floats, non-finite to None)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return str(value)


class Every:
    """True once per period of a clock (s): a rate limiter for publishing.

    Args:
        rate_hz: the most per second, over any span (give or take one).
        slack: how early (a fraction of the period) a call may come and still be let
            through. The schedule advances one period per call let through, so the rate
            stays capped; the slack only stops jitter from deciding. ``servo_cf`` is
            capped at 1 kHz and a 1 kHz device's samples come ~1 ms apart, half of them a
            little early: without slack a quarter of the between-step feedback was
            skipped (869/s for a 1 kHz device at 500 Hz physics, unloaded).
    """

    def __init__(self, rate_hz: float, slack: float = 0.0) -> None:
        self.period_s = 1.0 / rate_hz if rate_hz > 0 else math.inf
        self._slack_s = slack * self.period_s if rate_hz > 0 else 0.0
        self._next = -math.inf

    def __call__(self, now_s: float) -> bool:
        if now_s < self._next - self._slack_s:
            return False
        following = self._next + self.period_s
        self._next = following if following > now_s else now_s + self.period_s
        return True


def operating_state_payload(
    state: str,
    *,
    following: bool = False,
    aligned: bool = False,
    align_error_rad: float = math.pi,
    holding=(),
    paused: bool = False,
) -> dict:
    """An arm's ``<arm>/operating_state`` (docs/bus.md), in a running, paused or
    waiting server alike; an alignment error not measured yet (no sample) reads as far
    off as it can be (pi)."""
    return {
        "state": state,
        "following": following,
        "aligned": aligned,
        "align_error_rad": align_error_rad if math.isfinite(align_error_rad) else math.pi,
        "holding": list(holding),
        "paused": paused,
    }


class Publisher:
    """Sends a session's state on the bus at the contract's rates, through latency lines.

    Args:
        bus: the :class:`~haptics.bus.ServerBus`.
        lines: a :class:`~haptics.bus.latency.DelayLine` per channel (None: no delay).
        rates: publishing rates.
    """

    def __init__(self, bus, lines: Mapping[str, object | None], rates: Rates) -> None:
        self.bus = bus
        self.lines = dict(lines)
        self.rates = rates
        self._arm_state = Every(rates.arm_state_hz)
        self._scene = Every(rates.scene_hz)
        self._metrics = Every(rates.metrics_hz)
        self._step = Every(rates.step_hz)
        self._op_state = Every(rates.operating_state_hz)
        # feedback follows the device's samples: at the cap's own rate, jitter decides
        self._servo_cf = Every(rates.servo_cf_hz, slack=SERVO_CF_SLACK)
        self._last_step_index = -1
        self._last_states: dict[str, str] = {}

    # ---- sending through a channel ------------------------------------------------------
    def _send(self, channel: str, now_s: float, topic: str, payload: dict, used_seq: int) -> None:
        line = self.lines.get(channel)
        if line is None:
            self.bus.publish(topic, payload, used_seq=used_seq)
        else:
            line.push(now_s, (topic, payload, used_seq))

    def flush(self, now_s: float) -> None:
        """Send every delayed message that is due."""
        for channel in ("video", "haptic"):
            line = self.lines.get(channel)
            if line is not None:
                for topic, payload, used_seq in line.pop_ready(now_s):
                    self.bus.publish(topic, payload, used_seq=used_seq)

    # ---- what goes out ------------------------------------------------------------------
    def state(
        self,
        now_s: float,
        state,
        used_seq: int,
        align_errors: Mapping[str, float],
        aligned_hands: Mapping[str, object] | None = None,
        paused: bool = False,
    ) -> None:
        """Arm states, scene, step, metrics and events of one step, each at its rate.

        ``paused``: the session is paused and ``state`` is its last step, published again
        so that viewers and devices see a live server (its events went out already);
        ``operating_state`` says ``paused: true``.

        An arm's own messages carry the ``used_seq`` of its own device's sample (the
        others, the newest sample of any device). ``aligned_hands``: per teleoperated arm,
        a callable giving the hand orientation (3x3, M) the alignment gate accepts now,
        published as ``aligned_hand_xyzw`` with the operating state."""
        aligned_hands = aligned_hands or {}

        def seq_of(arm) -> int:
            return arm.used_seq if arm.used_seq >= 0 else used_seq

        if self._arm_state(now_s):
            for name, arm in state.arms.items():
                seq = seq_of(arm)
                self._send("video", now_s, f"{name}/measured_cp", pose_payload(arm.X_WT), seq)
                self._send(
                    "video",
                    now_s,
                    f"{name}/measured_js",
                    {"position_rad": arm.measured_js, "name": list(arm.joint_names)},
                    seq,
                )
                self._send(
                    "video", now_s, f"{name}/jaw/measured_js", {"position_rad": [arm.jaw_rad]}, seq
                )
        periodic = self._op_state(now_s)
        for name, arm in state.arms.items():
            if periodic or self._last_states.get(name) != arm.operating_state:
                self._last_states[name] = arm.operating_state
                payload = operating_state_payload(
                    arm.operating_state,
                    following=arm.following,
                    aligned=arm.aligned,
                    align_error_rad=align_errors.get(name, math.pi),
                    holding=arm.holding,
                    paused=paused,
                )
                hand = aligned_hands.get(name)
                if hand is not None:
                    payload["aligned_hand_xyzw"] = matrix_to_quat_xyzw(hand()).tolist()
                self._send("video", now_s, f"{name}/operating_state", payload, seq_of(arm))
        if self._scene(now_s):
            self._send(
                "video",
                now_s,
                "scene/state",
                {
                    "time_s": state.poses_time_s,
                    "names": list(state.node_names),
                    "poses": poses_to_pq(state.node_poses),
                },
                used_seq,
            )
        exercise = state.exercise
        if self._step(now_s) or exercise.step_index != self._last_step_index:
            self._last_step_index = exercise.step_index
            self._send(
                "video",
                now_s,
                "session/step",
                {
                    "index": exercise.step_index,
                    "total": exercise.steps_total,
                    "id": exercise.step_id,
                    "instruction": exercise.instruction,
                },
                used_seq,
            )
        if self._metrics(now_s):
            self._send(
                "video",
                now_s,
                "session/metrics",
                {
                    "metrics": {k: v for k, v in state.metrics.items() if math.isfinite(v)},
                    "score_estimate": state.score_estimate,
                },
                used_seq,
            )
        if state.events and not paused:
            self.events(now_s, state.events, used_seq)

    def waiting(self, now_s: float, arm_states: Mapping[str, str], missing) -> None:
        """While the server waits for its devices, before the session starts: each
        teleoperated arm's ``operating_state`` at its rate, saying which devices are
        missing (``waiting_for``), so a client can tell a waiting server from a dead one."""
        if not self._op_state(now_s):
            return
        for name, state in arm_states.items():
            payload = {**operating_state_payload(state), "waiting_for": sorted(missing)}
            self._send("video", now_s, f"{name}/operating_state", payload, -1)

    def events(self, now_s: float, events, used_seq: int = -1) -> None:
        """Events as they happen (the video channel)."""
        payload = [{"time_s": e.time_s, "kind": e.kind, "data": _plain(e.data)} for e in events]
        self._send("video", now_s, "session/events", {"events": payload}, used_seq)

    def force(self, now_s: float, device: str, force_n, torque_nm, used_seq: int) -> None:
        """One ``servo_cf`` (the haptic channel), at most at its rate."""
        self._send(
            "haptic",
            now_s,
            f"{device}/servo_cf",
            {"force_n": force_n, "torque_nm": torque_nm},
            used_seq,
        )

    def force_due(self, now_s: float) -> bool:
        """Whether force feedback goes out this step (its rate limit)."""
        return self._servo_cf(now_s)
