"""Fixtures of the headset tests against a real OpenXR runtime.

Monado (Debian trixie's ``monado-service``, null compositor, simulated or remote-driven
headset) runs in a root built by ``sim/xr/xr-root.sh`` (cached under
``~/.cache/surgisim/xr-root`` or ``$SURGISIM_XR_ROOT``; ~4 minutes the first time on a
machine, seconds after). The headset client runs in that root's Python 3.13 with
pyopenxr and no pybullet; the training server (``surgisim serve``) runs on the host's
Python with pybullet; they talk over the bus on tcp loopback.

Where the root cannot be built (not root, no network, no apt) every test here is skipped
with the reason printed, never passed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from haptics.bus.contract import pose_from_payload
from haptics.bus.ports import free_port_block
from haptics.bus.sockets import ClientBus
from sim.xr.monado import RootUnavailableError, XrRoot
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

SCENARIO = "needle-handover"


@pytest.fixture(scope="session")
def xr_root() -> XrRoot:
    """The trixie root with Monado (built or brought up to date once per session)."""
    root = XrRoot()
    lines: list[str] = []
    try:
        root.ensure(log=lines.append)
    except RootUnavailableError as exc:
        print(f"\nOpenXR tests skipped: {exc}")
        pytest.skip(f"OpenXR root unavailable: {exc}")
    print("\n" + "\n".join(line for line in lines if "ready in" in line or "debootstrap:" in line))
    return root


class Server:
    """``surgisim serve`` in a host subprocess, storing into ``tmp``'s database."""

    def __init__(self, tmp: Path, scenario: str = SCENARIO) -> None:
        self.port = free_port_block()
        self.json_path = tmp / "served.json"
        env = {**os.environ, "XDG_DATA_HOME": str(tmp / "data"), "COLUMNS": "200"}
        self.log_path = tmp / "serve.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sim.cli", "serve", scenario, "--port", str(self.port),
             "--json", str(self.json_path)],
            env=env,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.viewer = Viewer(self.port)

    def stop(self, timeout_s: float = 180.0) -> dict:
        """Ask for ``stop``; wait for the server to score, store and exit; its JSON."""
        if self.process.poll() is None:
            client = ClientBus(port=self.port, subscribe=())
            try:
                client.request("stop", timeout_s=60)
            finally:
                client.close()
            self.process.wait(timeout_s)
        return json.loads(self.json_path.read_text()) if self.json_path.exists() else {}

    @property
    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def close(self) -> None:
        self.viewer.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


class Viewer:
    """A plain bus client on the host that watches the simulator's state in a thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.latest: dict[str, tuple[float, dict]] = {}
        self.hello: dict | None = None
        #: every ``session/events`` event seen, in order (``time_s``, ``kind``, ``data``)
        self.events: list[dict] = []
        self._stop = False
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        bus = ClientBus(port=self.port, subscribe=("PSM", "ECM", "scene/state", "session/events"))
        try:
            deadline = time.monotonic() + 180
            while self.hello is None and time.monotonic() < deadline and not self._stop:
                try:
                    self.hello = bus.request({"request": "hello", "scene": True}, 5.0)
                except Exception:
                    time.sleep(0.2)
            while not self._stop:
                for m in bus.poll(0.05):
                    with self._lock:
                        self.latest[m.topic] = (time.monotonic(), m.payload)
                        if m.topic == "session/events":
                            self.events.extend(m.payload.get("events", []))
        finally:
            bus.close()

    def payload(self, topic: str) -> dict | None:
        with self._lock:
            got = self.latest.get(topic)
        return None if got is None else got[1]

    def holds(self, arm: str) -> list[str]:
        """Why ``arm`` was held, as ``session/events`` said (its ``holding`` and
        ``device_lost`` events), oldest first."""
        with self._lock:
            events = list(self.events)
        return [
            f"{e.get('kind')} at {e.get('time_s')}: {e.get('data')}"
            for e in events
            if e.get("kind") in ("holding", "device_lost") and arm in str(e.get("data"))
        ]

    def state(self, arm: str) -> str | None:
        p = self.payload(f"{arm}/operating_state")
        return None if p is None else p["state"]

    def tip(self, arm: str) -> np.ndarray | None:
        p = self.payload(f"{arm}/measured_cp")
        return None if p is None else pose_from_payload(p)

    def wait_for(self, predicate, timeout_s: float = 60.0) -> bool:
        return wait_for(predicate, timeout_s)

    def close(self) -> None:
        self._stop = True
        self.thread.join(10)


@dataclass
class Client:
    """``surgisim vr`` in the root, with its output, report and captures readable here."""

    root: XrRoot
    out_dir: Path  # host path of the root's /tmp/<name>
    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout_s: float = 120.0) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if any(text in line for line in self.lines):
                return True
            if self.process.poll() is not None:
                self.thread.join(5)
                return any(text in line for line in self.lines)
            time.sleep(0.05)
        return False

    def wait(self, timeout_s: float = 300.0) -> int:
        code = self.process.wait(timeout_s)
        self.thread.join(10)
        return code

    def report(self) -> dict:
        return json.loads((self.out_dir / "report.json").read_text())

    def captures(self) -> list[Path]:
        return sorted((self.out_dir / "captures").glob("frame_*.npz"))


def start_client(root: XrRoot, service, port: int, name: str, *args: str) -> Client:
    """Run ``surgisim vr --port PORT ARGS`` in the root against ``service``; its report,
    timing and captures go to the root's ``/tmp/NAME``."""
    inside = f"/tmp/{name}"
    host = root.path / "tmp" / name
    shutil.rmtree(host, ignore_errors=True)
    host.mkdir(parents=True)
    command = [
        "-m", "sim.cli", "vr", "--port", str(port), "--json", f"{inside}/report.json",
        "--timing", f"{inside}/timing.jsonl", "--capture", f"{inside}/captures", *args,
    ]  # fmt: skip
    process = root.python(
        command,
        {**service.client_env, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return Client(root, host, process)


def host_description(viewer: Viewer):
    """The scene description the server sends (for host-side reference renders)."""
    from scenarios.visual import SceneDescription

    assert viewer.wait_for(lambda: viewer.hello is not None, 120)
    return SceneDescription.from_dict(viewer.hello["scene"])
