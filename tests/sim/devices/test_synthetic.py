"""The synthetic device drives the live training server over real loopback sockets.

``surgisim device synthetic`` runs as its own process against a ``TrainingServer`` (the
server of ``surgisim serve``, in a thread): it engages both arms (aligned hands, enable,
clutch tap) and completes needle-handover's first step, the pick-up, from what it sees on
the bus alone: proof that the RemoteSession gives the plans what they need (landmarks,
poses, holders, tool tips, the frame mapping).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from tests.sim.devices.conftest import REPO, repo_env


def test_synthetic_device_completes_the_pick_up_over_the_bus(served):
    proc = subprocess.run(
        [
            sys.executable, "-m", "sim.cli", "device", "synthetic",
            "--port", str(served.port), "--steps", "1", "--seed", "3",
        ],
        env=repo_env(), cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    session = served.server.session
    assert proc.returncode == 0, proc.stderr
    assert served.error is None
    # the exercise's first step ("pick up the needle with the left instrument") is done
    assert session.runner.step_index >= 1, proc.stderr
    assert "PSM2" in session.holders("pad/needle") or session.runner.step_index >= 2
    # every sample of both devices arrived and was taken, in order
    devices = served.server.devices
    for device in ("MTMR", "MTML"):
        stats = devices.stats(device)
        assert stats.samples > 1000
        assert stats.lost == 0 and stats.restarts == 0 and stats.invalid_stamps == 0


def test_the_synthetic_device_needs_no_physics_engine():
    code = (
        "import sys\n"
        "import sim.devices.synthetic, sim.devices.remote, sim.cli.device\n"
        "import sim.session.plans.needles, sim.session.plans.peg_transfer\n"
        "import sim.session.plans.ring_walk, sim.session.plans.camera_targeting\n"
        "assert 'pybullet' not in sys.modules, 'pybullet was imported'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=repo_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


def test_synthetic_device_outlives_a_server_restart_and_stops_on_ctrl_c():
    import signal
    import threading
    import time

    from tests.sim.devices.conftest import Served, free_port

    port = free_port()
    first = Served(port=port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "device", "synthetic", "--port", str(port)],
        env=repo_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    second = None

    def wait_for(predicate, timeout_s=120.0) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and proc.poll() is None:
            if predicate():
                return True
            time.sleep(0.1)
        return False

    try:
        assert wait_for(lambda: first.server.devices.stats("MTMR").samples > 1500), lines
        first.close()  # the server goes away mid-exercise
        assert wait_for(lambda: any("lost the server" in s for s in lines)), lines
        second = Served(port=port)  # and a new one comes up on the same ports
        assert wait_for(lambda: second.server.devices.stats("MTML").samples > 1500), lines
        # the hands stream on while the plan unwinds: wait until it has started over
        assert wait_for(lambda: any("starting over" in s for s in lines)), lines
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(60) == 0
        reader.join(10)
        text = "".join(lines)
        # once for the restart; a server starved of CPU for over a second (the link's
        # liveness probe) may be reported lost again on a loaded machine
        assert text.count("lost the server") >= 1
        assert "starting over" in text
        assert "Traceback" not in text
    finally:
        if proc.poll() is None:
            proc.kill()
        first.close()
        if second is not None:
            second.close()


@pytest.mark.slow
def test_on_a_server_slower_than_real_time_the_hand_waits_for_the_simulation(served):
    """A server that steps at ~0.3x real time (a loaded machine; 4 ms more per 2 ms
    tick here): the synthetic hand keeps its moves at their planned speed in simulated
    time (it says how often it waited) and still picks the needle up."""
    session = served.server.session
    step = session.step

    def slow_step(commands=None):
        time.sleep(0.004)
        return step(commands)

    session.step = slow_step  # the server's loop calls the session's step per tick
    proc = subprocess.run(
        [
            sys.executable, "-m", "sim.cli", "device", "synthetic",
            "--port", str(served.port), "--steps", "1", "--seed", "5",
        ],
        env=repo_env(), cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert served.error is None
    assert session.runner.step_index >= 1, proc.stdout + proc.stderr
    waited = re.search(r"waited (\d+)x for a server slower than real time", proc.stdout)
    assert waited and int(waited.group(1)) > 0, proc.stdout


def test_the_final_score_decides_completion_when_the_completed_event_was_lost():
    """Over a lossy link (serve --loss 0.01) a device printed "2/3 steps, stopped" of a
    session the server scored as a pass: the `completed` event never reached it."""
    from types import SimpleNamespace

    from sim.devices.remote import RemoteRunner, RemoteSession

    remote = RemoteSession.__new__(RemoteSession)  # no bus: only the bookkeeping
    remote.runner = RemoteRunner(step_index=2, total=3)
    remote._apply(SimpleNamespace(topic="session/score", payload={"completed": True}))
    assert remote.runner.completed and remote.runner.step_index == 3
    failed = RemoteSession.__new__(RemoteSession)
    failed.runner = RemoteRunner(step_index=1, total=3)
    failed._apply(SimpleNamespace(topic="session/score", payload={"completed": False}))
    assert not failed.runner.completed and failed.runner.step_index == 1


def test_the_final_score_tells_a_failure_whose_failed_event_was_lost():
    """The `failed` event can be lost on a lossy link as `completed` was (above); the
    device then said "stopped" and exited 0 of a failed session. The score's
    ``stopped_by`` and ``failure`` now tell it; a stop is still a stop."""
    from types import SimpleNamespace

    from sim.devices.remote import RemoteRunner, RemoteSession

    def after(payload: dict) -> RemoteRunner:
        remote = RemoteSession.__new__(RemoteSession)  # no bus: only the bookkeeping
        remote.runner = RemoteRunner(step_index=10, total=12)
        remote._apply(SimpleNamespace(topic="session/score", payload=payload))
        return remote.runner

    reason = "time limit of 300 s reached"
    runner = after({"completed": False, "stopped_by": "failed", "failure": reason})
    assert runner.failed == reason and not runner.completed and runner.finished
    # a server that sent no reason (trimmed, or older): still a failure, said so
    runner = after({"completed": False, "stopped_by": "failed"})
    assert runner.failed and "not received" in runner.failed
    for stopped_by in ("stop request", "interrupted", "time"):
        runner = after({"completed": False, "stopped_by": stopped_by, "failure": None})
        assert runner.failed is None and runner.finished
    # the event, when it came, keeps its own words
    remote = RemoteSession.__new__(RemoteSession)
    remote.runner = RemoteRunner(step_index=10, total=12)
    remote.runner.failed = "ring dropped off the table"
    remote._apply(
        SimpleNamespace(topic="session/score", payload={"stopped_by": "failed", "failure": "x"})
    )
    assert remote.runner.failed == "ring dropped off the table"


def test_a_plan_that_runs_out_before_the_exercise_is_done_gave_up(served, monkeypatch):
    """The plan gave up on a ring knocked out of reach and ran out at 10/12 steps: the
    device printed "stopped" and exited 0 while the server's session went on to its time
    limit. Such a run now says it gave up (the CLI exits 1 for it)."""
    import sim.devices.synthetic as synthetic
    from haptics.devices.link import DeviceLink

    monkeypatch.setattr(synthetic, "END_WAIT_S", 0.5)
    monkeypatch.setattr(synthetic, "require_plan", lambda scenario: lambda demo: demo.wait(0.2))
    link = DeviceLink(["MTMR", "MTML"], port=served.port, notify=lambda s: None)
    try:
        assert link.connect(timeout_s=60) is not None
        result = synthetic.run_synthetic(link, seed=4)
    finally:
        link.close()
    assert result.gave_up and not result.completed and result.failed is None, result
    assert not result.lost and result.steps_done == 0 and result.samples > 100
    assert served.error is None


def test_a_failed_engagement_names_the_server_s_reason_to_hold():
    """A device process starved of CPU (a busy loop on one of two cores) stopped with "did
    not start following after 5 tries ...; is the server's teleoperation enabled?": the
    server held the arm for stale samples each time, and now the error says so."""
    from sim.devices.remote import RemoteSession
    from sim.devices.synthetic import _hold_reasons

    remote = RemoteSession.__new__(RemoteSession)  # no bus: only the events seen
    remote.events = [
        {"kind": "holding", "data": {"arm": "PSM2", "detail": "no sample for 101 ms"}},
        {"kind": "holding", "data": {"arm": "PSM1", "detail": "stale sample (40 ms old)"}},
        {"kind": "holding", "data": {"arm": "PSM2", "detail": "stale sample (33 ms old)"}},
        {"kind": "grasp", "data": {"arm": "PSM2", "object": "ring"}},
    ]
    said = _hold_reasons(remote, ["PSM2"])
    assert "PSM2: stale sample (33 ms old)" in said and "PSM1" not in said
    assert "too busy" in said
    remote.events = [{"kind": "holding", "data": {"arm": "PSM2", "detail": "clutch released"}}]
    assert "too busy" not in _hold_reasons(remote, ["PSM2"])
    assert _hold_reasons(remote, ["PSM1"]) == ""
