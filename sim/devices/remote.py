"""A session seen from the bus: what a person at the console sees, for the synthetic operators.

The demonstration plans (:mod:`sim.session.plans`) and the
:class:`~sim.session.demo.Demonstrator` read a :class:`~sim.session.session.Session`: world
landmarks and body poses, arm ports and kinematic chains, who holds what, tool-tip poses,
the teleoperation's frame mapping, the exercise's progress and the time. A
:class:`RemoteSession` answers the same questions from what the server publishes, never
peeking into the server:

====================================  ==================================================
what the plans read                   where it comes from
====================================  ==================================================
``world.body_pose``, ``landmark``     ``scene/state`` poses, landmarks (body frame) from
``world.bodies``, ``body_id``         the scenario's geometry (:mod:`sim.world.boards`)
``world.object_names``, ``scene``     the scenario's scene (``hello``'s ``scenario_yaml``)
``arms[a].X_WR``, ``chain``           the scenario's ports, the robot models' chains
``arms[a].goal_js``, ``measured_cp``  ``<arm>/measured_js``, ``<arm>/measured_cp``
``holders(obj)``                      ``grasp`` / ``release`` / ``drop`` on
                                      ``session/events`` (or ``holding`` in
                                      ``<arm>/operating_state`` when the server sends it)
``teleops[a].X_RT``                   the measured tip, once the server has used every
                                      sample sent and the arm has come to rest
``teleops[a].X_RC``, ``config``       the endoscope's ``measured_cp`` (or the scenario's
                                      fixed camera) and ``hello``'s ``teleop``
``finished``, ``runner.step_index``   ``session/step``, ``session/events``
                                      (``completed``/``failed``), ``session/score``
``time_s``                            the simulated time of the latest ``scene/state``:
                                      the plans' waits and the exercise's time limit
                                      run at the simulation's pace, as headless, also
                                      on a server that cannot keep real time
``now_s()``                           the device's monotonic clock (sample stamps)
====================================  ==================================================

``advance(commands)`` turns each arm's :class:`~haptics.master.MasterSample` into a
device reading and queues it on a :class:`~haptics.devices.stream.HandStream`, which
publishes one tick per ``1 / rate_hz`` in real time and holds the hand still when the
plan stops to think; ``advance`` blocks while the queue is more than a few ticks ahead,
draining the server's messages meanwhile, and while the hand's motion runs ahead of the
server's simulated time (a server slower than real time: :mod:`sim.devices.pacing`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np

from haptics.devices.base import DeviceReading
from haptics.devices.errors import DeviceError
from haptics.devices.watch import ArmWatch
from kinematics.transforms import inverse, pose, rotation_angle, rpy_to_matrix
from scenarios.schema import Scenario
from sim.devices.pacing import RecentWindow, SimulationPace, elapsed_in_both
from sim.errors import SimError, lookup
from sim.session.view import SessionView

#: How far (ticks) the plan may run ahead of what has been published.
AHEAD_TICKS = 20
#: An arm counts as at rest when its measurements over this long (s, wall and simulated
#: time both) differ from the latest by less than the tolerances below.
SETTLE_WINDOW_S = 0.03
SETTLE_POSITION_M = 2e-4
SETTLE_ANGLE_RAD = math.radians(0.5)
#: Longest wait for an arm to settle (s): a hand does not wait forever for the
#: screen. An arm settles within ~0.1 s on a server that keeps real time; one that runs
#: at 0.4x (measured on a loaded two-core machine) needs several times that.
SETTLE_TIMEOUT_S = 1.5
#: ... counted in simulated time as well (an arm on a slow server moves slowly in wall
#: time), but never longer than this in wall time (s).
SETTLE_TIMEOUT_WALL_S = 10.0
#: Operating states in which an arm does not follow its master and must be engaged again.
DISENGAGED = ("HOLDING", "ALIGNING", "DISABLED")


def scenario_from_hello(hello: dict, where: str = "<hello>") -> Scenario:
    """The scenario the server runs: ``hello``'s ``scenario_yaml`` when it sends it, else
    the bundled scenario of that name.

    Raises:
        ScenarioError: the text does not validate, or no bundled scenario has that name.
    """
    from scenarios.loader import load_scenario, parse_scenario

    text = hello.get("scenario_yaml")
    if isinstance(text, str) and text.strip():
        return parse_scenario(text, where)
    name = hello.get("scenario")
    if not name:
        raise DeviceError(
            "the server's hello names no scenario and sends no scenario_yaml: a synthetic "
            "operator follows a scenario's plan in its scene, so it drives a server that "
            "serves one (surgisim serve SCENARIO), not a recorder (surgisim device record); "
            "to record a synthetic operator, give it --record FILE."
        )
    return load_scenario(name)


class RemoteArm:
    """One arm as the bus and the scenario show it (the parts of :class:`sim.world.arm.Arm`
    the plans read).

    Attributes:
        name, kind: the arm's name and model (``psm``, ``ecm``).
        chain: its kinematic chain (RCM frame to tool tip), for IK reachability checks.
        X_WR, X_RW: the port (remote centre) pose in the world and its inverse.
    """

    def __init__(self, session: RemoteSession, spec) -> None:
        from sim.world.robots import port_pose, robot_model

        self._s = session
        self.name = spec.name
        self.kind = spec.model
        self.model = robot_model(spec.model)
        self.chain = self.model.chain()
        self.X_WR = port_pose(spec.port_position_m, spec.port_rpy_rad, spec.port_look_at_m)
        self.X_RW = inverse(self.X_WR)
        #: a scope's view: vertical field of view (deg), aspect, near and far clip (m)
        self._view = (spec.fov_deg, spec.aspect, spec.near_m, spec.far_m)

    @property
    def has_jaw(self) -> bool:
        """An instrument with jaws (a PSM), not a scope."""
        return self.kind == "psm"

    def measured_cp(self, frame: str = "world") -> np.ndarray:
        """The tool tip's latest measured pose (4x4): ``world`` or ``rcm`` frame."""
        X = self._s._seen(self.name).X_WT
        if X is None:
            raise DeviceError(f"no {self.name}/measured_cp from the server yet")
        return X.copy() if frame == "world" else self.X_RW @ X

    def goal_js(self) -> np.ndarray:
        """The latest measured joints in chain order (the IK warm start)."""
        joints = self._s._seen(self.name).joints or {}
        q = np.array([joints.get(n, 0.0) for n in self.chain.joint_names], dtype=float)
        return np.clip(q, self.chain.lower, self.chain.upper)

    def measured_jaw(self) -> float:
        """The latest measured jaw angle (rad)."""
        return self._s._seen(self.name).jaw_rad

    def frustum(self):
        """The scope's view frustum at its latest measured tip pose (camera frame = tip
        frame), as :meth:`sim.world.arm.Arm.frustum` gives it in the simulator."""
        from sim.world.frustum import Frustum

        fov_deg, aspect, near_m, far_m = self._view
        return Frustum(self.measured_cp(), math.radians(fov_deg), aspect, near_m, far_m)


