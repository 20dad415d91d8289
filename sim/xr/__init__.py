"""The OpenXR headset client. Imports no pybullet, ever: it runs in a Python that has
none (the simulator's scene and state come over the bus).

- :mod:`sim.xr.client`: :class:`VrClient` (``surgisim vr``): the frame loop, the two views
  (console, bedside), the device thread.
- :mod:`sim.xr.runtime`: OpenXR itself (instance, session lifecycle, swapchains, actions).
- :mod:`sim.xr.link`: the bus: the scene to draw, the controllers as master devices.
- :mod:`sim.xr.hands`: controller -> master device, the grip re-based at clutch-in.
- :mod:`sim.xr.frames`: OpenXR, camera and master frames; headset projections (numpy).
- :mod:`sim.xr.timing`: frame timing, missed frames, latency.
- :mod:`sim.xr.monado`: host tooling: Monado in a Debian trixie root for tests and bench.

Nothing heavy is imported here; pyopenxr is imported only when a session starts.
"""

from __future__ import annotations

from sim._lazy import lazy_exports

_LAZY = {
    "VrClient": "sim.xr.client",
    "VrOptions": "sim.xr.client",
    "VrReport": "sim.xr.client",
    "XrError": "sim.xr.errors",
    "RuntimeLostError": "sim.xr.errors",
    "MasterHand": "sim.xr.hands",
    "FrameTimer": "sim.xr.timing",
}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
