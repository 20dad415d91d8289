"""``surgisim bench ik --solver``: a user's solver in the same table and JSON as the
built-in and pybullet, on the same targets."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sim.cli import app
from tests import user_plugins


def test_bench_ik_lists_a_user_solver_beside_the_built_in_and_pybullet(tmp_path):
    user_plugins.CALLS.clear()
    out = tmp_path / "ik.json"
    args = ["bench", "ik", "-n", "10", "--arms", "psm", "--rcm-targets", "0", "--json", str(out)]
    result = CliRunner().invoke(app, [*args, "--solver", "tests.user_plugins:dls"])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    rows = payload["results"]
    # what the figures were made from: surgisim's version and the solver module's source
    assert payload["machine"]["surgisim"] and payload["plugin_digests"]["tests.user_plugins:dls"]
    by_solver = {(r["solver"], r["mode"]): r for r in rows}
    assert set(by_solver) == {
        (s, m) for s in ("surgisim", "pybullet", "tests.user_plugins:dls") for m in ("cold", "warm")
    }
    mine = by_solver["tests.user_plugins:dls", "warm"]
    assert mine["success"] == 1.0 and mine["errors"] == 0
    assert mine["median_pos_error_m"] <= 1e-5 and mine["p95_us"] >= mine["median_us"] > 0
    assert user_plugins.CALLS["dls"] == 20  # 10 targets, cold and warm


def test_bench_ik_refuses_a_bad_solver_name_before_running():
    result = CliRunner().invoke(app, ["bench", "ik", "--solver", "tests.user_plugins:dsl"])
    assert result.exit_code == 2 and "Did you mean 'dls'" in result.output


def test_a_solver_whose_calls_fail_says_so_beside_the_table(tmp_path):
    """A probe: a solver that raised on every call read "0.00% ... 1.02e+06 solves/s" with
    nothing saying why; the count was only in the JSON."""
    out = tmp_path / "ik.json"
    args = ["bench", "ik", "-n", "10", "--arms", "psm", "--rcm-targets", "0", "--json", str(out)]
    spec = "tests.user_plugins:raising"
    nan_q = "tests.user_plugins:nan_q"
    result = CliRunner().invoke(app, [*args, "--solver", spec, "--solver", nan_q])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"{spec} on psm (cold): 10 of 10 calls failed; the first raised" in text
    first = "the first returned q of shape (6,) with NaN or inf"
    assert f"{nan_q} on psm (warm): 10 of 10 calls failed; {first}" in text
    rows = json.loads(out.read_text())["results"]
    failing = [r for r in rows if r["solver"] == spec]
    assert all(r["errors"] == 10 and r["first_error"].startswith("raised") for r in failing)


def test_a_solver_returning_none_is_said_so_and_builtin_is_taken_as_the_built_in(tmp_path):
    """A solver returning None read "calls failed; the first None"; ``--solver builtin``
    (the sweep's word for the built-in) was refused."""
    out = tmp_path / "ik.json"
    args = ["bench", "ik", "-n", "10", "--arms", "psm", "--rcm-targets", "0", "--json", str(out)]
    spec = "tests.user_plugins:returns_none"
    result = CliRunner().invoke(app, [*args, "--solver", "builtin", "--solver", spec])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"{spec} on psm (cold): 10 of 10 calls failed; the first returned None" in text
    solvers = {r["solver"] for r in json.loads(out.read_text())["results"]}
    assert solvers == {"surgisim", "pybullet", spec}


def test_a_solver_is_in_the_rcm_table_too_judged_by_fk(tmp_path):
    """``rcm=`` is part of the solver signature, but the RCM table listed the built-in
    alone. A pose-only solver (this one ignores ``rcm``) reaches no port target."""
    out = tmp_path / "ik.json"
    args = ["bench", "ik", "-n", "10", "--arms", "psm", "--rcm-targets", "20", "--json", str(out)]
    result = CliRunner().invoke(app, [*args, "--solver", "tests.user_plugins:dls"])
    assert result.exit_code == 0, result.output
    rcm = json.loads(out.read_text())["rcm"]
    mine = rcm["plugins"]["tests.user_plugins:dls"]
    assert set(mine) == {
        "cold position",
        "cold position+roll",
        "warm position",
        "warm position+roll",
    }
    assert all(r["success"] == 0.0 for r in mine.values())
    assert rcm["warm position"]["success"] > 0.9  # the built-in's, where the bars read it


def test_the_rcm_table_counts_a_solver_s_failed_calls_and_has_no_max_error_without_answers(
    tmp_path,
):
    """A solver that never answered read "0.00%" with "max rcm error m 0.00" (a perfect
    error, over no answer) and nothing said why; the JSON had no count either."""
    out = tmp_path / "ik.json"
    args = ["bench", "ik", "-n", "10", "--arms", "psm", "--rcm-targets", "8", "--seed", "5102"]
    spec, none = "tests.user_plugins:raising", "tests.user_plugins:returns_none"
    result = CliRunner().invoke(
        app, [*args, "--json", str(out), "--solver", spec, "--solver", none]
    )
    assert result.exit_code == 0, result.output
    rcm = json.loads(out.read_text())["rcm"]
    n = rcm["reachable"]
    assert n > 0
    for label, r in rcm["plugins"][spec].items():
        assert (r["success"], r["max_rcm_error_m"], r["errors"]) == (0.0, None, n), label
        assert r["first_error"].startswith("raised")
    assert all(r["first_error"] == "returned None" for r in rcm["plugins"][none].values())
    assert rcm["warm position"]["max_rcm_error_m"] > 0  # the built-in's: a real figure
    text = " ".join(result.output.split())
    assert f"0.00% ({n} failed)" in text and "n/a" in text
    assert f"{spec} RCM (cold position): {n} of {n} calls failed; the first raised" in text


def test_the_readme_pose_only_solver_fails_the_rcm_position_and_roll_rows(tmp_path, monkeypatch):
    """The position+roll targets were full poses whose z axis already ran through the
    port: the README's plug-in, which ignores ``rcm=``, passed them (63% cold, 100% warm).
    Tilted off the shaft, they leave a pose-only solver outside the port; the built-in,
    which takes only their position and roll, is judged as before."""
    import io
    import re
    from pathlib import Path

    import numpy as np
    from rich.console import Console

    from bench import ik
    from kinematics.solvers import load_ik_solver

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### Your own IK solver and tremor filter") :]
    module = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    (tmp_path / "readme_plugins.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    solver = load_ik_solver("readme_plugins:dls")
    console = Console(file=io.StringIO(), width=200)
    rcm = ik._rcm_section(12, np.random.default_rng(7137), console, {"readme": solver})
    assert rcm["reachable"] >= 10
    mine = rcm["plugins"]["readme"]
    for start in ("cold", "warm"):
        assert mine[f"{start} position+roll"]["success"] == 0.0, start
        assert rcm[f"{start} position+roll"]["success"] == 1.0, start  # the built-in's
