"""``surgisim practice`` end to end on Xvfb: the server, the window and the desktop device in
one command; input injected with xdotool completes a one-step scenario ("touch the spot
with the right instrument"), which is scored, stored and reported."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from haptics.bus.ports import free_port_block
from scenarios.records import Records
from tests.sim.view.conftest import find_window, geometry, screenshot, window_env, xdo
from tests.sim.view.test_viewer import Watcher

SCENARIO = """\
schema_version: 1
name: touch-the-spot
version: "1.0"
title: Touch the spot
description: Bring the right instrument's tip to the spot left of it.
scene:
  arms:
    - name: PSM1
      kind: psm
      hand: right
      port: {{position_m: [0.10, -0.07, 0.16], look_at_m: [0.03, 0.0, 0.015]}}
      insertion_m: 0.12
    - name: PSM2
      kind: psm
      hand: left
      port: {{position_m: [-0.10, -0.07, 0.16], look_at_m: [-0.03, 0.0, 0.015]}}
      insertion_m: 0.12
    - name: ECM
      kind: ecm
      port: {{position_m: [0.0, -0.12, 0.20], look_at_m: [0.0, 0.0, 0.0]}}
      insertion_m: 0.06
  camera: {{arm: ECM, fov_deg: 70}}
  objects:
    - id: pad
      type: suture_pad
  workspace_m: [[-0.2, -0.15, -0.02], [0.2, 0.15, 0.3]]
  physics_rate_hz: 500
exercise:
  time_limit_s: 240
  steps:
    - id: touch
      instruction: Touch the spot 2 cm left of the right instrument.
      done_when: {{entered: {{instrument: PSM1, region: {{center_m: {center}, radius_m: 0.01}}}}}}
scoring:
  metrics:
    completion_time_s: {{}}
    path_length_cm: {{}}
  rule: {{kind: fls, cutoff_s: 240, normaliser_s: 240, pass_score: 10}}
"""


def _spot(path) -> list[float]:
    """2 cm left of PSM1's tip as the endoscope sees it at the start."""
    from scenarios.loader import load_scenario
    from sim.server.server import live_session_config
    from sim.session.session import Session
    from sim.world.scene import OBJECT_TYPES

    path.write_text(SCENARIO.format(center="[0.0, 0.0, 0.05]"))
    with Session(
        load_scenario(path, object_types=OBJECT_TYPES), config=live_session_config()
    ) as session:
        tip = session.state().arms["PSM1"].X_WT[:3, 3]
        X_WC = session.camera_pose_W()
    return [round(float(v), 5) for v in tip - 0.02 * X_WC[:3, 0]]


def test_practice_completes_a_scenario_driven_by_injected_input(xdisplay, xdotool, tmp_path):
    scenario = tmp_path / "touch.yaml"
    scenario.write_text(SCENARIO.format(center=_spot(scenario)))
    port = free_port_block()
    env = window_env(xdisplay, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "practice", str(scenario), "--port", str(port),
         "--trainee", "calm-heron-4242", "--size", "800x600"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    watcher = None
    try:
        window = find_window(xdisplay, timeout_s=240)
        x, y, w, h = geometry(xdisplay, window)
        centre = (str(x + w // 2), str(y + h // 2))
        xdo(xdisplay, "mousemove", *centre)  # the pointer rests in the window
        watcher = Watcher(port)
        assert watcher.wait_for(lambda: watcher.state("PSM1") == "FOLLOWING", 120), watcher.states
        # the session runs (the machine may be slower than real time: wait for 1 s of it)
        assert watcher.wait_for(lambda: watcher.get("scene/state")["time_s"] > 1.0, 120)
        assert watcher.get("session/score") is None  # nothing done yet
        end = time.monotonic() + 150
        strokes = []
        start = watcher.tip_C("PSM1")
        while watcher.get("session/score") is None and time.monotonic() < end:
            # a stroke to the left, then back with the clutch held (as with a real master)
            for _ in range(4):
                xdo(xdisplay, "mousemove_relative", "--", "-5", "0")
                time.sleep(0.03)
            time.sleep(0.2)
            strokes.append(1000 * (watcher.tip_C("PSM1") - start))
            if watcher.get("session/score") is not None:
                break
            xdo(xdisplay, "keydown", "space")
            time.sleep(0.15)
            xdo(xdisplay, "mousemove", *centre)
            time.sleep(0.15)
            xdo(xdisplay, "keyup", "space")
            time.sleep(0.3)
        score = watcher.get("session/score")
        assert score is not None, (watcher.states, watcher.get("session/step"), strokes)
        # 20 px a stroke is ~7 mm at the tool's depth: the 1-3 cm to the spot took strokes
        assert len(strokes) >= 2, strokes
        assert score["completed"] and score["stopped_by"] == "completed"
        time.sleep(1.5)  # the result on screen: a panel in the middle of the window
        shot = screenshot(xdisplay, (x, y, w, h))
        Image.fromarray(shot).save(tmp_path / "result.png")
        panel = shot[h // 2 - 60 : h // 2 + 60, w // 2 - 150 : w // 2 + 150]
        assert (panel.max(axis=2) > 200).sum() > 200, "no result panel"
        xdo(xdisplay, "key", "Escape")  # the window closes; the command ends
        out, err = proc.communicate(timeout=120)
    finally:
        if watcher is not None:
            watcher.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out + err
    assert "stored as session 1 for trainee 'calm-heron-4242'" in out.replace("\n", " ")
    assert "Traceback" not in err
    db = tmp_path / "data" / "surgisim" / "records.sqlite"
    rows = Records(f"sqlite:///{db}").sessions("calm-heron-4242")
    assert len(rows) == 1 and rows[0].completed and rows[0].scenario == "touch-the-spot"
    report = next((tmp_path / "data" / "surgisim" / "reports").glob("session-1.html"))
    assert oct(os.stat(report).st_mode & 0o777) == "0o600"
    assert np.isfinite(rows[0].original_score.score)
    assert rows[0].sim_time_s > 1.0 and rows[0].metrics["path_length_cm"] > 1.0
    # the window reported how its display kept up (VIEW/frame_timing), stored and shown
    view = rows[0].conditions["frame_timing"]["VIEW"]
    assert view["reports"] >= 1 and view["frames"] > 10 and view["frame_period_s_p50"] > 0
    # the live session's snapshots (start and end at least) are in its report
    page = report.read_text()
    assert "<h2>Endoscope snapshots</h2>" in page and page.count("data:image/png;base64") >= 2 + 4
    assert "VIEW display: frame" in page
    assert "0.00 s</b> · <span class='start'>Start" in page
