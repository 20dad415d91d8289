"""``sim.cli.guard``: SIGTERM and SIGHUP stop a command as Ctrl-C does (real signals, sent
to this process)."""

from __future__ import annotations

import os
import signal

import pytest
import typer

from sim.cli.guard import Terminated, guard, interruptible, uninterrupted


def test_sigterm_asks_an_interruptible_run_to_stop_and_says_which_signal():
    with interruptible("stopping") as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop() and stop.signum == signal.SIGTERM
        assert stop.exit_code == 143
        with pytest.raises(Terminated):  # a second one gives up, as a second Ctrl-C does
            os.kill(os.getpid(), signal.SIGTERM)


def test_ctrl_c_still_exits_130():
    with interruptible("stopping") as stop:
        os.kill(os.getpid(), signal.SIGINT)
    assert stop() and stop.exit_code == 130


def test_sighup_asks_to_stop_too():
    with interruptible("stopping") as stop:
        os.kill(os.getpid(), signal.SIGHUP)
    assert stop() and stop.exit_code == 129


def test_sigterm_waits_while_the_session_is_stored():
    written = []
    with pytest.raises(Terminated) as caught, uninterrupted():
        os.kill(os.getpid(), signal.SIGTERM)
        written.append(True)  # not cut short
    assert written and caught.value.signum == signal.SIGTERM


def test_sigterm_outside_a_session_unwinds_with_exit_143():
    closed = []
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(typer.Exit) as caught, guard(debug=False):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            closed.append(True)
    assert caught.value.exit_code == 143 and closed
    assert signal.getsignal(signal.SIGTERM) == previous  # restored


def test_a_parent_whose_child_says_it_stops_quietly(capsys):
    """``vr --monado`` / ``practice --vr --monado``: the parent passes the stop on to the
    client in the root, which says "stopping the headset session" itself; the trainee
    read the line twice."""
    with interruptible(None) as stop:
        os.kill(os.getpid(), signal.SIGINT)
    assert stop() and stop.exit_code == 130
    assert capsys.readouterr().err == ""
    with interruptible("stopping the session") as stop:
        os.kill(os.getpid(), signal.SIGINT)
    assert "stopping the session" in capsys.readouterr().err


def _swallowed(signum: int) -> None:
    """Send ``signum`` to this process inside ``except BaseException`` (what trimesh's
    optional imports do while a command imports it), so the exception is lost."""
    import os
    import time

    try:
        os.kill(os.getpid(), signum)
        time.sleep(0.5)  # the handler runs here
    except BaseException:
        pass
    else:
        raise AssertionError("the stop signal's handler did not raise")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_a_library_swallowed_still_stops_the_command_before_its_session(signum, code):
    """A SIGTERM (or Ctrl-C) during ``surgisim run``'s imports was swallowed by trimesh,
    and the run went on to store a normal session with exit code 0. The stop is now
    honoured when the session would start: nothing runs, the command exits 128 + n."""
    from sim.cli.guard import guard, interruptible

    started = []
    with pytest.raises(typer.Exit) as exit_info, guard(False):
        _swallowed(signum)
        with interruptible("stopping"):
            started.append(True)
    assert exit_info.value.exit_code == code and not started


def test_a_stop_a_library_swallowed_ends_a_command_without_a_session_with_its_code():
    from sim.cli.guard import guard

    with pytest.raises(typer.Exit) as exit_info, guard(False):
        _swallowed(signal.SIGTERM)
    assert exit_info.value.exit_code == 143
    with guard(False):  # and the next command is not stopped by it
        pass


def test_the_stop_message_names_the_signal_that_asked(capsys):
    """SIGTERM's first stop said "(Ctrl-C again to abandon it)" to a supervisor."""
    with interruptible("stopping (Ctrl-C again to abandon it)") as stop:
        os.kill(os.getpid(), signal.SIGTERM)
    assert stop()
    said = capsys.readouterr().err
    assert "SIGTERM again to abandon it" in said and "Ctrl-C" not in said


def test_a_hold_around_the_whole_ending_keeps_the_inner_hold_from_cutting_it_short(capsys):
    """The store's own hold used to raise the stop as soon as the session was written,
    so the score, "stored as session N" and --json after it were never reached. Nested
    in a hold around the whole ending, the inner one holds nothing of its own; the outer
    one says why once and raises at its end."""
    reached = []
    with pytest.raises(Terminated), uninterrupted("finishing first"):
        with uninterrupted():  # the database write
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
        reached.append("score shown")
    assert reached == ["score shown"]
    assert capsys.readouterr().err.count("finishing first") == 1


def test_a_failure_inside_a_hold_is_said_rather_than_the_held_stop():
    """A failure while finishing (the database is full) says more than "terminated"."""
    with pytest.raises(OSError, match="full"), uninterrupted("finishing first"):
        os.kill(os.getpid(), signal.SIGTERM)
        raise OSError("full")


