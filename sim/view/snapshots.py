"""The endoscope's view of a running session: a video, and snapshots for its report.

:class:`SessionCamera` follows the recorder protocol of
:func:`sim.session.controllers.run_controller` (``start``, ``commands``, ``stepped``,
``finish``); the live server feeds it through its per-tick callback. It never touches
physics itself: it reads the session's scene description, node poses and camera pose,
and draws them with :class:`sim.render.Renderer` (EGL by default: no display needed).

- **Video** (``video_path``): one frame per ``1 / fps`` of *simulated* time (30 fps),
  rendered when that time is reached (the session is never rendered between frames), and
  encoded to H.264 MP4 by imageio-ffmpeg (``pip install 'surgisim[video]'``). A session of
  T simulated seconds gives ``floor(T * fps) + 1`` frames.
- **Snapshots** (for the report): the view at the start, at each drop, collision and
  excessive-force warning (:mod:`sim.view.warnings`, the first ``max_events``), and at the
  end, each a PNG with its time and a caption. Excessive force is taken at the trace row
  each episode starts (:class:`ForceWatch`: the report's event table's episodes, one
  picture each); drops and collisions when the live metrics (10 Hz) and events show them,
  checked :data:`CHECK_HZ` times a simulated second, so up to 0.1 s after the event. A
  machine where no GL backend starts gets no snapshots and a note saying why; the
  session itself is never put at risk.

``background=True`` (the live server): the loop only copies the poses it needs (about
0.1 ms); rendering and encoding happen in a worker thread, so the real-time loop never
waits for a picture.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import queue
import shutil
import threading
from pathlib import Path

import numpy as np

from scenarios.report import Snapshot
from sim.errors import SimError
from sim.view.warnings import SNAPSHOT_KINDS, WarningWatch

_log = logging.getLogger(__name__)

#: Video frames per simulated second.
VIDEO_FPS = 30.0
#: Size (pixels) of the report's snapshots.
SNAPSHOT_SIZE = (480, 360)
#: Snapshots of warnings kept per session (the start and the end come on top).
MAX_EVENT_SNAPSHOTS = 12
#: How often warnings are looked for (simulated Hz): the live metrics change at 5-10 Hz.
CHECK_HZ = 30.0


def video_writer_module():
    """imageio_ffmpeg, or a SimError naming the extra that brings it."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise SimError(
            "--video needs imageio-ffmpeg (it brings its own ffmpeg): pip install "
            "'surgisim[video]'."
        ) from None
    return imageio_ffmpeg


def headless_backend() -> str:
    """The GL backend for pictures without a window: ``SURGISIM_GL`` when set, else EGL
    (even with a display: a process binds OpenGL to one platform, and a headless run
    should not depend on one)."""
    return os.environ.get("SURGISIM_GL", "").strip().lower() or "egl"


