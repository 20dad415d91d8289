"""The session and what drives it headless.

- :mod:`sim.session.session`: :class:`Session`, one run of a scenario.
- :mod:`sim.session.recorder`: the per-step trace recorder.
- :mod:`sim.session.headless`: run a scenario with a synthetic operator and score it.
- :mod:`sim.session.demo`: the demonstrator (synthetic operators following a plan).
- :mod:`sim.session.plans`: the demonstration plans of the bundled scenarios.
- :mod:`sim.session.preview`: a session run headless to a moment, and its view then.
"""

from __future__ import annotations

from sim._lazy import lazy_exports

_LAZY = {
    "Session": "sim.session.session",
    "SessionConfig": "sim.session.session",
    "run_headless": "sim.session.headless",
}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
