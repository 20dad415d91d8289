"""Session recordings: MCAP files with Foxglove schemas, replays and trace exports.

- :mod:`~sim.session.recording.mcap_writer`: :class:`McapRecorder` (what is written, on
  which topics).
- :mod:`~sim.session.recording.reader`: :func:`read_recording`, the inputs and poses back.
- :mod:`~sim.session.recording.replay`: :func:`replay`, re-simulate and compare.
- :mod:`~sim.session.recording.export`: a trace as Parquet or CSV.
"""

from __future__ import annotations

from sim._lazy import lazy_exports

_LAZY = {
    "McapRecorder": "sim.session.recording.mcap_writer",
    "read_recording": "sim.session.recording.reader",
    "replay": "sim.session.recording.replay",
    "export_trace": "sim.session.recording.export",
}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
