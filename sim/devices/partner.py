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
  open with nothing held, or at rest after turning towards the angle. This process's
  own closing grip ends by the same rule (:meth:`PartnerDemonstrator._own_grip_seen`),
  so both processes judge from the same moment whether the grasp took;
- moves given together (:meth:`Demonstrator.together`) run at the same time: this hand
  moves, then waits for the partner's;
- branches of :meth:`Demonstrator.parallel` (one hand places a ring while the other
  fetches the next) all run here: this process's own, and the partner's in watch mode,
  whose every move, grip and pause is waited for in turn while this hand works on. Each
  move of the partner's is then expected exactly once, wherever the plan makes it (a
  partner branch skipped here left its moves to pile up in :class:`MoveCounter`, and
  every later wait for a reach ended at once, the instrument far from its target);
- what the partner's work came out as (a ring it placed, round its peg) is waited for a
  moment (:meth:`PartnerDemonstrator.outcome`) rather than judged at once: this
  process's view may be a few messages behind the partner's.

Both plans read the same world from the bus, so they make the same decisions; what they
cannot see alike (a grasp, a release) the plans already wait for as events (``until``).
A partner that does not do what this plan expects within :data:`PARTNER_TIMEOUT_S` of
simulated time (the partner's plan chose otherwise, or its process is gone) is noted and
the plan goes on, as a person would after waiting a while.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from sim.devices.pacing import RecentWindow, elapsed_in_both
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
#: ... and it ends a move once it has lasted this much longer (s, both clocks), the arm
#: following throughout (see :class:`MoveCounter`). A real move's end lasts longer: the
#: move's own slow tail, the partner's process settling its arm (30 ms of measurements at
#: rest after the server has used its last sample) and the next move's slow start. One
#: that does not is still seen at rest near its target; the grip after it resyncs the count.
MOVE_END_CONFIRM_S = 0.06
REST_JAW_RAD = 0.01
#: Longest wait (s, both clocks) for this process's own jaw to be seen done after its
#: hand closed the gripper (:meth:`PartnerDemonstrator._own_grip_seen`): a jaw closing
#: from fully open at the dVRK's 2 pi rad/s takes ~0.25 s, then rests 30 ms.
OWN_GRIP_WAIT_S = 1.0
#: Longest wait for the partner's move or grip (simulated s), and the same in wall time
#: (a server that stopped publishing stops the simulated clock too).
PARTNER_TIMEOUT_S = 10.0
#: ... but a partner that has kept still this long (simulated s) while following is
#: waiting for this hand (the plans disagree): go on. Its own pauses are shorter (a
#: grasp is waited for 1 s, an arm settles within 1.5 s).
PARTNER_IDLE_S = 4.0
PARTNER_TIMEOUT_WALL_S = 40.0
#: A partner's pause in a branch of ``parallel()`` watched here lasts as long in simulated
#: time; in wall time at most this many times as long (a server that stops publishing).
PAUSE_WALL_FACTOR = PARTNER_TIMEOUT_WALL_S / PARTNER_TIMEOUT_S
#: Longest wait (s, both clocks) for the partner's work to show its outcome (a ring it
#: placed seen round its peg: :meth:`PartnerDemonstrator.outcome`). Its process judged it
#: at once, from a view ahead of this one by a few messages (60 Hz); a ring put down
#: settles round its peg in ~0.1-0.3 s, and the placing hand waits up to 0.5 s for that.
OUTCOME_WAIT_S = 2.0


#: Operating states in which the instrument does not follow its hand.
NOT_FOLLOWING = (*DISENGAGED, "CLUTCHED")


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
    ``measured_cp`` over :data:`REST_WINDOW_S` within :data:`REST_POSITION_M`) that
    lasts :data:`MOVE_END_CONFIRM_S` more while the arm follows its hand throughout.
    Fed with every message (:attr:`RemoteSession.observers`), so moves the partner makes
    while this plan is busy elsewhere are counted too.

    A rest while the arm does not follow (``<arm>/operating_state`` CLUTCHED, ALIGNING,
    HOLDING or DISABLED) ends no move: a long reach is made in strokes with a clutch
    between them, and the instrument rests through each clutch. Counted as move ends,
    those rests ran the count ahead of the partner's plan, and a later wait for the
    partner's carry to the handover point ended as the carry began: the taker then aimed
    at a ring still on its way (two-process peg transfer: 4-5 instrument collisions and
    a missed grasp a run). The confirmation is for the tail of the stroke before the
    clutch: a minimum-jerk stroke creeps its last ~50 ms within the rest tolerance, and
    the clutch shows on the bus only as the stroke ends."""

    def __init__(
        self,
        arm: str,
        simulated: Callable[[], float] | None = None,
        jaw: Callable[[], float] | None = None,
    ) -> None:
        self.topic = f"{arm}/measured_cp"
        self.state_topic = f"{arm}/operating_state"
        self.moves = 0
        #: the tool-tip pose (4x4, world) and jaw (rad) as the latest rest began (None
        #: before any): where the partner's process planned its next step from
        self.rest_view: tuple[np.ndarray, float] | None = None
        self._pose: np.ndarray | None = None
        #: the arm's latest measured jaw (rad), read as a rest begins (None: not known)
        self._jaw = jaw
        self.resting = False
        self._anchor: np.ndarray | None = None
        self._moving = False
        self._following = True  # until the server says otherwise
        #: when the rest that may end the current move was first seen (wall, simulated)
        self._pending_since: tuple[float, float] | None = None
        self._latest: np.ndarray | None = None
        self._seen = RecentWindow(MESSAGE_REST_WINDOW_S)
        #: the server's simulated time (None: judge on the messages' receipt times alone)
        self._simulated = simulated

    @property
    def pending(self) -> bool:
        """A move's end may be under way: the arm rests after moving, not yet confirmed."""
        return self._pending_since is not None

    def confirm(self) -> None:
        """Count the pending rest as the move's end now (the watcher has seen the
        instrument at rest where the plan sent it: no confirmation is needed)."""
        if self._pending_since is not None:
            self._end_move()

    def __call__(self, m) -> None:
        if m.topic == self.state_topic:
            self._following = m.payload.get("state") not in NOT_FOLLOWING
            if not self._following:
                # the instrument rests while the hand is away: no rest counts from here
                self._seen = RecentWindow(MESSAGE_REST_WINDOW_S)
                self._pending_since = None
                self.resting = False
            return
        if m.topic != self.topic:
            return
        from haptics.bus.contract import pose_from_payload

        now = m.received_s or time.monotonic()
        simulated = now if self._simulated is None else self._simulated()
        self._pose = pose_from_payload(m.payload)
        p = self._pose[:3, 3]
        self._latest = p
        if not self._following:
            return
        seen = self._seen
        seen.add(now, simulated, p)
        # a rest is seen in three or more messages (60 Hz: a lone pair may straddle a
        # stall of the server) that span at least REST_WINDOW_S, of simulated time too
        # (a slow server's arm creeps: :mod:`sim.devices.pacing`)
        was_resting = self.resting
        self.resting = (
            len(seen) >= 3
            and seen.spans(REST_WINDOW_S)
            and all(float(np.linalg.norm(q - p)) < REST_POSITION_M for q in seen.values())
        )
        if self.resting and not was_resting:
            self.rest_view = (self._pose, math.nan if self._jaw is None else self._jaw())
        if self._anchor is None:
            self._anchor = p
        if not self._moving and float(np.linalg.norm(p - self._anchor)) > MOVED_M:
            self._moving = True
        if not self.resting:
            self._pending_since = None
        elif not self._moving:
            self._anchor = p
        elif self._pending_since is None:
            self._pending_since = (now, simulated)
        elif (
            now - self._pending_since[0] >= MOVE_END_CONFIRM_S
            and simulated - self._pending_since[1] >= MOVE_END_CONFIRM_S
        ):
            self._end_move()

    def _end_move(self) -> None:
        self.moves += 1
        self._moving = False
        self._pending_since = None
        self._anchor = self._latest


