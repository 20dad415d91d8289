"""Writing a session to MCAP: Foxglove schemas for what a viewer draws, the inputs for a replay.

One file per session, opened in Foxglove (``foxglove.*`` protobuf schemas) and Rerun
(``rerun out.mcap``: it converts ``foxglove.FrameTransforms`` and ``foxglove.PoseInFrame``;
the JSON channels appear as raw messages). Channels (CRTK names; every message's
``log_time`` and ``publish_time`` are the session's simulated time in nanoseconds from
0, not Unix time: Foxglove's timeline shows 1970-01-01 00:00:00 plus the simulated time.
When the session began is the metadata's ``session_started_utc``):

=============================  ===========================  ===============================
topic                          schema                       when
=============================  ===========================  ===============================
``/scene``                     ``foxglove.SceneUpdate``     once: every body's and arm link's
                                                            visual meshes (triangle lists)
``/tf``                        ``foxglove.FrameTransforms`` every pose frame: every body and
                                                            arm link in ``world``
``<arm>/measured_cp``          ``foxglove.PoseInFrame``     every pose frame: the tool tip
``<arm>/measured_js``          JSON                         every pose frame: joints, jaw
``<arm>/servo_cp``             JSON                         each step it is commanded (4x4
                                                            row-major, frame)
``<arm>/servo_jp``             JSON                         idem (joint goals)
``<arm>/jaw/servo_jp``         JSON                         idem (jaw goal)
``<arm>/master/measured_cp``   JSON                         each master (device) sample: the
                                                            handle pose, gripper, clutch
``session/events``             ``foxglove.Log``             each event (grasps, steps, ...)
``session/metrics``            JSON                         live metrics and score estimate
``session/score``              JSON                         at the end: metrics, score, ending
=============================  ===========================  ===============================

Every command message carries ``step`` (the physics step it was applied at) and
``steps`` (how many steps it was held): with the seed, the scenario text and the
configuration (MCAP metadata ``surgisim``), that is everything a replay needs. Poses and
commands are float64 (JSON numbers are written with Python's shortest round-trip repr),
so a replay on the same machine compares equal to the last bit.

The file appears whole: it is written to ``NAME.mcap.partial`` (owner-only, locked
against a second run recording to the same file) and renamed to ``NAME.mcap`` when the
session ends (:mod:`~sim.session.recording.partial`). A run killed while recording leaves
the partial file, readable up to its last complete block of messages.

A recording is an output, not the session: when the file cannot be written any more (a
full disk), the recorder says so once (a logged warning), stops writing and keeps what it
wrote as the partial file, and the session goes on (:attr:`McapRecorder.error`).

Meshes are the world's own: scenery and objects from their
:class:`~sim.world.boards.BodyGeometry` visuals, arm links from their URDF meshes; a
plane (the floor) is drawn as a thin 2 m square. The renderer's scene description will
replace this reading of pybullet's visual shapes once it lands.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from kinematics.transforms import matrix_to_quat_xyzw
from sim.session.commands import ArmCommand, normalise
from sim.session.provenance import plugin_digests, session_plugins, surgisim_version

FORMAT_VERSION = 1
METADATA_NAME = "surgisim"
WORLD_FRAME = "world"

_JSON_SCHEMA = json.dumps({"type": "object"}).encode()
_log = logging.getLogger(__name__)


def _ns(time_s: float) -> int:
    return round(time_s * 1e9)


def _json(value) -> bytes:
    return json.dumps(value, default=_plain, allow_nan=True).encode()


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def command_dict(command: ArmCommand, step: int, steps: int) -> dict:
    """An :class:`ArmCommand` as the JSON the recording keeps (lossless)."""
    out: dict = {"step": step, "steps": steps}
    if command.servo_cp is not None:
        out["servo_cp"] = np.asarray(command.servo_cp, float).reshape(-1).tolist()
        out["frame"] = command.frame
    if command.servo_jp is not None:
        out["servo_jp"] = np.asarray(command.servo_jp, float).tolist()
    if command.jaw_rad is not None:
        out["jaw_rad"] = float(command.jaw_rad)
    return out


def config_dict(config) -> dict:
    """A :class:`SessionConfig` as JSON-able data (nested dataclasses as dicts)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=_plain))


