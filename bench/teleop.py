"""Teleoperation benchmark: what the pipeline costs per master sample, and force feedback per tick.

The session runs teleoperation at 500-1000 Hz for two or three arms inside a step budget
of tens of microseconds, so the cost per sample matters. Workload: a seeded expert
operator's trace (:class:`haptics.operators.SyntheticOperator`) at 1 kHz, fed to
:class:`haptics.teleop.Teleoperation` as a session would: 1, 2 (a 1 kHz device and a
500 Hz physics loop) or 10 samples per step, with the camera pose passed every step.
Reported: median µs per sample (a step's time divided by its samples) over interleaved
rounds. Baseline, measured in the same run on the same samples: the tremor filter alone
(``filter.step`` per sample), which the pipeline calls once per sample; ``pipeline -
filter`` is what everything else costs (checks, states, mapping, limits, output).
Force feedback: :meth:`haptics.force.ForceFeedback.step_teleop` per tick and
:meth:`haptics.force.ForceRenderer.render` per device tick.

Bar (2-core machine, reported, not enforced by default): default filter, 2 samples per
step, at most 8 µs per sample.

Run: ``python -m bench.teleop``.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from bench.report import finish, print_table, start_run

RATE_HZ = 1000.0
BATCHES = (1, 2, 10)
BAR_US_PER_SAMPLE = 8.0


def operator_samples(seconds: float, seed: int) -> list:
    """A seeded expert's master samples at 1 kHz for about ``seconds``."""
    from haptics.operators import Grip, Pause, Reach, SyntheticOperator

    op = SyntheticOperator("expert", rng=np.random.default_rng(seed), rate_hz=RATE_HZ)
    plan = [Reach((0.03, 0.01, 0.0)), Grip(0.5), Reach((-0.02, 0.0, 0.02)), Pause(0.3)]
    samples: list = []
    while len(samples) < seconds * RATE_HZ:
        samples.extend(op.render(plan).samples())
    t0 = samples[0].time_s
    from haptics.master import MasterSample

    # renders restart their clocks: re-stamp one continuous stream, numbered
    return [
        MasterSample(t0 + k / RATE_HZ, s.X_MH, s.gripper_rad, s.clutch, k)
        for k, s in enumerate(samples[: int(seconds * RATE_HZ)])
    ]


def _teleop(tremor_filter: str):
    from haptics.teleop import TeleopConfig, Teleoperation
    from kinematics.transforms import pose

    config = TeleopConfig(tremor_filter=tremor_filter, start_enabled=True)
    return Teleoperation(config, pose(None, [0.0, 0.0, -0.1]), np.eye(4))


def pipeline_us_per_sample(samples, tremor_filter: str, batch: int) -> float:
    """Median µs per sample of ``Teleoperation.step`` fed ``batch`` samples a step."""
    tele = _teleop(tremor_filter)
    X_RC = np.eye(4)
    n = len(samples) // batch
    durations = np.empty(n, dtype=np.int64)
    gc.disable()
    try:
        for i in range(n):
            chunk = samples[i * batch : (i + 1) * batch]
            now = chunk[-1].time_s
            start = time.perf_counter_ns()
            tele.step(chunk, now, X_RC)
            durations[i] = time.perf_counter_ns() - start
    finally:
        gc.enable()
    return float(np.median(durations)) / 1e3 / batch


def filter_us_per_sample(samples, tremor_filter: str) -> float:
    """Median µs of the tremor filter's ``step`` alone on the same positions."""
    from haptics.tremor import make_filter

    f = make_filter(tremor_filter, RATE_HZ)
    positions = [np.ascontiguousarray(s.X_MH[:3, 3]) for s in samples]
    durations = np.empty(len(positions), dtype=np.int64)
    for i, x in enumerate(positions):
        start = time.perf_counter_ns()
        f.step(x)
        durations[i] = time.perf_counter_ns() - start
    return float(np.median(durations)) / 1e3


