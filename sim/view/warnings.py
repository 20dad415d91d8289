"""What deserves a warning while a session runs: one definition for the window and the report.

The trainer's window warns as things happen, and the session report shows a snapshot of
each; both must agree on what "a collision" or "excessive force" is. Both come from what
the session already scores (:mod:`scenarios.live`), so a warning is exactly a change of a
scored quantity:

- ``collision``: ``instrument_collisions``, ``environment_collisions`` or
  ``held_object_collisions`` went up (contact episodes, chatter merged, as scored): one
  warning per episode counted;
- ``excessive_force``: ``excessive_force_time_s`` started to grow (one warning per
  episode: it must stop growing for one update before the next warning);
- ``drop``: a ``drop`` event (an object released and fallen, or out of the workspace);
- ``message``: a scenario's ``message`` action (information, not a fault), and a held
  instrument's ``clutch_ignored`` event (its clutch press came too late to count: press
  and release it again).

One more notice is the window's alone, not a fault and not in the report: an instrument's
``speed_limit`` event (teleoperation caps the tool tip's speed, ``max_tip_speed_m_s``, and
the tool lags a quick stroke of the hand) keeps "Moving too fast" on screen until
:data:`SPEED_NOTICE_S` after the last one (:meth:`WarningWatch.speed_limited`). The event
comes when the limit starts to act and again whenever it acts after a let-up, so quick
strokes keep the notice up; one long stroke, limited throughout, shows it for its first
second (teleoperation reports a limit when it starts, not while it lasts).

The input is what both sides have: the live metrics (``StepState.metrics`` in-process,
``session/metrics`` on the bus, refreshed at 5-10 Hz) and the session's events
(:class:`scenarios.trace.TraceEvent` or the bus's ``{"time_s", "kind", "data"}`` dicts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: The kinds of warning a report takes a snapshot of.
SNAPSHOT_KINDS = ("drop", "collision", "excessive_force")

#: How long "Moving too fast" stays after an instrument's last ``speed_limit`` event (s
#: of session time): long enough to read, short enough to go once the hand slows.
SPEED_NOTICE_S = 1.0

#: Collision counters (live metrics) and what each means to a trainee.
COLLISION_METRICS = {
    "instrument_collisions": "Instruments collided",
    "environment_collisions": "Instrument hit the scene",
    "held_object_collisions": "Held object hit the scene",
}


def speed_notice(arm: str, max_tip_speed_m_s: float | None) -> str:
    """What the window says while ``arm``'s speed limit acts: that the hand is too quick
    and the limit's value (mm/s, as a trainee reads speeds), so that the lag reads as a
    limit of the robot, not a fault of the simulator. The value is the limit on the
    instrument's target (``max_tip_speed_m_s``), not a promise about every instant of the
    tip: the target may take up to ``limit_carry_s`` of unused allowance at once, and the
    tip runs faster for a moment while it catches up (``docs/desktop.md``)."""
    if max_tip_speed_m_s is None:
        return f"Moving too fast: {arm} lags behind the hand"
    return f"Moving too fast: {arm} is speed-limited ({1000.0 * max_tip_speed_m_s:.0f} mm/s)"


@dataclass(frozen=True)
class Alert:
    """One warning.

    Attributes:
        time_s: simulated time it happened (s).
        kind: ``drop``, ``collision``, ``excessive_force`` or ``message``.
        text: what to tell the trainee.
        detail: the object or metric concerned ('' when none).
    """

    time_s: float
    kind: str
    text: str
    detail: str = ""


def _event_fields(event) -> tuple[float, str, Mapping]:
    if isinstance(event, Mapping):
        return float(event.get("time_s", 0.0)), str(event.get("kind", "")), event.get("data") or {}
    return float(event.time_s), str(event.kind), event.data or {}


class WarningWatch:
    """Turns metrics and events into :class:`Alert` s (see the module docstring).

    Feed it with :meth:`update` whenever new metrics or events arrive; it returns the
    alerts those raise, in order. The first metrics it sees are its baseline.
    """

    def __init__(self) -> None:
        #: the client's device clutches a held arm back in by itself (the desktop
        #: device): an ignored clutch press was its own tap, and it taps again; telling the
        #: trainee to press (a probe student saw it having pressed nothing) is wrong
        self.auto_clutch = False
        self._last: dict[str, float] | None = None
        self._force_growing = False
        self._speed_limited_s: dict[str, float] = {}  # arm -> its last speed_limit (s)

    def update(
        self, time_s: float, metrics: Mapping[str, float] | None = None, events: Iterable = ()
    ) -> list[Alert]:
        """The alerts raised by new ``metrics`` (None: none arrived) and ``events``.

        Args:
            time_s: simulated time of the metrics (s); events carry their own.
        """
        out: list[Alert] = []
        for event in events:
            t, kind, data = _event_fields(event)
            if kind == "drop":
                obj = str(data.get("object", "object"))
                out.append(Alert(t, "drop", f"Dropped {obj}", obj))
            elif kind == "message":
                text = str(data.get("text", data.get("message", "")))
                if text:
                    out.append(Alert(t, "message", text))
            elif kind == "clutch_ignored":
                arm = str(data.get("arm", "the instrument"))
                text = (
                    f"{arm} still holds: its clutch tap came too late to count (a busy "
                    "machine); tapping again"
                    if self.auto_clutch
                    else f"{arm} still holds: its clutch press came too late to count; "
                    "press it again"
                )
                out.append(Alert(t, "message", text, arm))
            elif kind == "speed_limit":
                arm = str(data.get("arm", ""))
                self._speed_limited_s[arm] = max(t, self._speed_limited_s.get(arm, t))
        if metrics is not None:
            out += self._metrics(float(time_s), metrics)
        return out

    def speed_limited(self, time_s: float) -> list[str]:
        """The arms whose tool tip the speed limit held back within :data:`SPEED_NOTICE_S`
        before ``time_s`` (session time, s), in the order they were first limited."""
        return [arm for arm, t in self._speed_limited_s.items() if time_s - t < SPEED_NOTICE_S]

    def _metrics(self, time_s: float, metrics: Mapping[str, float]) -> list[Alert]:
        last, self._last = self._last, {k: float(v) for k, v in metrics.items() if v is not None}
        if last is None:
            return []
        out = []
        for name, text in COLLISION_METRICS.items():
            new = round(self._last.get(name, 0.0) - last.get(name, 0.0))
            out += [Alert(time_s, "collision", text, name)] * max(new, 0)  # one per episode
        growing = self._last.get("excessive_force_time_s", 0.0) > last.get(
            "excessive_force_time_s", 0.0
        )
        if growing and not self._force_growing:
            # no number: the live metrics hold the session's peak so far, not this
            # episode's (still going on); the report captions it from the trace
            out.append(
                Alert(time_s, "excessive_force", "Excessive force", "excessive_force_time_s")
            )
        self._force_growing = growing
        return out
