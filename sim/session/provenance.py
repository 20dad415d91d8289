"""What a sweep's result depends on, as short digests stored beside each result.

A sweep's journal lets an interrupted sweep resume, but a journal row may stand in for a
run only when that run would be made from the same inputs: otherwise editing a controller
or a scenario and running again with the same ``--out`` silently returns the old numbers.
So every row records:

- ``scenario_digest``: the loaded scenario (its validated model, dumped as JSON), so an
  edit that changes the exercise counts and a comment or re-indentation does not;
- ``driver_digest``: for a controller, its module's source file ("" for the synthetic
  operators, which are part of surgisim);
- ``ik_solver_digest``: for the user's IK solver (``--ik-solver``), its module's source
  file ("" for the built-in solver, part of surgisim; a row from before this field was
  made with the built-in one and counts as "");
- ``tremor_filter_digest``: likewise for a tremor filter's factory (``--tremor-filter
  module:make``); "" for surgisim's filters (``default`` or a built-in's name: part of
  surgisim, and the name is in the job's key);
- ``surgisim_version``: the installed version, plus the git commit when surgisim runs from
  a checkout (the simulator itself determines results too).

Digests are the first 16 hex digits of a SHA-256. They are taken where the sweep starts,
not on the workers. What they cannot see: modules a controller or solver module imports, and
uncommitted edits to surgisim itself (``--fresh`` runs everything again).

Computing them also checks every input before any job runs: a scenario that does not load,
an unknown operator, a controller that cannot be made or an IK solver that cannot be
resolved is refused up front.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from sim.errors import SimError
from sim.session.plugins import IK_SOLVER, PLUGINS, TREMOR_FILTER, PlugIn

#: the fields of a row that say what it was made from
FIELDS = (
    "scenario_digest",
    "driver_digest",
    "ik_solver_digest",
    "tremor_filter_digest",
    "surgisim_version",
)
#: how each field is named to a person ("made with a different ...")
LABELS = {
    "scenario_digest": "scenario",
    "driver_digest": "controller",
    "ik_solver_digest": "IK solver",
    "tremor_filter_digest": "tremor filter",
    "surgisim_version": "surgisim version",
}
#: what a field added after journals existed reads as in a row from before it: such rows
#: were made with surgisim's own solver and filter (there were no others)
MISSING = {"ik_solver_digest": "", "tremor_filter_digest": ""}
CONTROLLER_PREFIX = "controller:"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def scenario_digest(scenario: str) -> str:
    """Digest of a scenario (bundled name or YAML path) as loaded and validated.

    Raises:
        ScenarioError: the scenario does not exist or does not validate.
    """
    from sim.world.scenario_scene import load_world_scenario

    dump = load_world_scenario(scenario).model_dump(mode="json")
    return _digest(json.dumps(dump, sort_keys=True).encode())


def driver_digest(driver: str) -> str:
    """Digest of a driver: the controller module's source file, or "" for an operator.

    The controller is made once here (its factory called), so a spec that names a missing
    module or factory, or a factory that fails, is reported before any job runs.

    Raises:
        SimError: an unknown operator skill, or a controller that cannot be made.
    """
    if not driver.startswith(CONTROLLER_PREFIX):
        from haptics.operators import PRESET_NAMES

        if driver not in PRESET_NAMES:
            from sim.errors import closest_names

            raise SimError(
                f"unknown operator {driver!r}; the synthetic operators are "
                f"{list(PRESET_NAMES)} (a controller goes to --controller)."
                + closest_names(driver, PRESET_NAMES)
            )
        return ""
    from sim.session.controllers import load_controller

    spec = driver.removeprefix(CONTROLLER_PREFIX)
    load_controller(spec)
    return _module_digest(spec)


def plugin_digest(kind: PlugIn, spec: str | None) -> str:
    """Digest of a plug-in (:mod:`sim.session.plugins`): its module's source file; "" for
    surgisim's own (None, or a built-in filter's name).

    The plug-in is resolved here, so a spec that names a missing module or function, a
    factory that fails or something that is not callable is reported before any job runs.

    Raises:
        SimError: a plug-in that cannot be used (the message says why).
    """
    if spec is None:
        return ""
    kind.check(spec)
    return _spec_digest(spec)


def _spec_digest(spec: str | None) -> str:
    """The digest of a resolved plug-in spec: its module's source for ``module:function``,
    "" for surgisim's own (None, or a built-in's name)."""
    return _module_digest(spec) if spec and ":" in spec else ""


def session_plugins(config) -> dict[PlugIn, str | None]:
    """The plug-ins a :class:`~sim.session.session.SessionConfig` names, by kind (None:
    surgisim's own). The tremor filter is the instruments' teleoperation's."""
    return {
        IK_SOLVER: config.ik_solver,
        TREMOR_FILTER: TREMOR_FILTER.parse(config.teleop.tremor_filter),
    }


def plugin_digests(specs: Mapping[PlugIn, str | None]) -> dict[str, str]:
    """The digest of each plug-in's module source, by its fingerprint field
    (``{"ik_solver_digest": ..., "tremor_filter_digest": ...}``), as :func:`plugin_digest`
    gives but for plug-ins already resolved (a session built with them, or checked): a
    tremor filter's factory is not called once more. What a recording and ``surgisim run
    --json`` keep, as a sweep's rows do."""
    return {kind.digest_field: _spec_digest(spec) for kind, spec in specs.items()}


def changed_plugins(recorded: Mapping[str, str], specs: Mapping[PlugIn, str | None]) -> list[str]:
    """The resolved plug-ins whose module's source differs from the digests in
    ``recorded`` (a recording's metadata), named for a person: ``"the tremor filter
    my_plugins:ma"``. A field ``recorded`` lacks (a recording from before digests were
    kept) is not judged."""
    now = plugin_digests(specs)
    return [
        f"the {kind.what} {kind.label(spec)}"
        for kind, spec in specs.items()
        if kind.digest_field in recorded and now[kind.digest_field] != recorded[kind.digest_field]
    ]


def ik_solver_digest(spec: str | None) -> str:
    """:func:`plugin_digest` of an IK solver."""
    return plugin_digest(IK_SOLVER, spec)


def _module_digest(spec: str) -> str:
    """Digest of the source file of the (imported) module a ``"module:name"`` spec names;
    "" when it has none (a built-in or namespace module)."""
    module = sys.modules[spec.partition(":")[0]]
    source = getattr(module, "__file__", None)
    if not source or not Path(source).is_file():
        return ""
    return _digest(Path(source).read_bytes())


def surgisim_version() -> str:
    """The installed surgisim version, ``+g<commit>`` added when run from a git checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("surgisim")
    except PackageNotFoundError:
        text = "unknown"
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            done = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return text
        if done.returncode == 0 and done.stdout.strip():
            text += f"+g{done.stdout.strip()}"
    return text


def fingerprints(jobs: Iterable) -> dict[str, dict[str, str]]:
    """Each job's fingerprint (``FIELDS`` -> value), by job key.

    Each scenario, driver and plug-in is loaded once, however many seeds it has.

    Raises:
        SimError, ScenarioError: an input that cannot run (see the module docstring).
    """
    jobs = list(jobs)
    scenarios = {s: scenario_digest(s) for s in dict.fromkeys(j.scenario for j in jobs)}
    drivers = {d: driver_digest(d) for d in dict.fromkeys(j.driver for j in jobs)}
    plugins = {
        kind: {
            spec: plugin_digest(kind, spec)
            for spec in dict.fromkeys(getattr(j, kind.column) for j in jobs)
        }
        for kind in PLUGINS
    }
    release = surgisim_version()
    return {
        j.key: {
            "scenario_digest": scenarios[j.scenario],
            "driver_digest": drivers[j.driver],
            **{
                kind.digest_field: digests[getattr(j, kind.column)]
                for kind, digests in plugins.items()
            },
            "surgisim_version": release,
        }
        for j in jobs
    }


def differences(row: dict, fingerprint: dict[str, str]) -> list[str]:
    """What differs between the inputs a journal row was made from and ``fingerprint``
    (``LABELS`` values; ``["fingerprint"]`` for a row from before fingerprints). A field
    added since a row was written reads as its ``MISSING`` value there (and in a
    ``fingerprint`` made without it)."""
    if not any(field in row for field in FIELDS):
        return ["fingerprint"]
    return [
        LABELS[f]
        for f in FIELDS
        if row.get(f, MISSING.get(f)) != fingerprint.get(f, MISSING.get(f))
    ]
