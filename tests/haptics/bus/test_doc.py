"""docs/bus.md: its example device runs, and its topic tables match haptics.bus.contract."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from haptics.bus.contract import TO_CLIENT, TO_SERVER, TOPICS
from haptics.bus.devices import DeviceState
from haptics.bus.errors import DROP_REASONS

DOC = Path(__file__).resolve().parents[3] / "docs" / "bus.md"


def _section(heading: str) -> str:
    text = DOC.read_text()
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def test_the_example_device_runs_against_a_server(served, tmp_path):
    server, pump = served
    code = re.search(r"```python\n(.*?)```", _section("## A device in 30 lines"), re.S).group(1)
    lines = [ln for ln in code.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(lines) <= 32, f"the example has {len(lines)} lines of code"
    script = tmp_path / "device.py"
    script.write_text(code)
    seconds = 1.0
    out = subprocess.run(
        [sys.executable, str(script), str(server.port), str(seconds)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    messages = pump.take(10**9, timeout_s=1.0)
    assert server.counters.messages.total_dropped == 0
    samples = DeviceState().ingest(messages)
    # every sample the device sent arrived, in order (its seq runs 0 .. n-1 without gaps)
    n = int(seconds * 1000)
    assert [s.seq for s in samples] == list(range(n))
    assert all(s.device == "MTMR" and s.sample.problem() == "" for s in samples)
    x = np.array([s.sample.X_MH[0, 3] for s in samples])
    assert np.abs(x).max() <= 0.02 + 1e-12 and np.ptp(x) > 0.015  # half a sweep in 1 s, in metres
    assert all(s.sample.gripper_rad == 0.3 and not s.sample.clutch for s in samples)


def test_topic_tables_list_every_topic_of_the_contract():
    device = _section("## Device → server")
    server = _section("## Server → clients")
    for spec in TOPICS:
        table = device if spec.direction == TO_SERVER else server
        assert f"| `{spec.pattern}` |" in table, spec.pattern
        for field in spec.fields:
            assert f"`{field}`" in table, (spec.pattern, field)
    assert {s.direction for s in TOPICS} == {TO_SERVER, TO_CLIENT}


def test_drop_reasons_are_documented():
    security = _section("## Security")
    for reason in DROP_REASONS:
        assert f"| `{reason}` |" in security, reason
