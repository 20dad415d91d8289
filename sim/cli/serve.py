"""``surgisim serve``: the live session on the device bus, scored and stored at the end.

Checks every input first (the scenario, the seed, the pseudonym, the database, the keys,
the latency settings), then serves (:class:`sim.server.server.TrainingServer`) until the
exercise ends, a client sends ``stop``, or Ctrl-C, SIGTERM or SIGHUP (the session is
then stored as incomplete; exit code 130, 143 or 129; stopped while still waiting for
the devices, nothing has happened and nothing is stored, with the same exit code). The
session is stored and reported exactly as ``surgisim run`` does, with how it ran
(injected latency, the loop's timing) kept beside it.

Telesurgery latency: ``--latency-ms 150`` delays every channel; ``--latency-ms
command=150`` one of them (``command``: device to instrument, ``video``: state to
viewers, ``haptic``: force feedback to the device); ``--jitter-ms`` and ``--loss`` the
same way. ``--latency-protocol xu2014`` draws this attempt's latency from the trainee's
blinded sequence (0-1000 ms in 100 ms steps in a random order, Xu et al. 2014), ``ramp``
steps through 0, 350 and 700 ms across attempts; the trainee is not told the latency
until the session ends.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import typer
from rich.console import Console

from sim.cli import command_started_at
from sim.cli.guard import DEBUG_OPTION, guard, interruptible, uninterrupted
from sim.cli.options import (
    ALLOW_KEYS,
    ALLOW_NAME,
    DB,
    DEVICE_MAP,
    JSON,
    REPORT,
    SCENARIO,
    SEED,
    SERVER_KEY,
    server_curve,
)

PROTOCOLS = ("xu2014", "ramp")

#: The most injected latency or jitter SD per channel (ms). Telesurgery latency studies
#: go to about 1-2 s (Xu et al. 2014, the xu2014 protocol here: 0-1000 ms, with tasks
#: barely possible towards the top); more is no condition a trainee can practise under
#: but a typo (``--latency-ms 1e9`` is 11 days), and every message would wait that long
#: in the delay queue, so the session would never show the trainee anything.
MAX_DELAY_MS = 2000.0


def parse_channel_values(
    entries: list[str], what: str, scale: float, most: float | None = None, unit: str = ""
) -> dict[str, float]:
    """``["150"]`` -> every channel 150 (x scale); ``["command=150", ...]`` -> that channel.
    A value over ``most`` (as given, before scaling; ``unit`` for the message) is refused."""
    from sim.errors import SimError
    from sim.server.publish import CHANNELS

    out: dict[str, float] = {}
    for entry in entries:
        channel, sep, value = entry.rpartition("=")
        channels = [channel.strip()] if sep else list(CHANNELS)
        for c in channels:
            if c not in CHANNELS:
                raise SimError(f"{what} {entry!r}: unknown channel {c!r}; channels are {CHANNELS}.")
        try:
            number = float(value)
        except ValueError:
            raise SimError(f"{what} {entry!r}: {value!r} is not a number.") from None
        if not (number >= 0 and number < float("inf")):
            raise SimError(f"{what} {entry!r}: must be a finite number >= 0.")
        if most is not None and number > most:
            raise SimError(
                f"{what} {entry!r}: at most {most:g}{unit} (telesurgery latency studies go "
                f"to about 1-2 s); give a value from 0 to {most:g}."
            )
        for c in channels:
            out[c] = number * scale
    return out


def protocol_latency_s(protocol: str, records, pseudonym: str, scenario: str, seed: int) -> float:
    """This attempt's latency (s) under ``protocol``: the trainee's sessions of this
    scenario under the same protocol so far pick the position in the protocol's sequence
    (seeded per trainee and scenario, so a trainee always gets the same blinded order)."""
    import hashlib

    import numpy as np

    from haptics.bus.latency import latency_protocol

    done = sum(
        1
        for row in records.sessions(pseudonym, scenario)
        if row.conditions.get("latency_protocol") == protocol
    )
    key = hashlib.sha256(f"{pseudonym}/{scenario}/{protocol}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(key[:8], "little"))
    sequence = latency_protocol(protocol, rng).latencies_s
    # past the end: the last level again (a ramp stays at its top; xu2014 draws anew)
    if done >= len(sequence) and protocol == "xu2014":
        sequence = latency_protocol(protocol, rng, repeats=done // len(sequence) + 1).latencies_s
    return float(sequence[min(done, len(sequence) - 1)])


def serve(
    scenario: str = SCENARIO,
    trainee: str | None = typer.Option(
        None, help="The trainee's pseudonym (default: store in the demo store as 'demo')."
    ),
    allow_name: bool = ALLOW_NAME,
    seed: int = SEED,
    port: int = typer.Option(5570, min=0, max=65533, help="Base port P (P, P+1, P+2)."),
    bind_host: str = typer.Option(
        "127.0.0.1", help="Address to bind; anything but loopback needs CurveZMQ keys."
    ),
    server_key: Path | None = SERVER_KEY,
    allow_keys: Path | None = ALLOW_KEYS,
    device_map: list[str] = DEVICE_MAP,
    latency_ms: list[str] = typer.Option(
        None, help="Injected latency (ms): 150 for every channel, or command=150 (repeatable)."
    ),
    jitter_ms: list[str] = typer.Option(None, help="Latency jitter SD (ms), as --latency-ms."),
    loss: list[str] = typer.Option(None, help="Message loss (0-1), as --latency-ms."),
    latency_protocol: str | None = typer.Option(
        None, help=f"Latency across attempts: {', '.join(PROTOCOLS)} (blinded)."
    ),
    realtime: bool = typer.Option(
        False,
        help="Run the physics loop under real-time scheduling (SCHED_FIFO) when permitted: "
        "fewer missed ticks on a busy machine. Needs root, CAP_SYS_NICE or an rtprio limit.",
    ),
    align_ticks: bool = typer.Option(
        True,
        help="Start a physics tick up to one period early once every device's sample "
        "is in, so ticks do not hold samples up (the tick schedule is unchanged).",
    ),
    db: str | None = DB,
    report: Path | None = REPORT,
    json_path: Path | None = JSON,
    debug: bool = DEBUG_OPTION,
) -> None:
    """Serve a scenario on the device bus: a trainee drives it live, then it is scored."""
    import json

    from scenarios.checkpoint import IN_PROGRESS, Checkpoint, RunInfo
    from scenarios.loader import resolve
    from scenarios.records import check_pseudonym, open_records
    from sim.cli.checks import checked_output, checked_seed, distinct_outputs
    from sim.cli.run import (
        FINISHED,
        FINISHING,
        print_result,
        register_outputs,
        say_live_runs,
        say_prerequisites,
        say_waiting_sessions,
        store_finished,
    )
    from sim.errors import SimError
    from sim.server.publish import ChannelDelay
    from sim.server.routing import parse_device_map
    from sim.server.server import CheckpointWriter, ServeConfig, TrainingServer
    from sim.world.scenario_check import check_scenario
    from sim.world.scenario_scene import load_world_scenario

    console = Console(emoji=False)

    def say(text: str) -> None:
        """A plain line: the server's notes carry authors' titles, device names and error
        texts, whose square brackets Rich took for markup (and a stray ``[/x]`` raised)."""
        console.print(text, markup=False)

    with guard(debug):
        path = resolve(scenario)
        spec = load_world_scenario(path)
        check_scenario(spec)
        checked_seed(seed)
        demo = trainee is None
        pseudonym = "demo" if demo else trainee
        if not demo:  # the characters now; the rule for new ones once the records say
            check_pseudonym(pseudonym, allow_name=True)
        report = checked_output(report, "--report")
        json_path = checked_output(json_path, "--json")
        distinct_outputs(report=report, json=json_path)
        mapping = parse_device_map(device_map or [], spec)
        if not mapping:
            raise SimError(
                f"scenario {spec.name!r} has no arm a hand drives (hand: right/left); "
                "give one with --map DEVICE=ARM."
            )
        curve = server_curve(server_key, allow_keys)
        if curve is None:
            from haptics.bus.sockets import is_loopback, non_loopback_needs_curve

            if not is_loopback(bind_host):  # said before the scene is built
                raise SimError(non_loopback_needs_curve(bind_host))
        records = open_records(db, demo=demo)
        records.check_writable()
        forgets, counted_at = records.forget_count(), time.time()  # before the lookup
        records.check_pseudonym(pseudonym, allow_name=allow_name)
        if not demo:
            say_prerequisites(console, records, pseudonym, spec)
            say_live_runs(console, records, pseudonym)
        say_waiting_sessions(console, db, demo)
        latency = parse_channel_values(latency_ms or [], "--latency-ms", 1e-3, MAX_DELAY_MS, " ms")
        jitter = parse_channel_values(jitter_ms or [], "--jitter-ms", 1e-3, MAX_DELAY_MS, " ms")
        losses = parse_channel_values(loss or [], "--loss", 1.0)
        if any(v > 1.0 for v in losses.values()):
            raise SimError("--loss is a share of messages, from 0 to 1.")
        from sim.server.server import live_session_config
        from sim.session.session import speed_limit_conditions

        conditions: dict = {"teleop": speed_limit_conditions(live_session_config().teleop)}
        if latency_protocol is not None:
            if latency_protocol not in PROTOCOLS:
                raise SimError(f"--latency-protocol must be one of {PROTOCOLS}.")
            if latency:
                raise SimError("give --latency-ms or --latency-protocol, not both.")
            value = protocol_latency_s(latency_protocol, records, pseudonym, spec.name, seed)
            latency = {c: value for c in ("command", "video", "haptic")}
            conditions["latency_protocol"] = latency_protocol
        channels = set(latency) | set(jitter) | set(losses)
        delays = {
            c: ChannelDelay(latency.get(c, 0.0), jitter.get(c, 0.0), losses.get(c, 0.0))
            for c in channels
        }
        if delays:
            conditions["latency"] = {c: d.as_dict() for c, d in delays.items()}
        config = ServeConfig(
            port=port,
            bind_host=bind_host,
            curve=curve,
            device_map=mapping,
            delays=delays,
            seed_latency=seed,
            realtime=realtime,
            align_ticks=align_ticks,
        )
        server = TrainingServer(spec, seed=seed, config=config, say=say)
        with contextlib.ExitStack() as ending:
            bus_log = BusLogToStderr()
            try:
                info = RunInfo(
                    spec.name,
                    path.read_text(),
                    seed,
                    "trainee",
                    pseudonym,
                    records.store,
                    db,
                    allow_name,
                    conditions=conditions,
                    trainee_recorded=not demo and records.find_trainee(pseudonym) is not None,
                    command_started_at=command_started_at(),
                    forget_count=forgets,
                    forget_counted_at=counted_at,
                    outputs={} if json_path is None else {"json": str(json_path.resolve())},
                )
                checkpoint = Checkpoint(records.work_dir / IN_PROGRESS, info)
                writer = CheckpointWriter(checkpoint)
                camera = _camera(server.session)
                endpoints = ", ".join(server.bus.endpoints)
                blinded = latency_protocol is not None
                shown = (
                    "" if blinded or not delays else f"; injected latency {conditions['latency']}"
                )
                say(
                    f"serving {spec.title!r} on {endpoints} (devices: "
                    + ", ".join(f"{d} -> {a}" for d, a in mapping.items())
                    + f"){shown}"
                )
                say(_security_line(curve))
                with interruptible(lambda: _stopping_note(server)) as stop:
                    served = server.run(
                        stop=stop, on_checkpoint=lambda s: (writer(s), camera.stepped(s))
                    )
                # the session has ended: a stop now waits until it is stored, its score sent
                # and shown and its outputs written; the command then ends as the session did
                ending.enter_context(uninterrupted(FINISHING, FINISHED))
                writer.join()
                camera.finish(server.session)
                if not served.started:
                    # stopped while waiting for the devices: no step ran and no trainee did
                    # anything; an empty "FAIL (stopped by the user)" in their record (and a
                    # wall time "from when the devices were connected") would be a false entry
                    checkpoint.discard()
                    note = _nothing_stored_note(served, mapping)
                    server.publish_score(
                        {
                            "scenario": spec.name,
                            "seed": seed,
                            "operator": "trainee",
                            "session_id": None,
                            "completed": False,
                            "passed": False,
                            "score": None,
                            "pass_score": None,
                            "interrupted": True,
                            "stopped_by": served.stopped_by,
                            "ended": "stopped",  # as every result has it (records' word)
                            "failure": None,
                            "sim_time_s": 0.0,
                            "wall_time_s": 0.0,
                            "stored": False,
                            "reasons": [note],
                        }
                    )
                    say(note)
                    raise typer.Exit(code=stop.exit_code)
                outcome = _scored(spec, served)
                conditions["loop"] = {
                    **served.loop.as_dict(),
                    "scheduling": served.scheduling.as_dict(),
                }
                conditions["bus"] = served.bus_counters
                # the wall time counts from the devices' arrival; the wait before it apart
                conditions["device_wait_s"] = round(served.device_wait_s, 3)
                conditions["devices"] = served.device_stats
                if served.frame_timing:
                    conditions["frame_timing"] = served.frame_timing
                info.conditions = conditions
                info.interrupted = outcome.interrupted
                sid = store_finished(console, records, spec, outcome, checkpoint, report, camera)
                from scenarios.archive import ending_of

                payload = {
                    "scenario": spec.name,
                    "seed": seed,
                    "operator": "trainee",
                    "session_id": sid,
                    "completed": outcome.result.completed,
                    "passed": outcome.result.passed,
                    "score": outcome.result.score,
                    "pass_score": outcome.result.pass_score,
                    "interrupted": outcome.interrupted,
                    "stopped_by": served.stopped_by,
                    "ended": ending_of(outcome.trace, outcome.interrupted),
                    "failure": outcome.trace.failure,
                    "sim_time_s": outcome.sim_time_s,
                    "wall_time_s": outcome.wall_time_s,
                    "metrics": outcome.metrics,
                    "conditions": conditions,
                }
                server.publish_score(payload)
            finally:
                server.close()
                bus_log.close()
            print_result(console, spec, outcome)
            console.print(
                f"(wall time from when the devices were connected; waited "
                f"{served.device_wait_s:.1f} s for them before)"
            )
            loop = served.loop
            console.print(
                f"loop at {loop.rate_hz:.0f} Hz: period p50/p99/p99.9 "
                f"{loop.period_ms[0]:.2f}/{loop.period_ms[1]:.2f}/{loop.period_ms[2]:.2f} ms, "
                f"{loop.overruns} overruns of {loop.ticks} ticks, "
                f"{loop.real_time_ratio:.3f}x real time; longest garbage-collector pause "
                f"{loop.collector_longest_ms:.1f} ms ({loop.full_collections} full passes)"
            )
            if delays:
                console.print(f"injected latency: {conditions['latency']}")
            if json_path is not None:
                from scenarios.paths import write_private_text

                write_private_text(json_path, json.dumps(payload, indent=2, default=str))
                # like run's: trainee forget removes it with the session
                register_outputs(records, sid, pseudonym, {"json": json_path})
    if outcome.interrupted:
        # 130 after Ctrl-C, 143 after SIGTERM; a stop request from a viewer counts as Ctrl-C
        raise typer.Exit(code=stop.exit_code)


def _stopping_note(server) -> str:
    """What the first Ctrl-C (SIGTERM, SIGHUP) says: a session that has started is stored
    as incomplete; before every device is there nothing has happened to store."""
    if server.missing_devices:
        return "stopping: no session has started, nothing will be stored"
    return "stopping: the session is stored as incomplete (Ctrl-C again to abandon it)"


def _nothing_stored_note(served, mapping) -> str:
    """The line for a server stopped before its session started, naming who never came
    when some of the mapped devices (``mapping``: ``{device: arm}``) did."""
    if set(served.never_connected) >= set(mapping):
        return "no device connected: nothing was stored"
    return (
        f"not every device connected ({', '.join(served.never_connected)} did not): the "
        "session never started, nothing was stored"
    )


class BusLogToStderr:
    """Show the bus's warnings on stderr while serving, each marked ``bus:``: the first
    dropped message of each reason, the first refused handshake of each kind. The CLI
    configures no logging, and Python's fallback showed them with no hint that they came
    from the bus. Ended connections (INFO) are counted, not shown: every device, viewer
    and headset that quits ends one, and a trainee's technician read the line ("... or
    sent a frame over 1 MiB") as a fault at every start. :meth:`close` takes the handler
    off."""

    def __init__(self) -> None:
        import logging
        import sys

        self._logger = logging.getLogger("haptics.bus")
        self._handler = logging.StreamHandler(sys.stderr)
        self._handler.setFormatter(logging.Formatter("bus: %(message)s"))
        self._level = self._logger.level
        self._logger.addHandler(self._handler)
        self._handler.setLevel(logging.WARNING)
        self._logger.setLevel(min(self._level or logging.WARNING, logging.WARNING))

    def close(self) -> None:
        """Stop showing the bus's log (it was shown for one serve)."""
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(self._level)


