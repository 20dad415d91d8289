"""Trainee records on real SQLite: pseudonyms, proficiency, re-scores, and surviving a kill."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from scenarios.archive import write_session_report, write_trainee_report
from scenarios.errors import ScenarioError
from scenarios.records import (
    Records,
    check_pseudonym,
    default_database_url,
    open_records,
    pseudonym_from,
    pseudonym_problem,
)

from .stored import store_mini_session


def _add(records, pseudonym="T001", passed=True, score=80.0, scenario="peg-transfer"):
    return records.add_session(**_session_kwargs(pseudonym, passed, score, scenario))


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
    assert (p.attempts, p.passes, p.best_run, p.current_run) == (5, 4, 3, 3) and p.proficient
    assert p.reached_at == 5  # the fourth qualifying attempt, two of them in a row
    p = records.proficiency("T001", "peg-transfer", required_consecutive=4, required_total=4)
    assert not p.proficient
    assert [t.pseudonym for t, _ in records.trainees()] == ["T001", "T002"]


def test_proficiency_once_reached_is_kept_after_a_later_fail(records):
    """Rule 2 in a row and 3 in all: three passes make the trainee proficient at the third
    attempt; a fail after that ends the current run, not the proficiency (FLS: a criterion
    reached on 2 consecutive and 10 more attempts is reached)."""
    for passed in [True, True, True, False]:
        _add(records, passed=passed)
    p = records.proficiency("T001", "peg-transfer", required_consecutive=2, required_total=3)
    assert (p.attempts, p.passes, p.best_run, p.current_run) == (4, 3, 3, 0)
    assert p.proficient and p.reached_at == 3
    third = records.sessions("T001", "peg-transfer")[2]
    assert p.reached_on == third.started_at
    # never two in a row: three passes in all are not enough
    for passed in [True, False, True, False, True]:
        _add(records, pseudonym="T003", passed=passed)
    p = records.proficiency("T003", "peg-transfer", required_consecutive=2, required_total=3)
    assert (p.best_run, p.current_run, p.proficient, p.reached_at) == (1, 1, False, None)


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


# ---- pseudonyms: only forms that cannot hold a name ---------------------------------------
# the probe's list: lower-case names, names with birth years, a bare date were accepted
REFUSED = [
    "john_smith", "johnsmith", "jane_doe", "maria-garcia-1985", "mustafa_al-hassan",
    "jsmith", "Smith", "Anna", "1985-03-02", "John_Smith", "MaryJones1990", "Mary-Jones",
    "JohnSmith", "Mary_Ann_Jones", "OR_team", "J_Smith", "Ab", "mg-1985", "T19850302",
    "T02-03-85", "T12", "123456", "keen-smith-0417",
    # report B: a name cut into pieces of three letters or fewer, and issued-form words
    # that are a first name and a surname too ("Amber Crane")
    "mar-ia-lop-ez-123", "T-ANA-LEE-001", "amber-crane-0417", "coral-finch-0042",
]  # fmt: skip


@pytest.mark.parametrize("name", REFUSED)
def test_new_pseudonyms_outside_the_accepted_forms_are_refused_unless_allowed(records, name):
    with pytest.raises(ScenarioError, match="not accepted for a new trainee") as info:
        _add(records, pseudonym=name)
    text = str(info.value)
    assert "allow-name" in text and "surgisim trainee new" in text and "T017" in text
    assert records.find_trainee(name) is None  # nothing was stored
    with pytest.raises(ScenarioError):
        records.trainee(name)
    sid = records.add_session(**{**_session_kwargs(name), "allow_name": True})
    assert records.session(sid).trainee.pseudonym == name


@pytest.mark.parametrize(
    "pseudonym",
    ["T001", "T017", "demo", "keen-otter-0417", "plucky-lemur-7809", "T3fa9b0c1d2",
     "res-04-2026", "OR-12-007", "js-042", "abc123", "T2026"],
)  # fmt: skip
def test_issued_derived_and_code_pseudonyms_pass(pseudonym):
    assert pseudonym_problem(pseudonym) is None
    assert check_pseudonym(pseudonym) == pseudonym


def test_trainees_made_under_the_older_rule_still_open_and_grow(records):
    """The rule is for new pseudonyms: a trainee stored before it (``jsmith`` passed the
    old check) keeps getting sessions, from Python and through the run's own check."""
    records.add_session(**{**_session_kwargs("jsmith"), "allow_name": True})  # stored then
    sid = _add(records, pseudonym="jsmith")
    assert records.session(sid).trainee.pseudonym == "jsmith"
    assert records.check_pseudonym("jsmith") == "jsmith"
    assert len(records.sessions("jsmith")) == 2
    with pytest.raises(ScenarioError, match="not accepted"):
        check_pseudonym("jsmith")  # not known to the bare function: a new one


