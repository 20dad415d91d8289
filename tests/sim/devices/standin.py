"""A stand-in for ``surgisim serve``: a ServerBus and an in-process Session, in real time.

It publishes what docs/bus.md says a server publishes (arm states, ``scene/state``,
``session/events``, ``session/step``, ``session/score``), answers ``hello`` as the real
server will (``scenario_yaml`` and ``teleop`` per arm included) and ``state_command``,
and turns device messages into teleoperation samples with :class:`DeviceState`, one
physics step per ``1 / rate`` on the monotonic clock (the session's clock too, so sample
stamps and the teleoperation's watchdog agree). Not a server: no latency injection, no
records, no status line. The tests use it to drive device processes over real sockets.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from pathlib import Path

import numpy as np

from haptics.bus.contract import pose_payload
from haptics.bus.devices import DeviceState
from haptics.bus.sockets import ServerBus
from haptics.master import MasterSample

_SAMPLE_FIELDS = {f.name for f in dataclasses.fields(MasterSample)}


def gated_config():
    """The session settings of a live server: samples at 1 kHz, and (with the new
    teleoperation) starting DISABLED behind the 10° alignment gate."""
    from haptics.teleop import TeleopConfig
    from sim.session.session import SessionConfig

    base = SessionConfig()
    known = {f.name for f in dataclasses.fields(TeleopConfig)}
    live = {"start_enabled": False, "align_tolerance_rad": math.radians(10.0)}
    live = {k: v for k, v in live.items() if k in known}
    return dataclasses.replace(
        base,
        master_rate_hz=1000.0,
        teleop=dataclasses.replace(base.teleop, **live),
        scope_teleop=dataclasses.replace(base.scope_teleop, **live),
    )


class StandInServer:
    """Runs ``scenario`` on a bus at a free port block, in a thread, until :meth:`stop`."""

    def __init__(self, scenario_name: str, seed: int = 0, port: int = 0) -> None:
        from scenarios.loader import load_scenario, resolve
        from sim.session.session import Session

        self.scenario = load_scenario(scenario_name)
        self.yaml = Path(resolve(scenario_name)).read_text()
        self.session = Session(
            self.scenario, seed=seed, config=gated_config(), clock=time.monotonic
        )
        self._warm_up()
        self.bus = ServerBus(port=port)
        self.port = self.bus.port
        hands = {"right": "MTMR", "left": "MTML"}
        self.devices = {hands[a.hand]: a.name for a in self.scenario.scene.arms if a.hand}
        self.arm_of = dict(self.devices)
        self.state = DeviceState()
        self.used_seq = {name: -1 for name in self.session.arms}
        self.enabled: list[str] = []
        self.requests: list[dict] = []
        self.samples = 0
        self.overruns = 0
        #: the teleoperation's 'holding' events (with the watchdog's reason)
        self.holds: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stand-in", daemon=True)
        self.error: BaseException | None = None

    def _warm_up(self) -> None:
        """Compile the teleoperation's kernels and filter on a throwaway pipeline, as a
        server does before it answers: numba's first call must not stall the loop."""
        from haptics.teleop import Teleoperation

        for teleop in self.session.teleops.values():
            scratch = Teleoperation(teleop.config, teleop.X_RT, teleop.X_RC)
            for k in range(3):
                extra = {"seq": k} if "seq" in _SAMPLE_FIELDS else {}
                scratch.step(MasterSample(0.001 * k, np.eye(4), **extra), 0.001 * k)

    def start(self) -> StandInServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.bus.close()
        self.session.close()

    # ---- requests ----------------------------------------------------------------------
    def hello(self) -> dict:
        s = self.session
        teleop = {}
        for arm, t in s.teleops.items():
            c = t.config
            teleop[arm] = {
                "translation_scale": c.translation_scale,
                "rotation_scale": c.rotation_scale,
                "R_CM": [list(r) for r in c.R_CM],
                "align_tolerance_rad": getattr(c, "align_tolerance_rad", None) or 0.0,
            }
        return {
            "ok": True,
            "contract": 1,
            "scenario": self.scenario.name,
            "title": self.scenario.title,
            "arms": [
                {"name": n, "kind": a.model.name, "joint_names": list(a.chain.joint_names)}
                for n, a in s.arms.items()
            ],
            "devices": dict(self.devices),
            "topics": [],
            "rates_hz": {},
            "scenario_yaml": self.yaml,
            "teleop": teleop,
        }

    def _answer(self) -> None:
        for origin, request in self.bus.requests():
            self.requests.append(request)
            kind = request["request"]
            if kind == "hello":
                self.bus.reply(origin, self.hello())
            elif kind == "state_command":
                arm, command = request["arm"], request["command"]
                teleop = self.session.teleops.get(arm)
                if teleop is None:
                    self.bus.reply(origin, {"ok": False, "error": f"no teleoperated arm {arm}"})
                    continue
                if command == "enable":
                    self.enabled.append(arm)
                    if hasattr(teleop, "enable"):
                        teleop.enable(time.monotonic())
                self.bus.reply(origin, {"ok": True})
            else:
                self.bus.reply(origin, {"ok": True})

    # ---- the loop ------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as e:  # surfaced by the test
            self.error = e

    def _operating_state(self, arm: str, fallback) -> dict:
        teleop = self.session.teleops.get(arm)
        if teleop is not None and hasattr(teleop, "state"):
            state = teleop.state
            error = teleop.align_error_rad
            return {
                "state": state,
                "following": state == "FOLLOWING",
                "aligned": state in ("FOLLOWING", "CLUTCHED"),
                "align_error_rad": float(error) if math.isfinite(error) else math.pi,
            }
        a = fallback.arms[arm]
        return {
            "state": a.operating_state,
            "following": a.following,
            "aligned": a.aligned,
            "align_error_rad": 0.0,
        }

    def _loop(self) -> None:
        s, bus = self.session, self.bus
        dt = 1.0 / s.world.rate_hz
        next_t = time.monotonic()
        tick = 0
        last_step = None
        last_step_s = 0.0
        while not self._stop.is_set():
            self._answer()
            batches: dict[str, list] = {}
            for sample in self.state.ingest(bus.drain()):
                arm = self.arm_of.get(sample.device)
                if arm is not None:
                    batches.setdefault(arm, []).append(sample)
            commands = {}
            for arm, got in batches.items():
                commands[arm] = [d.sample for d in got]
                self.used_seq[arm] = got[-1].seq
                self.samples += len(got)
            s.advance(commands)
            tick += 1
            now = time.monotonic()
            for arm in s.arms:
                used = self.used_seq[arm]
                a = s.arms[arm]
                bus.publish(
                    f"{arm}/measured_cp", pose_payload(a.measured_cp("world")), used_seq=used
                )
                if tick % 5 == 0:
                    q = a.measured_js()[0]
                    bus.publish(
                        f"{arm}/measured_js",
                        {"position_rad": q.tolist(), "name": list(a.chain.joint_names)},
                        used_seq=used,
                    )
                    bus.publish(f"{arm}/jaw/measured_js", {"position_rad": [a.measured_jaw()]})
            state = None
            if tick % 20 == 0 or s.finished:
                state = s.state()
                for arm in s.teleops:
                    bus.publish(f"{arm}/operating_state", self._operating_state(arm, state))
            if tick % 8 == 0:
                names = list(s.scene_description().node_names)
                poses = s.node_poses()
                from kinematics.transforms import matrix_to_quat_xyzw

                rows = [[*X[:3, 3], *matrix_to_quat_xyzw(X[:3, :3])] for X in poses]
                bus.publish("scene/state", {"time_s": s.time_s, "names": names, "poses": rows})
            events = [
                {"time_s": e.time_s, "kind": e.kind, "data": _plain(e.data)} for e in s._step_events
            ]
            if events:
                bus.publish("session/events", {"events": events})
                self.holds += [e for e in events if e["kind"] == "holding"]
            runner = s.runner
            step = (runner.step_index, len(self.scenario.exercise.steps))
            if step != last_step or now - last_step_s > 1.0:
                current = runner.current_step
                bus.publish(
                    "session/step",
                    {
                        "index": step[0],
                        "total": step[1],
                        "id": current.id if current else "",
                        "instruction": current.instruction if current else "",
                    },
                )
                last_step, last_step_s = step, now
            next_t += dt
            now = time.monotonic()
            if now - next_t > 0.02:
                next_t = now
                self.overruns += 1
            delay = next_t - now
            if delay > 0:
                time.sleep(delay)


def _plain(value):
    """Event data as msgpack-able plain values (finite floats, lists, str keys)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