def force_us_per_tick(samples) -> tuple[float, float]:
    """Median µs of ``ForceFeedback.step_teleop`` (server) and ``ForceRenderer.render``
    (device) per tick, with a contact force that varies."""
    from haptics.force import ForceFeedback, ForceRenderer

    tele = _teleop("none")
    outs = [tele.step(s, s.time_s) for s in samples[:2000]]
    feedback, renderer = ForceFeedback(), ForceRenderer()
    force = np.array([0.0, 0.0, 1.0])
    server = np.empty(len(outs), dtype=np.int64)
    device = np.empty(len(outs), dtype=np.int64)
    for i, out in enumerate(outs):
        force[2] = 1.0 + np.sin(i * 1e-2)
        start = time.perf_counter_ns()
        f = feedback.step_teleop(out, force)
        server[i] = time.perf_counter_ns() - start
        hand = samples[i].X_MH[:3, 3]
        if i % 10 == 0:
            renderer.receive(f.force_n, hand, out.time_s)
        start = time.perf_counter_ns()
        renderer.render(hand, out.time_s)
        device[i] = time.perf_counter_ns() - start
    return float(np.median(server)) / 1e3, float(np.median(device)) / 1e3


def run_teleop_benchmark(
    seconds: float = 10.0,
    rounds: int = 5,
    seed: int = 0,
    json_path: Path | None = Path("bench/results/teleop.json"),
    console: Console | None = None,
    strict: bool = False,
) -> bool:
    """Print the tables, write JSON; True when the bar holds (always True unless strict)."""
    console = console or Console(emoji=False)
    start_run(console)
    samples = operator_samples(seconds, seed)
    for name in ("default", "none"):  # compile and warm everything before timing
        pipeline_us_per_sample(samples[:500], name, 2)
        filter_us_per_sample(samples[:500], name)
    force_us_per_tick(samples)
    results = []
    for name in ("default", "none"):
        runs: dict[str, list[float]] = {"filter": [], **{f"batch {b}": [] for b in BATCHES}}
        for _ in range(rounds):  # interleaved: the machine's load hits every case alike
            runs["filter"].append(filter_us_per_sample(samples, name))
            for b in BATCHES:
                runs[f"batch {b}"].append(pipeline_us_per_sample(samples, name, b))
        medians = {k: float(np.median(v)) for k, v in runs.items()}
        results.append({"tremor_filter": name, **medians})
    server_us, device_us = force_us_per_tick(samples)
    rows = [
        (
            r["tremor_filter"],
            r["filter"],
            *(r[f"batch {b}"] for b in BATCHES),
            r["batch 2"] - r["filter"],
        )
        for r in results
    ]
    print_table(
        f"Teleoperation, µs per master sample ({len(samples)} samples at 1 kHz, "
        f"median of {rounds} interleaved rounds)",
        ["tremor filter", "filter alone (baseline)", *(f"{b}/step" for b in BATCHES),
         "pipeline - filter (2/step)"],
        rows,
        console,
    )  # fmt: skip
    print_table(
        "Force feedback, µs per tick",
        ["part", "where", "µs"],
        [("ForceFeedback.step_teleop", "server, per arm", server_us),
         ("ForceRenderer.render", "device, 1 kHz", device_us)],
        console,
    )  # fmt: skip
    measured = next(r for r in results if r["tremor_filter"] == "default")["batch 2"]
    ok = measured <= BAR_US_PER_SAMPLE
    bar_rows = [
        (
            "µs per sample, default filter, 2 samples/step",
            measured,
            "<=",
            BAR_US_PER_SAMPLE,
            "pass" if ok else "FAIL",
        )
    ]
    payload = {
        "seconds": seconds,
        "rounds": rounds,
        "seed": seed,
        "rate_hz": RATE_HZ,
        "results": results,
        "force_feedback_us": server_us,
        "force_renderer_us": device_us,
    }
    return finish("teleop", bar_rows, payload, json_path, console, strict)


if __name__ == "__main__":  # pragma: no cover
    run_teleop_benchmark()
