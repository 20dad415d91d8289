"""VR benchmark: the headset client's frame timing on a real OpenXR runtime.

Monado's null compositor (Debian trixie's ``monado-service`` in the project's root,
``sim/xr/xr-root.sh``; simulated headset and controllers) paces frames at its fixed rate
and never looks at pixels; the client (``surgisim vr``, console view, needle-handover
served by ``surgisim serve`` on the host) draws both eyes with the project's renderer on
Mesa llvmpipe into sRGB swapchain images and submits a projection layer each frame.

Cases (one client run each, ``frames`` frames, the first ``skip`` left out as start-up):

- ``recommended``: the runtime's recommended size per eye (Monado's simulated HMD:
  320x240);
- ``quest3``: 2064x2208 per eye (Meta Quest 3's per-eye render size).

Reported per case: frames measured, submitted, paced (display slots the runtime offered
over the same span: the baseline each case is held against), missed (slots skipped),
late (ended after the predicted display time), render time per eye (GPU timer queries;
the left eye's includes the shared shadow map), the client's own frame (``xrWaitFrame``
returning to ``xrEndFrame`` returning) and the hand-to-display latency (device sample
sent -> the frame computed from it at its predicted display time).

Bar: no missed frames at the null compositor's pace at the recommended size, over at
least 600 measured frames.

Run: ``surgisim bench vr`` (needs root: it builds or reuses the root; skipped with the
reason printed where that cannot be done).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from bench.report import finish, print_table, start_run
from haptics.bus.ports import free_port_block

SCENARIO = "needle-handover"
CASES = {"recommended": None, "quest3": (2064, 2208)}
MIN_FRAMES = 600


def _summary(timing_path: Path, skip: int) -> dict:
    from sim.xr.timing import FrameRecord, FrameTimer

    timer = FrameTimer()
    for line in timing_path.read_text().splitlines():
        timer.add(FrameRecord(**json.loads(line)))
    return timer.summary(skip=skip)


def work_dir(root_path: Path) -> tuple[Path, str]:
    """A folder of this run's own under the root's ``/tmp`` (two runs at once wrote over
    each other's reports and logs in a fixed ``/tmp/bench-vr``): its path here and in
    the root."""
    tmp = Path(root_path) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    here = Path(tempfile.mkdtemp(prefix="bench-vr-", dir=tmp))
    return here, f"/tmp/{here.name}"


def run_vr_benchmark(
    frames: int = 660,
    skip: int = 60,
    cases=tuple(CASES),
    json_path: Path | None = Path("bench/results/vr.json"),
    strict: bool = False,
) -> bool:
    """Run the cases, print the table and the bar, write JSON; True unless ``strict`` and
    the bar is missed (or the root could not be built)."""
    from sim.xr.monado import MonadoService, RootUnavailableError, XrRoot

    console = Console(emoji=False, width=max(Console(emoji=False).width, 150))
    root = XrRoot()
    try:
        root.ensure(log=lambda line: console.print(line) if "ready in" in line else None)
    except RootUnavailableError as exc:
        console.print(f"bench vr skipped: {exc}")
        return not strict
    start_run(console)
    work, in_root = work_dir(root.path)
    port = free_port_block()
    data = work / "data"
    env = {**os.environ, "XDG_DATA_HOME": str(data), "COLUMNS": "200"}
    server = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "serve", SCENARIO, "--port", str(port)],
        env=env,
        stdout=(work / "serve.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    results: dict[str, dict] = {}
    try:
        with MonadoService(root, "simulated", log_path=work / "monado.log") as service:
            for case in cases:
                size = CASES[case]
                args = ["-m", "sim.cli", "vr", "--port", str(port), "--frames", str(frames)]
                args += ["--timing", f"{in_root}/{case}.jsonl"]
                args += ["--json", f"{in_root}/{case}.json"]
                if size is not None:
                    args += ["--size", f"{size[0]}x{size[1]}"]
                console.print(f"case {case}: {frames} frames ...")
                started = time.monotonic()
                run = root.python(
                    args,
                    {**service.client_env, "COLUMNS": "200"},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                out, _ = run.communicate(timeout=3600)
                if run.returncode != 0:
                    console.print(out[-3000:])
                    results[case] = {"error": f"client exit {run.returncode}"}
                    continue
                report = json.loads((work / f"{case}.json").read_text())
                summary = _summary(work / f"{case}.jsonl", skip)
                results[case] = {
                    "size": [report["swapchain"]["width"], report["swapchain"]["height"]],
                    "format": report["swapchain"]["format"],
                    "system": report["system"],
                    "wall_s": time.monotonic() - started,
                    **summary,
                }
    finally:
        from haptics.bus.sockets import ClientBus

        if server.poll() is None:
            client = ClientBus(port=port, subscribe=())
            try:
                client.request("stop", timeout_s=60)
            except Exception:  # the server is gone: nothing to store
                pass
            finally:
                client.close()
            try:
                server.wait(180)
            except subprocess.TimeoutExpired:
                server.kill()
    if any("error" in r for r in results.values()):
        console.print(f"logs of this run kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for case, r in results.items():
        if "error" in r:
            rows.append([case, "-", r["error"], *["-"] * 8])
            continue
        eyes = r["eye_ms"]
        rows.append(
            [
                case,
                f"{r['size'][0]}x{r['size'][1]}",
                r["frames"],
                r["submitted"],
                r["paced"],
                r["missed"],
                r["late"],
                " / ".join(f"{e.get('p50', 0):.1f}" for e in eyes),
                " / ".join(f"{e.get('p95', 0):.1f}" for e in eyes),
                f"{r['work_ms'].get('p50', 0):.1f} / {r['work_ms'].get('p95', 0):.1f}",
                f"{r['latency_ms'].get('p50', float('nan')):.0f}",
            ]
        )
    period = next((r["period_ms"] for r in results.values() if "period_ms" in r), 0.0)
    load = os.getloadavg()
    print_table(
        f"headset client on Monado's null compositor ({period:.0f} ms pace), llvmpipe; "
        f"load average {load[0]:.1f} on {os.cpu_count()} cores",
        [
            "case", "size/eye", "frames", "submitted", "paced (baseline)", "missed", "late",
            "eye p50 ms L/R", "eye p95 ms L/R", "wait->end p50/p95 ms", "latency p50 ms",
        ],
        rows,
        console,
    )  # fmt: skip
    rec = results.get("recommended")
    # judged only on enough frames of the recommended size: a run of other cases, or a
    # short one, says why it was not judged instead of reading "-1 ... FAIL"
    if rec is None:
        measured, verdict = "not run", "not judged"
    elif rec.get("frames", 0) < MIN_FRAMES:
        measured, verdict = f"{rec.get('frames', 0)} frames only", "not judged"
    else:
        measured = rec.get("missed", -1)
        verdict = "pass" if measured == 0 else "FAIL"
    bar_rows = [
        [
            f"missed frames at the runtime's pace, recommended size, >= {MIN_FRAMES} frames",
            measured,
            "==",
            0,
            verdict,
        ]
    ]
    payload = {
        "frames": frames,
        "skip": skip,
        "cases": results,  # by case, as before; "results": the same, one row per case
        "results": [{"case": case, **r} for case, r in results.items()],
    }
    return finish("vr", bar_rows, payload, json_path, console, strict)


if __name__ == "__main__":
    sys.exit(0 if run_vr_benchmark() else 1)
