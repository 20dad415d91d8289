"""A device process's connection to the server: hello, pedal timing, losing and finding it.

:class:`DeviceLink` wraps a :class:`~haptics.bus.sockets.ClientBus` with what every device
process needs beyond the sockets (docs/bus.md):

- :meth:`connect` waits for the server (``hello`` answered, subscribed to us), saying
  once that it is waiting, and keeps trying until it answers or the caller stops it;
- :meth:`send` publishes one tick of one device in the contract's order: the gripper and
  the pedals (on change, and at least every 100 ms) before ``measured_cp``; ``stamp_s``
  comes from the caller's monotonic clock and ``seq`` runs per topic (ClientBus);
- :meth:`check` notices a server that went away (no message and no answer to ``hello``
  for ``lost_after_s``), or that refuses this device (its key was removed from the
  server's allow list: ``hello`` answered ``ok: false``), and one that came back, says
  each once, and reports the change so the device can ask to be enabled again;
- every message sent can be written to a recording (``--record FILE``).

Use one link from one thread, except :meth:`send` / :meth:`publish`, which touch only the
outbound socket and may run on a publishing thread while another thread polls.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from haptics.bus.contract import DEFAULT_PORT, pose_payload
from haptics.bus.errors import BusTimeoutError
from haptics.bus.probe import ask_server
from haptics.devices.base import DeviceReading
from haptics.devices.errors import DeviceError
from haptics.devices.recording import RecordingWriter

log = logging.getLogger("haptics.devices")

#: Pedals are re-sent at least this often (s) when unchanged (docs/bus.md: >= 10 Hz).
PEDAL_REFRESH_S = 0.1

#: Topics a device needs to see, per arm and fixed (prefix subscriptions).
SESSION_PREFIX = "session/"


def say(message: str) -> None:
    """Print a status line for the person running the device (stderr, flushed)."""
    print(message, file=sys.stderr, flush=True)


#: How ``surgisim device`` takes its CurveZMQ keys: (the options a keyed server needs,
#: where the server's public key comes from), for the waiting message.
DEVICE_KEY_OPTIONS = (
    "--keys DIR (this device's NAME.key_secret and the server's server.key)",
    "DIR/server.key",
)
#: The same for the viewers (``surgisim view``, ``surgisim vr``).
CLIENT_KEY_OPTIONS = ("--client-key and --server-public-key", "--server-public-key")


def waiting_keys_hint(keyed: bool, options: tuple[str, str] = CLIENT_KEY_OPTIONS) -> str:
    """What to say about CurveZMQ while no server answers: a keyed server looks exactly
    like none to a client without keys (or with the wrong ones), so say it.

    ``options``: how this command takes its keys (see :data:`CLIENT_KEY_OPTIONS`).
    """
    needs, server = options
    if keyed:
        return (
            f"With CurveZMQ, a wrong {server} or a client key the server does not allow "
            "looks the same"
        )
    return f"A server using CurveZMQ needs {needs}"


#: How far past ``lost_after_s`` of silence a probe of a connected device waits (s), so
#: that its verdict sees the whole silence (see :meth:`DeviceLink.check`)
PROBE_MARGIN_S = 0.01


class DeviceLink:
    """The bus connection of one device process (one or several device names).

    Args:
        names: the device names this process publishes (``["MTMR"]``).
        host, port: the server's address and base port.
        curve: the client's CurveZMQ keys (:class:`~haptics.bus.security.ClientCurve`).
        subscribe: topic prefixes to receive (default: everything; ``session/`` is always
            received: its 1 Hz ``session/step`` tells the link the server is alive).
        ipc_dir: use ``ipc://`` sockets in this directory instead of TCP.
        record: write every message sent to this file (see :mod:`haptics.devices.recording`).
        rate_hz: the device's rate, for the recording's header.
        source: what runs the device, for the recording's header.
        lost_after_s: silence (no message, no answer to a probe) after which the server
            counts as gone.
        probe_timeout_s: how long a probe (``hello``) waits for its answer (s). A server
            waiting for its other devices publishes nothing and answers only probes; on
            a loaded machine (device processes compiling their kernels) its answer took
            over 0.25 s, and a shorter wait called a live server gone.
        notify: where status lines go (default: stderr).
        clock: the monotonic clock (s).
        key_options: how the command takes its CurveZMQ keys, for the waiting message
            (a keyed server is silent to a client without them).
    """

    def __init__(
        self,
        names: Iterable[str],
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        curve=None,
        subscribe: Iterable[str] = ("",),
        ipc_dir: Path | str | None = None,
        record: Path | str | None = None,
        rate_hz: float | None = None,
        source: str = "",
        lost_after_s: float = 1.5,
        probe_timeout_s: float = 1.0,
        notify: Callable[[str], None] = say,
        clock: Callable[[], float] = time.monotonic,
        key_options: tuple[str, str] = DEVICE_KEY_OPTIONS,
    ) -> None:
        from haptics.bus.sockets import ClientBus

        self.names = list(names)
        if not self.names:
            raise DeviceError("a device needs at least one name (--name MTMR or MTML).")
        prefixes = list(dict.fromkeys([SESSION_PREFIX, *subscribe]))
        self.bus = ClientBus(host, port, curve, prefixes, ipc_dir=ipc_dir)
        self.endpoint = self.bus.endpoints[2]
        self.keyed = curve is not None
        self.key_options = key_options
        self.hello: dict = {}
        self.connected = False
        self.lost_after_s = float(lost_after_s)
        self.probe_timeout_s = float(probe_timeout_s)
        self.notify = notify
        self._clock = clock
        self._heard_s = -float("inf")
        self._probe_s = -float("inf")
        self._refused_by: str | None = None  # the server's reason, while it refuses us
        self._pedals: dict[str, tuple[bool, float]] = {}
        self._t0 = clock()
        self.recorder = (
            None
            if record is None
            else RecordingWriter(record, self.names, source=source, rate_hz=rate_hz)
        )

    # ---- connection --------------------------------------------------------------------
    def connect(self, stop: Callable[[], bool] = lambda: False, timeout_s: float | None = None):
        """Wait until the server answers ``hello`` and has subscribed to this link.

        Says once that it is waiting (and where), then keeps trying every second.

        Returns:
            The ``hello`` reply, or None when ``stop()`` became true first.

        Raises:
            BusTimeoutError: ``timeout_s`` passed without a server.
        """
        start = self._clock()
        said = False
        while not stop():
            try:
                hello = self.bus.wait_ready(timeout_s=1.0)
            except BusTimeoutError:
                if timeout_s is not None and self._clock() - start > timeout_s:
                    raise
                if not said:
                    self.notify(
                        f"waiting for the server at {self.endpoint} (is `surgisim serve`"
                        " running, with this --host and --port?"
                        f" {waiting_keys_hint(self.keyed, self.key_options)});"
                        " retrying every second"
                    )
                    said = True
                continue
            self._up(hello)
            if said:
                self.notify(f"connected to the server at {self.endpoint}")
            return hello
        return None

    def _up(self, hello: dict) -> None:
        self.hello = hello
        self.connected = True
        self._heard_s = self._clock()

    def check(self) -> str:
        """Probe the server when it has been silent; '' normally, ``"lost"`` when it just
        went away, ``"back"`` when it just came back (each said once)."""
        now = self._clock()
        if now - self._heard_s < min(1.0, self.lost_after_s) or now - self._probe_s < 1.0:
            return ""
        self._probe_s = now
        # a connected device's probe ends when the silence reaches lost_after_s, and the
        # verdict takes the silence after it: the silence measured before a 1 s probe
        # (1.0 s, "not yet") needed a second probe, and "lost" came after 3-4 s, not 1.5
        timeout_s = self.probe_timeout_s
        if self.connected:
            # ... and a little after it: a probe that ends a hair before (the bus waits
            # in whole milliseconds) leaves the silence at 1.4999 s, "not yet", and a
            # second probe a second later (CI saw it: [0.496, 0.2])
            left_s = self.lost_after_s - (now - self._heard_s) + PROBE_MARGIN_S
            timeout_s = min(timeout_s, max(0.2, left_s))
        answer = ask_server(self.bus, timeout_s)
        if not answer.answered:
            if self.connected and self._clock() - self._heard_s >= self.lost_after_s:
                self.connected = False
                self.notify(
                    f"lost the server at {self.endpoint}; holding, and retrying every second"
                )
                return "lost"
            return ""
        if answer.refusal is not None:  # cut off: this device's key was removed
            if self._refused_by is None:
                self._refused_by = answer.refusal
                self.connected = False
                self.notify(
                    f"the server at {self.endpoint} refuses this device: {self._refused_by};"
                    " holding, and asking again every second"
                )
                return "lost"
            return ""
        was = self.connected
        if self._refused_by is not None:
            # let in again: what the server publishes comes by a connection it refused,
            # which libzmq does not retry by itself
            self._refused_by = None
            self.bus.reconnect_subscriber()
        self._up(answer.hello)
        if not was:
            self.notify(f"the server at {self.endpoint} is back")
            return "back"
        return ""

    def request(self, payload, timeout_s: float = 2.0) -> dict:
        """A request to the server (see :meth:`ClientBus.request`)."""
        reply = self.bus.request(payload, timeout_s)
        self._heard_s = self._clock()
        return reply

    def poll(self, timeout_s: float = 0.0):
        """The server messages waiting (after up to ``timeout_s`` for the first)."""
        messages = self.bus.poll(timeout_s)
        if messages:
            self._heard_s = self._clock()
        return messages

    def arm_of(self, name: str) -> str | None:
        """The arm the server maps device ``name`` to (from ``hello``'s ``devices``)."""
        return (self.hello.get("devices") or {}).get(name)

    # ---- sending -----------------------------------------------------------------------
    def publish(self, topic: str, payload: dict, stamp_s: float | None = None) -> int:
        """Send one message (envelope added) and record it; returns its ``seq``."""
        stamp = self._clock() if stamp_s is None else stamp_s
        seq = self.bus.publish(topic, payload, stamp_s=stamp)
        if self.recorder is not None:
            self.recorder.write(
                stamp - self._t0, topic, {**payload, "v": 1, "stamp_s": stamp, "seq": seq}
            )
        return seq

    def send(self, name: str, reading: DeviceReading, stamp_s: float | None = None) -> int:
        """Publish one tick of device ``name``: gripper, pedals (on change and every 100
        ms), then ``measured_cp``. Returns the ``measured_cp``'s ``seq``."""
        stamp = self._clock() if stamp_s is None else float(stamp_s)
        self.publish(f"{name}/gripper/measured_js", {"position_rad": [reading.gripper_rad]}, stamp)
        self._pedal(name, "clutch", bool(reading.clutch), stamp)
        if reading.camera is not None:
            self._pedal(name, "camera", bool(reading.camera), stamp)
        return self.publish(f"{name}/measured_cp", pose_payload(reading.X_MH), stamp)

    def _pedal(self, name: str, pedal: str, pressed: bool, stamp: float) -> None:
        topic = f"{name}/{pedal}"
        last = self._pedals.get(topic)
        # (a nanosecond of slack: stamps that are k ms apart on a clock read as seconds
        # since boot differ by k ms only to within rounding)
        if last is None or last[0] != pressed or stamp - last[1] >= PEDAL_REFRESH_S - 1e-9:
            self.publish(topic, {"pressed": pressed}, stamp)
            self._pedals[topic] = (pressed, stamp)

    def close(self) -> None:
        """Close the recording and the sockets (idempotent)."""
        if self.recorder is not None:
            self.recorder.close()
        self.bus.close()

    def __enter__(self) -> DeviceLink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
