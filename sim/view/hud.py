"""The trainer's overlays, drawn with Pillow into a transparent RGBA layer.

What commercial trainers show over the endoscope image: the current step's instruction,
the timer, the running score, each instrument's teleoperation state (aligning with the
angle still to go, following, clutched, holding), warnings as they happen, a help panel
and, at the end, the result. :func:`draw_hud` turns a :class:`HudContent` into an
(H, W, 4) uint8 image; the window blends it over the scene on the GPU and redraws it
only when the content changes (:meth:`HudContent.key`), at most ~10 times a second for
the timer, so text costs nothing per frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np

#: Colours (RGBA) of the arm states and warnings.
STATE_COLOURS = {
    "FOLLOWING": (80, 200, 120, 255),
    "ALIGNING": (250, 190, 60, 255),
    "CLUTCHED": (110, 170, 255, 255),
    "HOLDING": (255, 90, 90, 255),
    "DISABLED": (170, 170, 170, 255),
}
WARNING_COLOUR = (200, 30, 30, 220)
INFO_COLOUR = (30, 90, 170, 220)
PANEL = (0, 0, 0, 150)
TEXT = (255, 255, 255, 255)


@dataclass(frozen=True)
class ArmLine:
    """One instrument's line: ``name`` (PSM1), ``hand`` ("right"), ``state``, the angle
    still to go while aligning (rad, NaN unknown), whether the mouse drives it, and
    whether this window's device clutches in by itself after a hold."""

    name: str
    hand: str
    state: str
    align_error_rad: float = float("nan")
    active: bool = False
    auto_clutch: bool = False


@dataclass(frozen=True)
class HudContent:
    """Everything the overlay shows (see the module docstring).

    Attributes:
        title: the scenario's title.
        step: "Step 2/3" ('' before the first step message).
        instruction: the current step's instruction.
        time_s: simulated time (s).
        time_limit_s: the exercise's time limit (s), shown beside the timer (None: not).
        score: the running score estimate (None: nothing to score yet).
        arms: the instruments' lines.
        warnings: (text, severity) pairs, newest last; severity ``warning`` or ``info``.
        status: a line about the connection ('' when all is well).
        help: show the bindings.
        bindings: (input, action) pairs for the help.
        result: the final result ('' until the session has ended).
        fps: frames per second of the window (0: not shown).
        hint: the corner line saying how to get help ('' none; a headset has no F1).
    """

    title: str = ""
    step: str = ""
    instruction: str = ""
    time_s: float = 0.0
    time_limit_s: float | None = None
    score: float | None = None
    arms: tuple[ArmLine, ...] = ()
    warnings: tuple[tuple[str, str], ...] = ()
    status: str = ""
    help: bool = False
    bindings: tuple[tuple[str, str], ...] = field(default=())
    result: str = ""
    fps: float = 0.0
    hint: str = "F1: help"

    def key(self) -> tuple:
        """What changes the picture (the timer to a tenth of a second, fps to a unit)."""
        arms = tuple(
            (a.name, a.state, a.active, round(float(np.nan_to_num(a.align_error_rad)), 2))
            for a in self.arms
        )
        score = None if self.score is None else round(self.score)
        return (
            self.title, self.step, self.instruction, round(self.time_s, 1), score, arms,
            self.warnings, self.status, self.help, self.result, round(self.fps), self.hint,
        )  # fmt: skip


@cache
def font(size: int):
    """A TrueType font of ``size`` pixels: DejaVu Sans where installed, else Pillow's own."""
    from PIL import ImageFont

    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "Arial.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _clock(time_s: float) -> str:
    """``mm:ss.s``, rounded before it is split (59.96 s read "00:60.0")."""
    tenths = round(max(time_s, 0.0) * 10.0)
    minutes, tenth_seconds = divmod(tenths, 600)
    return f"{int(minutes):02d}:{tenth_seconds / 10.0:04.1f}"


def _arm_text(arm: ArmLine) -> str:
    state = arm.state or "waiting"
    if state == "ALIGNING" and arm.align_error_rad == arm.align_error_rad:
        state += f" {np.degrees(arm.align_error_rad):.0f}° to go"
    elif state == "HOLDING":
        state += " - clutching in again" if arm.auto_clutch else " - press and release the clutch"
    marker = "▶ " if arm.active else ""
    return f"{marker}{arm.name} ({arm.hand}): {state}"


#: The most lines an instruction takes on the overlay; a longer one ends in "…" (the
#: bundled ones fit in three at 640x480)
MAX_INSTRUCTION_LINES = 4


#: The most lines the connection's status takes (a refusal's reason fits in six at 640x480)
MAX_STATUS_LINES = 8


def wrap_to_width(
    text: str,
    width_of: Callable[[str], float],
    max_px: float,
    max_lines: int = MAX_INSTRUCTION_LINES,
) -> list[str]:
    """``text`` in lines no wider than ``max_px`` as drawn (``width_of`` measures a line),
    at most ``max_lines``, the last ending in "…" when text is left over.

    Measured, not counted in characters: a character count cut the ring walk's
    instruction off after "take it by its tab" at 640x480, without a mark.
    """
    lines: list[str] = []
    for word in text.split():
        if lines and width_of(f"{lines[-1]} {word}") <= max_px:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and width_of(f"{last} …") > max_px:
            last = last.rsplit(" ", 1)[0] if " " in last else ""
        lines = [*lines[: max_lines - 1], f"{last} …".strip()]
    return lines or [""]


