"""The live server's half of ``surgisim bench bus``: a real training server, a device
process at 1 kHz and a viewer process subscribed to everything.

Measured, per transport (tcp loopback, ipc):

- **stamp -> step**: for every device sample, the device's stamp (``time.monotonic()``,
  one system-wide clock on Linux) to the teleoperation step that used it (the server
  feeds samples through teleoperation as they arrive, between physics ticks; the
  instrument's joint goal is set then, and the next tick moves it);
- the server loop's tick period, lateness and work (p50 / p99 / p99.9) and overruns,
  with the viewer subscribed;
- ``servo_cf`` messages per second seen at the device (force feedback rate), and what
  the viewer received.

The raw-pyzmq baseline is the bench's first table (device -> receipt on plain sockets,
same run). Bars (2-core machine): stamp -> step p50 <= 200 µs and p99 <= 1 ms over ipc;
< 0.5% overruns at 500 Hz physics with one viewer; servo_cf >= 500 Hz at the device.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

SCENARIO = "needle-handover"
#: Seconds after the device's first sample before stamp -> step is measured: its
#: process's and the viewer's start-up (imports, connecting) fill the first second on a
#: loaded machine (a 2 s run read p99 42-62 ms, every slow sample at the start, where a
#: 5 s run read 4 ms); the server then runs ``seconds`` more, measured.
SETTLE_S = 1.0


def measured_window(
    arrivals_s: list[float], latencies_s: list[float], settle_s: float = SETTLE_S
) -> tuple[list[float], float | None]:
    """The latencies of the samples that arrived ``settle_s`` or more after the first
    one, and when that window began (``None``: no sample came)."""
    if not arrivals_s:
        return [], None
    begin = arrivals_s[0] + settle_s
    return [lat for t, lat in zip(arrivals_s, latencies_s, strict=True) if t >= begin], begin


def device_main(port: int, ipc_dir: str, seconds: float) -> None:
    """A device process: both hands at 1 kHz for ``seconds``; prints what it received."""
    from haptics.bus.contract import pose_payload
    from haptics.bus.sockets import ClientBus

    bus = ClientBus(port=port, ipc_dir=ipc_dir or None, subscribe=("MTMR/servo_cf",))
    bus.wait_ready(60)
    X = np.eye(4)
    start = time.monotonic()
    next_t = start
    servo_cf = 0
    first = last = None  # receipt times of the first and last servo_cf (the server's span)
    while time.monotonic() - start < seconds:
        for name in ("MTMR", "MTML"):
            bus.publish(f"{name}/gripper/measured_js", {"position_rad": [0.3]})
            bus.publish(f"{name}/clutch", {"pressed": False})
            bus.publish(f"{name}/measured_cp", pose_payload(X))
        got = sum(1 for m in bus.poll(0) if m.topic == "MTMR/servo_cf")
        if got:
            now = time.monotonic()
            first = now if first is None else first
            last = now
            servo_cf += got
        next_t += 0.001
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    # the rate while the server served: the device also runs before it starts and after
    # it ends, and counting those seconds would read as a slow server
    span = (last - first) if first is not None and last > first else 0.0
    print(json.dumps({"servo_cf": servo_cf, "seconds": span}))
    bus.close()


def viewer_main(port: int, ipc_dir: str, seconds: float) -> None:
    """A viewer process: subscribes to everything for ``seconds``; prints the counts."""
    from haptics.bus.sockets import ClientBus

    bus = ClientBus(port=port, ipc_dir=ipc_dir or None)
    bus.wait_ready(60)
    start = time.monotonic()
    counts: dict[str, int] = {}
    while time.monotonic() - start < seconds:
        for m in bus.poll(0.05):
            counts[m.topic] = counts.get(m.topic, 0) + 1
    print(json.dumps({"messages": sum(counts.values()), "scene": counts.get("scene/state", 0)}))
    bus.close()


def run_server_config(
    transport: str, seconds: float, realtime: bool = False, align_ticks: bool = True
) -> dict:
    """One configuration: server here, a device and a viewer in their own processes;
    ``realtime``: the server's loop thread asks for real-time scheduling;
    ``align_ticks``: the server's tick alignment (off: the baseline of free ticks)."""
    from scenarios.loader import load_scenario
    from sim.server.server import ServeConfig, TrainingServer

    ipc_dir = tempfile.mkdtemp(prefix="surgisim-bus-") if transport == "ipc" else ""
    latencies_s: list[float] = []
    arrivals_s: list[float] = []  # when each sample was used (the server's clock)

    def measure(now: float, samples) -> None:
        latencies_s.extend(now - s.stamp_s for s in samples)
        arrivals_s.extend(now for _ in samples)

    config = ServeConfig(
        port=0, ipc_dir=ipc_dir or None, realtime=realtime, align_ticks=align_ticks
    )
    server = TrainingServer(
        load_scenario(SCENARIO), config=config, say=lambda line: None, on_samples=measure
    )
    port = server.port
    here = [sys.executable, "-m", "bench.bus_server"]
    spawn = {"stdout": subprocess.PIPE, "stderr": subprocess.DEVNULL, "text": True}
    # the device and the viewer outlast the server's settled, measured run
    device_s, viewer_s = seconds + SETTLE_S + 2, seconds + SETTLE_S + 4
    device = subprocess.Popen([*here, "device", str(port), ipc_dir, str(device_s)], **spawn)
    viewer = subprocess.Popen([*here, "viewer", str(port), ipc_dir, str(viewer_s)], **spawn)
    result: dict = {}

    def measured_enough() -> bool:
        # the clock starts at the device's first sample + SETTLE_S, not at run()
        return bool(arrivals_s) and arrivals_s[-1] - arrivals_s[0] >= SETTLE_S + seconds

    def serve() -> None:
        # the bound: start-up may take a while on a loaded machine, but not forever
        result["outcome"] = server.run(stop=measured_enough, max_duration_s=seconds + SETTLE_S + 60)

    thread = threading.Thread(target=serve)
    thread.start()
    thread.join()
    device_out = json.loads(device.communicate(timeout=120)[0].strip().splitlines()[-1])
    viewer_out = json.loads(viewer.communicate(timeout=120)[0].strip().splitlines()[-1])
    server.close()
    loop = result["outcome"].loop
    settled, begin = measured_window(arrivals_s, latencies_s)
    measured_s = max(arrivals_s[-1] - begin, 0.0) if begin is not None else 0.0
    return {
        "transport": transport,
        "align_ticks": align_ticks,
        "scheduling": result["outcome"].scheduling.as_dict(),
        "stamp_to_step_s": settled,
        "settle_s": SETTLE_S,
        "measured_s": measured_s,  # stamp -> step's window: after the settle
        "loop": loop.as_dict(),
        "servo_cf_per_s": device_out["servo_cf"] / max(device_out["seconds"], 1e-9),
        "viewer_messages": viewer_out["messages"],
    }


if __name__ == "__main__":
    role, port, ipc_dir, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    (device_main if role == "device" else viewer_main)(port, ipc_dir, seconds)
