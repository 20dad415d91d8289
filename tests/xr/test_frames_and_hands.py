"""The headset client's geometry and master-hand logic, without a runtime: frames,
headset projections, the grip re-based at clutch-in (checked against the server's own
teleoperation), vibration, frame timing and the remote driver's wire format."""

from __future__ import annotations

import itertools
import math
import struct

import numpy as np
import pytest

from kinematics.transforms import matrix_to_quat_xyzw, quat_xyzw_to_matrix, rotation_angle
from sim.xr.frames import (
    BedsidePlacement,
    fov_projection,
    heading_frame,
    symmetric_fov,
)
from sim.xr.hands import GRIPPER_OPEN_RAD, MasterHand, vibration_amplitude
from sim.xr.timing import FrameRecord, FrameTimer


def random_rotation(rng) -> np.ndarray:
    q = rng.normal(size=4)
    return quat_xyzw_to_matrix(q / np.linalg.norm(q))


def rot(axis, angle) -> np.ndarray:
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


def pose(R=None, p=(0.0, 0.0, 0.0)) -> np.ndarray:
    X = np.eye(4)
    X[:3, :3] = np.eye(3) if R is None else R
    X[:3, 3] = p
    return X


def test_quaternions_round_trip(rng):
    for _ in range(50):
        R = random_rotation(rng)
        q = matrix_to_quat_xyzw(R)
        assert q[3] >= 0 and abs(np.linalg.norm(q) - 1) < 1e-12
        assert np.allclose(quat_xyzw_to_matrix(q), R, atol=1e-12)


def test_symmetric_headset_fov_is_the_renderers_perspective():
    from sim.render.camera import perspective

    fov_y, aspect = math.radians(70), 4 / 3
    P = fov_projection(*symmetric_fov(fov_y, aspect), 0.005, 0.3)
    assert np.allclose(P, perspective(fov_y, aspect, 0.005, 0.3), atol=1e-12)


def test_off_centre_fov_maps_its_frustum_edges_to_the_image_edges():
    left, right, up, down = -0.9, 0.7, 0.8, -0.95  # a headset eye: wider towards the nose
    near, far = 0.05, 10.0
    P = fov_projection(left, right, up, down, near, far)
    for (ax, ay), (nx, ny) in (
        ((left, 0.0), (-1.0, None)),
        ((right, 0.0), (1.0, None)),
        ((0.0, up), (None, 1.0)),
        ((0.0, down), (None, -1.0)),
    ):
        z = 2.0  # a point 2 m ahead (OpenXR view: -z) at that angle
        point = np.array([z * math.tan(ax), z * math.tan(ay), -z, 1.0])
        clip = P @ point
        ndc = clip[:3] / clip[3]
        if nx is not None:
            assert ndc[0] == pytest.approx(nx, abs=1e-9)
        if ny is not None:
            assert ndc[1] == pytest.approx(ny, abs=1e-9)
    for d, expected in ((near, -1.0), (far, 1.0)):
        clip = P @ np.array([0, 0, -d, 1.0])
        assert clip[2] / clip[3] == pytest.approx(expected, abs=1e-9)


def test_master_frame_is_levelled_and_follows_the_heading_not_the_gaze():
    # a head turned 90° to the left and looking 40° down at the hands
    R_SH = rot((0, 1, 0), math.pi / 2) @ rot((1, 0, 0), -math.radians(40))
    X_SM = heading_frame(pose(R_SH, (0.3, 1.6, -0.2)))
    x, y, z = X_SM[:3, 0], X_SM[:3, 1], X_SM[:3, 2]
    assert np.allclose(y, (0, -1, 0))  # down is gravity's down
    assert np.allclose(z, (-1, 0, 0), atol=1e-12)  # the heading: the head's levelled -z
    assert np.allclose(x, (0, 0, -1), atol=1e-12)  # the trainee's right
    assert np.allclose(np.cross(x, y), z)  # right-handed
    with pytest.raises(ValueError, match="straight up or down"):
        heading_frame(pose(rot((1, 0, 0), -math.pi / 2)))


def test_bedside_places_the_work_area_ahead_at_table_height():
    centre = np.array([0.1, -0.2, 0.05])
    X_WC = pose(rot((1, 0, 0), math.radians(-150)) @ rot((0, 0, 1), 0.4), (0.3, -0.1, 0.2))
    placement = BedsidePlacement.beside(centre, X_WC, distance_m=0.9, work_height_m=1.0)
    X_SW = np.linalg.inv(placement.X_WS)
    c_S = X_SW[:3, :3] @ centre + X_SW[:3, 3]
    assert np.allclose(c_S, (0.0, 1.0, -0.9), atol=1e-12)  # ahead (-z), 1 m above the floor
    # a standing eye looking ahead (OpenXR -z) looks along the scope's levelled direction
    X_WE = placement.eye_in_world(pose(p=(0, 1.7, 0)))
    view = X_WC[:3, 2] * (1, 1, 0)
    assert np.allclose(X_WE[:3, 2], view / np.linalg.norm(view), atol=1e-12)
    assert np.allclose(X_WE[:3, 1], (0, 0, -1), atol=1e-12)  # image down is world down


