"""The kinds of a researcher's own code that a run or a sweep can swap in by name: an IK
solver and a tremor filter.

Both are named by a string (``"package.module:name"``; a tremor filter may also be a
built-in's name such as ``one_euro``), so a configuration that names one pickles across
sweep workers and Ray. Each kind has a word for surgisim's own choice (``builtin`` for
the IK solver, ``default`` for the tremor filter), which is what a job holds as None and
what the results table shows. One description per kind, so that ``run``, ``sweep``, the
job keys, the results' columns and the fingerprints treat both alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from sim.errors import SimError


@dataclass(frozen=True)
class PlugIn:
    """A kind of plug-in.

    Attributes:
        column: the job's attribute, the results table's column and the stored
            session's condition (``"ik_solver"``).
        option: the command-line option (``"--ik-solver"``).
        builtin: the word for surgisim's own choice (the option's default and the
            column's value for it).
        what: how it is named in messages (``"IK solver"``).
        key_tag: written before the spec in a job key; "" for the IK solver, whose keys
            predate the tremor filter and must still match older journals.
        short: how a run's name shows it (``"ik"``).
        resolve: loads a spec once (imports its module, finds or makes it), raising the
            kind's own error when it cannot be used.
    """

    column: str
    option: str
    builtin: str
    what: str
    key_tag: str
    short: str
    resolve: Callable[[str], object]

    def parse(self, text: str | None) -> str | None:
        """An option's value as a job holds it: None for the built-in word (or None)."""
        if text is None:
            return None
        text = str(text).strip()
        return None if text == self.builtin else text

    def label(self, spec: str | None) -> str:
        """How a spec is shown: itself, or the built-in word for None."""
        return self.builtin if spec is None else spec

    @property
    def digest_field(self) -> str:
        """The fingerprint field of its module's source (``"ik_solver_digest"``)."""
        return f"{self.column}_digest"

    def check(self, spec: str) -> None:
        """Resolve ``spec`` once (module imported, function found; a filter made once),
        so that a bad one is refused before anything runs.

        Raises:
            SimError: why it cannot be used, naming the option and the built-in word.
        """
        from haptics.errors import HapticsError
        from kinematics.errors import KinematicsError

        try:
            self.resolve(spec)
        except (KinematicsError, HapticsError) as exc:
            hint = (
                "" if ":" in str(spec) else f" ('{self.builtin}' names surgisim's own {self.what}.)"
            )
            raise SimError(f"{self.option} {spec}: {exc}{hint}") from None

    def checked(self, text: str | None) -> str | None:
        """An option's value parsed and checked (None: the built-in)."""
        spec = self.parse(text)
        if spec is not None:
            self.check(spec)
        return spec


def _load_ik_solver(spec: str):
    from kinematics.solvers import load_ik_solver

    return load_ik_solver(spec)


def _make_tremor_filter(spec: str):
    from haptics.tremor import make_filter

    return make_filter(spec, 1000.0)


IK_SOLVER = PlugIn("ik_solver", "--ik-solver", "builtin", "IK solver", "", "ik", _load_ik_solver)
TREMOR_FILTER = PlugIn(
    "tremor_filter",
    "--tremor-filter",
    "default",
    "tremor filter",
    "filter=",
    "filter",
    _make_tremor_filter,
)
#: every kind, in the order of job keys and table columns
PLUGINS = (IK_SOLVER, TREMOR_FILTER)


def session_config(ik_solver: str | None = None, tremor_filter: str | None = None):
    """A default :class:`~sim.session.session.SessionConfig` with the given plug-ins:
    the IK solver for ``servo_cp`` goals and teleoperation, the tremor filter for every
    master-driven arm (instruments and a driven endoscope), its factory's own defaults
    for parameters. None keeps surgisim's own."""
    from sim.session.session import SessionConfig

    config = SessionConfig(ik_solver=ik_solver)
    if tremor_filter is None:
        return config
    return dataclasses.replace(
        config,
        teleop=dataclasses.replace(config.teleop, tremor_filter=tremor_filter, tremor_params={}),
        scope_teleop=dataclasses.replace(
            config.scope_teleop, tremor_filter=tremor_filter, tremor_params={}
        ),
    )
