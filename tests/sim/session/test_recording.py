"""Recordings: the MCAP file read back with the mcap reader (Foxglove schemas, a transform
per frame for every body and arm link, the score), replays, re-scoring and exports."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from scenarios.loader import load_scenario
from sim.cli import app
from sim.session.controllers import ScriptedController, run_controller
from sim.session.recording import McapRecorder, export_trace, read_recording, replay


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A needle handover by the expert's plan (master samples through teleoperation),
    recorded."""
    path = tmp_path_factory.mktemp("rec") / "handover.mcap"
    scenario = load_scenario("needle-handover")
    outcome = run_controller(
        scenario, ScriptedController("expert"), seed=5, recorder=McapRecorder(path)
    )
    return path, outcome


def test_the_file_has_foxglove_schemas_a_transform_per_frame_and_the_score(recorded):
    from mcap.reader import make_reader
    from mcap_protobuf.decoder import DecoderFactory

    path, outcome = recorded
    schemas, frames, scene, score, tips = {}, [], None, None, 0
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for schema, channel, message in reader.iter_messages():
            schemas[channel.topic] = (schema.name, schema.encoding)
            if channel.topic == "/tf":
                frames.append(reader_decode(schema, message))
            elif channel.topic == "/scene":
                scene = reader_decode(schema, message)
            elif channel.topic == "PSM1/measured_cp":
                tips += 1
            elif channel.topic == "session/score":
                score = json.loads(message.data)
    assert schemas["/tf"] == ("foxglove.FrameTransforms", "protobuf")
    assert schemas["/scene"] == ("foxglove.SceneUpdate", "protobuf")
    assert schemas["PSM1/measured_cp"] == ("foxglove.PoseInFrame", "protobuf")
    assert schemas["session/events"] == ("foxglove.Log", "protobuf")
    assert {"PSM1/master/measured_cp", "session/metrics"} <= set(schemas)
    # every frame has a transform for every body and every arm link, in the world
    names = {t.child_frame_id for t in frames[0].transforms}
    assert {"pad", "pad/needle", "floor", "PSM1", "PSM1/tool_tip", "PSM2/jaw_left_link"} <= names
    assert "ECM/roll_link" in names
    for frame in frames:
        assert {t.child_frame_id for t in frame.transforms} == names
        assert {t.parent_frame_id for t in frame.transforms} == {"world"}
    # about 60 frames per simulated second
    assert len(frames) == pytest.approx(60 * outcome.sim_time_s, rel=0.05)
    assert tips == len(frames)
    # meshes once, drawn in the frames that move them
    entities = {e.frame_id: e for e in scene.entities}
    assert {"pad/needle", "PSM1/wrist_yaw_link"} <= set(entities)
    assert len(entities["pad/needle"].triangles[0].points) % 3 == 0
    assert len(entities["pad/needle"].triangles[0].points) > 0
    assert score["result"]["score"] == pytest.approx(outcome.result.score)
    assert score["completed"] is True and score["ended"] == "completed"


def reader_decode(schema, message):
    from mcap_protobuf.decoder import DecoderFactory

    return DecoderFactory().decoder_for("protobuf", schema)(message.data)


def test_the_tip_poses_in_the_file_are_the_sessions(recorded):
    path, outcome = recorded
    rec = read_recording(path)
    assert rec.metadata["driver"] == "scripted-expert" and rec.seed == 5
    # what made it and when: a replay that differs can be traced to a version
    from sim.session.provenance import surgisim_version

    assert rec.metadata["surgisim_version"] == surgisim_version()
    assert rec.metadata["created_utc"].endswith("+00:00")
    # messages are stamped with simulated time from 0: this places the file in real time
    assert rec.metadata["session_started_utc"].endswith("+00:00")
    trace_rows = outcome.trace.instruments["PSM1"].tip_position_m
    # the last frame is the session's end: the trace's last row is the same tip
    last = rec.tips[max(rec.tips)]["PSM1"]
    np.testing.assert_allclose(last[:3, 3], trace_rows[-1], atol=1e-3)


