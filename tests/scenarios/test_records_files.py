"""Each database keeps its traces and reports apart: two databases' ``session-1.html``
used to be one file (the second overwrote the first) and ``trainee forget`` in one
database deleted the other's report."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.archive import write_session_report
from scenarios.paths import data_dir
from scenarios.records import Records, files_dir_of

from .stored import store_mini_session


def test_two_databases_never_share_a_report_and_forget_keeps_the_others(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    names = tmp_path / "x" / "names.sqlite"
    custom, default = Records(f"sqlite:///{names}"), Records()
    sid_custom, _ = store_mini_session(custom, "ms-017")
    sid_default, _ = store_mini_session(default, "T007")
    assert sid_custom == sid_default == 1
    mine, theirs = write_session_report(custom, 1), write_session_report(default, 1)
    assert mine != theirs and mine.exists() and theirs.exists()
    assert mine.parent == tmp_path / "x" / "names.sqlite-files" / "reports"
    assert theirs.parent == tmp_path / "data" / "surgisim" / "reports"  # as before
    trace = Path(custom.session(1).trace_path)
    assert trace.parent == tmp_path / "x" / "names.sqlite-files" / "traces"
    assert "T007" in theirs.read_text() and "ms-017" in mine.read_text()

    gone = custom.forget("ms-017")
    assert set(gone.files) == {str(trace), str(mine.resolve())}
    assert not mine.exists() and theirs.exists() and "T007" in theirs.read_text()


def test_forget_deletes_registered_files_only(monkeypatch, tmp_path):
    """A report at a default-looking name that this database never registered (another
    database wrote it there, as before this fix) is not this trainee's to delete; one it
    registered where it was (the shared reports/ of older versions) still goes."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    records = Records()
    store_mini_session(records, "T042")
    shared = records.reports_dir
    shared.mkdir(parents=True)
    someone_elses = shared / "session-1.html"
    someone_elses.write_text("another database's session 1")
    legacy = shared / "trainee-T042.html"
    legacy.write_text("T042's progress")
    records.register_file(legacy, pseudonym="T042")

    gone = records.forget("T042")
    assert someone_elses.exists() and not legacy.exists()
    assert str(legacy.resolve()) in gone.files and str(someone_elses) not in gone.files


