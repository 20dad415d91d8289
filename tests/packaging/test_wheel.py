"""A built wheel holds every file surgisim reads beside its modules.

``pip install -e .`` reads the checkout, so a file missing from ``package-data`` goes
unnoticed until someone installs a wheel (or ``pip install .``): then every bundled
scenario was gone ("bundled scenarios are []") and ``--monado`` had no build script. This
builds a wheel from the tracked files alone, as a fresh clone would, and checks that
each tracked file under a package (other than Python sources and documentation, which
are not read at run time) is in it, and that the wheel's bundled scenarios load.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: top-level packages the wheel ships (pyproject's packages.find)
PACKAGES = ("kinematics", "haptics", "scenarios", "sim", "bench", "assets")
#: kept out on purpose: sources (shipped as modules anyway) and documents nobody loads
NOT_DATA = (".py", ".md")


def _tracked() -> list[str]:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"not a git checkout: {done.stderr.strip()}")
    return [line for line in done.stdout.splitlines() if line]


def _in_a_package(path: str) -> bool:
    parts = Path(path).parts
    if len(parts) < 2 or parts[0] not in PACKAGES:
        return False
    return (ROOT / Path(path).parent / "__init__.py").is_file() or any(
        (ROOT / Path(*parts[:i]) / "__init__.py").is_file() for i in range(1, len(parts))
    )


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The tracked files alone, as a fresh clone has them."""
    source = tmp_path_factory.mktemp("clone")
    for name in _tracked():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    return source


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, clone) -> zipfile.ZipFile:
    source = clone
    out = tmp_path_factory.mktemp("wheel")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    build = subprocess.run(
        [*pip_wheel, "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (path,) = out.glob("surgisim-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_every_data_file_under_a_package_is_in_the_wheel(wheel):
    data = [
        name
        for name in _tracked()
        if _in_a_package(name) and not name.endswith(NOT_DATA) and (ROOT / name).is_file()
    ]
    assert any(name.startswith("scenarios/library/") for name in data)  # the check sees them
    missing = sorted(set(data) - set(wheel.namelist()))
    assert not missing, f"add these to [tool.setuptools.package-data]: {missing}"


def test_the_wheel_s_bundled_scenarios_load_from_the_wheel(wheel, tmp_path):
    """Unpacked on its own (no checkout on the path), the wheel lists and loads every
    bundled scenario the checkout has."""
    wheel.extractall(tmp_path / "site")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import scenarios.loader as L; assert L.__file__.startswith(sys.argv[1]), L.__file__; "
        "names = sorted(p.stem for p in L.LIBRARY.glob('*.yaml')); "
        "[L.load_scenario(L.resolve(n)) for n in names]; print(' '.join(names))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "site")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    expected = sorted(p.stem for p in (ROOT / "scenarios" / "library").glob("*.yaml"))
    assert done.stdout.split() == expected and len(expected) >= 5


def test_the_wheel_names_its_licence_and_carries_it(wheel):
    metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    text = wheel.read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.namelist())


def test_the_sdist_carries_the_licence_docs_and_tests(clone, tmp_path):
    """A packager builds from the sdist: it had no licence, no docs (which error messages
    point to: docs/devices.md, docs/vr.md) and no tests for the ``[test]`` extra."""
    import tarfile

    script = (
        "from setuptools import build_meta as b; print(b.build_sdist(__import__('sys').argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=clone,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = tmp_path.glob("surgisim-*.tar.gz")
    with tarfile.open(path) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    wanted = {"LICENSE", "bench/RESULTS.md", "docs/bus.md", "docs/devices.md", "docs/vr.md"}
    assert wanted <= names, sorted(wanted - names)
    assert "tests/packaging/test_wheel.py" in names
    assert not any("__pycache__" in n for n in names)
