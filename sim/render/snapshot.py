"""Rendered images to PNG files (Pillow), a stereo pair side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.render.errors import RenderError


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """A stereo pair as one image, left eye on the left (for cross-checking by eye or a
    side-by-side 3D display)."""
    if left.shape != right.shape:
        raise RenderError(f"stereo images differ in shape: {left.shape} and {right.shape}.")
    return np.concatenate([left, right], axis=1)


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Write an (H, W, 3) uint8 RGB image as a PNG (parent folders created); return the path."""
    from PIL import Image

    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise RenderError(f"save_png takes (H, W, 3) uint8 RGB, got {a.dtype} {a.shape}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a, "RGB").save(path)
    return path