def draw_hud(
    content: HudContent, width: int, height: int, scale: float | None = None
) -> np.ndarray:
    """The overlay for ``content`` as an (height, width, 4) uint8 RGBA image.

    Text and spacing scale with the image (1 at 720 pixels high, at least 0.6), or by
    ``scale`` where the caller sizes the text itself (a headset panel sizes it by the
    eye's pixels per degree: :mod:`sim.xr.hud`).
    """
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    s = scale if scale is not None else max(height / 720.0, 0.6)  # sizes scale with the window
    big, body, small = font(round(26 * s)), font(round(19 * s)), font(round(15 * s))
    pad = round(10 * s)

    # top: step and instruction (left), timer and score (right)
    clock = _clock(content.time_s)
    if content.time_limit_s:
        clock += f" / {_clock(content.time_limit_s)[:-2]}"  # the exercise's cut-off
    score = "score --" if content.score is None else f"score {content.score:.0f}"
    right_w = max(draw.textlength(clock, font=big), draw.textlength(score, font=body))
    lines = wrap_to_width(
        content.instruction, lambda t: draw.textlength(t, font=body), width - 3 * pad - right_w
    )
    head = f"{content.step}  {content.title}".strip()
    top_h = pad * 2 + round(22 * s) + round(24 * s) * max(len(lines), 2)
    draw.rectangle((0, 0, width, top_h), fill=PANEL)
    draw.text((pad, pad), head, font=small, fill=(200, 200, 200, 255))
    for k, line in enumerate(lines):
        draw.text((pad, pad + round(22 * s) + k * round(24 * s)), line, font=body, fill=TEXT)
    for k, (text, f) in enumerate(((clock, big), (score, body))):
        w = draw.textlength(text, font=f)
        draw.text((width - pad - w, pad + k * round(32 * s)), text, font=f, fill=TEXT)

    # bottom: the instruments' states
    line_h = round(26 * s)
    bottom_h = pad * 2 + line_h * max(len(content.arms), 1)
    y0 = height - bottom_h
    draw.rectangle((0, y0, width, height), fill=PANEL)
    for k, arm in enumerate(content.arms):
        colour = STATE_COLOURS.get(arm.state, TEXT)
        draw.text((pad, y0 + pad + k * line_h), _arm_text(arm), font=body, fill=colour)
    hint = content.hint
    if content.fps:
        hint = f"{content.fps:.0f} fps   {hint}"
    w = draw.textlength(hint, font=small)
    draw.text((width - pad - w, height - pad - round(18 * s)), hint, font=small, fill=TEXT)

    # warnings as they happen, newest at the bottom of the stack; drawn last, over the
    # help panel (which starts below them where it fits): the panel hid them
    banners_top = top_h + pad
    banners_bottom = banners_top + round(36 * s) * len(content.warnings[-4:])
    if content.status:
        # wrapped and boxed: a server's refusal names the key, the reason and the fix
        # (~250 characters), far wider than the window in one line
        lines = wrap_to_width(
            content.status, lambda t: draw.textlength(t, font=body), 0.8 * width, MAX_STATUS_LINES
        )
        line_h = round(26 * s)
        top = height / 2 - line_h * len(lines) / 2
        widest = max(draw.textlength(line, font=body) for line in lines)
        draw.rounded_rectangle(
            ((width - widest) / 2 - pad, top - pad, (width + widest) / 2 + pad,
             top + line_h * len(lines) + pad),
            radius=pad, fill=PANEL,
        )  # fmt: skip
        for i, line in enumerate(lines):
            w = draw.textlength(line, font=body)
            draw.text(((width - w) / 2, top + i * line_h), line, font=body, fill=TEXT)

    if content.help:
        _panel(
            draw, width, height, "Controls", [f"{a}: {b}" for a, b in content.bindings], s,
            below=banners_bottom,
        )  # fmt: skip
    if content.result:
        _panel(draw, width, height, "Session over", content.result.splitlines(), s)
    y = banners_top
    for text, severity in content.warnings[-4:]:
        colour = WARNING_COLOUR if severity == "warning" else INFO_COLOUR
        w = draw.textlength(text, font=body)
        x = (width - w) / 2
        draw.rounded_rectangle(
            (x - pad, y, x + w + pad, y + round(30 * s)), radius=pad, fill=colour
        )
        draw.text((x, y + round(4 * s)), text, font=body, fill=TEXT)
        y += round(36 * s)
    return np.asarray(image)


def _panel(
    draw, width: int, height: int, title: str, lines: list[str], s: float, below: float = 0
) -> None:
    """A centred box with a title and lines of text, its top no higher than ``below``
    (px) where the window is tall enough."""
    body, head = font(round(17 * s)), font(round(24 * s))
    pad, line_h = round(16 * s), round(24 * s)
    w = max([draw.textlength(t, font=body) for t in lines] + [draw.textlength(title, font=head)])
    box_w, box_h = w + 2 * pad, 2 * pad + round(34 * s) + line_h * len(lines)
    x0 = (width - box_w) / 2
    y0 = max(min(max((height - box_h) / 2, below), height - box_h), 0)
    draw.rounded_rectangle((x0, y0, x0 + box_w, y0 + box_h), radius=pad, fill=(0, 0, 0, 210))
    draw.text((x0 + pad, y0 + pad), title, font=head, fill=TEXT)
    for k, line in enumerate(lines):
        draw.text((x0 + pad, y0 + pad + round(34 * s) + k * line_h), line, font=body, fill=TEXT)
