"""``surgisim bench tremor --filter``: a user's filter in the same tables and JSON as the
built-ins, on the same traces."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sim.cli import app

AVERAGE = "tests.user_plugins:moving_average"


def test_bench_tremor_scores_a_user_filter_on_every_set_beside_the_built_ins(tmp_path):
    out = tmp_path / "tremor.json"
    args = ["bench", "tremor", "--traces", "1", "--duration-s", "3", "--draws", "1"]
    result = CliRunner().invoke(app, [*args, "--filter", AVERAGE, "--json", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert AVERAGE in payload["step_us"]
    for rows in payload["results"].values():
        names = [r["filter"] for r in rows]
        assert names[0] == "none" and "default" in names and names[-1] == AVERAGE
        assert rows[-1]["lag_ms"] > 5.0  # a 50 ms average lags
    assert payload["results"]["narrow"][-1]["attenuation_db"] > 1.0


def test_bench_tremor_refuses_a_bad_filter_before_running():
    result = CliRunner().invoke(app, ["bench", "tremor", "--filter", "tests.user_plugins:nope"])
    assert result.exit_code == 2 and "no factory" in result.output and "'nope'" in result.output


def test_a_filter_that_faults_is_shown_failing_not_crashing_the_bench_or_hidden(tmp_path):
    """A probe: a filter that gave NaN from its first sample crashed the whole bench (a
    traceback, no table for any filter); one that faulted every 100 samples was scored
    like "none" with no word of its faults."""
    out = tmp_path / "tremor.json"
    args = ["bench", "tremor", "--traces", "1", "--duration-s", "3", "--draws", "1"]
    never, sometimes = "tests.user_plugins:always_nan", "tests.user_plugins:goes_nan"
    result = CliRunner().invoke(
        app, [*args, "--filter", never, "--filter", sometimes, "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "failed" in text and "no row of the signal had a good output" in text
    # the filter's own words, not read as console markup (``[nan, nan, nan]`` vanished)
    assert "goes_nan returned [nan, nan, nan]" in text
    payload = json.loads(out.read_text())
    for rows in payload["results"].values():
        by_name = {r["filter"]: r for r in rows}
        assert "no row of the signal had a good output" in by_name[never]["failed"]
        assert by_name[sometimes]["faults"] == 1  # NaN once per trace, at sample 100
        assert "goes_nan returned [nan, nan, nan]" in by_name[sometimes]["last_fault"]
        assert by_name["default"]["faults"] == 0
