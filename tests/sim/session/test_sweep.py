"""Sweeps: seeds, resuming from the journal, the summary, and Ray against the same runs in
series (a real local Ray cluster). Failed runs, fingerprints and up-front checks are in
test_sweep_failures.py."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import SimError
from sim.session import provenance, ray_cluster
from sim.session import sweep as sw

TRACKER = "controller:sim.session.controllers:tracker"


def test_seed_ranges_and_lists():
    assert sw.parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    with pytest.raises(SimError, match="0-99"):
        sw.parse_seeds("a-b")
    with pytest.raises(SimError, match="ends before"):
        sw.parse_seeds("5-2")


def test_a_sweep_resumes_from_its_journal_and_summarises(tmp_path):
    out = tmp_path / "results.csv"
    todo = sw.jobs(["needle-handover"], [TRACKER], [0, 1])
    first = {**sw.attempt(todo[0]), **provenance.fingerprints(todo)[todo[0].key]}
    sw.journal_path(out).write_text(json.dumps(first) + "\n" + '{"key": "cut sh')  # interrupted
    ran = []
    rows = sw.run_sweep(todo, out, use_ray=False, on_result=lambda row, d, n: ran.append(row))
    assert [r["seed"] for r in ran] == [1]  # seed 0 was in the journal
    assert [r["seed"] for r in rows] == [0, 1]
    header = out.read_text().splitlines()[0].split(",")
    assert {"scenario", "driver", "seed", "score", "metric.path_length_cm"} <= set(header)
    stats = {s["metric"]: s for s in sw.summary(rows)}
    assert stats["score"]["n"] == 2 and stats["path_length_cm"]["mean"] > 0


def test_a_second_sweep_to_the_same_results_is_refused_while_the_first_runs(tmp_path):
    """Two sweeps with one ``--out`` both ran every job and journaled each twice: the
    one that comes second (here: while the first is about to run its jobs) is refused
    before it runs any, and the first goes on."""
    out = tmp_path / "results.csv"
    todo = sw.jobs(["needle-handover"], [TRACKER], [0])
    refused, ran_second = [], []

    def second_sweep(resume: sw.Resume) -> None:
        with pytest.raises(SimError, match="another sweep is writing to") as error:
            sw.run_sweep(todo, out, use_ray=False, on_result=lambda *_: ran_second.append(1))
        refused.append(str(error.value))

    rows = sw.run_sweep(todo, out, use_ray=False, on_start=second_sweep)
    assert refused and "give another --out" in refused[0] and not ran_second
    assert len(rows) == 1 and len(sw.read_journal(sw.journal_path(out))) == 1
    # held only while it runs: the same sweep again resumes from the journal
    assert sw.run_sweep(todo, out, use_ray=False)[0]["seed"] == 0


def test_without_ray_installed_the_error_names_the_extra(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("no ray")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(SimError, match=r"surgisim\[ray\]"):
        ray_cluster.import_ray()


@pytest.mark.slow
def test_a_ray_sweep_gives_the_results_of_the_same_runs_in_series(tmp_path):
    """Two drivers x two seeds on a local two-worker cluster, against the same four runs
    one after another in this process: every score and metric equal."""
    pytest.importorskip("ray")
    todo = sw.jobs(
        ["needle-handover"], [TRACKER, "controller:sim.session.controllers:scripted"], [0, 1]
    )
    result = CliRunner().invoke(
        app,
        [
            "sweep",
            "needle-handover",
            "--operators",
            "",
            "--controller",
            "sim.session.controllers:tracker",
            "--controller",
            "sim.session.controllers:scripted",
            "--seeds",
            "0-1",
            "--workers",
            "2",
            "--out",
            str(tmp_path / "ray.parquet"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "mean ± SD" in result.output
    on_ray = sw.read_journal(sw.journal_path(tmp_path / "ray.parquet"))
    in_series = sw.run_sweep(todo, tmp_path / "series.csv", use_ray=False)
    by_key = {r["key"]: r for r in on_ray}
    assert set(by_key) == {job.key for job in todo}
    skip = {"wall_time_s"}
    for row in in_series:
        other = by_key[row["key"]]
        assert {k: v for k, v in row.items() if k not in skip} == {
            k: v for k, v in other.items() if k not in skip
        }
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "ray.parquet").num_rows == 4


def test_the_journal_is_owner_only_and_the_summary_readable_in_a_file(tmp_path):
    """A researcher's probe: ``sweep ... > summary.txt`` printed both drivers as
    ``controller:my…`` and the per-arm metrics as ``path_length_…`` (rich's 80 columns
    off a terminal), and the journal beside the owner-only results was 0644."""
    import os
    import stat
    import subprocess
    import sys

    out = tmp_path / "results.csv"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-m", "sim.cli", "sweep", "needle-handover", "--operators", "",
         "--controller", TRACKER.removeprefix("controller:"), "--seeds", "602", "--serial",
         "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert TRACKER in done.stdout and "path_length_cm[PSM1]" in done.stdout, done.stdout
    assert "…" not in done.stdout, done.stdout
    assert stat.S_IMODE(sw.journal_path(out).stat().st_mode) == 0o600


def test_the_summary_keeps_the_bracketed_part_of_a_metric_name(tmp_path):
    """``timer_s[whole]`` is a metric name, not Rich markup: the table showed ``timer_s``.
    A scenario file whose name has brackets keeps them too."""
    from scenarios.loader import resolve

    text = resolve("camera-targeting").read_text()
    text = text.replace("do: [{message: ", "do: [{start_timer: whole}, {message: ", 1)
    text = text.replace("    peak_force_n: {}\n", "    peak_force_n: {}\n    timer_s[whole]: {}\n")
    assert "timer_s[whole]" in text and "start_timer: whole" in text
    scenario = tmp_path / "cam[b].yaml"
    scenario.write_text(text)
    out = tmp_path / "r[1].csv"
    args = ["sweep", str(scenario), "--seeds", "5101", "--serial", "--out", str(out)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "timer_s[whole]" in result.output
    assert "cam[b].yaml" in result.output
    assert f"results: {out}" in " ".join(result.output.split())


def _quick_run(job: sw.Job) -> dict:
    """A finished run's row without the simulation: these tests are about files."""
    return {"key": job.key, "scenario": job.scenario, "driver": job.driver, "seed": job.seed,
            "score": 50.0, "completed": True}  # fmt: skip


