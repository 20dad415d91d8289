"""Running a scenario's exercise: steps in order, timeline events, and triggered events.

The engine is pure Python: each tick the session hands it a :class:`WorldView` (what
the world looks like now, and what happened since the last tick) and gets back the
actions to carry out and the events to record. Steps are judged on state ("the ring is
on peg 7 now"); ``when:`` events fire on the rising edge of their trigger, once unless
``repeat`` is set; ``at:`` events fire when the clock passes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from scenarios.schema import Action, Exercise, Trigger
from scenarios.trace import TraceEvent
from scenarios.triggers import TriggerContext


class WorldView(Protocol):
    """What the exercise may observe. Positions are world frame (m)."""

    time_s: float

    def present(self, name: str) -> bool:
        """Whether the body (of ``object`` or ``object:landmark``) is in the world: an
        event's ``remove`` takes one out, and a trigger on it is then never true."""

    def object_position(self, name: str) -> np.ndarray:
        """Position of an object, or of a landmark named ``object:landmark``."""

    def object_speed(self, name: str) -> float:
        """Linear speed of an object (m/s)."""

    def holders(self, name: str) -> set[str]:
        """The arms holding the object (empty when none)."""

    def tip_position(self, arm: str) -> np.ndarray:
        """Tool-tip position of an arm."""

    def camera_angle_to(self, name: str) -> float:
        """Angle (rad) between the camera's viewing axis and the direction to an object."""

    def graspable(self) -> list[str]:
        """Objects that can be picked up."""

    def happened(self) -> list[TraceEvent]:
        """World events since the last tick (grasp, release, drop, needle_pass, ...)."""


@dataclass
class Outcome:
    """What one tick of the engine produced."""

    actions: list[Action] = field(default_factory=list)
    events: list[TraceEvent] = field(default_factory=list)


class ExerciseRunner:
    """The state of one run of an exercise."""

    def __init__(self, exercise: Exercise) -> None:
        self.exercise = exercise
        self.step_index = 0
        self.completed = False
        self.failed: str | None = None
        self.completion_time_s: float | None = None
        self._timeline_done = [False] * len(exercise.events)
        self._was_true = [False] * len(exercise.events)
        self._steps_done: set[str] = set()
        self._timers: dict[str, float] = {}
        self._held_since: dict[int, float] = {}  # id of a 'held' trigger -> when it became true

    @property
    def finished(self) -> bool:
        """Completed or failed."""
        return self.completed or self.failed is not None

    @property
    def current_step(self):
        """The step being worked on, or None when all are done."""
        steps = self.exercise.steps
        return steps[self.step_index] if self.step_index < len(steps) else None

    def start(self, world: WorldView) -> Outcome:
        """The first instruction (and any ``at: 0`` events)."""
        out = Outcome()
        step = self.current_step
        out.events.append(
            TraceEvent(
                world.time_s, "step_started", {"step": step.id, "instruction": step.instruction}
            )
        )
        return out

    def tick(self, world: WorldView) -> Outcome:
        """Advance one tick: events first, then the current step."""
        out = Outcome()
        if self.finished:
            return out
        happened = world.happened()
        t = world.time_s
        self._fire_events(world, happened, t, out)
        if self.time_limit_reached(t):
            self.failed = f"time limit of {self.exercise.time_limit_s:g} s reached"
            out.events.append(TraceEvent(t, "failed", {"reason": self.failed}))
            return out
        while not self.finished and (step := self.current_step) is not None:
            if not self._holds(step.done_when, world, happened):
                break
            self._steps_done.add(step.id)
            out.events.append(TraceEvent(t, "step_done", {"step": step.id}))
            self.step_index += 1
            nxt = self.current_step
            if nxt is None:
                # the last step's own events (``step_completed: <last>``, a state that
                # has just become true) run now, before the end: there is no next tick
                self._fire_events(world, happened, t, out, states_only=True)
                if self.failed is None:
                    self._complete(t, out)
            else:
                out.events.append(
                    TraceEvent(t, "step_started", {"step": nxt.id, "instruction": nxt.instruction})
                )
        return out

    def _fire_events(self, world, happened, t: float, out: Outcome, states_only=False) -> None:
        """Run the events that are due at ``t``. With ``states_only``, only the ``when``
        events whose state trigger has just become true (a second look in the same tick:
        world events and timeline events were already judged in the first)."""
        for i, event in enumerate(self.exercise.events):
            if event.at is not None:
                if not states_only and not self._timeline_done[i] and t >= event.at:
                    self._timeline_done[i] = True
                    self._act(event.do, t, out)
            elif states_only and event.when.momentary:
                continue
            else:
                now = self._holds(event.when, world, happened)
                # a trigger made of world events fires on each occurrence; a state
                # trigger fires when it becomes true
                rising = now and (event.when.momentary or not self._was_true[i])
                if rising and (event.repeat or not self._timeline_done[i]):
                    self._timeline_done[i] = True
                    self._act(event.do, t, out)
                self._was_true[i] = now

    def time_limit_reached(self, t: float) -> bool:
        """Whether the exercise's time limit has passed."""
        return t >= self.exercise.time_limit_s

    def _complete(self, t: float, out: Outcome) -> None:
        if not self.completed:
            self.completed = True
            self.completion_time_s = t
            out.events.append(TraceEvent(t, "completed", {}))

    def _act(self, actions: list[Action], t: float, out: Outcome) -> None:
        for action in actions:
            if action.message is not None:
                out.events.append(TraceEvent(t, "message", {"text": action.message}))
            elif action.start_timer is not None:
                self._timers[action.start_timer] = t
                out.events.append(TraceEvent(t, "timer_started", {"timer": action.start_timer}))
            elif action.stop_timer is not None:
                start = self._timers.pop(action.stop_timer, None)
                elapsed = None if start is None else t - start
                out.events.append(
                    TraceEvent(
                        t, "timer_stopped", {"timer": action.stop_timer, "elapsed_s": elapsed}
                    )
                )
            elif action.complete:
                self._complete(t, out)
            elif action.fail is not None:
                self.failed = action.fail
                out.events.append(TraceEvent(t, "failed", {"reason": action.fail}))
            else:  # spawn / move / remove: the session carries them out in the world
                out.actions.append(action)

    def _holds(self, trigger: Trigger, world: WorldView, happened: list[TraceEvent]) -> bool:
        """Judge a trigger (each kind evaluates itself: :mod:`scenarios.triggers`)."""
        return trigger.holds(TriggerContext(world, happened, self._steps_done, self._held_since))
