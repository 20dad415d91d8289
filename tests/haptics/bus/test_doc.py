"""docs/bus.md: its topic tables match haptics.bus.contract (its example device runs against
a real server: tests/sim/server/test_doc_example.py)."""

from __future__ import annotations

from pathlib import Path

from haptics.bus.contract import TO_CLIENT, TO_SERVER, TOPICS
from haptics.bus.errors import DROP_REASONS

DOC = Path(__file__).resolve().parents[3] / "docs" / "bus.md"


def _section(heading: str) -> str:
    text = DOC.read_text()
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


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