def _looks_window() -> RecentWindow:
    """The values of a wait's looks (one every :data:`LOOK_S`) kept to judge a rest over
    :data:`REST_WINDOW_S`. A window of just that length keeps as little as
    ``REST_WINDOW_S - LOOK_S`` of looks (items leave once older than it: looks 10.5 ms
    apart keep 21 ms), so a rest judged on it came and went from look to look; one look
    longer keeps at least the rest's length."""
    return RecentWindow(REST_WINDOW_S + LOOK_S)


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
        self._watched = set(self.partner)  # its branches of parallel() run in watch mode
        self._expected: list[_Reach | _Grip] = []
        #: per partner arm: its moves seen, and how many of them this plan has waited for
        self._moves = {
            arm: MoveCounter(arm, lambda: session.time_s, session.arms[arm].measured_jaw)
            for arm in self.partner
        }
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
        """This process's arm: as :meth:`Demonstrator.grip`, and a closing grip then lasts
        until its jaw is seen done as the partner's process sees it
        (:meth:`_own_grip_seen`). The partner's: watch its jaw."""
        if arm not in self.partner:
            start_jaw = self.session.arms[arm].measured_jaw()
            super().grip(arm, jaw_rad)
            if self._batch is None and jaw_rad < start_jaw:
                self._own_grip_seen(_Grip(arm, float(jaw_rad)), start_jaw)
            return
        self._expect(_Grip(arm, float(jaw_rad)))

    @contextmanager
    def together(self):
        """As :meth:`Demonstrator.together`; then wait for the partner's moves of the block."""
        with super().together():
            yield
        self._watch()

    def wait(self, seconds: float) -> None:
        """As :meth:`Demonstrator.wait`; in a branch of the partner's (watch mode, see
        :meth:`parallel`), the partner pauses there: this process's hands work on
        meanwhile, for as long in simulated time (and at least as long in wall time, at
        most :data:`PAUSE_WALL_FACTOR` times it: a server that stops publishing)."""
        lane = self._lane()
        if lane is None or lane.arm not in self.partner:
            super().wait(seconds)
            return
        s = self.session
        over = elapsed_in_both(
            s.now_s, lambda: s.time_s, seconds, PAUSE_WALL_FACTOR * seconds + LOOK_S
        )
        self._await(lambda hands_free: True if over() else None)

    def outcome(self, arm: str, condition) -> bool:
        """As :meth:`Demonstrator.outcome`; the partner's work is waited for up to
        :data:`OUTCOME_WAIT_S` (in both clocks, at most :data:`PARTNER_TIMEOUT_WALL_S`
        of wall time): the partner's process judged it once its own view showed it (a
        ring settled round its peg), and this process's view may be a moment behind."""
        if arm not in self.partner:
            return super().outcome(arm, condition)
        s = self.session
        over = elapsed_in_both(s.now_s, lambda: s.time_s, OUTCOME_WAIT_S, PARTNER_TIMEOUT_WALL_S)
        while not condition():
            if over() or self.stopped:
                return False
            self.wait(LOOK_S)
        return True

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

    def _own_grip_seen(self, what: _Grip, start_jaw: float) -> None:
        """Wait until this process's own jaw is done by the rule the partner's process
        judges it with (:meth:`_gripped`, on the same bus messages), at most
        :data:`OWN_GRIP_WAIT_S` in both clocks.

        What a plan does next after closing on an object (``until`` it is held, 1 s) is
        timed from the grip's end, and each process must time it from the same moment:
        both run the plan and must decide alike whether the grasp took. The hand's grip
        ends before the jaw does (the jaw follows the hand's gripper at a capped rate), and
        the process watching the jaw can only see the jaw; timed from the hand's end, a
        grasp made 1.0-1.3 s after it counted as a miss here and as a hold there (two
        fresh two-process runs in ten), and the two plans went apart until a missed wait
        brought them together again."""
        s = self.session
        arm = s.arms[what.arm]
        over = elapsed_in_both(s.now_s, lambda: s.time_s, OWN_GRIP_WAIT_S, PARTNER_TIMEOUT_WALL_S)
        seen = _looks_window()
        inside = self._lane() is not None

        def look(hands_free: bool) -> bool | None:
            if self.stopped or over():
                return True
            if not inside:
                s.hold(LOOK_S)
            seen.add(s.now_s(), s.time_s, arm.measured_jaw())
            if self._grip_seen_done(what, start_jaw, seen):
                return True
            if hands_free:
                self._engage_own()
            return None

        self._look_until_done(look)

    def _look_until_done(self, look) -> bool:
        """Make ``look`` (see :meth:`_looker`) until it says the wait is over; inside a
        branch of :meth:`parallel` while the other branches work on."""
        if self._lane() is not None:
            done = self._await(look)
            return self.stopped if done is None else done
        while (done := look(True)) is None:
            pass
        return done

    def _wait_for(self, what) -> bool:
        """Wait until the partner has done ``what``, looking at every message. Meanwhile
        this hand's arms are engaged again if the server held them (a person taps the
        clutch when they see it), and time in which the partner's arm does not follow
        (held, being engaged again by its process) does not count against
        :data:`PARTNER_TIMEOUT_S`. Inside a branch of :meth:`parallel` (the partner's,
        in watch mode) this process's hands work on while it waits."""
        s = self.session
        arm = s.arms[what.arm]
        reach = isinstance(what, _Reach)
        # "turned towards" counts from the jaw as the partner's latest rest began: it
        # may have made this grip before this wait began
        return self._look_until_done(self._looker(what, arm, reach, self.jaw_rad(what.arm)))

    def _looker(self, what, arm, reach: bool, start) -> Callable[[bool], bool | None]:
        """A look at the partner for ``what``, to be made every :data:`LOOK_S`: None while
        the wait goes on, True once done (or the run stopped), False once given up. With
        ``hands_free`` (none of this process's hands is moving: outside
        :meth:`parallel`, or every branch of it waiting) a look first holds the hands
        for :data:`LOOK_S` itself, and engages them again if the server held them."""
        s = self.session
        end_s = s.time_s + PARTNER_TIMEOUT_S
        end_wall = s.now_s() + PARTNER_TIMEOUT_WALL_S
        seen = _looks_window()  # position or jaw, on both clocks
        counter = self._moves[what.arm]
        idle_since_s, idle_jaw = None, 0.0  # since when the partner kept still; its jaw
        last_s = s.time_s
        inside = self._lane() is not None

        def look(hands_free: bool) -> bool | None:
            nonlocal end_s, idle_since_s, idle_jaw, last_s
            if self.stopped:
                return True
            if not (s.time_s < end_s and s.now_s() < end_wall):
                return False
            if not inside:
                s.hold(LOOK_S)
            if s.watch.arm(what.arm).state != "FOLLOWING":
                end_s += s.time_s - last_s  # held: the time does not count
            last_s = s.time_s
            # a partner whose instrument and jaw stay still while it follows is waiting
            # for this hand: the two plans disagree, and waiting longer does not help
            still = s.watch.arm(what.arm).state == "FOLLOWING" and counter.resting
            jaw = arm.measured_jaw()
            if not still or idle_since_s is None or abs(jaw - idle_jaw) > 2 * REST_JAW_RAD:
                idle_since_s, idle_jaw = (s.time_s if still else None), jaw
            elif s.time_s - idle_since_s > PARTNER_IDLE_S:
                return False
            seen.add(s.now_s(), s.time_s, arm.measured_cp()[:3, 3] if reach else jaw)
            done = self._moved(what, seen) if reach else self._grip_seen_done(what, start, seen)
            if done:
                if not reach:
                    # the two plans meet again here: every move the partner made before
                    # this grip is behind it (it holds still while its jaw works)
                    self._caught_up(what.arm)
                return True
            if hands_free:
                self._engage_own()
            return None

        return look

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
            self._caught_up(what.arm)  # this rest ends the move: not to be counted again
            return True
        if counter.moves > self._moves_used[what.arm] and not self._on_its_way(what, now):
            self._moves_used[what.arm] += 1
            return True
        return False

    def _on_its_way(self, what: _Reach, now: np.ndarray) -> bool:
        """The partner's move seen to end (the count) ended far from this reach's target,
        and the instrument is moving again, nearer the target than where it rested: that
        rest was a pause in this move, not its end (a pause that outlasts the rest's
        confirmation makes one move count as two). The wait goes on until it rests.

        Ended on that count, the wait let this plan decide from the pause's pose: the
        taker's jaws 16-28 mm short of their waiting point were not "waiting over the
        wall" here while they were in the taker's own process (3 decisions in 156 over
        seven two-process runs)."""
        counter = self._moves[what.arm]
        view = counter.rest_view
        if counter.resting or view is None:
            return False
        rested = float(np.linalg.norm(view[0][:3, 3] - what.target_W))
        nearer = float(np.linalg.norm(now - what.target_W))
        return rested >= what.tolerance_m and nearer < rested - MOVED_M

    def _caught_up(self, arm: str) -> None:
        """Take every move of ``arm`` seen so far, and the rest it is in now, as waited
        for: this plan and the partner's are at the same point."""
        counter = self._moves[arm]
        counter.confirm()
        self._moves_used[arm] = counter.moves

    # ---- what the plan sees of the arms ------------------------------------------------------
    def _rest_view(self, arm: str) -> tuple[np.ndarray, float] | None:
        return self._moves[arm].rest_view if arm in self._moves else None

    def tip_W(self, arm: str) -> np.ndarray:
        """This process's arm: as :meth:`Demonstrator.tip_W`. The partner's: its pose as
        its latest rest began (while it followed its hand), not its pose now.

        Both processes run the plan and must decide alike (go straight in over a wall or
        stop to aim; which way to route round the other instrument), each from the arms
        as they stand at that point of the plan. The partner's process decides as soon
        as its own move has come to rest; this one reaches the same point later, once it
        has seen that move end, and by then the partner may be on its way: judged from
        its pose now, the taker's jaws, already 6 mm down towards the wall, were no
        longer "waiting over it" (seed 232, every run: the plans went apart until the
        next grip). Its pose at the end of the move this plan counted was no better: a
        move seen as two (a long pause in it) left that pose a stroke behind."""
        view = self._rest_view(arm)
        return view[0].copy() if view is not None else super().tip_W(arm)

    def measured_tip_W(self, arm: str) -> np.ndarray:
        """As :meth:`tip_W` (the partner's process plans from its measured pose too)."""
        view = self._rest_view(arm)
        return view[0].copy() if view is not None else super().measured_tip_W(arm)

    def jaw_rad(self, arm: str) -> float:
        """This process's arm: as :meth:`Demonstrator.jaw_rad`. The partner's: its jaw as
        its latest rest began (see :meth:`tip_W`)."""
        view = self._rest_view(arm)
        if view is not None and math.isfinite(view[1]):
            return view[1]
        return super().jaw_rad(arm)

    def _grip_seen_done(self, what: _Grip, start_jaw: float, seen: RecentWindow) -> bool:
        """The rule both processes judge a grip's end by, on the jaw angles of the looks
        in ``seen`` (:meth:`_gripped`, the jaw at rest over most of a rest window): the
        watching process for the other hand's grip, the driving one for its own closing
        grip (:meth:`_own_grip_seen`)."""
        resting = seen.spans(0.8 * REST_WINDOW_S)
        return self._gripped(what, start_jaw, seen, resting, self._holds(what.arm))

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