def test_replay_reproduces_the_recording(recorded, tmp_path):
    path, outcome = recorded
    result = replay(path)
    assert result.frames_compared == len(read_recording(path).tips)
    assert result.max_position_error_m == 0.0 and result.max_rotation_error_rad == 0.0
    assert result.replayed_score == result.recorded_score == outcome.result.score
    out = CliRunner().invoke(app, ["replay", str(path), "--trace", str(tmp_path / "t.csv")])
    assert out.exit_code == 0, out.output
    header = (tmp_path / "t.csv").read_text().splitlines()[0].split(",")
    assert header[:2] == ["time_s", "PSM1.tip_position_m.x"]


def test_rescore_a_recording_under_another_rubric(recorded, tmp_path):
    path, _outcome = recorded
    from scenarios.loader import resolve

    text = resolve("needle-handover").read_text()
    strict = tmp_path / "strict.yaml"  # no time is short enough: fails whatever the run did
    strict.write_text(text.replace("completion_time_s: {}", "completion_time_s: {limit: 0.001}"))
    result = CliRunner().invoke(
        app, ["rescore", "--recording", str(path), "--scenario", str(strict)]
    )
    assert result.exit_code == 0, result.output
    assert "re-scored" in result.output and "FAIL" in result.output
    assert "original (kept)" in result.output
    assert CliRunner().invoke(app, ["rescore"]).exit_code == 2
    # another scenario's rubric only when forced
    other = CliRunner().invoke(
        app, ["rescore", "--recording", str(path), "--scenario", "peg-transfer"]
    )
    assert other.exit_code == 2 and "--force" in other.output
    assert (
        "the one of 'peg-transfer'" in " ".join(other.output.split()) and "''" not in other.output
    )
    forced = CliRunner().invoke(
        app, ["rescore", "--recording", str(path), "--scenario", "peg-transfer", "--force"]
    )
    assert forced.exit_code == 0 and "forced" in forced.output


def test_rescore_with_edited_thresholds_replays_the_recording_to_measure_again(recorded, tmp_path):
    """The README's ``rescore --recording out.mcap --scenario edited.yaml`` with an edited
    force limit: the recording is replayed (bit-exact here) and measured again."""
    from scenarios.loader import resolve

    path, outcome = recorded
    text = resolve("needle-handover").read_text()
    assert "excessive_force_n: 2.5" in text
    edited = tmp_path / "force-limit.yaml"
    edited.write_text(text.replace("excessive_force_n: 2.5", "excessive_force_n: 0.5"))
    result = CliRunner().invoke(
        app, ["rescore", "--recording", str(path), "--scenario", str(edited)]
    )
    assert result.exit_code == 0, result.output
    words = " ".join(result.output.split())
    assert f"replaying {path} to measure them again" in words
    assert "measured again from a replay of the recording" in words
    assert "within 0 m of the recording" in words
    assert "No such option" not in words
    # the lower force limit counts force the recorded 2.5 N limit did not
    from sim.session.recording.rescore import rescore_recording

    original, new = rescore_recording(path, edited)
    assert original.score == pytest.approx(outcome.result.score)
    force = "excessive_force_time_s"
    assert new.metrics[force].value > outcome.metrics[force]
    assert new.context["metrics_from"].startswith("measured again from a replay")


def test_rescore_from_a_replay_measures_what_the_run_measured(recorded):
    """Under the recorded thresholds, the replay's metrics are the recorded ones: the
    regenerated trace is the session's."""
    from scenarios.loader import parse_scenario
    from sim.session.recording.rescore import _measured_by_replay

    path, _outcome = recorded
    rec = read_recording(path)
    spec = parse_scenario(rec.scenario_yaml, "<recorded>")
    metrics, _ = _measured_by_replay(rec, path, spec, spec)
    assert metrics == rec.score["metrics"]


