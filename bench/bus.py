"""Bus benchmark: one-way latency device -> server through haptics.bus, against raw pyzmq.

A device process publishes ``MTMR/measured_cp`` at 1 kHz (sleep-paced, stamped with
``time.monotonic()``, which is one system-wide clock on Linux, so a stamp from another
process is comparable). The benchmark process receives and measures, per message:

- ``receipt``: device stamp -> the message taken off the socket (and, for our stack,
  validated) in the server process;
- ``handled``: device stamp -> after the server-side handler ran on it. The default
  handler is :meth:`haptics.bus.devices.DeviceState.update` (the message becomes a
  teleoperation sample); the real-time server passes its own (``on_sample``), e.g. one
  teleoperation step, so the same harness measures stamp -> the step that used it.

Configurations, in interleaved rounds so that other load spreads over all of them:
``stack`` (ClientBus -> ServerBus: envelopes, contract checks both ends) and ``raw``
(plain pyzmq PUB -> SUB with the same msgpack payload and no checks: the baseline), each
over ``tcp`` loopback and ``ipc``. Also: throughput (a device sending as fast as it can)
and the cost of garbage (decode per message by kind, against plain ``msgpack.unpackb``).

Bars (2-core machine, stack over tcp and ipc): p50 <= 200 µs, p99 <= 1 ms.

Run: ``surgisim bench bus`` (or ``python -m bench.bus``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import numpy as np
import zmq
from rich.console import Console

from bench.report import MIN_SAMPLES, finish, print_table, sample_verdict, start_run
from haptics.bus.contract import Message, decode
from haptics.bus.devices import DeviceState
from haptics.bus.errors import BusMessageError
from haptics.bus.sockets import ClientBus, ServerBus

BARS_US = {"p50": 200.0, "p99": 1000.0}
#: the fewest samples each latency bar is judged on (a p99 of one sample is that sample)
BAR_MIN_SAMPLES = {"p50": 10, "p99": MIN_SAMPLES["p99"]}
#: the fewest server ticks the overrun bar (< 0.5%) is judged on
BAR_MIN_TICKS = 1000
TOPIC = "MTMR/measured_cp"
POSE = {"position_m": [0.01, -0.02, 0.1], "orientation_xyzw": [0.0, 0.0, 0.0, 1.0]}
WARMUP_S = 0.2  # the first messages after connecting are not measured
#: How ``--seconds`` is shared between the sections: latency (over rounds and
#: configurations), throughput (over paths), the training server (over its configurations).
SHARES = {"latency": 0.5, "throughput": 0.1, "server": 0.4}
#: The shortest run of each section (s): below these a run measures little but start-up.
#: The server's is measured after its device's first sample + ``bus_server.SETTLE_S``.
MIN_RUN_S = {"latency": 0.5, "throughput": 0.5, "server": 5.0}
ROOT = Path(__file__).resolve().parents[1]


def run_seconds(seconds: float, rounds: int, runs: dict[str, int]) -> dict[str, float]:
    """Seconds of one run of each section, so that all runs together measure ``seconds``
    (``SHARES`` of it per section, split over its ``runs``; the latency section's also
    over ``rounds``), none shorter than ``MIN_RUN_S``. Processes' start-up comes on top."""
    out = {}
    for section, count in runs.items():
        count *= rounds if section == "latency" else 1
        out[section] = max(MIN_RUN_S[section], SHARES[section] * seconds / max(count, 1))
    return out


# --------------------------------------------------------------------------- device side
def _raw_payload(seq: int) -> bytes:
    return msgpack.packb({**POSE, "v": 1, "stamp_s": time.monotonic(), "seq": seq})


