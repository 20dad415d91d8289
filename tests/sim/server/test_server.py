"""The training server on real loopback sockets, with a scripted device in a thread.

The device here is deliberately simple (a hand held at a pose, moved on command); the
synthetic operators over the bus are tested with the device processes. Margins, not
timings: the machine may not keep real time, and the tests must not care.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import numpy as np
import pytest

from haptics.bus.contract import pose_from_payload, pose_payload
from haptics.bus.sockets import ClientBus
from kinematics.transforms import quat_xyzw_to_matrix, rotation_angle
from scenarios.loader import load_scenario
from sim.server.publish import ChannelDelay
from sim.server.server import ServeConfig, TrainingServer


class Device:
    """A master device on the bus: publishes its hand at ~1 kHz from a thread."""

    def __init__(
        self, port: int, names=("MTMR", "MTML"), period_s: float = 0.001, curve=None, silent=()
    ) -> None:
        self.period_s = period_s
        self.bus = ClientBus(port=port, curve=curve)
        self.hello = self.bus.wait_ready(30)
        self.names = names
        self.hand = {n: np.eye(4) for n in names}
        self.clutch = {n: False for n in names}
        self.gripper = {n: 0.3 for n in names}
        self.silent: set[str] = set(silent)
        #: per device, how many more hand samples it sends before falling silent (none: all)
        self.budget: dict[str, int] = {}
        self._next_seq: dict[str, int] = {}  # per device: the seq its next measured_cp gets
        self.inbox: list = []
        self.sent: dict[int, float] = {}  # seq of MTMR/measured_cp -> send time
        self._stop = False
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        next_t = time.monotonic()
        while not self._stop:
            for n in self.names:
                if n in self.silent:
                    continue
                if n in self.budget:
                    if self.budget[n] <= 0:
                        continue
                    self.budget[n] -= 1
                self.bus.publish(f"{n}/gripper/measured_js", {"position_rad": [self.gripper[n]]})
                self.bus.publish(f"{n}/clutch", {"pressed": self.clutch[n]})
                seq = self.bus.publish(f"{n}/measured_cp", pose_payload(self.hand[n]))
                with self._lock:
                    self._next_seq[n] = seq + 1
                if n == "MTMR":
                    self.sent[seq] = time.monotonic()
            messages = self.bus.poll(0)
            if messages:
                now = time.monotonic()
                with self._lock:
                    self.inbox += [(now, m) for m in messages]
            next_t += self.period_s
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_t = time.monotonic()

    def latest(self, topic: str):
        with self._lock:
            for _, m in reversed(self.inbox):
                if m.topic == topic:
                    return m.payload
        return None

    def wait_for(self, predicate, timeout_s: float = 30.0) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.02)
        return False

    def state(self, arm: str) -> str | None:
        p = self.latest(f"{arm}/operating_state")
        return None if p is None else p["state"]

    def seen(self, arm: str) -> str:
        """What this device has seen of an arm, for a failed wait's message: its states in
        order (repeats folded), the last ``operating_state``, and how much came and went."""
        with self._lock:
            states = [m.payload.get("state") for _, m in self.inbox
                      if m.topic == f"{arm}/operating_state"]  # fmt: skip
            received, sent = len(self.inbox), len(self.sent)
        folded = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
        return (
            f"{arm} states {folded[-12:]}, last {self.latest(f'{arm}/operating_state')}; "
            f"{received} messages received, {sent} MTMR samples sent"
        )

    def seen_alignment(self, arm: str) -> np.ndarray:
        """The hand orientation (M) matching the instrument as seen through the camera,
        from the measured poses."""
        R_CM = np.asarray(self.hello["teleop"][arm]["R_CM"])
        X_WT = pose_from_payload(self.latest(f"{arm}/measured_cp"))
        X_WC = pose_from_payload(self.latest(f"{self.hello['camera_arm']}/measured_cp"))
        return R_CM.T @ X_WC[:3, :3].T @ X_WT[:3, :3]

    def align(self, device: str, arm: str) -> None:
        """Turn the hand to the orientation the server says its alignment gate accepts."""
        xyzw = self.latest(f"{arm}/operating_state")["aligned_hand_xyzw"]
        hand = self.hand[device].copy()
        hand[:3, :3] = quat_xyzw_to_matrix(xyzw)
        self.hand[device] = hand

    def clutch_cycle(self, device: str) -> None:
        """Press the clutch for 0.1 s, and until the server has used 20 samples sent
        pressed (the ``used_seq`` of the arm's messages), then release. A ~0.12 s pause
        of the test runner's process (seen in a long run of several test files; its cause
        was not pinned down) once made the whole 0.1 s press reach the server as one stale
        batch, which a holding arm ignores: the press was never seen, and the arm held."""
        arm = self.hello["devices"][device]
        with self._lock:
            first = self._next_seq.get(device, 0)
        self.clutch[device] = True
        time.sleep(0.1)

        def used() -> int:
            latest = self.latest(f"{arm}/measured_cp") or {}
            return int(latest.get("used_seq", -1))

        self.wait_for(lambda: used() >= first + 20, 5.0)
        self.clutch[device] = False

    def wait_aligning(self, arm: str, timeout_s: float = 30.0) -> bool:
        """Wait until the arm is ALIGNING: enabled, with this device's samples fresh.

        A held arm is brought back as a trainee would: the watchdog holds an arm on a stale
        or missing sample, in ALIGNING too, and lets it go only after a fresh clutch cycle.
        This thread shares the test process (and its GIL) with the server's loop: a CI run
        starved it once at the start, PSM1 held, and the wait saw HOLDING for 30 s."""
        return self._bring(arm, "ALIGNING", timeout_s)

    def follow(self, device: str = "MTMR", arm: str = "PSM1", timeout_s: float = 60.0) -> None:
        """To FOLLOWING as a trainee gets there: align the hand, clutch; and where the
        watchdog held the arm (this thread starved, see ``wait_aligning``), clutch again."""
        assert self.hello["devices"][device] == arm, (device, arm)
        if not self._bring(arm, "FOLLOWING", timeout_s):
            raise AssertionError(self.seen(arm))

    def _bring(self, arm: str, target: str, timeout_s: float) -> bool:
        """Act as a trainee until the arm is in ``target`` (ALIGNING or FOLLOWING): a held
        arm gets a clutch cycle; towards FOLLOWING, an aligning one the aligned hand and a
        clutch cycle. False when ``timeout_s`` passed first."""
        device = {a: d for d, a in self.hello["devices"].items()}[arm]
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            state = self.state(arm)
            if state == target:
                return True
            engage = state == "ALIGNING" and target == "FOLLOWING"
            if engage:
                self.align(device, arm)
            if engage or state == "HOLDING":
                self.clutch_cycle(device)
                self.wait_for(lambda was=state: self.state(arm) != was, 2.0)
            time.sleep(0.02)
        return False

    def command(self, command: str, arm: str = "all") -> bool:
        """A ``state_command`` request (enable, disable, pause, resume); whether it was ok."""
        request = {"request": "state_command", "arm": arm, "command": command}
        return bool(self.bus.request(request, timeout_s=10)["ok"])

    def close(self) -> None:
        self._stop = True
        self.thread.join()
        self.bus.close()


class Served:
    """A server running in a thread until stopped."""

    def __init__(self, scenario: str = "needle-handover", **config) -> None:
        self.server = TrainingServer(
            load_scenario(scenario),
            seed=0,
            config=ServeConfig(port=0, **config),
            say=lambda s: None,
        )
        self.stopped = False
        self.outcome = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.outcome = self.server.run(stop=lambda: self.stopped, max_duration_s=120)

    def stop(self):
        self.stopped = True
        self.thread.join(timeout=60)
        return self.outcome

    def close(self) -> None:
        self.server.close()


def test_hello_tells_a_device_what_it_needs(served):
    device = Device(served.server.port)
    try:
        hello = device.hello
        assert hello["contract"] == 1 and hello["scenario"] == "needle-handover"
        assert hello["devices"] == {"MTMR": "PSM1", "MTML": "PSM2"}
        assert "scene/state" in hello["topics"] and hello["rates_hz"]["physics"] == 500.0
        assert "steps:" in hello["scenario_yaml"]
        assert hello["time_limit_s"] == 120.0  # a window shows the cut-off beside its timer
        assert hello["teleop"]["PSM1"]["align_tolerance_rad"] == pytest.approx(np.radians(10))
        assert hello["teleop"]["PSM1"]["max_tip_speed_m_s"] == 0.2  # a window names the limit
        # what servo_cf is made of: a device recovers the tip force or scales its own way
        force = hello["force_feedback"]
        assert force["force_scale"] == pytest.approx(1 / 3) and force["max_force_n"] == 3.0
        assert force["cutoff_hz"] > 0 and force["max_force_rate_n_s"] > 0
        scene = device.bus.request({"request": "hello", "scene": True}, timeout_s=10)["scene"]
        assert any(n["name"] == "pad" for n in scene["nodes"])
    finally:
        device.close()


def test_aligning_then_following_moves_the_instrument_with_the_hand(served):
    device = Device(served.server.port)
    try:
        assert device.wait_aligning("PSM1"), device.seen("PSM1")
        assert device.latest("PSM1/operating_state")["align_error_rad"] > np.radians(10)
        # at rest, the gate's orientation is what the measured poses show, give or take
        R = quat_xyzw_to_matrix(device.latest("PSM1/operating_state")["aligned_hand_xyzw"])
        assert rotation_angle(R.T @ device.seen_alignment("PSM1")) < np.radians(2)
        device.follow("MTMR", "PSM1")
        before = pose_from_payload(device.latest("PSM1/measured_cp"))[:3, 3]
        hand = device.hand["MTMR"].copy()
        hand[:3, 3] += (0.03, 0.0, 0.0)  # 3 cm to the right in the view
        device.hand["MTMR"] = hand
        time.sleep(1.5)
        after = pose_from_payload(device.latest("PSM1/measured_cp"))[:3, 3]
        moved = np.linalg.norm(after - before)
        assert 0.005 < moved < 0.02, moved  # 1 cm at 3:1, give or take the filter
        force = device.latest("MTMR/servo_cf")
        assert force is not None and len(force["force_n"]) == 3
    finally:
        device.close()


def test_a_125_hz_device_gets_a_tremor_filter_made_for_125_hz(served):
    """A VR controller sends 125 Hz; the server's pipelines start designed for 1 kHz.
    Before the arm follows, the server measures the rate from the stamps, re-makes the
    filter and says so on session/events, as docs/bus.md promises."""
    device = Device(served.server.port, period_s=1 / 125)
    try:
        assert device.wait_aligning("PSM1"), device.seen("PSM1")

        def announced() -> list:
            with device._lock:
                events = [
                    e
                    for _, m in device.inbox
                    if m.topic == "session/events"
                    for e in m.payload["events"]
                ]
            return [e for e in events if e["kind"] == "filter_rate"]

        assert device.wait_for(lambda: len(announced()) == 2, 10.0), announced()
        arms = sorted(e["data"]["arm"] for e in announced())
        assert arms == ["PSM1", "PSM2"]
        assert all("(was 1000 Hz)" in e["data"]["detail"] for e in announced())
    finally:
        device.close()


def test_a_125_hz_device_has_its_steps_spread_over_its_period(served):
    """Over the bus too, a VR controller's rate, once measured, makes each arm it drives
    spread its target's steps over the controller's 8 ms (physics here: 500 Hz), so the
    tool moves every physics step instead of every fourth (haptics/teleop/ramp.py)."""
    device = Device(served.server.port, period_s=1 / 125)
    try:
        assert device.wait_aligning("PSM1"), device.seen("PSM1")
        teleops = served.server.session.teleops
        assert device.wait_for(lambda: teleops["PSM1"].spread_s > 0.0, 10.0)
        assert teleops["PSM1"].spread_s == pytest.approx(1 / 125, rel=0.1)
        assert teleops["PSM1"].config.loop_rate_hz == 500.0
    finally:
        device.close()


def test_a_silent_device_holds_its_arm_until_a_fresh_clutch(served):
    device = Device(served.server.port)
    try:
        device.follow("MTMR", "PSM1")
        device.silent.add("MTMR")  # unplugged
        assert device.wait_for(lambda: device.state("PSM1") == "HOLDING")
        held = pose_from_payload(device.latest("PSM1/measured_cp"))[:3, 3]
        device.silent.discard("MTMR")  # back, without a clutch: still holding
        time.sleep(0.5)
        assert device.state("PSM1") == "HOLDING"
        now = pose_from_payload(device.latest("PSM1/measured_cp"))[:3, 3]
        assert np.linalg.norm(now - held) < 1e-3
        # a clutch lets it go. A pause of this process around the press (a garbage
        # collection) can make the samples stale and the watchdog hold the arm again,
        # rightly: as a trainee would, clutch again while it holds
        for _ in range(10):
            assert device.state("PSM1") == "HOLDING", device.seen("PSM1")  # until pressed
            device.clutch_cycle("MTMR")
            if device.wait_for(lambda: device.state("PSM1") in ("ALIGNING", "FOLLOWING"), 5.0):
                break
        else:
            raise AssertionError(f"held after 10 clutch cycles: {device.seen('PSM1')}")
    finally:
        device.close()
    outcome = served.stop()
    kinds = [e.kind for e in outcome.trace.events if e.data.get("arm") == "PSM1"]
    assert "holding" in kinds


def test_a_device_heard_while_waiting_that_then_falls_silent_holds_its_arm(served):
    """A bus fuzzer's device sent samples while the server waited for devices, then went
    silent: its arm stayed ALIGNING (no sample had reached the arm, so no watchdog ran)
    and followed the returning device with no clutch cycle."""
    server = served.server
    device = Device(server.port, silent={"MTML"})
    try:
        # MTMR heard first proves the publisher's path to the server is up; then MTML
        # sends one sample, which the wait for devices takes, and nothing more
        assert device.wait_for(lambda: server.missing_devices == frozenset({"MTML"}))
        device.budget["MTML"] = 1
        device.silent.discard("MTML")
        assert device.wait_for(lambda: device.state("PSM2") == "HOLDING"), device.seen("PSM2")
        device.budget.pop("MTML")  # back, hand aligned, clutch never pressed: still held
        device.align("MTML", "PSM2")
        time.sleep(0.5)
        assert device.state("PSM2") == "HOLDING", device.seen("PSM2")
    finally:
        device.close()
    outcome = served.stop()
    holds = [e for e in outcome.trace.events if e.kind == "holding" and e.data.get("arm") == "PSM2"]
    assert holds and "no sample" in holds[0].data["detail"], holds
    lost = [e.data for e in outcome.trace.events if e.kind == "device_lost"]
    # said on the console too; on a starved machine the test's own sender thread may
    # fall silent past the gap timeout as well (MTMR lost and back): MTML must be there
    assert "MTML" in [d["device"] for d in lost], lost


def test_garbage_on_every_socket_moves_nothing_and_is_counted(served):
    import zmq

    device = Device(served.server.port)
    try:
        assert device.wait_aligning("PSM1"), device.seen("PSM1")
        before = pose_from_payload(device.latest("PSM1/measured_cp"))[:3, 3]
        ctx = zmq.Context.instance()
        # an XPUB, to send only once the server's subscription has come: a PUB drops what
        # it sends before, and a loaded machine may take longer than any fixed sleep
        pub = ctx.socket(zmq.XPUB)
        pub.connect(f"tcp://127.0.0.1:{served.server.port + 1}")
        assert pub.poll(10_000), "the server never subscribed"
        pub.recv()
        dealer = ctx.socket(zmq.DEALER)  # queues until connected: nothing is lost
        dealer.connect(f"tcp://127.0.0.1:{served.server.port + 2}")
        rng = np.random.default_rng(0)
        for k in range(3000):
            junk = rng.bytes(int(rng.integers(0, 200)))
            pub.send_multipart([b"MTMR/measured_cp", junk])
            pub.send_multipart([junk])
            dealer.send_multipart([b"", junk])
            if k % 500 == 0:
                time.sleep(0.05)
        time.sleep(1.0)
        after = pose_from_payload(device.latest("PSM1/measured_cp"))[:3, 3]
        assert np.linalg.norm(after - before) < 1e-3
        counters = served.server.bus.counters.as_dict()
        dropped = sum(counters["messages"]["dropped"].values())
        assert dropped >= 3000
        pub.close(0)
        dealer.close(0)
    finally:
        device.close()
    assert served.stop().stopped_by == "interrupted"


def test_stop_request_ends_the_session(served):
    device = Device(served.server.port)
    try:
        assert device.bus.request({"request": "stop"}, timeout_s=10)["ok"]
    finally:
        device.close()
    assert served.stop().stopped_by == "stop request"


def test_a_realtime_server_serves_and_records_the_scheduling_it_got():
    """``realtime=True``: the loop thread asks for SCHED_FIFO; where the machine permits
    it the outcome says so, elsewhere it says why not, and the session runs either way."""
    s = Served(realtime=True)
    device = Device(s.server.port)
    try:
        # the loop runs under SCHED_FIFO in this very process, beside the device thread: a
        # pause of the device thread at the start (over 30 ms) lets the watchdog hold the
        # arm, which waits for a clutch (a wait without one saw HOLDING for 120 s)
        assert device.wait_aligning("PSM1", 120), device.seen("PSM1")
        time.sleep(0.5)  # the loop runs a while under the policy it got
        assert device.bus.request({"request": "stop"}, timeout_s=10)["ok"]
    finally:
        device.close()
    try:
        outcome = s.stop()
        # the loop thread has ended (with it the policy it ran under): one left running
        # under SCHED_FIFO would take a core from the tests after this one
        assert not s.thread.is_alive(), "the realtime server's loop thread did not end"
    finally:
        s.close()
    assert outcome.stopped_by == "stop request" and outcome.loop.ticks > 10
    got = outcome.scheduling
    assert got.realtime == ("SCHED_FIFO" in got.detail)
    if not got.realtime:
        assert "normal scheduling" in got.detail


def _round_trip_s(delays: dict) -> float:
    """Median device sample -> first servo_cf that used it (s), on a server with delays."""
    s = Served(delays=delays)
    device = Device(s.server.port, names=("MTMR", "MTML"))
    try:
        assert device.wait_for(lambda: device.latest("MTMR/servo_cf") is not None)
        time.sleep(2.0)
        with device._lock:
            received = [(t, m) for t, m in device.inbox if m.topic == "MTMR/servo_cf"]
        first_seen: dict[int, float] = {}
        for t, m in received:
            used = m.payload["used_seq"]
            if used >= 0 and used not in first_seen:
                first_seen[used] = t
        delays_s = [first_seen[k] - device.sent[k] for k in first_seen if k in device.sent]
        # enough samples for a median: idle ~1,000 in the 2 s; a loaded CI machine's
        # device thread got 175 through, against an old bar of 200
        assert len(delays_s) > 50, len(delays_s)
        return float(np.median(delays_s))
    finally:
        device.close()
        s.stopped = True
        s.thread.join(timeout=60)
        s.close()


def test_injected_command_latency_is_what_the_device_sees():
    """150 ms asked on the command channel: the round trip grows by 150 ms over the same
    server without it, measured one after the other (the tick and loopback cost is in
    both, so the machine's load mostly cancels out).

    Never less than asked: the delayed round trip itself is at least 150 ms (1 ms for
    clocks). Judged on the round trip, not on its growth over the baseline: the two runs
    are seconds apart, and a CI run measured a baseline of 8.3 ms beside a delayed trip
    of 156.6 ms (so +148.2 ms), the machine slower during the first run than the second.

    Above the baseline by at most three physics periods: a delayed sample is released at
    the first read of the socket after it is due and used at the next tick (up to a
    period), where an undelayed one starts its tick early (``align_ticks``); the third
    period is for a loaded machine's scheduling (a CI run with tests beside it measured
    +4.3 ms, against a bar of 3 ms then). A line that doubled the delay, or dropped it,
    is still far outside."""
    baseline = _round_trip_s({})
    delayed = _round_trip_s({"command": ChannelDelay(latency_s=0.15)})
    assert baseline < 0.05, baseline
    period_s = 1.0 / load_scenario("needle-handover").scene.physics_rate_hz
    assert delayed > 0.150 - 0.001, (delayed, baseline)
    assert delayed - baseline - 0.150 < 3 * period_s, (delayed, baseline)


def test_with_curve_only_allowed_clients_get_in(tmp_path):
    from haptics.bus.errors import BusSecurityError
    from haptics.bus.security import ClientCurve, ServerCurve, new_keypair

    keys = tmp_path / "keys"
    allowed = tmp_path / "allowed"
    server_keys = new_keypair("server", keys)
    device_keys = new_keypair("device", keys)
    stranger_keys = new_keypair("stranger", tmp_path / "other")
    allowed.mkdir()
    (allowed / "device.key").write_bytes(device_keys.public.read_bytes())
    s = Served(curve=ServerCurve.from_files(server_keys.secret, allowed))
    try:
        good = ClientBus(
            port=s.server.port, curve=ClientCurve.from_files(device_keys.secret, server_keys.public)
        )
        hello = good.wait_ready(20)
        assert hello["scenario"] == "needle-handover"
        good.close()
        bad = ClientBus(
            port=s.server.port,
            curve=ClientCurve.from_files(stranger_keys.secret, server_keys.public),
        )
        with pytest.raises(BusSecurityError):
            bad.wait_ready(5)
        bad.close()
        assert s.server.bus.counters.refused_clients >= 1

        # a device key's role (roles.yaml) lets it enable the arm its device drives only
        (allowed / "roles.yaml").write_text("device: device:MTMR\n")
        time.sleep(0.6)  # past the allow list's look-again interval
        own, other = hello["devices"]["MTMR"], hello["devices"]["MTML"]
        device = ClientBus(
            port=s.server.port, curve=ClientCurve.from_files(device_keys.secret, server_keys.public)
        )
        try:
            assert device.wait_ready(20)["ok"]

            def enable(arm: str) -> dict:
                request = {"request": "state_command", "arm": arm, "command": "enable"}
                return device.request(request, timeout_s=5.0)

            assert enable(own)["ok"] is True
            refused = enable(other)
            assert refused["ok"] is False
            assert f"it may not enable {other!r}" in refused["error"]
            assert "'device:MTMR'" in refused["error"]
            assert enable("all")["ok"] is False
        finally:
            device.close()
    finally:
        s.stopped = True
        s.thread.join(timeout=60)
        s.close()


def test_frame_timing_reports_are_validated_and_kept_per_client(served):
    """A viewer's ``frame_timing`` (optional topic) is kept per client for the session's
    conditions; a report that cannot be (more missed frames than frames) is dropped and
    counted like any bad message, and changes nothing."""
    from haptics.bus.frame_timing import FrameTimingMeter

    device = Device(served.server.port)
    viewer = ClientBus(port=served.server.port)
    try:
        viewer.wait_ready(30)
        meter = FrameTimingMeter(target_period_s=1 / 90, report_period_s=0.1)
        t = 0.0
        for k in range(270):  # 3 s at 90 Hz; every 30th frame shown twice
            t += 2 / 90 if k % 30 == 29 else 1 / 90
            fields = meter.frame(t)
            if fields is not None:
                viewer.publish("XR/frame_timing", fields)
        viewer.publish("XR/frame_timing", meter.payload())
        import msgpack

        bad = {"v": 1, "stamp_s": 1.0, "seq": 99, "frames": 1, "missed": 5,
               "frame_period_s_p50": 0.01, "frame_period_s_p99": 0.02}  # fmt: skip
        viewer._pub.send_multipart([b"XR/frame_timing", msgpack.packb(bad)])
        # what an outside fuzzer had stored in the trainee's record, under a device's name
        absurd = {"v": 1, "stamp_s": 1.0, "seq": 0, "frames": 2**62, "missed": 2**62,
                  "frame_period_s_p50": 1e300, "frame_period_s_p99": 1e300}  # fmt: skip
        viewer._pub.send_multipart([b"MTMR/frame_timing", msgpack.packb(absurd)])
        assert device.wait_for(
            lambda: (
                served.server.frame_timing.summary().get("XR", {}).get("frames") == 270
                and served.server.bus.counters.messages.dropped.get("bad_fields", 0) >= 2
            )
        ), served.server.frame_timing.summary()
    finally:
        viewer.close()
        device.close()
    problem = served.server.bus.counters.messages.last_problem("bad_fields")
    assert "'frames' is 4611686018427387904, expected at most" in problem, problem
    outcome = served.stop()
    assert "MTMR" not in outcome.frame_timing
    xr = outcome.frame_timing["XR"]
    assert xr["frames"] == 270 and xr["missed"] == 9 and xr["restarts"] == 0
    assert abs(xr["frame_period_s_p50"] - 1 / 90) < 1e-6
    assert 1.5 / 90 < xr["frame_period_s_p99_worst"] <= 2 / 90 + 1e-9  # p99 of a window


def _received(device: Device, topic: str, since: float) -> list[dict]:
    with device._lock:
        return [m.payload for t, m in device.inbox if m.topic == topic and t >= since]


def test_a_pause_keeps_every_stream_going_and_says_paused(served):
    """A pause (of one arm or all: it pauses the whole session) published nothing at all
    until resumed: a viewer could not tell it from a dead server, and devices take 1.5 s
    of silence for a lost one. Now the last state goes out at the usual rates with
    ``paused: true``, and force feedback (zero) at its own."""
    device = Device(served.server.port)
    try:
        assert device.wait_aligning("PSM1"), device.seen("PSM1")
        assert device.latest("PSM1/operating_state")["paused"] is False
        assert device.command("pause", "PSM1")
        time.sleep(0.2)  # what was sent before the pause has arrived
        start = time.monotonic()
        time.sleep(1.0)
        for arm in ("PSM1", "PSM2"):
            states = _received(device, f"{arm}/operating_state", start)
            assert len(states) >= 5 and all(p["paused"] for p in states), (arm, len(states))
        assert len(_received(device, "scene/state", start)) >= 20
        forces = _received(device, "MTMR/servo_cf", start)
        assert len(forces) >= 50 and all(f["force_n"] == [0.0, 0.0, 0.0] for f in forces)
        times = {p["time_s"] for p in _received(device, "scene/state", start)}
        assert len(times) == 1  # simulated time stands still
        assert device.command("resume")
        assert device.wait_for(lambda: device.latest("PSM1/operating_state")["paused"] is False)
    finally:
        device.close()


def test_a_device_gone_during_a_pause_holds_its_arm_after_the_resume(served):
    """A resume restarts every arm's stream, and the gap watchdog waited for a first
    sample that a device unplugged during the pause never sent: its following arm
    stayed ALIGNING and took the returning hand without a clutch cycle."""
    device = Device(served.server.port)
    try:
        device.follow("MTMR", "PSM1")
        assert device.command("pause")
        device.silent.add("MTMR")  # unplugged while paused
        time.sleep(0.2)
        assert device.command("resume")
        assert device.wait_for(lambda: device.state("PSM1") == "HOLDING"), device.seen("PSM1")
    finally:
        device.close()


def test_a_server_waiting_for_a_device_says_which():
    """With only MTMR there, the server waited for MTML publishing nothing at all (and
    answered ``enable`` with ok): a one-handed client could not tell what went on. Now
    each arm's operating_state says what the server waits for."""
    s = Served()
    device = Device(s.server.port, names=("MTMR",))
    try:

        def waiting_for(arm: str):
            return (device.latest(f"{arm}/operating_state") or {}).get("waiting_for")

        assert device.wait_for(lambda: waiting_for("PSM2") == ["MTML"], 10), waiting_for("PSM2")
        assert waiting_for("PSM1") == ["MTML"] and device.state("PSM2") == "DISABLED"
        assert device.command("enable", "PSM1")
        assert device.wait_for(lambda: device.state("PSM1") == "ALIGNING", 10)
        assert device.latest("PSM1/operating_state")["waiting_for"] == ["MTML"]
        # samples the bus refused for their key (roles.yaml) are named in the waiting line
        from haptics.bus.errors import BusMessageError

        counters = s.server.bus.counters.messages
        counters.drop(BusMessageError("not_permitted", "samples as 'MTML' ..."), "laptop")
        note = s.server._waiting_note({"MTML"})
        assert note.startswith("still waiting for: MTML (samples refused from the key laptop:")
        assert "roles.yaml" in note
    finally:
        device.close()
        s.stopped = True
        s.thread.join(timeout=60)
        s.close()