def test_a_row_after_a_torn_last_line_starts_a_line_of_its_own(tmp_path, monkeypatch):
    """A full disk cut the journal's last line; the next sweep appended its first row onto
    it, so that finished run could not be read back and was made again."""
    monkeypatch.setattr(sw, "attempt", _quick_run)
    out = tmp_path / "results.csv"
    todo = sw.jobs(["camera-targeting"], ["expert"], [0, 1])
    first = {**_quick_run(todo[0]), **provenance.fingerprints(todo)[todo[0].key]}
    sw.journal_path(out).write_text(json.dumps(first) + "\n" + '{"key": "cut sh')
    sw.run_sweep(todo, out, use_ray=False)
    assert [r["seed"] for r in sw.read_journal(sw.journal_path(out))] == [0, 1]


def test_a_full_disk_under_the_results_names_the_file_and_the_sweep_resumes(tmp_path, monkeypatch):
    """It said "unexpected OSError: [Errno 28] ... Rerun with --debug ... please report
    it", and sweep had no --debug."""
    import errno

    monkeypatch.setattr(sw, "attempt", _quick_run)
    out = tmp_path / "results.csv"

    def full(rows, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    sweep = ["sweep", "camera-targeting", "--seeds", "0-1", "--serial", "--out", str(out)]
    with monkeypatch.context() as m:
        m.setattr(sw, "write_results", full)
        result = CliRunner().invoke(app, sweep)
    said = " ".join(result.output.split())
    assert result.exit_code == 2, said
    assert f"the results table {out} could not be written (No space left on device)" in said
    assert "safe in the journal" in said and "run the same command" in said
    assert "unexpected" not in said and "--debug" not in said
    result = CliRunner().invoke(app, sweep)
    assert result.exit_code == 0 and "2/2 resumed" in " ".join(result.output.split())
    assert len(out.read_text().splitlines()) == 3
    # the journal itself on a full disk: said the same way, what it holds is safe
    monkeypatch.setattr(sw, "append_line", lambda *a: full(None, sw.journal_path(out)))
    result = CliRunner().invoke(app, [*sweep[:3], "0-2", *sweep[4:]])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and f"journal {sw.journal_path(out)} could not be" in said, said
    assert "the 2 runs it holds are safe" in said and "unexpected" not in said
