"""Your own controller on a scenario: the interface, the runner and two reference controllers.

A controller is any object with::

    name: str                                   # stored as the session's operator
    def reset(self, scenario, seed: int) -> None  # a new run starts
    def act(self, state: StepState) -> dict[str, ArmCommand] | None

``act`` is called once per physics step (or every ``1 / control_rate_hz`` seconds when the
controller has a ``control_rate_hz`` attribute; the commands hold in between) with the
session's :class:`~sim.session.state.StepState`, and returns a command per arm it drives
(arms it leaves out hold). Returning ``None`` ends the run early; the session is scored
as it stands. A controller that needs more than the state (the scripted plans read the
world's landmarks) may define ``attach(session)``, called after ``reset``.

``surgisim run SCENARIO --controller pkg.module:make`` calls ``make()`` and runs the
result through :func:`run_controller`: the same scorer as a trainee, and the session is
stored under the controller's name as its operator.

Reference controllers:

- :class:`ScriptedController`: the scenario's demonstration plan (``sim.session.plans``)
  behind this interface. The plan runs in a worker thread against a proxy of the
  session whose ``advance`` hands each command over to ``act`` and waits for the next
  state; the two threads strictly alternate, so a run is deterministic, and with
  synthetic operators it is the same run, bit for bit, as ``surgisim run --operator``.
- :class:`TipTracker`: a Cartesian P-controller that brings each instrument's tool tip
  to a point above the nearest scenario object with ``servo_cp``, using nothing but
  the state - a five-minute read on how to write one.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from kinematics.entry_points import load_callable
from sim.errors import SimError
from sim.session.commands import ArmCommand
from sim.session.plans import PlanMismatchError
from sim.session.state import StepState


class ControllerError(SimError):
    """A user's controller raised: its fault, not the simulator's, and said so (the CLI
    printed "unexpected ValueError ... please report it", which reads as a surgisim bug).
    The original exception is ``cause`` (and the ``__cause__``: ``--debug`` prints its
    traceback). Built by :meth:`of`; the plain constructor keeps it picklable."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message, cause)
        self.cause = cause

    def __str__(self) -> str:
        return str(self.args[0])

    @classmethod
    def of(cls, controller, when: str, exc: BaseException) -> ControllerError:
        """The error for ``exc`` raised by ``controller`` ``when`` (e.g. "at 1.200 s")."""
        name = getattr(controller, "name", type(controller).__name__)
        return cls(
            f"controller {name!r} raised {type(exc).__name__} {when}: {exc} "
            "(rerun with --debug for its traceback)",
            exc,
        )


@runtime_checkable
class Controller(Protocol):
    """What ``surgisim run --controller`` drives a session with (see the module docstring)."""

    name: str

    def reset(self, scenario, seed: int) -> None:
        """A new run of ``scenario`` with world seed ``seed`` starts."""

    def act(self, state: StepState) -> dict[str, ArmCommand] | None:
        """The commands for the next step(s), by arm; None ends the run."""