class RemoteTeleop:
    """What the Demonstrator reads of an arm's teleoperation, seen from the device.

    Attributes:
        config: the server's settings for the arm (``hello``'s ``teleop`` over the
            :class:`~haptics.teleop.TeleopConfig` defaults).
    """

    def __init__(self, session: RemoteSession, arm: str, config) -> None:
        self._s = session
        self.arm = arm
        self.config = config
        self._X_RC_start: np.ndarray | None = None

    @property
    def X_RT(self) -> np.ndarray:
        """The tool tip in R once the arm has used every sample sent and come to rest: a
        person looks at the instrument where it settled before the next motion."""
        self._s.settle(self.arm)
        return self._s.arms[self.arm].measured_cp("rcm")

    @property
    def X_RC(self) -> np.ndarray:
        """The camera in R that hand motion maps through: the live endoscope for an
        instrument; the view the scope started with for the scope itself."""
        arm = self._s.arms[self.arm]
        X_RC = arm.X_RW @ self._s.camera_pose_W()
        if self.arm != self._s.camera_arm:
            return X_RC
        if self._X_RC_start is None:
            self._X_RC_start = X_RC
        return self._X_RC_start.copy()


class RemoteWorld:
    """The world's geometry (scenario) and poses (``scene/state``) as the plans read them."""

    def __init__(self, session: RemoteSession, scene, rate_hz: float) -> None:
        from sim.world.boards import OBJECT, bodies_for

        self._s = session
        self.scene = scene
        self.rate_hz = float(rate_hz)
        rng = np.random.default_rng(0)  # geometry only: landmarks do not depend on it
        self._landmarks: dict[str, dict[str, np.ndarray]] = {}
        self._objects: list[str] = []
        #: body number -> its geometry (name, role, landmarks in the body frame), as the
        #: world's ``bodies``; the numbers are this process's own (:meth:`body_id`)
        self.bodies: dict[int, object] = {}
        self._ids: dict[str, int] = {}
        for spec in scene.objects:
            for body in bodies_for(spec, rng):
                self._landmarks[body.name] = dict(body.landmarks)
                self._ids[body.name] = len(self.bodies)
                self.bodies[len(self.bodies)] = body
                if body.role == OBJECT:
                    self._objects.append(body.name)
        self._names: dict[str, int] = {}
        self._poses = np.zeros((0, 7))
        self._cache: dict[str, np.ndarray] = {}
        self.state_time_s = -1.0

    @property
    def time_s(self) -> float:
        """The session clock (s)."""
        return self._s.time_s

    def take_state(self, payload: dict) -> None:
        """Take a ``scene/state`` message."""
        names = payload["names"]
        if len(names) != len(self._names) or any(
            self._names.get(n) != i for i, n in enumerate(names)
        ):
            self._names = {n: i for i, n in enumerate(names)}
        self._poses = np.asarray(payload["poses"], dtype=float)
        self._cache = {}
        self.state_time_s = float(payload["time_s"])

    def body_pose(self, name: str) -> np.ndarray:
        """``X_WB`` (4x4) of a body in the latest ``scene/state``."""
        X = self._cache.get(name)
        if X is None:
            row = self._poses[lookup(self._names, name, "body in scene/state")]
            from kinematics.transforms import quat_xyzw_to_matrix

            X = pose(quat_xyzw_to_matrix(row[3:7]), row[:3])
            self._cache[name] = X
        return X.copy()

    def body_id(self, name: str) -> int:
        """The number of the body ``name`` in :attr:`bodies` (the plans read a body's
        landmarks as ``world.bodies[world.body_id(name)].landmarks``, as in the world)."""
        return lookup(self._ids, name, "body of the scene")

    def landmark(self, name: str, key: str) -> np.ndarray:
        """World position (m) of a body's landmark, where the body is now."""
        marks = lookup(self._landmarks, name, "body with landmarks")
        point = lookup(marks, key, f"landmark of {name!r}")
        return (self.body_pose(name) @ np.append(point, 1.0))[:3]

    def object_names(self) -> list[str]:
        """The graspable objects of the scene."""
        return list(self._objects)