def _bursty_share(used_seq: list[int]) -> float:
    """The share of the device samples that ``servo_cf`` named 3 times or more: samples
    that came in bursts (a loaded machine), each burst answered by its newest sample."""
    repeats = Counter(Counter(used_seq).values())
    return sum(n for times, n in repeats.items() if times >= 3) / max(len(set(used_seq)), 1)


def test_hello_tells_the_servo_cf_rate_a_1_khz_device_gets(served):
    """hello said ``servo_cf: 500`` (the physics rate) while a 1 kHz device got ~970 Hz:
    feedback also goes out between physics steps, after each device sample. hello now
    gives the cap, and a 1 kHz device gets more feedback than physics steps, up to it.
    Counted against the steps the server made in the same window (a loaded machine runs
    it below real time); where the samples came in bursts (one read per step took them
    all: 511 a second once, loaded) only one answer per step is owed.

    The feedback counted is what the server sent in the window (its ``stamp_s``, the
    same monotonic clock), taken after the window: a starved device thread receives the
    last tens of milliseconds late (beside three busy loops: 622 received by the window's
    end for 661 steps)."""
    device = Device(served.server.port)
    world = served.server.session.world
    try:
        rates = device.hello["rates_hz"]
        assert rates["servo_cf"] == 1000.0 and rates["physics"] == 500.0
        assert device.wait_for(lambda: device.latest("MTMR/servo_cf") is not None)
        start, start_steps = time.monotonic(), world.step_count
        time.sleep(2.0)
        steps, end = world.step_count - start_steps, time.monotonic()
        wall_s = end - start
        after = lambda: any(f["stamp_s"] > end  # noqa: E731
                            for f in _received(device, "MTMR/servo_cf", start))  # fmt: skip
        assert device.wait_for(after, 10.0)  # what the window sent is in
        forces = [f for f in _received(device, "MTMR/servo_cf", start)
                  if start <= f["stamp_s"] <= end]  # fmt: skip
    finally:
        device.close()
    assert len(forces) <= rates["servo_cf"] * wall_s * 1.05, (len(forces), wall_s)
    bursty = _bursty_share([f["used_seq"] for f in forces if f["used_seq"] >= 0])
    owed = 0.95 if bursty > 0.05 else 1.1
    assert len(forces) > owed * steps, (len(forces), steps, f"{bursty:.0%} bursty")