# ---- scoring and running ----------------------------------------------------------------------
def run_controller(
    scenario,
    controller: Controller,
    *,
    seed: int = 0,
    config=None,
    recorder=None,
    on_progress: Callable[[int, float], None] | None = None,
    on_checkpoint: Callable | None = None,
    stop: Callable[[], bool] | None = None,
):
    """Run ``scenario`` driven by ``controller`` until the exercise finishes, its time limit
    passes, the controller returns None or ``stop()`` turns true (Ctrl-C: the outcome is
    then marked interrupted); score it like a trainee's session.

    Args:
        recorder: an object with ``start(session, driver)``, ``commands(session,
            commands, steps)``, ``stepped(session)`` and ``finish(session, result, metrics)``
            (e.g. :class:`sim.session.recording.McapRecorder`), or None.
        on_progress: called with (exercise step index, simulated time s) about every
            simulated second.
        on_checkpoint: called with the session about every simulated second (a
            checkpoint writer decides whether one is due).

    Returns:
        A :class:`~sim.session.headless.HeadlessOutcome`.
    """
    from sim.session.headless import end_of_run
    from sim.session.session import Session

    start = time.perf_counter()
    session = Session(scenario, seed=seed, config=config)
    try:
        try:
            controller.reset(scenario, seed)
            attach = getattr(controller, "attach", None)
            if attach is not None:
                attach(session)
        except Exception as exc:
            raise ControllerError.of(controller, "while starting", exc) from exc
        if recorder is not None:
            recorder.start(session, getattr(controller, "name", type(controller).__name__))
        rate = getattr(controller, "control_rate_hz", None)
        steps = 1 if not rate else max(1, round(session.world.rate_hz / float(rate)))
        limit = scenario.exercise.time_limit_s
        progress_every = max(1, round(session.world.rate_hz))
        state = session.state()
        interrupted = False
        stopped_by = None  # the controller, when it ends the run itself (act() -> None)
        gave_up = None
        while not session.finished and session.time_s < limit:
            if stop is not None and stop():
                interrupted = True
                break
            try:
                commands = controller.act(state)
            except PlanMismatchError:
                raise  # the scenario's choice of plan, not a bug of the controller
            except Exception as exc:
                raise ControllerError.of(controller, f"at {session.time_s:.3f} s", exc) from exc
            if commands is None:
                stopped_by = "the controller"
                gave_up = getattr(controller, "ended_because", None)  # its own words
                break
            if recorder is not None:
                recorder.commands(session, commands, steps)
            session.advance(commands, steps=steps)
            if recorder is not None:
                recorder.stepped(session)
            state = session.state()
            if session.world.step_count % progress_every < steps:
                if on_progress is not None:
                    on_progress(session.runner.step_index, session.time_s)
                if on_checkpoint is not None:
                    on_checkpoint(session)
        outcome = end_of_run(scenario, session, interrupted, start, stopped_by, gave_up)
        if recorder is not None:
            from scenarios.archive import ending_of

            ended = ending_of(outcome.trace, outcome.interrupted)
            recorder.finish(session, outcome.result, outcome.metrics, ended=ended)
    finally:
        close = getattr(controller, "close", None)
        if close is not None:
            close()
        session.close()
    if on_progress is not None:
        on_progress(session.runner.step_index, session.time_s)
    return outcome


def run_driven(
    scenario,
    scenario_path,
    operator,
    controller_spec,
    record,
    seed,
    on_progress,
    on_checkpoint=None,
    stop=None,
):
    """What ``surgisim run --controller/--record`` runs: the controller named by
    ``controller_spec`` (else the ``operator``'s scripted plan, the same run as without
    ``--record``), recorded to ``record`` when given. Returns (outcome, operator name)."""
    from pathlib import Path

    controller = (
        load_controller(controller_spec)
        if controller_spec is not None
        else ScriptedController(operator)
    )
    recorder = None
    if record is not None:
        from sim.session.recording.mcap_writer import McapRecorder

        recorder = McapRecorder(record, scenario_text=Path(scenario_path).read_text())
    outcome = run_controller(
        scenario,
        controller,
        seed=seed,
        recorder=recorder,
        on_progress=on_progress,
        on_checkpoint=on_checkpoint,
        stop=stop,
    )
    name = operator if controller_spec is None else controller.name
    return outcome, name


def load_controller(spec: str) -> Controller:
    """Make a controller from ``"pkg.module:factory"`` (the factory is called without
    arguments).

    Raises:
        SimError: a malformed spec, a module or factory that does not exist, a module or
            factory that raised, or a result without ``reset`` and ``act``.
    """
    factory = load_callable(
        spec, "controller", "sim.session.controllers:scripted", SimError, role="factory"
    )
    attr = str(spec).partition(":")[2]
    try:
        controller = factory()
    except TypeError as exc:
        raise SimError(
            f"{spec} must be callable without arguments (a factory returning the controller): {exc}"
        ) from None
    except Exception as exc:
        raise SimError(f"{spec}: the factory raised {type(exc).__name__}: {exc}") from exc
    missing = [m for m in ("reset", "act") if not callable(getattr(controller, m, None))]
    if missing:
        raise SimError(
            f"{spec} returned a {type(controller).__name__} without {missing}; a controller "
            "needs reset(scenario, seed) and act(state) -> {arm: ArmCommand}."
        )
    if not getattr(controller, "name", None):
        controller.name = attr
    return controller


