"""Compile the live session's kernels before the bus is served.

Teleoperation, the tremor filter, IK, the force feedback and the observation run numba
kernels compiled on first use (and cached on disk after). On a fresh install the first
live session compiled them when the trainee's first samples came in: the loop stalled,
the samples went stale and both arms held at the very start (measured with an empty
numba cache: the synthetic device's first engage failed, "still HOLDING; aligning
again", and the session ran at 0.82x real time; with the cache warm, 1.000x and no
retry). Kernels first used by a grasp compiled mid-session.

So before it serves its bus (bound already, so that a second server on the same ports
fails at once; nothing is answered yet) the server runs, in throwaway sessions of the
same scenario:

1. the synthetic expert for a simulated second, through the teleoperation a device's
   samples take (engaging, following, IK, physics, observation);
2. the live path itself on a live-configured session: a ``measured_cp`` encoded and
   decoded by the bus contract, through the device state and the router into
   ``Session.command`` (the alignment gate), a physics step, the held-object kernel of
   every arm and one force-feedback step per arm.

With the cache warm this costs a quarter of a second; the live session is untouched (its
own world; numba's compiled code is all they share).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

#: Simulated time the synthetic expert runs (s): long enough to engage the arms and
#: follow a motion, so every per-step kernel of teleoperation has run once.
WARM_UP_S = 1.0


@dataclass(frozen=True)
class WarmUp:
    """What the warm-up took.

    Attributes:
        seconds: wall time (s).
        compiled: kernels numba compiled (0 when all came from its disk cache: a slow
            warm-up then means a busy machine, not a first run).
    """

    seconds: float
    compiled: int


def warm_up(scenario, seed: int, master_rate_hz: float = 1000.0, force=None) -> WarmUp:
    """Run the throwaway sessions; return what it took.

    Best effort: what an exercise cannot run (a custom one without a plan for the
    synthetic operators) is skipped, and nothing here can stop the server from starting.
    """
    from numba.core import event

    started = time.perf_counter()
    # numba announces each compilation (a start and an end event); a load from its
    # cache announces none
    with event.install_recorder("numba:compile") as compiles:
        for part in (_scripted, _live_path):
            try:
                part(scenario, seed, master_rate_hz, force)
            except Exception as exc:  # a warm-up must never keep a trainee from practising
                why = f"{type(exc).__name__}: {exc}"
                log.info("warm-up (%s) stopped early (%s)", part.__name__.strip("_"), why)
    starts = sum(1 for _, e in compiles.buffer if e.is_start)
    return WarmUp(time.perf_counter() - started, starts)


def _scripted(scenario, seed: int, master_rate_hz: float, force) -> None:
    """The synthetic expert drives a headless session for :data:`WARM_UP_S`."""
    from sim.session.controllers import ScriptedController, run_controller
    from sim.session.session import SessionConfig

    config = SessionConfig(master_rate_hz=master_rate_hz, observe_rate_hz=None)
    steps = round(WARM_UP_S * float(scenario.scene.physics_rate_hz))
    calls = 0

    def enough() -> bool:
        nonlocal calls
        calls += 1
        return calls > steps

    run_controller(scenario, ScriptedController("expert"), seed=seed, config=config, stop=enough)


def _live_path(scenario, seed: int, master_rate_hz: float, force) -> None:
    """One device sample through the server's own path, then feedback and a grasp's
    kernel, on a session configured as the live one."""
    from haptics.bus.contract import decode, encode, pose_payload
    from haptics.bus.devices import DeviceState
    from haptics.force import ForceFeedback
    from haptics.teleop import FOLLOWING
    from sim.server.routing import Router, default_device_map
    from sim.server.server import live_session_config
    from sim.session.session import Session

    config = live_session_config(master_rate_hz=master_rate_hz)
    with Session(scenario, seed=seed, config=config) as session:
        device_map = default_device_map(scenario)
        camera = scenario.scene.camera.arm
        router = Router(device_map, camera if camera in session.teleops else None)
        devices = DeviceState()
        now = session.now_s()
        for arm in device_map.values():
            session.teleops[arm].enable(now)
            session.teleops[arm].aligned_hand_rotation()  # the hello and operating_state
        stamp_s = 1.0  # a device's own clock (0 is CRTK's "invalid")
        messages = []
        for k, device in enumerate(device_map):
            payload = {"v": 1, "stamp_s": stamp_s, "seq": k, **pose_payload(np.eye(4))}
            messages.append(decode(encode(f"{device}/measured_cp", payload), received_s=now))
        session.command(router.route(devices.ingest(messages, received_s=now)))
        state = session.step({})
        for arm in session.world.arms.values():
            arm.tip_state_W()
        for arm in device_map.values():
            out = session.last_teleop(arm)
            if out is not None:
                force_R = session.arms[arm].X_RW[:3, :3] @ state.arms[arm].feedback_force_n
                ForceFeedback(force).step_teleop(out, force_R)
                # as once the arm follows (feedback is shaped only then)
                feedback = ForceFeedback(force)
                for k in (1, 2):
                    feedback.step(
                        out.time_s + 0.001 * k, force_R, out.X_RC, FOLLOWING,
                        wall_excess_m=out.wall_excess_m,
                    )  # fmt: skip
