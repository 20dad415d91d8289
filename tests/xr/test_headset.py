"""``surgisim vr`` against a real OpenXR runtime (Monado, null compositor, the remote
driver's headset and Index controllers), the training server on the host's Python.

One rig for the module (server, runtime, remote driver); each test runs the client.
Margins, not timings: the machine is shared and slow, and llvmpipe draws the frames.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from sim.xr.monado import MonadoService, RemoteHub
from tests.xr.conftest import Server, host_description, start_client

pytestmark = pytest.mark.slow

LIFECYCLE = ["IDLE", "READY", "SYNCHRONIZED", "VISIBLE", "FOCUSED", "STOPPING", "EXITING"]


@pytest.fixture(scope="module")
def rig(xr_root, tmp_path_factory):
    """The training server, Monado with the remote driver, and a hub to drive it."""
    tmp = tmp_path_factory.mktemp("xr")
    server = Server(tmp)
    service = MonadoService(xr_root, "remote", log_path=tmp / "monado.log")
    service.start()
    hub = RemoteHub()
    hub.send()
    try:
        yield server, service, hub
    finally:
        hub.close()
        service.stop()
        try:
            server.stop()
        finally:
            server.close()


@pytest.fixture(scope="module")
def first_run(rig, xr_root):
    """A console-view run of 130 frames, a capture every 40."""
    server, service, _ = rig
    client = start_client(
        # the scene alone (--no-hud): its frames are compared with the renderer's
        xr_root, service, server.port, "first", "--frames", "130", "--capture-every", "40",
        "--no-hud",
    )  # fmt: skip
    code = client.wait(600)
    return client, code


def _order_kept(seen: list[str], wanted: list[str]) -> bool:
    it = iter(seen)
    return all(any(s == w for s in it) for w in wanted)


def test_session_reaches_focused_and_submits_frames(first_run):
    client, code = first_run
    assert code == 0, client.output
    report = client.report()
    assert report["system"] == "Monado: Remote HMD"
    # the whole lifecycle, in order: begun at READY, ended through STOPPING and EXITING
    assert _order_kept(report["states"], LIFECYCLE), report["states"]
    assert report["submitted"] >= 100, report
    assert report["swapchain"]["srgb"] and report["swapchain"]["images"] >= 2
    timing = report["timing"]
    assert timing["period_ms"] > 0 and timing["eye_ms"][0]["n"] > 50
    assert timing["latency_ms"]["n"] > 0  # device sample -> displayed frame measured
    assert "index_controller" in " ".join(report["profiles"])


def _instrument_mask(description, X_WN, X_WE, image, arm: str) -> np.ndarray:
    """Pixels where ``arm`` is drawn in ``image``: the image against a host render of the
    same poses from the same eye with the arm hidden."""
    from sim.render import Renderer

    h, w = image.shape[:2]
    hidden = [n for n in description.node_names if n.startswith(f"{arm}/")]
    with Renderer(description, w, h) as r:
        without = r.render(X_WN, X_WC=X_WE, hidden=hidden).astype(int)
        reference = r.render(X_WN, X_WC=X_WE).astype(int)
    mask = np.abs(image.astype(int) - without).sum(axis=2) > 30
    return mask, reference


def _project(description, X_WE, point_W, w, h) -> np.ndarray:
    X_EW = np.linalg.inv(X_WE)
    p = X_EW[:3, :3] @ point_W + X_EW[:3, 3]
    return description.camera.project(p, w, h)


def test_swapchain_image_shows_the_instrument_where_the_simulator_says(rig, first_run):
    server, _, _ = rig
    client, code = first_run
    assert code == 0, client.output
    captures = client.captures()
    assert len(captures) >= 3, client.output
    description = host_description(server.viewer)
    data = np.load(captures[-1])
    image, X_WN, X_WE = data["left"], data["X_WN"], data["X_WE"][0]
    h, w = image.shape[:2]
    mask, reference = _instrument_mask(description, X_WN, X_WE, image, "PSM1")
    # the swapchain image is the renderer's picture (Mesa versions differ in the last bits)
    assert np.abs(image.astype(int) - reference).mean() < 3.0
    assert mask.sum() > 50, "the instrument PSM1 is not in the swapchain image"
    # the instrument's tip, where the simulator's state puts it, is on the drawn instrument
    tip = X_WN[description.index(description.tip_nodes["PSM1"])][:3, 3]
    u, v = _project(description, X_WE, tip, w, h)
    rows, cols = np.nonzero(mask)
    nearest = np.min(np.hypot(cols + 0.5 - u, rows + 0.5 - v))
    assert nearest < 6.0, (u, v, nearest)


def _wait_state(viewer, arm: str, states, timeout_s: float = 120.0) -> bool:
    return viewer.wait_for(lambda: viewer.state(arm) in states, timeout_s)


def _clutch(hub) -> None:
    """Press and release the right controller's clutch (A): a held arm resumes through
    ALIGNING, and the grip is re-based while it is pressed."""
    hub.right.buttons["a_click"] = True
    hub.send()
    time.sleep(1.0)
    hub.right.buttons["a_click"] = False
    hub.send()


def _follow_and_move_right(viewer, hub, client, attempts: int = 3):
    """Bring PSM1 to following, then move the right controller 6 cm to the trainee's
    right over 1.5 s until the tip has moved over 12 mm; the tip's pose before, or an
    AssertionError.

    The watchdog holds the arm when the client's samples come over 30 ms late or stop for
    100 ms (docs/bus.md), which a loaded machine running Monado's compositor, the client
    and the server on llvmpipe can cause (CI saw the arm held mid-move): the move is then
    begun again after a clutch press and release, as a trainee would, at most
    ``attempts`` times, and the reasons are in the failure."""
    for _ in range(attempts):
        _clutch(hub)  # the first run went away: its arms hold until a press and release
        assert _wait_state(viewer, "PSM1", ("FOLLOWING",), 60), (
            viewer.payload("PSM1/operating_state"),
            viewer.holds("PSM1"),
            client.output,
        )
        time.sleep(1.0)
        before = viewer.tip("PSM1")
        start = np.array(hub.right.position_m)
        for k in range(1, 31):  # 6 cm to the trainee's right over 1.5 s
            hub.right.position_m = tuple(start + np.array([0.002 * k, 0.0, 0.0]))
            hub.send()
            time.sleep(0.05)

        def moved(before=before) -> bool:
            return np.linalg.norm(viewer.tip("PSM1")[:3, 3] - before[:3, 3]) > 0.012

        viewer.wait_for(lambda: moved() or viewer.state("PSM1") == "HOLDING", 60)
        if moved():
            return before
        hub.right.position_m = tuple(start)  # held: begin the move again from the start
    raise AssertionError(
        (viewer.payload("PSM1/operating_state"), viewer.holds("PSM1"), client.output)
    )


def test_controller_pose_through_monado_moves_the_instrument(rig, xr_root, first_run):
    server, service, hub = rig
    viewer = server.viewer
    client = start_client(
        xr_root, service, server.port, "drive", "--seconds", "70", "--capture-every", "10"
    )
    try:
        assert client.wait_for_line("OpenXR session: FOCUSED", 180), client.output
        time.sleep(1.0)
        X_WC = viewer.tip("ECM")
        frames_before = len(client.captures())
        before = _follow_and_move_right(viewer, hub, client)
        time.sleep(3.0)  # settle, and let the client draw a few more frames
        after = viewer.tip("PSM1")
        moved_C = X_WC[:3, :3].T @ (after[:3, 3] - before[:3, 3])
        # 6 cm of hand at 1:3 is 2 cm of tip, to the right in the endoscope image
        assert 0.012 < moved_C[0] < 0.03, moved_C
        assert abs(moved_C[1]) < 0.5 * moved_C[0] and abs(moved_C[2]) < 0.5 * moved_C[0], moved_C
        assert len(client.captures()) > frames_before
    finally:
        client.process.send_signal(2)  # Ctrl-C: the client ends its session cleanly
        code = client.wait(120)
    assert code == 0, client.output
    assert _order_kept(client.report()["states"], ["FOCUSED", "STOPPING", "EXITING"])
    # ... and a later rendered frame shows it there: the drawn instrument moved right
    description = host_description(viewer)
    captures = [np.load(p) for p in client.captures()]
    tip_node = description.index(description.tip_nodes["PSM1"])
    tips = np.array([c["X_WN"][tip_node][:3, 3] for c in captures])
    first = int(np.argmin(np.linalg.norm(tips - before[:3, 3], axis=1)))
    last = int(np.argmin(np.linalg.norm(tips - after[:3, 3], axis=1)))
    assert np.linalg.norm(tips[last] - after[:3, 3]) < 0.003
    assert last > first
    centroids = []
    for c in (captures[first], captures[last]):
        mask, _ = _instrument_mask(description, c["X_WN"], c["X_WE"][0], c["left"], "PSM1")
        tip = c["X_WN"][tip_node][:3, 3]
        h, w = mask.shape
        u, v = _project(description, c["X_WE"][0], tip, w, h)
        rows, cols = np.nonzero(mask)
        assert np.min(np.hypot(cols + 0.5 - u, rows + 0.5 - v)) < 6.0
        near = np.hypot(cols + 0.5 - u, rows + 0.5 - v) < 25
        centroids.append(cols[near].mean())
    print(f"tip moved {moved_C} m in the camera frame; drawn instrument centroid {centroids}")
    assert centroids[1] > centroids[0] + 10, centroids


def test_no_runtime_is_a_one_line_error(rig, xr_root):
    """The runtime's service is not there (another runtime dir): a clear error, exit 2."""
    server, _, _ = rig

    from types import SimpleNamespace

    elsewhere = SimpleNamespace(
        client_env={
            "XDG_RUNTIME_DIR": "/tmp/no-runtime-here",
            "XR_RUNTIME_JSON": "/usr/share/openxr/1/openxr_monado.json",
        }
    )

    (xr_root.path / "tmp" / "no-runtime-here").mkdir(exist_ok=True)
    client = start_client(xr_root, elsewhere, server.port, "none", "--frames", "5")
    code = client.wait(120)
    assert code == 2, client.output
    assert "Traceback" not in client.output
    assert "OpenXR runtime" in client.output, client.output


