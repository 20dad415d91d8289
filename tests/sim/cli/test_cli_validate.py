"""``surgisim scenario validate`` as a user runs it: every file checked and reported,
mistakes at FILE:LINE:COL, never a traceback, exit 1 when any file failed; warnings at
FILE:LINE:COL too, and they fail nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from scenarios.loader import LIBRARY


def _surgisim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_every_file_is_checked_and_reported(tmp_path):
    peg = (LIBRARY / "peg-transfer.yaml").read_text()
    files = {
        "ring9.yaml": peg.replace(
            '"board/ring0", target: "board:peg6"', '"board/ring9", target: "board:peg6"'
        ).encode(),
        "peg99.yaml": peg.replace('"board:peg6"', '"board:peg99"').encode(),
        "plan.yaml": peg.replace("kind: peg_transfer}", "kind: nope}").encode(),
        "dup.yaml": peg.replace(
            "title: Peg transfer\n", "title: Peg transfer\ntitle: Again\n"
        ).encode(),
        "control.yaml": b"\x01\x02 not yaml",
        "latin1.yaml": "title: caf\u00e9\n".encode("latin-1"),
        "deep.yaml": b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n",
        "tiny-limit.yaml": peg.replace("time_limit_s: 300", "time_limit_s: 1e-9").encode(),
        "ok.yaml": peg.encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    out = _surgisim("scenario", "validate", *(str(tmp_path / n) for n in files))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr + out.stdout
    for name in files:
        if name == "ok.yaml":
            assert f"{tmp_path / name}: ok" in out.stdout
        else:
            line = next(x for x in out.stderr.splitlines() if x.startswith(str(tmp_path / name)))
            assert line.split(":")[1].isdigit(), line  # FILE:LINE:COL
    assert "1 of 9 files ok" in out.stderr


def test_all_bundled_files_pass():
    out = _surgisim("scenario", "validate", *sorted(str(p) for p in LIBRARY.glob("*.yaml")))
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(": ok (") == len(list(LIBRARY.glob("*.yaml")))
    assert "warning" not in out.stdout + out.stderr


def test_warnings_name_file_and_line_and_do_not_fail(tmp_path):
    peg = (LIBRARY / "peg-transfer.yaml").read_text()
    path = tmp_path / "drill.yaml"
    path.write_text(
        peg.replace("prerequisites: []", "prerequisites: [peg-transfr]").replace(
            "time_limit_s: 300", "time_limit_s: 400"
        )
    )
    lines = path.read_text().splitlines()
    out = _surgisim("scenario", "validate", str(path))
    assert out.returncode == 0, out.stderr
    assert f"{path}: ok (Peg transfer, 12 steps; 2 warnings)" in out.stdout
    # pybullet says its build time on stderr when the world is built for the world's checks
    said = [x for x in out.stderr.splitlines() if not x.startswith("pybullet build time")]
    prerequisite, time_limit = said
    line = 1 + next(i for i, x in enumerate(lines) if x.startswith("prerequisites:"))
    assert prerequisite.startswith(f"{path}:{line}:17: warning: prerequisites[0]: 'peg-transfr'")
    assert prerequisite.endswith("Did you mean 'peg-transfer'?")
    line = 1 + next(i for i, x in enumerate(lines) if "time_limit_s: 400" in x)
    assert time_limit.startswith(f"{path}:{line}:17: warning: exercise.time_limit_s (400 s)")


def test_scores_that_reward_doing_nothing_are_warned_at_their_lines(tmp_path):
    """The auditor's two files: an mscore rubric with ``require_completion: false`` (giving
    up at 0.5 s outscored a completed run with one clash) and a step done at the start
    (completed at 0 s, 100 PASS). Both validated "ok" with nothing said."""
    from tests.sim.session.test_done_at_start import _one_step, _tip_start

    camera = (LIBRARY / "camera-targeting.yaml").read_text()
    rule = "  rule: {kind: mscore, k_sd: 1, zero_at_sd: 4}\n"
    lazy, touch = tmp_path / "lazy.yaml", tmp_path / "touch.yaml"
    lazy.write_text(camera.replace(rule, rule + "  require_completion: false\n"))
    touch.write_text(_one_step(_tip_start()))
    out = _surgisim("scenario", "validate", str(lazy), str(touch))
    assert out.returncode == 0, out.stderr
    assert f"{lazy}: ok (" in out.stdout and "1 warning)" in out.stdout
    said = [x for x in out.stderr.splitlines() if ": warning: " in x]
    line = 1 + lazy.read_text().splitlines().index("  require_completion: false")
    assert [x for x in said if x.startswith(f"{lazy}:")] == [
        next(x for x in said if x.startswith(f"{lazy}:{line}:"))
    ]
    assert "doing little scores well" in said[0]
    line = 1 + touch.read_text().splitlines().index("    - id: touch")
    (done,) = [x for x in said if x.startswith(f"{touch}:") and "exercise.steps" in x]
    assert done.startswith(f"{touch}:{line}:7: warning: exercise.steps[0] (touch): done at 0 s")


MM_CUBE = textwrap.dedent(
    """\
    schema_version: 1
    name: mm-cube
    title: Cube in millimetres
    scene:
      arms:
        - name: PSM1
          kind: psm
          port: {position_m: [0.0, -0.05, 0.15]}
      camera:
        pose: {position_m: [0.0, 0.0, 0.2], rpy_rad: [3.14159, 0.0, 0.0]}
      objects:
        - id: cube
          type: box
          pose: {position_m: [0.0, 0.0, 0.0055]}
          params: {size_m: [11, 11, 11], mass_kg: 0.006}
    exercise:
      steps:
        - id: lift
          instruction: Pick up the cube
          done_when: {grasped: {object: cube, by: PSM1}}
    scoring:
      metrics:
        completion_time_s: {}
        drops: {penalty: 20}
        instrument_collisions: {penalty: 5}
        environment_collisions: {penalty: 2}
        held_object_collisions: {penalty: 2}
        excessive_force_time_s: {penalty: 5}
        out_of_view_time_s: {penalty: 2}
      rule: {kind: fls, cutoff_s: 300}
    """
)


def test_a_unit_slip_comes_before_the_warnings_it_causes(tmp_path):
    """A cube 11 m wide (millimetres as metres) starts inside the arm and the floor and
    flies off: those warnings, at earlier lines, came first, and the unit hint that names
    the cause last. A one-step exercise reads "1 step", not "1 steps"."""
    path = tmp_path / "mm.yaml"
    path.write_text(MM_CUBE)
    out = _surgisim("scenario", "validate", str(path))
    assert out.returncode == 0, out.stderr
    assert f"{path}: ok (Cube in millimetres, 1 step;" in out.stdout, out.stdout
    said = [x for x in out.stderr.splitlines() if ": warning: " in x]
    assert len(said) > 2, out.stderr  # the consequences are still said, after the cause
    assert "params.size_m" in said[0] and said[0].endswith("millimetres?"), said
    assert any("starts" in x and "inside 'cube'" in x for x in said[1:]), said
