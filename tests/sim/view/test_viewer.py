"""``surgisim view`` for real: a GLFW window on Xvfb against a running TrainingServer.

The window must show the scene and its overlays (checked on a screenshot of the X
display), and input injected into it with xdotool (XTEST: as a person's mouse and keys)
must move the instrument on the server and clutch it. Margins, not timings: the machine
may not keep real time (the device presses the clutch again by itself after a hold).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from haptics.bus.contract import pose_from_payload
from haptics.bus.sockets import ClientBus
from tests.sim.server.test_server import Served
from tests.sim.view.conftest import find_window, geometry, screenshot, window_env, xdo
from tests.waiting import wait_for


class Watcher:
    """The latest payload of every topic on the bus, collected in a thread."""

    def __init__(self, port: int) -> None:
        self.bus = ClientBus(port=port)
        self.latest: dict[str, dict] = {}
        self.states: dict[str, list[str]] = {}
        self._stop = False
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self._stop:
            for m in self.bus.poll(0.05):
                with self._lock:
                    self.latest[m.topic] = m.payload
                    if m.topic.endswith("/operating_state"):
                        seen = self.states.setdefault(m.topic.split("/")[0], [])
                        if not seen or seen[-1] != m.payload["state"]:
                            seen.append(m.payload["state"])

    def get(self, topic: str):
        with self._lock:
            return self.latest.get(topic)

    def state(self, arm: str) -> str | None:
        p = self.get(f"{arm}/operating_state")
        return None if p is None else p["state"]

    def tip_C(self, arm: str, camera: str = "ECM") -> np.ndarray:
        X_WT = pose_from_payload(self.get(f"{arm}/measured_cp"))
        X_WC = pose_from_payload(self.get(f"{camera}/measured_cp"))
        return X_WC[:3, :3].T @ (X_WT[:3, 3] - X_WC[:3, 3])

    def wait_for(self, predicate, timeout_s: float = 60.0) -> bool:
        return wait_for(predicate, timeout_s)

    def close(self) -> None:
        self._stop = True
        self.thread.join()
        self.bus.close()


@pytest.fixture
def served():
    s = Served("needle-handover")
    yield s
    s.stopped = True
    s.thread.join(timeout=60)
    s.close()


def test_view_shows_the_scene_and_overlays_and_drives_the_instrument(
    xdisplay, xdotool, served, tmp_path
):
    port = served.server.port
    watcher = Watcher(port)
    env = window_env(xdisplay, tmp_path)
    view = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "view", "--port", str(port), "--size", "800x600"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        window = find_window(xdisplay)
        box = geometry(xdisplay, window)
        assert box[2:] == (800, 600)
        x0, y0 = box[0] + 400, box[1] + 300
        xdo(xdisplay, "mousemove", str(x0), str(y0))  # the pointer rests in the window
        # the desktop device connects, presents aligned hands and clutches in by itself
        assert watcher.wait_for(lambda: watcher.state("PSM1") == "FOLLOWING", 120), watcher.states
        assert watcher.wait_for(lambda: watcher.state("PSM2") == "FOLLOWING", 60)
        time.sleep(1.0)  # a few frames with the states shown
        shot = screenshot(xdisplay, box)
        Image.fromarray(shot).save(tmp_path / "view.png")  # kept for a look when it fails
        r, g, b = (shot[..., k].astype(int) for k in range(3))
        middle = (slice(150, 450), slice(200, 600))
        tissue = (r > 110) & (r > g + 40) & (r > b + 30)
        assert tissue[middle].mean() > 0.02, "the tissue pad is not drawn in the view's middle"
        shaft_or_steel = (np.abs(r - g) < 20) & (np.abs(g - b) < 20) & (r > 40)
        assert shaft_or_steel.mean() > 0.005, "no instruments drawn"
        text = shot.max(axis=2) > 200
        assert text[:60, :400].sum() > 50, "no instruction text at the top left"
        assert text[:60, -200:].sum() > 50, "no timer at the top right"
        coloured = (shot.max(axis=2) > 150) & (shot.max(axis=2) - shot.min(axis=2) > 60)
        assert coloured[-90:, :420].sum() > 50, "no arm states at the bottom"

        # F1 shows the controls in a panel over the middle of the view, F1 hides them
        xdo(xdisplay, "key", "F1")
        time.sleep(1.0)
        helped = screenshot(xdisplay, box)
        Image.fromarray(helped).save(tmp_path / "help.png")
        xdo(xdisplay, "key", "F1")
        panel = (slice(150, 450), slice(150, 650))
        white = (helped[panel].min(axis=2) > 200).sum()  # the panel's white text
        assert white > 1000 and white > 3 * (shot[panel].min(axis=2) > 200).sum()

        # the mouse moves the right instrument (active at start) left in the view; each
        # stroke goes back with the clutch held (Space), as with a real master
        start = watcher.tip_C("PSM1")
        moved = 0.0
        end = time.monotonic() + 90
        while moved > -0.008 and time.monotonic() < end:
            for _ in range(5):
                xdo(xdisplay, "mousemove_relative", "--", "-6", "0")
                time.sleep(0.03)
            time.sleep(0.3)
            moved = watcher.tip_C("PSM1")[0] - start[0]
            xdo(xdisplay, "keydown", "space")
            time.sleep(0.15)
            xdo(xdisplay, "mousemove", str(x0), str(y0))
            time.sleep(0.15)
            xdo(xdisplay, "keyup", "space")
            time.sleep(0.3)
        assert moved <= -0.008, f"PSM1 moved {1000 * moved:.1f} mm along the image x axis"
        tip = watcher.tip_C("PSM1")
        assert abs(tip[1] - start[1]) < 0.5 * abs(tip[0] - start[0])  # mostly sideways

        # Space holds the clutch: the arm is CLUTCHED while it is down
        assert watcher.wait_for(lambda: watcher.state("PSM1") == "FOLLOWING", 30)
        before = len(watcher.states.get("PSM1", []))
        xdo(xdisplay, "keydown", "space")
        try:
            assert watcher.wait_for(lambda: watcher.state("PSM1") == "CLUTCHED", 30), watcher.states
        finally:
            xdo(xdisplay, "keyup", "space")
        assert watcher.wait_for(lambda: watcher.state("PSM1") == "FOLLOWING", 30)
        assert "CLUTCHED" in watcher.states["PSM1"][before:]
    finally:
        view.send_signal(signal.SIGINT)
        try:
            out, err = view.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            view.kill()
            out, err = view.communicate()
        watcher.close()
    assert view.returncode == 0, out + err
    assert "viewer:" in out and "Traceback" not in err
