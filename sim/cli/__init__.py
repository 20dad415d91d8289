"""The ``surgisim`` command line.

Each sub-command is a thin shell over library functions so that everything the CLI does
can also be done from Python; heavy modules are imported inside the commands so that
``surgisim --help`` answers at once.
"""

from __future__ import annotations

import time

from sim.cli import early_stop

early_stop.install()  # first: a Ctrl-C while the rest is imported ends quietly
#: When this process's first command began (UNIX time, s): taken before anything heavy
#: is imported (see :func:`command_started_at`)
_IMPORTED_AT = time.time()
#: when the command going on began (set by the top callback for each command)
_command_started_at: float | None = None

# the rest after the clock: typer alone takes tens of milliseconds to import
import importlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import typer  # noqa: E402

from kinematics.seeds import MAX_SEED  # noqa: E402
from sim.cli.guard import DEBUG_OPTION, guard  # noqa: E402
from sim.cli.options import RAY_ADDRESS, command_group  # noqa: E402

app = command_group(
    name="surgisim",
    help="Robot-assisted surgery simulation and VR training.",
    no_args_is_help=True,
    add_completion=False,
)
bench_app = command_group(
    help="Benchmarks: each prints a table and writes JSON.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")


def _say_version(asked: bool) -> None:
    if asked:
        from sim.session.provenance import surgisim_version

        typer.echo(f"surgisim {surgisim_version()}")
        raise typer.Exit()


@app.callback()
def _top(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_say_version,
        is_eager=True,
        help="Print the version (with the git commit in a checkout) and exit.",
    ),
) -> None:
    """Robot-assisted surgery simulation and VR training."""
    global _command_started_at
    # the process's first command began when it was imported; another one in the same
    # process (a test, a Python caller of the app) begins now
    _command_started_at = time.time() if _command_started_at is not None else _IMPORTED_AT


def command_started_at() -> float:
    """When the command going on began (UNIX time, s), as early as it is known: kept in
    a run's information (:attr:`scenarios.checkpoint.RunInfo.command_started_at`), so
    that a ``trainee forget`` in the run's start-up, before it read the records' count
    of forgets, still refuses its session (its time compared with this: the records'
    order cannot tell; see :meth:`scenarios.records.RunStart.began_before`)."""
    return _IMPORTED_AT if _command_started_at is None else _command_started_at


STRICT = typer.Option(
    False, "--strict/--no-strict", help="Exit with status 1 when a bar is missed."
)
ROUNDS = typer.Option(3, "--rounds", min=1, help="Interleaved measurement rounds.")


def _checked_bench_json(path: Path) -> Path:
    """A benchmark's ``--json`` checked as every other output is, before minutes of
    measuring: it wrote over a scenario, a recording or a Python file named by mistake,
    or failed with a traceback after the tables when its folder could not be made."""
    from sim.cli.checks import checked_output
    from sim.errors import SimError

    try:
        return checked_output(path, "--json")
    except SimError as exc:
        raise typer.BadParameter(str(exc), param_hint="--json") from None


def bench_json(name: str):
    """The ``--json`` option of ``surgisim bench NAME``: bench/results/NAME.json."""
    return typer.Option(
        Path(f"bench/results/{name}.json"),
        "--json",
        help=f"Where to write the JSON results; a relative path is taken from the current "
        f"directory (the default, bench/results/{name}.json, too: run from the checkout's "
        "root to update its bench/results).",
        callback=_checked_bench_json,
    )


#: The commands, in the order ``surgisim --help`` lists them: (name, module of
#: ``sim.cli``, attribute). An attribute that is a ``typer.Typer`` is a group of
#: sub-commands (``surgisim trainee ...``); any other is one command.
COMMANDS = (
    ("trainee", "records", "trainee_app"),
    ("report", "records", "report"),
    ("rescore", "records", "rescore"),
    ("scenario", "scenario", "scenario_app"),
    ("run", "run", "run"),
    ("store", "run", "store"),
    ("serve", "serve", "serve"),
    ("keys", "keys", "keys_app"),
    ("render", "render", "render"),
    ("view", "view", "view"),
    ("practice", "practice", "practice"),
    ("replay", "replay", "replay"),
    ("sweep", "sweep", "sweep"),
    ("device", "device", "device_app"),
    ("vr", "vr", "vr"),
)


def _register_commands() -> None:
    for name, module, attribute in COMMANDS:
        target = getattr(importlib.import_module(f"sim.cli.{module}"), attribute)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)


