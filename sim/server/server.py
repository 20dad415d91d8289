"""The real-time training server: a trainee at master devices drives the live session.

One process owns the session (:class:`~sim.session.session.Session`, on a monotonic wall
clock) and the bus (:class:`~haptics.bus.ServerBus`). It waits for the scenario's devices,
saying which it is waiting for, enables their arms (teleoperation starts ALIGNING: the
trainee matches the instrument's orientation, then clutches in), and then, every physics
tick, paced in real time (:class:`~sim.server.loop.Pacer`):

1. takes every device message off the bus (held back by the ``command`` latency line if
   one is set) and turns each ``measured_cp`` into a master sample for its arm (a
   client's ``frame_timing`` report goes to :attr:`TrainingServer.frame_timing`) — also
   while it waits for the tick: samples go through their arm's teleoperation (filter,
   state machine, limits) as they arrive (``Session.command``);
2. steps the session with the rest (every sample goes through the arm's teleoperation
   filter in order) and solves IK for the latest targets;
3. computes each device's force feedback from its instrument's tip force and publishes
   ``servo_cf``; publishes arm states, the scene, the step, live metrics and events at
   their rates (:mod:`sim.server.publish`);
4. answers requests (``hello``, ``state_command``, ``stop``);
5. writes a checkpoint of the session every few simulated seconds (in a thread: the
   loop never waits for the disk).

The loop measures itself; a machine that cannot keep real time is reported and the
session flagged, never silently slowed. When the exercise ends (or ``stop``, or Ctrl-C)
the session is scored, stored and reported as ``surgisim run`` does, and the result goes
out on ``session/score``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from haptics.bus.contract import CONTRACT_VERSION, INT64_MAX, INT64_MIN, TOPICS
from haptics.bus.devices import SEQ_JUMP_S, DeviceState
from haptics.bus.frame_timing import FrameTimingLog
from haptics.bus.latency import DelayLine
from haptics.bus.roles import OPERATOR, Role
from haptics.force import ForceFeedback, ForceFeedbackConfig, for_physics_rate
from haptics.heap import CollectorPauses, collector_kept_out
from scenarios.trace import TraceEvent
from sim.server.loop import LoopReport, Pacer
from sim.server.publish import CHANNELS, ChannelDelay, Publisher, Rates
from sim.server.realtime import NORMAL, Scheduling, use_normal, use_realtime
from sim.server.routing import Router, default_device_map
from sim.session.session import Session, SessionConfig

_log = logging.getLogger("haptics.bus")

#: How often the waiting message repeats while devices are missing (s).
WAIT_NOTICE_S = 5.0

#: How long the server may spend counting what arrived before a session's end (s).
FINAL_DRAIN_S = 5.0
#: Of that, how long it reads on once the queue ran dry, while messages still come (s).
STRAGGLERS_S = 0.5
#: How long clients are told to wait for ``session/score`` after ``session/ending`` (s):
#: the server is silent while it scores the trace, stores the session and writes its
#: report, seconds on an idle machine and tens of seconds for a long session on a loaded
#: two-core one; a client that hears nothing for this long after the notice may take the
#: server for gone.
SCORE_WITHIN_S = 120.0

#: A warm-up longer than this (s) is said, with whether kernels compiled (a first run) or not.
SLOW_WARM_UP_S = 2.0

#: How long one read of the device socket may take, as a share of the wall time since
#: the last read (at least one physics period): a few messages take microseconds, so
#: only a flood reaches it (``ServerBus.drain``). A share of the *elapsed* time, not of
#: the physics period: on a server slower than real time (a tick of 6 ms for 2 ms of
#: physics, loaded) a quarter of the period let devices' samples queue up faster than
#: they were read, their delay grew, and their stamps looked slow
DRAIN_PERIODS = 0.25


def drain_budget_s(since_last_s: float, period_s: float) -> float:
    """How long one read of the device socket may take (s): :data:`DRAIN_PERIODS` of the
    wall time since the last read, which is at least one physics period (a loop at real
    time) and at most a second (the first read, or one after a long pause)."""
    return DRAIN_PERIODS * min(max(since_last_s, period_s), 1.0)


@dataclass(frozen=True)
class ServeConfig:
    """How the server runs.

    Attributes:
        port: base port P of the bus.
        bind_host: address to bind (anything but loopback needs ``curve``).
        curve: the server's CurveZMQ keys and allow list (:class:`haptics.bus.ServerCurve`).
        device_map: ``{device: arm}``; None: from the scenario's ``hand:`` fields.
        rates: publishing rates.
        delays: injected delay per channel (``command``, ``video``, ``haptic``).
        wait_for_devices: wait for every mapped device before starting the clock.
        force: force-feedback settings (one pipeline per arm).
        master_rate_hz: the devices' sample rate (Hz), for the teleoperation filters.
        seed_latency: seed of the jitter and loss draws.
        ipc_dir: serve on ``ipc://`` endpoints in this directory instead of TCP (one
            machine only).
        realtime: run the loop thread under real-time scheduling when permitted
            (:mod:`sim.server.realtime`); the outcome says what it got.
        align_ticks: start a physics tick up to one period early, as soon as every
            live device's new sample is in (:meth:`TrainingServer._between_ticks`), so
            the tick's work falls between the devices' samples instead of holding them
            up; the tick schedule itself, and so simulated time, is unchanged.
        warm_up: before the bus is served (it is bound first, so that a second server
            on the same ports fails at once), drive a throwaway headless session of the
            scenario for a simulated second (:mod:`sim.server.warm_up`), so that the
            kernels a first run compiles are not compiled under the trainee's first
            samples.
    """

    port: int = 5570
    bind_host: str = "127.0.0.1"
    curve: object | None = None
    device_map: Mapping[str, str] | None = None
    rates: Rates = field(default_factory=Rates)
    delays: Mapping[str, ChannelDelay] = field(default_factory=dict)
    wait_for_devices: bool = True
    force: ForceFeedbackConfig = field(default_factory=ForceFeedbackConfig)
    master_rate_hz: float = 1000.0
    seed_latency: int = 0
    ipc_dir: str | None = None
    realtime: bool = False
    align_ticks: bool = True
    warm_up: bool = True


@dataclass
class ServeOutcome:
    """A finished live session, before storing.

    ``wall_time_s`` is the session's wall time from when its devices were connected (the
    loop's start), as ``sim_time_s`` counts from there; ``device_wait_s`` the wait for
    the devices before it (a trainee putting a headset on is no part of the exercise).

    ``never_connected``: the mapped devices still missing when the server was stopped
    while waiting for them; not empty means the session never started (no step, no
    trainee input), so there is nothing to score or store.
    """

    session: Session
    trace: object
    loop: LoopReport
    stopped_by: str  # "completed", "failed", "stop request", "interrupted" or "time"
    bus_counters: dict
    device_stats: dict
    wall_time_s: float
    frame_timing: dict = field(default_factory=dict)
    scheduling: Scheduling = NORMAL
    device_wait_s: float = 0.0
    never_connected: tuple[str, ...] = ()

    @property
    def started(self) -> bool:
        """Whether the session ran: every mapped device connected and the loop began."""
        return not self.never_connected


def live_session_config(pose_rate_hz: float = 60.0, master_rate_hz: float = 1000.0):
    """The session settings of a live server: dVRK-like teleoperation (each arm DISABLED
    until its device is there, then ALIGNING: the hand must match the instrument within
    10° before it follows; a device silent for 100 ms holds its arm), the devices' rate for
    the filters, observation every step (force feedback), the viewers' pose rate."""
    from haptics.teleop import TeleopConfig
    from sim.session.session import INSTRUMENT_TRANSLATION_SCALE, SCOPE_TRANSLATION_SCALE

    return SessionConfig(
        teleop=TeleopConfig(translation_scale=INSTRUMENT_TRANSLATION_SCALE),
        scope_teleop=TeleopConfig(translation_scale=SCOPE_TRANSLATION_SCALE),
        master_rate_hz=master_rate_hz,
        observe_rate_hz=None,
        pose_rate_hz=pose_rate_hz,
    )