def _security_line(curve) -> str:
    """The banner's word on security: whether CurveZMQ is on, how many clients may
    connect, and how many of their keys have a narrower role (``roles.yaml``)."""
    if curve is None:
        return "CurveZMQ off: loopback only, any local program may connect"
    n = curve.allowed_keys
    roles = curve.keys_with_roles
    narrowed = f", {roles} with a role from roles.yaml" if roles else ""
    return (
        f"CurveZMQ on: {n} client key{'s' if n != 1 else ''} allowed{narrowed} (from"
        f" {curve.allow_dir}; a key added or removed there applies without a restart)"
    )


def _camera(session):
    """Report snapshots of the live session, rendered off the real-time loop's thread
    (the loop only copies poses); a machine without GL gets a note instead."""
    from sim.view.snapshots import SessionCamera

    camera = SessionCamera(background=True)
    camera.start(session)
    return camera


def _scored(spec, served):
    """The served session as a headless outcome (metrics, verdict), for storing."""
    from scenarios.evaluate import score_trace
    from sim.session.headless import HeadlessOutcome

    trace = served.trace
    metrics, result = score_trace(spec, trace)
    session = served.session
    return HeadlessOutcome(
        trace,
        metrics,
        result,
        session.time_s,
        served.wall_time_s,
        session.live_metrics(),
        session.world.physics_wall_s,
        served.stopped_by in ("interrupted", "stop request", "time")
        and not session.runner.finished,
    )