def test_the_hand_moved_during_a_pause_does_not_move_the_tool_on_resume(served):
    """While paused the device's samples are dropped; the trainee's hand goes on moving.
    On resume the mapping is captured afresh (as after a clutch): the tool carries on
    from where it stopped, it does not catch up with where the hand went meanwhile (it
    did: 1 cm at the tool for a 3 cm move). Following on afterwards: test_teleop."""
    device = Device(served.server.port)
    try:
        device.follow("MTMR", "PSM1")
        assert device.command("pause")
        time.sleep(0.3)
        before = pose_from_payload(device.latest("PSM1/measured_cp"))[:3, 3]
        hand = device.hand["MTMR"].copy()
        hand[:3, 3] += (0.03, 0.0, 0.0)  # 3 cm while paused: 1 cm at the tool, were it used
        device.hand["MTMR"] = hand
        time.sleep(0.3)
        assert device.command("resume")
        time.sleep(1.5)
        after = pose_from_payload(device.latest("PSM1/measured_cp"))[:3, 3]
        assert np.linalg.norm(after - before) < 0.001, after - before
        events = [
            (e["kind"], e["data"].get("detail"))
            for _, m in device.inbox
            if m.topic == "session/events"
            for e in m.payload["events"]
            if e["data"].get("arm") == "PSM1"
        ]
        # unless a loaded machine's late samples made the arm hold, it re-aligned on resume
        if not any(kind == "holding" for kind, _ in events[-6:]):
            assert ("aligning", "the session resumed") in events, events
    finally:
        device.close()


