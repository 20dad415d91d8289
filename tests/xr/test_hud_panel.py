"""The headset panel's layout and words, without a runtime: no line of its text under
the 10 pixels docs/vr.md promises, the countdown that ends on "closing", and the
``--capture`` help that says it writes a folder of frames."""

from __future__ import annotations

import math

import pytest

from sim.xr.hud import MIN_BODY_PX, EyeView, closing_text, panel_layout


def _eyes(half_fov_rad: float, ipd_m: float = 0.063) -> list[EyeView]:
    fov = (-half_fov_rad, half_fov_rad, half_fov_rad, -half_fov_rad)
    return [EyeView(-ipd_m / 2, fov), EyeView(ipd_m / 2, fov)]


@pytest.mark.parametrize(
    ("width", "height", "half_fov_deg"),
    [(320, 240, 45), (640, 480, 45), (640, 480, 35), (1920, 1920, 50), (2064, 2208, 45)],
)
@pytest.mark.parametrize("depth_m", [0.5, 0.8])
def test_no_line_of_the_panel_is_under_10_pixels(width, height, half_fov_deg, depth_m):
    """At bedside 640x480 the step line (draw_hud's small font) was 7-8 px high: the
    body line was kept at 10 px, the smaller fonts under it."""
    layout = panel_layout(width, height, _eyes(math.radians(half_fov_deg)), depth_m)
    s = layout.scale
    # draw_hud's fonts: big, body, small (step line, hint); the end box's body and title
    sizes = [round(26 * s), round(19 * s), round(15 * s), round(17 * s), round(24 * s)]
    assert min(sizes) >= MIN_BODY_PX, (layout, sizes)
    fy = height / (2 * math.tan(math.radians(half_fov_deg)))
    degree_px = math.radians(1.0) * fy
    if degree_px >= 19 * MIN_BODY_PX / 15:  # a sharp headset: the body line stays 1° high
        assert round(19 * s) == pytest.approx(degree_px, abs=1)


def test_the_countdown_ends_on_1_s_then_says_closing():
    said = [closing_text(4.0 - 0.25 * k) for k in range(18)]
    assert said[0] == "the headset view closes in 4 s"
    assert "the headset view closes in 1 s" in said
    assert not any("in 0 s" in text for text in said)
    assert said[-1] == closing_text(0.0) == "the headset view is closing"
    assert closing_text(0.3) == "the headset view closes in 1 s"


def test_the_capture_help_says_it_writes_a_folder_of_frames():
    from typer.testing import CliRunner

    from sim.cli import app

    result = CliRunner().invoke(app, ["vr", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "frame_NNNNNN.npz" in text and "Folder for captures" in text
    assert "here (.npz)" not in text
