"""``surgisim device synthetic``: the synthetic operators driving a live server over the bus.

One process plays one trainee: it drives every device the server's ``hello`` maps to an
arm (``MTMR`` and ``MTML`` for a two-handed exercise), or only those named with
``--name``. It watches the bus as a person watches the screen (:class:`RemoteSession`),
runs the scenario's demonstration plan with a :class:`~sim.session.demo.Demonstrator`
of the chosen skill and seed, and publishes the operators' hands in real time.

Engaging, as at a console (the teleoperation starts DISABLED and follows only an aligned
hand): each hand turns to the orientation that matches its instrument as the camera
shows it; the device asks the server to ``enable`` its arms (``state_command``); the
trainee presses and releases the clutch; the arms report FOLLOWING. An arm that stops
following later (held after a stall, or misaligned after a clutch stroke) is engaged
again the same way before the next motion.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from haptics.devices.errors import DeviceError
from haptics.devices.loop import enable_arm
from haptics.heap import collector_kept_out
from sim.devices.remote import RemoteSession, require_plan, scenario_from_hello

#: How long the clutch is held down when engaging (s): a deliberate tap of the pedal.
CLUTCH_TAP_S = 0.15
#: How long to wait for every arm to report FOLLOWING after the clutch tap (s).
ENGAGE_TIMEOUT_S = 3.0
ENGAGE_TRIES = 5
#: How long (wall s) to wait for the server's verdict once the plan is done.
END_WAIT_S = 5.0


@dataclass
class SyntheticResult:
    """How a synthetic run ended.

    Attributes:
        steps_done: exercise steps the server reported done.
        total_steps: the exercise's steps.
        completed: the server reported the exercise completed.
        failed: why it failed, if it did.
        elapsed_s: wall time from engaging to the end (s).
        lost: the server went away during the run.
        engagements: times the arms were engaged (1 + re-engagements).
        samples: ticks published.
        partner_missed: moves of the other hand's process (``--name`` of one hand) that
            were not seen done in time.
        simulation_waits: times the hand waited for a server slower than real time
            (:mod:`sim.devices.pacing`).
        gave_up: the plan ran out with the exercise neither done nor failed (it gave up
            on an object it could not place, e.g. one knocked out of reach); the server's
            session goes on to its time limit without this hand.
    """

    steps_done: int
    total_steps: int
    completed: bool
    failed: str | None
    elapsed_s: float
    engagements: int
    samples: int
    lost: bool = False
    partner_missed: int = 0
    simulation_waits: int = 0
    gave_up: bool = False


class Engager:
    """Brings a remote session's arms to FOLLOWING: aligned hands, enable, clutch tap."""

    def __init__(self, remote: RemoteSession, demo, notify: Callable[[str], None]) -> None:
        self.remote, self.demo, self.notify = remote, demo, notify
        self.count = 0
        self._busy = False
        #: arms that have followed before: their hand is still aligned with the tool's
        #: target (a hold freezes both), so they are engaged again without turning
        self._engaged_before: set[str] = set()

    def following(self) -> list[str]:
        """This process's arms that report FOLLOWING now."""
        return [a for a in self.remote.own if self.remote.watch.arm(a).state == "FOLLOWING"]

    def __call__(self) -> None:
        """Engage every arm of this process that is not following; raise after repeated failures."""
        if self._busy:
            return
        self._busy = True
        try:
            self._engage()
        finally:
            self._busy = False

    def _engage(self) -> None:
        from haptics.operators import Reach

        remote, demo = self.remote, self.demo
        for attempt in range(1, ENGAGE_TRIES + 1):
            remote.drain()
            todo = [a for a in remote.own if a not in self.following()]
            if not todo or remote.finished:
                return
            self.count += 1
            # 1. turn each hand to match its instrument as the camera shows it. An arm held
            # after following keeps the hand as it is: following kept hand and target
            # aligned, and a hold freezes the target (the measured tool may be pushed
            # off it by a contact, so turning to the measured tool could misalign)
            turns = {}
            for arm in todo:
                if attempt == 1 and arm in self._engaged_before:
                    continue
                R = remote.aligned_hand(arm)
                if R is None:
                    raise DeviceError(f"cannot align with {arm}: no pose of it or the camera yet")
                op = demo.operators[arm]
                turns[arm] = [Reach(tuple(op.virtual_hand_m), 0.004, tuple(map(tuple, R)))]
            if turns:
                demo.run_at_once(turns)
            remote.pace(0)
            # 2. ask to teleoperate (DISABLED -> ALIGNING; harmless in any other state)
            for arm in todo:
                enable_arm(remote.link, arm)
            # 3. tap the clutch: press, hold, release (resumes a held arm too)
            self._clutch_tap([remote.device_of[a] for a in todo])
            # 4. wait for FOLLOWING
            deadline = time.monotonic() + ENGAGE_TIMEOUT_S
            while time.monotonic() < deadline and not remote.finished:
                if all(a in self.following() for a in todo):
                    self._engaged_before.update(todo)
                    return
                remote.hold(0.02)
            states = {a: remote.watch.arm(a).state for a in todo}
            self.notify(f"engaging {todo} (try {attempt}): still {states}; aligning again")
        remote.drain()
        left = [a for a in remote.own if a not in self.following()]
        if left and not remote.finished:
            detail = {
                a: (remote.watch.arm(a).state, round(remote.watch.arm(a).align_error_rad, 3))
                for a in left
            }
            raise DeviceError(
                f"the arms {left} did not start following after {ENGAGE_TRIES} tries"
                f" (state, alignment error in rad: {detail}){_hold_reasons(remote, left)};"
                " is the server's teleoperation enabled for them?"
            )

    def _clutch_tap(self, devices: list[str]) -> None:
        stream = self.remote.stream
        n = max(1, round(CLUTCH_TAP_S * stream.rate_hz))
        held = {d: stream.current(d) for d in devices}
        pressed = {d: replace(r, clutch=True) for d, r in held.items()}
        for _ in range(n):
            self.remote.stream.put(pressed)
            self.remote.pace(20)
        released = {d: replace(r, clutch=False) for d, r in held.items()}
        self.remote.stream.put(released)
        self.remote.pace(0)


