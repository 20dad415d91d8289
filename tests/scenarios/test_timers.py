"""Scenario timers as metrics: ``timer_s[NAME]`` is the time a ``start_timer`` ..
``stop_timer`` pair measured, and a rubric may score it. Before, timers were recorded
events and nothing more: an instructor's "reach within 20 s" could not be scored."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scenarios.errors import ScenarioError
from scenarios.glossary import info, timer_metric, timer_of, with_unit
from scenarios.lint import scenario_warnings
from scenarios.live import MetricAccumulator
from scenarios.loader import parse_scenario
from scenarios.scoring import score_session

DOC = (Path(__file__).parents[2] / "docs" / "scenarios.md").read_text()
BOX_DRILL = next(b for b in re.findall(r"```yaml\n(.*?)```", DOC, re.S) if "name: box-drill" in b)
RUBRIC_END = "    out_of_view_time_s: {penalty: 2}\n"


def _with_metric(line: str, text: str = BOX_DRILL) -> str:
    assert RUBRIC_END in text
    return text.replace(RUBRIC_END, RUBRIC_END + f"    {line}\n")


def _accumulate(events, last_row_s: float = 50.0) -> dict[str, float]:
    acc = MetricAccumulator({}, 100.0)
    acc.update([0.0, last_row_s], {})
    for time_s, kind, data in events:
        acc.add_event(kind, data, time_s)
    return {k: v for k, v in acc.values().items() if timer_of(k)}


def test_a_timer_s_runs_are_added_and_one_still_running_counts_to_the_last_row():
    got = _accumulate(
        [
            (2.0, "timer_started", {"timer": "reach"}),
            (9.5, "timer_stopped", {"timer": "reach", "elapsed_s": 7.5}),
            (20.0, "timer_started", {"timer": "reach"}),  # repeat: the second run adds
            (23.0, "timer_stopped", {"timer": "reach", "elapsed_s": 3.0}),
            (30.0, "timer_started", {"timer": "hold"}),  # never stopped: up to 50 s
            (40.0, "timer_stopped", {"timer": "never", "elapsed_s": None}),  # never started
        ]
    )
    assert got == {"timer_s[reach]": pytest.approx(10.5), "timer_s[hold]": pytest.approx(20.0)}


def test_a_timer_started_again_while_running_measures_from_the_new_start_as_the_engine_does():
    got = _accumulate(
        [(1.0, "timer_started", {"timer": "t"}), (4.0, "timer_started", {"timer": "t"})], 10.0
    )
    assert got == {"timer_s[t]": pytest.approx(6.0)}


def test_a_rubric_may_score_a_timer_and_the_score_moves_with_it():
    scenario = parse_scenario(_with_metric("timer_s[reach]: {penalty: 1, limit: 30}"))
    rule = scenario.scoring.rule
    base = {"completion_time_s": 40.0}
    quick = score_session({**base, "timer_s[reach]": 5.0}, True, scenario.scoring)
    slow = score_session({**base, "timer_s[reach]": 25.0}, True, scenario.scoring)
    over = score_session({**base, "timer_s[reach]": 31.0}, True, scenario.scoring)
    span = rule.cutoff_s - rule.target_s
    assert quick.score - slow.score == pytest.approx(20.0 / span * 100.0)
    assert quick.passed and slow.passed and not over.passed  # the limit is a bound
    assert scenario.scoring.scored("timer_s[reach]")


def test_a_timer_metric_reads_as_the_timer_it_is():
    about = info("timer_s[reach]")
    assert about.label == "Timer 'reach'" and about.unit == "s" and not about.higher_is_better
    assert with_unit("timer_s[reach]", 12.5) == "12.5 s"
    assert timer_metric("reach") == "timer_s[reach]" and timer_of("path_length_cm") is None


def test_a_timer_the_exercise_never_starts_is_an_error_at_its_line_with_the_fix():
    text = _with_metric("timer_s[raech]: {limit: 30}")
    line = text.splitlines().index("    timer_s[raech]: {limit: 30}") + 1
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "drill.yaml")
    message = str(err.value)
    assert message.startswith(f"drill.yaml:{line}:5: scoring.metrics.timer_s[raech]:")
    assert "never starts a timer 'raech'" in message and "Did you mean 'reach'?" in message
    assert "{start_timer: raech}" in message


def test_a_proficiency_limit_on_a_timer_is_checked_the_same_way():
    text = BOX_DRILL.replace(
        "  rule: {kind: fls",
        "  proficiency: {limits: {'timer_s[lift]': 10}}\n  rule: {kind: fls",
    )
    with pytest.raises(ScenarioError, match="never starts a timer 'lift'"):
        parse_scenario(text, "drill.yaml")
    ok = parse_scenario(text.replace("timer_s[lift]", "timer_s[reach]"), "drill.yaml")
    assert "timer 'reach' at most 10" in ok.scoring.proficiency.describe()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("timer_s: {limit: 30}", "a timer's metric names its timer, timer_s[NAME]"),
        ("timer_s[reach]: {limit: -1}", "timer_s[reach] is never below 0"),
    ],
)
def test_a_timer_metric_without_a_name_or_with_an_impossible_limit_is_refused(line, expected):
    with pytest.raises(ScenarioError, match=re.escape(expected)):
        parse_scenario(_with_metric(line), "drill.yaml")


def test_validate_warns_of_a_stop_timer_whose_timer_nothing_starts():
    text = BOX_DRILL.replace("do: [{stop_timer: reach}]", "do: [{stop_timer: rech}]")
    warnings = [str(w) for w in scenario_warnings(parse_scenario(text, "drill.yaml"))]
    hits = [w for w in warnings if "stop_timer 'rech'" in w]
    assert len(hits) == 1 and "Did you mean 'reach'?" in hits[0]
    assert not [w for w in map(str, scenario_warnings(parse_scenario(BOX_DRILL))) if "timer" in w]


def test_an_mscore_rubric_benchmarks_a_timer_like_any_metric():
    from scenarios.loader import resolve

    text = resolve("camera-targeting").read_text()
    text = text.replace(
        "  events:\n",
        "  events:\n    - at: 0\n      do: [{start_timer: first}]\n"
        "    - when: {step_completed: target-1}\n      do: [{stop_timer: first}]\n",
        1,
    )
    text = text.replace(
        "    # risk and safety\n",
        "    timer_s[first]: {benchmark: {mean: 4, sd: 2, source: a parameter}}\n"
        "    # risk and safety\n",
        1,
    )
    scoring = parse_scenario(text, "camera-timed.yaml").scoring
    good = {"completion_time_s": 20.0, "path_length_cm": 60.0, "collisions": 0.0}
    good["excessive_force_time_s"] = 0.0
    at_mean = score_session({**good, "timer_s[first]": 4.0}, True, scoring)
    slow = score_session({**good, "timer_s[first]": 9.0}, True, scoring)
    assert at_mean.passed and at_mean.metrics["timer_s[first]"].score == 100.0
    assert not slow.passed  # 2.5 SD worse than the mean: past the 1 SD pass mark
    assert slow.metrics["timer_s[first]"].score < 100.0 and slow.score < at_mean.score


@pytest.mark.parametrize("name", ["a]b", "x[1]", "", "  "])
def test_a_timer_name_no_rubric_could_name_is_refused_at_its_line(name):
    text = BOX_DRILL.replace("{start_timer: reach}", f"{{start_timer: {name!r}}}", 1)
    with pytest.raises(ScenarioError, match="a timer's name cannot be empty or hold"):
        parse_scenario(text, "drill.yaml")


def test_the_metric_line_and_the_arithmetic_name_each_timer():
    about = info("timer_s[reach]")
    assert about.noun == "s on timer 'reach'"


def test_lengths_that_are_no_lengths_raise_no_unit_warning():
    """A tissue's default stiffness (1000 N/m) read "1000 m is more than a scene spans"."""
    from scenarios.lint import _is_length

    assert _is_length("size_m") and _is_length("radius_m") and _is_length("workspace_m")
    for key in ("tissue_stiffness_n_m", "tissue_damping_n_s_m", "gravity_m_s2"):
        assert not _is_length(key), key