_register_commands()


@bench_app.command("ik")
def bench_ik(
    targets: int = typer.Option(
        10_000, "--targets", "-n", min=10, help="Targets per arm and mode."
    ),
    arms: str = typer.Option("psm,iiwa,panda", help="Comma-separated arms: psm, iiwa, panda."),
    rcm_targets: int = typer.Option(
        2_000,
        min=0,
        help="Targets for the RCM (iiwa + 0.3 m tool) run; 0 skips the RCM section and its "
        "bars (the JSON's rcm says skipped).",
    ),
    seed: int = typer.Option(
        0, min=0, max=MAX_SEED, help="Seed for targets and warm-start noise (0 to 2**63 - 1)."
    ),
    solver: list[str] = typer.Option(
        None,
        help="Your IK solver 'package.module:function' with solve_ik's signature, in the "
        "same table on the same targets (repeatable; the built-in, 'builtin', is always run, "
        "as 'surgisim').",
    ),
    json_path: Path = bench_json("ik"),
    strict: bool = STRICT,
) -> None:
    """IK solvers against pybullet's calculateInverseKinematics on PSM, iiwa and Panda."""
    from bench.ik import ARM_NAMES, run_ik_benchmark
    from kinematics.errors import KinematicsError
    from kinematics.solvers import load_ik_solver

    arm_list = [a.strip() for a in arms.split(",") if a.strip()]
    unknown = [a for a in arm_list if a not in ARM_NAMES]
    if unknown:
        raise typer.BadParameter(
            f"unknown arm(s) {unknown}; choose from {list(ARM_NAMES)}", param_hint="--arms"
        )
    solver = [spec for spec in solver or () if spec != "builtin"]  # always run
    for spec in solver:
        try:
            load_ik_solver(spec)
        except KinematicsError as exc:
            raise typer.BadParameter(str(exc), param_hint="--solver") from None
    ok = run_ik_benchmark(
        targets=targets,
        arms=arm_list,
        rcm_targets=rcm_targets,
        seed=seed,
        json_path=json_path,
        strict=strict,
        solvers=solver,
    )
    raise typer.Exit(code=0 if ok else 1)


def _check_filter_specs(specs, rate_hz: float | None) -> None:
    """``--filter`` plug-ins refused before anything runs: not a ``package.module:make``
    (the built-ins are always run), or (with ``rate_hz``) a factory that cannot make a
    filter at that rate."""
    from haptics.errors import HapticsError
    from haptics.tremor import make_filter

    for spec in specs or ():
        if ":" not in spec:
            raise typer.BadParameter(
                f"{spec!r} is not 'package.module:make' (the built-ins are always run)",
                param_hint="--filter",
            )
        if rate_hz is None:
            continue
        try:
            make_filter(spec, rate_hz)
        except HapticsError as exc:
            raise typer.BadParameter(str(exc), param_hint="--filter") from None


@bench_app.command("tremor")
def bench_tremor(
    traces: int = typer.Option(20, min=1, help="Number of seeded synthetic traces."),
    duration_s: float = typer.Option(30.0, min=3.0, help="Length of each trace (s)."),
    seed: int = typer.Option(
        0,
        min=0,
        max=MAX_SEED,
        help="Seed of the traces (0 to 2**63 - 1); the bars' draws use seed, seed+1, ...",
    ),
    draws: int = typer.Option(
        5, min=1, help="Draws of each unseen set (seed, seed+1, ...) the bars are judged on."
    ),
    filter_spec: list[str] = typer.Option(
        None,
        "--filter",
        help="Your tremor filter's factory 'package.module:make' (called with rate_hz), "
        "on the same traces and metrics (repeatable; the built-ins are always run).",
    ),
    json_path: Path = bench_json("tremor"),
    strict: bool = STRICT,
) -> None:
    """Tremor filters: attenuation, lag, RMS error and cost against the baselines."""
    from bench.tremor import RATE_HZ, run_tremor_benchmark

    _check_filter_specs(filter_spec, RATE_HZ)
    ok = run_tremor_benchmark(
        traces=traces,
        duration_s=duration_s,
        seed=seed,
        json_path=json_path,
        strict=strict,
        draws=draws,
        filters=list(filter_spec or ()),
    )
    raise typer.Exit(code=0 if ok or not strict else 1)