# ---- the scripted demonstration as a controller ----------------------------------------------
class _StoppedError(Exception):
    """The run ended while the plan was still going: unwinds the plan's thread."""


_DONE = object()


class _SessionProxy:
    """The session as the plan's thread sees it: everything is read from the real
    session, but ``advance`` hands the commands to the controller's ``act`` and waits
    until the runner has stepped."""

    def __init__(self, session, controller: ScriptedController) -> None:
        self._session = session
        self._controller = controller

    def __getattr__(self, name):
        return getattr(self._session, name)

    def advance(self, commands=None, steps: int = 1) -> None:
        if steps != 1:
            raise SimError("the scripted controller's plans advance one step at a time.")
        self._controller._hand_over(commands)

    def step(self, commands=None) -> StepState:
        self.advance(commands)
        return self._session.state()


class ScriptedController:
    """The scenario's demonstration plan as a pull-style controller.

    Args:
        skill: the synthetic operators' skill (``expert``, ``intermediate``, ``novice``):
            the plan's motions go through the teleoperation pipeline as master samples.
        servo: arms driven by ``servo_cp`` paths instead (minimum-jerk, Fitts-timed).
        grace_s: after the plan, how long to wait for the exercise to notice the end.
    """

    def __init__(self, skill: str = "expert", servo=(), grace_s: float = 2.0) -> None:
        self.skill = skill
        self.servo = tuple(servo)
        self.grace_s = grace_s
        self.name = f"scripted-{skill}" + ("-servo" if self.servo else "")
        #: why the plan ended before the exercise did (read by :func:`run_controller`)
        self.ended_because: str | None = None
        self._thread: threading.Thread | None = None

    def reset(self, scenario, seed: int) -> None:
        """Remember the run; the plan starts at ``attach``."""
        self.close()
        self.scenario, self.seed = scenario, int(seed)
        self.ended_because = None

    def attach(self, session) -> None:
        """Build the demonstrator on a proxy of ``session`` and start the plan's thread."""
        from sim.session.demo import Demonstrator
        from sim.session.plans import plan_for

        plan = plan_for(self.scenario)
        proxy = _SessionProxy(session, self)
        demo = Demonstrator(proxy, self.skill, seed=self.seed, servo=self.servo)
        self._to_act: queue.Queue = queue.Queue(maxsize=1)
        self._to_plan: queue.Queue = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._started = False

        def work() -> None:
            try:
                if self._to_plan.get() is _DONE:  # the first act() starts the plan
                    return
                plan(demo)
                demo.until(lambda: session.finished, timeout_s=self.grace_s)
                if not session.finished:
                    from sim.session.headless import gave_up_reason

                    self.ended_because = gave_up_reason(self.skill, demo)
            except _StoppedError:
                return
            except BaseException as exc:  # handed to the runner's thread by act()
                self._error = exc
            self._to_act.put(_DONE)

        self._thread = threading.Thread(target=work, name="scripted-plan", daemon=True)
        self._thread.start()

    def _hand_over(self, commands) -> None:
        """Called on the plan's thread: give ``commands`` to act() and wait for the step."""
        self._to_act.put(commands)
        if self._to_plan.get() is _DONE:
            raise _StoppedError

    def act(self, state: StepState) -> dict[str, ArmCommand] | None:
        """Let the plan run to its next command and return it (None once the plan ended)."""
        if self._thread is None:
            raise SimError("ScriptedController.act() before attach(session).")
        self._to_plan.put(None)
        commands = self._to_act.get()
        if commands is _DONE:
            if self._error is not None:
                raise self._error
            return None
        return commands

    def close(self) -> None:
        """Stop the plan's thread if the run ended before the plan did."""
        thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._to_plan.put_nowait(_DONE)
            thread.join(timeout=10.0)


