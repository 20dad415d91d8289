"""The server compiles its live session's kernels before its bus opens.

On a fresh install (an empty numba cache) the first live session compiled teleoperation,
alignment, force-feedback and grasp kernels under the trainee's first samples: the loop
stalled, both arms held at the start and the session ran at 0.82x real time. Here a fresh
process warms up, then runs a live session with a device that engages and follows, and
no kernel may gain a compiled signature after the warm-up."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from numba.core.dispatcher import Dispatcher

    def compiled():
        out = {}
        for name, module in list(sys.modules.items()):
            if not name.startswith(("haptics", "kinematics", "sim", "scenarios")):
                continue
            for attr, value in list(vars(module).items()):
                if isinstance(value, Dispatcher):
                    out[f"{name}.{attr}"] = len(value.signatures)
        return out

    from tests.sim.server.test_server import Device, Served

    served = Served()  # warms up in its constructor, as surgisim serve does
    before = compiled()
    device = Device(served.server.port)
    followed, held = [], 0
    try:
        # a hand 1 cm away, followed for a second; the device thread shares this process
        # with the server's loop, and a CI run starved it into a hold: a held arm is
        # engaged again (up to three times), as a trainee would
        for attempt in range(3):
            device.follow("MTMR", "PSM1")
            moved_at = time.monotonic()
            hand = device.hand["MTMR"].copy()
            hand[:3, 3] += (0.01, 0.0, 0.0)
            device.hand["MTMR"] = hand
            time.sleep(1.0)
            with device._lock:
                states = [m.payload for t, m in device.inbox
                          if t >= moved_at and m.topic == "PSM1/operating_state"]
            followed.append(sum(p["state"] == "FOLLOWING" for p in states))
            held += sum(p["state"] == "HOLDING" for p in states)
            if states and all(p["state"] == "FOLLOWING" for p in states):
                break
        state = device.state("PSM1")
    finally:
        device.close()
        served.stopped = True
        served.thread.join(60)
        served.close()
    after = compiled()
    grew = sorted(k for k, n in after.items() if n > before.get(k, 0))
    print(json.dumps({"state": state, "grew": grew, "kernels": len(before),
                      "following_messages": followed, "holding_messages": held}))
    """
)


def test_a_live_session_compiles_nothing_after_the_warm_up():
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert max(result["following_messages"]) >= 5, result  # a second of following, at >= 10 Hz
    assert result["kernels"] > 10, result  # the warm-up ran the session's kernels
    assert result["grew"] == [], result


def test_the_warm_up_counts_what_numba_compiled_and_a_cached_start_says_so(monkeypatch):
    """A probe student's cached start on a busy machine (4 s) said "its kernels compile on
    the first run on this machine": the warm-up now counts the kernels it compiled."""
    from numba import njit

    from scenarios.loader import load_scenario
    from sim.server import server as server_module
    from sim.server import warm_up as warm_up_module

    def fresh(*_):  # a kernel no process has compiled: one compilation
        njit(lambda x: x + 1)(1)

    monkeypatch.setattr(warm_up_module, "_scripted", fresh)
    monkeypatch.setattr(warm_up_module, "_live_path", lambda *_: None)
    took = warm_up_module.warm_up(None, 0)
    assert took.compiled == 1 and took.seconds >= 0.0
    monkeypatch.setattr(warm_up_module, "_scripted", lambda *_: None)
    assert warm_up_module.warm_up(None, 0).compiled == 0

    said: list[str] = []
    for compiled in (0, 12):
        taken = warm_up_module.WarmUp(5.0, compiled)
        monkeypatch.setattr(warm_up_module, "warm_up", lambda *_, t=taken: t)
        server = server_module.TrainingServer(
            load_scenario("needle-handover"),
            config=server_module.ServeConfig(port=0),
            say=said.append,
        )
        server.close()
    assert "prepared the simulation in 5 s (its kernels came from the cache" in said[0]
    assert "(12 kernels compiled: the first run on this machine" in said[1]


def test_the_ports_are_bound_before_the_warm_up(monkeypatch):
    """Two servers asked for one port: the second used to warm up (14 s on a first run)
    before it found the ports, while the first, still warming up, lost them to it. Now
    the ports are bound first: the second fails at once with the clear message, without
    warming up, and the first keeps them."""
    import pytest

    from haptics.bus.sockets import BusError, ServerBus
    from sim.server import server as server_module
    from sim.server import warm_up as warm_up_module

    warmed = []
    monkeypatch.setattr(warm_up_module, "warm_up", lambda *a: warmed.append(a))
    with ServerBus(port=0) as first:
        with pytest.raises(BusError, match="Is another `surgisim serve` running there"):
            server_module.TrainingServer(
                None,  # never reached: the ports are checked before the scenario is used
                config=server_module.ServeConfig(port=first.port),
                say=lambda _: None,
            )
        assert not warmed


def test_a_warm_up_that_fails_gives_the_ports_back(monkeypatch):
    """The bus is bound before the warm-up: a warm-up (or session) that raises (Ctrl-C
    during it) closes it, so the ports are free for the next server at once."""
    import pytest

    from haptics.bus.sockets import ServerBus
    from sim.server import server as server_module
    from sim.server import warm_up as warm_up_module

    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(warm_up_module, "warm_up", interrupted)
    with ServerBus(port=0) as probe:
        port = probe.port
    with pytest.raises(KeyboardInterrupt):
        server_module.TrainingServer(None, config=server_module.ServeConfig(port=port))
    with ServerBus(port=port) as again:
        assert again.port == port
