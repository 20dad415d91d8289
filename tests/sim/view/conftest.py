"""Fixtures of the desktop trainer's tests: a real X display (Xvfb, started here) on which
GLFW opens real windows, xdotool to inject input, and screenshots of the display.

Skipped, with the reason printed, only where no window can be opened: Xvfb missing, or
GLFW / Mesa unable to make an OpenGL 3.3 context on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

PROBE = (
    "import glfw, sys\n"
    "assert glfw.init(), 'glfw.init failed'\n"
    "glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)\n"
    "glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)\n"
    "glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)\n"
    "glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)\n"
    "w = glfw.create_window(64, 64, 'probe', None, None)\n"
    "assert w, 'no OpenGL 3.3 core window'\n"
)


def _skip(reason: str):
    print(f"\ndesktop window tests skipped: {reason}")
    pytest.skip(reason)


def _free_display() -> int:
    for n in range(90, 190):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number in :90-:189")


@pytest.fixture(scope="module")
def xdisplay():
    """A fresh Xvfb display (":N"), 1280x1024, removed after the module's tests."""
    if shutil.which("Xvfb") is None:
        _skip("Xvfb is not installed (apt-get install xvfb)")
    n = _free_display()
    proc = subprocess.Popen(
        ["Xvfb", f":{n}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not Path(f"/tmp/.X11-unix/X{n}").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                _skip(f"Xvfb :{n} did not start")
            time.sleep(0.05)
        env = {**os.environ, "DISPLAY": f":{n}"}
        out = subprocess.run(
            [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60
        )
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["?"])[-1]
            _skip(f"GLFW cannot open an OpenGL 3.3 window on Xvfb: {last}")
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def xdotool():
    """The xdotool command (input injection), or skip."""
    path = shutil.which("xdotool")
    if path is None:
        _skip("xdotool is not installed (apt-get install xdotool)")
    return path


def window_env(display: str, tmp_path: Path) -> dict:
    """The environment of a windowed surgisim command on ``display``."""
    env = {**os.environ, "DISPLAY": display, "SURGISIM_GL": "glfw", "COLUMNS": "200"}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env.pop("PYOPENGL_PLATFORM", None)
    return env


def find_window(display: str, name: str = "surgisim", timeout_s: float = 120.0) -> str:
    """The X window id of the first window whose name contains ``name``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--name", name],
            env={**os.environ, "DISPLAY": display},
            capture_output=True,
            text=True,
        )
        ids = out.stdout.split()
        if ids:
            return ids[0]
        time.sleep(0.25)
    raise AssertionError(f"no window named {name!r} on {display} within {timeout_s} s")


def xdo(display: str, *args: str) -> str:
    """Run xdotool on ``display``; its output."""
    out = subprocess.run(
        ["xdotool", *args], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def geometry(display: str, window: str) -> tuple[int, int, int, int]:
    """(x, y, width, height) of a window on the screen."""
    values = {}
    for line in xdo(display, "getwindowgeometry", "--shell", window).splitlines():
        key, _, value = line.partition("=")
        values[key] = int(value)
    return values["X"], values["Y"], values["WIDTH"], values["HEIGHT"]


def screenshot(display: str, box=None) -> np.ndarray:
    """The screen (or the ``box`` (x, y, w, h) of it) as an (H, W, 3) uint8 array."""
    from PIL import ImageGrab

    image = ImageGrab.grab(xdisplay=display)
    if box is not None:
        x, y, w, h = box
        image = image.crop((x, y, x + w, y + h))
    return np.asarray(image.convert("RGB"))