def test_rescore_refuses_edited_thresholds_when_the_replay_diverges(
    recorded, tmp_path, monkeypatch
):
    """A recording made elsewhere may not replay to the bit: past replay's tolerance its
    trace would be another session's, so the re-score is refused, saying why."""
    import importlib

    from scenarios.loader import resolve
    from sim.errors import SimError
    from sim.session.recording.replay import ReplayResult
    from sim.session.recording.rescore import rescore_recording

    path, _ = recorded
    # the module (the package exports a function of the same name)
    replay_module = importlib.import_module("sim.session.recording.replay")
    monkeypatch.setattr(
        replay_module, "replay", lambda rec: ReplayResult(585, 2e-3, 0.01, 100.0, 90.0)
    )
    edited = tmp_path / "force-limit.yaml"
    text = resolve("needle-handover").read_text()
    edited.write_text(text.replace("excessive_force_n: 2.5", "excessive_force_n: 0.5"))
    with pytest.raises(SimError, match="does not reproduce the recording") as error:
        rescore_recording(path, edited)
    assert "0.002 m" in str(error.value) and "tolerance" in str(error.value)
    # a plug-in edited since recording is named as the likely cause
    edited_filter = ReplayResult(
        585, 2e-3, 0.01, 100.0, 90.0, changed_plugins=("the tremor filter m:f",)
    )
    monkeypatch.setattr(replay_module, "replay", lambda rec: edited_filter)
    with pytest.raises(SimError, match="the tremor filter m:f changed since recording"):
        rescore_recording(path, edited)


def test_trace_export_to_parquet_has_a_column_per_signal_and_axis(recorded, tmp_path):
    import pyarrow.parquet as pq

    _, outcome = recorded
    path = export_trace(outcome.trace, tmp_path / "trace.parquet")
    table = pq.read_table(path)
    assert table.num_rows == len(outcome.trace.time_s)
    np.testing.assert_array_equal(
        table.column("PSM2.tip_position_m.z").to_numpy(),
        outcome.trace.instruments["PSM2"].tip_position_m[:, 2],
    )


def test_a_file_that_is_not_a_recording_is_refused(tmp_path):
    from sim.errors import SimError

    with pytest.raises(SimError, match="does not exist"):
        read_recording(tmp_path / "missing.mcap")
    from mcap.writer import Writer

    other = tmp_path / "other.mcap"
    with other.open("wb") as f:
        w = Writer(f)
        w.start()
        w.finish()
    with pytest.raises(SimError, match="not a surgisim recording"):
        read_recording(other)


# ---- files that are not whole recordings -------------------------------------------------------
def _cut(path, out, size: int):
    out.write_bytes(path.read_bytes()[:size])
    return out


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda good, out: out.write_bytes(b""), ["is empty", "not a recording"]),
        (lambda good, out: out.write_text("hello\n"), ["is not an MCAP file"]),
        (lambda good, out: _cut(good, out, 20), ["is truncated", "before its surgisim metadata"]),
        # the user's ``head -c 100000``: the header and metadata, not one block of messages
        (
            lambda good, out: _cut(good, out, 100_000),
            ["is truncated", "run killed while recording", "nothing in it to replay"],
        ),
    ],
)
def test_a_file_that_holds_nothing_to_replay_is_refused_in_one_line(
    recorded, tmp_path, make, words
):
    from sim.errors import SimError

    bad = tmp_path / "bad.mcap"
    make(recorded[0], bad)
    with pytest.raises(SimError) as error:
        read_recording(bad)
    message = str(error.value)
    assert str(bad) in message and all(w in message for w in words), message
    # on the command line: one line naming the file, exit code 2, no traceback
    for args in (["replay", str(bad)], ["rescore", "--recording", str(bad)]):
        out = CliRunner().invoke(app, args)
        assert out.exit_code == 2, out.output
        assert "Traceback" not in out.output and "unexpected" not in out.output
        assert " ".join(out.output.split()).startswith(f"error: {bad}"), out.output


def _damaged(good, out):
    data = bytearray(good.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 100] = bytes(100)  # inside a compressed block of messages
    out.write_bytes(bytes(data))
    return out


def test_a_damaged_recording_is_refused_naming_the_damage(recorded, tmp_path):
    """What two runs writing one file used to leave (ZstdError: data corruption)."""
    bad = _damaged(recorded[0], tmp_path / "damaged.mcap")
    for args in (["replay", str(bad)], ["rescore", "--recording", str(bad)]):
        out = CliRunner().invoke(app, args)
        text = " ".join(out.output.split())
        assert out.exit_code == 2 and f"error: {bad} is damaged" in text, out.output
        assert "Traceback" not in text and "please report it" not in text


