"""The desktop trainer and the pictures of a session. Imports no pybullet, ever.

- :mod:`sim.view.viewer`: :class:`Viewer`, the window on a live server (``surgisim view``):
  the endoscope view drawn from ``scene/state``, the trainer's overlays, the input device.
- :mod:`sim.view.window`: the GLFW window (main thread): shows frames, takes input events.
- :mod:`sim.view.hud`: the overlays (step, timer, score, arm states, warnings, help),
  drawn with Pillow into a transparent layer.
- :mod:`sim.view.input`: mouse, keyboard and gamepad as a master device on the bus
  (:class:`DesktopMaster`, 1 kHz from a thread) and the bindings.
- :mod:`sim.view.warnings`: what deserves a warning (drops, collisions, excessive force),
  from the session's metrics and events; shared by the window and the snapshotter.
- :mod:`sim.view.snapshots`: the endoscope view of a running session as a video and as
  report snapshots (:class:`SessionCamera`).

Nothing heavy is imported here (names load on first use).
"""

from __future__ import annotations

from sim._lazy import lazy_exports

_LAZY = {
    "Viewer": "sim.view.viewer",
    "DesktopMaster": "sim.view.input",
    "WarningWatch": "sim.view.warnings",
    "SessionCamera": "sim.view.snapshots",
}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