def _until_the_file_fails(method):
    """Run a recorder method unless the file has failed; an ``OSError`` (a full disk)
    stops the recording there instead of ending the session (:meth:`McapRecorder._stop`)."""

    @functools.wraps(method)
    def guarded(self, session, *args, **kwargs):
        if self.error is not None:
            return None
        try:
            return method(self, session, *args, **kwargs)
        except OSError as exc:
            self._stop(exc, session.time_s)
            return None

    return guarded


class McapRecorder:
    """Records a session into an MCAP file (see the module docstring).

    Use with :func:`sim.session.controllers.run_controller` (``recorder=``), or call
    ``start`` / ``commands`` / ``stepped`` / ``finish`` around your own loop::

        rec = McapRecorder("out.mcap")
        rec.start(session, driver="my-agent")
        rec.commands(session, commands, steps)  # before each advance
        session.advance(commands, steps)
        rec.stepped(session)  # after it
        rec.finish(session, result, metrics)

    The file is claimed (its partial file created and locked) by :meth:`claim`, or by
    ``start`` at the latest; call ``claim`` before a run to be refused before it, and
    :meth:`abandon` if the run fails.

    A write that fails (``OSError``: a full disk) stops the recording, not the session:
    the recorder logs one warning, writes nothing more and keeps what it wrote as the
    partial file (:attr:`error` says why, :attr:`kept` where, :attr:`stopped_at_s` when).

    Args:
        path: the file to write.
        pose_rate_hz: how often transforms, tips and joints are written (Hz).
        meshes: write the scene's meshes once (``/scene``).
        scenario_text: the scenario's YAML (kept in the file for replays); None finds a
            bundled scenario's by name.
        overwrite: replace an existing ``path`` (and a partial file a killed run left);
            ``surgisim run`` passes False unless ``--overwrite`` is given. A file another
            live run is recording to is refused either way.
        session_started_unix_s: when the session began (Unix time, s), written to the
            metadata as ``session_started_utc`` (ISO 8601, UTC): ``surgisim run`` passes
            the start its records keep; None takes the time :meth:`start` is called.
            (``created_utc`` is when the file was made, after the run's start-up.)
    """

    def __init__(
        self,
        path,
        *,
        pose_rate_hz: float = 60.0,
        meshes: bool = True,
        scenario_text: str | None = None,
        overwrite: bool = True,
        session_started_unix_s: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.session_started_unix_s = session_started_unix_s
        self.scenario_text = scenario_text
        self.pose_rate_hz = pose_rate_hz
        self.meshes = meshes
        self.overwrite = overwrite
        self._target = None
        self._writer = None
        self._channels: dict[str, int] = {}
        #: why the file stopped being written (None: it has not)
        self.error: str | None = None
        #: the partial file kept when it did (None: nothing was written)
        self.kept: Path | None = None
        #: simulated time (s) at which it stopped
        self.stopped_at_s: float | None = None
        #: its partial file was removed by another program (``trainee forget``) while
        #: the run wrote it: nothing of it is kept
        self.removed = False

    # ---- the file ---------------------------------------------------------------------------
    def claim(self) -> None:
        """Claim the file now (idempotent).

        Raises:
            SimError: another run is recording to it, or it exists (or a killed run's
                partial file does) and ``overwrite`` is false.
        """
        from sim.session.recording.partial import PartialRecording

        if self._target is None:
            self._target = PartialRecording(self.path, overwrite=self.overwrite)

    def abandon(self):
        """Give the file up after a failed run: returns the partial file kept with what
        was written (for ``surgisim replay``), or None (nothing was, or it was finished)."""
        target, self._target = self._target, None
        writer, self._writer = self._writer, None
        if writer is not None:
            # end the file properly: what was recorded stays readable, buffered block too
            with contextlib.suppress(Exception):
                writer.finish()
        if target is None:
            return None
        kept = target.abandon()
        self.removed = target.removed
        return kept

    def not_kept(self) -> str:
        """Why nothing of the recording is kept: its partial file was removed while the
        run wrote it (a ``trainee forget``), or nothing was written."""
        if self.removed:
            from sim.session.recording.partial import partial_path

            partial = partial_path(self.path)
            return f"its partial file {partial} was removed meanwhile (trainee forget removes it)"
        return "nothing was kept"

    def _stop(self, exc: OSError, time_s: float) -> None:
        """The file cannot be written (see the class docstring): keep what is in it and
        say so once. The writer is dropped without ``finish``: after a failed write its
        state is unknown, and anything written now could follow half a record; the bytes
        that did reach the file are a prefix of the recording, which a replay reads."""
        self._writer = None
        target, self._target = self._target, None
        self.kept = None if target is None else target.abandon()
        self.removed = target is not None and target.removed
        self.error = exc.strerror or str(exc)
        self.stopped_at_s = float(time_s)
        kept = (
            f"what it holds so far is kept in {self.kept} (surgisim replay reads it up to "
            "its last complete block of messages, if it got to write one)"
            if self.kept is not None
            else self.not_kept()
        )
        _log.warning(
            "warning: the recording %s cannot be written: %s. It stops here (%.1f s "
            "simulated); %s. The session goes on.",
            self.path,
            self.error,
            self.stopped_at_s,
            kept,
        )

    # ---- channels ---------------------------------------------------------------------------
    def _channel(self, topic: str, message_class=None) -> int:
        channel = self._channels.get(topic)
        if channel is None:
            w = self._writer
            if message_class is None:
                if self._json_schema is None:
                    self._json_schema = w.register_schema(
                        "surgisim.Json", "jsonschema", _JSON_SCHEMA
                    )
                channel = w.register_channel(topic, "json", self._json_schema)
            else:
                from mcap_protobuf.schema import register_schema

                name = message_class.DESCRIPTOR.full_name
                if name not in self._schemas:
                    self._schemas[name] = register_schema(w, message_class)
                channel = w.register_channel(topic, "protobuf", self._schemas[name])
            self._channels[topic] = channel
        return channel

    def _write_json(self, topic: str, time_s: float, value) -> None:
        t = _ns(time_s)
        self._writer.add_message(self._channel(topic), t, _json(value), t)

    def _write_proto(self, topic: str, time_s: float, message) -> None:
        t = _ns(time_s)
        self._writer.add_message(
            self._channel(topic, type(message)), t, message.SerializeToString(), t
        )

    # ---- the recorder protocol --------------------------------------------------------------
    @_until_the_file_fails
    def start(self, session, driver: str = "") -> None:
        """Open the file and write the metadata, the scene and the first frame."""
        from mcap.writer import CompressionType, Writer

        self.claim()
        self._writer = Writer(self._target.open(), compression=CompressionType.ZSTD)
        self._writer.start(profile="", library="surgisim")
        self._schemas: dict[str, int] = {}
        self._json_schema = None
        self._channels = {}
        self._events_seen = 0
        self._metrics_seen: dict | None = None
        self._pose_every = max(1, round(session.world.rate_hz / self.pose_rate_hz))
        self._last_pose_step = -1
        self._links = _link_table(session.world)
        scenario = session.scenario
        text = self.scenario_text
        if text is None and _is_bundled(scenario.name):
            from scenarios.loader import resolve

            text = resolve(scenario.name).read_text()
        self._writer.add_metadata(
            METADATA_NAME,
            {
                "format_version": str(FORMAT_VERSION),
                "scenario": scenario.name,
                "scenario_yaml": text or "",
                "seed": str(session.seed),
                "driver": driver,
                "physics_rate_hz": repr(float(session.world.rate_hz)),
                # as the session runs it: the teleoperation's rate_hz is the rate its
                # filters were built for (500 Hz headless, not TeleopConfig's 1 kHz)
                "config": json.dumps(config_dict(session.effective_config)),
                # what made the file and when: a replay that differs can be traced
                "surgisim_version": surgisim_version(),
                # the user's IK solver and tremor filter modules ("" for surgisim's own):
                # a replay after one was edited names it
                **plugin_digests(session_plugins(session.config)),
                "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                "session_started_utc": self._session_started_utc(),
            },
        )
        if self.meshes:
            self._write_proto("/scene", session.time_s, _scene_update(session.world, self._links))
        self.stepped(session)

    def _session_started_utc(self) -> str:
        """The session's start as ISO 8601 UTC: the messages' times are simulated
        nanoseconds from 0, so this is what places the recording in wall-clock time."""
        started = self.session_started_unix_s
        when = datetime.now(UTC) if started is None else datetime.fromtimestamp(started, UTC)
        return when.isoformat(timespec="seconds")

    @_until_the_file_fails
    def commands(self, session, commands, steps: int = 1) -> None:
        """Write the commands about to be applied for ``steps`` steps from now."""
        given, _ = normalise(commands, list(session.arms))
        step, time_s = session.world.step_count, session.time_s
        for arm, command in given.items():
            base = command_dict(command, step, steps)
            if command.servo_cp is not None:
                self._write_json(f"{arm}/servo_cp", time_s, base)
            elif command.servo_jp is not None:
                self._write_json(f"{arm}/servo_jp", time_s, base)
            if command.jaw_rad is not None:
                self._write_json(
                    f"{arm}/jaw/servo_jp",
                    time_s,
                    {"step": step, "steps": steps, "jaw_rad": base["jaw_rad"]},
                )
            for k, sample in enumerate(command.master):
                self._write_json(
                    f"{arm}/master/measured_cp",
                    time_s,
                    {
                        "step": step,
                        "steps": steps,
                        "index": k,
                        "time_s": float(sample.time_s),
                        "X_MH": np.asarray(sample.X_MH, float).reshape(-1).tolist(),
                        "gripper_rad": float(sample.gripper_rad),
                        "clutch": bool(sample.clutch),
                    },
                )

    @_until_the_file_fails
    def stepped(self, session) -> None:
        """Write what is due after a step: events, metrics, and a pose frame at the pose rate."""
        events = session.recorder.events
        for event in events[self._events_seen :]:
            self._write_event(event)
        self._events_seen = len(events)
        step = session.world.step_count
        if step // self._pose_every != self._last_pose_step // self._pose_every or step == 0:
            self._last_pose_step = step
            self._write_frame(session)

    @_until_the_file_fails
    def finish(
        self, session, result=None, metrics: dict | None = None, ended: str | None = None
    ) -> None:
        """Write the last frame and the score (with ``ended``, how the records file the
        run: ``completed``, ``time_limit``, ``failed``, ``gave_up``, ``stopped``); close
        the file and move it into place."""
        if self._writer is None:
            return
        self.stepped(session)
        if self._last_pose_step != session.world.step_count:
            self._last_pose_step = session.world.step_count
            self._write_frame(session)
        self._write_safety(session)
        if result is not None:
            self._write_json(
                "session/score",
                session.time_s,
                {
                    "step": session.world.step_count,
                    "completed": bool(result.completed),
                    "ended": ended,
                    "result": result.as_dict(),
                    "metrics": metrics if metrics is not None else {},
                },
            )
        self._writer.finish()
        self._writer = None
        self._target.commit()
        self._target = None

    # ---- frames -----------------------------------------------------------------------------
    def _write_frame(self, session) -> None:
        from foxglove_schemas_protobuf.FrameTransforms_pb2 import FrameTransforms
        from foxglove_schemas_protobuf.PoseInFrame_pb2 import PoseInFrame

        t = session.time_s
        state = session.state()
        if state.metrics != self._metrics_seen:
            self._metrics_seen = dict(state.metrics)
            self._write_json(
                "session/metrics",
                t,
                {"metrics": state.metrics, "score_estimate": state.score_estimate},
            )
        transforms = FrameTransforms()
        for frame, X in _frame_poses(session.world, self._links):
            tf = transforms.transforms.add()
            _stamp(tf.timestamp, t)
            tf.parent_frame_id = WORLD_FRAME
            tf.child_frame_id = frame
            _set_vector(tf.translation, X[:3, 3])
            _set_quat(tf.rotation, X[:3, :3])
        self._write_proto("/tf", t, transforms)
        step = session.world.step_count
        for name, arm in state.arms.items():
            X = arm.X_WT
            pose = PoseInFrame()
            _stamp(pose.timestamp, t)
            pose.frame_id = WORLD_FRAME
            _set_vector(pose.pose.position, X[:3, 3])
            _set_quat(pose.pose.orientation, X[:3, :3])
            self._write_proto(f"{name}/measured_cp", t, pose)
            self._write_json(
                f"{name}/measured_js",
                t,
                {
                    "step": step,
                    "name": list(arm.joint_names),
                    "position": np.asarray(arm.measured_js, float).tolist(),
                    "jaw_rad": float(arm.jaw_rad),
                    "X_WT": X.reshape(-1).tolist(),
                },
            )

    def _write_safety(self, session) -> None:
        """The safety episodes (instrument collisions, scenery contacts, excessive force,
        out of view, a held object touching), as the report lists them and the metrics
        count them, on ``session/safety`` at the time each began. They are measured from
        the trace's rows at the end (an episode's length and peak are known only then),
        so they come last in the file, stamped in the past: indexed readers (Foxglove,
        ``mcap`` with ``log_time_order``) place them in time. A killed run has none."""
        from foxglove_schemas_protobuf.Log_pb2 import Log

        from scenarios.evaluate import scored_end
        from scenarios.report_score import safety_episodes

        trace = session.trace_snapshot()
        limit_n = session.scenario.scoring.thresholds.excessive_force_n
        for episode in safety_episodes(trace, limit_n, scored_end(trace)):
            log = Log()
            _stamp(log.timestamp, episode.time_s)
            log.level = Log.Level.WARNING
            log.name = episode.what
            log.message = json.dumps({"kind": episode.what, "detail": episode.detail})
            self._write_proto("session/safety", episode.time_s, log)

    def _write_event(self, event) -> None:
        from foxglove_schemas_protobuf.Log_pb2 import Log

        log = Log()
        _stamp(log.timestamp, event.time_s)
        bad = event.kind in ("command_refused", "unreachable", "drop", "failed")
        log.level = Log.Level.WARNING if bad else Log.Level.INFO
        log.name = event.kind
        log.message = json.dumps({"kind": event.kind, **event.data}, default=_plain)
        self._write_proto("session/events", event.time_s, log)


def _is_bundled(name: str) -> bool:
    from scenarios.loader import library_names

    return name in library_names()


def _stamp(timestamp, time_s: float) -> None:
    ns = _ns(time_s)
    timestamp.seconds, timestamp.nanos = divmod(ns, 1_000_000_000)


def _set_vector(v, p) -> None:
    v.x, v.y, v.z = (float(p[0]), float(p[1]), float(p[2]))


def _set_quat(q, R) -> None:
    x, y, z, w = matrix_to_quat_xyzw(R)
    q.x, q.y, q.z, q.w = float(x), float(y), float(z), float(w)


# ---- reading the world's frames and meshes ---------------------------------------------------
def _link_table(world) -> list[tuple[str, int, int]]:
    """(frame name, pybullet body, link index) for every body's base and every arm link."""
    table = []
    for body, info in world.bodies.items():
        table.append((info.name, body, -1))
        if info.role == "instrument":
            for link, name in world.link_names(body).items():
                if link >= 0:
                    table.append((f"{info.name}/{name}", body, link))
    return table


def _frame_poses(world, links):
    """(frame, X_W_frame 4x4) of every frame in ``links``; a link's frame is its URDF link
    frame, a base's is the body frame."""
    pb, c = world.pb, world.client
    for frame, body, link in links:
        if link < 0:
            try:
                p, q = pb.getBasePositionAndOrientation(body, physicsClientId=c)
            except Exception:  # removed by a scenario action
                continue
        else:
            state = pb.getLinkState(body, link, computeForwardKinematics=True, physicsClientId=c)
            p, q = state[4], state[5]
        X = np.eye(4)
        X[:3, :3] = np.array(pb.getMatrixFromQuaternion(q)).reshape(3, 3)
        X[:3, 3] = p
        yield frame, X


def _scene_update(world, links):
    """``foxglove.SceneUpdate`` with one entity per frame that has visuals."""
    from foxglove_schemas_protobuf.SceneUpdate_pb2 import SceneUpdate

    update = SceneUpdate()
    pb, c = world.pb, world.client
    for frame, body, link in links:
        info = world.bodies[body]
        entity = None

        def new_entity(frame=frame):
            e = update.entities.add()
            e.frame_id = frame
            e.id = frame
            e.frame_locked = True
            return e

        geometry = info.geometry
        if link < 0 and geometry is not None and getattr(geometry, "visuals", None):
            entity = new_entity()
            for mesh, rgba in geometry.visuals:
                _add_triangles(entity, np.asarray(mesh.vertices), np.asarray(mesh.faces), rgba)
            continue
        for shape in pb.getVisualShapeData(body, physicsClientId=c):
            if shape[1] != link:
                continue
            kind, dims, filename = shape[2], shape[3], shape[4].decode(errors="replace")
            rgba = shape[7]
            X_LV = np.eye(4)
            X_LV[:3, :3] = np.array(pb.getMatrixFromQuaternion(shape[6])).reshape(3, 3)
            X_LV[:3, 3] = shape[5]
            if link >= 0:
                # pybullet gives visual frames relative to the link's inertial frame
                state = pb.getLinkState(body, link, physicsClientId=c)
                X_LI = np.eye(4)
                X_LI[:3, :3] = np.array(pb.getMatrixFromQuaternion(state[3])).reshape(3, 3)
                X_LI[:3, 3] = state[2]
                X_LV = X_LI @ X_LV
            entity = entity or new_entity()
            if kind == pb.GEOM_MESH and filename and Path(filename).is_file():
                import trimesh

                mesh = trimesh.load(filename, force="mesh")
                vertices = np.asarray(mesh.vertices) * np.asarray(dims)
                vertices = vertices @ X_LV[:3, :3].T + X_LV[:3, 3]
                _add_triangles(entity, vertices, np.asarray(mesh.faces), rgba)
            elif kind == pb.GEOM_PLANE:
                cube = entity.cubes.add()
                _set_pose(cube.pose, X_LV)
                cube.size.x, cube.size.y, cube.size.z = 2.0, 2.0, 0.001
                _set_color(cube.color, rgba)
            elif kind == pb.GEOM_BOX:
                cube = entity.cubes.add()
                _set_pose(cube.pose, X_LV)
                cube.size.x, cube.size.y, cube.size.z = (float(d) for d in dims)
                _set_color(cube.color, rgba)
            elif kind == pb.GEOM_SPHERE:
                sphere = entity.spheres.add()
                _set_pose(sphere.pose, X_LV)
                d = 2.0 * float(dims[0])
                sphere.size.x = sphere.size.y = sphere.size.z = d
                _set_color(sphere.color, rgba)
            elif kind in (pb.GEOM_CYLINDER, pb.GEOM_CAPSULE):
                cylinder = entity.cylinders.add()
                _set_pose(cylinder.pose, X_LV)
                length, radius = float(dims[0]), float(dims[1])
                cylinder.size.x = cylinder.size.y = 2.0 * radius
                cylinder.size.z = length
                cylinder.bottom_scale = cylinder.top_scale = 1.0
                _set_color(cylinder.color, rgba)
    return update


def _add_triangles(entity, vertices: np.ndarray, faces: np.ndarray, rgba) -> None:
    triangles = entity.triangles.add()
    triangles.pose.orientation.w = 1.0
    for x, y, z in vertices[faces.reshape(-1)]:
        point = triangles.points.add()
        point.x, point.y, point.z = float(x), float(y), float(z)
    _set_color(triangles.color, rgba)


def _set_pose(pose, X) -> None:
    _set_vector(pose.position, X[:3, 3])
    _set_quat(pose.orientation, X[:3, :3])


def _set_color(color, rgba) -> None:
    r, g, b, a = (list(rgba) + [1.0] * 4)[:4]
    color.r, color.g, color.b, color.a = float(r), float(g), float(b), float(a)
    if not math.isfinite(color.a) or color.a <= 0:
        color.a = 1.0
