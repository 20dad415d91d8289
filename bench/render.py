"""Render benchmark: frames/s of the endoscope view, against pybullet's own camera image.

The scene is the peg-transfer endoscope view 2 s into a headless run with the expert
operator (instruments moving over the board; nodes, meshes and camera from
:func:`sim.world.visuals.describe_scene`). Cases, each timed in interleaved rounds so
that load from other processes spreads over all of them:

- ``surgisim 640x480``, ``surgisim 1920x1080``: :class:`sim.render.Renderer` with its
  defaults for the backend (on a CPU rasteriser: no MSAA, 512 shadow map; on a GPU: 4x
  MSAA, 2048), one ``render`` call per frame (pixels read back into numpy).
- ``surgisim stereo 2x1024x1024``: one ``render_stereo`` call per pair.
- ``surgisim 640x480, MSAA 4, shadow 2048``: the still-image quality (``surgisim render``),
  for the cost of anti-aliasing on this backend.
- ``pybullet getCameraImage 640x480`` (baseline): TinyRenderer (pybullet's CPU renderer),
  same world, same camera pose, field of view and clip planes, no segmentation mask.
- ``node poses``: reading ``X_WN`` from the world with a prepared
  :class:`~sim.world.visuals.PoseReader` (what the live server does per frame).

Bars (2-core machine, headless backend): >= 60 frames/s at 640x480, and >= 3x pybullet's
``getCameraImage`` throughput at the same size.

Run: ``surgisim bench render`` (or ``python -m bench.render``).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from bench.report import finish, print_table, start_run

SCENARIO = "peg-transfer"
#: Cases that cost several times a 640x480 frame are timed on a quarter of --frames.
HEAVY_CASES = ("surgisim 1920x1080", "surgisim stereo 2x1024x1024")
HEAVY_DIVISOR = 4
MIN_FRAMES = 3
AT_S = 2.0
BAR_FPS_640 = 60.0
BAR_OVER_PYBULLET = 3.0


def _pybullet_frame(world, X_WC: np.ndarray, camera, width: int, height: int):
    """A function that renders one frame with pybullet's TinyRenderer from ``X_WC``."""
    from sim.render.camera import view_matrix

    pb = world.pb
    view = view_matrix(X_WC).T.reshape(-1).tolist()  # column-major, as pybullet takes it
    projection = pb.computeProjectionMatrixFOV(
        math.degrees(camera.fov_y_rad), width / height, camera.near_m, camera.far_m
    )

    def frame():
        return pb.getCameraImage(
            width,
            height,
            viewMatrix=view,
            projectionMatrix=projection,
            renderer=pb.ER_TINY_RENDERER,
            flags=pb.ER_NO_SEGMENTATION_MASK,
            physicsClientId=world.client,
        )

    return frame