#: (drop reason, what the waiting line says of it) for samples refused by their key
_REFUSED_KEYS = (
    ("not_permitted", "its role in roles.yaml does not allow them"),
    ("revoked_key", "it was removed from the allow directory"),
)


class TrainingServer:
    """One live session on the bus (see the module docstring).

    Args:
        scenario: the loaded scenario.
        seed: the world's seed.
        config: how to serve.
        say: where status lines go (the CLI prints them).
        clock: the monotonic clock (tests may pass a fake).
        on_samples: called with the clock and the device samples each time some are taken
            for teleoperation, at a tick or between ticks (the bus benchmark measures
            stamp -> step with it).
    """

    def __init__(
        self,
        scenario,
        *,
        seed: int = 0,
        config: ServeConfig | None = None,
        say: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
        on_samples: Callable[[float, list], None] | None = None,
    ) -> None:
        from haptics.bus.sockets import ServerBus

        self._on_samples = on_samples
        self.scenario = scenario
        self.config = config or ServeConfig()
        self.say = say
        self._clock = clock
        # bound first: a second server on these ports fails in a moment, not after its
        # warm-up (seconds; a first run's compile, 14 s), and the one started first keeps
        # them. Nothing is served until run(): a client's hello waits, its samples queue.
        self.bus = ServerBus(
            self.config.port, self.config.bind_host, self.config.curve, ipc_dir=self.config.ipc_dir
        )
        try:
            self._prepare(scenario, seed, clock)
        except BaseException:
            self.bus.close()
            raise

    def _prepare(self, scenario, seed: int, clock: Callable[[], float]) -> None:
        """Warm up, build the session and everything the loop keeps (the bus is bound)."""
        say = self.say
        if self.config.warm_up:
            from sim.server.warm_up import warm_up

            took = warm_up(scenario, seed, self.config.master_rate_hz, self.config.force)
            if took.seconds > SLOW_WARM_UP_S:
                say(
                    f"prepared the simulation in {took.seconds:.0f} s ("
                    + (
                        f"{took.compiled} kernels compiled: the first run on this machine;"
                        " later runs start at once)"
                        if took.compiled
                        else "its kernels came from the cache: a busy machine?)"
                    )
                )
        self.session = Session(
            scenario,
            seed=seed,
            config=live_session_config(self.config.rates.scene_hz, self.config.master_rate_hz),
            clock=clock,
        )
        s = self.session
        self.device_map = dict(self.config.device_map or default_device_map(scenario))
        camera = scenario.scene.camera.arm
        self.router = Router(self.device_map, camera if camera in s.teleops else None)
        rng = np.random.default_rng(self.config.seed_latency)
        lines = {}
        for channel in CHANNELS:
            delay = self.config.delays.get(channel, ChannelDelay())
            lines[channel] = (
                None if delay.zero else DelayLine(delay.latency_s, delay.jitter_s, delay.loss, rng)
            )
        self._command_line = lines["command"]
        self.publisher = Publisher(self.bus, lines, self.config.rates)
        # a forward seq jump of over a minute of samples is a restart, not lost samples
        self.devices = DeviceState(
            max_seq_jump=max(1, round(SEQ_JUMP_S * self.config.master_rate_hz))
        )
        self.bus.names.reserve(self.device_map)  # a flood of names never locks a device out
        self._last_state = None  # the last physics tick's StepState (force feedback)
        self.scheduling = NORMAL  # what the loop thread got (ServeConfig.realtime)
        #: the clients' ``<dev>/frame_timing`` reports (how their displays keep up)
        self.frame_timing = FrameTimingLog()
        #: the force pipelines' settings, their step cap at the physics period
        self.force_config = for_physics_rate(self.config.force, s.world.rate_hz)
        self.forces = {arm: ForceFeedback(self.force_config) for arm in s.teleops}
        self.paused = False
        self._forces_zeroed = False  # the final zero servo_cf went out (_zero_forces)
        self._stop_reason: str | None = None
        #: the mapped devices not heard from yet while waiting for them (empty once all are)
        self.missing_devices: frozenset[str] = frozenset(self.device_map)
        #: per teleoperated arm: the hand orientation (3x3, M) its alignment gate accepts
        self._aligned_hands = {
            arm: t.aligned_hand_rotation for arm, t in self.session.teleops.items()
        }
        #: seq of the latest device sample a step used (the used_seq of state messages)
        self._last_seq = -1
        #: tick alignment: when each device's last sample was taken (loop clock)
        self._heard: dict[str, float] = {}
        #: the newest seq of each mapped device; the devices lost (silent past the gap
        #: timeout: said once, until heard again) with when they were last heard
        self._device_seq: dict[str, int] = {}
        self._lost: dict[str, float] = {}
        self._next_watch = 0.0
        #: names outside the device map that sent ``measured_cp`` (at most the bus's
        #: name limit), in order: the waiting message names them
        self._strays: dict[str, None] = {}
        self._period_s = 1.0 / s.world.rate_hz
        self._last_drain_s = -math.inf  # time.monotonic() of the last device read
        self._tick_started = -math.inf
        self._live_within_s = s.config.teleop.gap_timeout_s

    @property
    def port(self) -> int:
        """The bus's base port (useful with port 0: a free block)."""
        return self.bus.port

    # ---- requests -------------------------------------------------------------------------
    def _hello(self, request: dict) -> dict:
        s = self.session
        teleop = {
            arm: {
                "translation_scale": t.config.translation_scale,
                "rotation_scale": t.config.rotation_scale,
                "R_CM": np.asarray(t.config.R_CM, dtype=float).tolist(),
                "align_tolerance_rad": t.config.align_tolerance_rad,
                "jaw_closed_rad": t.config.jaw_closed_rad,
                "jaw_open_rad": t.config.jaw_open_rad,
                "gripper_max_rad": t.config.gripper_max_rad,
                "max_tip_speed_m_s": t.config.max_tip_speed_m_s,
            }
            for arm, t in s.teleops.items()
        }
        reply = {
            "ok": True,
            "contract": CONTRACT_VERSION,
            "scenario": self.scenario.name,
            "title": self.scenario.title,
            "time_limit_s": float(self.scenario.exercise.time_limit_s),
            "scenario_yaml": self._scenario_text(),
            "seed": s.seed,
            "arms": [
                {"name": a.name, "kind": a.model.name, "joint_names": list(a.chain.joint_names)}
                for a in s.arms.values()
            ],
            "devices": self.device_map,
            "camera_arm": self.scenario.scene.camera.arm,
            "teleop": teleop,
            "force_feedback": self._force_feedback_settings(),
            "topics": [spec.pattern for spec in TOPICS],
            "rates_hz": {
                "physics": s.world.rate_hz,
                # the most: after every physics step and after each burst of device
                # samples between steps, so at the faster of the two, up to this cap
                "servo_cf": self.config.rates.servo_cf_hz,
                "arm_state": self.config.rates.arm_state_hz,
                "scene/state": self.config.rates.scene_hz,
                "session/metrics": self.config.rates.metrics_hz,
            },
        }
        if request.get("scene"):
            reply["scene"] = s.scene_description().to_dict()
        return reply

    def _force_feedback_settings(self) -> dict:
        """What ``servo_cf`` is made of (haptics.force): the tip force times
        ``force_scale``, saturated at ``max_force_n``, low-passed at ``cutoff_hz`` and
        rate-limited, plus the workspace wall's spring; a device needs these to recover
        the tip force or to scale it its own way; ``max_force_step_n`` bounds the change
        from one message to the next while the arm follows."""
        c = self.force_config
        return {
            "force_scale": c.force_scale,
            "max_force_n": c.max_force_n,
            "cutoff_hz": c.cutoff_hz,
            "max_force_rate_n_s": c.max_force_rate_n_s,
            "max_force_step_n": c.max_force_step_n,
            "wall_stiffness_n_m": c.wall_stiffness_n_m,
            "torque_scale": c.torque_scale,
            "max_torque_nm": c.max_torque_nm,
        }

    def _scenario_text(self) -> str:
        from pathlib import Path

        source = self.scenario.source_file
        try:
            return Path(source).read_text() if source else ""
        except OSError:
            return ""

    def _state_command(self, request: dict, role: Role = OPERATOR) -> dict:
        command, target = request.get("command"), request.get("arm", "all")
        teleops = self.session.teleops
        arms = list(teleops) if target == "all" else [target]
        unknown = [a for a in arms if a not in teleops]
        if unknown:
            return {
                "ok": False,
                "error": f"no teleoperated arm {unknown[0]!r}; arms are {sorted(teleops)} or 'all'",
            }
        if command in ("enable", "disable") and role.devices is not None:
            # a device key enables or disables only the arms its own devices drive
            driven = {self.device_map[d] for d in role.devices if d in self.device_map}
            foreign = [a for a in arms if a not in driven]
            if foreign:
                return {
                    "ok": False,
                    "error": f"not permitted: this client's key has the role {str(role)!r},"
                    f" whose devices drive {sorted(driven) or 'no arm'} here; it may not"
                    f" {command} {foreign[0]!r} (roles.yaml in the server's allow directory)",
                }
        now = self._clock()
        if command == "enable":
            for arm in arms:
                teleops[arm].enable(now)
        elif command == "disable":
            for arm in arms:
                teleops[arm].disable(now)
        elif command == "pause":
            self.paused = True
        elif command == "resume":
            if self.paused:
                # a pause publishes zeros past the filters, which still hold the force
                # from before it: following resumes from zero through the step bound
                for feedback in self.forces.values():
                    feedback.reset()
                now = self._clock()
                for teleop in self.session.teleops.values():
                    teleop.restart("the session resumed", now)
                for arm in self.device_map.values():  # devices send through a pause
                    teleops[arm].expect_samples(now)
            self.paused = False
        else:
            return {"ok": False, "error": f"unknown command {command!r}"}
        return {"ok": True}

    def _answer(self) -> None:
        for origin, request in self.bus.requests():
            kind = request.get("request")
            if kind == "hello":
                reply = self._hello(request)
            elif kind == "state_command":
                reply = self._state_command(request, origin.role)
            elif kind == "stop":
                self._stop_reason = "stop request"
                reply = {"ok": True}
            else:  # the bus answers unknown requests itself; be safe
                reply = {"ok": False, "error": f"unknown request {kind!r}"}
            self.bus.reply(origin, reply)

    # ---- devices ----------------------------------------------------------------------------
    def _take_device_messages(self, now: float) -> list:
        """Device samples due now (through the command latency line)."""
        # a quarter of the time since the last read at most (DRAIN_PERIODS): a client
        # flooding the device socket (a probe sent 200 000 messages/s) held the loop and
        # its outgoing streams up for 0.4-1.3 s per drain; the rest waits in its queue
        start = time.monotonic()
        budget_s = drain_budget_s(start - self._last_drain_s, self._period_s)
        self._last_drain_s = start
        messages = self.bus.drain(max_seconds=budget_s)
        self._say_drops(now)
        line = self._command_line
        if line is None:
            self.frame_timing.ingest(messages, self.bus.counters.messages.refuse)
            samples = self.devices.ingest(messages, read_late=self.bus.read_late)
        else:
            for m in messages:
                line.push(now, m)
            ready = line.pop_ready(now)
            self.frame_timing.ingest(ready, self.bus.counters.messages.refuse)
            samples = self.devices.ingest(ready, received_s=now)
        self._note_held_devices()
        self._forget_names()
        return self._note_strays(samples)

    def _say_drops(self, now: float) -> None:
        """Every 10 s at most, the bus's new drops as a ``bus_drop`` event on
        ``session/events`` (the operator's view: a later, different fault of a sender is
        seen, not only the first of each reason on the console). Published, not added to
        the session's events: it says nothing about the trainee, and stays out of the
        record (its totals are in the stored bus counters)."""
        summary = self.bus.drop_summary()
        if summary is not None:
            event = TraceEvent(self.session.time_s, "bus_drop", summary)
            self.publisher.events(now, [event], self._last_seq)

    def _forget_names(self) -> None:
        """Drop the state of the client names the bus forgot (silent names beyond those it
        keeps for the record: :mod:`haptics.bus.names`), so that churning names (viewers
        that come and go) never grow the server's memory or the stored record."""
        for name in self.bus.names.pop_forgotten():
            self.devices.forget(name)
            self.frame_timing.forget(name)
            self._strays.pop(name, None)

    def _note_held_devices(self) -> None:
        """A device whose samples the bus now holds (two senders under its name, stamps
        not in seconds: :class:`~haptics.bus.devices.DeviceState`) gets no sample through,
        so its arm holds by the watchdog; say why among the session's events
        (``command_refused``, with the bus's warning as the reason; `surgisim serve` shows
        the warning itself as a ``bus:`` line)."""
        for device, text in self.devices.pop_notices():
            arm = self.device_map.get(device)
            if arm in self.session.teleops:
                self.session.refuse(arm, text)

    def _note_strays(self, samples: list) -> list:
        """Note the names outside the device map that send samples (a wrong case, a
        device the map leaves out): their samples drive nothing, and a server that only
        said "still waiting for: MTMR" while ``mtmr`` sent left its author guessing. The
        first sample of each such name is logged once (WARNING, ``haptics.bus``: shown on
        ``surgisim serve``'s console); the bus keeps at most 64 names (32 live, 32 silent:
        :mod:`haptics.bus.names`, which forgets the rest: :meth:`_forget_names`), so this
        stays small."""
        for sample in samples:
            name = sample.device
            if name not in self.device_map and name not in self._strays:
                self._strays[name] = None
                _log.warning("%s", self._stray_note(name))
        return samples

    def _stray_note(self, name: str) -> str:
        """What to say about samples under ``name``, which the device map does not name."""
        mapped = sorted(self.device_map)
        same = [d for d in mapped if d.lower() == name.lower()]
        hint = (
            f"names are case-sensitive: did you mean {same[0]}?"
            if same
            else f"the map names {', '.join(mapped) or 'no device'}"
            " (surgisim serve --map DEVICE=ARM)"
        )
        return f"{name}/measured_cp drives no arm: the device map does not name {name}; {hint}"

    def _waiting_note(self, missing) -> str:
        """The repeated waiting line: who is missing, and who is heard instead."""
        line = f"still waiting for: {', '.join(sorted(missing))}"
        if self._strays:
            heard = ", ".join(self._strays)
            line += (
                f" (heard from {heard}, which the device map does not name;"
                " names are case-sensitive)"
            )
        # samples the bus refused for their sender's key (CurveZMQ): from the device that
        # is awaited, perhaps, and its author would otherwise wait without a word
        refused = self.bus.counters.messages.dropped_by_key
        for reason, why in _REFUSED_KEYS:
            keys = refused.get(reason)
            if keys:
                line += f" (samples refused from the key {', '.join(sorted(keys))}: {why})"
        return line

    def _note_heard(self, sample, now: float) -> None:
        """A mapped device was heard at ``now`` (server clock) with ``sample``: the
        lost-device watch times its silence from here, and its last seq says whether
        samples were missed while it was silent (both while serving and while waiting
        for devices: one that goes silent straight after the wait is said lost too)."""
        self._heard[sample.device] = now
        self._device_seq[sample.device] = sample.seq

    def _take_commands(self, now: float) -> dict:
        """The device samples due now, routed to their arms."""
        samples = self._take_device_messages(now)
        if samples:
            self._last_seq = samples[-1].seq
            for sample in samples:
                if sample.device in self.device_map:  # a stray device is no reason to wait
                    if self._lost and sample.device in self._lost:
                        self._device_back(sample, now)
                    self._note_heard(sample, now)
            if self._on_samples is not None:  # the clock after the drain: they are used now
                self._on_samples(self._clock(), samples)
        routed = self.router.route(samples)
        self._note_fixed_camera()
        return routed

    def _note_fixed_camera(self) -> None:
        """A camera pedal pressed in a scenario whose endoscope is fixed: the hand's
        instrument holds while it is pressed (:class:`~sim.server.routing.Router`); say
        why, once per device, on the console and among the session's events."""
        for device in self.router.pop_fixed_camera():
            arm = self.device_map.get(device)
            text = (
                f"{device}'s camera pedal moves nothing here: this scenario's endoscope is "
                f"fixed (not teleoperated); {arm} holds while the pedal is pressed, as "
                "with the clutch"
            )
            _log.warning("%s", text)
            if arm in self.session.teleops:
                self.session.refuse(arm, text)

    def _between_ticks(self, seconds: float) -> bool:
        """Wait ``seconds`` for the next physics tick, feeding every device sample through
        teleoperation as it arrives (``Session.command``): filter, states, limits and the
        watchdog see each sample within the transport delay, not up to a physics period
        later (IK runs at the tick, for the latest target). The wait is kept to the
        microsecond (:func:`~haptics.bus.sockets.wait_readable`), so a sample that
        arrives in the last millisecond before a tick is taken at once, not after a nap.

        With ``align_ticks``, the wait ends early (True: the tick starts now) once every
        live device has sent a new sample within the window before the tick is due: one
        period long (devices at the physics rate or faster always send within it), and
        opening no sooner than half a period after the last tick started (no bursts).
        Samples that arrive while a tick works wait for it (~0.3-0.5 ms of Python per
        tick): a tick started right after the devices' samples is done before their next
        ones (1 kHz devices, 500 Hz physics), where a tick at a fixed phase could sit on
        them for the whole run (both clocks are the machine's monotonic clock, so the
        phase between them hardly drifts)."""
        deadline = self._clock() + seconds
        align = self.config.align_ticks
        period = self._period_s
        align_from = max(deadline - period, self._tick_started + 0.5 * period)
        feedback_due = False
        while True:
            now = self._clock()
            if now >= deadline:
                return False
            if align and now >= align_from and self._devices_in(now, align_from):
                return True
            # with feedback due, only look whether more of the devices' burst has come
            if self.bus.wait(0.0 if feedback_due else deadline - now, requests=False):
                commands = self._take_commands(self._clock())
                if commands and not self.paused:
                    self.session.command(commands)
                    feedback_due = self._last_state is not None
            elif feedback_due:
                # force feedback at the device's rate: the clutch, a hold or the alignment
                # change it between ticks (the contact force itself is the last physics
                # step's). Sent once the burst of samples that came together is taken: the
                # rest of a burst waited for it (a device sends three messages per hand
                # per tick), ~10 µs at the median (bench/RESULTS.md)
                feedback_due = False
                self._feedback(self._clock(), self._last_state)

    def _devices_in(self, now: float, since: float) -> bool:
        """Whether every live device (heard from within the teleoperation gap timeout,
        100 ms) has sent a sample at or after ``since``; False with none, so silent
        devices leave the tick to its deadline as without alignment."""
        heard, gap = self._heard.values(), self._live_within_s
        live = [t for t in heard if now - t <= gap]
        return bool(live) and min(live) >= since

    def wait_for_devices(self, stop: Callable[[], bool], timeout_s: float | None = None) -> bool:
        """Answer requests and collect device messages until every mapped device has sent
        a sample (saying which are missing every few seconds). False when stopped first."""
        missing = set(self.device_map)
        self.missing_devices = frozenset(missing)
        if not missing:
            return True
        started = last_notice = self._clock()
        self.say(
            f"waiting for devices: {', '.join(sorted(missing))} "
            "(surgisim device ..., surgisim vr or surgisim view)"
        )
        while missing:
            if stop() or self._stop_reason:
                return False
            now = self._clock()
            if timeout_s is not None and now - started > timeout_s:
                return False
            self.bus.wait(0.05)
            for sample in self._take_device_messages(now):
                missing.discard(sample.device)
                if sample.device in self.device_map:  # silent from the start: said lost too
                    self._note_heard(sample, now)
            self.missing_devices = frozenset(missing)
            self._answer()
            states = {arm: t.state for arm, t in self.session.teleops.items()}
            self.publisher.waiting(now, states, missing)
            self.publisher.flush(now)
            if missing and now - last_notice > WAIT_NOTICE_S:
                last_notice = now
                self.say(self._waiting_note(missing))
        self.say("devices connected: " + ", ".join(sorted(self.device_map)))
        return True

    # ---- the loop -----------------------------------------------------------------------------
    def run(
        self,
        stop: Callable[[], bool] = lambda: False,
        on_checkpoint: Callable[[Session], None] | None = None,
        max_duration_s: float | None = None,
    ) -> ServeOutcome:
        """Serve until the exercise ends, ``stop()`` turns true, a ``stop`` request comes,
        or ``max_duration_s`` of wall time passes; returns the outcome (not yet stored)."""
        s = self.session
        started = self._clock()
        if self.config.wait_for_devices and not self.wait_for_devices(stop):
            reason = self._stop_reason or "interrupted"
            waited = self._clock() - started
            pacer = Pacer(s.world.rate_hz, clock=self._clock)
            never = tuple(sorted(self.missing_devices))
            return self._outcome(pacer, reason, self._clock(), waited, never)
        self.missing_devices = frozenset()
        waited = self._clock() - started
        if self.config.realtime:
            self.scheduling = use_realtime()
            self.say(f"loop scheduling: {self.scheduling.detail}")
        try:
            # the objects of start-up frozen out of the collector's passes: a full pass
            # over them stopped this loop for 423 ms once (haptics.heap)
            with collector_kept_out(), CollectorPauses() as pauses:
                return self._serve(stop, on_checkpoint, max_duration_s, started, waited, pauses)
        finally:
            if self.scheduling.realtime:
                use_normal()

    def _serve(
        self, stop, on_checkpoint, max_duration_s, started: float, waited_s: float, pauses=None
    ) -> ServeOutcome:
        s = self.session
        now = serving = self._clock()
        for arm in self.device_map.values():
            s.teleops[arm].enable(now)
            if self.config.wait_for_devices:  # every device was heard: silence from now holds
                s.teleops[arm].expect_samples(now)
        camera = self.router.camera_arm
        if camera is not None and camera not in self.device_map.values():
            # a teleoperated scope beside instruments is driven through the camera pedal:
            # enabled with the hands (it stayed disabled, and the pedal froze the
            # instrument while moving nothing)
            s.teleops[camera].enable(now)
        pacer = Pacer(
            s.world.rate_hz, clock=self._clock, sleep=self._between_ticks, collector=pauses
        )
        reason = None
        while reason is None:
            now = self._tick_started = pacer.wait()
            commands = self._take_commands(now)
            if now >= self._next_watch:
                self._watch_devices(now)
            if not self.paused:
                state = s.step(commands)
                self._last_state = state
                self._feedback(now, state)
                self.publisher.state(
                    now, state, self._last_seq, self._align_errors(), self._aligned_hands
                )
            else:
                self._publish_paused(now)
            self.publisher.flush(now)
            self._answer()
            if on_checkpoint is not None:
                on_checkpoint(s)
            if s.finished:
                reason = "completed" if s.runner.completed else "failed"
            elif self._stop_reason:
                reason = self._stop_reason
            elif stop():
                reason = "interrupted"
            elif max_duration_s is not None and now - started > max_duration_s:
                reason = "time"
        return self._outcome(pacer, reason, serving, waited_s)

    #: (s) how often the loop looks for a lost device: a few comparisons, not every tick
    WATCH_EVERY_S = 0.02

    def _watch_devices(self, now: float) -> None:
        """Say once when a device falls silent past the teleoperation gap timeout (its arm
        holds by the watchdog): the console showed "devices connected" and then nothing,
        while the report had the hold. Recorded as ``device_lost`` among the events."""
        self._next_watch = now + self.WATCH_EVERY_S
        gap = self._live_within_s
        for device, heard in self._heard.items():
            if now - heard > gap and device not in self._lost:
                self._lost[device] = heard
                arm = self.device_map[device]
                self.say(
                    f"{device} lost (no sample for {gap:.1f} s): {arm} holds until it is "
                    "back and the clutch is pressed"
                )
                self.session.note_device("device_lost", device, arm, silent_s=round(now - heard, 3))

    def _device_back(self, sample, now: float) -> None:
        """A lost device heard again: said, with whether it restarted (its seq went back:
        a new device process took over), and recorded as ``device_back``."""
        device = sample.device
        silent_s = now - self._lost.pop(device)
        before = self._device_seq.get(device, -1)
        restarted = sample.seq < before
        how = f"restarted: seq from {sample.seq}" if restarted else f"after {silent_s:.1f} s"
        self.say(f"{device} back ({how})")
        self.session.note_device(
            "device_back",
            device,
            self.device_map[device],
            silent_s=round(silent_s, 3),
            restarted=restarted,
        )

    def _publish_paused(self, now: float) -> None:
        """While paused nothing moves, but the stream goes on: the last step's state again
        at the usual rates (``operating_state`` with ``paused: true``) and zero force
        feedback, so that viewers see a paused server, not a dead one, and devices (which
        take 1.5 s of silence for a lost server) keep their connection."""
        state = self._last_state
        if state is None:
            return
        self.publisher.state(
            now, state, self._last_seq, self._align_errors(), self._aligned_hands, paused=True
        )
        if self.publisher.force_due(now):
            for device, arm in self.device_map.items():
                self.publisher.force(now, device, [0.0] * 3, [0.0] * 3, state.arms[arm].used_seq)

    def _align_errors(self) -> dict[str, float]:
        out = {}
        for arm in self.session.teleops:
            t = self.session.last_teleop(arm)
            if t is not None:
                out[arm] = t.align_error_rad
        return out

    def _feedback(self, now: float, state) -> None:
        """Force feedback for each device from its instrument's tip force."""
        if not self.publisher.force_due(now):
            return
        s = self.session
        for device, arm in self.device_map.items():
            out = s.last_teleop(arm)
            if out is None:
                continue
            force_W = state.arms[arm].feedback_force_n  # with clashes: both hands feel one
            force_R = s.arms[arm].X_RW[:3, :3] @ force_W
            result = self.forces[arm].step_teleop(out, force_R)
            # the sample this feedback answers: between steps, the one just taken (the
            # last step's, which every between-step message carried, named the wrong one)
            used_seq = out.used_seq if out.used_seq >= 0 else state.arms[arm].used_seq
            self.publisher.force(now, device, result.force_n, result.torque_nm, used_seq)

    def _outcome(
        self,
        pacer: Pacer,
        reason: str,
        started: float,
        waited_s: float = 0.0,
        never_connected: tuple[str, ...] = (),
    ) -> ServeOutcome:
        """The outcome; ``started``: when the session's loop started (its wall time counts
        from there), ``waited_s``: how long the devices were waited for before,
        ``never_connected``: the devices still missing when it was stopped before its start.

        First tells the clients that the session has ended (``session/ending``): from here
        until ``session/score`` the server publishes nothing and answers no request, and
        a headset or window that took that silence for a crash said so after every
        session that took a few seconds to store. Before the notice, every device gets a
        zero ``servo_cf`` (:meth:`_zero_forces`)."""
        self._zero_forces()
        self._announce_ending(reason)
        s = self.session
        report = pacer.report(simulated_s=s.time_s)
        trace = s.trace()
        if reason in ("interrupted", "stop request", "time") and not s.finished:
            trace.events.append(TraceEvent(s.time_s, "interrupted", {"reason": reason}))
        if pacer.ticks > 1 and not report.kept_real_time:
            note = real_time_note(report)
            trace.events.append(TraceEvent(s.time_s, "real_time_not_kept", report.as_dict()))
            self.say(note)
        wall_time_s = self._clock() - started
        self._count_the_rest()
        stats = {d: vars(self.devices.stats(d)) for d in self.devices.devices}
        return ServeOutcome(
            s,
            trace,
            report,
            reason,
            self.bus.counters.as_dict(),
            stats,
            wall_time_s,
            self.frame_timing.summary(),
            self.scheduling,
            waited_s,
            never_connected,
        )

    def _zero_forces(self) -> None:
        """Send every mapped device a zero ``servo_cf``, once, at once (past the haptic
        latency line: messages still held in it never go out). The server goes silent
        after ``session/ending`` (or for good): without this the last force a device got
        was the contact's, 3 N with the tool on the board, and a device that renders the
        latest message held it. Never raises: the session must still be stored."""
        if self._forces_zeroed:
            return
        self._forces_zeroed = True
        state = self._last_state
        for device, arm in self.device_map.items():
            used_seq = state.arms[arm].used_seq if state is not None else -1
            try:
                self.bus.publish(
                    f"{device}/servo_cf",
                    {"force_n": [0.0] * 3, "torque_nm": [0.0] * 3},
                    used_seq=used_seq,
                )
            except Exception:
                _log.exception("the final zero servo_cf could not be sent to %s", device)

    def _announce_ending(self, reason: str) -> None:
        """Publish ``session/ending`` (never raises: the session must still be stored)."""
        try:
            self.bus.publish(
                "session/ending",
                {
                    "reason": reason,
                    "failure": self.session.runner.failed if reason == "failed" else None,
                    "score_within_s": SCORE_WITHIN_S,
                },
                used_seq=self._last_seq,
            )
        except Exception:
            _log.exception("session/ending could not be sent")

    def _count_the_rest(self) -> None:
        """Take off the device socket what arrived before the end, to count it (the
        stored counters, devices' samples, frame-timing reports); none of it drives the
        ended session. In the loop each read is bounded in time (a flood must not hold
        the loop), so a ``stop`` request could overtake device messages sent before it on
        the other socket and leave them uncounted.

        Reads go on while a backlog is there (a read used its whole time budget), up to
        :data:`FINAL_DRAIN_S`; then, after short waits, while messages still come, for up
        to :data:`STRAGGLERS_S` (on a loaded machine ZeroMQ's I/O thread hands over what
        was sent before the stop late: one read 50 ms later counted 197 of 1000). Devices
        that keep sending (a headset's controllers) are not waited out: clients watch for
        the score, and a server silent for seconds looks gone."""
        deadline = self._clock() + FINAL_DRAIN_S
        budget_s = 0.05
        stragglers_until = None
        while self._clock() < deadline:
            started = self._clock()
            messages = self.bus.drain(max_seconds=budget_s)
            self.frame_timing.ingest(messages, self.bus.counters.messages.refuse)
            self.devices.ingest(messages, read_late=True)  # the loop no longer reads them
            self._forget_names()
            now = self._clock()
            if now - started >= budget_s:  # a backlog: read on
                continue
            if stragglers_until is None:  # the queue ran dry: wait for what is on its way
                stragglers_until = min(now + STRAGGLERS_S, deadline)
            elif not messages or now >= stragglers_until:
                return
            self.bus.wait(budget_s, requests=False)

    def publish_score(self, payload: dict) -> dict:
        """Send the final result on ``session/score`` (at once: a result is not video).

        Never raises for what the payload holds: part of it comes from clients (their
        names, counts and reports in ``conditions``), and the end of a session must not
        fail on that. Numbers the bus cannot carry become None; a payload over the
        message limit (or one that still cannot be packed) goes out trimmed
        (:func:`_trimmed_scores`), with ``trimmed`` saying what was left out, and the
        reason is said. Returns what was sent ({} if nothing could be).
        """
        from haptics.bus.errors import BusMessageError

        problems = []
        for attempt in _trimmed_scores(_finite(payload)):
            if problems:
                attempt["trimmed"] = problems[-1]
            try:  # used_seq as elsewhere: the newest sample of any device
                self.bus.publish("session/score", attempt, used_seq=self._last_seq)
            except BusMessageError as e:
                problems.append(f"the full result could not be sent ({e})")
                continue
            if problems:
                self.say(f"session/score went out trimmed: {problems[0]}")
            return attempt
        self.say(f"session/score could not be sent: {problems[-1]}")
        return {}

    def close(self) -> None:
        """Close the bus and the physics client; a server closed without ending its
        session (an error in the loop) first sends its devices a zero ``servo_cf``."""
        self._zero_forces()
        self.bus.close()
        self.session.close()