def encode_png(rgb: np.ndarray, size: tuple[int, int] | None = None) -> bytes:
    """An RGB image (H, W, 3) uint8 as PNG bytes, resized to ``size`` (W, H) if given."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    if size is not None and image.size != tuple(size):
        image = image.resize(tuple(size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def video_partial_path(path: Path) -> Path:
    """Where the MP4 for ``path`` is written until it is whole (``.NAME.partial.mp4``
    beside it): a name known before the run, so that the run can register it for
    ``trainee forget`` and ``store --orphans`` (a killed run left a randomly named file of
    the trainee's endoscope frames that nothing removed)."""
    path = Path(path)
    return path.parent / f".{path.name}.partial.mp4"


def half_written_video(partial: Path) -> str:
    """Why a video whose partial file exists cannot be written (said before a run and,
    should another run claim it meanwhile, when the video opens)."""
    return (
        f"{partial} exists: another run is writing this video, or a killed run left it "
        "half-written (it does not play: delete it)."
    )


def _why(exc: OSError, folder: Path) -> str:
    """Why ffmpeg could not go on, in words: imageio-ffmpeg reports a broken pipe (ffmpeg
    died) and its command, not ffmpeg's own reason, so a full disk is told by the free
    space left where the video goes."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    try:
        full = shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        full = False
    return f"no space left on the device (ffmpeg: {first})" if full else f"ffmpeg: {first}"


class _Video:
    """An MP4 being written: :func:`video_partial_path`, renamed into place when closed.

    Raises:
        SimError: that partial file exists: another run writes this video, or a killed
            one left it (a half-written MP4 does not play: delete it).
    """

    def __init__(self, path: Path, size: tuple[int, int], fps: float) -> None:
        ffmpeg = video_writer_module()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = video_partial_path(self.path)
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise SimError(f"--video: {half_written_video(tmp)}") from None
        self._tmp = tmp
        self.frames = 0
        self._gen = ffmpeg.write_frames(
            str(self._tmp),
            size,
            fps=fps,
            codec="libx264",
            pix_fmt_out="yuv420p",
            macro_block_size=1,
            output_params=["-preset", "veryfast", "-crf", "23"],
        )
        self._gen.send(None)

    def write(self, rgb: np.ndarray) -> None:
        self._gen.send(np.ascontiguousarray(rgb).tobytes())
        self.frames += 1

    def close(self, keep: bool = True) -> None:
        try:
            self._gen.close()
        except OSError:  # ffmpeg gone (a full disk): the file is dropped below anyway
            if keep:
                raise
        if keep:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)


class ForceWatch:
    """Excessive-force episodes found row by row as the trace is written, by the trace's
    own definition (:func:`scenarios.report_score.force_episodes`: per instrument, rows
    above the threshold, stretches less than :data:`scenarios.live.MERGE_GAP_S` apart one
    episode), so that a snapshot is taken at the row an episode starts.

    The live metrics behind the window's warning refresh at 10 Hz: snapshots taken from
    them came 0.06-0.1 s after the episode the report's event table gives, and two
    episodes 0.15 s apart (one metrics refresh) got one snapshot between them.

    Args:
        threshold_n: tip force counted as excessive (N), the scenario's.
        rate_hz: trace rows per simulated second.
    """

    def __init__(self, threshold_n: float, rate_hz: float) -> None:
        from scenarios.live import MERGE_GAP_S

        self.threshold_n = float(threshold_n)
        self._gap = round(MERGE_GAP_S * rate_hz)
        self._row = 0
        self._last_above: dict[str, float] = {}

    def new_episodes(self, recorder) -> list[tuple[str, int]]:
        """(instrument, first row) of each episode that began in the rows written since
        the last call (``recorder``: :class:`sim.session.recorder.TraceRecorder`)."""
        end = recorder.n
        if end <= self._row:
            return []
        out = []
        for name, arrays in recorder.data.items():
            force = arrays["tip_force_n"][self._row : end]
            for i in np.flatnonzero(force > self.threshold_n) + self._row:
                if i - self._last_above.get(name, -math.inf) - 1 > self._gap:
                    out.append((name, int(i)))
                self._last_above[name] = i
        self._row = end
        return sorted(out, key=lambda e: e[1])


class SessionCamera:
    """Video and report snapshots of a session (see the module docstring).

    Args:
        video_path: write the endoscope's view here (MP4); None: no video.
        size: (width, height) of the video frames (pixels; even numbers).
        fps: video frames per simulated second.
        snapshots: take the report's snapshots.
        max_events: warnings with a snapshot (the first ones).
        background: render in a worker thread (the live server).
        backend: GL backend; default :func:`headless_backend`.

    Attributes:
        snapshots: the pictures taken so far (:class:`scenarios.report.Snapshot`).
        note: why pictures are missing ('' when none are).
        frames: video frames written.
    """

    def __init__(
        self,
        video_path: str | Path | None = None,
        *,
        size: tuple[int, int] = (640, 480),
        fps: float = VIDEO_FPS,
        snapshots: bool = True,
        max_events: int = MAX_EVENT_SNAPSHOTS,
        background: bool = False,
        backend: str | None = None,
    ) -> None:
        if not fps > 0:
            raise SimError(f"video fps must be > 0, got {fps}.")
        self.video_path = None if video_path is None else Path(video_path)
        if self.video_path is not None:
            video_writer_module()  # a missing extra is said before the run
        self.size = (int(size[0]), int(size[1]))
        self.fps = float(fps)
        self.take_snapshots = snapshots
        self.max_events = int(max_events)
        self.background = background
        self.backend = backend or headless_backend()
        self.snapshots: list[Snapshot] = []
        self.note = ""
        self._renderer = None
        self._description = None
        self._video: _Video | None = None
        self._watch = WarningWatch()
        self._forces: ForceWatch | None = None
        self._events_seen = 0
        self._event_shots = 0
        self._skipped = 0
        self._next_frame_s = 0.0
        self._start_s = 0.0
        self._frame_index = 0
        self._next_check_s = 0.0
        self._metrics_seen: dict | None = None
        self._jobs: queue.Queue | None = None
        self._worker: threading.Thread | None = None
        self._error: BaseException | None = None
        self._frames_written = 0
        #: why the video stopped being written (a full disk), None while it has not
        self.video_error: str | None = None
        #: simulated time (s) at which it stopped
        self.video_stopped_at_s: float | None = None

    @property
    def frames(self) -> int:
        """Video frames written so far."""
        return self._frames_written if self._video is None else self._video.frames

    # ---- the recorder protocol -------------------------------------------------------------
    def start(self, session, driver: str = "") -> None:
        """Open the renderer (and the video); take the first snapshot and frame."""
        try:
            self._open_renderer(session.scene_description())
        except SimError as exc:
            if self.video_path is not None:
                raise SimError(f"--video: {exc}") from None
            self.note = f"No snapshots: the endoscope view could not be rendered ({exc})"
            self.take_snapshots = False
            return
        if self.video_path is not None:
            self._video = _Video(self.video_path, self.size, self.fps)
        self._events_seen = len(session.recorder.events)
        thresholds = session.scenario.scoring.thresholds
        self._forces = ForceWatch(thresholds.excessive_force_n, session.recorder.rate_hz)
        # the first picture before any real-time loop starts: drawn here, at once
        self._capture(session, self._bookend("start", "Start"), frame=int(self._video is not None))
        if self.background:
            self._jobs = queue.Queue(maxsize=64)
            self._worker = threading.Thread(target=self._work, name="session-camera", daemon=True)
            self._worker.start()
        self._start_s = session.time_s
        self._frame_index = 0
        self._next_frame_s = session.time_s + 1.0 / self.fps
        self._next_check_s = session.time_s

    def commands(self, session, commands, steps: int = 1) -> None:
        """Nothing to do before a step."""

    def stepped(self, session) -> None:
        """After a step: a video frame when one is due, snapshots of new warnings."""
        if self._renderer is None:
            return
        t = session.time_s
        frame_due = self._video is not None and t >= self._next_frame_s - 1e-9
        check_due = self.take_snapshots and t >= self._next_check_s - 1e-9
        # every new trace row: a force episode's picture at the row it starts
        shots = self._force_shots(session) if self.take_snapshots else []
        if not (frame_due or check_due or shots):
            return
        if check_due:
            self._next_check_s = t + 1.0 / CHECK_HZ
            shots += self._warnings(session)
        repeats = 0
        if frame_due:  # frame k is due at start + k / fps (no drift from summing periods)
            due = math.floor((t - self._start_s) * self.fps + 1e-6)
            repeats = due - self._frame_index
            self._frame_index = due
            self._next_frame_s = self._start_s + (due + 1) / self.fps
        if repeats or shots:
            self._capture(session, shots, frame=repeats)

    def finish(self, session, result=None, metrics=None, ended: str | None = None) -> None:
        """The last snapshot; close the video and the renderer (idempotent)."""
        if self._renderer is None:
            return
        try:
            self._capture(session, self._bookend("end", "End"))
            if self._jobs is not None:
                self._jobs.put(None)
                self._worker.join()
                self._jobs = None
            if self._error is not None:
                self._failed(self._error)
        finally:
            self.close(keep_video=self._error is None)
        if self._skipped:
            self.note = (self.note + " " if self.note else "") + (
                f"{self._skipped} more warning(s) without a snapshot (the first "
                f"{self.max_events} are shown)."
            )

    def close(self, keep_video: bool = False) -> None:
        """Release the renderer and the video (a video not finished is deleted)."""
        if self._video is not None:
            video, self._video = self._video, None
            self._frames_written = video.frames
            video.close(keep=keep_video)
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ---- what is taken ---------------------------------------------------------------------
    def _open_renderer(self, description) -> None:
        from sim.render import Renderer

        if self._renderer is not None:
            self._renderer.close()
        self._description = description
        # still pictures: anti-aliased; shadows at the renderer's default for the machine
        self._renderer = Renderer(description, *self.size, samples=4, backend=self.backend)

    def _warnings(self, session) -> list[tuple[str, str]]:
        """(kind, caption) of the new warnings worth a snapshot."""
        events = session.recorder.events
        new, self._events_seen = events[self._events_seen :], len(events)
        state = session.state()
        metrics = None
        if state.metrics != self._metrics_seen:
            metrics = self._metrics_seen = dict(state.metrics)
        return self._counted(
            (alert.kind, alert.text)
            for alert in self._watch.update(state.time_s, metrics, new)
            # excessive force: by the trace's rows (ForceWatch), not the 10 Hz metrics
            if alert.kind in SNAPSHOT_KINDS and alert.kind != "excessive_force"
        )

    def _force_shots(self, session) -> list[tuple[str, str]]:
        """(kind, caption) of the excessive-force episodes that began in the new rows."""
        if self._forces is None:
            return []
        episodes = self._forces.new_episodes(session.recorder)
        return self._counted(("excessive_force", "Excessive force") for _ in episodes)

    def _counted(self, shots) -> list[tuple[str, str]]:
        """The first :attr:`max_events` warnings' shots; the rest are counted as skipped."""
        out = []
        for shot in shots:
            if self._event_shots >= self.max_events:
                self._skipped += 1
                continue
            self._event_shots += 1
            out.append(shot)
        return out

    def _capture(self, session, shots: list[tuple[str, str]], frame: int = 0) -> None:
        """Render the view now: ``frame`` copies go to the video, and one snapshot per
        (kind, caption) in ``shots``."""
        if not (shots or frame):
            return
        description = session.scene_description()
        if description is not self._description:  # a body was spawned or removed
            self._flush()
            self._open_renderer(description)
        job = (session.node_poses(), session.camera_pose_W().copy(), session.time_s, shots, frame)
        if self._jobs is None:
            try:
                self._render(*job)
            except Exception as exc:
                self._error = exc
                self._failed(exc)
        elif self._error is None:
            try:
                self._jobs.put_nowait(job)  # a full queue: this picture is skipped
            except queue.Full:
                self._skipped += len(shots)

    def _failed(self, exc: BaseException) -> None:
        """A picture could not be made: a video run fails (its file would be wrong); the
        report's snapshots stop, with a note saying why (the session goes on)."""
        if self.video_path is not None:
            raise SimError(f"--video: rendering failed: {exc}") from exc
        self.note = f"Snapshots stopped at a rendering error: {type(exc).__name__}: {exc}"
        self.take_snapshots = False

    def _video_failed(self, exc: OSError, time_s: float) -> None:
        """The video is an output, not the session: when it cannot be written any more,
        say so once, drop it (an MP4 cut off before its index does not play) and go on
        with the session and the report's snapshots. The run ends by saying it too
        (:attr:`video_error`), as ``--record`` on a full disk does."""
        video, self._video = self._video, None
        self._frames_written = video.frames
        video.close(keep=False)
        self.video_error = _why(exc, video.path.parent)
        self.video_stopped_at_s = float(time_s)
        _log.warning(
            "warning: the video %s cannot be written: %s. It stops here (%.1f s simulated) "
            "and is deleted (a cut-off MP4 does not play). The session goes on.",
            self.video_path,
            self.video_error,
            self.video_stopped_at_s,
        )

    def _bookend(self, kind: str, caption: str) -> list[tuple[str, str]]:
        return [(kind, caption)] if self.take_snapshots else []

    def _flush(self) -> None:
        if self._jobs is not None:
            self._jobs.join()

    def _render(self, X_WN, X_WC, time_s: float, shots, frame: int) -> None:
        rgb = self._renderer.render(X_WN, X_WC)
        if frame and self._video is not None:
            try:
                for _ in range(frame):
                    self._video.write(rgb)
            except OSError as exc:  # ffmpeg could not write (a full disk): see _video_failed
                self._video_failed(exc, time_s)
        if shots:
            png = encode_png(rgb, SNAPSHOT_SIZE)
            for kind, caption in shots:
                self.snapshots.append(Snapshot(float(time_s), kind, caption, png))

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self._error is None:
                    self._render(*job)
            except BaseException as exc:  # handed to the loop's thread at the next call
                self._error = exc
            finally:
                self._jobs.task_done()

    def __enter__(self) -> SessionCamera:
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            if self._jobs is not None and self._worker is not None and self._worker.is_alive():
                self._jobs.put(None)
                self._worker.join(timeout=10)
        self.close()
