"""``surgisim serve`` as a user runs it: a subprocess, a device, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from haptics.bus.ports import free_port_block
from scenarios.records import Records
from sim.cli import app
from tests.sim.server.test_server import Device


def _serve_and_signal(tmp_path, signum: int, *extra: str, meanwhile=None, stores: bool = True):
    """Serve needle-handover with a device, send ``signum`` once PSM1 is aligning (after
    ``meanwhile()``, when given); the process's (stdout, stderr) and its records."""
    port = free_port_block()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "serve", "needle-handover", "--port", str(port),
         "--trainee", "calm-heron-4242", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    device = None
    try:
        device = Device(port)
        assert device.wait_aligning("PSM1", 60), device.seen("PSM1")
        time.sleep(1.0)
        if meanwhile is not None:
            meanwhile()
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if device is not None:
            device.close()
        if proc.poll() is None:
            proc.kill()
    # a session refused is an error (2), not the signal's stop
    assert proc.returncode == (128 + signum if stores else 2), stdout + stderr
    assert "Traceback" not in stderr
    assert ("stored as session 1" in stdout) == stores, stdout + stderr
    records = Records(f"sqlite:///{tmp_path / 'data' / 'surgisim' / 'records.sqlite'}")
    return stdout, stderr, records


def test_ctrl_c_mid_session_stores_it_as_incomplete(tmp_path):
    stdout, _, records = _serve_and_signal(tmp_path, signal.SIGINT, "--realtime")
    row = records.session(1)
    assert not row.completed and row.operator == "trainee"
    assert row.sim_time_s > 0.5
    assert row.conditions["loop"]["ticks"] > 100
    # --realtime: granted or not (it needs permission), what the loop got is said and kept
    scheduling = row.conditions["loop"]["scheduling"]
    assert "loop scheduling: " + scheduling["detail"] in " ".join(stdout.split())
    assert scheduling["realtime"] == ("SCHED_FIFO" in scheduling["detail"])
    # said before the session: needle-handover lists peg-transfer, never attempted here
    assert "calm-heron-4242 has not done peg-transfer (not attempted yet)" in " ".join(
        stdout.split()
    )


def test_serve_json_is_registered_so_forget_removes_it(tmp_path):
    """``serve --json`` (and ``practice --json``, which passes it on) wrote the result
    without registering it: ``trainee forget`` left it, with the session's id, score and
    metrics (report B, finding 3)."""
    result = tmp_path / "out" / "serve.json"
    _, _, records = _serve_and_signal(tmp_path, signal.SIGTERM, "--json", str(result))
    assert result.exists()
    assert (str(result), "json") in records.files_of("calm-heron-4242")
    gone = records.forget("calm-heron-4242")
    assert str(result) in gone.files and not result.exists()


def test_sigterm_mid_session_stores_it_as_incomplete(tmp_path):
    """kill, systemd and docker stop a server with SIGTERM: stored as Ctrl-C does, 143."""
    _, stderr, records = _serve_and_signal(tmp_path, signal.SIGTERM)
    assert "stopping: the session is stored as incomplete" in " ".join(stderr.split())
    row = records.session(1)
    assert not row.completed and row.operator == "trainee"
    assert row.sim_time_s > 0.5


