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


#: What a held arm's line asks for, and its short form for a narrow panel (a headset's
#: 320-pixel eye cut "press and release the clutch" after "th")
HOLDING_HINT = " - press and release the clutch"
HOLDING_HINT_SHORT = " - tap the clutch"


def _arm_text(arm: ArmLine, short: bool = False) -> str:
    state = arm.state or "waiting"
    if state == "ALIGNING" and arm.align_error_rad == arm.align_error_rad:
        state += f" {np.degrees(arm.align_error_rad):.0f}° to go"
    elif state == "HOLDING":
        if arm.auto_clutch:
            state += " - clutching in again"
        else:
            state += HOLDING_HINT_SHORT if short else HOLDING_HINT
    marker = "▶ " if arm.active else ""
    return f"{marker}{arm.name} ({arm.hand}): {state}"


#: The most lines an instruction takes on the overlay; a longer one ends in "…" (the
#: bundled ones fit in three at 640x480, in five in a 320x240 headset eye's panel)
MAX_INSTRUCTION_LINES = 5


#: The most lines the connection's status takes (a refusal's reason fits in six at 640x480)
MAX_STATUS_LINES = 8


def wrap_to_width(
    text: str,
    width_of: Callable[[str], float],
    max_px: float | Callable[[int], float],
    max_lines: int = MAX_INSTRUCTION_LINES,
) -> list[str]:
    """``text`` in lines no wider than ``max_px`` as drawn (``width_of`` measures a line),
    at most ``max_lines``, the last ending in "…" when text is left over. ``max_px`` may
    be a function of the line's index (text that flows around the timer, then under it).

    Measured, not counted in characters: a character count cut the ring walk's
    instruction off after "take it by its tab" at 640x480, without a mark.
    """
    limit = max_px if callable(max_px) else lambda _: max_px
    lines: list[str] = []
    for word in text.split():
        if lines and width_of(f"{lines[-1]} {word}") <= limit(len(lines) - 1):
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and width_of(f"{last} …") > limit(max_lines - 1):
            last = last.rsplit(" ", 1)[0] if " " in last else ""
        lines = [*lines[: max_lines - 1], f"{last} …".strip()]
    return lines or [""]


@dataclass(frozen=True)
class PlacedText:
    """A line of the overlay where :func:`hud_layout` put it: its top-left corner (px),
    its font's size (px) and colour."""

    text: str
    xy: tuple[float, float]
    size_px: int
    fill: tuple[int, int, int, int]

    def box(self) -> tuple[float, float, float, float]:
        """The ink's ``(left, top, right, bottom)`` as drawn (px)."""
        x, y = self.xy
        left, top, right, bottom = font(self.size_px).getbbox(self.text)
        return (x + left, y + top, x + right, y + bottom)


@dataclass(frozen=True)
class HudLayout:
    """The overlay's two bands (:func:`hud_layout`): the top one's lines (step and title,
    instruction, timer, score) and its height, the bottom one's (the instruments' states,
    the corner hint) and its top (px)."""

    top: tuple[PlacedText, ...]
    top_h: int
    bottom: tuple[PlacedText, ...]
    bottom_y: int


def _arm_lines(arms, width_of: Callable[[str], float], max_px: float) -> list[tuple[str, tuple]]:
    """Each instrument's line as drawn within ``max_px``: the short hint when the full one
    would not fit, then wrapped (what is left, however narrow, still shows)."""
    out = []
    for arm in arms:
        text = _arm_text(arm)
        if width_of(text) > max_px:
            text = _arm_text(arm, short=True)
        colour = STATE_COLOURS.get(arm.state, TEXT)
        out += [(line, colour) for line in wrap_to_width(text, width_of, max_px, len(text))]
    return out