def test_a_between_step_feedback_names_the_sample_just_taken_not_the_steps():
    """The server's feedback path itself, driven by hand (no threads, no clock): the live
    test below needs samples that come one by one, which a loaded machine seldom gives.
    After a step that used sample 10, sample 11 taken between steps (``Session.command``)
    is what the next ``servo_cf`` names; it named the step's 10.

    The clock is driven by hand too: on the real one, a pause of the test process (a
    garbage collection late in a long run) between stamping a sample and using it made
    the sample stale (30 ms), and the arm rightly held."""
    from haptics.master import MasterSample

    clock_s = [100.0]
    server = TrainingServer(
        load_scenario("needle-handover"),
        seed=0,
        config=ServeConfig(port=0),
        say=lambda s: None,
        clock=lambda: clock_s[0],
    )
    try:
        session, sent = server.session, []
        server.publisher.force_due = lambda now: True
        server.publisher.force = lambda now, device, f, t, used_seq: sent.append((device, used_seq))
        X_MH = np.eye(4)
        X_MH[2, 3] = 0.05
        state = session.step({"PSM1": [MasterSample(session.now_s(), X_MH, 0.5, seq=10)]})
        server._feedback(session.now_s(), state)
        assert sent == [("MTMR", 10), ("MTML", -1)]  # MTML sent nothing: -1
        for seq in (11, 12):
            sent.clear()
            clock_s[0] += 0.001  # a 1 kHz device between 500 Hz steps
            session.command({"PSM1": [MasterSample(session.now_s(), X_MH, 0.5, seq=seq)]})
            server._feedback(session.now_s(), state)  # between steps: the step's state
            assert sent == [("MTMR", seq), ("MTML", -1)]
    finally:
        server.close()


