"""``surgisim serve`` with real device processes on loopback, as a trainee's console runs.

Every process is the real one: the server (``surgisim serve``, storing into a temporary
records store through ``XDG_DATA_HOME``), the synthetic devices (``surgisim device
synthetic``, one per hand), a hostile sender. The tests read what the server stored
(``scenarios.records``) and what it published (a plain bus client), never its insides.
Margins, not timings: the machine may be loaded and the server may not keep real time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from haptics.bus.contract import pose_from_payload
from haptics.bus.errors import BusTimeoutError
from haptics.bus.ports import free_port_block
from haptics.teleop.pipeline import LATE_SAMPLE_REASONS
from scenarios.records import Records
from tests.sim.server.test_server import Device

REPO = Path(__file__).resolve().parents[3]
FUZZ_SENDER = REPO / "tests" / "haptics" / "bus" / "fuzz_sender.py"
PSEUDONYM = "calm-heron-4242"


class LiveServer:
    """``surgisim serve SCENARIO`` as a subprocess on a free block of ports, storing into
    ``tmp_path``; its output goes to files (a long session would fill a pipe)."""

    def __init__(self, tmp_path: Path, scenario: str, *args: str) -> None:
        self.port = free_port_block()
        self.data = tmp_path / "data"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "XDG_DATA_HOME": str(self.data),
            "COLUMNS": "200",
        }
        self.out_path = tmp_path / "serve.out"
        self.err_path = tmp_path / "serve.err"
        self._out = self.out_path.open("w")
        self._err = self.err_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sim.cli", "serve", scenario, "--port", str(self.port),
             "--trainee", PSEUDONYM, *args],
            env=self.env, cwd=REPO, stdout=self._out, stderr=self._err,
        )  # fmt: skip
        self.devices: list[subprocess.Popen] = []

    def device(self, *args: str, log: Path | None = None) -> subprocess.Popen:
        """Start ``surgisim device synthetic ARGS`` against this server."""
        err = (log or Path(os.devnull)).open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "sim.cli", "device", "synthetic", "--port", str(self.port),
             *args],
            env=self.env, cwd=REPO, stdout=err, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.devices.append(proc)
        return proc

    def watcher(self, names=(), timeout_s: float = 240.0) -> Device:
        """A plain bus client (publishing ``names`` as devices at 1 kHz when given), once
        the server answers (it may take a loaded machine a minute to start)."""
        end = time.monotonic() + timeout_s
        while True:
            assert self.proc.poll() is None, self.output()
            try:
                return Device(self.port, names=tuple(names))
            except BusTimeoutError:
                if time.monotonic() > end:
                    raise

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout_s)
        finally:
            self._out.flush()
            self._err.flush()

    def output(self) -> str:
        self._out.flush()
        self._err.flush()
        return self.out_path.read_text() + self.err_path.read_text()

    def records(self) -> Records:
        return Records(f"sqlite:///{self.data / 'surgisim' / 'records.sqlite'}")

    def close(self) -> None:
        for p in [*self.devices, self.proc]:
            if p.poll() is None:
                p.kill()
                p.wait(30)
        self._out.close()
        self._err.close()


@pytest.fixture
def live(tmp_path):
    servers: list[LiveServer] = []

    def start(scenario: str, *args: str) -> LiveServer:
        servers.append(LiveServer(tmp_path, scenario, *args))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def _until(predicate, timeout_s: float, every_s: float = 0.1) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every_s)
    return False


def _tip(watcher: Device, arm: str) -> np.ndarray:
    return pose_from_payload(watcher.latest(f"{arm}/measured_cp"))[:3, 3]


# ---- 3. garbage at every socket during a live session ---------------------------------------
def _raw_tcp_garbage(port: int, rng: np.random.Generator, rounds: int) -> int:
    """Bytes that are not even ZMTP on all three ports (a port scanner); returns how many
    connections were made."""
    n = 0
    for _ in range(rounds):
        for p in (port, port + 1, port + 2):
            with socket.create_connection(("127.0.0.1", p), timeout=2) as s:
                s.sendall(rng.bytes(int(rng.integers(1, 4096))))
            n += 1
    return n


@pytest.mark.slow  # ~45 s on a loaded two-core machine
def test_garbage_at_every_socket_moves_nothing_and_the_stored_session_counts_it(live, tmp_path):
    """100k malformed messages (random frames, truncated and padded msgpack, wrong types,
    NaN, oversized, unknown topics; the device ones on MTMR's own topics) at the SUB and
    ROUTER sockets, raw bytes at all three ports, while MTMR's instrument follows a still
    hand: it does not move, the session ends (the sender's ``stop``) and is stored with
    every dropped message counted by reason. A viewer's ``frame_timing`` reports of the
    same session are stored beside them and shown in the report."""
    from haptics.bus.frame_timing import FrameTimingMeter
    from haptics.bus.sockets import ClientBus

    server = live("needle-handover")
    hands = server.watcher(names=("MTMR", "MTML"))
    viewer = None
    try:
        assert hands.wait_aligning("PSM1", 120), server.output()
        hands.follow("MTMR", "PSM1")  # a loaded machine may hold the arm: clutch again
        time.sleep(1.0)
        start = {arm: _tip(hands, arm) for arm in ("PSM1", "PSM2")}
        # a desktop window reporting its display: 60 Hz, every 10th frame shown twice
        viewer = ClientBus(port=server.port)
        viewer.wait_ready(60)
        meter = FrameTimingMeter(target_period_s=1 / 60, report_period_s=0.25)
        t = 0.0
        for k in range(600):
            t += 2 / 60 if k % 10 == 9 else 1 / 60
            fields = meter.frame(t)
            if fields is not None:
                viewer.publish("VIEW/frame_timing", fields)
        viewer.publish("VIEW/frame_timing", meter.payload())
        sender = subprocess.Popen(
            [sys.executable, str(FUZZ_SENDER), f"tcp://127.0.0.1:{server.port + 1}",
             f"tcp://127.0.0.1:{server.port + 2}", "5", "50000", "MTMR"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        moved = {arm: 0.0 for arm in start}
        rng = np.random.default_rng(9)
        raw = 0
        while sender.poll() is None:
            try:
                raw += _raw_tcp_garbage(server.port, rng, 1)
            except ConnectionRefusedError:
                # the sender's last message is its stop: the server may have closed its
                # ports before the sender exits (a race the faster drain made likelier)
                assert server.wait(60) == 130, server.output()
                break
            for arm in start:
                moved[arm] = max(moved[arm], float(np.linalg.norm(_tip(hands, arm) - start[arm])))
            time.sleep(0.2)
        out, _ = sender.communicate(timeout=60)
        assert sender.returncode == 0, out
        sent = json.loads(out)
    finally:
        hands.close()
        if viewer is not None:
            viewer.close()
    assert server.wait(180) == 130, server.output()  # stopped before the end: incomplete
    assert "Traceback" not in server.output()
    assert raw >= 3
    # nothing moved: a still hand, still instruments (the tremor-free hand is exactly still)
    assert max(moved.values()) < 1e-3, moved
    row = server.records().session(1)
    assert not row.completed and row.operator == "trainee"
    bus = row.conditions["bus"]
    dropped, dropped_requests = bus["messages"]["dropped"], bus["requests"]["dropped"]
    # every malformed message was taken off its socket and counted (a few more: libzmq
    # reads raw bytes that do not start a ZMTP 3 greeting as ZMTP 1.0 frames, which the
    # server then drops too); none was accepted as a sample of MTMR: its seq never jumped
    assert sum(dropped.values()) >= sent["sub_garbage"], (dropped, sent)
    assert sum(dropped_requests.values()) >= sent["router_garbage"], (dropped_requests, sent)
    assert row.conditions["devices"]["MTMR"]["restarts"] == 0
    common = ("wrong_frame_count", "too_large", "bad_msgpack", "bad_fields", "non_finite")
    for reason in common:
        assert dropped[reason] > 0 and dropped_requests[reason] > 0, reason
    assert dropped["unknown_topic"] > 0 and dropped_requests["unknown_request"] > 0
    # the good samples of the unknown device GOOD arrived (and drove nothing)
    good = row.conditions["devices"]["GOOD"]
    assert good["samples"] == sent["sub_good"], (good, sent, bus)
    assert row.conditions["devices"]["MTMR"]["lost"] == 0
    # the viewer's display timing, aggregated
    view = row.conditions["frame_timing"]["VIEW"]
    assert view["frames"] == 600 and view["missed"] == 60
    assert view["target_period_s"] == pytest.approx(1 / 60)
    assert abs(view["frame_period_s_p50"] - 1 / 60) < 1e-6
    assert 1.5 / 60 < view["frame_period_s_p99_worst"] <= 2 / 60 + 1e-9
    report = tmp_path / "report.html"
    from typer.testing import CliRunner

    from sim.cli import app

    db = f"sqlite:///{server.data / 'surgisim' / 'records.sqlite'}"
    result = CliRunner().invoke(app, ["report", "1", "--db", db, "--out", str(report)])
    assert result.exit_code == 0, result.stdout
    assert "VIEW display: frame 16.7 ms p50" in report.read_text()


# ---- 2. a device process dies mid-session and comes back -------------------------------------
def _events(row) -> list:
    from scenarios.trace import SessionTrace

    return SessionTrace.load(row.trace_path).events


@pytest.mark.slow  # ~70 s on a loaded two-core machine
def test_a_killed_device_holds_its_arms_and_a_restarted_one_carries_on(live, tmp_path):
    """``surgisim device synthetic`` (both hands) is SIGKILLed while the arms follow: both
    hold where they are and the server logs it; started again, the device engages them
    (aligned hands, a clutch tap: the operators tap when they see HOLDING), they follow
    again and the exercise goes on to the end: stored completed, scored, with the holds
    in its events. (The server's watchdog itself is tested with a silent hand in
    tests/sim/server; this is a real process dying.)"""
    server = live("needle-handover")
    first = server.device("--seed", "4", log=tmp_path / "device1.out")
    watcher = server.watcher()
    try:
        both = ("PSM1", "PSM2")

        def states():
            return {arm: watcher.state(arm) for arm in both}

        assert watcher.wait_for(lambda: set(states().values()) == {"FOLLOWING"}, 240), (
            states(),
            (tmp_path / "device1.out").read_text(),
        )
        time.sleep(1.5)  # the operators are reaching for the needle
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        assert watcher.wait_for(lambda: set(states().values()) == {"HOLDING"}, 30), states()
        held = {arm: _tip(watcher, arm) for arm in both}
        time.sleep(1.5)
        for arm in both:  # held still while nobody drives them
            assert np.linalg.norm(_tip(watcher, arm) - held[arm]) < 1e-3, arm
        step_at_kill = (watcher.latest("session/step") or {}).get("index", 0)
        second = server.device("--seed", "5", log=tmp_path / "device2.out")
        assert watcher.wait_for(lambda: set(states().values()) == {"FOLLOWING"}, 120), (
            states(),
            (tmp_path / "device2.out").read_text(),
        )
        assert second.wait(300) == 0, (tmp_path / "device2.out").read_text()
    finally:
        watcher.close()
    assert server.wait(120) == 0, server.output()
    out = server.output()
    assert "Traceback" not in out and "stored as session 1" in out
    row = server.records().session(1)
    assert row.completed and row.operator == "trainee", row.metrics
    assert row.original_score.score > 0
    assert (watcher.latest("session/step") or {}).get("index", 0) >= step_at_kill
    events = _events(row)
    holds = [e for e in events if e.kind == "holding"]
    assert {e.data.get("arm") for e in holds} == set(both), [(e.kind, e.data) for e in holds]
    # the device restarted: the server saw its samples' seq start again
    assert all(row.conditions["devices"][d]["restarts"] >= 1 for d in ("MTMR", "MTML"))
    text = (tmp_path / "device2.out").read_text()
    assert "3/3 steps" in text and "completed" in text


# ---- 1. two device processes, one per hand ------------------------------------------------
def _two_hands(live, tmp_path, scenario: str, timeout_s: float, *serve_args: str):
    """``surgisim serve SCENARIO [SERVE_ARGS]`` and one ``surgisim device synthetic --name``
    process per hand, each seeing only the bus; returns the stored session, the devices'
    output and exit codes, and everything every process printed (for failure messages)."""
    server = live(scenario, *serve_args)
    logs = {name: tmp_path / f"{name}.out" for name in ("MTMR", "MTML")}
    procs = {name: server.device("--name", name, "--seed", "2", log=log)
             for name, log in logs.items()}  # fmt: skip
    codes = {name: proc.wait(timeout_s) for name, proc in procs.items()}
    # a session whose hands gave up goes on to its time limit (up to 300 s for peg transfer)
    assert server.wait(timeout_s) == 0, _all_output(server, logs)
    out = server.output()
    assert "Traceback" not in out and "stored as session 1" in out, _all_output(server, logs)
    outputs = {n: log.read_text() for n, log in logs.items()}
    return server.records().session(1), outputs, codes, _all_output(server, logs)


def _all_output(server, logs: dict) -> str:
    """The devices' logs and the server's console, labelled: one hand's failure is often
    the other's story."""
    parts = [f"--- {name} ---\n{log.read_text()}" for name, log in logs.items()]
    return "\n".join([*parts, f"--- server ---\n{server.output()}"])


def _starved(row, events) -> list[str]:
    """Why the device processes of a session could not keep up, if they could not: the
    server's loop fell behind real time, or an arm held because its device went silent or
    its samples came late (the teleoperation watchdog's reasons)."""
    loop = row.conditions["loop"]
    why = [] if loop["kept_real_time"] else [f"real time x{loop['real_time_ratio']:.2f}"]
    for e in events:
        detail = str(e.data.get("detail", ""))
        if e.kind == "holding" and detail.startswith(LATE_SAMPLE_REASONS):
            why.append(f"{e.data.get('arm')}: {detail}")
    return why


def _check_two_handed(run, scenario: str, steps: int) -> None:
    """The two processes drove one stored, scored session between them. They complete it
    on a machine that keeps up. On one that starves them (the session records the loop
    behind real time, or arms held for late or missing samples: a CI machine ~2x slower
    than this one ran the peg transfer's 150 s of plan in 300 s, 11 of 12 steps, and its
    time limit ended it; under a busy loop here, arms held for stale samples ~90 times, a
    ring was knocked out of reach and both plans gave up on it at 10 of 12 steps), they
    must still have made most of the exercise and ended as a person would: on the time
    limit, giving up on what they could not do, or on an arm that kept holding (with a
    busy loop on one of the two cores a process stopped after 5 tries to re-engage, at 4
    of 12 steps), each saying so and exiting 1; the session itself ends on its time limit.
    Two steps done show the two processes' plans still worked together (each step is a
    handover between them). The test warns what starved them."""
    from scenarios.trace import SessionTrace

    row, outputs, codes, everything = run
    assert row.scenario == scenario and row.operator == "trainee", everything
    score = row.original_score
    assert 0.0 <= score.score <= 100.0 and score.rule
    trace = SessionTrace.load(row.trace_path)
    assert 0 < trace.time_s[-1] <= row.sim_time_s + 0.01
    starved = _starved(row, trace.events)
    if row.completed:
        assert trace.completed and score.score > 0.0, everything
        assert set(codes.values()) == {0}, (codes, everything)
        for text in outputs.values():
            assert f"{steps}/{steps} steps" in text and "completed" in text, everything
    else:
        # not completed: only a machine that starved the processes excuses it
        assert starved, ("not completed on a machine that kept up", everything)
        done = sum(e.kind == "step_done" for e in trace.events)
        assert done >= 2, (done, everything)
        ends = {1: ("failed: time limit", "gave up"), 2: ("did not start following after",)}
        for name, text in outputs.items():
            said = ends.get(codes[name], ())
            assert any(end in text for end in said), (name, codes, everything)
            assert "Traceback" not in text, everything
        warnings.warn(
            f"{scenario}: {done}/{steps} steps before the time limit on a machine that "
            f"starved the device processes ({len(starved)} reasons, first {starved[:3]})",
            stacklevel=2,
        )
    # both instruments were driven, each by its own process
    for arm in ("PSM1", "PSM2"):
        path = np.linalg.norm(np.diff(trace.instruments[arm].tip_position_m, axis=0), axis=1)
        assert path.sum() > 0.05, arm
    for name, arm, other in (("MTMR", "PSM1", "PSM2"), ("MTML", "PSM2", "PSM1")):
        text = outputs[name]
        assert f"driving ['{arm}'] through ['{name}'], watching ['{other}']" in text, text
        assert row.conditions["devices"][name]["samples"] > 1000
    # the two plans agreed: each saw the other hand do what it expected, nearly always
    # (a wait not met in time is caught up by the next; 4 were seen once in needle
    # handover with the faster expert, on an idle machine, and the run still completed).
    # A machine too busy to keep real time starves the device processes: arms hold for
    # silence, the processes re-engage them, and waits run out (16 in one CI run, 2x slower
    # than real time; still completed). The session then says so, which is checked here.
    for name, text in outputs.items():
        assert text.count("did not") <= 6 or starved, (name, text, row.conditions["loop"])


def test_two_device_processes_hand_the_needle_over(live, tmp_path):
    """Needle handover, one process per hand: the left picks the needle up, the right takes
    it in mid-air, hands it back: each hand's process drives its own instrument and
    watches the other on the bus. (~30 s of wall time on a loaded two-core machine.)"""
    _check_two_handed(_two_hands(live, tmp_path, "needle-handover", 300), "needle-handover", 3)


@pytest.mark.slow
def test_two_device_processes_complete_the_peg_transfer(live, tmp_path):
    """Peg transfer (12 mid-air handovers, ~150 s at real time for the expert), one
    process per hand, with the server's loop under real-time scheduling where the machine
    permits it, as a training console should run it: without it, on a 2-core machine
    shared with the two device processes, 8-12% of ticks overran and each process
    missed 5-6 partner waits (bench/RESULTS.md). (1 run in 3 also never started the
    exercise: on a server that slow the synthetic hands moved several times faster in
    simulated time than planned and knocked ring 0; they now keep pace with the
    simulation, sim.devices.pacing, and a run at 0.67x real time completed.) The default
    scheduling is what the needle handover above and the other live tests run."""
    run = _two_hands(live, tmp_path, "peg-transfer", 1200, "--realtime")
    _check_two_handed(run, "peg-transfer", 12)


# ---- 5. the end of a failed session, as a device hears it ----------------------------------
def test_a_failed_session_s_score_says_why_it_failed(live, tmp_path):
    """``session/score`` carries ``stopped_by`` and ``failure``: a device that lost the
    ``failed`` event on the lossy publish channel still learns the verdict and why."""
    from tests.sim.view.test_practice import SCENARIO

    text = (
        SCENARIO.format(center="[0.0, 0.05, 0.05]")
        .replace("time_limit_s: 240", "time_limit_s: 4")
        .replace("title: Touch the spot", "title: Touch the [bold]spot[/bold]")
    )
    path = tmp_path / "touch.yaml"
    path.write_text(text)
    server = live(str(path))
    hands = server.watcher(names=("MTMR", "MTML"))
    try:
        assert hands.wait_for(lambda: hands.latest("session/score") is not None, 120), (
            server.output()
        )
        score = hands.latest("session/score")
        ending = hands.latest("session/ending")  # said before the silent scoring
    finally:
        hands.close()
    assert server.wait(120) == 0, server.output()
    # the author's title whole (Rich took its brackets for markup)
    assert "serving 'Touch the [bold]spot[/bold]'" in server.output()
    assert score["stopped_by"] == "failed" and not score["completed"], score
    assert "time limit" in score["failure"], score
    assert ending["reason"] == "failed" and ending["failure"] == score["failure"], ending
    failed = [e for e in _events(server.records().session(1)) if e.kind == "failed"]
    assert failed and failed[-1].data["reason"] == score["failure"]