def test_a_timer_still_running_at_the_end_is_marked_in_the_score_table_not_scored_apart():
    """A tracker that stopped at 1.8 s without a grasp read "Timer 'handover' 1.82 s ...
    <= 20 s pass", as a handover done in time. The rule stays (it counts up to the end);
    the table and the HTML report now say the timer was still running."""
    from rich.console import Console

    from scenarios.live import timers_running_at_end
    from scenarios.report_score import metric_table_html
    from scenarios.trace import TraceEvent
    from sim.cli.score_view import score_table

    started = [TraceEvent(0.5, "timer_started", {"timer": "reach"})]
    stopped = [*started, TraceEvent(1.0, "timer_stopped", {"timer": "reach", "elapsed_s": 0.5})]
    assert timers_running_at_end(started) == {"reach"} and not timers_running_at_end(stopped)
    scoring = parse_scenario(_with_metric("timer_s[reach]: {limit: 20}")).scoring
    measured = {"completion_time_s": 1.82, "timer_s[reach]": 1.32}
    marked = score_session(measured, False, scoring, timers_running_at_end(started))
    plain = score_session(measured, False, scoring, timers_running_at_end(stopped))
    assert marked.score == plain.score and marked.passed == plain.passed
    assert marked.metrics["timer_s[reach]"].running_at_end is True
    assert plain.metrics["timer_s[reach]"].running_at_end is False

    def row(result) -> str:
        console = Console(width=200, record=True)
        console.print(score_table(result, "score"))
        return next(r for r in console.export_text().splitlines() if "Timer 'reach'" in r)

    assert "1.32 s, still running at the end" in row(marked)
    assert "still running" not in row(plain)
    assert "still running at the end</span>" in metric_table_html(marked)
    assert "still running at the end</span>" not in metric_table_html(plain)