def test_feedback_between_steps_names_the_sample_it_answers(served):
    """A 1 kHz device, 500 Hz physics: every other servo_cf goes out between steps, for
    the sample just taken, but carried the last step's used_seq (about 494 distinct values
    a second in ~900 messages), so a device could not tell which sample it answered."""
    device = Device(served.server.port)
    try:
        assert device.wait_for(lambda: device.latest("MTMR/servo_cf") is not None)
        device.follow("MTMR", "PSM1")
        world = served.server.session.world
        start_s, start_steps = time.monotonic(), world.step_count
        time.sleep(2.0)
        pace = (world.step_count - start_steps) * world.dt / (time.monotonic() - start_s)
        with device._lock:
            used = [m.payload["used_seq"] for _, m in device.inbox if m.topic == "MTMR/servo_cf"]
    finally:
        device.close()
    recent = [u for u in used[-1000:] if u >= 0]
    assert len(recent) > 300
    # The share of distinct used_seq tells the fault only when samples come one by one:
    # then a value is named at most twice (its own between-step answer and the next
    # step's), and the fault made every between-step answer a copy of the step's (~494
    # distinct in ~900). Samples that arrive in bursts (a loaded machine, a loop behind
    # real time) are rightly answered many times by the newest of each burst, and the
    # share says nothing (403-627 distinct in 1000 on a machine where they came so).
    bursty = _bursty_share(recent)
    if pace < 0.9 or bursty > 0.05:
        pytest.skip(
            f"samples did not come one by one ({pace:.2f}x real time, {bursty:.0%} of the "
            "samples named 3 times or more): the share needs them one by one"
        )
    # the fault's signature is a share of ~0.55 (every between-step answer a copy of the
    # step's: 494 distinct in ~900); healthy, it is 0.77-1.0 (a sample that comes just
    # after a step is named by both that step's and the next answer: 771 in 1000 on this
    # session's machine, where 0.8 failed one run in six). 0.65 lies between the two
    assert len(set(recent)) > 0.65 * len(recent), (len(set(recent)), len(recent))


