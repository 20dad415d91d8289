"""A scenario's timers in a real session: the live value, the final metric and the score
agree, and a timer measures what its events bracket (here the expert's pick-up)."""

from __future__ import annotations

import pytest

from scenarios.evaluate import compute_metrics
from scenarios.loader import parse_scenario, resolve
from sim.session.headless import run_headless

TIMERS = """    - at: 0
      do: [{start_timer: pick}, {start_timer: whole}]
    - when: {step_completed: pick-up}
      do: [{stop_timer: pick}]
"""


@pytest.fixture(scope="module")
def timed_run():
    text = resolve("needle-handover").read_text()
    text = text.replace("  events:\n", "  events:\n" + TIMERS, 1)
    drops = "    drops: {penalty: 20}\n"
    text = text.replace(drops, drops + "    timer_s[pick]: {penalty: 1}\n", 1)
    scenario = parse_scenario(text, "needle-handover-timed.yaml")
    return scenario, run_headless(scenario, operator="expert", seed=2203)


def test_a_timer_measures_from_its_start_to_its_stop_and_one_left_running_to_the_end(timed_run):
    _, outcome = timed_run
    assert outcome.trace.completed
    events = outcome.trace.events
    picked = next(e.time_s for e in events if e.kind == "step_done" and e.data["step"] == "pick-up")
    started = next(e.time_s for e in events if e.kind == "timer_started")
    stopped = next(e for e in events if e.kind == "timer_stopped")
    metrics = outcome.metrics
    assert metrics["timer_s[pick]"] == stopped.data["elapsed_s"] == stopped.time_s - started
    # an event's trigger is judged at the exercise's tick after the step it waits for
    assert 0.0 < stopped.time_s - picked <= 0.0101
    assert 0.5 < metrics["timer_s[pick]"] < metrics["completion_time_s"]
    # "whole" never stops: it ran up to the end that counts, the completion
    assert metrics["timer_s[whole]"] == pytest.approx(
        metrics["completion_time_s"] - started, abs=0.011
    )


def test_live_timer_values_equal_the_final_ones_and_the_penalty_is_in_the_score(timed_run):
    scenario, outcome = timed_run
    for name in ("timer_s[pick]", "timer_s[whole]"):
        assert outcome.live_metrics[name] == pytest.approx(outcome.metrics[name], rel=1e-9)
    assert compute_metrics(outcome.trace)["timer_s[pick]"] == outcome.metrics["timer_s[pick]"]
    terms = outcome.result.metrics["timer_s[pick]"]
    assert terms.value == outcome.metrics["timer_s[pick]"]
    rule = scenario.scoring.rule
    penalties = sum(
        scenario.scoring.metrics[n].penalty * outcome.metrics.get(n, 0.0)
        for n in scenario.scoring.metrics
        if scenario.scoring.metrics[n].penalty is not None
    )
    # a time faster than the target counts as the target (speed cannot absorb penalties)
    counted_s = max(outcome.metrics["completion_time_s"], rule.target_s)
    expected = (rule.cutoff_s - counted_s - penalties) / (rule.cutoff_s - rule.target_s)
    assert outcome.result.score == pytest.approx(max(0.0, 100.0 * expected))