def test_a_truncated_recording_replays_the_part_it_holds(recorded, tmp_path):
    """A file cut off mid-write keeps its blocks of messages up to the cut: the replay
    re-runs that beginning of the session, exactly, and says that is what it did."""
    path, outcome = recorded
    cut = _cut(path, tmp_path / "cut.mcap", path.stat().st_size // 2)
    rec = read_recording(cut)
    assert rec.cut_short is not None and "is truncated" in rec.cut_short
    assert rec.score is None and rec.tips and rec.commands
    assert max(rec.tips) < max(read_recording(path).tips)
    result = replay(rec)
    assert result.frames_compared == len(rec.tips)
    assert result.max_position_error_m == 0.0 and result.max_rotation_error_rad == 0.0
    assert 0 < result.sim_time_s < outcome.sim_time_s
    out = CliRunner().invoke(app, ["replay", str(cut)])
    text = " ".join(out.output.split())
    assert out.exit_code == 0, out.output
    assert f"note: {cut} is truncated" in text and "not the whole session" in text
    refused = CliRunner().invoke(app, ["rescore", "--recording", str(cut)])
    text = " ".join(refused.output.split())
    assert refused.exit_code == 2 and "no score" in text and f"surgisim replay {cut}" in text


# ---- how a recording is written ----------------------------------------------------------------
class _Short(ScriptedController):
    """The expert's plan for ``acts`` control steps; then the run ends (or fails)."""

    def __init__(self, acts: int, fail: bool = False) -> None:
        super().__init__("expert")
        self.acts, self.fail = acts, fail

    def act(self, state):
        self.acts -= 1
        if self.acts < 0:
            if self.fail:
                raise RuntimeError("the controller failed")
            return None
        return super().act(state)


class _Watching(McapRecorder):
    """Notes, at every step, what a reader of the recording's folder would see."""

    seen: set

    def stepped(self, session) -> None:
        from sim.session.recording.partial import being_recorded, partial_path

        super().stepped(session)
        partial = partial_path(self.path)
        self.seen.add((self.path.exists(), partial.exists(), being_recorded(partial)))


def test_a_recording_appears_whole_and_owner_only_when_the_session_ends(tmp_path):
    import os
    import stat

    from sim.session.recording.partial import partial_path

    path = tmp_path / "whole.mcap"
    recorder = _Watching(path)
    recorder.seen = set()
    old = os.umask(0o022)
    try:
        run_controller(load_scenario("needle-handover"), _Short(1500), recorder=recorder)
    finally:
        os.umask(old)
    # while it ran: no NAME.mcap, a locked NAME.mcap.partial
    assert recorder.seen == {(False, True, True)}
    assert path.is_file() and not partial_path(path).exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rec = read_recording(path)
    assert rec.cut_short is None and rec.score is not None


def test_a_file_being_recorded_is_not_recorded_to_again(tmp_path):
    from sim.errors import SimError
    from sim.session.recording.partial import partial_path

    path = tmp_path / "same.mcap"
    first = McapRecorder(path, overwrite=False)
    first.claim()
    for overwrite in (False, True):  # a live run's file is refused either way
        with pytest.raises(SimError, match="another run is recording to"):
            McapRecorder(path, overwrite=overwrite).claim()
    assert first.abandon() is None  # nothing written: nothing kept
    assert not partial_path(path).exists() and not path.exists()
    path.write_bytes(b"an earlier recording")
    with pytest.raises(SimError, match="exists; give --overwrite"):
        McapRecorder(path, overwrite=False).claim()
    assert path.read_bytes() == b"an earlier recording"
    assert not partial_path(path).exists()  # the refused claim left nothing behind
    McapRecorder(path, overwrite=True).claim()


def test_a_run_that_fails_keeps_what_it_recorded_readable(tmp_path):
    """The partial file of a run stopped by an error is closed properly: every message up
    to the failure can be read and replayed, and it says what it is."""
    from sim.errors import SimError
    from sim.session.recording.partial import partial_path
    from sim.session.recording.rescore import rescore_recording

    path = tmp_path / "failed.mcap"
    recorder = McapRecorder(path)
    with pytest.raises(SimError, match="the controller failed"):  # blamed on the controller
        run_controller(load_scenario("needle-handover"), _Short(1500, fail=True), recorder=recorder)
    kept = recorder.abandon()
    assert kept == partial_path(path) and not path.exists()
    rec = read_recording(kept)
    assert "stopped by an error" in rec.cut_short and str(path) in rec.cut_short
    result = replay(rec)
    assert result.frames_compared == len(rec.tips) > 0
    assert result.max_position_error_m == 0.0
    with pytest.raises(SimError, match=r"a run was stopped .* no score"):
        rescore_recording(kept)


def test_recordings_and_trace_exports_are_owner_only(recorded, tmp_path):
    """Like the --json and --report files: a trace is about a trainee."""
    import os
    import stat

    path, outcome = recorded
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    old = os.umask(0o022)
    try:
        for name in ("t.csv", "t.parquet", "new-folder/t.csv"):
            out = export_trace(outcome.trace, tmp_path / name)
            assert stat.S_IMODE(out.stat().st_mode) == 0o600, name
        csv = tmp_path / "cli.csv"
        result = CliRunner().invoke(app, ["replay", str(path), "--trace", str(csv)])
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE(csv.stat().st_mode) == 0o600
    finally:
        os.umask(old)
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary file


class _Dive:
    """Pushes PSM1's tip into the pad for a second, then ends the run: a scenery contact
    and excessive force on every machine, whatever the last bits of the physics."""

    name = "dive"

    def reset(self, scenario, seed):
        self.calls = 0
        self.goal = None

    def act(self, state):
        from sim.session.commands import ArmCommand

        self.calls += 1
        if self.calls > 600:
            return None
        if self.goal is None:
            self.goal = state.arms["PSM1"].X_WT.copy()
            self.goal[2, 3] = 0.0  # the pad's top is ~1 cm up: 1 cm into it
        return {"PSM1": ArmCommand(servo_cp=self.goal)}


def test_the_safety_episodes_are_in_the_recording_as_the_report_lists_them(tmp_path):
    """A recording had only the session's events: no collision, scenery contact or
    excessive force, which the report measures from the trace. They are written at the
    end on session/safety, at the times they began, with the report's own words."""
    from mcap.reader import make_reader
    from mcap_protobuf.decoder import DecoderFactory

    from scenarios.evaluate import scored_end
    from scenarios.report_score import safety_episodes

    path = tmp_path / "dive.mcap"
    scenario = load_scenario("needle-handover")
    outcome = run_controller(scenario, _Dive(), seed=2905, recorder=McapRecorder(path))
    limit_n = scenario.scoring.thresholds.excessive_force_n
    expected = safety_episodes(outcome.trace, limit_n, scored_end(outcome.trace))
    assert {"scenery contact", "excessive force"} <= {e.what for e in expected}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        logged = [
            (m.log_time / 1e9, log.name, json.loads(log.message)["detail"])
            for _, _, m, log in reader.iter_decoded_messages(
                topics=["session/safety"], log_time_order=True
            )
        ]
    assert [(what, detail) for _, what, detail in logged] == [
        (e.what, e.detail) for e in sorted(expected, key=lambda e: e.time_s)
    ]
    assert [t for t, _, _ in logged] == pytest.approx(sorted(e.time_s for e in expected))


def _replay_with_a_moved_tip(rec, path, replay_module, monkeypatch):
    """``surgisim replay PATH`` of ``rec`` with PSM1's last recorded tip moved 2 mm (beyond
    the tolerance, so that the replay differs); the CLI's result."""
    step = max(rec.tips)
    rec.tips[step]["PSM1"] = rec.tips[step]["PSM1"].copy()
    rec.tips[step]["PSM1"][0, 3] += 0.002
    monkeypatch.setattr(replay_module, "read_recording", lambda _path, rec=rec: rec)
    return CliRunner().invoke(app, ["replay", str(path)])


def test_a_replay_that_differs_names_the_other_surgisim_version_that_recorded(
    recorded, monkeypatch
):
    """An older build's recording replayed after an upgrade gave "score 100.00 / 0.00"
    and "not the recorded session" with no word that the versions differ (the file says
    which made it). A recording whose stored version is altered (and one tip moved, so
    that the replay differs) is blamed on the versions; one with no version on an older
    surgisim; one made by this version is not."""
    import importlib

    from sim.session.provenance import surgisim_version

    path, _ = recorded
    replay_module = importlib.import_module("sim.session.recording.replay")
    for stored, blamed in (
        ("0.0.9+gdeadbeef0000", "recorded by surgisim 0.0.9+gdeadbeef0000"),
        (None, "recorded by an older surgisim"),
        (surgisim_version(), None),
    ):
        rec = read_recording(path)
        if stored is None:
            del rec.metadata["surgisim_version"]
        else:
            rec.metadata["surgisim_version"] = stored
        out = _replay_with_a_moved_tip(rec, path, replay_module, monkeypatch)
        assert out.exit_code == 1 and "not the recorded session" in out.stderr, out.output
        if blamed is None:
            assert "versions differ" not in out.stderr
        else:
            assert blamed in out.stderr and "the versions differ" in out.stderr
            assert f"replayed by surgisim {surgisim_version()}" in out.stderr


FILTER = "tests.user_plugins:moving_average"


@pytest.fixture(scope="module")
def recorded_with_filter(tmp_path_factory):
    """The expert's first second of a needle handover through a user's tremor filter,
    recorded."""
    from sim.session.plugins import session_config

    path = tmp_path_factory.mktemp("rec") / "filtered.mcap"
    calls = iter(range(10**9))
    run_controller(
        load_scenario("needle-handover"),
        ScriptedController("expert"),
        seed=9701,
        config=session_config(tremor_filter=FILTER),
        recorder=McapRecorder(path),
        stop=lambda: next(calls) >= 50,  # 1 s of the plan's 50 Hz
    )
    return path


def test_the_recording_keeps_the_effective_teleoperation_rate(recorded):
    """The metadata said 1000 Hz (``TeleopConfig``'s default) while the session built its
    filters at the physics rate, 500 Hz."""
    path, _ = recorded
    rec = read_recording(path)
    config = json.loads(rec.metadata["config"])
    physics_hz = float(rec.metadata["physics_rate_hz"])
    assert physics_hz == 500.0
    for teleop in ("teleop", "scope_teleop"):
        assert config[teleop]["rate_hz"] == physics_hz
        assert config[teleop]["loop_rate_hz"] == physics_hz


def test_a_recording_fingerprints_its_plugins_and_a_replay_names_an_edited_one(
    recorded_with_filter, monkeypatch
):
    """A replay after the tremor filter's module was edited failed the tolerance naming no
    cause: the file kept only the filter's spec. Now it keeps the digests a sweep's rows
    have, and a replay that differs names the plug-in that changed; a recording from
    before the digests (none in its metadata) blames no plug-in."""
    import importlib

    from sim.session.plugins import IK_SOLVER, TREMOR_FILTER
    from sim.session.provenance import plugin_digest

    path = recorded_with_filter
    rec = read_recording(path)
    assert rec.metadata["tremor_filter_digest"] == plugin_digest(TREMOR_FILTER, FILTER) != ""
    assert rec.metadata["ik_solver_digest"] == plugin_digest(IK_SOLVER, None) == ""
    assert replay(rec).changed_plugins == ()
    replay_module = importlib.import_module("sim.session.recording.replay")
    named = f"the tremor filter {FILTER} changed since recording"
    for digest, blamed in (("0123456789abcdef", True), (None, False)):
        rec = read_recording(path)
        if digest is None:
            del rec.metadata["tremor_filter_digest"], rec.metadata["ik_solver_digest"]
        else:
            rec.metadata["tremor_filter_digest"] = digest  # as if the module was edited
        out = _replay_with_a_moved_tip(rec, path, replay_module, monkeypatch)
        assert out.exit_code == 1 and "not the recorded session" in out.stderr, out.output
        assert (named in " ".join(out.stderr.split())) is blamed, out.stderr


def test_run_json_has_the_plugin_digests(tmp_path):
    from sim.session.plugins import TREMOR_FILTER
    from sim.session.provenance import plugin_digest

    out_json = tmp_path / "run.json"
    args = ["run", "needle-handover", "--seed", "9702", "--no-store", "--no-snapshots"]
    args += ["--tremor-filter", FILTER, "--json", str(out_json)]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    payload = json.loads(out_json.read_text())
    assert payload["tremor_filter_digest"] == plugin_digest(TREMOR_FILTER, FILTER) != ""
    assert payload["ik_solver_digest"] == ""