def hud_layout(content: HudContent, width: int, height: int, s: float) -> HudLayout:
    """Where the two bands' lines go in a ``width`` x ``height`` overlay at scale ``s``
    (see :func:`draw_hud`): the step line wraps beside the timer, the instruction flows
    beside the timer and score then under them, the instruments' lines wrap, and the
    instruction takes at most the lines left above the instruments. At a headset's
    320x240 eye the step line ran under the timer and "press and release the clutch"
    lost its last word."""
    big_px, body_px, small_px = round(26 * s), round(19 * s), round(15 * s)
    big, body, small = font(big_px), font(body_px), font(small_px)
    pad = round(10 * s)

    clock = _clock(content.time_s)
    if content.time_limit_s:
        clock += f" / {_clock(content.time_limit_s)[:-2]}"  # the exercise's cut-off
    score = "score --" if content.score is None else f"score {content.score:.0f}"
    right_w = max(big.getlength(clock), body.getlength(score))
    beside = width - 3 * pad - right_w
    top = [
        PlacedText(text, (width - pad - f.getlength(text), pad + k * round(32 * s)), px, TEXT)
        for k, (text, f, px) in enumerate(((clock, big, big_px), (score, body, body_px)))
    ]
    right_bottom = top[-1].box()[3]  # the score's ink: lines whose ink starts below are free
    ink_top = body.getbbox("(|Å")[1]  # the highest ink a line starts with

    # bottom: the instruments' states, the corner hint beside the last
    hint = content.hint
    if content.fps:
        hint = f"{content.fps:.0f} fps   {hint}"
    hint_w = small.getlength(hint) + pad if hint else 0.0
    arms = _arm_lines(content.arms, body.getlength, width - 2 * pad - hint_w)
    line_h = round(26 * s)
    bottom_y = height - (pad * 2 + line_h * max(len(arms), 1))
    bottom = [
        PlacedText(text, (pad, bottom_y + pad + k * line_h), body_px, colour)
        for k, (text, colour) in enumerate(arms)
    ]
    if hint:
        hint_xy = (width - pad - small.getlength(hint), height - pad - round(18 * s))
        bottom.append(PlacedText(hint, hint_xy, small_px, TEXT))

    # top left: step and title beside the timer, then the instruction around it
    head = f"{content.step}  {content.title}".strip()
    heads = [head]  # as written ("Step 1/3  Title") where it fits
    if small.getlength(head) > beside:
        heads = wrap_to_width(head, small.getlength, beside, len(head))
    step_h = round(18 * s)
    start = pad + round(22 * s) + step_h * (len(heads) - 1)
    top += [
        PlacedText(t, (pad, pad + k * step_h), small_px, (200, 200, 200, 255))
        for k, t in enumerate(heads)
    ]
    row = round(24 * s)
    room = max(1, (bottom_y - pad - start) // row)  # the rows above the instruments
    lines = wrap_to_width(
        content.instruction,
        body.getlength,
        lambda k: beside if start + k * row + ink_top < right_bottom else width - 2 * pad,
        min(MAX_INSTRUCTION_LINES, room),
    )
    top += [PlacedText(t, (pad, start + k * row), body_px, TEXT) for k, t in enumerate(lines)]
    top_h = start + row * max(len(lines), 2) + pad
    return HudLayout(tuple(top), top_h, tuple(bottom), bottom_y)


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
    body = font(round(19 * s))
    pad = round(10 * s)

    # top: step and instruction (left), timer and score (right); bottom: the instruments
    layout = hud_layout(content, width, height, s)
    top_h = layout.top_h
    draw.rectangle((0, 0, width, top_h), fill=PANEL)
    draw.rectangle((0, layout.bottom_y, width, height), fill=PANEL)
    for t in layout.top + layout.bottom:
        draw.text(t.xy, t.text, font=font(t.size_px), fill=t.fill)

    # warnings as they happen, newest at the bottom of the stack; drawn last, over the
    # help panel (which starts below them where it fits): the panel hid them
    # (wrapped: a headset's 300-pixel panel cut "Moving too fast: ..." at both ends)
    banners_top = top_h + pad
    row = round(24 * s)
    banners = [
        (wrap_to_width(text, body.getlength, width - 4 * pad, 3), severity)
        for text, severity in content.warnings[-4:]
    ]
    banners_bottom = banners_top + sum(round(36 * s) + row * (len(b) - 1) for b, _ in banners)
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
    for lines, severity in banners:
        colour = WARNING_COLOUR if severity == "warning" else INFO_COLOUR
        w = max(body.getlength(line) for line in lines)
        x = (width - w) / 2
        extra = row * (len(lines) - 1)
        draw.rounded_rectangle(
            (x - pad, y, x + w + pad, y + round(30 * s) + extra), radius=pad, fill=colour
        )
        for k, line in enumerate(lines):
            x_line = (width - body.getlength(line)) / 2
            draw.text((x_line, y + round(4 * s) + k * row), line, font=body, fill=TEXT)
        y += round(36 * s) + extra
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