def test_a_teleoperated_scope_beside_instruments_is_enabled_with_the_hands(tmp_path):
    """With ``teleoperated: true`` on the ECM of an instrument scenario, the camera pedal
    froze the instrument while the scope, never enabled, moved nothing and said nothing:
    no device enables an arm it is not mapped to."""
    from scenarios.loader import resolve

    text = resolve("needle-handover").read_text()
    old = "      insertion_m: 0.06\n  camera:"
    assert old in text
    path = tmp_path / "nh-cam.yaml"
    path.write_text(
        text.replace(old, "      insertion_m: 0.06\n      teleoperated: true\n  camera:")
    )
    served = Served(str(path), wait_for_devices=False)
    try:
        deadline = time.monotonic() + 30
        teleops = served.server.session.teleops
        while time.monotonic() < deadline and teleops["ECM"].state == "DISABLED":
            time.sleep(0.05)
        assert teleops["ECM"].state != "DISABLED"
        assert served.server.router.camera_arm == "ECM"
    finally:
        served.stop()
        served.close()


def test_the_loop_steps_with_the_start_up_heap_frozen_and_reports_the_collector():
    """A full garbage-collector pass over the ~200,000 objects of a started server stopped
    its loop for 423 ms once in a live peg transfer: the loop runs with them frozen
    out of the passes (haptics.heap), says what the collector still cost it, and gives
    them back when it ends."""
    import gc

    from haptics import heap

    server = TrainingServer(
        load_scenario("needle-handover"),
        seed=0,
        config=ServeConfig(port=0, wait_for_devices=False),
        say=lambda s: None,
    )
    frozen_at_steps, step = [], server.session.step

    def counting_step(commands):
        if len(frozen_at_steps) < 3:  # the count walks every frozen object: not every step
            frozen_at_steps.append(gc.get_freeze_count())
        return step(commands)

    server.session.step = counting_step
    try:
        outcome = server.run(max_duration_s=0.5)
    finally:
        server.close()
    assert frozen_at_steps and min(frozen_at_steps) > 10_000
    assert gc.get_freeze_count() == 0 or heap._loops  # (an earlier test's loop still on)
    loop = outcome.loop
    assert 0.0 <= loop.collector_longest_ms < 1000.0 and loop.full_collections >= 0
    assert loop.as_dict()["collector_longest_ms"] == loop.collector_longest_ms
