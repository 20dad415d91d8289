"""One hand of a two-handed exercise, with the other hand in another device process.

Two trainees (or one trainee's two hands on two machines) can share an exercise: each
``surgisim device synthetic --name MTMR`` / ``--name MTML`` process drives only its own
hand. Both run the scenario's whole demonstration plan, as each person knows the whole
task; the plan's moves of the other hand (the *partner's*) are not made but watched for,
as a person at the console watches the other instrument on the screen before the next
move of their own:

- a partner's move (``move_tip``) is done when its instrument is at rest near where the
  plan sends it (within :data:`REACH_TOLERANCE_FACTOR` times the move's precision, at
  least :data:`MIN_REACH_TOLERANCE_M`), or when a move of the partner's has ended that
  this plan has not waited for yet (:class:`MoveCounter`: the partner's process lets its
  instrument come to rest before each move, as this one does, so a rest ends a move).
  Passing near the target does not count: a move slowing down near its end is not over
  (the other hand would reach for an object still being carried). Counting moves keeps
  the two plans in step when one is a move ahead: the two look at a world that moves (an
  object in the other hand, the other instrument, seen a moment apart), and a target this
  plan computes from where the partner's instrument is may be stale by then;
- a partner's grip (``grip``) is done when its jaw is at the asked angle, or at rest
  closed on an object (a closing jaw stops on it, perhaps before this wait began) or
  open with nothing held, or at rest after turning towards the angle;
- moves given together (:meth:`Demonstrator.together`) run at the same time: this hand
  moves, then waits for the partner's.

Both plans read the same world from the bus, so they make the same decisions; what they
cannot see alike (a grasp, a release) the plans already wait for as events (``until``).
A partner that does not do what this plan expects within :data:`PARTNER_TIMEOUT_S` of
simulated time (the partner's plan chose otherwise, or its process is gone) is noted and
the plan goes on, as a person would after waiting a while.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from sim.devices.pacing import RecentWindow
from sim.devices.remote import DISENGAGED
from sim.session.demo import Demonstrator

#: A partner's move counts as done within this multiple of the move's precision (the
#: operators reach to within about half of it; contacts and the filter add a little).
REACH_TOLERANCE_FACTOR = 3.0
#: ... and never closer than this (m): the operators' scatter at the end of a reach.
MIN_REACH_TOLERANCE_M = 0.004
#: How far (m) the partner's instrument must go from where it last rested to count as
#: a move (the operators' tremor at the tool is well under 1 mm).
MOVED_M = 0.002
#: A jaw counts as at the asked angle within this (rad).
JAW_TOLERANCE_RAD = 0.1
#: The window (s) in which :class:`MoveCounter` looks for a rest among the messages
#: (``<arm>/measured_cp`` comes at 60 Hz: four in 60 ms).
MESSAGE_REST_WINDOW_S = 0.06
#: How often the partner is looked at (s): every message that came meanwhile is taken.
LOOK_S = 0.01
#: At rest: every message (or, for the jaw, every look) over this long (s) within these
#: of the latest (the partner's process settles for
#: :data:`sim.devices.remote.SETTLE_WINDOW_S` twice or more before each move).
REST_WINDOW_S = 0.03
REST_POSITION_M = 3e-4
REST_JAW_RAD = 0.01
#: Longest wait for the partner's move or grip (simulated s), and the same in wall time
#: (a server that stopped publishing stops the simulated clock too).
PARTNER_TIMEOUT_S = 10.0
#: ... but a partner that has kept still this long (simulated s) while following is
#: waiting for this hand (the plans disagree): go on. Its own pauses are shorter (a
#: grasp is waited for 1 s, an arm settles within 1.5 s).
PARTNER_IDLE_S = 4.0
PARTNER_TIMEOUT_WALL_S = 40.0


@dataclass(frozen=True)
class _Reach:
    arm: str
    target_W: np.ndarray
    tolerance_m: float

    def __str__(self) -> str:
        x, y, z = (1e3 * self.target_W).round(1)
        return f"reach ({x}, {y}, {z}) mm within {1e3 * self.tolerance_m:.1f} mm"


@dataclass(frozen=True)
class _Grip:
    arm: str
    jaw_rad: float

    def __str__(self) -> str:
        return f"jaw to {self.jaw_rad:.2f} rad"


class MoveCounter:
    """Counts one arm's moves as they are seen on the bus: a move is a displacement of
    more than :data:`MOVED_M` from where the tool last rested, ended by a rest (every
    ``measured_cp`` over :data:`REST_WINDOW_S` within :data:`REST_POSITION_M`). Fed with
    every message (:attr:`RemoteSession.observers`), so moves the partner makes while
    this plan is busy elsewhere are counted too."""

    def __init__(self, arm: str, simulated: Callable[[], float] | None = None) -> None:
        self.topic = f"{arm}/measured_cp"
        self.moves = 0
        self.resting = False
        self._anchor: np.ndarray | None = None
        self._moving = False
        self._seen = RecentWindow(MESSAGE_REST_WINDOW_S)
        #: the server's simulated time (None: judge on the messages' receipt times alone)
        self._simulated = simulated

    def __call__(self, m) -> None:
        if m.topic != self.topic:
            return
        from haptics.bus.contract import pose_from_payload

        now = m.received_s or time.monotonic()
        p = pose_from_payload(m.payload)[:3, 3]
        seen = self._seen
        seen.add(now, now if self._simulated is None else self._simulated(), p)
        # a rest is seen in three or more messages (60 Hz: a lone pair may straddle a
        # stall of the server) that span at least REST_WINDOW_S, of simulated time too
        # (a slow server's arm creeps: :mod:`sim.devices.pacing`)
        self.resting = (
            len(seen) >= 3
            and seen.spans(REST_WINDOW_S)
            and all(float(np.linalg.norm(q - p)) < REST_POSITION_M for q in seen.values())
        )
        if self._anchor is None:
            self._anchor = p
        if not self._moving and float(np.linalg.norm(p - self._anchor)) > MOVED_M:
            self._moving = True
        if self.resting:
            if self._moving:
                self.moves += 1
                self._moving = False
            self._anchor = p


def arm_state(session, arm: str) -> str:
    """The arm's operating state as last seen on the bus."""
    return str(session.watch.arm(arm).state)


