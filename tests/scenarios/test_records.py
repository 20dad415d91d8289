"""Trainee records on real SQLite: pseudonyms, proficiency, re-scores, and surviving a kill."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from scenarios.errors import ScenarioError
from scenarios.records import Records, default_database_url, pseudonym_from


def _add(records, pseudonym="T001", passed=True, score=80.0, scenario="peg-transfer"):
    return records.add_session(
        pseudonym=pseudonym,
        scenario_name=scenario,
        scenario_version="1",
        scenario_yaml="name: x\n",
        operator="expert",
        seed=1,
        sim_time_s=10.0,
        wall_time_s=2.0,
        completed=True,
        metrics={"completion_time_s": 10.0},
        result={"rule": "mscore", "score": score, "passed": passed},
        rubric={"k": 1},
    )


@pytest.fixture
def records(tmp_path):
    return Records(f"sqlite:///{tmp_path / 'records.sqlite'}")


def test_sessions_and_scores_round_trip(records):
    sid = _add(records)
    row = records.session(sid)
    assert row.trainee.pseudonym == "T001" and row.metrics == {"completion_time_s": 10.0}
    assert row.original_score.score == 80.0 and row.original_score.passed
    records.add_score(sid, {"rule": "mscore", "score": 55.0, "passed": False}, {"k": 2})
    row = records.session(sid)
    assert [s.score for s in row.scores] == [80.0, 55.0]
    assert row.original_score.score == 80.0  # re-scoring never rewrites history


def test_proficiency_counts_consecutive_and_total(records):
    for passed in [True, False, True, True, True]:
        _add(records, passed=passed)
    _add(records, pseudonym="T002", passed=True)
    p = records.proficiency("T001", "peg-transfer", required_consecutive=2, required_total=4)
    assert (p.attempts, p.passes, p.consecutive_passes) == (5, 4, 3) and p.proficient
    p = records.proficiency("T001", "peg-transfer", required_consecutive=4, required_total=4)
    assert not p.proficient
    assert [t.pseudonym for t, _ in records.trainees()] == ["T001", "T002"]


def test_names_are_refused(records):
    with pytest.raises(ScenarioError, match="never a name"):
        records.trainee("Jane Doe")
    with pytest.raises(ScenarioError, match="pseudonym"):
        _add(records, pseudonym="Jane Doe")
    p = pseudonym_from(b"site-secret", "student-4711")
    assert p == pseudonym_from(b"site-secret", "student-4711") and p != pseudonym_from(
        b"x", "student-4711"
    )
    records.trainee(p)


def test_default_location_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_database_url() == f"sqlite:///{tmp_path / 'surgisim' / 'records.sqlite'}"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_database_url().endswith("/.local/share/surgisim/records.sqlite")


def test_unknown_session(records):
    with pytest.raises(ScenarioError, match="no session with id 99"):
        records.session(99)


def test_records_survive_a_killed_writer(tmp_path):
    db = tmp_path / "killed.sqlite"
    writer = textwrap.dedent(
        f"""
        from scenarios.records import Records
        r = Records("sqlite:///{db}")
        i = 0
        while True:
            r.add_session(pseudonym="T%03d" % (i % 7), scenario_name="peg-transfer",
                          scenario_version="1", scenario_yaml="x" * 5000, operator="expert",
                          seed=i, sim_time_s=1.0, wall_time_s=1.0, completed=True,
                          metrics={{"m": float(i)}}, result={{"rule": "fls", "score": 1.0,
                          "passed": True}}, rubric={{}})
            i += 1
            if i == 5:
                print("ready", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        sessions = con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        scores = con.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    assert sessions >= 5 and sessions == scores  # every session came with its score
    records = Records(f"sqlite:///{db}")
    assert len(records.sessions()) == sessions
