"""Options the commands share: one name each, old spellings kept as hidden aliases."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sim.cli.options import client_curve, prefer
from sim.errors import SimError


def _surgisim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_prefer_takes_the_new_name_and_the_alias_only_alone(capsys):
    assert prefer("new", None, "--new", "--old") == "new"
    assert capsys.readouterr().err == ""
    assert prefer(None, "old", "--new", "--old") == "old"
    assert "--old is deprecated; use --new" in capsys.readouterr().err
    with pytest.raises(SimError, match="give only --new"):
        prefer("new", "old", "--new", "--old")


def test_client_curve_needs_both_keys_or_none(tmp_path):
    from sim.xr.errors import XrError

    assert client_curve(None, None) is None
    with pytest.raises(SimError, match="--client-key and --server-public-key"):
        client_curve(tmp_path / "me.key_secret", None)
    with pytest.raises(XrError, match="--client-key and --server-public-key"):
        client_curve(None, tmp_path / "server.key", XrError)


def test_client_curve_reads_the_keys(tmp_path):
    from haptics.bus.security import new_keypair

    me, server = new_keypair("me", tmp_path), new_keypair("server", tmp_path)
    assert client_curve(me.secret, server.public) is not None


@pytest.mark.parametrize("command", ["view", "vr"])
def test_view_and_vr_name_the_server_key_alike(command):
    out = _surgisim(command, "--help")
    assert out.returncode == 0, out.stderr
    assert "--server-public-key" in out.stdout
    assert "--server-key " not in out.stdout  # vr's old name stays out of the help


def test_vr_still_takes_the_old_server_key_name(tmp_path):
    out = _surgisim(
        "vr", "--client-key", str(tmp_path / "me.key_secret"),
        "--server-key", str(tmp_path / "server.key"),
    )  # fmt: skip
    assert out.returncode == 2, out.stdout + out.stderr
    assert "--server-key is deprecated; use --server-public-key" in out.stderr
    assert "Traceback" not in out.stderr
    both = _surgisim("vr", "--server-key", "a", "--server-public-key", "b")
    assert both.returncode == 2 and "give only --server-public-key" in both.stderr


def test_device_record_takes_bind_host_and_the_old_bind(tmp_path):
    for flag in ("--bind-host", "--bind"):
        out = _surgisim("device", "record", "--out", str(tmp_path / "r.rec"), flag, "0.0.0.0")
        # no keys: a non-loopback address is refused, which shows the address arrived
        assert out.returncode == 2, out.stdout + out.stderr
        assert "0.0.0.0" in out.stderr and "Traceback" not in out.stderr
        assert ("deprecated" in out.stderr) == (flag == "--bind")


def test_view_says_drive_or_watch_as_vr_does_and_keeps_the_old_device_flag():
    assert "--drive" in _surgisim("view", "--help").stdout
    assert "--no-device" not in _surgisim("view", "--help").stdout
    # the old flag is taken, and said to be old, before anything connects (one key only
    # stops it there)
    out = _surgisim("view", "--no-device", "--client-key", "me.key_secret")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "--device/--no-device is deprecated; use --drive/--watch" in out.stderr
    assert "--client-key and --server-public-key" in out.stderr
    both = _surgisim("view", "--watch", "--no-device")
    assert both.returncode == 2 and "give only --drive/--watch" in both.stderr


def test_command_summaries_are_wrapped_to_the_terminal_not_the_source():
    """A docstring's source line breaks must not show: ``surgisim --help`` printed the
    rescore summary over four ragged lines, broken mid-sentence."""
    from typer.testing import CliRunner

    from sim.cli import app

    out = CliRunner().invoke(app, ["--help"], terminal_width=100).output
    rows = [line.strip("│ ").strip() for line in out.splitlines() if line.startswith("│")]
    summary = " ".join(rows)
    assert "rescore Score a stored session or a recording again" in " ".join(summary.split())
    # every row but a summary's last fills the box: no row of a few words mid-summary
    rescore = next(i for i, row in enumerate(rows) if row.startswith("rescore"))
    first_rows = rows[rescore : rescore + 3]
    assert all(len(row) > 55 for row in first_rows), first_rows


def test_practice_passes_a_device_map_to_its_server(monkeypatch):
    """camera-targeting has no arm a hand drives by default: serve takes --map MTMR=ECM,
    and practice had no way to pass it (the server stopped before the window opened)."""
    from typer.testing import CliRunner

    import sim.cli.practice as practice
    from sim.cli import app

    given = {}

    def window(scenario, port, serve_args, width, height):
        given["args"] = serve_args
        return 0

    monkeypatch.setattr(practice, "_practise_in_window", window)
    result = CliRunner().invoke(
        app, ["practice", "camera-targeting", "--map", "MTMR=ECM", "--map", "MTML=none"]
    )
    assert result.exit_code == 0, result.output
    args = given["args"]
    assert args[args.index("--map") + 1] == "MTMR=ECM" and args.count("--map") == 2


def test_version_names_the_build_for_bug_reports():
    """Every wheel says 0.1.0; a checkout adds its commit. ``--version`` says it."""
    from typer.testing import CliRunner

    from sim.cli import app as cli
    from sim.session.provenance import surgisim_version

    out = CliRunner().invoke(cli, ["--version"])
    assert out.exit_code == 0 and out.stdout.strip() == f"surgisim {surgisim_version()}"
