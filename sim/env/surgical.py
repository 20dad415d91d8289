"""A Gymnasium environment around a :class:`~sim.session.session.Session`.

One environment step is ``k = physics_rate / control_rate_hz`` physics steps of the
session with the same command (``Session.advance(commands, steps=k)``): at the default
50 Hz, 10 steps of a 500 Hz scene.

**Action** (a flat ``Box(-1, 1)``, the driven arms in the scenario's order; the slices
are in ``env.unwrapped.action_slices``):

- ``action_mode="delta_cp"`` (default), per instrument (PSM): tool-tip translation (3,
  world frame, times ``max_speed_m_s / control_rate_hz`` metres), rotation as an
  axis-angle vector (3, world frame, times ``max_turn_rad_s / control_rate_hz`` radians)
  and the jaw (1, absolute: -1 closed ... +1 open, the master gripper's mapping). The
  motion is added to the arm's current pose goal and sent as CRTK ``servo_cp`` - what a
  master produces through teleoperation (which integrates hand motion onto the tip goal),
  so a demonstration recorded from the bus becomes a sequence of these deltas. The goal
  stops at the scenario's ``workspace_m`` box (the box ``cp`` spans), as teleoperation's
  stops at its workspace wall: a delta never takes it further out. A
  scope (ECM) takes the translation only (3): like its teleoperation, the tip is moved
  and the shaft stays through the port. The scope's joints are slower than an
  instrument's (yaw and pitch 1 rad/s, insertion 0.1 m/s: ``arm.velocity_limits``):
  across its shaft, yaw or pitch moves the tip at most 1 rad/s times its depth past the
  port, 60 mm/s (1.2 mm per step at 50 Hz) at the bundled start depth of 6 cm; along the
  shaft the insertion adds up to 0.1 m/s. A step its joints cannot make within one
  control step is shortened along the commanded direction: the tip stays on the
  commanded line and its goal does not run ahead of it, but it moves less than
  ``max_speed_m_s / control_rate_hz`` (40 steps of +x = 1 from the start of
  CameraTargeting-v0: 61 mm, not 80; 1.3 mm per step at first, 2.0 at the end).
- ``action_mode="cp"``: absolute tip pose per arm: position (3, the scenario's workspace
  box mapped to [-1, 1]), orientation as an axis-angle vector (3, times pi), jaw (1);
  a scope: position (3).
- ``action_mode="jp"``: joint positions (the chain's limits mapped to [-1, 1]) and, for
  an instrument, the jaw (1).

Values beyond [-1, 1] are clipped onto it. An arm whose part of the action holds a NaN or
an infinity holds still for that step, with one ``command_refused`` event in
``info["events"]``: clipping would turn +inf into a full-speed move. An action of another
shape than the action space's (``None``, a batch of one) is refused with an error.

``info["events"]`` lists the kinds of this step's events; ``info["event_details"]`` the
same events as dicts: ``time_s``, ``kind`` and what the event names (``arm``,
``object``, ``reason``, ...).
``info["score_estimate"]`` is the live scorer's estimate (the HUD's): the score the
session would get if the exercise were completed now, from the metrics so far (None
when they cannot be scored). It is no progress signal: an episode in which nothing was
done reads 100.0 throughout (nothing went wrong yet) and ends with ``info["score"]``
0.0, since an exercise not completed scores nothing.

**Observation** (a ``Dict``): ``arms/<arm>/`` ``tip_position_m`` (3), ``tip_quat_xyzw``
(4), ``jaw_rad`` (1), ``joint_positions`` (the chain's joints; the space bounds them by
their limits plus half a turn or a metre, since contact pushes joints past their limits:
see ``JOINT_SLACK_RAD``) for every arm;
``objects/<body>/`` ``position_m`` (3) and ``quat_xyzw`` (4) for every object and
scenery body present at reset (zeros once a scenario action removes it); ``step_index``
(the exercise step now, ``Discrete(steps + 1)``); ``time_s`` (1). All in the world frame,
metres, radians; quaternions ``xyzw``. Pictures are not part of the observation:
``render_mode="rgb_array"`` makes ``render()`` return the endoscope's view (so
``gymnasium.wrappers.RecordVideo`` works).

**Reward**, in two documented parts (``info["reward_parts"]`` every step):

- ``steps``: ``step_reward`` for every exercise step completed in this env step;
- ``score``: at the last step of the episode (terminated or truncated), ``score_weight``
  times the scorer's final score over 100 - the same scorer and rubric as a trainee's
  session (``score_session`` on ``compute_metrics`` of the session's trace).

So an episode's return is ``step_reward * steps_completed + score_weight * score / 100``.

**Episode end**: ``terminated`` when the exercise is completed or fails for a reason
other than time; ``truncated`` at the scenario's time limit or at ``max_episode_s`` (at
the first control step at or after it: with 50 Hz control, 0.03 s ends at 0.04 s). Use
``max_episode_s`` rather than Gymnasium's ``max_episode_steps`` / ``TimeLimit``: that
wrapper ends the episode from outside, so the env never pays (or reports in ``info``) the
final score.
``reset(seed=s)`` rebuilds the scene in the same physics client with seed ``s`` (bit for
bit a fresh session; without a seed, one is drawn from the environment's generator). The
seed places objects only where the scenario asks for random placement (a peg board's
``ring_jitter_m``): episodes of the bundled scenarios start alike whatever the seed.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from haptics.numbers import is_finite_real
from kinematics import solve_ik
from kinematics.transforms import axis_rotation, matrix_to_quat_xyzw
from sim.errors import SimError
from sim.session.commands import ArmCommand
from sim.session.session import Session, SessionConfig
from sim.world.scenario_scene import load_world_scenario

ACTION_MODES = ("delta_cp", "cp", "jp")
#: bounds of the observed positions (m): far beyond any scene (a body falling off the
#: table stops on the floor)
POSITION_BOUND_M = 10.0
#: how far past its limits an observed joint may lie in the observation space: under
#: contact the physics pushes joints well past them (a PSM wrist 0.29 rad while the tool
#: pressed into the scene, the fingers ~1 rad for a moment after a jump of the joint
#: goals; the space declared 0.1 rad then, and ``observation_space.contains(obs)`` broke).
#: A revolute joint half a turn past its limit would have folded its link over, a
#: prismatic one a metre past would have left the cannula: bounds the physics keeps, yet
#: finite (Gymnasium's checker warns on infinite ones, bound-based scaling needs them).
#: The limits themselves are ``arm.chain.lower`` / ``upper``.
JOINT_SLACK_RAD = math.pi
JOINT_SLACK_M = 1.0
#: continuous joints (no limits) and the jaw opening (two fingers' angles summed)
JOINT_BOUND_RAD = 4.0 * math.pi
#: a scope's position goal missed by more than this (m) holds it (the session's own tolerance)
_SCOPE_TOLERANCE_M = 1e-3
#: re-solves of a scope step shortened to its joints' speed limits: the joint motion is
#: nearly linear in a step this small, so the second lands within a few per cent of it
_SCOPE_SHORTENINGS = 3


class SurgicalEnv(gym.Env):
    """A scenario as a Gymnasium environment (see the module docstring).

    Args:
        scenario: a bundled scenario name, a YAML path or a loaded scenario.
        action_mode: ``"delta_cp"``, ``"cp"`` or ``"jp"``.
        control_rate_hz: environment steps per simulated second (the physics rate must be
            a whole multiple of it within rounding).
        max_speed_m_s: tip speed at a translation action of 1 (``delta_cp``).
        max_turn_rad_s: tip turn rate at a rotation action of 1 (``delta_cp``).
        step_reward: reward per completed exercise step.
        score_weight: reward per 100 points of the final score.
        max_episode_s: truncate episodes at this simulated time (None: the scenario's limit).
        config: the session's configuration.
        seed: seed of the first episode: the session is built with it, and the first
            ``reset()`` without a seed starts it (later unseeded resets draw from the
            generator it seeds, so a run of episodes repeats).
        render_mode: ``"rgb_array"``: ``render()`` returns the endoscope's view as an
            (H, W, 3) uint8 image (OpenGL offscreen, as ``surgisim render``); None: no
            pictures (``render()`` returns None).
        render_size: (width, height) of those images (pixels).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        scenario="peg-transfer",
        *,
        action_mode: str = "delta_cp",
        control_rate_hz: float = 50.0,
        max_speed_m_s: float = 0.1,
        max_turn_rad_s: float = 1.5,
        step_reward: float = 1.0,
        score_weight: float = 10.0,
        max_episode_s: float | None = None,
        config: SessionConfig | None = None,
        seed: int = 0,
        render_mode: str | None = None,
        render_size: tuple[int, int] = (640, 480),
    ) -> None:
        if scenario is None:
            from scenarios.loader import library_names

            raise SimError(
                "surgisim/Scenario-v0 needs scenario=NAME or FILE: a bundled scenario "
                f"({', '.join(library_names())}) or a YAML path."
            )
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise SimError(
                f"render_mode={render_mode!r}: the modes are {self.metadata['render_modes']} "
                "(or None for no pictures)."
            )
        self.render_mode = render_mode
        self.render_size = _checked_size(render_size)
        self._renderer = None
        self._rendered_nodes: tuple | None = None
        if action_mode not in ACTION_MODES:
            from sim.errors import lookup

            lookup({m: m for m in ACTION_MODES}, action_mode, "action mode")
        _require_positive("control_rate_hz", control_rate_hz)
        _require_positive("max_speed_m_s", max_speed_m_s)
        _require_positive("max_turn_rad_s", max_turn_rad_s)
        if max_episode_s is not None:
            _require_positive("max_episode_s", max_episode_s)
        for name, value in (("step_reward", step_reward), ("score_weight", score_weight)):
            if not is_finite_real(value):
                raise SimError(f"{name} must be a finite number, got {value!r}.")
        self.scenario = load_world_scenario(scenario)
        _warn_unused_filter(config)
        self.session = Session(self.scenario, seed=seed, config=config)
        self._first_seed: int | None = int(seed)  # the first unseeded reset's
        s = self.session
        rate = s.world.rate_hz
        self.physics_steps = max(1, round(rate / float(control_rate_hz)))
        if abs(self.physics_steps * control_rate_hz - rate) > 1e-6 * rate:
            raise SimError(
                f"control_rate_hz={control_rate_hz} does not divide the physics rate "
                f"({rate:g} Hz); choose one of {[rate / k for k in (1, 2, 5, 10, 20)]}."
            )
        self.control_rate_hz = rate / self.physics_steps
        self.metadata = {**self.metadata, "render_fps": self.control_rate_hz}
        self.action_mode = action_mode
        self.step_reward = float(step_reward)
        self.score_weight = float(score_weight)
        self.time_limit_s = float(self.scenario.exercise.time_limit_s)
        if max_episode_s is not None:
            self.time_limit_s = min(self.time_limit_s, float(max_episode_s))
        self._dp = max_speed_m_s / self.control_rate_hz
        self._dr = max_turn_rad_s / self.control_rate_hz
        teleop = s.config.teleop
        self._jaw_range = (teleop.jaw_closed_rad, teleop.jaw_open_rad)
        self._workspace = np.asarray(self.scenario.scene.workspace_m, dtype=float)
        self.arm_names = list(s.arms)
        self.driven = list(s.driven)
        self.action_slices: dict[str, slice] = {}
        start = 0
        for name in self.driven:
            n = self._action_size(name)
            self.action_slices[name] = slice(start, start + n)
            start += n
        self.action_space = spaces.Box(-1.0, 1.0, (start,), np.float32)
        self.body_names = list(s.body_poses())
        self.observation_space = self._observation_space()
        self._steps_done = 0
        self._closed_episode = False

    # ---- spaces ---------------------------------------------------------------------------
    def _action_size(self, name: str) -> int:
        arm = self.session.arms[name]
        if self.action_mode == "jp":
            return arm.chain.dof + (1 if arm.has_jaw else 0)
        return 7 if arm.has_jaw else 3

    def _observation_space(self) -> spaces.Dict:
        def box(n: int, bound: float = POSITION_BOUND_M) -> spaces.Box:
            return spaces.Box(-bound, bound, (n,), np.float64)

        def joints(arm) -> spaces.Box:
            slack = np.where(arm.chain.is_prismatic, JOINT_SLACK_M, JOINT_SLACK_RAD)
            lower = np.maximum(arm.chain.lower, -JOINT_BOUND_RAD) - slack
            upper = np.minimum(arm.chain.upper, JOINT_BOUND_RAD) + slack
            return spaces.Box(lower, upper, (arm.chain.dof,), np.float64)

        arms = {
            name: spaces.Dict(
                {
                    "tip_position_m": box(3),
                    "tip_quat_xyzw": spaces.Box(-1.0, 1.0, (4,), np.float64),
                    "jaw_rad": box(1, JOINT_BOUND_RAD),
                    "joint_positions": joints(arm),
                }
            )
            for name, arm in self.session.arms.items()
        }
        objects = {
            name: spaces.Dict(
                {"position_m": box(3), "quat_xyzw": spaces.Box(-1.0, 1.0, (4,), np.float64)}
            )
            for name in self.body_names
        }
        return spaces.Dict(
            {
                "arms": spaces.Dict(arms),
                "objects": spaces.Dict(objects),
                "step_index": spaces.Discrete(len(self.scenario.exercise.steps) + 1),
                # the episode ends at the first control step at or after the limit: up
                # to one control period past it (a 2.6 s period read 182 s in a 181 bound)
                "time_s": spaces.Box(
                    0.0, self.time_limit_s + 1.0 / self.control_rate_hz + 1.0, (1,), np.float64
                ),
            }
        )

    # ---- episodes -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode: ``seed`` seeds the world (None: the constructor's seed the
        first time, then drawn from the env's generator). No ``options`` are defined: any
        given is refused rather than silently ignored."""
        self._require_open("reset()")
        if options:
            raise SimError(
                f"reset(options={options!r}): this environment takes no reset options; "
                "the scenario and its settings are constructor arguments."
            )
        if seed is None and self._first_seed is not None:
            seed = self._first_seed
        self._first_seed = None
        super().reset(seed=seed)
        world_seed = int(seed) if seed is not None else int(self.np_random.integers(2**31))
        state = self.session.reset(world_seed)
        self._steps_done = state.exercise.step_index
        self._closed_episode = False
        return self._observation(state), {"seed": world_seed, "step_id": state.exercise.step_id}

    def step(self, action):
        """Apply ``action`` for ``k`` physics steps; return the Gymnasium 5-tuple."""
        self._require_open("step()")
        if self._closed_episode:
            raise SimError("the episode has ended; call reset() before step().")
        s = self.session
        first_event = len(s.recorder.events)
        s.advance(self.commands(action), steps=self.physics_steps)
        state = s.state()
        ex = state.exercise
        completed_now = ex.step_index - self._steps_done
        self._steps_done = ex.step_index
        time_up = state.time_s >= self.time_limit_s - 0.5 * s.world.dt
        failed_by_time = ex.failed is not None and s.runner.time_limit_reached(state.time_s)
        terminated = ex.completed or (ex.failed is not None and not failed_by_time)
        truncated = not terminated and (time_up or failed_by_time)
        parts = {"steps": self.step_reward * completed_now, "score": 0.0}
        info: dict[str, Any] = {
            "step_id": ex.step_id,
            "events": [e.kind for e in s.recorder.events[first_event:]],
            # what each event was about: arm, object, reason (a refused command's why)
            "event_details": [
                {"time_s": e.time_s, "kind": e.kind, **e.data}
                for e in s.recorder.events[first_event:]
            ],
            "score_estimate": state.score_estimate,
        }
        if terminated or truncated:
            from scenarios.evaluate import score_trace

            metrics, result = score_trace(self.scenario, s.trace())
            parts["score"] = self.score_weight * result.score / 100.0
            info["score"] = result.score
            info["passed"] = result.passed
            info["metrics"] = metrics
            self._closed_episode = True
        info["reward_parts"] = parts
        reward = float(parts["steps"] + parts["score"])
        return self._observation(state), reward, terminated, truncated, info

    def render(self):
        """The endoscope's view now, (H, W, 3) uint8 RGB, with ``render_mode="rgb_array"``;
        None without a render mode (Gymnasium's convention)."""
        if self.render_mode is None:
            return None
        self._require_open("render()")
        s = self.session
        description = s.scene_description()
        # the scene's bodies, by name: a reset describes the same scene anew (one renderer
        # serves every episode); a scenario action's spawn or remove changes them
        nodes = (description.name, tuple(node.name for node in description.nodes))
        if self._renderer is None or nodes != self._rendered_nodes:
            # opened at the first picture (no GL context for envs that never render)
            from sim.render import Renderer
            from sim.view.snapshots import headless_backend

            if self._renderer is not None:
                self._renderer.close()
            self._rendered_nodes = nodes
            self._renderer = Renderer(description, *self.render_size, backend=headless_backend())
        return self._renderer.render(s.node_poses(), s.camera_pose_W())

    def close(self) -> None:
        """Release the physics client and the renderer (idempotent)."""
        renderer = getattr(self, "_renderer", None)
        if renderer is not None:
            renderer.close()
            self._renderer = None
        session = getattr(self, "session", None)
        if session is not None:
            session.close()
            self.session = None

    def _require_open(self, call: str) -> None:
        if self.session is None:
            raise SimError(f"{call} on a closed environment: make a new one (gym.make).")

    # ---- actions -> commands ----------------------------------------------------------------
    def split(self, action) -> dict[str, np.ndarray]:
        """The flat action cut into each driven arm's part (clipped to [-1, 1]; a NaN or
        an infinity stays as it is, for :meth:`commands` to refuse)."""
        expected = self.action_space.shape
        layout = {k: (v.start, v.stop) for k, v in self.action_slices.items()}
        if action is None:
            raise SimError(
                f"step(None): an action is an array of shape {expected} ({layout}); "
                "env.action_space.sample() gives one."
            )
        kind = getattr(action, "dtype", None)
        if kind is not None and kind.kind not in "biuf":
            # an object array of None would become NaN (a refused step), not an error
            raise SimError(f"the action is an array of {kind}, not of numbers.")
        try:
            raw = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise SimError(f"the action is not an array of numbers ({exc}).") from None
        if raw.shape != expected:
            # a batch of one (1, n) or an (n, 1) column is refused too: a (2, 7) array
            # flattened would fill the 14 values arm by arm in the wrong order
            raise SimError(f"action has shape {raw.shape}, expected {expected} ({layout}).")
        a = np.where(np.isfinite(raw), np.clip(raw, -1.0, 1.0), raw)
        return {name: a[sl] for name, sl in self.action_slices.items()}

    def commands(self, action) -> dict[str, ArmCommand]:
        """The session commands an action stands for (see the module docstring)."""
        out = {}
        for name, a in self.split(action).items():
            arm = self.session.arms[name]
            if not np.isfinite(a).all():
                # clipping would turn +inf into a full-speed move and a NaN angle into
                # no turn while the rest of the action moved: the arm holds instead
                self.session.refuse(
                    name, f"action for {name} has NaN or infinity: {a.tolist()}; the arm holds"
                )
                continue
            if self.action_mode == "jp":
                out[name] = self._jp_command(arm, a)
            elif not arm.has_jaw:
                out[name] = self._scope_command(arm, a)
            else:
                out[name] = self._cp_command(arm, a)
        return out

    def _jaw(self, a: float) -> float:
        lo, hi = self._jaw_range
        return lo + 0.5 * (a + 1.0) * (hi - lo)

    def _position(self, a: np.ndarray) -> np.ndarray:
        lo, hi = self._workspace
        return lo + 0.5 * (a + 1.0) * (hi - lo)

    def _cp_command(self, arm, a: np.ndarray) -> ArmCommand:
        if self.action_mode == "delta_cp":
            X = arm.goal_cp("world")
            X[:3, 3] = self._kept_in_workspace(X[:3, 3], self._dp * a[:3])
            rotation = self._dr * a[3:6]
        else:
            X = np.eye(4)
            X[:3, 3] = self._position(a[:3])
            rotation = math.pi * a[3:6]
        angle = float(np.linalg.norm(rotation))
        if angle > 0.0:
            turn = axis_rotation(rotation / angle, angle)
            X[:3, :3] = turn @ X[:3, :3] if self.action_mode == "delta_cp" else turn
        return ArmCommand(servo_cp=X, jaw_rad=self._jaw(float(a[6])))

    def _kept_in_workspace(self, p_W: np.ndarray, step_m: np.ndarray) -> np.ndarray:
        """``p_W + step_m``, stopped at the scenario's workspace box on each axis, as a
        master's wall stops teleoperation: a delta never takes the goal further out
        than the box (an agent pushing one way drove a tool 0.2 m past it, out of the
        exercise and out of view), and a goal already outside (a start pose) is not
        pulled in, only kept from going further."""
        lo, hi = self._workspace
        moved = p_W + step_m
        return np.clip(moved, np.minimum(lo, p_W), np.maximum(hi, p_W))

    def _scope_command(self, arm, a: np.ndarray) -> ArmCommand | None:
        if self.action_mode != "delta_cp":
            q = self._scope_joints(arm, self._position(a[:3]))
            return None if q is None else ArmCommand(servo_jp=q)
        goal_W = arm.goal_cp("world")[:3, 3]
        p_W = self._kept_in_workspace(goal_W, self._dp * a[:3])
        q = self._scope_joints(arm, p_W)
        # the scope's rotations are slow (1 rad/s: 60 mm/s of tip at 6 cm past the port):
        # a step the joints cannot make in one control step is shortened along the
        # commanded line. Sent whole, each joint ramped at its own limit, the insertion
        # ran ahead of the yaw: the tip left the line by 9 mm and its goal ran 8 mm ahead
        # of it after 40 steps of +x (the PSMs' joints keep up at 0.1 m/s).
        for _ in range(_SCOPE_SHORTENINGS):
            # control steps the joints need for it at their speed limits (1: it fits)
            share = None if q is None else arm.motion_s(q) * self.control_rate_hz
            if share is None or share <= 1.0:
                break
            p_W = goal_W + (p_W - goal_W) / share
            q = self._scope_joints(arm, p_W)
        return None if q is None else ArmCommand(servo_jp=q)

    @staticmethod
    def _scope_joints(arm, p_W: np.ndarray) -> np.ndarray | None:
        """The scope's joints that put its tip at ``p_W`` (world, m) with the shaft
        through the port, or None when out of reach (the scope holds where it is)."""
        p_R = arm.X_RW[:3, :3] @ p_W + arm.X_RW[:3, 3]
        result = solve_ik(arm.chain, p_R, arm.goal_js(), rcm=np.zeros(3), restarts=2)
        return None if result.pos_error > _SCOPE_TOLERANCE_M else result.q

    def _jp_command(self, arm, a: np.ndarray) -> ArmCommand:
        lower, upper = arm.chain.lower, arm.chain.upper
        dof = arm.chain.dof
        q = lower + 0.5 * (a[:dof] + 1.0) * (upper - lower)
        jaw = self._jaw(float(a[dof])) if arm.has_jaw else None
        return ArmCommand(servo_jp=q, jaw_rad=jaw)

    # ---- observation ------------------------------------------------------------------------
    def _observation(self, state) -> dict:
        arms = {}
        for name, arm in state.arms.items():
            arms[name] = {
                "tip_position_m": arm.X_WT[:3, 3].copy(),
                "tip_quat_xyzw": _quat(arm.X_WT),
                "jaw_rad": np.array([arm.jaw_rad]),
                "joint_positions": np.asarray(arm.measured_js, dtype=np.float64).copy(),
            }
        poses = self.session.body_poses()
        objects = {}
        for name in self.body_names:
            X = poses.get(name)
            if X is None:
                objects[name] = {"position_m": np.zeros(3), "quat_xyzw": np.zeros(4)}
            else:
                objects[name] = {"position_m": X[:3, 3].copy(), "quat_xyzw": _quat(X)}
        return {
            "arms": arms,
            "objects": objects,
            "step_index": int(state.exercise.step_index),
            "time_s": np.array([state.time_s]),
        }


def _warn_unused_filter(config: SessionConfig | None) -> None:
    """A tremor filter in ``config`` filters master samples; this environment's actions
    are ``servo_cp`` / ``servo_jp`` goals, which pass no filter: said, not silently
    ignored (a researcher's filter in the env saw one sample per episode). The IK solver
    in ``config`` is used."""
    if config is None:
        return
    default = SessionConfig()
    for teleop, built_in in (
        (config.teleop, default.teleop),
        (config.scope_teleop, default.scope_teleop),
    ):
        if (teleop.tremor_filter, teleop.tremor_params) != (
            built_in.tremor_filter,
            built_in.tremor_params,
        ):
            warnings.warn(
                f"tremor_filter {teleop.tremor_filter!r} is not used by the environment: its "
                "actions are servo_cp / servo_jp goals, which pass no tremor filter (a "
                "filter acts on master samples, in a Session driven through teleoperation)",
                UserWarning,
                stacklevel=3,
            )
            return


def _require_positive(name: str, value) -> None:
    """Constructor arguments are checked where they are given: 0 Hz once raised a bare
    ZeroDivisionError, and a negative episode length gave a time space no observation
    fitted in."""
    if not (is_finite_real(value) and value > 0):
        raise SimError(f"{name} must be a positive finite number, got {value!r}.")


def _quat(X: np.ndarray) -> np.ndarray:
    """Quaternion xyzw of a pose, clipped into [-1, 1] against rounding."""
    return np.clip(matrix_to_quat_xyzw(X[:3, :3]), -1.0, 1.0)


def _checked_size(size) -> tuple[int, int]:
    """A (width, height) in pixels, each 16-4096."""
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise SimError(f"render_size must be (width, height) in pixels, got {size!r}.") from None
    if not (16 <= width <= 4096 and 16 <= height <= 4096):
        raise SimError(f"render_size {size!r}: each side must be 16-4096 pixels.")
    return width, height