def test_an_error_naming_a_colon_word_is_not_turned_into_an_emoji(capsys):
    """``--tremor-filter my_plugins:fire`` printed "my_plugins🔥 module ...": Rich's emoji
    codes are off in every console of the commands."""
    with pytest.raises(typer.Exit), guard(False):
        from sim.errors import SimError

        raise SimError("--tremor-filter my_plugins:fire: module has no factory 'fire'")
    assert "my_plugins:fire: module" in capsys.readouterr().err


def test_a_stop_during_an_import_waits_until_the_import_is_done(tmp_path, monkeypatch):
    """Ctrl-C in ``surgisim run``'s first seconds landed inside an import: scipy's
    pybind11 extension failed ("ImportError: initialization failed", then the interpreter
    aborted at exit, code 134), or trimesh kept a placeholder for a module it could not
    import ("TypeError: ... 'ExceptionWrapper' and 'NoneType'"). A stop during an import
    is now delivered again once the import is done: the module is whole, and the command
    still ends as Ctrl-C ends it."""
    import importlib
    import time

    done = tmp_path / "done"
    (tmp_path / "interrupted_while_imported.py").write_text(
        "import os, signal\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "for _ in range(100_000):  # the handler runs here, inside the import\n"
        "    pass\n"
        f"open({str(done)!r}, 'w').close()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    after_import = []
    with pytest.raises(typer.Exit) as exit_info, guard(False):
        importlib.import_module("interrupted_while_imported")
        after_import.append(done.exists())
        deadline = time.monotonic() + 60.0  # delivered again within IMPORT_RETRY_S
        while time.monotonic() < deadline:
            time.sleep(0.01)
    assert after_import == [True] and exit_info.value.exit_code == 130


def test_a_signal_the_process_was_told_to_ignore_stays_ignored():
    """``nohup`` starts a command with SIGHUP ignored, a shell's background job (``&``)
    with SIGINT ignored; the guard caught them anyway, so a ``nohup surgisim run`` stopped
    when its terminal closed."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup leaves it
    try:
        with interruptible("stopping") as stop:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # still caught
            os.kill(os.getpid(), signal.SIGHUP)
        assert not stop()
        with pytest.raises(typer.Exit) as caught, guard(debug=False):
            os.kill(os.getpid(), signal.SIGHUP)  # ignored: the command goes on
            os.kill(os.getpid(), signal.SIGTERM)
        assert caught.value.exit_code == 143
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN  # left as it was
    finally:
        signal.signal(signal.SIGHUP, previous)


def _said(capsys, exc: BaseException) -> str:
    """What :func:`guard` prints for ``exc`` raised inside it (exit code 2)."""
    with pytest.raises(typer.Exit) as caught, guard(debug=False):
        raise exc
    assert caught.value.exit_code == 2
    return " ".join(capsys.readouterr().err.split())


def test_out_of_memory_is_said_with_the_memory_limit_not_as_a_bug(capsys, monkeypatch):
    """A memory limit (ulimit -v) gave "unexpected MemoryError: . Rerun with --debug ...
    please report it"."""
    import errno
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda which: (700 * 2**20, 700 * 2**20))
    for exc in (
        MemoryError(),
        ImportError("libfreetype.so.6: failed to map segment from shared object"),
        OSError(errno.ENOMEM, "Cannot allocate memory"),
    ):
        said = _said(capsys, exc)
        assert said.startswith("error: out of memory") and "700 MB" in said, said
        assert "ulimit -v" in said and "report" not in said and "--debug" not in said


def test_a_full_disk_names_the_file_and_the_fix_not_a_bug(capsys):
    import errno

    said = _said(capsys, OSError(errno.ENOSPC, "No space left on device", "/m/res.csv"))
    assert "No space left on device (/m/res.csv): the disk is full" in said, said
    assert "unexpected" not in said and "report" not in said
    # an OSError that is not the machine's is still ours to hear about
    said = _said(capsys, FileNotFoundError(errno.ENOENT, "No such file", "x"))
    assert "unexpected FileNotFoundError" in said and "please report it" in said


def test_every_command_that_runs_in_the_guard_has_its_debug_option():
    """The guard's "Rerun with --debug" was said by `sweep`, which had no --debug."""
    import inspect

    import click

    from sim.cli import app

    def commands(group, ctx, prefix=()):
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            if hasattr(sub, "list_commands"):
                yield from commands(sub, click.Context(sub, parent=ctx), (*prefix, name))
            else:
                yield " ".join((*prefix, name)), sub

    top = typer.main.get_command(app)
    guarded = []
    for name, command in commands(top, click.Context(top)):
        if "guard(" not in inspect.getsource(command.callback):
            continue
        guarded.append(name)
        assert "--debug" in [o for p in command.params for o in getattr(p, "opts", [])], name
    assert "sweep" in guarded and "run" in guarded