def test_a_forget_on_a_clock_behind_the_servers_refuses_its_session(tmp_path, monkeypatch):
    """Report T, finding 1, through ``serve``: the trainee (new to the server) was
    forgotten with --force by a process whose clock is an hour behind the server's, and
    the server stored the session and made them again. The server keeps the records'
    forget count it read at its start, and that count says the forget came after."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    def forget_on_a_clock_an_hour_behind():
        real = time.time
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(time, "time", lambda: real() - 3600.0)
            Records().forget("calm-heron-4242", force=True)

    _, stderr, records = _serve_and_signal(
        tmp_path, signal.SIGTERM, meanwhile=forget_on_a_clock_an_hour_behind, stores=False
    )
    assert "after this run started, so their session is not stored" in " ".join(stderr.split())
    assert records.find_trainee("calm-heron-4242") is None and records.sessions() == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--latency-ms", "1e9"], "--latency-ms '1e9': at most 2000 ms"),
        (["--latency-ms", "command=2500"], "--latency-ms 'command=2500': at most 2000 ms"),
        (["--jitter-ms", "video=1e6"], "--jitter-ms 'video=1e6': at most 2000 ms"),
        (
            ["--map", "MTMR=PSM1", "--map", "MTML=PSM1"],
            "two devices (MTMR and MTML) for arm 'PSM1'",
        ),
        (["--map", "MTMR=PSM1", "--map", "MTMR=PSM2"], "device 'MTMR' is given twice"),
    ],
)
@pytest.mark.timeout(120)  # before the fix the latency cases served, waiting for devices
def test_options_no_session_can_run_under_are_refused_before_serving(
    tmp_path, monkeypatch, args, said
):
    """``--latency-ms 1e9`` (11 days) was accepted; ``--map MTMR=PSM1 --map MTML=PSM1``
    served with MTMR dropped and PSM2 without a device."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "300")
    out = CliRunner().invoke(
        app, ["serve", "needle-handover", "--port", "7861", "--seed", "1761", *args]
    )
    assert out.exit_code == 2, out.output
    assert said in " ".join(out.output.split())
    assert "serving" not in out.output


def test_latency_and_jitter_up_to_the_bound_are_taken():
    from sim.cli.serve import MAX_DELAY_MS, parse_channel_values

    assert MAX_DELAY_MS == 2000.0
    assert parse_channel_values(["2000"], "--latency-ms", 1e-3, MAX_DELAY_MS, " ms") == {
        "command": 2.0,
        "video": 2.0,
        "haptic": 2.0,
    }
    assert parse_channel_values(["haptic=0"], "--jitter-ms", 1e-3, MAX_DELAY_MS) == {"haptic": 0.0}


def _serve_until_waiting(tmp_path, *extra: str):
    """``surgisim serve needle-handover`` in a subprocess, returned once its bus answers
    (it is then waiting for the devices), with its port and records database path."""
    from sim.cli.practice import wait_for_server

    port = free_port_block()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "serve", "needle-handover", "--port", str(port),
         "--seed", "1755", "--trainee", "T0855", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        wait_for_server(port, proc, 180)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return proc, port, tmp_path / "data" / "surgisim"


def _nothing_stored(proc, data):
    """The server's output once it has ended; checks that it stored nothing."""
    try:
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    said = " ".join(stdout.split())
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "stored as session" not in said and "simulated" not in said
    assert Records(f"sqlite:///{data / 'records.sqlite'}").trainees() == []
    assert not list((data / "in-progress").glob("*")), "a checkpoint was left"
    return said, " ".join(stderr.split())


def test_ctrl_c_before_any_device_connected_stores_nothing(tmp_path):
    """Ctrl-C while the server waited for its devices stored an empty "FAIL (stopped by
    the user)" session in the trainee's record, "simulated 0.0 s ... (wall time from when
    the devices were connected ...)" though no device ever had."""
    proc, _, data = _serve_until_waiting(tmp_path)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    said, stderr = _nothing_stored(proc, data)
    assert "no device connected: nothing was stored" in said
    assert "stopping: no session has started, nothing will be stored" in stderr


def test_a_window_closed_before_both_hands_connected_stores_nothing(tmp_path):
    """``surgisim practice`` asks its server to stop (a ``stop`` request) when its window
    is closed; before every device is there, that ends cleanly with nothing stored. One
    of the two hands connected here: the session still never started."""
    from sim.cli.practice import viewer_stop

    proc, port, data = _serve_until_waiting(tmp_path)
    device = Device(port, names=("MTMR",))
    try:
        time.sleep(1.0)
        viewer_stop(port)
        said, _ = _nothing_stored(proc, data)
        # the result every client gets has the fields every result has (ended too)
        assert device.wait_for(lambda: device.latest("session/score") is not None, 10.0)
        score = device.latest("session/score")
        assert score["stored"] is False and score["session_id"] is None
        assert score["ended"] == "stopped"
    finally:
        device.close()
    assert "not every device connected (MTML did not): the session never started" in said
