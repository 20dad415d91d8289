"""Synthetic operators driving a session: demonstrations, tests and headless benchmarks.

A :class:`Demonstrator` gives every master-driven arm its own
:class:`~haptics.operators.SyntheticOperator` (same skill, independent random streams
from one seed) and offers plan primitives in task terms - put this tool tip at that
world point, open or close the gripper, wait. Each primitive is turned into a hand motion
closed-loop, from where the instrument is commanded to be now and the current camera
view, then rendered by the operator (with its timing, scatter, tremor and clutching) and
fed to the session one sample per physics step. A human works the same way: look, move,
look again. :meth:`Demonstrator.together` gives each hand one move at the same time;
:meth:`Demonstrator.parallel` runs one closed-loop plan per hand side by side (one hand
places a ring while the other picks up the next).

An arm listed in ``servo`` is driven instead by tool-tip pose commands (``servo_cp``)
along smooth Fitts-timed paths (:mod:`sim.session.servo_path`), as a scripted controller
would: one session can then mix a teleoperated instrument with an algorithm's.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np

from haptics.master import MasterSample
from haptics.operators import (
    Grip,
    OperatorTrace,
    Pause,
    Reach,
    SyntheticOperator,
)
from sim.errors import SimError
from sim.session.commands import ArmCommand
from sim.session.servo_path import fitts_duration_s, servo_path
from sim.session.session import Session

_log = logging.getLogger("sim.session.plans")


class Demonstrator:
    """Drives ``session`` with synthetic operators of one skill level.

    Args:
        session: the session to drive.
        skill: ``expert``, ``intermediate`` or ``novice`` (see :mod:`haptics.operators`).
        seed: seed of the operators' random streams.
        time_limit_s: stop feeding once the session reaches this simulated time.
        servo: arms to drive with ``servo_cp`` paths instead of a synthetic operator.
    """

    def __init__(
        self,
        session: Session,
        skill: str = "expert",
        seed: int = 0,
        time_limit_s: float | None = None,
        servo=(),
    ) -> None:
        self.session = session
        self.skill = skill
        rate = session.world.rate_hz
        seeds = np.random.SeedSequence(seed).spawn(len(session.driven))
        self.operators = {
            name: SyntheticOperator(skill, rng=np.random.default_rng(s), rate_hz=rate)
            for name, s in zip(session.driven, seeds, strict=True)
            if name not in servo
        }
        #: each operator's skill profile, kept apart from the operators: a device process
        #: that watches the other hand (no operator of its own for it) plans that hand's
        #: moves as its own process does (:meth:`scatter_m`, :meth:`stroke_m`)
        self._profiles = {name: op.profile for name, op in self.operators.items()}
        #: per servo-driven arm: the commanded tool-tip pose (4x4, world) and jaw (rad)
        self._servo_X = {name: session.arms[name].measured_cp("world") for name in servo}
        self._servo_jaw = {name: session.arms[name].measured_jaw() for name in servo}
        self.time_limit_s = time_limit_s or session.scenario.exercise.time_limit_s
        self.on_progress = None  # optional callable, called after every primitive
        self.stop_requested = False
        #: what the plan reported it could not do, or had to do again: (time_s, message)
        self.notes: list[tuple[float, str]] = []
        #: optional callable given each note as it is made (a device process prints them)
        self.on_note = None
        self._batch: dict[str, list] | None = None  # primitives collected by together()
        #: while :meth:`parallel` runs: the branch of each of its threads, by thread id
        self._lanes: dict[int, _Branch] = {}
        #: arms another process drives, whose branches of :meth:`parallel` this one runs in
        #: watch mode (:meth:`_await`; a device process of one hand sets them)
        self._watched: set[str] = set()
        self._unwinding = False  # parallel() failed: its branches' primitives return at once

    @property
    def stopped(self) -> bool:
        """The session finished, ran out of time, or was asked to stop."""
        return (
            self.stop_requested
            or self._unwinding
            or self.session.finished
            or self.session.time_s >= self.time_limit_s
        )

    def stop(self) -> None:
        """Stop at the next physics step (Ctrl-C): the plan's primitives return at once."""
        self.stop_requested = True

    def note(self, message: str) -> None:
        """Report what the plan had to do again or could not do (a missed grasp, a ring
        picked up again after a drop, a step given up): logged on ``sim.session.plans``
        and kept in :attr:`notes` with the simulated time, so a run never fails silently."""
        self.notes.append((self.session.time_s, message))
        _log.info("%.2f s: %s", self.session.time_s, message)
        if self.on_note is not None:
            self.on_note(message)

    # ---- what the plan sees of the arms ---------------------------------------------------
    def tip_W(self, arm: str) -> np.ndarray:
        """Where the plan takes ``arm``'s tool tip to be (4x4, world): the session's tip
        target (:meth:`Session.tip_target_W`). Plans decide from this, not from the
        session directly: a device process that only watches ``arm`` answers with its
        pose as its latest rest began, where the process driving it decided from
        (:class:`~sim.devices.partner.PartnerDemonstrator`)."""
        return self.session.tip_target_W(arm)

    def measured_tip_W(self, arm: str) -> np.ndarray:
        """``arm``'s measured tool-tip pose (4x4, world), as plans see it (see :meth:`tip_W`)."""
        return self.session.arms[arm].measured_cp()

    def jaw_rad(self, arm: str) -> float:
        """``arm``'s measured jaw angle (rad), as plans see it (see :meth:`tip_W`)."""
        return self.session.arms[arm].measured_jaw()

    # ---- primitives --------------------------------------------------------------------
    def move_tip(
        self,
        arm: str,
        target_W,
        width_m: float = 0.003,
        rotation_W=None,
        jaw_rad: float | None = None,
        centre_W=None,
    ) -> None:
        """Move ``arm``'s tool tip to the world point ``target_W`` (m), as a hand would,
        turning the tool to ``rotation_W`` (3x3, world) on the way when given, and
        opening or closing the jaw to ``jaw_rad`` as the hand sets off when given.
        ``centre_W`` (m, world): the middle of the work that follows (an operator who
        clutches ahead keeps its hand centred there)."""
        if arm in self._servo_X:
            if jaw_rad is not None:
                self._servo_jaw[arm] = float(jaw_rad)
            self._servo_move(arm, target_W, width_m, rotation_W)
            return
        s = self.session
        X_RW = s.arms[arm].X_RW
        target = s.teleops[arm].X_RT
        desired_R = X_RW[:3, :3] @ np.asarray(target_W, float) + X_RW[:3, 3]
        # the frame this arm's teleoperation maps through (the scope's keeps its start view)
        R_RM = s.teleops[arm].X_RC[:3, :3] @ np.asarray(s.teleops[arm].config.R_CM, float)
        scale = s.teleops[arm].config.translation_scale
        hand_delta = R_RM.T @ (desired_R - target[:3, 3]) / scale
        op = self.operators[arm]
        goal = op.virtual_hand_m + hand_delta
        centre = None
        if centre_W is not None:
            centre_R = X_RW[:3, :3] @ np.asarray(centre_W, float) + X_RW[:3, 3]
            centre = tuple(op.virtual_hand_m + R_RM.T @ (centre_R - target[:3, 3]) / scale)
        rotation = None
        if rotation_W is not None:
            # the tool turns by what the hand turns, seen through the camera (1:1)
            delta_R = X_RW[:3, :3] @ np.asarray(rotation_W, float) @ target[:3, :3].T
            rotation = R_RM.T @ delta_R @ R_RM @ op.hand_rotation
        grip = None if jaw_rad is None else self._gripper_rad(arm, jaw_rad)
        self._run({arm: [Reach(tuple(goal), width_m / scale, rotation, grip, centre)]})

    def scatter_m(self, arm: str, distance_m: float) -> float:
        """How far (m, world) a move of ``distance_m`` of ``arm``'s instrument typically
        ends from where it was aimed, before any correction: the operator's endpoint
        scatter per metre of movement (the motion scale cancels out); 0 for a
        servo-driven arm. A plan can tell whether a move needs a stop to aim first."""
        if arm in self._servo_X:
            return 0.0
        return self._profiles[arm].endpoint_error_ratio * float(distance_m)

    def stroke_m(self, arm: str) -> float | None:
        """How far (m, world) ``arm``'s instrument moves while its operator's hand goes
        from the middle of its workspace to the edge (workspace radius x motion scale):
        a plan can tell whether a stretch of work fits in one stroke (no clutch). None
        for a servo-driven arm (no hand, no clutch)."""
        if arm in self._servo_X:
            return None
        scale = self.session.teleops[arm].config.translation_scale
        return self._profiles[arm].workspace_radius_m * scale

    def grip(self, arm: str, jaw_rad: float) -> None:
        """Squeeze the master's gripper so that ``arm``'s jaw goes to ``jaw_rad``.

        The gripper angle is found by inverting the teleoperation jaw mapping; values at or
        below the closed jaw angle squeeze fully (grip force on a held object).
        """
        if arm in self._servo_X:
            self._servo_jaw[arm] = float(jaw_rad)
            self._run({arm: self._servo_hold(arm, round(Grip(0.0).duration_s * self._rate))})
            return
        self._run({arm: [Grip(self._gripper_rad(arm, jaw_rad))]})

    def _gripper_rad(self, arm: str, jaw_rad: float) -> float:
        c = self.session.teleops[arm].config
        share = (jaw_rad - c.jaw_closed_rad) / (c.jaw_open_rad - c.jaw_closed_rad)
        return min(max(share, 0.0), 1.0) * c.gripper_max_rad

    @contextmanager
    def together(self):
        """Primitives given inside the block run at the same time, each hand its own
        (the other hand's gross move while one hand works, as people do). One move per
        hand: a move is planned from where that hand's instrument is when it is given."""
        if self._batch is not None:
            raise SimError("Demonstrator.together() blocks do not nest.")
        self._batch = {}
        try:
            yield
            batch = self._batch
        finally:
            self._batch = None
        if batch:
            self._run(batch)

    def wait(self, seconds: float) -> None:
        """All hands hold still (tremor goes on) for ``seconds`` (inside a branch of
        :meth:`parallel`: that branch's hand)."""
        lane = self._lane()
        if lane is not None:
            if lane.arm in self._servo_X:
                self._run({lane.arm: self._servo_hold(lane.arm, round(seconds * self._rate))})
            else:
                self._run({lane.arm: [Pause(seconds)]})
            return
        plans = {name: [Pause(seconds)] for name in self.operators}
        for name in self._servo_X:  # servo-driven arms hold (with no operator at all too)
            plans[name] = self._servo_hold(name, round(seconds * self._rate))
        self._run(plans)

    @property
    def _rate(self) -> float:
        return self.session.world.rate_hz

    def _servo_move(self, arm: str, target_W, width_m: float, rotation_W) -> None:
        X0 = self._servo_X[arm]
        X1 = X0.copy()
        X1[:3, 3] = target_W
        if rotation_W is not None:
            X1[:3, :3] = rotation_W
        duration = fitts_duration_s(float(np.linalg.norm(X1[:3, 3] - X0[:3, 3])), width_m)
        path = servo_path(X0, X1, duration, self._rate)
        self._servo_X[arm] = X1
        jaw = [self._servo_jaw[arm]] * len(path)
        self._run({arm: (path, jaw)})

    def _servo_hold(self, arm: str, n: int) -> tuple[np.ndarray, list[float]]:
        n = max(1, n)
        return np.broadcast_to(self._servo_X[arm], (n, 4, 4)), [self._servo_jaw[arm]] * n

    def until(self, condition, timeout_s: float, step_s: float = 0.05) -> bool:
        """Wait in small slices until ``condition()`` holds; False on timeout."""
        if self._batch is not None:
            raise SimError("Demonstrator.until() cannot wait inside together(): nothing runs.")
        end = self.session.time_s + timeout_s
        while not condition():
            if self.stopped or self.session.time_s >= end:
                return False
            self.wait(step_s)
        return True

    def outcome(self, arm: str, condition: Callable[[], bool]) -> bool:
        """Whether ``arm``'s work came out as ``condition()`` says (a ring it placed rests
        on its peg): here at once. A device process that only watches ``arm`` (its
        partner's) waits a while for it instead: what the other process did may not have
        reached this one's view yet (:class:`~sim.devices.partner.PartnerDemonstrator`)."""
        return bool(condition())

    def parallel(self, branches: dict[str, Callable[[], object]]) -> None:
        """Run plan branches at the same time, one per hand: ``{arm: fn}``, each ``fn``
        a plan that drives only ``arm`` (moves, grips, waits, :meth:`until`). Unlike
        :meth:`together` (one move per hand, planned before any of them starts), each
        branch looks at the world before each of its primitives, as it would alone: one
        hand places a ring while the other picks up the next, as people work.

        The branches take turns, never at once: a branch runs until it gives its next
        primitive, which is rendered and fed beside the other hands' until one of them
        runs out; that branch then runs on. Everything happens in one fixed order, so a
        run is as deterministic as a serial plan. Hands without a branch (or whose branch
        ended) hold still. A branch's exception is raised here once every branch ended.
        """
        if self._lanes or self._batch is not None:
            raise SimError("Demonstrator.parallel() does not nest, nor go inside together().")
        driven = [*self.operators, *self._servo_X, *self._watched]
        unknown = [arm for arm in branches if arm not in driven]
        if unknown:
            raise SimError(
                f"parallel(): {unknown} are not driven by this demonstrator; "
                f"branches may drive {sorted(driven)}."
            )
        back = threading.Semaphore(0)
        lanes = [_Branch(arm, fn, back) for arm, fn in branches.items()]
        threads = [threading.Thread(target=lane.main, daemon=True) for lane in lanes]
        self._lanes = {}
        try:
            for lane, thread in zip(lanes, threads, strict=True):
                thread.start()
                self._lanes[thread.ident] = lane
            for lane in lanes:
                lane.resume()
            self._run_lanes(lanes)
        except BaseException:
            self._unwinding = True  # the feeder failed: the branches unwind
            raise
        finally:
            for lane in lanes:  # a stop or an error: the others unwind (primitives return)
                while not lane.done:
                    lane.resume()
            for thread in threads:
                thread.join()
            self._lanes = {}
            self._unwinding = False
        errors = [lane.error for lane in lanes if lane.error is not None]
        if errors:
            raise errors[0]

    def _run_lanes(self, lanes: list[_Branch]) -> None:
        """Feed the branches' primitives side by side until every branch has ended; a
        branch that awaits something (:meth:`_await`) is looked at every
        :data:`AWAIT_LOOK_S` while the others' hands move (or hold still)."""
        rate = self._rate
        look = max(1, round(AWAIT_LOOK_S * rate))
        # arm -> [poses, grippers or jaws, clutches (None: a servo path), next index]
        streams: dict[str, list] = {}
        awaiting: dict[str, _Await] = {}  # arm -> what its branch waits for
        while True:
            for lane in lanes:
                if lane.pending is not None:
                    if isinstance(lane.pending, _Await):
                        awaiting[lane.arm] = lane.pending
                    elif lane.arm in self._servo_X:  # a servo path: (poses, jaws)
                        path, jaw = lane.pending
                        streams[lane.arm] = [path, jaw, None, 0]
                    else:
                        trace = self.operators[lane.arm].render(lane.pending)
                        streams[lane.arm] = [*_stream(trace, len(trace)), 0]
                    lane.pending = None
            active = [lane for lane in lanes if not lane.done]
            if not active or self.stopped:
                return
            moving = [lane for lane in active if lane.arm not in awaiting]
            if moving:
                n = min(len(streams[lane.arm][1]) - streams[lane.arm][3] for lane in moving)
            else:  # every branch awaits: the hands hold still for a look
                n = look
            busy = {lane.arm for lane in moving}
            for name, op in self.operators.items():
                if name not in busy:  # holds still while the others work
                    trace = op.render([Pause(n / rate)])
                    streams[name] = [*_stream(trace, n), 0]
            for name in self._servo_X:
                if name not in busy:
                    streams[name] = [*self._servo_hold(name, n), None, 0]
            s = self.session
            over: list[str] = []  # branches whose wait is over
            for k in range(n):
                if self.stopped:
                    return
                now = s.now_s()
                commands = {}
                for name, stream in streams.items():
                    X, gripper, clutch, i = stream
                    if clutch is None:
                        commands[name] = ArmCommand(servo_cp=X[i], jaw_rad=gripper[i])
                    else:
                        commands[name] = MasterSample(now, X[i], gripper[i], clutch[i])
                    stream[3] = i + 1
                s.advance(commands)
                if awaiting and ((k + 1) % look == 0 or k + 1 == n):
                    for arm, item in awaiting.items():
                        item.result = item.poll(not moving)
                        if item.result is not None:
                            over.append(arm)
                    if over:
                        break
            for lane in active:
                if lane.arm in over:
                    del awaiting[lane.arm]
                    lane.resume()
                elif lane.arm not in awaiting and streams[lane.arm][3] >= len(streams[lane.arm][1]):
                    lane.resume()

    def _await(self, poll: Callable[[bool], bool | None]) -> bool | None:
        """(Inside a :meth:`parallel` branch) wait, while the other branches' hands work
        on, until ``poll(hands_free)`` says the wait is over: None while it goes on, a
        bool once over (returned here; None when the run stopped first). ``poll`` is
        called every :data:`AWAIT_LOOK_S`, with ``hands_free`` True when no hand of this
        demonstrator is moving then (what it does to them then does not cut into a
        stream). A device process watching the other hand runs that hand's branch so: it
        takes the same steps through it as the process that drives it."""
        lane = self._lane()
        if lane is None:
            raise SimError("Demonstrator._await() waits inside a parallel() branch only.")
        if self.stopped:
            return None
        item = _Await(poll)
        lane.give(item)
        return item.result

    def run_at_once(self, plans: dict[str, list]) -> None:
        """Run primitives now, whatever block the plan is in: a device process engaging
        an arm again that the server held (its hand turning to the held instrument) does
        it when the hold is found, which may be in the middle of a :meth:`together`
        block collecting moves (those are run after, as planned) or of a
        :meth:`parallel` branch (there only that branch's hand can turn: the other
        hand's stream is under way; it turns when its own branch looks)."""
        batch, self._batch = self._batch, None
        try:
            lane = self._lane()
            if lane is not None:
                plans = {arm: plan for arm, plan in plans.items() if arm == lane.arm}
            if plans:
                self._run(plans)
        finally:
            self._batch = batch

    def _lane(self) -> _Branch | None:
        """The :meth:`parallel` branch running in this thread, if any."""
        return self._lanes.get(threading.get_ident()) if self._lanes else None

    # ---- feeding the session -------------------------------------------------------------
    def _run(self, plans: dict[str, list]) -> None:
        lane = self._lane() if self._batch is None else None
        if lane is not None:
            if self.stopped:
                return
            if set(plans) != {lane.arm}:
                raise SimError(
                    f"a parallel() branch of {lane.arm} gave primitives for {sorted(plans)}: "
                    "a branch drives its own hand only."
                )
            lane.give(plans[lane.arm])
            if self.on_progress is not None:
                self.on_progress()
            return
        if self._batch is not None:
            for name, plan in plans.items():
                if name in self._servo_X:  # a servo path (poses, jaws): one per block
                    self._batch[name] = plan
                    continue
                queued = self._batch.setdefault(name, [])
                if any(isinstance(a, Reach) for a in queued) and any(
                    isinstance(a, Reach) for a in plan
                ):
                    raise SimError(
                        f"two moves of {name} in one together() block: the second would be "
                        "planned from where the instrument was before the first; give it after."
                    )
                queued.extend(plan)
            return
        if self.stopped:
            return
        traces = {
            name: self.operators[name].render(plan)
            for name, plan in plans.items()
            if name in self.operators
        }
        servo = {name: plan for name, plan in plans.items() if name in self._servo_X}
        n = max(len(t) for t in [*traces.values(), *(path for path, _ in servo.values())])
        for name, op in self.operators.items():
            # every hand's stream runs as long as the longest: the rest holds still
            trace = traces.get(name)
            if trace is None:
                traces[name] = op.render([Pause(n / op.rate_hz)])
            elif len(trace) < n:
                traces[name] = _joined(trace, op.render([Pause((n - len(trace)) / op.rate_hz)]))
        for name in self._servo_X:
            if name not in servo:
                servo[name] = self._servo_hold(name, n)
        s = self.session
        # every sample's handle pose at once: building 4x4s one by one cost more than IK
        streams = {name: _stream(trace, n) for name, trace in traces.items()}
        for k in range(n):
            if self.stopped:
                return
            now = s.now_s()
            commands = {
                name: MasterSample(now, X[k], gripper[k], clutch[k])
                for name, (X, gripper, clutch) in streams.items()
            }
            for name, (path, jaw) in servo.items():
                i = min(k, len(path) - 1)
                commands[name] = ArmCommand(servo_cp=path[i], jaw_rad=jaw[i])
            s.advance(commands)
        if self.on_progress is not None:
            self.on_progress()


