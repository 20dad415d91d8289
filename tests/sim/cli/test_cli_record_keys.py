"""``surgisim device record --bind-host ADDR`` off loopback: it needs CurveZMQ, and
``record`` had no key options (docs/bus.md listed it as usable); now it takes
``--server-key`` and ``--allow-keys`` as ``surgisim serve`` does."""

from __future__ import annotations

import os
import subprocess
import sys

from haptics.bus.security import new_keypair
from tests.haptics.devices.test_link import _free_port


def test_record_listens_beyond_loopback_with_server_keys(tmp_path):
    made = new_keypair("server", tmp_path / "kd")
    (tmp_path / "allow").mkdir(mode=0o700)
    client = new_keypair("MTMR", tmp_path / "client")  # an empty allow dir is refused
    (tmp_path / "allow" / "MTMR.key").write_bytes(client.public.read_bytes())
    port = _free_port()
    keys = ["--server-key", str(made.secret), "--allow-keys", str(tmp_path / "allow")]
    out = str(tmp_path / "rec.jsonl")
    command = [sys.executable, "-m", "sim.cli", "device", "record", "--out", out,
               "--port", str(port), "--bind-host", "0.0.0.0", *keys]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stderr.readline()
        assert "recording device messages" in line, line + proc.stderr.read()
    finally:
        proc.terminate()
        proc.wait(30)


def test_device_commands_replace_an_existing_recording_only_with_overwrite(tmp_path):
    """`device record --out precious.mcap` turned a 1.2 MB recording into 129 bytes of
    "0 messages"; `device synthetic --record` did the same, with no server ever found."""
    from typer.testing import CliRunner

    from sim.cli import app

    precious = tmp_path / "precious.mcap"
    precious.write_bytes(b"\x89MCAP0\r\n a recording")
    port = str(_free_port())
    for args in (
        ["device", "record", "--out", str(precious), "--port", port, "--seconds", "1"],
        ["device", "synthetic", "--record", str(precious), "--port", port],
    ):
        out = CliRunner().invoke(app, args)
        assert out.exit_code == 2, out.output
        assert "exists; give --overwrite to replace it" in " ".join(out.output.split())
        assert precious.read_bytes() == b"\x89MCAP0\r\n a recording"
