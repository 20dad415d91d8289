"""``surgisim vr``'s own checks, its --serve plumbing and its --monado command line, on the
host (no runtime needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from haptics.bus.ports import free_port_block
from sim.cli import vr as vr_cli
from sim.cli.vr import parse_size, start_server, stop_server
from sim.xr.errors import XrError


def test_size_is_width_x_height_in_pixels():
    assert parse_size("2064x2208") == (2064, 2208)
    assert parse_size(None) is None
    for bad in ("2064", "0x10", "axb", "99999x10"):
        with pytest.raises(XrError, match="WIDTHxHEIGHT"):
            parse_size(bad)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["vr", "--mode", "cockpit"], "console, bedside"),
        (["vr", "--size", "big"], "WIDTHxHEIGHT"),
        (["vr", "--monado", "headset"], "expected simulated or remote"),
        (["vr", "--trainee", "keen-otter-0417"], "--trainee goes with --serve"),
        (["vr", "--monado", "simulated", "--mode", "cockpit"], "console, bedside"),
        (["practice", "needle-handover", "--vr", "--monado", "headset"], "simulated or remote"),
    ],
)
def test_bad_options_are_refused_before_anything_starts(args, message):
    out = subprocess.run(
        [sys.executable, "-m", "sim.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert "OpenXR root" not in out.stdout and "training server" not in out.stdout


class _Exchange:
    """A stand-in for RootExchange: says which way each file would cross."""

    def inward(self, path):
        return f"/in/{Path(path).name}"

    def outward(self, path):
        return f"/out/{Path(path).name}"


def _monado_call(monkeypatch, *args: str):
    """Run ``surgisim ARGS`` with the Monado part replaced: what it would have been given."""
    from typer.testing import CliRunner

    from sim.cli import app

    calls = []

    def fake(driver, client_args, console, serve=None):
        calls.append((driver, client_args(_Exchange()), serve))
        return 0, subprocess.CompletedProcess([], 0)

    monkeypatch.setattr(vr_cli, "headset_in_monado", fake)
    out = CliRunner().invoke(app, list(args))
    assert out.exit_code == 0, out.output
    (call,) = calls
    return call


def test_vr_monado_runs_this_command_line_in_the_root(monkeypatch, tmp_path):
    """``surgisim vr --monado simulated``: the client in the root gets the options given
    here (files crossing into and out of the root), the server (--serve) stays here."""
    driver, client, serve = _monado_call(
        monkeypatch, "vr", "--monado", "remote", "--port", "5599", "--seconds", "60",
        "--mode", "bedside", "--watch", "--json", str(tmp_path / "run.json"),
    )  # fmt: skip
    assert (driver, serve) == ("remote", None)
    assert client[:6] == ["--mode", "bedside", "--host", "127.0.0.1", "--port", "5599"]
    assert client[client.index("--seconds") :][:2] == ["--seconds", "60.0"]
    assert "--watch" in client and "--frames" not in client and "--linear" not in client
    assert client[-2:] == ["--json", "/out/run.json"]
    assert "--monado" not in client and "--serve" not in client
    _, _, serve = _monado_call(monkeypatch, "vr", "--monado", "simulated", "--serve", "ring-walk")
    assert serve == ("ring-walk", 5570, [])
    # a student's session under their pseudonym (it went to the demo store: no --trainee)
    _, _, serve = _monado_call(
        monkeypatch, "vr", "--monado", "simulated", "--serve", "ring-walk", "--trainee", "k-o-1"
    )
    assert serve == ("ring-walk", 5570, ["--trainee", "k-o-1"])


def test_practice_vr_monado_starts_the_server_here_and_the_client_in_the_root(monkeypatch):
    driver, client, serve = _monado_call(
        monkeypatch, "practice", "needle-handover", "--vr", "--monado", "simulated",
        "--port", "5599", "--vr-mode", "bedside",
    )  # fmt: skip
    assert driver == "simulated" and client == ["--port", "5599", "--mode", "bedside"]
    assert serve[:2] == ("needle-handover", 5599) and serve[2][:2] == ["--seed", "0"]


def test_files_cross_into_and_out_of_the_root(tmp_path):
    """RootExchange: a key file is copied in, what the client writes comes out where the
    option said, the exchange folder goes."""
    from sim.cli.vr import forwarded
    from sim.xr.monado import RootExchange, XrRoot

    root = XrRoot(path=tmp_path / "root")
    key = tmp_path / "client.key_secret"
    key.write_text("secret")
    report, captures = tmp_path / "out" / "run.json", tmp_path / "frames"
    args = forwarded(
        {"--port": 5599, "--linear": True, "--watch": False, "--frames": None},
        read={"--client-key": key, "--server-public-key": None},
        written={"--json": report, "--capture": captures, "--timing": None},
    )
    with RootExchange(root) as exchange:
        given = args(exchange)
        assert given[:3] == ["--port", "5599", "--linear"] and len(given) == 9
        pairs = zip(given[3::2], given[4::2], strict=True)
        inside = {flag: Path(str(root.path) + path) for flag, path in pairs}
        assert inside["--client-key"].read_text() == "secret"
        inside["--capture"].mkdir()
        (inside["--capture"] / "frame_000000.npz").write_bytes(b"x")
        # what the client writes in the root names its captures by their root paths
        named = given[given.index("--capture") + 1] + "/frame_000000.npz"
        inside["--json"].write_text(json.dumps({"captures": [named]}))
    assert json.loads(report.read_text()) == {"captures": [str(captures / "frame_000000.npz")]}
    assert (captures / "frame_000000.npz").exists()
    assert not exchange.host_dir.exists()


@pytest.mark.slow
def test_serve_starts_the_training_server_and_stops_it_cleanly(tmp_path, monkeypatch):
    """``vr --serve``'s server, stopped before any headset or device came: it stops as on
    Ctrl-C (130) and, as no session started, stores nothing and says so (it stored an
    empty "FAIL (stopped by the user)" in the trainee's record before)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    port = free_port_block()
    console = Console(record=True, width=200)
    server = start_server("needle-handover", port, console)
    assert server.poll() is None
    stop_server(server, port, console)
    assert server.returncode == 130
    said = console.export_text()
    assert "no device connected: nothing was stored" in said and "stored as session" not in said


_KILLED_PARENT = """
import os, signal, sys
from rich.console import Console
from sim.cli.vr import start_server
server = start_server("needle-handover", int(sys.argv[1]), Console(stderr=True))
print(server.pid, server.relay.path, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # practice --vr killed with kill -9
"""


@pytest.mark.slow
def test_a_server_whose_parent_is_killed_stops_in_order_and_says_so(tmp_path):
    """``kill -9`` of ``practice --vr``: the server wrote to a pipe its dead parent no
    longer read, and ended without storing or saying anything. It writes to a file now:
    the parent's death stops it as SIGTERM does, and what it says is kept."""
    import time

    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_PARENT, str(free_port_block())],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    assert child.returncode == -9, child.stderr
    pid, log = child.stdout.split()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists(), "the server outlived its parent"
    said = Path(log).read_text()
    Path(log).unlink()
    # the parent's death stops it as SIGTERM does (its last words vary with the moment
    # it is told: "error: terminated (SIGTERM)" or "no device connected: ...")
    assert "stopping: no session has started, nothing will be stored" in said, said
    assert "Traceback" not in said and "BrokenPipe" not in said, said