def _hold_reasons(remote: RemoteSession, arms: list[str]) -> str:
    """The server's latest reason to hold each of ``arms`` (its ``holding`` events), for
    an engagement that failed: "stale sample (40 ms old)" again and again means this
    process's samples reach the server late (a machine too busy for it), not a server
    that refuses."""
    from haptics.teleop.pipeline import LATE_SAMPLE_REASONS

    reasons = {}
    for event in remote.events:
        data = event.get("data") or {}
        if event.get("kind") == "holding" and data.get("arm") in arms and data.get("detail"):
            reasons[data["arm"]] = str(data["detail"])
    if not reasons:
        return ""
    said = ", ".join(f"{arm}: {why}" for arm, why in reasons.items())
    late = any(why.startswith(LATE_SAMPLE_REASONS) for why in reasons.values())
    hint = " (this process's samples reach the server late: is the machine too busy?)"
    return f"; the server's last reason to hold: {said}" + (hint if late else "")


def _result(remote: RemoteSession, elapsed_s: float, engagements: int) -> SyntheticResult:
    runner = remote.runner
    return SyntheticResult(
        runner.step_index,
        runner.total,
        runner.completed,
        runner.failed,
        elapsed_s,
        engagements,
        remote.stream.ticks,
        remote.lost,
        simulation_waits=remote.pace_with_simulation.waits,
    )


def warm_up(remote: RemoteSession) -> None:
    """Load every compiled kernel the plans use (IK, the operators' motion), before the
    hands start publishing: numba's first call holds the interpreter for ~0.1 s, which
    would silence the publishing thread long enough for the teleoperation to hold."""
    import numpy as np

    from haptics.operators import Grip, Reach, SyntheticOperator
    from kinematics import solve_ik

    for arm in remote.arms.values():
        q = np.clip(np.zeros(arm.chain.dof), arm.chain.lower, arm.chain.upper)
        solve_ik(arm.chain, np.eye(4), q, restarts=1)
    op = SyntheticOperator("expert", rng=np.random.default_rng(0), rate_hz=remote.world.rate_hz)
    op.render([Reach((0.01, 0.0, 0.0), 0.004, tuple(map(tuple, np.eye(3)))), Grip(0.5)])


def run_synthetic(
    link,
    *,
    operator: str = "expert",
    seed: int = 0,
    rate_hz: float = 1000.0,
    stop: Callable[[], bool] = lambda: False,
    stop_after_steps: int | None = None,
    scenario=None,
    notify: Callable[[str], None] | None = None,
) -> SyntheticResult:
    """Drive the server ``link`` is connected to with synthetic operators.

    Args:
        link: a connected :class:`~haptics.devices.link.DeviceLink`; its names are the
            devices to drive.
        operator: skill (``expert``, ``intermediate``, ``novice``).
        seed: seed of the operators' random streams (the same seed, the same hands).
        rate_hz: device rate (Hz).
        stop: true ends the run at the next sample (Ctrl-C).
        stop_after_steps: end once this many exercise steps are done.
        scenario: the scenario (default: from ``hello``).
        notify: status lines (default: the link's).
    """
    from haptics.operators import skill
    from sim.session.demo import Demonstrator

    notify = notify or link.notify
    skill(operator)  # an unknown skill fails here, listing the valid ones
    scenario = scenario or scenario_from_hello(link.hello, f"<scenario from {link.endpoint}>")
    plan = require_plan(scenario)
    remote = RemoteSession(
        link, scenario, rate_hz=rate_hz, stop=stop, stop_after_steps=stop_after_steps
    )

    def note(message: str) -> None:
        """What the plan had to do again or gave up, as it happens, at the simulated time
        (the server's session and report count in it)."""
        notify(f"{remote.time_s:.2f} s: {message}")

    if remote.partner:  # the other hand is another process's: watch it, as a person does
        from sim.devices.partner import PartnerDemonstrator

        demo = PartnerDemonstrator(remote, skill=operator, seed=seed, notify=note)
    else:
        demo = Demonstrator(remote, skill=operator, seed=seed)
        demo.on_note = note
    warm_up(remote)
    # the objects of start-up frozen out of the collector's passes before the stream
    # starts: a full pass over them takes 60-300 ms of silence (haptics.heap)
    with collector_kept_out():
        remote.stream.start()
        try:
            remote.wait_for_state(notify=notify)
            if remote.finished:
                return _result(remote, 0.0, 0)
            engager = Engager(remote, demo, notify)
            engager()
            start = time.monotonic()
            watching = f", watching {remote.partner}" if remote.partner else ""
            notify(
                f"{operator} operator (seed {seed}) driving {remote.own} through"
                f" {sorted(remote.device_of.values())}{watching}: {scenario.name}"
            )
            remote.on_disengaged = engager
            plan(demo)
            if not remote.finished and remote.confirm_server():
                # the plan's last move may be the other hand's (one hand per process), or the
                # server's verdict may still be on its way: wait for it as a person does
                remote.hold(END_WAIT_S)
            remote.pace(0)
            remote.drain()
            result = _result(remote, time.monotonic() - start, engager.count)
            result.partner_missed = len(getattr(demo, "missed", ()))
            result.gave_up = not remote.finished
            return result
        finally:
            remote.close()
