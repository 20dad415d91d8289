"""One check for every plug-in kind (:mod:`sim.session.plugins`): a spec that cannot be
used is refused by ``surgisim sweep`` (status 2, nothing run, no journal), by the
fingerprints a sweep takes first, and by ``surgisim run``, each naming the option."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import SimError
from sim.session import provenance
from sim.session import sweep as sw
from sim.session.plugins import PlugIn

SCENARIO = "needle-handover"


def assert_refused_before_any_run(tmp_path, kind: PlugIn, spec: str, message: str) -> None:
    out = tmp_path / "r.csv"
    args = ["sweep", SCENARIO, "--seeds", "0", "--serial", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, kind.option, kind.builtin, kind.option, spec])
    said = " ".join(result.output.split())  # Rich's line wrapping undone
    assert result.exit_code == 2, result.output
    assert f"{kind.option} {spec}" in said and message in said
    assert not sw.journal_path(out).exists() and not out.exists()  # surgisim's own: not run
    with pytest.raises(SimError, match=kind.option):
        provenance.fingerprints([sw.Job(SCENARIO, "expert", 0, **{kind.column: spec})])
    refused = CliRunner().invoke(app, ["run", SCENARIO, kind.option, spec, "--no-store"])
    assert refused.exit_code == 2 and message in " ".join(refused.output.split())
    assert "simulated" not in refused.output