def test_the_root_is_not_built_without_root_and_says_why(monkeypatch):
    """Where the root cannot be built the VR tests skip with this reason (printed)."""
    from sim.xr.monado import RootUnavailableError, XrRoot

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(RootUnavailableError, match="needs root"):
        XrRoot().ensure(log=lambda line: None)


def test_the_build_script_skips_with_exit_77_when_not_root(tmp_path):
    """The script itself refuses politely (exit 77, the reason on stdout) as a non-root
    user, before touching anything."""
    from sim.xr.monado import BUILD_SCRIPT, CANNOT_BUILD

    script = BUILD_SCRIPT.read_text().replace('[ "$(id -u)" = 0 ]', "[ 1 = 0 ]", 1)
    patched = tmp_path / "xr-root.sh"
    patched.write_text(script)
    out = subprocess.run(
        ["bash", str(patched), str(tmp_path / "root")], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == CANNOT_BUILD, out.stdout + out.stderr
    assert "needs root" in out.stdout
    assert not (tmp_path / "root").exists()


def test_practice_vr_checks_its_mode_and_the_client_before_a_session_starts(tmp_path):
    """``surgisim practice SCENARIO --vr``: a bad view mode, or no pyopenxr here, is one
    line (exit 2) before the server starts, so no empty session is stored."""
    import importlib.util

    env = {**os.environ, "COLUMNS": "200", "XDG_DATA_HOME": str(tmp_path / "data")}
    cases = [(["--vr-mode", "cockpit"], "console, bedside")]
    if importlib.util.find_spec("xr") is None:
        cases.append(([], "pip install 'surgisim[vr]'"))
    for args, message in cases:
        out = subprocess.run(
            [sys.executable, "-m", "sim.cli", "practice", "needle-handover", "--vr", *args],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert out.returncode == 2, out.stdout + out.stderr
        assert message in out.stdout + out.stderr
        assert "Traceback" not in out.stdout + out.stderr
        assert "training server" not in out.stdout + out.stderr  # nothing was started
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.sqlite"))


def test_a_remote_controller_button_with_a_wrong_name_is_refused():
    """A typo (`a` for `a_click`) pressed nothing, silently."""
    from sim.xr.errors import XrError
    from sim.xr.monado import REMOTE_PACKET_BYTES, RemoteController

    pressed = RemoteController(buttons={"active": True, "a_click": True})
    assert len(pressed.pack()) == (REMOTE_PACKET_BYTES - 8 - 128) // 2
    with pytest.raises(XrError, match="no button \\['a'\\]"):
        RemoteController(buttons={"a": True}).pack()


def test_vr_json_is_written_owner_only(tmp_path, monkeypatch):
    """``vr --json`` followed the umask (0644) while every other output is owner-only."""
    from typer.testing import CliRunner

    from sim.cli import app

    class Report:
        runtime_lost = server_lost = False

        def as_dict(self):
            return {"frames": 1}

    class Client:
        def __init__(self, options, log):
            pass

        def run(self):
            return Report()

    monkeypatch.setattr("sim.xr.client.VrClient", Client)
    monkeypatch.setattr(vr_cli, "_print_report", lambda console, report: None)
    monkeypatch.setattr(vr_cli, "_watch", lambda stop, client: None)
    old = os.umask(0o022)
    try:
        out = CliRunner().invoke(app, ["vr", "--json", str(tmp_path / "vr.json")])
    finally:
        os.umask(old)
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "vr.json").read_text()) == {"frames": 1}
    assert (tmp_path / "vr.json").stat().st_mode & 0o777 == 0o600