def test_where_each_kind_of_database_keeps_its_files(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    root = data_dir()
    assert files_dir_of("", root / "records.sqlite") == root
    assert files_dir_of("", root / "demo.sqlite") == root / "demo"
    assert files_dir_of("", tmp_path / "a" / "n.db") == tmp_path / "a" / "n.db-files"
    pg = files_dir_of("postgresql://ann:secret@db.lab/surgisim", None)
    assert pg.parent == root / "databases" and "secret" not in str(pg)
    # the password is not part of the key: changing it keeps the folder
    assert files_dir_of("postgresql://ann:other@db.lab/surgisim", None) == pg
    assert files_dir_of("postgresql://ann:secret@db.lab/other", None) != pg


def test_a_database_others_can_read_is_warned_about_once(tmp_path, capsys):
    """``chmod 644 names.sqlite`` was used silently (a secret key file in that state is
    refused); a file outside the data directory is the user's, so it is not changed."""
    names = tmp_path / "names.sqlite"
    Records(f"sqlite:///{names}")
    assert capsys.readouterr().err == ""  # created 0600: nothing to say
    names.chmod(0o644)
    Records(f"sqlite:///{names}")
    Records(f"sqlite:///{names}")
    err = capsys.readouterr().err
    assert err.count("warning: records database") == 1 and "0644" in err
    assert "chmod 600" in err
    assert names.stat().st_mode & 0o777 == 0o644


def test_forget_leaves_a_file_that_another_trainee_overwrote(tmp_path):
    """Two trainees' runs writing ``--json result.json`` in turn: the file is the second
    one's; forgetting the first must not delete it (it did)."""
    records = Records(f"sqlite:///{tmp_path / 'r.sqlite'}")
    result = tmp_path / "result.json"
    first, _ = store_mini_session(records, "T601")
    result.write_text("T601's result")
    records.register_file(result, pseudonym="T601", session_id=first, kind="json")
    second, _ = store_mini_session(records, "T602")
    result.write_text("T602's result")
    records.register_file(result, pseudonym="T602", session_id=second, kind="json")
    gone = records.forget("T601")
    assert result.exists() and str(result.resolve()) not in gone.files
    gone = records.forget("T602")
    assert not result.exists() and str(result.resolve()) in gone.files


def test_a_file_shared_by_several_trainees_goes_with_any_of_them(tmp_path):
    records = Records(f"sqlite:///{tmp_path / 'r.sqlite'}")
    for name in ("T701", "T702", "T703"):
        store_mini_session(records, name)
    page = tmp_path / "class.html"
    page.write_text("T701 T702 T703")
    records.register_file(page, pseudonym=["T701", "T702", "T703"], kind="class")
    page.write_text("T702 T703")  # written again without T701: T701 no longer owns it
    records.register_file(page, pseudonym=["T702", "T703"], kind="class")
    assert page.exists() and str(page.resolve()) not in records.forget("T701").files
    assert page.exists()
    assert str(page.resolve()) in records.forget("T703").files and not page.exists()


def test_a_forgotten_sessions_number_is_never_given_again(tmp_path):
    """SQLite gives the highest deleted rowid again: after forgetting the trainee of the
    latest session, the next session took its number, and "session 2" in a gradebook
    came to mean another trainee's attempt."""
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    records = Records(url)
    assert store_mini_session(records, "T801")[0] == 1
    assert store_mini_session(records, "T802")[0] == 2
    assert store_mini_session(records, "T802")[0] == 3
    records.forget("T802")
    assert store_mini_session(records, "T801")[0] == 4
    assert store_mini_session(Records(url), "T803")[0] == 5  # the number kept on disk
    records.forget("T801")
    records.forget("T803")
    assert store_mini_session(Records(url), "T804")[0] == 6


def test_forget_leaves_a_run_output_that_a_later_unregistered_run_replaced(tmp_path):
    """A trainee's ``--json`` (and ``--record``) is replaced by a later run that stores
    nowhere this database knows (``--no-store``, another database): forget deleted the
    new file by its path. What was registered written is kept (size, time) and only that
    file is deleted; one registered before it was written (the trainee's run was killed)
    goes only if no newer than its session; another is left, and said."""
    import os
    import time

    from scenarios.records import EXPECTED

    records = Records(f"sqlite:///{tmp_path / 'r.sqlite'}")
    sid, _ = store_mini_session(records, "T6606")
    result, recording = tmp_path / "k30.json", tmp_path / "k30.mcap"
    result.write_text('{"session_id": 1}')
    records.register_file(result, pseudonym="T6606", session_id=sid, kind="json", written=True)
    records.register_file(recording, pseudonym="T6606", session_id=sid, kind=EXPECTED + "recording")
    result.write_text('{"session_id": null, "by": "a later run"}')  # --overwrite, --no-store
    recording.write_bytes(b"a later run's recording")
    later = time.time() + 3600  # an hour after the killed run's session
    os.utime(recording, (later, later))
    gone = records.forget("T6606")
    assert result.exists() and recording.exists(), gone
    assert not {str(result.resolve()), str(recording.resolve())} & set(gone.files)
    said = " ".join(gone.changed)
    assert f"{result.resolve()} (changed since it was registered" in said
    assert f"{recording.resolve()} (written after the session ended" in said


def test_forget_still_deletes_a_run_output_that_did_not_change(tmp_path):
    from scenarios.records import EXPECTED

    records = Records(f"sqlite:///{tmp_path / 'r.sqlite'}")
    sid, _ = store_mini_session(records, "T6607")
    result, partial = tmp_path / "r.json", tmp_path / "r.mcap.partial"
    result.write_text("{}")
    partial.write_bytes(b"")  # the killed run's, registered before written
    records.register_file(result, pseudonym="T6607", session_id=sid, kind="json", written=True)
    records.register_file(partial, pseudonym="T6607", session_id=sid, kind=EXPECTED + "partial")
    gone = records.forget("T6607")
    assert not result.exists() and not partial.exists() and not gone.changed


def test_forget_deletes_a_report_rewritten_long_after_its_session(tmp_path):
    """``surgisim report N`` a day after the session rewrites the trainee's own
    ``session-N.html``: forget left it, "written after the session ended, by another run"
    (the rule for a killed run's outputs, applied to every unstamped registration, the
    old builds' rows included)."""
    import os
    import time

    records = Records(f"sqlite:///{tmp_path / 'r.sqlite'}")
    sid, _ = store_mini_session(records, "T305")
    report = write_session_report(records, sid)
    later = time.time() + 86400  # a day after the session
    os.utime(report, (later, later))
    gone = records.forget("T305")
    assert not report.exists() and str(report.resolve()) in gone.files
    assert not gone.changed


def _meta(path) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(path) as con:
        return dict(con.execute("SELECT key, value FROM surgisim_meta").fetchall())


def test_records_are_marked_with_their_format_and_an_unmarked_store_is_marked(tmp_path):
    """The store had no version mark: neither this surgisim nor a later one could tell a
    store written by a newer one. An unmarked store (an older surgisim's, tables up to
    date or not) is marked on opening; one opened read-only is read as it is."""
    import sqlite3

    from scenarios.records import STORE_VERSION, STORE_VERSION_KEY

    path = tmp_path / "r.sqlite"
    store_mini_session(Records(f"sqlite:///{path}"), "T901")
    assert _meta(path)[STORE_VERSION_KEY] == STORE_VERSION
    with sqlite3.connect(path) as con:  # as the surgisim before the mark left it
        con.execute("DELETE FROM surgisim_meta WHERE key = ?", (STORE_VERSION_KEY,))
    read_only = Records(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert [t.pseudonym for t, _ in read_only.trainees()] == ["T901"]
    assert STORE_VERSION_KEY not in _meta(path)
    Records(f"sqlite:///{path}")
    assert _meta(path)[STORE_VERSION_KEY] == STORE_VERSION
    with sqlite3.connect(path) as con:  # as an older surgisim made it: no table, no column
        con.execute("DROP TABLE surgisim_meta")
        con.execute("DROP INDEX ix_sessions_session_uid")
        con.execute("ALTER TABLE sessions DROP COLUMN session_uid")
    assert Records(f"sqlite:///{path}").sessions()[0].trainee.pseudonym == "T901"
    assert _meta(path)[STORE_VERSION_KEY] == STORE_VERSION


def test_records_marked_by_a_newer_surgisim_are_refused(tmp_path):
    import sqlite3

    import pytest

    from scenarios.errors import ScenarioError
    from scenarios.records import STORE_VERSION, STORE_VERSION_KEY

    path = tmp_path / "r.sqlite"
    store_mini_session(Records(f"sqlite:///{path}"), "T902")
    with sqlite3.connect(path) as con:
        con.execute(
            "UPDATE surgisim_meta SET value = ? WHERE key = ?",
            (STORE_VERSION + 1, STORE_VERSION_KEY),
        )
    for url in (f"sqlite:///{path}", f"sqlite:///file:{path}?mode=ro&uri=true"):
        with pytest.raises(ScenarioError) as refused:
            Records(url)
        said = str(refused.value)
        assert "written by a newer surgisim" in said and "upgrade surgisim" in said
        assert f"records format {STORE_VERSION + 1}" in said and str(path) in said
    assert _meta(path)[STORE_VERSION_KEY] == STORE_VERSION + 1  # untouched


@pytest.mark.parametrize("mark", ["abc", "0x2", "1.5"])
def test_a_format_mark_that_is_no_whole_number_is_refused_not_an_internal_error(tmp_path, mark):
    """A hand-edited mark (``abc``) gave "unexpected TypeError ... please report it"."""
    import sqlite3

    from scenarios.errors import ScenarioError
    from scenarios.records import STORE_VERSION_KEY

    path = tmp_path / "r.sqlite"
    store_mini_session(Records(f"sqlite:///{path}"), "T903")
    with sqlite3.connect(path) as con:
        con.execute("UPDATE surgisim_meta SET value = ? WHERE key = ?", (mark, STORE_VERSION_KEY))
    with pytest.raises(ScenarioError, match="written by a newer surgisim"):
        Records(f"sqlite:///{path}")


def test_a_session_number_freed_by_an_older_surgisims_forget_is_not_given_again(tmp_path):
    """An older surgisim's forget knows no floor: it deleted the latest session (stored by
    this one) and the next session here took its number. The floor is kept at every
    insert now."""
    import sqlite3

    path = tmp_path / "r.sqlite"
    records = Records(f"sqlite:///{path}")
    store_mini_session(records, "T903")
    assert store_mini_session(records, "T904")[0] == 2
    with sqlite3.connect(path) as con:  # the older surgisim forgets T904
        con.execute("DELETE FROM scores WHERE session_id = 2")
        con.execute("DELETE FROM files WHERE session_id = 2")
        con.execute("DELETE FROM sessions WHERE id = 2")
    assert store_mini_session(Records(f"sqlite:///{path}"), "T903")[0] == 3


def _raw_paths(path) -> list[str]:
    """The path columns as the database holds them (no conversion)."""
    import sqlite3

    with sqlite3.connect(path) as con:
        return [r[0] for r in con.execute("SELECT trace_path FROM sessions")] + [
            r[0] for r in con.execute("SELECT path FROM files")
        ]


def test_a_copied_store_names_its_own_files_and_forget_in_it_leaves_the_original(tmp_path):
    """Paths were stored absolute: ``trainee forget`` in a copy of a store deleted the
    original's trace and report (and left the copy's), and the copy re-scored from the
    original's trace. Paths inside the files folder are stored relative to it now."""
    import shutil

    original = tmp_path / "lab" / "r.sqlite"
    records = Records(f"sqlite:///{original}")
    store_mini_session(records, "T911")
    report = write_session_report(records, 1)
    outside = tmp_path / "result.json"  # a run output the user put elsewhere: absolute
    outside.write_text("{}")
    records.register_file(outside, pseudonym="T911", kind="json")
    raw = _raw_paths(original)
    assert raw[:2] == ["traces/" + Path(raw[0]).name, "reports/session-1.html"]
    assert raw[2] == str(outside.resolve())

    shutil.copytree(tmp_path / "lab", tmp_path / "copy")
    copy = Records(f"sqlite:///{tmp_path / 'copy' / 'r.sqlite'}")
    copy_trace = Path(copy.session(1).trace_path)
    assert copy_trace.is_relative_to(tmp_path / "copy" / "r.sqlite-files") and copy_trace.exists()
    gone = copy.forget("T911")
    assert str(copy_trace) in gone.files and not copy_trace.exists()
    original_trace = Path(records.session(1).trace_path)
    assert original_trace.exists() and report.exists()  # the original's are untouched
    assert original_trace.is_relative_to(tmp_path / "lab")


def test_a_moved_store_finds_its_traces(tmp_path):
    """A store moved (``mv``) named files that were gone: rescore said "no trace"."""
    from scenarios.archive import rescore

    (tmp_path / "old").mkdir()
    records = Records(f"sqlite:///{tmp_path / 'old' / 'r.sqlite'}")
    store_mini_session(records, "T912")
    (tmp_path / "old").rename(tmp_path / "new")
    moved = Records(f"sqlite:///{tmp_path / 'new' / 'r.sqlite'}")
    assert Path(moved.session(1).trace_path).exists()
    assert rescore(moved, 1) is not None


def test_an_older_surgisims_absolute_paths_are_made_relative_on_opening(tmp_path):
    """Format 1 stored absolute paths: opening the store (for writing) rewrites those
    inside its files folder relative to it, and marks format 2; read-only, it is read as
    it is."""
    import sqlite3

    from scenarios.records import STORE_VERSION_KEY

    path = tmp_path / "r.sqlite"
    records = Records(f"sqlite:///{path}")
    store_mini_session(records, "T913")
    files = (tmp_path / "r.sqlite-files").resolve()
    elsewhere = tmp_path / "out.json"
    elsewhere.write_text("{}")
    records.register_file(elsewhere, pseudonym="T913", kind="json")
    with sqlite3.connect(path) as con:  # as surgisim's format 1 left it
        con.execute("UPDATE sessions SET trace_path = ? || '/' || trace_path", (str(files),))
        con.execute(
            "UPDATE files SET path = ? || '/' || path WHERE path NOT LIKE '/%'", (str(files),)
        )
        con.execute("UPDATE surgisim_meta SET value = 1 WHERE key = ?", (STORE_VERSION_KEY,))
    absolute = _raw_paths(path)
    assert all(p.startswith("/") for p in absolute)
    read_only = Records(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert Path(read_only.session(1).trace_path).exists()
    assert _raw_paths(path) == absolute
    assert Path(Records(f"sqlite:///{path}").session(1).trace_path).exists()
    assert _raw_paths(path) == [
        str(Path(p).relative_to(files)) if p.startswith(str(files)) else p for p in absolute
    ]
    assert _raw_paths(path)[-1] == str(elsewhere.resolve())
    assert _meta(path)[STORE_VERSION_KEY] == 2


def test_a_store_reached_through_a_symlink_stores_its_trace_relative(tmp_path):
    """The trace's path was stored as given (unresolved) and compared with the resolved
    files folder: through a linked data directory it stayed absolute, and ``trainee
    forget`` in a copy deleted the original's trace."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    records = Records(f"sqlite:///{tmp_path / 'link' / 'r.sqlite'}")
    store_mini_session(records, "T914", trace_dir=tmp_path / "link" / "r.sqlite-files" / "t")
    assert _raw_paths(tmp_path / "real" / "r.sqlite")[0].startswith("t/")


def test_the_files_folder_is_the_stores_whoever_opens_it(tmp_path, monkeypatch):
    """A server stored into its default ``records.sqlite`` (files beside it in the data
    directory); a script that opened that file by its path, with another data directory,
    took ``records.sqlite-files/`` for its folder and could not find the traces. The
    folder is recorded in the store when it is first opened."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    default = Records()
    store_mini_session(default, "T915")
    trace = Path(default.session(1).trace_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "elsewhere"))
    by_path = Records(f"sqlite:///{tmp_path / 'data' / 'surgisim' / 'records.sqlite'}")
    assert by_path.files_dir == default.files_dir
    assert Path(by_path.session(1).trace_path) == trace and trace.exists()
