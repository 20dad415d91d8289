"""Session recordings: MCAP files with Foxglove schemas, replays and trace exports.

- :mod:`~sim.session.recording.mcap_writer`: :class:`McapRecorder` (what is written, on
  which topics).
- :mod:`~sim.session.recording.reader`: :func:`read_recording`, the inputs and poses back.
- :mod:`~sim.session.recording.replay`: :func:`replay`, re-simulate and compare.
- :mod:`~sim.session.recording.export`: a trace as Parquet or CSV.
- :mod:`~sim.session.recording.partial`: the file a recording is written to until it
  is complete (``NAME.mcap.partial``, locked against a second writer).
- :mod:`~sim.session.recording.rescore`: a recording scored again under an edited rubric.
"""

from __future__ import annotations

from sim._lazy import lazy_exports

_LAZY = {
    "McapRecorder": "sim.session.recording.mcap_writer",
    "read_recording": "sim.session.recording.reader",
    "replay": "sim.session.recording.replay",
    "export_trace": "sim.session.recording.export",
}
__all__ = sorted([*_LAZY, "TOLERANCE_M", "TOLERANCE_RAD"])

#: The largest tool-tip position difference (m) a replay may show and still count as the
#: recorded session (``surgisim replay``'s exit code, re-scoring from a replay): a replay
#: on the machine that recorded differs by 0.
TOLERANCE_M = 1e-9
#: The same for the tool tip's orientation (rad): a replay that puts the tip in place but
#: turned (4° on a recording whose stored seed was changed) is not the recorded session.
TOLERANCE_RAD = 1e-9

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