def test_clutch_rebases_the_grip_onto_the_instrument_then_rotations_carry_over(rng):
    R_CM = rot((0, 0, 1), 0.3)  # a console not quite aligned with the viewer
    hand = MasterHand("MTMR", "PSM1", R_CM)
    X_WT = pose(random_rotation(rng), (0.1, 0.0, 0.05))
    X_WC = pose(random_rotation(rng), (0.0, -0.1, 0.2))
    grip = pose(random_rotation(rng), (0.02, 0.1, 0.3))  # however the trainee holds it
    out = hand.sample(grip, 0.0, False, False, X_WT, X_WC)
    assert hand.align_error_rad(out.X_MG, X_WT, X_WC) > math.radians(10)  # not aligned
    for _ in range(5):  # clutch held: every sample is aligned, wherever the hand turns
        grip = pose(random_rotation(rng), grip[:3, 3])
        out = hand.sample(grip, 0.0, True, False, X_WT, X_WC)
        assert hand.align_error_rad(out.X_MG, X_WT, X_WC) < 1e-9
        assert np.allclose(out.X_MG[:3, 3], grip[:3, 3])  # positions are never re-based
    released = hand.sample(grip, 0.0, False, False, X_WT, X_WC).X_MG
    assert hand.align_error_rad(released, X_WT, X_WC) < 1e-9
    # following: turning the controller by dR in M turns the published handle by dR,
    # and a moving instrument never re-bases the grip (only the clutch does)
    dR = rot((0.2, 1.0, -0.3), 0.5)
    moved_tool = pose(random_rotation(rng), X_WT[:3, 3])
    turned = hand.sample(pose(dR @ grip[:3, :3], grip[:3, 3]), 0.0, False, False, moved_tool, X_WC)
    assert np.allclose(turned.X_MG[:3, :3], dR @ released[:3, :3], atol=1e-12)
    assert rotation_angle(released[:3, :3].T @ turned.X_MG[:3, :3]) == pytest.approx(0.5)


def test_the_aligned_hand_is_what_the_servers_teleoperation_accepts(rng):
    """Independent check: the server's own pipeline (haptics.teleop) computes the aligned
    handle for its target; the client's re-basing must agree with it."""
    from haptics.teleop import TeleopConfig, Teleoperation

    R_CM = rot((1, 0.5, 0), 0.2)
    config = TeleopConfig(R_CM=tuple(map(tuple, R_CM)))
    for _ in range(5):
        X_RT = pose(random_rotation(rng), (0.0, 0.0, 0.1))
        X_RC = pose(random_rotation(rng), (0.05, -0.02, 0.0))
        teleop = Teleoperation(config, X_RT, X_RC)
        expected = teleop.aligned_hand_rotation(X_RC)
        # the client sees world poses; with W = R they are the same frames
        got = MasterHand("MTMR", "PSM1", R_CM).aligned_rotation(X_RT, X_RC)
        assert np.allclose(got, expected, atol=1e-9)


def test_trigger_closes_the_gripper_and_the_open_angle_is_the_servers():
    from haptics.teleop import TeleopConfig

    assert pytest.approx(TeleopConfig().gripper_max_rad) == GRIPPER_OPEN_RAD
    hand = MasterHand("MTML", "PSM2")
    X = np.eye(4)
    assert hand.sample(X, 0.0, False, False).gripper_rad == pytest.approx(GRIPPER_OPEN_RAD)
    assert hand.sample(X, 1.0, False, False).gripper_rad == 0.0
    assert hand.sample(X, 0.5, False, True).camera


def test_vibration_grows_with_force_and_saturates():
    amps = [vibration_amplitude([0.0, f, 0.0]) for f in np.linspace(0, 6, 61)]
    assert amps[0] == 0.0 and vibration_amplitude([0.1, 0, 0]) == 0.0  # deadband
    assert all(b >= a for a, b in itertools.pairwise(amps))
    assert amps[-1] == 1.0 and vibration_amplitude([2.0, 0, 0]) == pytest.approx(1.85 / 2.85)
    assert vibration_amplitude([math.nan, 0, 0]) == 0.0


def test_the_vibration_is_full_at_the_servers_force_limit():
    """servo_cf never exceeds the server's max_force_n (3 N): a cue that saturated at 4 N
    could never reach its top quarter. The limit comes from hello."""
    from haptics.force import ForceFeedbackConfig
    from sim.xr.hands import full_vibration_n

    limit = ForceFeedbackConfig().max_force_n
    assert full_vibration_n({}) == limit
    assert vibration_amplitude([0.0, limit, 0.0], full_vibration_n({})) == 1.0
    hello = {"force_feedback": {"max_force_n": 5.0}}
    assert full_vibration_n(hello) == 5.0
    assert vibration_amplitude([0.0, 3.0, 0.0], full_vibration_n(hello)) < 1.0
    for nonsense in (math.nan, -1.0, "3", None, 0.0):
        assert full_vibration_n({"force_feedback": {"max_force_n": nonsense}}) == limit