def test_bedside_view_is_world_locked_at_real_scale(rig, xr_root):
    """Bedside: each eye is the headset's, placed in the world; the image is the room
    renderer's picture from there; moving the head moves the eyes by as much."""
    from sim.render import RenderView
    from sim.xr.client import VrClient, VrOptions

    server, service, hub = rig
    client = start_client(
        xr_root, service, server.port, "bedside", "--mode", "bedside", "--watch",
        "--seconds", "40", "--capture-every", "5", "--no-hud",
    )  # fmt: skip
    try:
        assert client.wait_for_line("OpenXR session: FOCUSED", 180), client.output
        time.sleep(4.0)
        hub.head_position_m = (0.10, 1.6, 0.0)  # a step of 10 cm to the right
        hub.send()
        time.sleep(4.0)
    finally:
        hub.head_position_m = (0.0, 1.6, 0.0)
        hub.send()
        client.process.send_signal(2)
        code = client.wait(120)
    assert code == 0, client.output
    captures = [np.load(p) for p in client.captures()]
    assert len(captures) >= 4, client.output
    eyes = np.array([c["X_WE"][0][:3, 3] for c in captures])
    assert np.ptp(np.linalg.norm(eyes - eyes[0], axis=1)) == pytest.approx(0.10, abs=0.01)
    # the eyes' right (camera x) is the step's direction; their height never changed
    right = captures[0]["X_WE"][0][:3, 0]
    step = eyes[int(np.argmax(np.linalg.norm(eyes - eyes[0], axis=1)))] - eyes[0]
    assert step @ right == pytest.approx(0.10, abs=0.01) and abs(step[2]) < 1e-3
    # the image is the room renderer's from that eye, through the headset's frustum
    description = host_description(server.viewer)
    c = captures[-1]
    h, w = c["left"].shape[:2]
    vr = VrClient(VrOptions(mode="bedside"))
    vr._lamp = c["X_WL"]
    renderer = vr._renderer(description, (w, h))
    try:
        from OpenGL import GL  # after a renderer chose PyOpenGL's platform

        from tests.sim.render.test_render_views import _read, _target

        fbo, _ = renderer.call(_target, GL, w, h, GL.GL_SRGB8_ALPHA8)
        view = RenderView(c["X_WE"][0], c["projection"][0], fbo, (0, 0, w, h))
        renderer.render_views(c["X_WN"], [view], c["X_WL"])
        expected = renderer.call(_read, GL, fbo, w, h)
    finally:
        renderer.close()
    assert expected.std() > 3  # something is drawn: the task and the instruments
    assert np.abs(c["left"].astype(int) - expected.astype(int)).mean() < 2.0