def scripted() -> ScriptedController:
    """Factory for ``--controller sim.session.controllers:scripted``: the expert plan."""
    return ScriptedController("expert")


def scripted_novice() -> ScriptedController:
    """Factory: the plan performed by novice synthetic operators."""
    return ScriptedController("novice")


# ---- a Cartesian P-controller ---------------------------------------------------------------
@dataclass
class TipTracker:
    """Bring each instrument's tool tip to ``hover_m`` above the scenario object nearest
    to it and ``aside_m`` towards the side it came from (two instruments going to one
    object must not meet), with a Cartesian P-law on ``servo_cp``, then end the run.

    Per physics step of ``dt`` seconds, for each instrument (arms with a jaw) the tip
    velocity is ``v = gain_per_s * (goal - measured tip)``, limited to ``max_speed_m_s``;
    the ``servo_cp`` setpoint moves by ``v * dt`` (orientation kept, jaw open). The run ends
    once every tip has stayed within ``tolerance_m`` of its goal for ``settle_s``.
    """

    gain_per_s: float = 4.0
    max_speed_m_s: float = 0.05
    hover_m: float = 0.02
    aside_m: float = 0.015
    tolerance_m: float = 5e-4
    settle_s: float = 0.5
    jaw_rad: float = 0.5
    name: str = "tip-tracker"

    def reset(self, scenario, seed: int) -> None:
        """Forget the last run's goals; take the scenario's objects as candidate goals."""
        self.objects = tuple(o.id for o in scenario.scene.objects)
        self.goals: dict[str, np.ndarray] = {}
        self.setpoints: dict[str, np.ndarray] = {}
        self._settled_since: float | None = None

    def _is_object(self, body: str) -> bool:
        return any(body == o or body.startswith(o + "/") for o in self.objects)

    def act(self, state: StepState) -> dict[str, ArmCommand] | None:
        """One P-law step per instrument (see the class docstring)."""
        if not self.goals:
            bodies = {n: X[:3, 3] for n, X in state.body_poses.items() if self._is_object(n)}
            for name, arm in state.arms.items():
                if arm.kind != "psm" or not bodies:
                    continue
                tip = arm.X_WT[:3, 3]
                nearest = min(bodies, key=lambda n: float(np.linalg.norm(bodies[n] - tip)))
                aside = tip - bodies[nearest]
                aside[2] = 0.0
                aside *= self.aside_m / max(float(np.linalg.norm(aside)), 1e-9)
                self.goals[name] = bodies[nearest] + aside + np.array([0.0, 0.0, self.hover_m])
                self.setpoints[name] = arm.X_WT.copy()
            self._last_time = state.time_s
        if not self.goals:
            return None  # no instrument, or nothing to go to
        dt = max(state.time_s - self._last_time, 0.0)
        self._last_time = state.time_s
        commands, worst = {}, 0.0
        for name, goal in self.goals.items():
            error = goal - state.arms[name].X_WT[:3, 3]
            worst = max(worst, float(np.linalg.norm(error)))
            v = self.gain_per_s * error
            speed = float(np.linalg.norm(v))
            if speed > self.max_speed_m_s:
                v *= self.max_speed_m_s / speed
            X = self.setpoints[name]
            X[:3, 3] += v * dt
            commands[name] = ArmCommand(servo_cp=X.copy(), jaw_rad=self.jaw_rad)
        if worst <= self.tolerance_m:
            if self._settled_since is None:
                self._settled_since = state.time_s
            if state.time_s - self._settled_since >= self.settle_s:
                return None
        else:
            self._settled_since = None
        return commands


def tracker() -> TipTracker:
    """Factory for ``--controller sim.session.controllers:tracker``."""
    return TipTracker()