def device_main(mode: str, transport: str, port: int, ipc_dir: str, seconds: float, rate_hz):
    """The device process: publish at ``rate_hz`` for ``seconds`` (``rate_hz`` 0: flat out)."""
    ipc = ipc_dir if transport == "ipc" else None
    if mode == "stack":
        bus = ClientBus(port=port, ipc_dir=ipc, subscribe=())
        bus.wait_ready(10.0)

        def send(i: int) -> None:
            bus.publish(TOPIC, POSE)

    else:
        ctx = zmq.Context()
        pub = ctx.socket(zmq.XPUB)  # sees the subscription: same start as the stack
        pub.sndhwm = 10_000
        pub.connect(_raw_endpoint(transport, port, ipc_dir))
        if not pub.poll(10_000):
            raise SystemExit("raw receiver never subscribed")
        pub.recv()
        topic = TOPIC.encode()

        def send(i: int) -> None:
            pub.send_multipart([topic, _raw_payload(i)])

    period = 1.0 / rate_hz if rate_hz > 0 else 0.0
    t0 = next_s = time.monotonic()
    i = 0
    while next_s - t0 < seconds:
        send(i)
        i += 1
        if period:
            next_s += period
            time.sleep(max(0.0, next_s - time.monotonic()))
        else:
            next_s = time.monotonic()
    print(json.dumps({"sent": i, "seconds": time.monotonic() - t0}), flush=True)
    time.sleep(0.2)  # let the last messages leave before the sockets close


def _raw_endpoint(transport: str, port: int, ipc_dir: str) -> str:
    return f"ipc://{ipc_dir}/raw-{port}" if transport == "ipc" else f"tcp://127.0.0.1:{port}"