def test_frame_timer_counts_skipped_display_slots():
    timer = FrameTimer()
    period = 11_111_111
    slots = [0, 1, 2, 5, 6, 8]  # two jumps: 3 slots (2 missed) and 2 slots (1 missed)
    for i, slot in enumerate(slots):
        timer.add(FrameRecord(i, 10**9 + slot * period, period, 0.002, 0.004, True))
    summary = timer.summary()
    assert timer.missed == 3 and summary["missed"] == 3
    assert summary["paced"] == 9 and summary["submitted"] == 6
    assert summary["work_ms"]["p50"] == pytest.approx(4.0)
    timer.set_eye_ms(3, [2.0, 1.5])
    assert timer.summary()["eye_ms"][1]["max"] == 1.5
    assert timer.summary(skip=3)["missed"] == 1


def test_frame_timer_counts_slots_at_the_period_each_frame_was_given():
    """A runtime that went from 50 ms to 100 ms slots mid-run was counted at the last
    period over the whole span: "775 submitted of 776, paced 414, missed 0"."""
    timer = FrameTimer()
    display = 10**9
    for i in range(20):  # 10 frames at 50 ms, then 10 at 100 ms, none skipped
        period = 50_000_000 if i < 10 else 100_000_000
        display += period if i else 0
        timer.add(FrameRecord(i, display, period, 0.002, 0.004, True))
    summary = timer.summary()
    assert summary["paced"] == 20 and summary["missed"] == 0 and timer.missed == 0
    assert summary["period_ms"] == pytest.approx(75.0)  # the median of the periods given


def test_the_bus_report_counts_the_slots_the_terminal_counts():
    """The headset's ``XR/frame_timing`` carries the terminal's "paced" and "missed" (slots
    without a frame) and its late frames: a probe's stored session said "24.7% of 255
    frames missed" (its late frames) where the terminal said "paced 415, missed 154"."""
    from types import SimpleNamespace

    from sim.xr.client import VrClient, VrOptions

    client = VrClient(VrOptions(), log=lambda *_: None)
    sent = []
    feed = SimpleNamespace(bus=SimpleNamespace(publish=lambda topic, f: sent.append(f)))
    period_ns = 100_000_000
    gaps = [1, 1, 3, 1, 2, 1, 4, 1, 1, 2] * 4  # display periods between frames
    display_ns = 10**12
    for index, gap in enumerate([0, *gaps]):
        display_ns += gap * period_ns
        late = index % 3 == 1
        client.timer.add(FrameRecord(index, display_ns, period_ns, 0.0, 0.01, index > 0, late))
        info = SimpleNamespace(period_ns=period_ns)
        client._report_frame(feed, info, display_ns * 1e-9, late)
    summary = client.timer.summary()
    report = client._meter.payload()
    assert summary["missed"] > summary["late"]  # the figures differ: the test tells them apart
    assert report["paced"] == summary["paced"] and report["missed_slots"] == summary["missed"]
    assert report["late"] == summary["late"] and report["frames"] == summary["frames"]
    assert sent and sent[-1]["missed_slots"] <= summary["missed"]


def test_remote_driver_packet_layout():
    """The r_remote_data wire format (Monado's remote driver, "mndrmt3")."""
    from sim.xr.monado import REMOTE_PACKET_BYTES, RemoteHub

    hub = RemoteHub.__new__(RemoteHub)  # no connection: only the packing
    hub.head_position_m, hub.head_orientation_xyzw, hub.ipd_m = (0, 1.6, 0), (0, 0, 0, 1), 0.064
    from sim.xr.monado import RemoteController

    hub.left = RemoteController(position_m=(-0.2, 1.3, -0.5))
    hub.right = RemoteController(position_m=(0.25, 1.2, -0.4), trigger=0.75)
    hub.right.buttons = {"active": True, "a_click": True}
    data = hub.packet()
    assert len(data) == REMOTE_PACKET_BYTES == 376 and data[:8] == b"mndrmt3\0"
    right = 8 + 128 + 120
    assert struct.unpack_from("<7f", data, right) == pytest.approx((0, 0, 0, 1, 0.25, 1.2, -0.4))
    assert struct.unpack_from("<f", data, right + 72)[0] == pytest.approx(0.75)  # trigger
    flags = data[right + 104 : right + 120]
    assert flags[1] == 1 and flags[4] == 1 and sum(flags) == 2  # active, a_click
    views = struct.unpack_from("<4f7fI4f7fI", data, 8)
    assert views[8] == pytest.approx(-0.032) and views[20] == pytest.approx(0.032)