class RemoteView(SessionView):
    """The exercise-side view the camera-targeting plan reads (positions, holders, camera):
    the session's own view (:class:`sim.session.view.SessionView`) over a
    :class:`RemoteSession`, whose world, arms and holders come from the bus."""


@dataclasses.dataclass
class RemoteRunner:
    """The exercise's progress as the server reports it."""

    step_index: int = 0
    total: int = 0
    step_id: str = ""
    completed: bool = False
    failed: str | None = None
    score: dict | None = None

    @property
    def finished(self) -> bool:
        return self.completed or self.failed is not None or self.score is not None


def teleop_config(fields: dict | None):
    """A :class:`~haptics.teleop.TeleopConfig` with the defaults, overridden by the fields
    of ``hello``'s ``teleop[arm]`` that the config knows (lists become tuples)."""
    from haptics.teleop import TeleopConfig

    known = {f.name for f in dataclasses.fields(TeleopConfig)}
    given = {}
    for key, value in (fields or {}).items():
        if key in known:
            if isinstance(value, list):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
            if key == "align_tolerance_rad" and not (isinstance(value, (int, float)) and value > 0):
                value = None  # nil or 0: no alignment gate
            given[key] = value
    return dataclasses.replace(TeleopConfig(), **given)


class RemoteSession:
    """A :class:`~sim.session.session.Session` as the synthetic operators need it, from the bus.

    Args:
        link: a connected :class:`~haptics.devices.link.DeviceLink` whose names are the
            devices to drive.
        scenario: the scenario the server runs (see :func:`scenario_from_hello`).
        rate_hz: the device rate: one published sample per tick.
        stop: polled while waiting; true ends the run (Ctrl-C).
        stop_after_steps: count the session as finished once this many exercise steps
            are done (a short demonstration, or a test).
        clock: the device's monotonic clock (s).

    Raises:
        DeviceError: the server maps none of the link's devices to an arm.
    """

    def __init__(
        self,
        link,
        scenario: Scenario,
        *,
        rate_hz: float = 1000.0,
        stop: Callable[[], bool] = lambda: False,
        stop_after_steps: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from haptics.devices.stream import HandStream
        from sim.world.scenario_scene import build_scene_spec

        self.link = link
        self.scenario = scenario
        self._clock = clock
        self._stop = stop
        self.stop_after_steps = stop_after_steps
        hello = link.hello
        device_map = hello.get("devices") or {}
        self.device_of = {device_map[n]: n for n in link.names if n in device_map}
        if not self.device_of:
            raise DeviceError(
                f"the server maps none of the devices {link.names} to an arm (its map:"
                f" {device_map}); give --name with devices of that map."
            )
        scene = build_scene_spec(scenario, 0)
        self.arms = {spec.name: RemoteArm(self, spec) for spec in scene.arms}
        for arm in self.device_of:
            lookup(self.arms, arm, "arm of the scenario")
        #: the arms a trainee drives in this exercise (every arm the server maps a device
        #: to): the plan's view, as in the session. This process drives :attr:`own`; the
        #: rest (:attr:`partner`) another device process drives, and this one watches them
        mapped = set(device_map.values())
        self.driven = [a.name for a in scenario.scene.arms if a.name in mapped]
        self.own = [a for a in self.driven if a in self.device_of]
        self.partner = [a for a in self.driven if a not in self.device_of]
        camera = scenario.scene.camera
        self.camera_arm = camera.arm
        X_WC_fixed = None
        if camera.pose is not None:
            X_WC_fixed = pose(rpy_to_matrix(*camera.pose.rpy_rad), camera.pose.position_m)
        self.watch = ArmWatch(self.camera_arm, X_WC_fixed)
        teleop = hello.get("teleop") or {}
        self.teleops = {
            arm: RemoteTeleop(self, arm, teleop_config(teleop.get(arm))) for arm in self.driven
        }
        self.watch.R_CM = {a: np.asarray(t.config.R_CM, float) for a, t in self.teleops.items()}
        self.world = RemoteWorld(self, scene, rate_hz)
        self.view = RemoteView(self)
        self.runner = RemoteRunner(total=len(scenario.exercise.steps))
        self._holders: dict[str, set[str]] = {}
        self.events: list[dict] = []
        self.stream = HandStream(
            link, {d: DeviceReading() for d in self.device_of.values()}, rate_hz
        )
        #: the hand's motion kept within a moment of the simulation it sees
        self.pace_with_simulation = SimulationPace(1.0 / rate_hz)
        self.stop_requested = False
        #: the server went away during the run (its session is over)
        self.lost = False
        self._last_check = -float("inf")
        #: called by :meth:`settle` when an arm has stopped following (held, misaligned,
        #: disabled): the synthetic device engages it again before the next motion
        self.on_disengaged: Callable[[], None] | None = None
        #: how often this process's arms were found held (or misaligned, disabled) and
        #: engaged again: a grasp attempted meanwhile was the server's hold, not a miss
        self.interruptions = 0
        #: called with every server message taken, after it is applied (the partner
        #: demonstrator follows the other hand's moves with it)
        self.observers: list[Callable] = []
        #: per arm, its recent ``measured_cp`` (pose, ``used_seq``) on both clocks: an arm
        #: that has been at rest long enough is seen to be at once (:meth:`settle`)
        self._recent_poses: dict[str, RecentWindow] = {}

    # ---- clock and progress --------------------------------------------------------------
    @property
    def time_s(self) -> float:
        """The server's simulated time (s) at the latest ``scene/state`` (0 before any)."""
        return max(0.0, self.world.state_time_s)

    def now_s(self) -> float:
        """The device's monotonic clock (s)."""
        return self._clock()

    @property
    def finished(self) -> bool:
        """The exercise ended (or enough steps were done, or a stop was asked)."""
        if self.stop_requested or self.lost or self._stop() or self.runner.finished:
            return True
        n = self.stop_after_steps
        return n is not None and self.runner.step_index >= n

    def camera_pose_W(self) -> np.ndarray:
        """``X_WC``: the endoscope's measured pose, or the scenario's fixed camera."""
        X = self.watch.camera_pose()
        if X is None:
            raise DeviceError(f"no {self.camera_arm}/measured_cp from the server yet")
        return X.copy()

    def tip_target_W(self, arm: str) -> np.ndarray:
        """Where ``arm``'s tool tip is, once it came to rest (4x4, world)."""
        teleop = self.teleops.get(arm)
        if teleop is not None:
            return self.arms[arm].X_WR @ teleop.X_RT
        return self.arms[arm].measured_cp("world")

    def aligned_hand(self, arm: str) -> np.ndarray | None:
        """The handle orientation (3x3, M) the alignment gate accepts for ``arm``: the
        server's own when it sends one (``aligned_hand_xyzw`` in ``operating_state``),
        else computed from the measured tool and the camera (:class:`ArmWatch`)."""
        return self.watch.aligned(arm)

    def holders(self, obj: str) -> set[str]:
        """Arms holding ``obj``, from the grasp/release/drop events seen."""
        return set(self._holders.get(obj, ()))

    def _seen(self, arm: str):
        return self.watch.arm(arm)

    # ---- messages ------------------------------------------------------------------------
    def drain(self, timeout_s: float = 0.0) -> int:
        """Take every waiting server message (after up to ``timeout_s`` for the first)."""
        messages = self.link.poll(timeout_s)
        for m in messages:
            self._take(m)
        return len(messages)

    def _take(self, m) -> None:
        self._apply(m)
        for observe in self.observers:
            observe(m)

    def _apply(self, m) -> None:
        topic, p = m.topic, m.payload
        if topic == "scene/state":
            self.world.take_state(p)
        elif topic == "session/events":
            for event in p["events"]:
                self._event(event)
        elif topic == "session/step":
            self.runner.step_index = max(self.runner.step_index, int(p["index"]))
            self.runner.total = int(p["total"])
            self.runner.step_id = p["id"]
        elif topic == "session/score":
            self.runner.score = dict(p)
            # the final verdict decides, also when the `completed` event or the last step
            # was lost on the way (a lossy link: the device said "2/3 steps, stopped" of a
            # session the server scored as a pass)
            if p.get("completed") is True:
                self.runner.completed = True
                self.runner.step_index = max(self.runner.step_index, self.runner.total)
            elif p.get("stopped_by") == "failed" and self.runner.failed is None:
                # ... and so does a failure whose `failed` event was lost: the device said
                # "stopped" and exited 0 of a failed session
                self.runner.failed = str(p.get("failure") or "failed (reason not received)")
        else:
            self.watch.update(m)
            if m.name == "measured_cp":
                seen = self.watch.arm(m.component)
                recent = self._recent_poses.get(m.component)
                if recent is None:
                    recent = self._recent_poses[m.component] = RecentWindow(2 * SETTLE_WINDOW_S)
                recent.add(m.received_s or self._clock(), self.time_s, (seen.X_WT, seen.used_seq))
            if m.name == "operating_state" and self.watch.arm(m.component).holding is not None:
                held = self.watch.arm(m.component).holding
                for obj, arms in self._holders.items():
                    if obj not in held:
                        arms.discard(m.component)
                for obj in held:
                    self._holders.setdefault(obj, set()).add(m.component)

    def _event(self, event: dict) -> None:
        self.events.append(event)
        kind, data = event.get("kind"), event.get("data") or {}
        obj, arm = data.get("object"), data.get("arm")
        if kind == "grasp" and obj and arm:
            self._holders.setdefault(obj, set()).add(arm)
        elif kind == "release" and obj and arm:
            self._holders.setdefault(obj, set()).discard(arm)
        elif kind == "drop" and obj:
            self._holders.setdefault(obj, set()).clear()
        elif kind == "completed":
            self.runner.completed = True
        elif kind == "failed":
            self.runner.failed = str(data.get("reason", "failed"))

    def wait_for_state(self, timeout_s: float | None = None, notify=None) -> None:
        """Wait until every arm, the camera and ``scene/state`` have been heard from (a
        server starts publishing once every mapped device is there); says once, after
        3 s, what is still missing.

        Raises:
            DeviceError: something is still missing after ``timeout_s`` (names it).
        """
        start = self._clock()
        said = False
        while True:
            missing = [f"{a}/measured_cp" for a in self.arms if self._seen(a).X_WT is None]
            missing += [f"{a}/measured_js" for a in self.driven if self._seen(a).joints is None]
            if self.world.state_time_s < 0:
                missing.append("scene/state")
            if not missing or self.finished:
                return
            waited = self._clock() - start
            if timeout_s is not None and waited > timeout_s:
                raise DeviceError(
                    f"the server sent no {', '.join(missing)} within {timeout_s:g} s; a"
                    " synthetic operator needs them (docs/bus.md, Server -> clients)."
                )
            if not said and waited > 3.0 and notify is not None:
                said = True
                others = sorted(set(self.link.hello.get("devices") or {}) - set(self.link.names))
                wait = f" (it waits for every device: {others} too)" if others else ""
                notify(f"waiting for the server to start the session{wait}")
            self.drain(0.05)
            self.check_server()

    # ---- driving ---------------------------------------------------------------------------
    def advance(self, commands=None) -> None:
        """Queue one tick of master samples (arm -> :class:`MasterSample`) and keep the
        queue no more than :data:`AHEAD_TICKS` ahead of the publishing, in real time."""
        frame = {}
        for arm, sample in (commands or {}).items():
            device = self.device_of.get(arm)
            if device is not None and hasattr(sample, "X_MH"):
                frame[device] = DeviceReading(
                    np.asarray(sample.X_MH, float), float(sample.gripper_rad), bool(sample.clutch)
                )
        self.stream.put(frame)
        self.pace(AHEAD_TICKS)
        self._keep_pace_with_simulation()

    def _keep_pace_with_simulation(self) -> None:
        """Wait (the hand held still, draining messages) while the queued motion is more
        than :data:`~sim.devices.pacing.LEAD_S` of simulated time ahead of the server's
        simulation: a server slower than real time sees every move at its planned speed
        (:mod:`sim.devices.pacing`)."""
        pace = self.pace_with_simulation
        pace.queued(self.world.state_time_s)
        if not pace.ahead(self.world.state_time_s):
            return
        pace.waits += 1
        while pace.ahead(self.world.state_time_s) and not self.finished:
            self._probe_server()
            self.stream.raise_if_failed()
            self.drain(0.002)

    def pace(self, ahead: int = 0) -> None:
        """Wait, draining messages, until at most ``ahead`` ticks are queued; probe the
        server when it has been silent (every 0.2 s of wall time across calls: a plan
        advancing tick by tick must notice a server that went away, since its own time —
        the server's simulated time — then stands still)."""
        while True:
            self._probe_server()
            if self.stream.queued <= ahead:
                return
            self.stream.raise_if_failed()
            if self.finished:
                self.stream.clear()
                return
            self.drain(0.002)

    def _probe_server(self) -> None:
        """:meth:`check_server` at most every 0.2 s of wall time (a waiting plan's own
        clock, the simulated one, stands still when the server has gone)."""
        now = self._clock()
        if now - self._last_check > 0.2:
            self._last_check = now
            self.check_server()

    def check_server(self) -> None:
        """Probe the server when it has been silent; a server that went away ends this
        run (:attr:`lost`): its session is gone, and a new one starts from the beginning."""
        if self.link.check() == "lost":
            self.lost = True

    def confirm_server(self, timeout_s: float = 3.0) -> bool:
        """Whether the server still publishes (a message within ``timeout_s``); if not,
        the run counts as :attr:`lost`. A plan that gave up may have given up because the
        server went away: this tells the two apart."""
        end = self._clock() + timeout_s
        while self._clock() < end and not self.lost:
            if self.drain(0.05):
                return True
            self.check_server()
        self.lost = True
        return False

    def hold(self, seconds: float) -> None:
        """Keep the hands still (held readings) for ``seconds``, draining messages."""
        end = self._clock() + seconds
        while self._clock() < end and not self.finished:
            self.drain(min(0.01, max(0.0, end - self._clock())))
            self.check_server()

    def settle(self, arm: str) -> None:
        """Wait until everything queued has been published, the server has used the last
        new sample of ``arm``'s device (``used_seq``) and the arm is at rest (its
        measurements over :data:`SETTLE_WINDOW_S` agree: :meth:`_at_rest`), at most
        :data:`SETTLE_TIMEOUT_S` after the last sample went out. An arm found held,
        misaligned or disabled is engaged again first (:attr:`on_disengaged`)."""
        self._settle(arm)
        if (
            self.on_disengaged is not None
            and arm in self.device_of  # a partner's arm is engaged by its own process
            and self._seen(arm).state in DISENGAGED
        ):
            self.reengage()
            self._settle(arm)

    def _timer(self, seconds: float, wall_cap_s: float) -> Callable[[], bool]:
        """:func:`~sim.devices.pacing.elapsed_in_both` on this device's clock and the
        server's simulated time."""
        return elapsed_in_both(self._clock, lambda: self.time_s, seconds, wall_cap_s)

    def reengage(self) -> None:
        """Engage this process's arms again (:attr:`on_disengaged`), counted in
        :attr:`interruptions`."""
        self.interruptions += 1
        self.on_disengaged()

    def _settle(self, arm: str) -> None:
        self.pace(0)
        device = self.device_of.get(arm)
        want = -1 if device is None else self.stream.new_seq.get(device, -1)
        timed_out = self._timer(SETTLE_TIMEOUT_S, SETTLE_TIMEOUT_WALL_S)
        seen = self._seen(arm)
        while not timed_out() and not self.finished:
            if seen.used_seq >= want or seen.used_seq < 0:
                break
            self.drain(0.002)
        since = -math.inf
        if seen.used_seq < 0:  # a server that does not report used_seq: allow a latency
            self.hold(0.03)
            since, want = self._clock(), -1
        while not timed_out() and not self.finished:
            if self._at_rest(arm, want, since):
                return
            self.drain(0.005)
            self._probe_server()

    def _at_rest(self, arm: str, used_seq: int, since_s: float) -> bool:
        """Whether ``arm``'s measurements over the last :data:`SETTLE_WINDOW_S` (wall time
        and simulated time: on a server at 0.3x, 30 ms of wall time is 10 ms of
        simulation, and an arm still creeping towards its goal at 15 mm/s would pass for
        one at rest) all lie within the tolerances of the latest, counting only those
        that report ``used_seq`` or later (the arm after the last sample) and arrived
        after ``since_s``. An arm that came to rest a while ago is seen so at once; one
        just told to stop, after three 60 Hz messages."""
        recent = self._recent_poses.get(arm)
        if recent is None:
            return False
        items = [(w, t, X) for w, t, (X, seq) in recent.items() if seq >= used_seq and w >= since_s]
        if len(items) < 2:
            return False
        (w0, t0, _), (w1, t1, X1) = items[0], items[-1]
        if w1 - w0 < SETTLE_WINDOW_S or t1 - t0 < SETTLE_WINDOW_S:
            return False
        for _, _, X in items[:-1]:
            if float(np.linalg.norm(X[:3, 3] - X1[:3, 3])) >= SETTLE_POSITION_M:
                return False
            if rotation_angle(X[:3, :3].T @ X1[:3, :3]) >= SETTLE_ANGLE_RAD:
                return False
        return True

    def close(self) -> None:
        """Stop publishing."""
        self.stream.stop()


def require_plan(scenario: Scenario):
    """The scenario's demonstration plan (:func:`sim.session.plans.plan_for`), or a
    :class:`SimError` saying synthetic operators cannot run it."""
    from sim.session.plans import plan_for

    try:
        return plan_for(scenario)
    except Exception as e:
        raise SimError(str(e)) from None
