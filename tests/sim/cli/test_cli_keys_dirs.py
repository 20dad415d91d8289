"""``surgisim keys new``: key folders owner-only whatever the umask; a looser existing one
is warned about (it was used silently, and a parent made under ``umask 000`` was 0777)."""

from __future__ import annotations

import os
import stat

from typer.testing import CliRunner

from sim.cli import app


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_key_folders_are_0700_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        out = CliRunner().invoke(app, ["keys", "new", "dev", "--dir", str(tmp_path / "a" / "kd")])
    finally:
        os.umask(old)
    assert out.exit_code == 0, out.output
    assert _mode(tmp_path / "a") == 0o700 and _mode(tmp_path / "a" / "kd") == 0o700
    assert _mode(tmp_path / "a" / "kd" / "dev.key_secret") == 0o600
    assert "warning" not in out.output


def test_an_existing_open_key_folder_is_warned_about_and_left_as_it_is(tmp_path):
    kd = tmp_path / "kd"
    kd.mkdir()
    kd.chmod(0o755)
    out = CliRunner().invoke(app, ["keys", "new", "dev", "--dir", str(kd)])
    assert out.exit_code == 0, out.output
    assert "warning: key directory" in out.output and "chmod 700" in out.output
    assert _mode(kd) == 0o755 and _mode(kd / "dev.key_secret") == 0o600
