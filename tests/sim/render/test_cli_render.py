"""``surgisim render``: a scenario run headless to a moment, its endoscope view as a PNG."""

from __future__ import annotations

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from sim.cli import app

runner = CliRunner()


def test_render_writes_a_png_of_the_right_size_that_is_not_blank(gl_backend, tmp_path):
    out = tmp_path / "view.png"
    args = ["render", "peg-transfer", "--seed", "1", "--at-s", "0.5", "--out", str(out)]
    result = runner.invoke(app, [*args, "--size", "320x240"])
    assert result.exit_code == 0, result.output
    assert "0.50 s" in result.output
    image = np.asarray(Image.open(out))
    assert image.shape == (240, 320, 3)
    assert image.std() > 20 and (image.reshape(-1, 3).max(axis=1) > 100).mean() > 0.1

    stereo = tmp_path / "stereo.png"
    args = ["render", "peg-transfer", "--at-s", "0", "--out", str(stereo), "--stereo"]
    result = runner.invoke(app, [*args, "--size", "160x120"])
    assert result.exit_code == 0, result.output
    pair = np.asarray(Image.open(stereo))
    assert pair.shape == (120, 320, 3)
    assert not np.array_equal(pair[:, :160], pair[:, 160:])


def test_render_refuses_a_bad_size_and_an_unknown_scenario(tmp_path):
    result = runner.invoke(app, ["render", "peg-transfer", "--size", "640by480"])
    assert result.exit_code == 2 and "WIDTHxHEIGHT" in result.output
    result = runner.invoke(app, ["render", "peg-tranfer", "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "peg-transfer" in result.output