def _finite(value):
    """A JSON-like payload with what the bus refuses replaced by None: non-finite
    numbers, and integers outside int64 (msgpack cannot pack them at all)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value if INT64_MIN <= value <= INT64_MAX else None
    return value


def real_time_note(report) -> str:
    """What the server says of a loop that did not keep real time: too slow overall, or
    on time overall but with too many ticks late (it read "could not keep real time:
    1.00x" beside a run at 1.000x real time)."""
    if report.real_time_ratio >= 0.98:
        share = 100.0 * report.overrun_fraction
        return (
            f"the machine kept up overall ({report.real_time_ratio:.2f}x real time) but "
            f"{report.overruns} of {report.ticks} ticks ({share:.1f}%) overran, more than "
            "the 0.5% a steady session allows"
        )
    return (
        f"the machine could not keep real time: {report.real_time_ratio:.2f}x, "
        f"{report.overruns} of {report.ticks} ticks overran"
    )


#: The fields of ``session/score`` kept however much else is left out.
_SCORE_CORE = (
    "scenario", "seed", "operator", "session_id", "completed", "passed", "score",
    "pass_score", "interrupted", "stopped_by", "ended", "failure", "sim_time_s",
    "wall_time_s",
)  # fmt: skip
#: ``conditions`` that grow with what clients send (one entry per client name).
_PER_CLIENT = ("devices", "frame_timing")


def _trimmed_scores(payload: dict):
    """``session/score`` payloads from the full one down to the verdict alone, each
    smaller than the one before: the full result; ``conditions`` without its per-client
    parts (``devices``, ``frame_timing``: the stored session keeps them); the verdict and
    metrics; the verdict alone."""
    yield payload
    conditions = payload.get("conditions")
    if isinstance(conditions, dict) and any(k in conditions for k in _PER_CLIENT):
        kept = {k: v for k, v in conditions.items() if k not in _PER_CLIENT}
        yield {**payload, "conditions": kept}
    core = {k: payload[k] for k in _SCORE_CORE if k in payload}
    yield {**core, "metrics": payload.get("metrics")}
    yield core


class CheckpointWriter:
    """Writes a live session's checkpoint in a background thread, so the real-time loop
    never waits for the disk: the loop hands over a snapshot of the trace (views of the
    recorder's rows, no copy) and goes on."""

    def __init__(self, checkpoint) -> None:
        self.checkpoint = checkpoint
        self._thread: threading.Thread | None = None

    def __call__(self, session: Session) -> None:
        if not self.checkpoint.due(session.time_s):
            return
        if self._thread is not None and self._thread.is_alive():
            return  # the last one is still being written
        trace, time_s = session.trace_snapshot(), session.time_s
        self.checkpoint.mark(time_s)
        self._thread = threading.Thread(
            target=self.checkpoint.save, args=(trace, time_s), daemon=True
        )
        self._thread.start()

    def join(self) -> None:
        """Wait for a checkpoint being written (before the session is stored)."""
        if self._thread is not None:
            self._thread.join()
