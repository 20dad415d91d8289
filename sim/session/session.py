"""The session: one run of a scenario, composing world, arms, teleoperation, the exercise
engine and the recorder. The same object runs a trainee's VR session and a headless
benchmark; headless it is stepped as fast as it goes, deterministically per seed.

Per physics step: for each teleoperated arm, the latest master sample goes through the
teleoperation pipeline (in the camera frame of the moment) to a tool-tip target, IK
(warm-started) to joint goals, and the jaw; the world steps; contacts, tip forces and
grasp events are read and recorded. The exercise engine ticks at ``script_rate_hz``
(steps and triggers need no more), and its actions (spawn, move, remove objects) are
carried out in the world.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from haptics.master import MasterSample
from haptics.teleop import TeleopConfig, Teleoperation
from kinematics import solve_ik
from kinematics.transforms import pose, rpy_to_matrix
from scenarios.schema import Scenario
from scenarios.script import ExerciseRunner
from scenarios.trace import SessionTrace, TraceEvent
from sim.session.recorder import TraceRecorder
from sim.world.scenario_scene import build_scene_spec

#: A grasped object counts as lifted off what it rested on once this far from it (m):
#: below that, hand tremor while lifting makes and breaks contact a few times.
LIFT_CLEARANCE_M = 0.001

_CONTACT_KEYS = {
    "instrument-object": "contact_object",
    "instrument-instrument": "contact_instrument",
    "instrument-environment": "contact_environment",
}


#: Instrument motion per hand motion: the da Vinci's default ("normal", 3:1). The dVRK's
#: own 0.2 makes a 10 cm ring transfer 50 cm of hand travel: four clutch strokes.
INSTRUMENT_TRANSLATION_SCALE = 1.0 / 3.0

#: Scope motion per hand motion. The view is moved by centimetres to frame a target, not
#: placed to a tenth of a millimetre, so the scope is driven at a coarser scale than the
#: instruments (0.2): at 0.2 a 5 cm camera move would take 25 cm of hand travel, about
#: three clutch strokes.
SCOPE_TRANSLATION_SCALE = 0.5


@dataclass(frozen=True)
class SessionConfig:
    """How a session runs.

    Attributes:
        teleop: the teleoperation settings of every master-driven instrument.
        scope_teleop: those of a master-driven endoscope (ECM).
        script_rate_hz: how often the exercise engine checks steps and triggers (Hz).
        ik_restarts: IK restarts per step when the warm start fails (kept small: the
            teleoperation target moves little between steps).
    """

    teleop: TeleopConfig = field(
        default_factory=lambda: TeleopConfig(translation_scale=INSTRUMENT_TRANSLATION_SCALE)
    )
    scope_teleop: TeleopConfig = field(
        default_factory=lambda: TeleopConfig(translation_scale=SCOPE_TRANSLATION_SCALE)
    )
    script_rate_hz: float = 100.0
    ik_restarts: int = 2


class Session:
    """One run of ``scenario`` with seed ``seed``.

    Attributes:
        world: the physics world (:class:`sim.world.world.World`).
        driven: names of the arms a master drives.
        runner: the exercise engine; ``finished`` when completed or failed.
    """

    def __init__(self, scenario: Scenario, *, seed: int = 0, config: SessionConfig | None = None):
        from sim.world.world import World

        self.scenario = scenario
        self.seed = int(seed)
        self.config = config or SessionConfig()
        self.world = World(build_scene_spec(scenario, self.seed))
        self.arms = self.world.arms
        self._poses: dict[str, np.ndarray] = {}  # measured tool poses at the last step
        self.driven = [a.name for a in scenario.scene.arms if a.driven]
        camera = scenario.scene.camera
        self.camera_arm = camera.arm
        self._X_WC_fixed = None
        if camera.pose is not None:
            self._X_WC_fixed = pose(rpy_to_matrix(*camera.pose.rpy_rad), camera.pose.position_m)
        self._fov = (math.radians(camera.fov_deg), camera.near_m, camera.far_m)
        X_WC = self.camera_pose_W()
        self.teleops = {}
        for name in self.driven:
            arm = self.arms[name]
            # the pipeline runs once per physics step: its filters are designed for that rate
            teleop_config = dataclasses.replace(
                self.config.teleop if arm.has_jaw else self.config.scope_teleop,
                rate_hz=self.world.rate_hz,
            )
            # the scope's own teleoperation maps in the view it had when it started
            self.teleops[name] = Teleoperation(
                teleop_config, arm.measured_cp("rcm"), arm.X_RW @ X_WC
            )
        self.runner = ExerciseRunner(scenario.exercise)
        rate = self.world.rate_hz
        capacity = int(min(scenario.exercise.time_limit_s, 600) * rate) + 1
        self.recorder = TraceRecorder(
            {a.name: a.kind for a in scenario.scene.arms if a.kind == "psm" or a.driven},
            rate,
            capacity,
        )
        self._script_every = max(1, round(rate / self.config.script_rate_hz))
        self._holders: dict[str, set[str]] = {}
        #: objects just grasped, not yet clear of the scenery they rested on: lifting a
        #: ring off its wire is no collision; touching it again once it was clear is
        self._lifting: set[str] = set()
        self._pending_events: list = []
        self._last_master: dict[str, np.ndarray] = {}
        self.view = _SessionView(self)
        self._emit(self.runner.start(self.view))

    # ---- state ----------------------------------------------------------------------------
    @property
    def time_s(self) -> float:
        """Simulated time (s)."""
        return self.world.time_s

    @property
    def finished(self) -> bool:
        """The exercise was completed or failed."""
        return self.runner.finished

    def camera_pose_W(self) -> np.ndarray:
        """``X_WC``: the endoscope's view frame (ECM tip, or the fixed camera), as measured
        at the end of the last step."""
        if self._X_WC_fixed is not None:
            return self._X_WC_fixed
        pose_now = self._poses.get(self.camera_arm)
        return pose_now if pose_now is not None else self.arms[self.camera_arm].measured_cp("world")

    def tip_target_W(self, arm: str) -> np.ndarray:
        """Where teleoperation currently asks the arm's tool tip to be (4x4, world)."""
        return self.arms[arm].X_WR @ self.teleops[arm].X_RT

    def holders(self, obj: str) -> set[str]:
        """Arms holding ``obj`` now."""
        return set(self._holders.get(obj, ()))

    # ---- the step -------------------------------------------------------------------------
    def step(self, samples: Mapping[str, MasterSample | None]) -> None:
        """Advance one physics step with the latest master sample of each driven arm."""
        world = self.world
        now = world.time_s
        X_WC = self.camera_pose_W()
        for name in self.driven:
            arm = self.arms[name]
            sample = samples.get(name)
            X_RC = arm.X_RW @ X_WC if name != self.camera_arm else None
            out = self.teleops[name].step(sample, now, X_RC)
            for event in out.events:
                self.recorder.event(event.time_s, event.kind, arm=name, detail=event.detail)
            if arm.has_jaw:
                arm.servo_cp(out.X_RT, "rcm")
                arm.servo_jaw(out.jaw_rad)
            else:  # a scope: position the tip, the shaft stays through the port
                result = solve_ik(
                    arm.chain,
                    out.X_RT[:3, 3],
                    arm.goal_js(),
                    rcm=np.zeros(3),
                    restarts=self.config.ik_restarts,
                )
                arm.servo_jp(result.q)
            if sample is not None and out.master_filtered_m is not None:
                self._last_master[name] = np.asarray(sample.X_MH)[:3, 3]
        world.step()
        self._record(now)
        for event in world.pop_events():
            self._on_world_event(event)
        if world.step_count % self._script_every == 0:
            self._emit(self.runner.tick(self.view))

    def _record(self, now: float) -> None:
        world, rec = self.world, self.recorder
        i = rec.row(world.time_s)
        contacts = world.contacts()
        # tissue and object handling force; instrument clashes are recorded as contacts
        forces = world.tip_forces(contacts, clashes=False)
        names = list(rec.kinds)
        # one FK per arm per step: the camera pose and the tips all come from here
        poses = {name: self.arms[name].measured_cp("world") for name in self.arms}
        self._poses = poses
        tips = np.array([poses[n][:3, 3] for n in names])
        visible = self._frustum(poses).contains(tips)
        for k, name in enumerate(names):
            arm = self.arms[name]
            rec.set(name, "tip_position_m", i, tips[k])
            rec.set(name, "jaw_rad", i, arm.measured_jaw())
            force = forces.get(name)
            rec.set(name, "tip_force_n", i, 0.0 if force is None else float(np.linalg.norm(force)))
            rec.set(name, "in_view", i, True if name == self.camera_arm else bool(visible[k]))
            if name in self.teleops:
                rec.set(name, "clutch", i, not self.teleops[name].engaged)
                if name in self._last_master:
                    rec.set(name, "master_position_m", i, self._last_master[name])
        for contact in contacts:
            key = _CONTACT_KEYS.get(contact.kind)
            if key and contact.instrument in rec.kinds:
                rec.set(contact.instrument, key, i, True)
                if contact.kind == "instrument-instrument" and contact.other in rec.kinds:
                    rec.set(contact.other, key, i, True)
        for obj, arms in self._holders.items():
            if not arms:
                continue
            if obj in self._lifting:
                if world.clear_of_environment(obj, LIFT_CLEARANCE_M):
                    self._lifting.discard(obj)
                continue
            if world.touches_environment(obj):
                for name in arms & rec.kinds.keys():
                    rec.set(name, "contact_held_environment", i, True)

    def _frustum(self, poses: dict | None = None):
        from sim.world.frustum import Frustum

        fov, near, far = self._fov
        if self._X_WC_fixed is not None:
            return Frustum(self._X_WC_fixed, fov, 4.0 / 3.0, near, far)
        X_WC = (poses or {}).get(self.camera_arm)
        if X_WC is None:
            X_WC = self.arms[self.camera_arm].measured_cp("world")
        camera = self.arms[self.camera_arm].camera
        return Frustum(
            X_WC, math.radians(camera.fov_deg), camera.aspect, camera.near_m, camera.far_m
        )

    def _on_world_event(self, event) -> None:
        holders = self._holders.setdefault(event.object, set())
        if event.kind == "grasp":
            if not holders:
                self._lifting.add(event.object)
            holders.add(event.arm)
        elif event.kind == "release":
            holders.discard(event.arm)
        elif event.kind == "drop":
            holders.clear()
        data = {"object": event.object, "arm": event.arm, **event.data}
        if event.reason:
            data["reason"] = event.reason
        happened = TraceEvent(float(event.time_s), event.kind, data)
        self.recorder.events.append(happened)  # for the trace
        self._pending_events.append(happened)  # for the exercise engine's next tick

    def _emit(self, outcome) -> None:
        for event in outcome.events:
            self.recorder.events.append(event)
        for action in outcome.actions:
            self._carry_out(action)

    def _carry_out(self, action) -> None:
        """Spawn, move or remove an object in the world (scenario actions)."""
        world = self.world
        if action.move is not None:
            X = pose(rpy_to_matrix(*action.move.pose.rpy_rad), action.move.pose.position_m)
            world.move_body(action.move.object, X)
            self.recorder.event(world.time_s, "moved", object=action.move.object)
        elif action.remove is not None:
            world.remove_body(action.remove)
            self.recorder.event(world.time_s, "removed", object=action.remove)
        elif action.spawn is not None:
            spawn = action.spawn
            world.spawn(
                {
                    "type": spawn.type,
                    "name": spawn.id,
                    "position_m": list(spawn.pose.position_m),
                    "rpy_rad": list(spawn.pose.rpy_rad),
                    **spawn.params,
                }
            )
            self.recorder.event(world.time_s, "spawned", object=spawn.id)

    # ---- the end ----------------------------------------------------------------------------
    def trace(self) -> SessionTrace:
        """Everything recorded so far, as a trace for scoring and reports."""
        return self.recorder.finish(
            self.runner.completed, self.runner.completion_time_s, self.world.object_names()
        )

    def close(self) -> None:
        """Release the physics client."""
        self.world.close()


