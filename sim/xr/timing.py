"""Frame timing of the headset client, measured per frame and summarised.

Per frame (all times from the monotonic clock, s, unless named ``_ns``):

- ``wait_s``: time blocked in ``xrWaitFrame`` (the runtime's pacing);
- ``work_s``: from ``xrWaitFrame`` returning to ``xrEndFrame`` returning (the client's own
  frame: poses, both eyes, submission) - the "wait -> end" of a frame;
- ``eye_ms``: render time of each eye (GPU timer queries: what the GL device spent,
  scene and copy into the swapchain image), known a frame or two later;
- ``display_ns`` / ``period_ns``: the predicted display time and period the runtime gave;
- ``late``: ``xrEndFrame`` returned after the predicted display time (the frame could
  not be shown when predicted);
- ``latency_s``: from the device sample the shown state was computed from (its send time
  on this machine's monotonic clock) to the frame's predicted display time: hand motion
  to photons, through the bus, the simulator and the renderer.

"Paced" is the number of display slots the runtime offered from the first frame's
predicted display time to the last one's (span / period + 1); missed frames are the slots
without a frame of the client (paced - frames), so ``submitted == paced`` means none was
missed. (Counting per gap would undercount: a runtime that re-plans after a late frame
predicts times off the old grid, so a gap of 1.4 periods still lost a slot.)
Nothing here calls OpenXR: the client feeds numbers in.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class FrameRecord:
    """One frame's measurements (see the module docstring)."""

    index: int
    display_ns: int
    period_ns: int
    wait_s: float
    work_s: float
    rendered: bool
    late: bool = False
    eye_ms: list[float] = field(default_factory=list)
    latency_s: float | None = None


def _stats(values) -> dict:
    a = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if not a.size:
        return {"n": 0}
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {
        "n": int(a.size),
        "mean": float(a.mean()),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(a.max()),
    }


class FrameTimer:
    """Collects :class:`FrameRecord` s and summarises them (see the module docstring)."""

    def __init__(self) -> None:
        self.frames: list[FrameRecord] = []

    def add(self, record: FrameRecord) -> None:
        """Add a frame."""
        self.frames.append(record)

    @property
    def missed(self) -> int:
        """Display slots without a frame, over the whole run."""
        return max(0, self.paced - len(self.frames))

    def set_eye_ms(self, index: int, eye_ms: list[float]) -> None:
        """Fill in frame ``index``'s per-eye render times once the GPU reported them."""
        for record in reversed(self.frames):
            if record.index == index:
                record.eye_ms = list(eye_ms)
                return

    @property
    def submitted(self) -> int:
        """Frames ended with a projection layer."""
        return sum(1 for r in self.frames if r.rendered)

    @property
    def paced(self) -> int:
        """Display slots from the first frame to the last (the runtime's pace)."""
        return _slots(self.frames)

    def summary(self, skip: int = 0) -> dict:
        """The figures over the frames after the first ``skip`` (start-up excluded)."""
        frames = self.frames[skip:]
        eyes = max((len(r.eye_ms) for r in frames), default=0)
        periods = [r.period_ns for r in frames if r.period_ns > 0]
        period = float(np.median(periods)) if periods else 0
        paced = _slots(frames)
        missed = max(0, paced - len(frames))
        return {
            "frames": len(frames),
            "submitted": sum(1 for r in frames if r.rendered),
            "paced": paced,
            "missed": missed,
            "late": sum(1 for r in frames if r.late),
            "period_ms": period / 1e6,
            "wait_ms": _stats([r.wait_s * 1e3 for r in frames]),
            "work_ms": _stats([r.work_s * 1e3 for r in frames]),
            "eye_ms": [
                _stats([r.eye_ms[i] for r in frames if len(r.eye_ms) > i]) for i in range(eyes)
            ],
            "latency_ms": _stats(
                [None if r.latency_s is None else r.latency_s * 1e3 for r in frames]
            ),
        }

    def write_jsonl(self, path) -> None:
        """Every frame as one JSON line (for plots and for the bench)."""
        with open(path, "w") as f:
            for r in self.frames:
                f.write(json.dumps(asdict(r)) + "\n")


def _slots(frames: list[FrameRecord]) -> int:
    """Display slots from the first frame to the last, gap by gap at the period each frame
    was given: a runtime that changed its period mid-run (50 ms, then 100 ms on a loaded
    machine) was counted at the last period over the whole span ("775 submitted of 776,
    paced 414, missed 0")."""
    if not frames:
        return 0
    return 1 + sum(gap_slots(before, frame) for before, frame in itertools.pairwise(frames))


def gap_slots(before: FrameRecord | None, frame: FrameRecord) -> int:
    """Display slots from ``before``'s predicted display time to ``frame``'s, at the
    period the runtime gave ``frame`` (else ``before``'s): 1 when none was skipped, and 1
    for the first frame (``before`` None). The terminal's "paced" and the bus's
    ``XR/frame_timing`` count with this, so they agree."""
    if before is None:
        return 1
    period = frame.period_ns if frame.period_ns > 0 else before.period_ns
    gap = frame.display_ns - before.display_ns
    return max(1, round(gap / period)) if period > 0 else 1