#: How often (s) the feeder of :meth:`Demonstrator.parallel` looks whether a branch's
#: awaited condition holds (a watching device process looks at the bus as often).
AWAIT_LOOK_S = 0.01


@dataclasses.dataclass
class _Await:
    """A branch's primitive that moves nothing: wait until ``poll`` says it is over."""

    poll: Callable[[bool], bool | None]
    result: bool | None = None


class _Branch:
    """One branch of :meth:`Demonstrator.parallel`: its hand, its plan, and the handshake
    that lets exactly one thread (the feeder or one branch) run at a time."""

    def __init__(self, arm: str, fn: Callable[[], object], back: threading.Semaphore) -> None:
        self.arm, self.fn = arm, fn
        #: the primitive it gave, not yet rendered: operator actions, or a servo path
        self.pending = None
        self.done = False
        self.error: BaseException | None = None
        self._go = threading.Semaphore(0)
        self._back = back

    def main(self) -> None:
        self._go.acquire()
        try:
            self.fn()
        except BaseException as error:  # raised again by parallel()
            self.error = error
        finally:
            self.done = True
            self._back.release()

    def resume(self) -> None:
        """(Feeder) let the branch run until it gives a primitive or ends."""
        self._go.release()
        self._back.acquire()

    def give(self, actions) -> None:
        """(Branch) hand a primitive to the feeder; return once it has been fed."""
        self.pending = actions
        self._back.release()
        self._go.acquire()


def _stream(trace, n: int) -> tuple[np.ndarray, list[float], list[bool]]:
    """A rendered operator trace as n handle poses (n, 4, 4), gripper angles and clutch
    states, the last sample held when the trace is shorter than n."""
    index = np.minimum(np.arange(n), len(trace) - 1)
    X = np.zeros((n, 4, 4))
    X[:, :3, :3] = trace.rotation[index]
    X[:, :3, 3] = trace.position_m[index]
    X[:, 3, 3] = 1.0
    return X, trace.gripper_rad[index].tolist(), trace.clutch[index].tolist()


def _joined(a: OperatorTrace, b: OperatorTrace) -> OperatorTrace:
    """One trace after the other (same operator, consecutive renders)."""
    return OperatorTrace(
        **{
            f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)])
            for f in dataclasses.fields(OperatorTrace)
        }
    )
