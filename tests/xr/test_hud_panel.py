"""The headset panel's layout and words, without a runtime: no line of its text under
the 10 pixels docs/vr.md promises, the countdown that ends on "closing", and the
``--capture`` help that says it writes a folder of frames."""

from __future__ import annotations

import itertools
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


def _library_steps():
    """(title, "Step k/n", instruction) of every bundled exercise's every step."""
    from scenarios.loader import library_names, load_scenario, resolve

    out = []
    for name in library_names():
        scenario = load_scenario(resolve(name))
        steps = scenario.exercise.steps
        for k, step in enumerate(steps):
            out.append((scenario.title, f"Step {k + 1}/{len(steps)}", step.instruction))
    return out


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize(("width", "height"), [(320, 240), (640, 480), (1280, 960)])
def test_every_line_of_the_panel_fits_it_whole(width, height):
    """At Monado's simulated 320x240 eye the arm line read "HOLDING - press and release
    th" (the clutch never named) and the step line ran under the timer: every line the
    layout places lies inside the panel, none on another, the instruction whole (no
    "…"), and a held arm's line names the clutch."""
    from sim.view.hud import ArmLine, HudContent, hud_layout

    layout = panel_layout(width, height, _eyes(math.radians(45)), 0.8)
    w, h = layout.size  # the score comes first of the body-sized top lines
    arms = (
        ArmLine("PSM1", "right", "HOLDING", active=True),
        ArmLine("PSM2", "left", "ALIGNING", math.radians(135)),
    )
    for title, step, instruction in _library_steps():
        content = HudContent(
            title=title, step=step, instruction=instruction, time_s=599.9,
            time_limit_s=600.0, score=100.0, arms=arms, hint="",
        )  # fmt: skip
        placed = hud_layout(content, w, h, layout.scale)
        lines = placed.top + placed.bottom
        boxes = [t.box() for t in lines]
        for t, (left, top, right, bottom) in zip(lines, boxes, strict=True):
            assert left >= 0 and top >= 0 and right <= w and bottom <= h, (t, (w, h))
        for i, j in itertools.combinations(range(len(lines)), 2):
            assert not _overlaps(boxes[i], boxes[j]), (lines[i], lines[j])
        body = [t.text for t in placed.top if t.size_px == round(19 * layout.scale)][1:]
        assert " ".join(body) == " ".join(instruction.split()), (w, h)
        held = " ".join(t.text for t in placed.bottom)
        assert "PSM1 (right): HOLDING" in held and "clutch" in held, held


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