class PartnerDemonstrator(Demonstrator):
    """A :class:`Demonstrator` driving ``session.own`` arms and watching ``session.partner``
    ones (a :class:`~sim.devices.remote.RemoteSession` of one hand).

    The operators keep the seeds they have when one process drives both hands (the
    same seed, the same hand), so a split run and a joint one are comparable.
    """

    def __init__(
        self, session, skill: str = "expert", seed: int = 0, notify=None, **kwargs
    ) -> None:
        super().__init__(session, skill=skill, seed=seed, **kwargs)
        self.on_note = notify
        self.partner = [a for a in session.partner if a in self.operators]
        for arm in self.partner:
            del self.operators[arm]
        self._expected: list[_Reach | _Grip] = []
        #: per partner arm: its tip (m, world) and jaw (rad) when the last wait ended
        self._last_seen: dict[str, tuple[np.ndarray, float]] = {}
        #: per partner arm: its moves seen, and how many of them this plan has waited for
        self._moves = {arm: MoveCounter(arm, lambda: session.time_s) for arm in self.partner}
        self._moves_used = dict.fromkeys(self.partner, 0)
        session.observers.extend(self._moves.values())
        #: partner moves or grips not seen done in time: (simulated s, what)
        self.missed: list[tuple[float, str]] = []

    # ---- the partner's primitives become things to watch for -------------------------------
    def move_tip(
        self, arm, target_W, width_m=0.003, rotation_W=None, jaw_rad=None, **kwargs
    ) -> None:
        """This process's arm: as :meth:`Demonstrator.move_tip` (``kwargs`` too, e.g.
        ``centre_W``). The partner's: watch for its instrument to get there (and its jaw,
        when the move sets one)."""
        if arm not in self.partner:
            super().move_tip(arm, target_W, width_m, rotation_W, jaw_rad, **kwargs)
            return
        tolerance = max(REACH_TOLERANCE_FACTOR * width_m, MIN_REACH_TOLERANCE_M)
        self._expect(_Reach(arm, np.asarray(target_W, float).copy(), tolerance))

    def grip(self, arm: str, jaw_rad: float) -> None:
        """This process's arm: as :meth:`Demonstrator.grip`. The partner's: watch its jaw."""
        if arm not in self.partner:
            super().grip(arm, jaw_rad)
            return
        self._expect(_Grip(arm, float(jaw_rad)))

    @contextmanager
    def together(self):
        """As :meth:`Demonstrator.together`; then wait for the partner's moves of the block."""
        with super().together():
            yield
        self._watch()

    def parallel(self, branches) -> None:
        """This process's hands' branches only: the partner's process runs the others.
        Each branch looks at the world (here: over the bus) before each of its moves, as
        it would in one process, so the two halves keep in step through what they see."""
        own = {arm: fn for arm, fn in branches.items() if arm not in self.partner}
        if own:
            super().parallel(own)

    def _expect(self, what) -> None:
        self._expected.append(what)
        if self._batch is None:
            self._watch()

    # ---- watching ----------------------------------------------------------------------------
    def _watch(self) -> None:
        expected, self._expected = self._expected, []
        for what in expected:
            if self.stopped:
                return
            if not self._wait_for(what):
                self.missed.append((self.session.time_s, str(what)))
                arm = self.session.arms[what.arm]
                seen = (
                    f"at {[round(1e3 * float(v), 1) for v in arm.measured_cp()[:3, 3]]} mm"
                    if isinstance(what, _Reach)
                    else f"jaw at {arm.measured_jaw():.2f} rad, "
                    + (", ".join(self._held(what.arm)) or "holding nothing")
                )
                message = (
                    f"the partner's {what.arm} did not {what} in time ({seen}, "
                    f"{arm_state(self.session, what.arm)}); going on"
                )
                self.note(message)

    def _wait_for(self, what) -> bool:
        """Wait until the partner has done ``what``, looking at every message. Meanwhile
        this hand's arms are engaged again if the server held them (a person taps the
        clutch when they see it), and time in which the partner's arm does not follow
        (held, being engaged again by its process) does not count against
        :data:`PARTNER_TIMEOUT_S`."""
        s = self.session
        end_s = s.time_s + PARTNER_TIMEOUT_S
        end_wall = time.monotonic() + PARTNER_TIMEOUT_WALL_S
        arm = s.arms[what.arm]
        reach = isinstance(what, _Reach)
        # "moved" and "turned towards" count from where the partner was when the last
        # wait for it ended: it may have made this move before this wait began
        last = self._last_seen.get(what.arm) or (arm.measured_cp()[:3, 3], arm.measured_jaw())
        start = last[0] if reach else last[1]
        try:
            return self._watch_until(what, arm, reach, start, end_s, end_wall)
        finally:
            self._last_seen[what.arm] = (arm.measured_cp()[:3, 3], arm.measured_jaw())

    def _watch_until(self, what, arm, reach, start, end_s, end_wall) -> bool:
        s = self.session
        seen = RecentWindow(REST_WINDOW_S)  # position or jaw, on both clocks
        counter = self._moves[what.arm]
        idle_since_s, idle_jaw = None, 0.0
        while not self.stopped and s.time_s < end_s and time.monotonic() < end_wall:
            before_s = s.time_s
            s.hold(LOOK_S)
            # a partner whose instrument and jaw stay still while it follows is waiting
            # for this hand: the two plans disagree, and waiting longer does not help
            idle = s.watch.arm(what.arm).state == "FOLLOWING" and counter.resting
            jaw = arm.measured_jaw()
            if not idle or idle_since_s is None or abs(jaw - idle_jaw) > 2 * REST_JAW_RAD:
                idle_since_s, idle_jaw = (s.time_s if idle else None), jaw
            elif s.time_s - idle_since_s > PARTNER_IDLE_S:
                return False
            now = time.monotonic()
            seen.add(now, s.time_s, arm.measured_cp()[:3, 3] if reach else arm.measured_jaw())
            resting = seen.spans(0.8 * REST_WINDOW_S)
            done = (
                self._moved(what, seen)
                if reach
                else self._gripped(what, start, seen, resting, self._holds(what.arm))
            )
            if done:
                return True
            if s.watch.arm(what.arm).state != "FOLLOWING":
                end_s += s.time_s - before_s
            self._engage_own()
        return self.stopped

    def _engage_own(self) -> None:
        s = self.session
        if s.on_disengaged is not None and any(s.watch.arm(a).state in DISENGAGED for a in s.own):
            s.reengage()

    def _moved(self, what: _Reach, seen) -> bool:
        """At rest near the target (every move seen so far was part of getting there), or
        a move of the partner's ended that this plan has not yet waited for (it may have
        ended before this wait began: the partner was a move ahead)."""
        counter = self._moves[what.arm]
        now = seen.latest
        if counter.resting and float(np.linalg.norm(now - what.target_W)) < what.tolerance_m:
            self._moves_used[what.arm] = counter.moves
            return True
        if counter.moves > self._moves_used[what.arm]:
            self._moves_used[what.arm] += 1
            return True
        return False

    def _holds(self, arm: str) -> bool:
        """Whether ``arm`` holds an object (the grasp events seen)."""
        return bool(self._held(arm))

    def _held(self, arm: str) -> list[str]:
        """The objects ``arm`` holds (the grasp events seen)."""
        s = self.session
        return [obj for obj in s.world.object_names() if arm in s.holders(obj)]

    @staticmethod
    def _gripped(what: _Grip, start_jaw, seen, resting: bool, holds: bool) -> bool:
        """At the asked angle; or closed on an object (a grasp seen: a closing jaw stops
        on it, maybe before this wait began); or at rest open with nothing held, or at
        rest after turning towards the angle.

        A grasp needs no rest: a jaw closed on a ring the hand is already carrying away
        moves by a few hundredths of a radian as the ring pushes on its fingers, and
        waiting for it to keep within :data:`REST_JAW_RAD` waited out the partner's whole
        carry (6 of 12 missed waits in one slow run were this)."""
        now = seen.latest
        if abs(now - what.jaw_rad) < JAW_TOLERANCE_RAD:
            return True
        closing = what.jaw_rad < now
        if closing and holds:
            return True
        if not (resting and max(abs(j - now) for j in seen.values()) < REST_JAW_RAD):
            return False
        if not closing and not holds:
            return True
        return (now - start_jaw) * np.sign(what.jaw_rad - start_jaw) > JAW_TOLERANCE_RAD
