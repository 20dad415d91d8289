"""The headset client's two ends of the bus (docs/bus.md): what it draws and what it drives.

- :class:`SceneFeed`: ``hello`` with ``scene: true`` (the scene description: meshes once),
  then ``scene/state`` (every node's pose, ~60 Hz) turned into the renderer's ``X_WN``,
  and what the trainer's overlay needs (``session/...``, the driven arms'
  ``operating_state`` and ``measured_cp``), handed to a listener. Used from the thread
  that renders.
- :class:`DeviceLink`: the controllers as master devices: publishes ``<dev>/gripper``,
  pedals and ``measured_cp`` each tick, and follows what the re-basing and the vibration
  need: the instruments' and the endoscope's poses, the arms' states, ``servo_cf``.
  Used from the device thread.

Two sockets sets, one per thread (ZeroMQ sockets are not thread-safe).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import numpy as np

from haptics.bus.contract import pose_from_payload, pose_payload
from haptics.bus.errors import BusTimeoutError
from haptics.bus.sockets import ClientBus
from haptics.devices.link import waiting_keys_hint
from scenarios.visual import SceneDescription, poses_from_pq
from sim.xr.hands import HandSample

#: Device name of each hand, as on the dVRK console (the server's default map).
DEVICE_OF_HAND = {"right": "MTMR", "left": "MTML"}


class SceneFeed:
    """The scene to draw, from the training server.

    Args:
        host, port: the server (base port P).
        curve: CurveZMQ client keys (:class:`haptics.bus.ClientCurve`) for a remote server.
        timeout_s: how long to wait for the server.
        listener: called with every message taken (of ``scene/state`` only the newest
            of each :meth:`update`) and the monotonic time, e.g. the overlay's
            :meth:`sim.xr.hud.HeadsetHud.take`; settable later (``feed.listener``).

    Raises:
        BusTimeoutError: no server answered (the message says how to start one).
    """

    def __init__(
        self, host: str, port: int, curve=None, timeout_s: float = 30.0, listener=None
    ) -> None:
        self.bus = ClientBus(host, port, curve, subscribe=("scene/state", "session/"))
        self.listener = listener
        try:
            self.hello = self.bus.wait_ready(timeout_s)
            reply = self.bus.request({"request": "hello", "scene": True}, timeout_s)
        except BusTimeoutError as exc:
            self.bus.close()
            # a server using CurveZMQ is silent to a client without the right keys
            raise BusTimeoutError(f"{exc} {waiting_keys_hint(curve is not None)}.") from None
        except Exception:
            self.bus.close()
            raise
        for arm in sorted(set((self.hello.get("devices") or {}).values())):
            for name in ("operating_state", "measured_cp"):  # the overlay's arm lines
                self.bus.subscribe(f"{arm}/{name}")
        self.description = SceneDescription.from_dict(reply["scene"])
        n = len(self.description.nodes)
        self.X_WN = np.tile(np.eye(4), (n, 1, 1))
        self.time_s = 0.0
        self.used_seq = -1
        self.messages = 0
        self.received_s = 0.0
        #: the server's ``session/score`` once the session has ended (None before)
        self.score: dict | None = None
        #: the server's ``session/ending`` (the session ended; its result follows) and the
        #: monotonic time it came, or None before
        self.ending: dict | None = None
        self.ending_s = 0.0
        self._names: tuple | None = None
        self._rows: np.ndarray | None = None

    def update(self) -> bool:
        """Take every waiting ``scene/state``, keep the newest; True when it changed."""
        latest = None
        now = time.monotonic()
        for m in self.bus.poll(0):
            if m.topic == "scene/state":
                latest = m
                continue
            if m.topic == "session/score":
                self.score = dict(m.payload)
            elif m.topic == "session/ending" and self.ending is None:
                self.ending, self.ending_s = dict(m.payload), now
            if self.listener is not None:
                self.listener(m, now)
        if latest is None:
            return False
        if self.listener is not None:
            self.listener(latest, now)
        p = latest.payload
        names = tuple(p["names"])
        if names != self._names:
            index = {name: i for i, name in enumerate(self.description.node_names)}
            self._rows = np.array([index.get(name, -1) for name in names])
            self._names = names
        poses = poses_from_pq(np.asarray(p["poses"], dtype=np.float64).reshape(-1, 7))
        rows = self._rows
        known = rows >= 0
        self.X_WN[rows[known]] = poses[known]
        self.time_s = float(p["time_s"])
        self.used_seq = int(p["used_seq"])
        self.received_s = latest.received_s or time.monotonic()
        self.messages += 1
        return True

    def silent_s(self, now_s: float) -> float:
        """Seconds since the last ``scene/state`` (0 before the first: a server that has
        not started its session yet is not silent)."""
        return now_s - self.received_s if self.messages else 0.0

    def close(self) -> None:
        """Close the sockets."""
        self.bus.close()


class DeviceLink:
    """The controllers' end of the bus (see the module docstring).

    Args:
        host, port, curve: the server.
        devices: ``{device: arm}`` this client drives (from ``hello``'s ``devices``).
        camera_arm: the endoscope's arm (its ``measured_cp`` is the camera frame), or None
            for a fixed camera.
    """

    def __init__(
        self, host: str, port: int, devices: dict, camera_arm: str | None, curve=None
    ) -> None:
        arms = sorted(set(devices.values()) | ({camera_arm} if camera_arm else set()))
        topics = [f"{d}/servo_cf" for d in devices]
        topics += [f"{a}/measured_cp" for a in arms] + [f"{a}/operating_state" for a in arms]
        self.bus = ClientBus(host, port, curve, subscribe=tuple(topics))
        self.devices = dict(devices)
        self.camera_arm = camera_arm
        self.arm_pose: dict[str, np.ndarray] = {}
        self.arm_state: dict[str, dict] = {}
        self.force: dict[str, np.ndarray] = {}
        #: send time (monotonic s) of each tick's last ``measured_cp``, by its seq
        self.sent_s: OrderedDict[int, float] = OrderedDict()
        self.ticks = 0
        self._resubscribe = threading.Event()

    def resubscribe(self) -> None:
        """Reconnect the subscribing socket at the next :meth:`poll` (from any thread):
        the scene's stream was cut and reconnected (:class:`haptics.bus.probe.SilenceCheck`),
        and this socket's connection was refused alike (force feedback, arm states)."""
        self._resubscribe.set()

    def ready(self, timeout_s: float = 30.0) -> dict:
        """Wait until the server hears this client (``hello`` and its subscription)."""
        return self.bus.wait_ready(timeout_s)

    def poll(self) -> None:
        """Take what the server sent: poses, states, force feedback."""
        if self._resubscribe.is_set():
            self._resubscribe.clear()
            self.bus.reconnect_subscriber()
        for m in self.bus.poll(0):
            component, _, name = m.topic.partition("/")
            if name == "measured_cp":
                self.arm_pose[component] = pose_from_payload(m.payload)
            elif name == "operating_state":
                self.arm_state[component] = m.payload
            elif name == "servo_cf":
                self.force[component] = np.asarray(m.payload["force_n"], dtype=float)

    def publish(self, samples: dict[str, HandSample]) -> int | None:
        """Send one tick: for each device, gripper and pedals first, then ``measured_cp``
        (the contract's order). Returns the seq of the tick's last ``measured_cp``."""
        last = None
        now = time.monotonic()
        for device, s in samples.items():
            self.bus.publish(f"{device}/gripper/measured_js", {"position_rad": [s.gripper_rad]})
            self.bus.publish(f"{device}/clutch", {"pressed": s.clutch})
            self.bus.publish(f"{device}/camera", {"pressed": s.camera})
            last = self.bus.publish(f"{device}/measured_cp", pose_payload(s.X_MG), stamp_s=now)
        if last is not None:
            self.sent_s[last] = now
            while len(self.sent_s) > 4096:
                self.sent_s.popitem(last=False)
            self.ticks += 1
        return last

    def close(self) -> None:
        """Close the sockets."""
        self.bus.close()
