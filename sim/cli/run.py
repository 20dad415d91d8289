"""``surgisim run`` and ``surgisim store``: a headless session that is never lost.

``run`` checks every input before the simulation starts (the scenario as ``validate``
does, the operator, the seed, a controller, an ``--ik-solver`` and a ``--tremor-filter``,
the pseudonym, that the
database can be written, that the output files can be written), then runs the scenario
with a synthetic operator (or the controller) while a checkpoint of the session is written
every few simulated seconds. Ctrl-C (or SIGTERM, SIGHUP) stops the run and stores it as
incomplete (exit code 130, 143, 129); a ``kill -9`` leaves the checkpoint, which ``surgisim
store --orphans`` stores later (as recovered after a crash, at the time it started). If
storing the finished session fails, the score is printed, its trace is kept
(``unstored/``, else a private folder under the system's temporary directory) and the
message gives the command that stores it (``surgisim store FILE``). The ``--json``,
``--record`` and ``--video`` files of a stored session are registered with it, so that
``trainee forget`` removes them. A user's ``--ik-solver`` and ``--tremor-filter`` are
stored in the session's conditions.

``--record FILE.mcap`` is claimed before the run too: refused if another run is recording
to it, or if it exists (unless ``--overwrite``). The recording is written to
``FILE.mcap.partial`` and moved into place when the session ends, Ctrl-C (SIGTERM,
SIGHUP) included; a run killed while recording leaves the partial file, which ``surgisim
replay`` reads.

Synthetic demonstrations go to the separate demo store unless ``--trainee`` names a
trainee: a demonstration is not a person's record.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from scenarios.holds import HOLD_EVENTS, hold_counts
from sim.cli import command_started_at
from sim.cli.checks import (
    checked_operator,
    checked_output,
    checked_seed,
    distinct_outputs,
    failure_text,
)
from sim.cli.guard import DEBUG_OPTION, guard, interruptible, uninterrupted
from sim.cli.options import ALLOW_NAME, DB, JSON, REPORT, SCENARIO


def run(
    scenario: str = SCENARIO,
    operator: str = typer.Option(
        "expert", help="Synthetic operator: expert, intermediate, novice."
    ),
    seed: int = typer.Option(0, min=0, help="Seed of the world and the operators (>= 0)."),
    trainee: str | None = typer.Option(
        None,
        help="Store under this trainee's pseudonym (default: the demo store, as 'demo').",
    ),
    allow_name: bool = ALLOW_NAME,
    db: str | None = DB,
    json_path: Path | None = JSON,
    report: Path | None = REPORT,
    store: bool = typer.Option(True, help="Store the session in the records database."),
    controller: str | None = typer.Option(
        None, help="Your controller instead of the operator: 'package.module:factory'."
    ),
    ik_solver: str | None = typer.Option(
        None,
        "--ik-solver",
        help="Your IK solver 'package.module:function' (solve_ik's signature) for the "
        "session's servo_cp goals and teleoperation; 'builtin' (default): the built-in one.",
    ),
    tremor_filter: str | None = typer.Option(
        None,
        "--tremor-filter",
        help="The tremor filter of every master-driven arm: a built-in's name (none, "
        "butterworth, bandstop, one_euro, wflc, adaptive_kalman, resonator_kalman) or your "
        "factory 'package.module:make' (called with rate_hz); 'default' (default): "
        "surgisim's own.",
    ),
    record: Path | None = typer.Option(
        None,
        help="Record the session to this MCAP file (owner-only; written as FILE.partial and "
        "moved into place when the session ends).",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the --record file if it exists (refused otherwise)."
    ),
    video: Path | None = typer.Option(
        None, help="Write the endoscope's view as an MP4, 30 frames per simulated second."
    ),
    snapshots: bool = typer.Option(
        True, help="Put endoscope snapshots (start, warnings, end) in the report."
    ),
    debug: bool = DEBUG_OPTION,
) -> None:
    """Run a scenario headless with a synthetic operator or your controller; print, store
    and report the score."""
    from scenarios.checkpoint import IN_PROGRESS, Checkpoint, RunInfo
    from scenarios.errors import ScenarioError
    from scenarios.loader import resolve
    from scenarios.records import SessionForgottenError, check_pseudonym, open_records
    from sim.errors import SimError
    from sim.session.plans import PLANS, plan_missing, plan_unrunnable
    from sim.session.plugins import IK_SOLVER, TREMOR_FILTER, session_config
    from sim.session.provenance import plugin_digests
    from sim.world.scenario_check import check_scenario
    from sim.world.scenario_scene import load_world_scenario

    console = Console(emoji=False)
    with guard(debug):
        path = resolve(scenario)
        spec = load_world_scenario(path)
        check_scenario(
            spec, plan_kinds=PLANS, plan_unrunnable=plan_unrunnable, plan_missing=plan_missing
        )
        checked_operator(operator)
        checked_seed(seed)
        plugins = {IK_SOLVER: IK_SOLVER.checked(ik_solver)}
        plugins[TREMOR_FILTER] = TREMOR_FILTER.checked(tremor_filter)
        # the plug-ins' sources as run, for --json (a recording keeps them too)
        digests = plugin_digests(plugins)
        driver = None
        if controller is not None:
            from sim.session.controllers import load_controller

            driver = load_controller(controller)
            operator = driver.name
        record = checked_output(record, "--record", own_suffix=".mcap")
        camera = _camera(checked_output(video, "--video"), snapshots and store)
        demo = trainee is None
        pseudonym = "demo" if demo else trainee
        if not demo:  # the characters now; the rule for new ones once the records say
            check_pseudonym(pseudonym, allow_name=allow_name or store)
        json_path = checked_output(json_path, "--json")
        report = checked_output(report, "--report")
        if report is not None and not store:  # it was ignored without a word
            raise typer.BadParameter(
                "the report is the stored session's: with --no-store nothing is stored, so "
                "no report is written. Leave out --no-store, or write --json instead.",
                param_hint="--report",
            )
        distinct_outputs(record=record, video=video, json=json_path, report=report)
        _refuse_half_written_video(video)
        records = checkpoint = None
        if store:
            records = open_records(db, demo=demo)
            records.check_writable()
            forgets, counted_at = records.forget_count(), time.time()  # before the lookup
            records.check_pseudonym(pseudonym, allow_name=allow_name)
            if not demo:
                say_prerequisites(console, records, pseudonym, spec)
                say_live_runs(console, records, pseudonym)
            say_waiting_sessions(console, db, demo)
            info = RunInfo(
                spec.name,
                path.read_text(),
                seed,
                operator,
                pseudonym,
                records.store,
                db,
                allow_name,
                trainee_recorded=not demo and records.find_trainee(pseudonym) is not None,
                command_started_at=command_started_at(),
                forget_count=forgets,
                forget_counted_at=counted_at,
            )
            for kind, named in plugins.items():  # stored with the session, as latency is
                if named is not None:
                    info.conditions[kind.column] = named
            if controller is None:  # the operator's hands go through teleoperation
                from sim.session.session import SessionConfig, speed_limit_conditions

                info.conditions["teleop"] = speed_limit_conditions(SessionConfig().teleop)
            info.outputs = _outputs(record, json_path, video)
            checkpoint = Checkpoint(records.work_dir / IN_PROGRESS, info)
        recorder = _claim_recording(
            record, path, overwrite, None if records is None else info.started_at
        )
        if records is not None and recorder is not None:
            # the recording's .partial exists from now: registered for the trainee at
            # once, so that a run killed before its first checkpoint (start-up takes
            # seconds) does not leave an empty X.mcap.partial nothing attributes
            from scenarios.errors import ScenarioError

            partial = {"partial": info.outputs["partial"]}
            with contextlib.suppress(ScenarioError):  # a busy database: registered when stored
                records.expect_files(
                    pseudonym, partial, allow_name=allow_name, run_start=info.run_start
                )
        try:
            outcome, stop = _simulate(
                console,
                spec,
                path,
                operator,
                seed,
                checkpoint,
                driver,
                recorder,
                camera,
                session_config(*plugins.values()),
            )
        except BaseException:
            if recorder is not None:
                kept = recorder.abandon()
                if kept is not None or recorder.removed:
                    Console(emoji=False, stderr=True, soft_wrap=True).print(
                        f"the recording so far is kept in {escape(str(kept))} "
                        "(surgisim replay reads it)"
                        if kept is not None
                        else f"the recording: {escape(recorder.not_kept())}"
                    )
            raise
        # the session has ended: a stop now waits until it is stored, its score printed
        # and its outputs written (seconds); the command then ends as the session did
        with uninterrupted(FINISHING, FINISHED):
            from scenarios.archive import ending_of

            if record is not None and recorder.error is None:
                stopped = " (stopped before the end)" if outcome.interrupted else ""
                console.print(f"recording: {escape(str(record))}{stopped}")
            payload = {
                "scenario": spec.name,
                "seed": seed,
                "operator": operator,
                **{kind.column: kind.label(named) for kind, named in plugins.items()},
                **digests,
                "completed": outcome.result.completed,
                "passed": outcome.result.passed,
                "score": outcome.result.score,
                "pass_score": outcome.result.pass_score,
                "interrupted": outcome.interrupted,
                # how it ended, as the records and the CSV say it (gave_up, stopped, ...)
                "ended": ending_of(outcome.trace, outcome.interrupted),
                "failure": outcome.trace.failure,
                # arms held instead of moving (a plug-in that failed): by event kind
                "holds": hold_counts(outcome.trace.events),
                "sim_time_s": outcome.sim_time_s,
                "wall_time_s": outcome.wall_time_s,
                "metrics": outcome.metrics,
            }
            if record is not None:
                if recorder.error is None:
                    payload["recording"] = str(record)
                else:  # stopped by a full disk: the part it holds, and why
                    payload["recording"] = None if recorder.kept is None else str(recorder.kept)
                    payload["recording_error"] = _recording_failure(recorder)
            if records is not None:
                try:
                    payload["session_id"] = store_finished(
                        console, records, spec, outcome, checkpoint, report, camera
                    )
                except ScenarioError as exc:
                    # not stored (the message says where it is kept): the result is still the
                    # run's, and a script waiting for --json gets it, with no session id;
                    # not for a session whose trainee was forgotten once it was stored
                    if json_path is not None and not isinstance(exc, SessionForgottenError):
                        with contextlib.suppress(SimError):
                            _write_json(json_path, {**payload, "session_id": None}, None, pseudonym)
                    raise
            video_error = None if camera is None else camera.video_error
            if camera is not None and camera.video_path is not None:
                payload["video"] = None if video_error else str(camera.video_path)
                payload["video_frames"] = 0 if video_error else camera.frames
                if video_error:  # stopped by a full disk: deleted (a cut-off MP4 does not play)
                    payload["video_error"] = _video_failure(camera)
                else:
                    console.print(
                        f"video: {escape(str(camera.video_path))} ({camera.frames} frames)"
                    )
            print_result(console, spec, outcome)
            if json_path is not None:
                _write_json(json_path, payload, payload.get("session_id"), pseudonym)
            if records is not None:
                video_path = camera.video_path if camera is not None and not video_error else None
                outputs = {"json": json_path, "recording": record, "video": video_path}
                if recorder is not None and recorder.kept is not None:
                    outputs["partial"] = recorder.kept
                register_outputs(records, payload["session_id"], pseudonym, outputs)
            if recorder is not None and recorder.error is not None:
                _recording_failed(payload.get("session_id"), pseudonym, recorder)
            if video_error:
                _output_failed(
                    payload.get("session_id"),
                    pseudonym,
                    f"--video {camera.video_path}",
                    _video_failure(camera),
                )
    if outcome.interrupted:
        raise typer.Exit(code=stop.exit_code)  # 130 after Ctrl-C, 143 after SIGTERM


#: Said when a stop signal comes after the session ended, while it is being finished.
FINISHING = "the session has ended: stopping once it is stored and its score is shown"
#: Said once it is finished: the stop came too late to change the session, so the command
#: exits as the session ended (0 for a session that ran to its end, PASS or FAIL; 130/143
#: for one a stop ended before), not 143 with "terminated" about a stored completed one
FINISHED = (
    "{signal} came after the session had ended: it is already stored as it ended; "
    "exiting with the run's own exit code"
)


def _outputs(record: Path | None, json_path: Path | None, video: Path | None) -> dict:
    """The files this run writes about the trainee, by kind (absolute paths), for the
    session's :class:`RunInfo`: registered when it is stored, so that ``trainee forget``
    removes them even if the run is killed before it registers them itself."""
    from sim.session.recording.partial import partial_path
    from sim.view.snapshots import video_partial_path

    outputs = {"recording": record, "json": json_path, "video": video}
    if record is not None:
        outputs["partial"] = partial_path(record)  # what a kill leaves
    if video is not None:
        outputs["video_partial"] = video_partial_path(video)  # the same, of the video
    return {kind: str(Path(p).resolve()) for kind, p in outputs.items() if p is not None}


def _refuse_recording(path: Path) -> None:
    """``store`` takes kept traces and checkpoints; a recording given to it (a killed
    run's ``.mcap.partial`` looks like what to store) was refused as "cannot read the run
    information 'x.mcap.json'"."""
    from sim.errors import SimError

    if path.name.endswith((".mcap", ".mcap.partial")):
        raise SimError(
            f"{path} is a recording, not a session to store: a recording is replayed "
            f"(surgisim replay {path}); the session of a killed run is stored with "
            "surgisim store --orphans (from its checkpoint in the records' folder)."
        )


def _refuse_half_written_video(video: Path | None) -> None:
    """Before anything runs: a ``--video`` whose partial file exists is being written by
    another run, or was left by a killed one."""
    if video is None:
        return
    from sim.view.snapshots import half_written_video, video_partial_path

    partial = video_partial_path(video)
    if partial.exists():
        raise typer.BadParameter(half_written_video(partial), param_hint="--video")


def _claim_recording(
    record: Path | None,
    scenario_path: Path,
    overwrite: bool,
    session_started_unix_s: float | None,
):
    """The recorder of ``--record``, its file claimed now so that a refusal (another run
    records to it; it exists without ``--overwrite``) comes before the run; or None.
    ``session_started_unix_s``: the stored session's start, for the file's metadata
    (None without the records: the recording's start)."""
    if record is None:
        return None
    from sim.session.recording.mcap_writer import McapRecorder

    recorder = McapRecorder(
        record,
        scenario_text=scenario_path.read_text(),
        overwrite=overwrite,
        session_started_unix_s=session_started_unix_s,
    )
    recorder.claim()
    return recorder


def _recording_failure(recorder) -> str:
    """What became of a ``--record`` file that stopped being written (a full disk)."""
    kept = (
        f"the part recorded is kept in {recorder.kept}"
        if recorder.kept is not None
        else recorder.not_kept()
    )
    return f"{recorder.error}; it stopped at {recorder.stopped_at_s:.1f} s simulated, {kept}"


def _recording_failed(session_id: int | None, pseudonym: str, recorder) -> None:
    """End a run whose ``--record`` file failed: :func:`_output_failed`."""
    _output_failed(session_id, pseudonym, f"--record {recorder.path}", _recording_failure(recorder))


def _video_failure(camera) -> str:
    """What became of a ``--video`` that stopped being written (a full disk)."""
    return (
        f"{camera.video_error}; it stopped at {camera.video_stopped_at_s:.1f} s simulated "
        "and was deleted (a cut-off MP4 does not play)"
    )


def _output_failed(session_id: int | None, pseudonym: str, what: str, failure: str) -> None:
    """End a run whose ``what`` output failed during the session as any output that fails
    after it: exit code 2, saying that the session is stored (its id) and what failed. The
    warning came when it failed; this is the line a script sees at the end."""
    from sim.errors import SimError

    why = SimError(failure)
    if session_id is None:
        raise SimError(f"{what} could not be written ({why}).")
    raise SimError(stored_but(session_id, repr(pseudonym), what, why))


def _write_json(path: Path, payload: dict, session_id: int | None, pseudonym: str) -> None:
    """Write ``run --json``; if that fails after the session was stored, say so."""
    from scenarios.paths import write_private_text
    from sim.errors import SimError

    try:
        write_private_text(path, json.dumps(payload, indent=2))
    except OSError as exc:
        what = f"--json {path}"
        if session_id is None:
            raise SimError(f"{what} could not be written ({failure_text(exc)}).") from None
        raise SimError(stored_but(session_id, repr(pseudonym), what, exc)) from None


def register_outputs(records, session_id: int, pseudonym: str, outputs: dict) -> None:
    """Remember the files a stored session's run wrote about the trainee (``kind`` ->
    path: the ``--json`` result, the ``--record`` recording of their hand motion, the
    ``--video``), so that ``surgisim trainee forget`` removes them with the session.

    Raises:
        SimError: the database refused (the session is stored: the message says so).
    """
    from scenarios.errors import ScenarioError
    from scenarios.records import NoTraineeError
    from sim.errors import SimError

    for kind, path in outputs.items():
        if path is None or not Path(path).exists():
            continue
        try:
            records.register_file(
                path, pseudonym=pseudonym, session_id=session_id, kind=kind, written=True
            )
        except NoTraineeError:
            # forgotten (--force) between the store and the writing of these: what forget
            # found registered it removed; what was written after it is removed here
            removed = _remove_outputs(outputs)
            raise SimError(
                forgotten_after_storing(
                    session_id,
                    pseudonym,
                    "this run's outputs were removed"
                    + (f" ({', '.join(removed)})" if removed else ""),
                )
            ) from None
        except ScenarioError as exc:
            raise SimError(
                stored_but(
                    session_id, repr(pseudonym), f"the record of {path} (for trainee forget)", exc
                )
            ) from None


def _remove_outputs(outputs: dict) -> list[str]:
    """Remove the files a run wrote about a trainee forgotten meanwhile; return those
    removed (one already gone, the forget's work, or that cannot be removed is not
    listed)."""
    removed = []
    for path in dict.fromkeys(str(p) for p in outputs.values() if p is not None):
        with contextlib.suppress(OSError):  # gone already: the forget's work
            os.unlink(path)
            removed.append(path)
    return removed


def _camera(video: Path | None, snapshots: bool):
    """The session's camera (video and report snapshots), or None when neither is wanted."""
    if video is None and not snapshots:
        return None
    from sim.view.snapshots import SessionCamera

    return SessionCamera(video, snapshots=snapshots)


class _Recorders:
    """Several recorders as one (run_controller takes one)."""

    def __init__(self, *recorders) -> None:
        self.recorders = [r for r in recorders if r is not None]

    def __getattr__(self, name: str):
        def call(*args, **kwargs) -> None:
            for r in self.recorders:
                getattr(r, name)(*args, **kwargs)

        return call


def _simulate(
    console: Console,
    spec,
    path,
    operator: str,
    seed: int,
    checkpoint,
    driver,
    recorder,
    camera=None,
    config=None,
):
    """Run headless (the synthetic ``operator``'s plan, or ``driver``, a controller) with
    a progress bar and checkpoints, recorded by ``recorder`` (a claimed
    :class:`McapRecorder`) and filmed by ``camera`` when given, configured by ``config``
    (a :class:`SessionConfig` naming the plug-ins; None: the default); Ctrl-C (or SIGTERM,
    SIGHUP) stops at the next step. Returns the outcome and the stop request (whose
    ``exit_code`` says which signal stopped the run)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sim.session.controllers import ScriptedController, run_controller
    from sim.session.headless import run_headless
    from sim.session.session import SessionConfig

    config = SessionConfig() if config is None else config

    def save(session) -> None:
        if checkpoint is not None and checkpoint.due(session.time_s):
            checkpoint.save(session.trace(), session.time_s)

    # nothing is stored without a checkpoint (--no-store): it said "stored as incomplete";
    # a second stop does not discard the session either (it said "abandon it"): what the
    # last checkpoint holds waits for store --orphans, as after a kill
    if checkpoint is not None:
        stopping = (
            "stopping: the session is stored as incomplete (Ctrl-C again to stop at once: "
            "then surgisim store --orphans stores what was saved)"
        )
    else:
        stopping = (
            "stopping: the session is scored as incomplete, not stored (--no-store) "
            "(Ctrl-C again to stop at once, unscored)"
        )
    with (
        interruptible(stopping) as stop,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        task = progress.add_task(
            escape(f"{spec.title} ({operator}, seed {seed})"),
            total=len(spec.exercise.steps),
            status="starting",
        )

        def on_progress(steps_done: int, sim_time_s: float) -> None:
            progress.update(task, completed=steps_done, status=f"sim {sim_time_s:5.1f} s")

        if driver is None and recorder is None and camera is None:
            outcome = run_headless(
                spec,
                operator=operator,
                seed=seed,
                config=config,
                on_progress=on_progress,
                on_checkpoint=save,
                stop=stop,
            )
        else:
            try:
                outcome = run_controller(
                    spec,
                    driver or ScriptedController(operator),
                    seed=seed,
                    config=config,
                    recorder=_Recorders(recorder, camera),
                    on_progress=on_progress,
                    on_checkpoint=save,
                    stop=stop,
                )
            finally:
                if camera is not None:
                    camera.close()  # after an error: frees GL, deletes a partial video
    if checkpoint is not None:
        checkpoint.info.interrupted = outcome.interrupted
    return outcome, stop


def waiting_sessions() -> list[Path]:
    """Sessions that wait for ``surgisim store --orphans``: checkpoints of killed runs
    (their process gone) in either store, and this data directory's finished sessions
    kept in the fallback folder under the system's temporary directory (the data
    directory was full or read-only when they ended)."""
    from scenarios.checkpoint import IN_PROGRESS, kept_in_fallback
    from scenarios.checkpoint import orphans as find_orphans
    from scenarios.paths import store_dir

    killed = [p for s in ("records", "demo") for p in find_orphans(store_dir(s) / IN_PROGRESS)]
    return killed + kept_in_fallback()[0]


def kept_sessions() -> list[Path]:
    """Finished sessions kept in either store's ``unstored/`` (storing failed: the
    database gone or replaced, a trainee forgotten meanwhile, ...) and not stored since:
    ``surgisim store FILE`` stores each (``store --orphans`` only clears the leftovers of
    those stored already)."""
    from scenarios.checkpoint import KEPT
    from scenarios.paths import store_dir

    kept = sorted(p for s in ("records", "demo") for p in (store_dir(s) / KEPT).glob("*.npz"))
    stored = set(_stored_already(kept))
    return [p for p in kept if p not in stored]


def _waits_for(path: Path, db: str | None, demo: bool, pseudonym: str | None) -> bool:
    """Whether the orphan ``path`` belongs to this database (and trainee, when given)."""
    from scenarios.checkpoint import RunInfo
    from scenarios.records import same_database

    try:
        info = RunInfo.load(path.with_suffix(".json"))
    except Exception:  # no run information: it cannot be stored, only removed
        return False
    store = "demo" if demo else "records"
    if not same_database(info.db, info.store, db, store):
        return False
    return pseudonym is None or info.pseudonym == pseudonym


def say_waiting_sessions(
    console: Console, db: str | None = None, demo: bool = False, pseudonym: str | None = None
) -> None:
    """Say that sessions of killed runs, and finished sessions kept because they could
    not be stored (:func:`kept_sessions`), wait to be stored in this database (for this
    trainee, when given): after a ``kill -9`` nothing told the trainee or the technician,
    and the attempt was missing from the records until someone thought of ``store
    --orphans``; a session kept in ``unstored/`` when the database was deleted went
    unmentioned. Other databases' and trainees' are theirs to hear of."""
    from scenarios.checkpoint import fallback_path

    waiting = [p for p in waiting_sessions() if _waits_for(p, db, demo, pseudonym)]
    kept = [p for p in waiting if p.parent == fallback_path()]
    killed = len(waiting) - len(kept)
    parts = []
    if killed:
        one = killed == 1
        parts.append("a session of a killed run" if one else f"{killed} sessions of killed runs")
    if kept:
        parts.append(
            (
                "a finished session that could not be stored"
                if len(kept) == 1
                else f"{len(kept)} finished sessions that could not be stored"
            )
            + f" (kept in {fallback_path()})"
        )
    if parts:
        verb = "waits" if len(waiting) == 1 else "wait"
        whose = f" for {pseudonym}" if pseudonym else ""
        command = "surgisim store --orphans" + (f" --db {db}" if db else "")
        how = " (a killed run's as recovered after a crash)" if killed else ""
        console.print(
            f"note: {' and '.join(parts)} {verb}{whose} to be stored: `{command}` stores "
            f"{'it' if len(waiting) == 1 else 'them'}{how}",
            highlight=False,
            soft_wrap=True,
        )
    _say_kept_sessions(console, db, demo, pseudonym)


def _say_kept_sessions(console: Console, db: str | None, demo: bool, pseudonym: str | None):
    """The part of :func:`say_waiting_sessions` for :func:`kept_sessions`, with the
    ``surgisim store FILE`` command that stores them (``--orphans`` does not)."""
    unstored = [p for p in kept_sessions() if _waits_for(p, db, demo, pseudonym)]
    whose = f" for {pseudonym}" if pseudonym else ""
    if unstored:
        one = len(unstored) == 1
        what = "a finished session" if one else f"{len(unstored)} finished sessions"
        folder = ", ".join(sorted({str(p.parent) for p in unstored}))
        command = "surgisim store " + " ".join(map(str, unstored)) + (f" --db {db}" if db else "")
        console.print(
            f"note: {what} that could not be stored when {'it' if one else 'they'} ended "
            f"{'waits' if one else 'wait'}{whose} in {folder}: `{command}` stores "
            f"{'it' if one else 'them'}",
            highlight=False,
            soft_wrap=True,
        )


def say_prerequisites(console: Console, records, pseudonym: str, spec) -> None:
    """Tell the trainee (and whoever watches the console) which of the scenario's
    prerequisites they have not yet done, before the session starts; nothing when all
    are done. Advice only: the session starts either way."""
    from scenarios.standings import prerequisites_note

    note = prerequisites_note(records, pseudonym, spec)
    if note is not None:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", soft_wrap=True)


def say_live_runs(console: Console, records, pseudonym: str) -> None:
    """Warn, before a session starts, that another run of the same trainee is going on
    (its checkpoint names a live process: :meth:`scenarios.records.Records.live_runs`):
    a double-clicked `practice` opened two trainers, one over the other, and stored two
    sessions without a word. A warning only: both may be meant (two stations)."""
    from scenarios.checkpoint import run_label

    pids = records.live_runs(pseudonym)
    if not pids:
        return
    runs = "; ".join(run_label(pid) for pid in pids)
    console.print(
        f"[yellow]warning:[/yellow] trainee {escape(repr(pseudonym))} has another run going "
        f"on: {escape(runs)}. This one starts too and stores a session of its own; if one "
        "was started by mistake, stop it (Esc in its window, or Ctrl-C in its terminal).",
        soft_wrap=True,
    )


def store_finished(console, records, spec, outcome, checkpoint, report, camera=None) -> int:
    """Store a finished session (Ctrl-C waits until it is written) with what its
    checkpoint's run information says (pseudonym, operator, seed, conditions, when it
    started, its id) and how it ended, then its ``camera``'s snapshots and its report.
    Returns the session id.

    Whatever fails, the trainee sees their score first (:func:`print_result`, then the
    error). If storing fails (the database, or the trace file: a read-only or full data
    directory), the finished session is kept (``unstored/``, else a private folder under
    the system's temporary directory) and the message gives the exact ``surgisim store``
    command. If only an output fails after storing (the snapshots, the report), the
    message says the session is stored, its id, and what failed.

    Raises:
        ScenarioError: saying what failed, and where the session is.
    """
    from scenarios.archive import ending_of, save_snapshots, store_session, write_session_report
    from scenarios.errors import ScenarioError
    from scenarios.records import SessionForgottenError

    info = checkpoint.info
    info.ended = info.ended or ending_of(outcome.trace, outcome.interrupted)
    try:
        with uninterrupted():
            sid = store_session(
                records,
                scenario=spec,
                scenario_text=info.scenario_yaml,
                pseudonym=info.pseudonym,
                operator=info.operator,
                seed=info.seed,
                trace=outcome.trace,
                metrics=outcome.metrics,
                result=outcome.result,
                sim_time_s=outcome.sim_time_s,
                wall_time_s=outcome.wall_time_s,
                allow_name=info.allow_name,
                conditions=info.conditions or None,
                started_at=info.started,
                ended=info.ended,
                session_uid=info.session_uid,
                files=info.outputs,
                trainee_recorded=info.trainee_recorded,
                run_start=info.run_start,
            )
            checkpoint.discard()
    except (ScenarioError, OSError) as exc:
        print_result(console, spec, outcome)
        raise ScenarioError(_kept_message(exc, records, outcome, checkpoint, camera)) from None
    where = "the demo store" if records.store == "demo" else f"trainee {info.pseudonym!r}"
    try:
        if camera is not None:
            save_snapshots(records, sid, camera.snapshots, camera.note)
        page = write_session_report(records, sid, report)
    except (ScenarioError, OSError) as exc:
        print_result(console, spec, outcome)
        if _forgotten_since_stored(records, info.session_uid):
            raise SessionForgottenError(
                forgotten_after_storing(sid, info.pseudonym, "its report was not written")
            ) from None
        raise ScenarioError(
            stored_but(sid, where, "its report" if report is None else f"--report {report}", exc)
            + f" Write the report again with: surgisim report {sid} --out PATH"
            + (f" --db {info.db}" if info.db else "")
        ) from None
    console.print(f"stored as session {sid} for {escape(where)}; report: {page}")
    if records.store != "demo":
        say_first_session(console, records, info.pseudonym, info.trainee_recorded)
    say_future_starts(console, records, info.pseudonym)
    return sid


def say_first_session(console: Console, records, pseudonym: str, recorded: bool) -> None:
    """A note when the session just stored is the trainee's first: a wrong but
    well-formed pseudonym (a whole one misremembered, not a typo, which is refused)
    silently began a new trainee and split a student's history in two. Advice only:
    the session is stored either way. ``recorded``: the trainee was in the records when
    the run started (registered with ``trainee new``)."""
    if records.session_count(pseudonym) != 1:
        return
    what = "a pseudonym registered without sessions" if recorded else "a new trainee"
    console.print(
        f"[yellow]note:[/yellow] first session for trainee {escape(repr(pseudonym))}: "
        f"{what}. If you have sessions under another pseudonym, this one is not with "
        "them: `surgisim trainee list` lists the pseudonyms, and `surgisim trainee "
        "forget` removes one started by mistake.",
        soft_wrap=True,
    )


def say_future_starts(console, records, pseudonym: str) -> None:
    """Warn when sessions of ``pseudonym`` (the one just stored among them) start after
    now by this machine's clock: a wrong clock, then or now, that makes such a session
    the latest attempt until then (:func:`scenarios.times.future_starts_warning`). Only a
    warning: the session is stored, so a busy database just leaves it unsaid."""
    from scenarios.errors import ScenarioError
    from scenarios.times import future_starts_warning

    with contextlib.suppress(ScenarioError):
        warning = future_starts_warning(records.sessions(pseudonym))
        if warning:
            console.print(escape(warning), style="yellow")


def _forgotten_since_stored(records, session_uid: str) -> bool:
    """Whether the session stored with ``session_uid`` is gone (its trainee forgotten
    with ``--force`` since); False when the records cannot say."""
    from scenarios.errors import ScenarioError

    try:
        return records.session_by_uid(session_uid) is None
    except ScenarioError:
        return False


def forgotten_after_storing(session_id: int, pseudonym: str, what: str) -> str:
    """The message for a session whose trainee was forgotten once it was stored."""
    return (
        f"session {session_id} was stored, then trainee {pseudonym!r} was forgotten "
        f"(surgisim trainee forget) before the run had finished with it: the session is "
        f"gone with them, and {what}."
    )


def stored_but(session_id: int, where: str, what: str, exc: BaseException) -> str:
    """The message for an output that failed after its session was stored."""
    return (
        f"the session is stored (session {session_id} for {where}), but {what} could not "
        f"be written ({failure_text(exc)})."
    )


def _kept_message(exc: BaseException, records, outcome, checkpoint, camera=None) -> str:
    """Keep a session that could not be stored where it can be stored later (with its
    ``camera``'s snapshots, which ``surgisim store`` brings in with it); say why it was
    not stored, where it is, and the command that stores it."""
    from scenarios.archive import snapshots_path, write_snapshots
    from scenarios.checkpoint import KEPT

    db = f" --db {checkpoint.info.db}" if checkpoint.info.db else ""
    reason = f"the session could not be stored: {failure_text(exc)}"
    try:
        kept = checkpoint.keep(outcome.trace, records.work_dir / KEPT)
    except OSError as again:
        last = checkpoint.trace_path
        if not last.exists():
            return f"{reason}\nIt could not be kept either ({failure_text(again)}): it is lost."
        return (
            f"{reason}\nIt could not be kept either ({failure_text(again)}); its last "
            f"checkpoint ({checkpoint.info.sim_time_s:.1f} s simulated) is at {last}. Once "
            f"the problem is fixed, store that with: surgisim store {last}{db}"
        )
    pictures = ""
    if camera is not None and (camera.snapshots or camera.note):
        try:
            write_snapshots(snapshots_path(kept), camera.snapshots, camera.note)
        except OSError as again:
            pictures = f" Its endoscope snapshots could not be kept ({failure_text(again)})."
    from scenarios.records import TraineeForgottenError

    if isinstance(exc, TraineeForgottenError):
        return (
            f"{failure_text(exc)}\nIt is kept at {kept} until "
            f"then (store it with: surgisim store {kept}{db}).{pictures}"
        )
    return (
        f"{reason}\nThe session is not lost: its trace is kept at {kept}. Once the problem "
        f"is fixed, store it with: surgisim store {kept}{db}{pictures}"
    )


def store(
    files: list[Path] = typer.Argument(
        None, help="Kept traces or checkpoints (.npz, with their .json beside them)."
    ),
    orphans: bool = typer.Option(
        False, "--orphans", help="Store the checkpoints of runs that were killed."
    ),
    discard: bool = typer.Option(
        False,
        "--discard",
        help="Remove them instead of storing them: the FILES given, or with --orphans every "
        "orphan (trainee forget removes one trainee's).",
    ),
    db: str | None = typer.Option(
        None,
        "--db",
        help="Records database URL (default: as run). With --orphans: store only the "
        "orphans of runs that used this database (each goes where its run was storing).",
    ),
    debug: bool = DEBUG_OPTION,
) -> None:
    """Store sessions that a run could not store, or that a killed run left behind."""
    from scenarios.archive import snapshots_path, store_kept
    from scenarios.checkpoint import (
        IN_PROGRESS,
        KEPT,
        RunInfo,
        fallback_path,
        kept_in_fallback,
        unfinished_writes,
    )
    from scenarios.checkpoint import orphans as find_orphans
    from scenarios.errors import ScenarioError
    from scenarios.paths import reports_dir, store_dir, traces_dir
    from scenarios.records import AlreadyStoredError, ending_label, open_records, same_database

    console = Console(emoji=False)
    with guard(debug):
        paths = list(files or [])
        for path in paths:
            _refuse_recording(path)
        others: list[tuple[Path, str]] = []
        listed: list[Path] = []  # found, not named: another store may take them meanwhile
        if orphans:
            ours, others = kept_in_fallback()
            listed += ours
            for name in ("records", "demo"):
                work = store_dir(name)
                listed += find_orphans(work / IN_PROGRESS)
                listed += _stored_already(sorted((work / KEPT).glob("*.npz")))
                for folder in (
                    work / IN_PROGRESS,
                    work / KEPT,
                    traces_dir(name),
                    reports_dir(name),
                ):
                    for tmp in unfinished_writes(folder):
                        tmp.unlink(missing_ok=True)
                        console.print(
                            f"removed {escape(str(tmp))} (a write a killed run did not finish)"
                        )
        paths += listed
        if others:  # the fallback folder is shared by this user's data directories
            console.print(
                f"left {len(others)} session(s) kept in {fallback_path()} for another data "
                f"directory's database ({', '.join(sorted({d for _, d in others}))}): run "
                "surgisim store --orphans with that XDG_DATA_HOME, or surgisim store FILE "
                "--db URL to choose the database",
                soft_wrap=True,
            )
        if not paths:
            kept = [
                p for name in ("records", "demo") for p in (store_dir(name) / KEPT).glob("*.npz")
            ]
            hint = f"; kept traces waiting: {', '.join(map(_kept_label, kept))}" if kept else ""
            if not orphans:
                left = waiting_sessions()
                if left:
                    hint += (
                        f"; {len(left)} session(s) waiting (left by a killed run, or kept in "
                        f"{fallback_path()} when they could not be stored): surgisim store "
                        "--orphans stores them"
                    )
            console.print(f"nothing to store{escape(hint)}")
            return
        failed = 0
        elsewhere: list[str] = []
        for path in paths:
            try:
                if orphans and db is not None:
                    # an orphan belongs to its run's database (a demonstration to the demo
                    # store): --db picks which orphans, it never moves one elsewhere
                    info = RunInfo.load(Path(path).with_suffix(".json"))
                    if not same_database(info.db, info.store, db, "records"):
                        elsewhere.append(info.db or f"the {info.store} store")
                        continue
                _refuse_live_checkpoint(Path(path))
                if discard:
                    _remove_kept(path)
                    console.print(f"removed {escape(str(path))}")
                    continue
                info = RunInfo.load(Path(path).with_suffix(".json"))
                target = info.db if orphans else (db or info.db)
                records = open_records(target, demo=info.store == "demo")
                sid = store_kept(records, path)
                row = records.session(sid)
                console.print(
                    f"stored {escape(str(path))} as session {sid} ({escape(info.scenario_name)}, "
                    f"{ending_label(row.ending)}, {row.sim_time_s:.1f} s simulated, started "
                    f"{row.started_at:%Y-%m-%d %H:%M} UTC) for {escape(info.pseudonym)!r} "
                    f"in {escape(records.shown_url)}",
                    soft_wrap=True,
                )
            except ScenarioError as exc:
                if isinstance(exc, AlreadyStoredError) and (
                    orphans or snapshots_path(path).exists()
                ):
                    # our own leftover of a session stored meanwhile (by another store), or
                    # of one stored when its snapshots could not be attached
                    done, said = _leftover_done(records, Path(path), exc.session_id)
                    if done:
                        console.print(escape(said), soft_wrap=True, highlight=False)
                    else:
                        failed += 1
                        Console(emoji=False, stderr=True).print(
                            f"[red]error:[/red] {escape(said)}", soft_wrap=True
                        )
                    continue
                if path in listed and not Path(path).exists():
                    console.print(
                        f"{escape(str(path))}: stored or removed meanwhile by another "
                        "process (another surgisim store --orphans); nothing left to do",
                        soft_wrap=True,
                    )
                    continue
                failed += 1
                Console(emoji=False, stderr=True).print(
                    f"[red]error:[/red] {escape(f'{path}: {exc}')}", soft_wrap=True
                )
        if elsewhere:
            console.print(
                f"left {len(elsewhere)} orphan(s) of runs that used another database "
                f"({', '.join(sorted(set(elsewhere)))}): surgisim store --orphans without "
                "--db stores each in its own",
                soft_wrap=True,
            )
        if failed:
            raise typer.Exit(code=2)


def _leftover_done(records, path: Path, session_id: int) -> tuple[bool, str]:
    """Attach the snapshots kept with ``path``, a kept trace of the stored session
    ``session_id``, and remove it (:func:`scenarios.archive.attach_leftover_snapshots`):
    (True, what was done), or (False, what failed: the files are left)."""
    from scenarios.archive import attach_leftover_snapshots
    from scenarios.errors import ScenarioError

    try:
        attached = attach_leftover_snapshots(records, path, session_id)
    except (ScenarioError, OSError) as exc:
        return False, (
            f"{path}: already stored as session {session_id}, but the endoscope snapshots "
            f"kept with it could not be attached ({failure_text(exc)}); they are left with "
            "it: run the same command again once that is fixed."
        )
    pictures = "attached the endoscope snapshots kept with it and " if attached else ""
    return True, (
        f"{path}: already stored as session {session_id}; {pictures}removed this leftover copy"
    )


def _stored_already(kept: list[Path]) -> list[Path]:
    """The kept traces (``unstored/``) whose session is in its database already: leftovers
    (a copy kept in two places, a store whose snapshots failed) that ``store --orphans``
    cleans up rather than list as "waiting" beside the stored session."""
    from scenarios.checkpoint import RunInfo
    from scenarios.errors import ScenarioError
    from scenarios.records import database_location, open_records

    out = []
    for path in kept:
        try:
            info = RunInfo.load(path.with_suffix(".json"))
            if not Path(database_location(info.db, info.store)).exists():
                continue  # no database yet (or not a file): nothing is stored in it
            records = open_records(info.db, demo=info.store == "demo")
            if records.session_by_uid(info.session_uid) is not None:
                out.append(path)
        except ScenarioError:
            continue
    return out


def _kept_label(path: Path) -> str:
    """A kept trace as ``nothing to store`` lists it; one without its run information
    (a keep cut short by a full disk) cannot be stored and is said so."""
    if path.with_suffix(".json").exists():
        return str(path)
    return f"{path} (no run information beside it: it cannot be stored; delete it)"


def _refuse_live_checkpoint(path: Path) -> None:
    """``store FILE`` (``--discard`` too) of a checkpoint whose run is going on: stored,
    it became a crash of a run that went on to finish, and the run's own session was
    then refused as already stored; removed, the run wrote it again at its next save.
    ``store --orphans`` never lists these; a kept trace (``unstored/``) has no live run.

    Raises:
        ScenarioError: the run that writes it is alive (its PID and command).
    """
    from scenarios.checkpoint import IN_PROGRESS, live_run_pid, run_label
    from scenarios.errors import ScenarioError

    if path.parent.name != IN_PROGRESS:
        return
    pid = live_run_pid(path)
    if pid is None:
        return
    raise ScenarioError(
        f"a run is still writing it: {run_label(pid)}. The run is going on and stores its "
        "own session when it ends; nothing was stored or removed."
    )


def _remove_kept(path) -> None:
    """Remove a kept trace or checkpoint and the run information beside it."""
    Path(path).unlink(missing_ok=True)
    Path(path).with_suffix(".json").unlink(missing_ok=True)


def say_holds(console: Console, trace, limit: int = 5) -> None:
    """Why arms were held, by kind, arm and reason with how often (the most frequent
    first): a run whose IK solver returned NaN scored 0 with 0 cm of motion, and the
    reason was only in the HTML report. An ``unreachable`` event starts a spell of
    holding that lasts until a goal is reachable again ("held once" may be the whole
    run); the other kinds are counted as they come (a refused command each time)."""
    import re

    groups: dict[tuple[str, str, str], list] = {}  # (kind, arm, reason's shape) -> events
    for event in trace.events:
        if event.kind in HOLD_EVENTS:
            data = event.data if isinstance(event.data, dict) else {}
            why = str(data.get("reason") or data.get("detail") or "")
            # reasons that differ only in their numbers ("on call 50", "call 100") are one
            shape = re.sub(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?|\bnan\b|\binf\b", "#", why)
            key = (event.kind.replace("_", " "), str(data.get("arm", "")), shape)
            groups.setdefault(key, []).append((event.time_s, why))
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0][0]))
    for (kind, arm, _), seen in ranked[:limit]:
        n = len(seen)
        first_s, why = seen[0]
        if kind == "unreachable":  # said once per spell of holding, not per step held
            times = "held once" if n == 1 else f"held {n:,} times"
        else:
            times = "once" if n == 1 else f"{n:,} times"
        similar = " (and alike)" if len({w for _, w in seen}) > 1 else ""
        console.print(
            f"{kind}, {escape(arm) or 'the session'}, {times}, first at {first_s:.2f} s: "
            f"{escape(why)}{similar}"
        )
    if len(groups) > limit:
        console.print(f"... and {len(groups) - limit} other reasons (the report lists them)")


def print_result(console: Console, spec, outcome) -> None:
    """The score of a finished session (table and arithmetic), and how fast it ran."""
    from scenarios.glossary import verdict_text
    from sim.cli.score_view import print_score, verdict_score

    result = outcome.result
    verdict = verdict_text(result.passed, outcome.interrupted)
    print_score(console, result, escape(f"{spec.title}: {verdict} - {verdict_score(result)}"))
    failure = outcome.trace.failure
    if failure and not result.completed and not outcome.interrupted:
        console.print(f"not completed: {escape(failure)}")
    say_holds(console, outcome.trace)
    console.print(
        f"simulated {outcome.sim_time_s:.1f} s in {outcome.wall_time_s:.1f} s of wall "
        f"time ({outcome.sim_time_s / max(outcome.wall_time_s, 1e-9):.1f}x real time)"
    )