@bench_app.command("tremor-file")
def bench_tremor_file(
    recording: Path = typer.Argument(
        ...,
        metavar="FILE",
        help="Your recorded positions (m): .npy of shape (N, 3), or a CSV with a header "
        "x,y,z / t,x,y,z / time_s,x_m,y_m,z_m (optional vx,vy,vz: the true voluntary motion).",
    ),
    rate_hz: float = typer.Option(
        None, "--rate-hz", help="Sample rate (Hz); required unless the file has a time column."
    ),
    filter_spec: list[str] = typer.Option(
        None,
        "--filter",
        help="Your tremor filter's factory 'package.module:make' (called with rate_hz), "
        "beside the built-ins (repeatable).",
    ),
    band_hz: tuple[float, float] = typer.Option(
        (6.0, 16.0), "--band-hz", help="The tremor band attenuation is measured in (Hz)."
    ),
    voluntary_hz: float = typer.Option(
        2.0,
        "--voluntary-hz",
        help="Cut-off (Hz) of the zero-phase low-pass that estimates the voluntary motion "
        "when the file has no vx,vy,vz columns; below the tremor band.",
    ),
    json_path: Path = bench_json("tremor_file"),
    no_unit_check: bool = typer.Option(
        False,
        "--no-unit-check",
        help="Accept positions and times that look like millimetres and milliseconds (a "
        "hand spanning over 1 m or moving a median over 10 m/s; a time column under 20 Hz).",
    ),
    debug: bool = DEBUG_OPTION,
) -> None:
    """Tremor filters on your own recording: attenuation, lag and error per filter."""
    from bench.tremor_file import run_tremor_file
    from haptics.tremor.recording import load_recording

    _check_filter_specs(filter_spec, None)  # the names first, before the file is read
    with guard(debug):
        loaded = load_recording(recording, rate_hz, check_units=not no_unit_check)
    _check_filter_specs(filter_spec, loaded.rate_hz)  # at the recording's rate, before any run
    with guard(debug):
        run_tremor_file(
            loaded,
            filters=list(filter_spec or ()),
            band_hz=band_hz,
            voluntary_hz=voluntary_hz,
            json_path=json_path,
        )


@bench_app.command("physics")
def bench_physics(
    seconds: float = typer.Option(
        3.0, "--seconds", "-s", min=0.01, help="Simulated seconds measured per scenario and rate."
    ),
    rounds: int = ROUNDS,
    json_path: Path = bench_json("physics"),
    strict: bool = STRICT,
) -> None:
    """Physics steps/s: PSM alone, peg transfer at rest and carrying, against raw pybullet."""
    from bench.physics import run_physics_benchmark

    ok = run_physics_benchmark(seconds=seconds, rounds=rounds, json_path=json_path, strict=strict)
    raise typer.Exit(code=0 if ok else 1)


@bench_app.command("session")
def bench_session(
    scenario: list[str] = typer.Option(
        None, "--scenario", help="Bundled scenario to run (repeatable; default: all)."
    ),
    seeds: int = typer.Option(1, min=1, help="Seeds per scenario (--first-seed, the next, ...)."),
    first_seed: int = typer.Option(
        0,
        "--first-seed",
        min=0,
        max=MAX_SEED,
        help="The first seed: --seeds 20 --first-seed 100 runs 100..119 (the last must be "
        "at most 2**63 - 1); --breakdown runs it too.",
    ),
    operator: str = typer.Option(
        "expert", help="Synthetic operator skill: expert, intermediate, novice."
    ),
    json_path: Path = bench_json("session"),
    strict: bool = STRICT,
    breakdown: bool = typer.Option(
        False,
        help="Also time the parts of a session step (one more run, at --first-seed): always "
        "of peg transfer (the bar's scenario), whatever --scenario says.",
    ),
) -> None:
    """Headless session speed (simulated s per wall s) for each bundled scenario."""
    from bench.session import run_session_benchmark, unknown_options

    for hint, message in unknown_options(scenario or None, operator, seeds, first_seed).items():
        raise typer.BadParameter(message, param_hint=hint)  # the first, before any run
    ok = run_session_benchmark(
        scenario or None, seeds, operator, json_path, strict, breakdown, first_seed=first_seed
    )
    raise typer.Exit(code=0 if ok else 1)