class _SessionView:
    """The exercise engine's window on the session (see :class:`scenarios.script.WorldView`)."""

    def __init__(self, session: Session) -> None:
        self._s = session
        self.arm_names = list(session.arms)

    @property
    def time_s(self) -> float:
        return self._s.world.time_s

    def object_position(self, name: str) -> np.ndarray:
        body, _, mark = name.partition(":")
        if mark:
            return self._s.world.landmark(body, mark)
        return self._s.world.body_pose(body)[:3, 3]

    def object_speed(self, name: str) -> float:
        world = self._s.world
        linear, _ = world.pb.getBaseVelocity(
            world.body_id(name.partition(":")[0]), physicsClientId=world.client
        )
        return float(np.linalg.norm(linear))

    def holders(self, name: str) -> set[str]:
        return self._s.holders(name)

    def tip_position(self, arm: str) -> np.ndarray:
        return self._s.arms[arm].measured_cp("world")[:3, 3]

    def camera_angle_to(self, name: str) -> float:
        X = self._s.camera_pose_W()
        d = self.object_position(name) - X[:3, 3]
        return float(math.acos(np.clip(d @ X[:3, 2] / max(np.linalg.norm(d), 1e-12), -1, 1)))

    def graspable(self) -> list[str]:
        return self._s.world.object_names()

    def happened(self) -> list:
        out, self._s._pending_events = self._s._pending_events, []
        return out