def _session_kwargs(pseudonym, passed=True, score=80.0, scenario="peg-transfer"):
    """What :meth:`Records.add_session` takes for a plain stored session."""
    return dict(
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


def test_every_issued_pseudonym_passes_and_none_is_made_of_name_words():
    """The rule against names in pieces (three groups of letters) never refuses an issued
    pseudonym, and the issuing lists hold no word that is a name too."""
    from scenarios.records import _ADJECTIVES, _ANIMALS

    for adjective in _ADJECTIVES:
        for animal in _ANIMALS:
            assert pseudonym_problem(f"{adjective}-{animal}-0417") is None
    names = {"amber", "coral", "sunny", "merry", "young", "noble", "swift", "wise"}
    names |= {"robin", "crane", "finch", "wren", "swan", "raven", "heron", "salmon"}
    assert not names & set(_ADJECTIVES + _ANIMALS)


def test_pseudonyms_issued_before_stay_valid(records):
    """Issued before the name words were dropped: accepted beside a word of the lists
    (a new trainee in another database), and a stored one of two name words still opens
    and grows."""
    assert pseudonym_problem("swift-otter-1234") is None
    assert pseudonym_problem("calm-heron-4242") is None
    records.add_session(**{**_session_kwargs("amber-crane-0417"), "allow_name": True})
    sid = _add(records, pseudonym="amber-crane-0417")  # known: never checked again
    assert records.session(sid).trainee.pseudonym == "amber-crane-0417"


def test_new_pseudonyms_are_random_readable_and_unused(records):
    issued = {records.new_trainee() for _ in range(20)}
    assert len(issued) == 20
    for p in issued:
        adjective, animal, number = p.split("-")
        assert adjective.isalpha() and animal.isalpha() and len(number) == 4 and number.isdigit()
        assert check_pseudonym(p) == p and records.find_trainee(p) is not None


# ---- privacy: owner-only files ------------------------------------------------------------
def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_records_traces_and_reports_are_private(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    old = os.umask(0o022)  # the usual umask, which made everything 0644 / 0755 before
    try:
        records = Records()
        sid, _ = store_mini_session(records, "T042")
        report = write_session_report(records, sid)
        progress = write_trainee_report(records, "T042", csv_out=tmp_path / "out" / "t.csv")
        data = tmp_path / "xdg" / "surgisim"
        db = data / "records.sqlite"
        files = [db, Path(records.session(sid).trace_path), report, progress]
        files += [tmp_path / "out" / "t.csv"]
        with sqlite3.connect(db) as con:  # while a connection is open, WAL files exist
            con.execute("SELECT 1")
            files += [p for p in (Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]
            for f in files:
                assert _mode(f) == 0o600, (f, oct(_mode(f)))
        for d in (data, data / "traces", data / "reports", tmp_path / "out"):
            assert _mode(d) == 0o700, (d, oct(_mode(d)))
        assert report.parent == data / "reports" and Path(records.url[10:]) == db
    finally:
        os.umask(old)


def test_an_existing_loose_data_dir_is_tightened(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    data = tmp_path / "surgisim"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    (data / "records.sqlite").touch(mode=0o644)
    os.chmod(data / "records.sqlite", 0o644)
    Records()
    assert _mode(data) == 0o700 and _mode(data / "records.sqlite") == 0o600


def test_a_read_only_store_is_tightened_but_never_made_writable(monkeypatch, tmp_path):
    """``chmod a-w`` on a store (an exam's records kept as they were): a plain ``trainee
    list`` made it 0700/0600 again (the owner's write bit added with the others' bits
    taken away), and the next command wrote to it."""
    from scenarios.paths import private_dir, private_file

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    folder = tmp_path / "surgisim"
    folder.mkdir()
    db = folder / "records.sqlite"
    db.touch()
    os.chmod(db, 0o444)
    os.chmod(folder, 0o555)
    try:
        private_file(db)  # what opening the records does to its file and folder
        private_dir(folder)
        assert _mode(db) == 0o400 and _mode(folder) == 0o500
    finally:
        os.chmod(folder, 0o700)


# ---- the demo store ---------------------------------------------------------------------
def test_demonstrations_go_to_their_own_store(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    demo, real = Records.demo(), open_records()
    assert demo.store == "demo" and real.store == "records"
    assert demo.url.endswith("/surgisim/demo.sqlite") and real.url.endswith("/records.sqlite")
    assert demo.traces_dir == tmp_path / "surgisim" / "demo" / "traces"
    assert open_records(demo=True).url == demo.url
    assert open_records(f"sqlite:///{tmp_path / 'x.sqlite'}", demo=True).url.endswith("x.sqlite")
    _add(demo, pseudonym="demo")
    assert [t.pseudonym for t, _ in demo.trainees()] == ["demo"]
    assert real.trainees() == []


# ---- forgetting a trainee -----------------------------------------------------------------
def test_forget_removes_every_record_and_file(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    records = Records()
    ids = {}
    for who in ("T042", "T042", "T007"):
        sid, result = store_mini_session(records, who)
        ids.setdefault(who, []).append(sid)
    records.add_score(ids["T042"][0], result.as_dict(), {"edited": True})
    elsewhere = tmp_path / "elsewhere" / "mine.html"
    kept = [Path(r.trace_path) for r in records.sessions("T007")]
    files = [Path(r.trace_path) for r in records.sessions("T042")]
    files += [write_session_report(records, i) for i in ids["T042"]]
    files += [write_session_report(records, ids["T042"][0], elsewhere)]
    files += [write_trainee_report(records, "T042", csv_out=tmp_path / "t.csv"), tmp_path / "t.csv"]
    kept += [write_session_report(records, ids["T007"][0])]
    assert all(f.exists() for f in files + kept)

    gone = records.forget("T042")
    assert (gone.sessions, gone.scores) == (2, 3) and not gone.failed and not gone.missing
    assert {Path(f).resolve() for f in gone.files} == {f.resolve() for f in files}
    assert not any(f.exists() for f in files) and all(f.exists() for f in kept)
    assert records.find_trainee("T042") is None and records.sessions("T042") == []
    assert [t.pseudonym for t, _ in records.trainees()] == ["T007"]
    with sqlite3.connect(tmp_path / "surgisim" / "records.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 1
        assert con.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 1
    raw = (tmp_path / "surgisim" / "records.sqlite").read_bytes()
    assert b"T042" not in raw  # not lingering in a free page either
    with pytest.raises(ScenarioError, match="no trainee 'T042'"):
        records.forget("T042")


# ---- damaged databases are errors, not tracebacks -----------------------------------------
def test_damaged_databases_raise_scenario_errors(tmp_path):
    good = tmp_path / "good.sqlite"
    _add(Records(f"sqlite:///{good}"))
    data = good.read_bytes()
    (tmp_path / "random.sqlite").write_bytes(bytes(range(256)) * 32)
    (tmp_path / "truncated.sqlite").write_bytes(data[: len(data) // 2])
    (tmp_path / "dir.sqlite").mkdir()
    for name, match in (
        ("random", "not a SQLite database"),
        ("truncated", "truncated"),
        ("dir", "is a directory"),
    ):
        with pytest.raises(ScenarioError, match=match):
            Records(f"sqlite:///{tmp_path / name}.sqlite").trainees()
    assert (tmp_path / "truncated.sqlite").read_bytes() == data[: len(data) // 2]  # untouched
    read_only = Records(f"sqlite:///file:{good}?mode=ro&uri=true")
    assert [t.pseudonym for t, _ in read_only.trainees()] == ["T001"]
    with pytest.raises(ScenarioError, match="read-only"):
        read_only.add_score(1, {"rule": "mscore", "score": 1.0, "passed": False}, {})
    with pytest.raises(ScenarioError, match=r"surgisim\[postgres\]") as info:
        Records("postgresql://user:secret@localhost/records")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("detail", ["database or disk is full", "disk I/O error"])
def test_a_full_disk_is_named_as_such_not_as_a_path_given_for_a_url(tmp_path, detail):
    """Issue: on a full disk the message told a user who gave a sqlite:/// URL that --db
    "takes a database URL, not a path"."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    error = Records(url)._error(sqlite3.OperationalError(detail), "write to")
    assert "disk is full or failing" in str(error) and "not a path" not in str(error)
    assert str(tmp_path) in str(error)


def test_a_new_pseudonym_differing_only_in_case_from_a_trainee_is_refused(records):
    """Issue: ``--trainee t730`` beside ``T730`` made a second trainee, splitting one
    person's attempts and proficiency in two."""
    records.trainee("T730")
    with pytest.raises(ScenarioError, match="'T730' is in"):
        records.check_pseudonym("t730")
    assert records.check_pseudonym("T730") == "T730"
    assert records.check_pseudonym("T731") == "T731"  # a new one of its own is fine
    assert [t.pseudonym for t, _ in records.trainees()] == ["T730"]


def test_a_pseudonym_one_typo_from_an_issued_one_is_refused(records):
    """A swapped digit (grand-gibbon-7286 for grand-gibbon-7268) silently made a second
    trainee and split the first one's attempts and proficiency in two."""
    issued = records.new_trainee()
    words, digits = issued.rsplit("-", 1)
    swapped = f"{words}-{digits[0]}{digits[1]}{digits[3]}{digits[2]}"
    typos = [f"{words}-{digits[:3]}{(int(digits[3]) + 1) % 10}", issued[:-1], issued + "7"]
    if swapped != issued:
        typos.append(swapped)
    for typo in typos:
        with pytest.raises(ScenarioError) as info:
            records.check_pseudonym(typo)
        assert f"but {issued!r} is: a typo?" in str(info.value)
        assert f"surgisim trainee new --pseudonym {typo}" in str(info.value)
    assert records.check_pseudonym(issued) == issued  # the trainee itself
    # registered on purpose, the neighbour is a trainee of its own
    assert records.register_trainee(typos[0]) == typos[0]
    assert records.check_pseudonym(typos[0]) == typos[0]
    with pytest.raises(ScenarioError, match="already in"):
        records.register_trainee(typos[0])
    # an institution's codes are neighbours on purpose: never taken for typos
    records.trainee("T017")
    assert records.check_pseudonym("T018") == "T018"


def test_registering_a_code_checks_it_by_the_rule(records):
    assert records.register_trainee("T017") == "T017"
    assert records.find_trainee("T017") is not None and records.sessions("T017") == []
    with pytest.raises(ScenarioError, match="--allow-name"):
        records.register_trainee("jsmith")
    assert records.register_trainee("jsmith", allow_name=True) == "jsmith"


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_session_is_refused_once_the_database_file_is_not_the_one_opened(tmp_path, how):
    """The data directory deleted (or swapped) while a run was live: the session row went
    into the unlinked file through the open connection, the run said "stored as session
    1", and nothing was kept. Writing is refused, so that the run keeps the session."""
    path = tmp_path / "records.sqlite"
    records = Records(f"sqlite:///{path}")
    _add(records)  # the connection is open, as a run's is when its session ends
    for side in ("", "-wal", "-shm"):
        Path(f"{path}{side}").unlink(missing_ok=True)
    if how == "replaced":
        Records(f"sqlite:///{path}")  # an empty database in its place
    with pytest.raises(ScenarioError, match="since this command opened it") as raised:
        _add(records)
    assert ("is gone" if how == "deleted" else "was replaced") in str(raised.value)
    assert path.exists() == (how == "replaced")
    if how == "replaced":
        assert Records(f"sqlite:///{path}").trainees() == []  # nothing written to either


def _path_of_length(root: Path, length: int) -> Path:
    """A ``records.sqlite`` whose full path is ``length`` bytes long, its folders made."""
    folder = str(root.resolve())
    while len(folder) + 1 + 100 + len("/records.sqlite") < length:
        folder += "/" + "b" * 100
    folder += "/" + "c" * (length - len(folder) - 1 - len("/records.sqlite"))
    Path(folder).mkdir(parents=True)
    path = Path(folder) / "records.sqlite"
    assert len(os.fsencode(str(path))) == length
    return path


def test_a_database_path_too_long_for_sqlite_is_refused_up_front(tmp_path):
    """Over SQLite's limit the message was "check that its folder exists and is
    writable" (it was) and an empty records.sqlite was left; at the limit it opens."""
    from scenarios.records import SQLITE_PATH_LIMIT_BYTES

    fits = _path_of_length(tmp_path / "fits", SQLITE_PATH_LIMIT_BYTES)
    Records(f"sqlite:///{fits}").register_trainee("T001")
    too_long = _path_of_length(tmp_path / "long", SQLITE_PATH_LIMIT_BYTES + 1)
    with pytest.raises(ScenarioError, match=f"SQLite opens none over {SQLITE_PATH_LIMIT_BYTES}"):
        Records(f"sqlite:///{too_long}")
    assert not too_long.exists()