def timed_frames(case: str, frames: int) -> int:
    """Frames (or stereo pairs) timed per round for ``case``: ``frames``, a quarter of
    it for the heavy cases (1920x1080, stereo), never fewer than ``MIN_FRAMES``."""
    divisor = HEAVY_DIVISOR if case in HEAVY_CASES else 1
    return max(frames // divisor, MIN_FRAMES)


def _time(fn, n: int) -> tuple[float, float]:
    """Calls per wall second of ``fn`` over ``n`` calls (after one untimed call), and the
    process CPU time per call (ms: every thread, llvmpipe's rasteriser threads included;
    less sensitive than wall time to other processes on a shared machine)."""
    fn()
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    wall = time.perf_counter() - start
    return n / wall, (time.process_time() - cpu) / n * 1e3


def run_render_benchmark(
    frames: int = 60,
    rounds: int = 3,
    baseline_frames: int = 10,
    json_path: Path | None = None,
    strict: bool = False,
) -> bool:
    """Run the benchmark, print its tables, write the JSON; False when strict and a bar fails."""
    from scenarios.loader import load_scenario
    from sim.render import Renderer
    from sim.session.preview import session_at, view_of
    from sim.world.visuals import PoseReader

    console = Console(emoji=False)
    start_run(console)
    scenario = load_scenario(SCENARIO)
    with session_at(scenario, 0, AT_S) as session:
        view = view_of(session)
        d, X_WN, X_WC = view.description, view.X_WN, view.X_WC
        reader = PoseReader(session.world, d)
        renderers = {
            "surgisim 640x480": Renderer(d, 640, 480),
            "surgisim 640x480, MSAA 4, shadow 2048": Renderer(
                d, 640, 480, samples=4, shadow_size=2048
            ),
            "surgisim 1920x1080": Renderer(d, 1920, 1080),
            "surgisim stereo 2x1024x1024": Renderer(d, 1024, 1024),
        }
        first = renderers["surgisim 640x480"]
        backend = (
            f"{first.backend}: {first.gl_renderer}, GL {first.gl_version}; defaults MSAA "
            f"{first.samples}, shadow map {first.shadow_size}"
        )
        cases = {}
        for name, r in renderers.items():
            if "stereo" in name:
                cases[name] = (lambda r=r: r.render_stereo(X_WN, X_WC), timed_frames(name, frames))
            else:
                cases[name] = (lambda r=r: r.render(X_WN, X_WC), timed_frames(name, frames))
        baseline = "pybullet getCameraImage 640x480"
        cases[baseline] = (
            _pybullet_frame(session.world, X_WC, d.camera, 640, 480),
            baseline_frames,
        )
        cases["node poses (PoseReader)"] = (reader, 2000)
        rates: dict[str, list[float]] = {name: [] for name in cases}
        cpu_ms: dict[str, list[float]] = {name: [] for name in cases}
        load_before = os.getloadavg()[0]
        try:
            for _ in range(rounds):
                for name, (fn, n) in cases.items():
                    rate, cpu = _time(fn, n)
                    rates[name].append(rate)
                    cpu_ms[name].append(cpu)
        finally:
            for r in renderers.values():
                r.close()
    results = []
    rows = []
    for name, values in rates.items():
        median = float(np.median(values))
        unit = "reads/s" if "poses" in name else ("pairs/s" if "stereo" in name else "frames/s")
        per_call_ms = 1e3 / median
        cpu = float(np.median(cpu_ms[name]))
        results.append(
            {"case": name, "rate": median, "unit": unit, "ms_per_call": per_call_ms,
             "cpu_ms_per_call": cpu, "calls_per_round": cases[name][1], "rounds": values}
        )  # fmt: skip
        rows.append([name, unit, median, per_call_ms, cpu, min(values), max(values)])
    load = (load_before, os.getloadavg()[0])
    print_table(
        f"Endoscope view of {SCENARIO} at {AT_S} s ({backend}); load average "
        f"{load[0]:.1f} -> {load[1]:.1f} on {os.cpu_count()} CPUs",
        ["case", "unit", "median", "ms/call", "CPU ms/call", "worst round", "best round"],
        rows,
        console,
    )
    fps_640 = float(np.median(rates["surgisim 640x480"]))
    base_640 = float(np.median(rates[baseline]))
    ratio = fps_640 / base_640
    bar_rows = [
        ["640x480 frames/s", fps_640, ">=", BAR_FPS_640,
         "pass" if fps_640 >= BAR_FPS_640 else "FAIL"],
        ["640x480 over pybullet getCameraImage", ratio, ">=", BAR_OVER_PYBULLET,
         "pass" if ratio >= BAR_OVER_PYBULLET else "FAIL"],
    ]  # fmt: skip
    payload = {
        "frames": frames,
        "rounds": rounds,
        "baseline_frames": baseline_frames,
        "scenario": SCENARIO,
        "at_s": AT_S,
        "backend": backend,
        "samples": first.samples,
        "shadow_size": first.shadow_size,
        "nodes": len(d.nodes),
        "triangles": int(sum(len(m.faces) for n in d.nodes for m in n.meshes)),
        "results": results,
    }
    return finish("render", bar_rows, payload, json_path, console, strict)


if __name__ == "__main__":  # pragma: no cover
    run_render_benchmark(json_path=Path("bench/results/render.json"))