def _spawn(mode: str, transport: str, port: int, ipc_dir: str, seconds: float, rate_hz: float):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    args = [mode, transport, str(port), ipc_dir, str(seconds), str(rate_hz)]
    return subprocess.Popen(
        [sys.executable, "-m", "bench.bus", "device", *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


# --------------------------------------------------------------------------- server side
def _receive_stack(proc, bus: ServerBus, on_sample: Callable[[Message], object]):
    receipt, handled, t_first, t_last, n = [], [], None, None, 0
    while proc.poll() is None or bus.wait(0.05):
        if not bus.wait(0.05):
            continue
        for origin, _ in bus.requests():
            bus.reply(origin, {"ok": True, "contract": 1})
        for m in bus.drain():
            on_sample(m)
            done = time.monotonic()
            stamp = m.payload["stamp_s"]
            receipt.append(m.received_s - stamp)
            handled.append(done - stamp)
            t_first = t_first or m.received_s
            t_last, n = m.received_s, n + 1
    return receipt, handled, n, (t_last - t_first) if n > 1 else 0.0


def _receive_raw(proc, sub: zmq.Socket, on_sample: Callable[[Message], object]):
    receipt, handled, t_first, t_last, n = [], [], None, None, 0
    while proc.poll() is None or sub.poll(50):
        if not sub.poll(50):
            continue
        while True:
            try:
                frames = sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            t = time.monotonic()
            payload = msgpack.unpackb(frames[1])
            on_sample(Message(frames[0].decode(), payload, t))
            done = time.monotonic()
            receipt.append(t - payload["stamp_s"])
            handled.append(done - payload["stamp_s"])
            t_first = t_first or t
            t_last, n = t, n + 1
    return receipt, handled, n, (t_last - t_first) if n > 1 else 0.0


def run_config(
    mode: str,
    transport: str,
    seconds: float,
    rate_hz: float = 1000.0,
    on_sample: Callable[[Message], object] | None = None,
) -> dict:
    """One device process against one receiver; latencies (s) and counts.

    Args:
        mode: ``"stack"`` (ClientBus -> ServerBus) or ``"raw"`` (pyzmq PUB -> SUB).
        transport: ``"tcp"`` (loopback) or ``"ipc"``.
        seconds: how long the device sends (s), warm-up included.
        rate_hz: the device's rate; 0 sends as fast as it can (throughput).
        on_sample: called on the server side with every received message (default: a
            :class:`DeviceState` update); ``handled`` latencies include it.
    """
    on_sample = on_sample or DeviceState().update
    with tempfile.TemporaryDirectory(prefix="surgisim-bench-") as ipc_dir:
        if mode == "stack":
            bus = ServerBus(
                port=0 if transport == "tcp" else 5570,
                ipc_dir=(ipc_dir if transport == "ipc" else None),
            )
            try:
                proc = _spawn(mode, transport, bus.port, ipc_dir, seconds, rate_hz)
                receipt, handled, n, span = _receive_stack(proc, bus, on_sample)
                dropped = bus.counters.messages.total_dropped
            finally:
                bus.close()
        else:
            ctx = zmq.Context()
            sub = ctx.socket(zmq.SUB)
            sub.linger = 0
            sub.rcvhwm = 10_000
            sub.subscribe(b"")
            if transport == "tcp":
                port = sub.bind_to_random_port("tcp://127.0.0.1")
            else:
                port = 5570
                sub.bind(_raw_endpoint("ipc", port, ipc_dir))
            try:
                proc = _spawn(mode, transport, port, ipc_dir, seconds, rate_hz)
                receipt, handled, n, span = _receive_raw(proc, sub, on_sample)
                dropped = 0
            finally:
                ctx.destroy(linger=0)
        out, _ = proc.communicate(timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"device process ({mode}, {transport}) failed: exit {proc.returncode}")
    device = json.loads(out.strip().splitlines()[-1])
    skip = int(WARMUP_S * rate_hz) if rate_hz > 0 else 0
    return {
        "receipt_s": receipt[skip:],
        "handled_s": handled[skip:],
        "received": n,
        "sent": device["sent"],
        "device_rate_hz": device["sent"] / device["seconds"],
        "receive_span_s": span,
        "dropped": dropped,
    }


def _percentiles_us(values_s) -> dict:
    v = np.asarray(values_s, dtype=float) * 1e6
    if v.size == 0:
        return {"p50": math.nan, "p99": math.nan, "p99.9": math.nan, "max": math.nan, "n": 0}
    p50, p99, p999 = np.percentile(v, [50, 99, 99.9])
    return {"p50": p50, "p99": p99, "p99.9": p999, "max": float(v.max()), "n": int(v.size)}


# --------------------------------------------------------------------------- garbage cost
def garbage_costs_us(n: int = 20_000, seed: int = 0) -> dict[str, float]:
    """Median-of-batches µs per :func:`decode` call, by kind of message, and the baseline."""
    rng = np.random.default_rng(seed)
    good = [TOPIC.encode(), _raw_payload(0)]
    bad_pose = dict(msgpack.unpackb(good[1]), position_m=[0.0, math.nan, 0.0])
    kinds = {
        "good measured_cp": lambda: good,
        "random bytes": lambda: [rng.bytes(40), rng.bytes(int(rng.integers(1, 200)))],
        "truncated msgpack": lambda: [good[0], good[1][: int(rng.integers(1, len(good[1])))]],
        "non-finite": lambda: [good[0], msgpack.packb(bad_pose)],
        "unknown topic": lambda: [b"MTMR/measured_cq", good[1]],
        "too large": lambda: [good[0], b"\x00" * 70_000],
    }
    out = {}
    for name, make in kinds.items():
        frames = [make() for _ in range(n)]
        out[name] = _per_call_us(frames, _try_decode)
    out["baseline: msgpack.unpackb"] = _per_call_us([good] * n, lambda f: msgpack.unpackb(f[1]))
    return out


def _try_decode(frames) -> None:
    with contextlib.suppress(BusMessageError):
        decode(frames)


def _per_call_us(items, fn, batches: int = 5) -> float:
    size = max(1, len(items) // batches)
    per = []
    for b in range(batches):
        chunk = items[b * size : (b + 1) * size]
        t0 = time.perf_counter()
        for x in chunk:
            fn(x)
        per.append((time.perf_counter() - t0) / len(chunk) * 1e6)
    return float(np.median(per))


# --------------------------------------------------------------------------- the benchmark
def run_bus_benchmark(
    seconds: float = 60.0,
    rounds: int = 3,
    rate_hz: float = 1000.0,
    transports: tuple[str, ...] = ("tcp", "ipc"),
    json_path: Path | None = Path("bench/results/bus.json"),
    strict: bool = False,
    on_sample: Callable[[Message], object] | None = None,
    console: Console | None = None,
) -> bool:
    """Latency of every configuration, throughput, garbage cost and the training server,
    ``seconds`` measured in all (see :func:`run_seconds`; ``rate_hz`` is the latency
    section's device rate: the server section's device runs at 1 kHz, as its bars are
    set); print the tables, write JSON; True when the bars hold (or not strict)."""
    console = console or Console(emoji=False)
    start_run(console)
    configs = [(m, t) for t in transports for m in ("stack", "raw")]
    budget = run_seconds(
        seconds,
        rounds,
        {
            "latency": len(configs),
            "throughput": len(configs),
            "server": len(_server_configs(transports, realtime=True)),
        },
    )
    per_run = budget["latency"]
    results: dict[tuple[str, str], dict] = {c: {"receipt_s": [], "handled_s": []} for c in configs}
    meta: dict[tuple[str, str], list] = {c: [] for c in configs}
    for _ in range(rounds):
        for c in configs:
            r = run_config(*c, seconds=per_run, rate_hz=rate_hz, on_sample=on_sample)
            results[c]["receipt_s"] += r["receipt_s"]
            results[c]["handled_s"] += r["handled_s"]
            meta[c].append(r)
    rows, latency = [], {}
    for (mode, transport), r in results.items():
        rec, han = _percentiles_us(r["receipt_s"]), _percentiles_us(r["handled_s"])
        runs = meta[(mode, transport)]
        sent = sum(x["sent"] for x in runs)
        received = sum(x["received"] for x in runs)
        rate = float(np.mean([x["device_rate_hz"] for x in runs]))
        latency[f"{mode}/{transport}"] = {
            "receipt_us": rec,
            "handled_us": han,
            "sent": sent,
            "received": received,
            "device_rate_hz": rate,
            # receiving, after each run's warm-up, summed over the rounds
            "measured_s": sum(max(x["receive_span_s"] - WARMUP_S, 0.0) for x in runs),
        }
        rows.append(
            (
                mode,
                transport,
                rec["p50"],
                rec["p99"],
                rec["p99.9"],
                han["p50"],
                han["p99"],
                han["p99.9"],
                f"{received}/{sent}",
                rate,
            )
        )
    print_table(
        f"One-way latency device stamp -> server, µs ({rate_hz:g} Hz, {per_run * rounds:g} s"
        " per configuration)",
        [
            "path",
            "transport",
            "p50",
            "p99",
            "p99.9",
            "handled p50",
            "handled p99",
            "handled p99.9",
            "received/sent (count)",
            "device Hz",
        ],
        rows,
        console,
    )
    throughput = {}
    for transport in transports:
        for mode in ("stack", "raw"):
            r = run_config(mode, transport, seconds=budget["throughput"], rate_hz=0.0)
            throughput[f"{mode}/{transport}"] = {
                "sent": r["sent"],
                "received": r["received"],
                "received_per_s": r["received"] / r["receive_span_s"] if r["receive_span_s"] else 0,
                "sent_per_s": r["device_rate_hz"],
                "measured_s": r["receive_span_s"],
            }
    print_table(
        f"Throughput (device sending flat out for {budget['throughput']:g} s)",
        ["path", "", "sent/s", "received/s", "messages received / sent"],
        [
            (k, "", v["sent_per_s"], v["received_per_s"], v["received"] / max(1, v["sent"]))
            for k, v in throughput.items()
        ],
        console,
    )
    garbage = garbage_costs_us()
    print_table(
        "Cost of a message in decode(), µs (garbage is counted and dropped)",
        ["message", "", "µs"],
        [(k, "", v) for k, v in garbage.items()],
        console,
    )
    bar_rows = []
    for transport in transports:
        rec = latency[f"stack/{transport}"]["receipt_us"]
        samples = rec["n"]
        for key, target in BARS_US.items():
            verdict, why = sample_verdict(rec[key] <= target, samples, BAR_MIN_SAMPLES[key])
            bar_rows.append(
                (f"stack/{transport} receipt {key} (µs)", rec[key], "<=", target, verdict, why)
            )
    server = _server_section(transports, budget["server"], console, bar_rows)
    payload = {
        "seconds": seconds,
        "rounds": rounds,
        "rate_hz": rate_hz,
        "run_seconds": budget,
        # the seconds actually measured, per section and path / configuration (runs
        # asked for run_seconds; warm-up, settling and start-up are not measured)
        "measured_seconds": {
            "latency": {k: v["measured_s"] for k, v in latency.items()},
            "throughput": {k: v["measured_s"] for k, v in throughput.items()},
            "server": {k: v["measured_s"] for k, v in server.items()},
        },
        # one row per table row of the latency and throughput sections (the same figures
        # as "latency" and "throughput", which stay keyed by path)
        "results": [
            *({"section": "latency", "path": k, **v} for k, v in latency.items()),
            *({"section": "throughput", "path": k, **v} for k, v in throughput.items()),
        ],
        "latency": latency,
        "throughput": throughput,
        "garbage_decode_us": garbage,
        "server": server,
    }
    return finish("bus", bar_rows, payload, json_path, console, strict)


def _server_configs(transports, realtime: bool) -> list[tuple[str, bool, bool]]:
    """(transport, realtime, align_ticks) of each training-server run: the baseline of
    each transport (ticks at their deadlines, --no-align-ticks), aligned ticks, and with
    ``realtime`` where the machine permits it."""
    configs = [(t, False, False) for t in transports] + [(t, False, True) for t in transports]
    return configs + ([(t, True, True) for t in transports] if realtime else [])


def _server_section(transports, seconds: float, console, bar_rows: list) -> dict:
    """The training server with a 1 kHz device and a viewer (see :mod:`bench.bus_server`)."""
    from bench.bus_server import SETTLE_S, run_server_config
    from sim.server.realtime import use_normal, use_realtime

    # real-time scheduling is measured beside the default where this machine permits it
    probe = use_realtime()
    use_normal()
    configs = _server_configs(transports, probe.realtime)
    if not probe.realtime:
        console.print(f"server with --realtime not measured: {probe.detail}")
    out, rows = {}, []
    for transport, realtime, align in configs:
        r = run_server_config(transport, seconds, realtime=realtime, align_ticks=align)
        lat = _percentiles_us(r["stamp_to_step_s"])
        loop = r["loop"]
        label = transport + (" realtime" if realtime else "") + ("" if align else " free ticks")
        out[label] = {
            **{k: v for k, v in r.items() if k != "stamp_to_step_s"},
            "stamp_to_step_us": lat,
        }
        rows.append(
            (
                label,
                "",
                lat["p50"],
                lat["p99"],
                lat["p99.9"],
                *loop["period_ms"],
                100.0 * loop["overrun_fraction"],
                100.0 * loop["aligned_ticks"] / max(loop["ticks"], 1),
                loop["real_time_ratio"],
                r["servo_cf_per_s"],
                r["viewer_messages"],
            )
        )
        if not align:
            continue  # the baseline: measured, not held to the bars
        n = len(r["stamp_to_step_s"])
        p50 = sample_verdict(lat["p50"] <= 200, n, BAR_MIN_SAMPLES["p50"])
        p99 = sample_verdict(lat["p99"] <= 1000, n, BAR_MIN_SAMPLES["p99"])
        overruns = loop["overrun_fraction"] < 0.005
        ticks = sample_verdict(overruns, loop["ticks"], BAR_MIN_TICKS, unit="ticks")
        bar_rows += [
            (f"server/{label} stamp -> step p50 (µs)", lat["p50"], "<=", 200.0, *p50),
            (f"server/{label} stamp -> step p99 (µs)", lat["p99"], "<=", 1000.0, *p99),
            (
                f"server/{label} overruns at 500 Hz with a viewer (%)",
                100 * loop["overrun_fraction"],
                "<",
                0.5,
                *ticks,
            ),
            (
                f"server/{label} servo_cf at the device (Hz)",
                r["servo_cf_per_s"],
                ">=",
                500.0,
                "pass" if r["servo_cf_per_s"] >= 500 else "FAIL",
            ),
        ]
    print_table(
        f"Training server ({seconds:g} s measured each, after the device's first sample "
        f"+ {SETTLE_S:g} s): device stamp -> the step that used it (µs), "
        "tick period (ms), with a viewer subscribed",
        ["transport", "", "p50", "p99", "p99.9", "period p50", "p99", "p99.9", "overruns %",
         "aligned %", "x real time", "servo_cf Hz", "viewer msgs"],
        rows,
        console,
    )  # fmt: skip
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "device":
        mode, transport, port, ipc_dir, secs, rate = sys.argv[2:8]
        device_main(mode, transport, int(port), ipc_dir, float(secs), float(rate))
    else:
        seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
        ok = run_bus_benchmark(seconds=seconds)
        raise SystemExit(0 if ok else 1)
