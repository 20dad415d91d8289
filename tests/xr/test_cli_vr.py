"""``surgisim vr``'s own checks and its --serve plumbing, on the host (no runtime needed)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from rich.console import Console

from sim.cli.practice import free_port_block
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
    [(["--mode", "cockpit"], "console, bedside"), (["--size", "big"], "WIDTHxHEIGHT")],
)
def test_bad_options_are_refused_before_anything_starts(args, message):
    out = subprocess.run(
        [sys.executable, "-m", "sim.cli", "vr", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


@pytest.mark.slow
def test_serve_starts_the_training_server_and_stops_it_so_the_session_is_stored(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    port = free_port_block()
    console = Console(record=True, width=200)
    server = start_server("needle-handover", port, console)
    assert server.poll() is None
    stop_server(server, port, console)
    assert server.returncode == 130  # stopped before the exercise ended: incomplete, stored
    assert "stored as session 1" in console.export_text()


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