@bench_app.command("bus")
def bench_bus(
    seconds: float = typer.Option(
        160.0,
        "--seconds",
        "-s",
        min=2.0,
        help="Measured seconds, all sections together: half for latency (split over rounds "
        "and configurations), a tenth for throughput, 40% for the training server (split "
        "over its configurations); no run shorter than 0.5 s (server 5 s, measured from its "
        "device's first sample + 1 s); process start-up comes on top.",
    ),
    rounds: int = ROUNDS,
    rate_hz: float = typer.Option(
        1000.0,
        min=1.0,
        help="The device's rate (Hz) in the latency section (the training server's device "
        "runs at 1 kHz).",
    ),
    json_path: Path = bench_json("bus"),
    strict: bool = STRICT,
) -> None:
    """Bus latency device -> server (our stack and raw pyzmq, tcp and ipc), throughput, garbage."""
    from bench.bus import run_bus_benchmark

    ok = run_bus_benchmark(
        seconds=seconds, rounds=rounds, rate_hz=rate_hz, json_path=json_path, strict=strict
    )
    raise typer.Exit(code=0 if ok else 1)


@bench_app.command("render")
def bench_render(
    frames: int = typer.Option(
        60,
        min=5,
        help="Frames timed per case and round (a quarter of them, at least 3, for 1920x1080 "
        "and the stereo pair).",
    ),
    rounds: int = ROUNDS,
    baseline_frames: int = typer.Option(
        10, min=2, help="Frames of pybullet's getCameraImage timed per round."
    ),
    json_path: Path = bench_json("render"),
    strict: bool = STRICT,
) -> None:
    """Endoscope view frames/s (640x480, 1920x1080, stereo 2x1024x1024) against pybullet's
    getCameraImage on the same scene and camera."""
    from bench.render import run_render_benchmark

    ok = run_render_benchmark(
        frames=frames,
        rounds=rounds,
        baseline_frames=baseline_frames,
        json_path=json_path,
        strict=strict,
    )
    raise typer.Exit(code=0 if ok else 1)


@bench_app.command("env")
def bench_env(
    steps: int = typer.Option(200, min=10, help="Environment steps per round."),
    rounds: int = typer.Option(3, min=1, help="Interleaved rounds (medians are reported)."),
    vector_steps: int = typer.Option(100, min=10, help="Steps of the vector of 2."),
    sweep_runs: int = typer.Option(24, min=2, help="Runs per Ray sweep (1 and 2 workers)."),
    ray_address: str | None = RAY_ADDRESS,
    json_path: Path = bench_json("env"),
    strict: bool = STRICT,
    debug: bool = DEBUG_OPTION,
) -> None:
    """Gymnasium steps/s against the bare session, a vector of 2, Ray sweep 2 vs 1 workers."""
    from bench.env import run_env_benchmark

    if ray_address:  # before the minutes of the other parts: refused in one line, exit 2
        from sim.session.ray_cluster import check_reachable

        with guard(debug):
            check_reachable(ray_address)
    ok = run_env_benchmark(steps, rounds, vector_steps, sweep_runs, json_path, strict, ray_address)
    raise typer.Exit(code=0 if ok else 1)


@bench_app.command("vr")
def bench_vr(
    frames: int = typer.Option(660, min=10, help="Frames per case (the first --skip excluded)."),
    skip: int = typer.Option(60, min=0, help="Start-up frames left out of the figures."),
    case: list[str] = typer.Option(
        None, "--case", help="recommended, quest3 (repeatable; default both)."
    ),
    json_path: Path = bench_json("vr"),
    strict: bool = STRICT,
) -> None:
    """Headset client frame timing on Monado's null compositor (llvmpipe): submitted vs
    paced, missed frames, render time per eye at the recommended size and 2064x2208."""
    from bench.vr import CASES, run_vr_benchmark

    unknown = [c for c in case or [] if c not in CASES]
    if unknown:
        raise typer.BadParameter(f"unknown case {unknown[0]!r}; cases are {sorted(CASES)}")
    ok = run_vr_benchmark(
        frames=frames,
        skip=skip,
        cases=tuple(case or CASES),
        json_path=json_path,
        strict=strict,
    )
    raise typer.Exit(code=0 if ok else 1)


#: Columns of output written to a file or a pipe (rich's default there is 80, which cut
#: a sweep's driver and metric names to ``controller:my…`` and ``path_length_…``)
NOT_A_TERMINAL_COLUMNS = 160


def main() -> None:
    """Console-script entry point."""
    if "COLUMNS" not in os.environ and not sys.stdout.isatty():
        os.environ["COLUMNS"] = str(NOT_A_TERMINAL_COLUMNS)
    early_stop.remove()
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
