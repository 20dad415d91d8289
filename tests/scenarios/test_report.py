"""Reports render real figures and the numbers the scorer produced."""

from __future__ import annotations

import base64
import csv
import io
import re

import numpy as np
import pytest

from scenarios.report import session_report_html, sessions_csv, trainee_report_html
from scenarios.schema import Scoring
from scenarios.scoring import score_session

from .test_evaluate import _trace


def _result(completion=9.5):
    scoring = Scoring.model_validate(
        {
            "metrics": {
                "completion_time_s": {"benchmark": {"mean": 8, "sd": 2}},
                "drops": {"limit": 0},
            },
            "rule": {"kind": "mscore"},
        }
    )
    return score_session({"completion_time_s": completion, "drops": 1}, True, scoring)


def test_session_report_has_verdict_table_and_png_figures(tmp_path):
    html_text = session_report_html(
        title="Peg transfer",
        pseudonym="T001",
        operator="expert",
        seed=3,
        result=_result(),
        trace=_trace(),
    )
    assert "FAIL" in html_text and "Completion time" in html_text and "8 s ± 2 s" in html_text
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html_text)
    assert len(images) == 4
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "drop" in html_text  # event table


def test_trainee_report_and_csv(tmp_path):
    sessions = [
        {
            "id": i,
            "scenario": "peg-transfer",
            "started_at": f"2026-11-{i:02d}",
            "operator": "device",
            "seed": i,
            "score": 50 + 10 * i,
            "passed": i > 2,
            "metrics": {"completion_time_s": 100 - 10 * i, "drops": 1.0},
        }
        for i in range(1, 5)
    ]
    proficiency = {
        "peg-transfer": {
            "proficient": True,
            "passes": 2,
            "best_run": 2,
            "current_run": 2,
            "since": "attempt 4, 2026-11-04",
            "required_consecutive": 2,
            "required_total": 2,
            "attempts": 4,
        }
    }
    page = trainee_report_html("T001", sessions, proficiency)
    assert "Progress of T001" in page and "data:image/png" in page
    assert "at best 2 in a row (now 2) — <b>proficient since attempt 4, 2026-11-04</b>" in page
    assert "<th></th>" not in page and "<th>result</th>" in page
    path = sessions_csv(sessions, tmp_path / "s.csv")
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0][:7] == [
        "session",
        "scenario",
        "started_at",
        "operator",
        "seed",
        "score",
        "passed",
    ]
    # how the session ended comes after the latency (blank when not given), then whether
    # it counts toward proficiency
    assert len(rows) == 5 and rows[1][7:] == ["90", "1.0", "none", "", "no"]
    assert rows[0][-2:] == ["ended", "counts"]


# ---- the parts that explain the score ------------------------------------------------------
def _bundled_report(name="peg-transfer", **trace_kwargs):
    import html as html_lib

    from scenarios.evaluate import score_trace
    from scenarios.loader import load_scenario

    from .test_bundled_rubrics import passing_time_s
    from .traces import scenario_trace

    scenario = load_scenario(name)
    trace = scenario_trace(scenario, passing_time_s(scenario), **trace_kwargs)
    trace.events.append(trace.events[0].__class__(1.0, "clutched", {"arm": "PSM1"}))
    trace.events.sort(key=lambda e: e.time_s)
    _, result = score_trace(scenario, trace)
    page = session_report_html(
        title=scenario.title,
        pseudonym="T001",
        operator="device",
        seed=7,
        result=result,
        trace=trace,
        scoring=scenario.scoring,
        step_ids=[s.id for s in scenario.exercise.steps],
        conditions={
            "latency": {
                c: {"latency_ms": 150.0, "jitter_ms": 0.0, "loss": 0.0}
                for c in ("command", "video", "haptic")
            }
        },
    )
    return scenario, result, page, html_lib


@pytest.mark.parametrize("name", ["peg-transfer", "camera-targeting", "ring-walk"])
def test_the_formula_on_the_page_equals_the_score(name):
    from .test_explain import evaluate_formula

    _, result, page, html_lib = _bundled_report(name, contacts_every_s=5.0, force_fraction=0.05)
    formula = html_lib.unescape(re.search(r"<div class='formula'>(.*?)</div>", page).group(1))
    value, _ = evaluate_formula(formula)
    assert min(100.0, max(0.0, value)) == pytest.approx(result.score, abs=0.3)
    assert f"score {result.score_text()}/100" in page


def test_the_headline_gives_the_score_as_the_arithmetic_does_and_the_pass_score():
    """A 91.56 under a pass score of 85 is "91.6", never a rounded "92" over the formula's
    91.6; close to its pass score it gets the decimals that tell them apart."""
    scoring = Scoring.model_validate(
        {
            "metrics": {"completion_time_s": {}},
            "rule": {"kind": "fls", "cutoff_s": 300, "target_s": 48, "pass_score": 85},
        }
    )

    def headline(pass_score):
        rubric = scoring.model_copy(deep=True)
        rubric.rule.pass_score = pass_score
        result = score_session({"completion_time_s": 69.27}, True, rubric)  # 91.5595...
        page = session_report_html(
            title="t", pseudonym="T001", operator="o", seed=1, result=result, trace=None
        )
        return re.search(r'class="verdict[^>]*>(.*?)</div>', page).group(1)

    assert headline(85) == "PASS · score 91.6/100 (pass score 85)"
    assert headline(91.6) == "FAIL · score 91.56/100 (pass score 91.6)"


def test_the_page_explains_metrics_splits_events_and_conditions():
    scenario, _, page, _ = _bundled_report(
        contacts_every_s=10.0, force_fraction=0.05, out_of_view_fraction=0.1, drops=1
    )
    # readable names with units and direction, penalties in seconds per unit
    for text in (
        "Completion time",
        "Drops",
        "lower is better",
        "20 s per drop",
        "2 s per second out of view",
        "Risk and safety",
        "reported only",
    ):
        assert text in page, text
    assert "cut-off" in page and "(300 \u2212 48)" in page
    # split times: one row per step
    splits = page[page.index("<h2>Split times</h2>") : page.index("<h2>What happened</h2>")]
    assert splits.count("<tr>") == len(scenario.exercise.steps) + 1
    # what happened: key events and safety episodes first, the rest folded
    happened = page[page.index("<h2>What happened</h2>") : page.index("<h2>Figures</h2>")]
    folded = happened.index("<details>")
    for what in ("drop", "step done", "scenery contact", "excessive force", "out of view"):
        assert what in happened[:folded], what
    assert "clutched" in happened[folded:] and "clutched" not in happened[:folded]
    # how it ran
    assert "injected latency: <b>150 ms</b>" in page
    assert "above the limit of 2.5 N" in page


def test_rescores_are_shown_beside_the_original_verdict():
    import dataclasses

    from scenarios.scoring import score_session

    original = _result(completion=9.5)
    scoring = Scoring.model_validate(
        {
            "metrics": {"completion_time_s": {"benchmark": {"mean": 9, "sd": 2}}},
            "rule": {"kind": "mscore"},
        }
    )
    later = dataclasses.replace(
        score_session({"completion_time_s": 9.5}, True, scoring),
        context={
            "scenario": "peg-transfer",
            "rubric": "edited.yaml",
            "metrics_from": "measured again from the trace",
        },
    )
    page = session_report_html(
        title="Peg transfer",
        pseudonym="T001",
        operator="device",
        seed=1,
        result=original,
        trace=None,
        rescores=[("2026-12-01 10:00", later)],
    )
    verdict = page.index('class="verdict fail"')
    again = page.index("<h2>Re-scores</h2>")
    assert verdict < again and "PASS · score" in page[again:] and "edited.yaml" in page[again:]


@pytest.mark.slow
def test_the_page_renders_in_a_browser(tmp_path):
    """The page as a trainee sees it: headless Chromium draws it to a PNG (skipped where
    Chromium is not installed)."""
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium on this machine")
    _, _, page, _ = _bundled_report(contacts_every_s=10.0, drops=1)
    (tmp_path / "s.html").write_text(page)
    png = tmp_path / "s.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--window-size=1200,3000",
            f"--screenshot={png}",
            (tmp_path / "s.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(png) as im:
        assert im.size == (1200, 3000)
        colours = im.convert("L").getextrema()
    assert colours[0] < 100 and colours[1] > 200  # text on a light page, not a blank one


# ---- snapshot captions -------------------------------------------------------------------
def test_a_force_snapshot_gives_its_own_episode_s_arm_and_peak():
    """A stored caption gave the session's peak so far (65.9 N, PSM2's earlier push); the
    page captions each excessive-force picture from the trace: the arm that pushed then
    and that episode's own peak, as the event table does."""
    from scenarios.report import Snapshot

    trace = _trace()
    trace.instruments["PSM2"].tip_force_n[1000:1100] = 65.9  # 1.0-1.1 s
    trace.instruments["PSM1"].tip_force_n[4200] = 14.8  # inside PSM1's 4.0-4.5 s push
    shots = [
        Snapshot(1.05, "excessive_force", "Excessive force (65.9 N peak)", b"\x89PNG"),
        Snapshot(4.1, "excessive_force", "Excessive force (65.9 N peak)", b"\x89PNG"),
    ]
    page = session_report_html(
        title="Peg transfer",
        pseudonym="T001",
        operator="device",
        seed=1,
        result=_result(),
        trace=trace,
        snapshots=shots,
    )
    captions = re.findall(r"<span class='excessive_force'>(.*?)</span>", page)
    assert captions == ["Excessive force: PSM2 65.9 N peak", "Excessive force: PSM1 14.8 N peak"]
    assert "PSM1, 0.50 s, peak 14.8 N" in page  # the event table says the same


def test_without_a_trace_a_force_caption_claims_no_peak():
    from scenarios.report import Snapshot

    shot = Snapshot(4.1, "excessive_force", "Excessive force (65.9 N peak)", b"\x89PNG")
    page = session_report_html(
        title="Peg transfer",
        pseudonym="T001",
        operator="device",
        seed=1,
        result=_result(),
        trace=None,
        snapshots=[shot],
    )
    assert "65.9" not in page and "Excessive force</span>" in page


def test_one_what_happened_heading_and_limits_of_metrics_that_do_not_apply():
    """The event table is "What happened", the pictures "Endoscope snapshots"; a metric
    that does not apply shows the limit set and "does not apply", never "at most n/a";
    the metric table has no empty trailing column (the verdict sits with the pass mark)."""
    from scenarios.report import Snapshot

    scoring = Scoring.model_validate(
        {
            "metrics": {
                "completion_time_s": {"benchmark": {"mean": 8, "sd": 2}},
                "drops": {"limit": 0},
                "needle_entry_error_mm": {"limit": 1},
            },
            "rule": {"kind": "mscore"},
        }
    )
    result = score_session({"completion_time_s": 9.5, "drops": 0}, True, scoring)
    page = session_report_html(
        title="t",
        pseudonym="T001",
        operator="o",
        seed=1,
        result=result,
        trace=_trace(),
        snapshots=[Snapshot(0.0, "start", "Start", b"\x89PNG")],
    )
    assert page.count("<h2>What happened</h2>") == 1
    assert page.count("<h2>Endoscope snapshots</h2>") == 1
    assert "n/a" not in page
    row = re.search(r"<tr><td[^>]*>Needle entry.*?</tr>", page).group(0)
    assert "at most 1 mm" in row and "\u2264 1 mm" in row and "does not apply" in row
    assert "<th></th>" not in page
    drops = re.search(r"<tr><td[^>]*>Drops.*?</tr>", page).group(0)
    assert "\u2264 0</span> · <span class='pass-cell'>pass</span>" in drops


# ---- event durations -----------------------------------------------------------------------
def test_event_durations_add_up_to_the_metrics():
    """An episode with brief gaps (merged: under 0.1 s) lasts the time its condition held,
    as the metric sums rows: the events of a timed metric add up to it, and the span is
    given beside it (out of view 1.03 s over 1.09 s was read as a contradiction)."""
    from scenarios.evaluate import compute_metrics, scored_end
    from scenarios.report_score import DURATION_NOTE, events_html, happenings

    trace = _trace()  # 1000 Hz
    left = trace.instruments["PSM1"]
    left.in_view[5400:5460] = True  # a 60 ms glimpse inside 1 s out of view
    left.tip_force_n[4200:4250] = 1.0  # a 50 ms dip inside 0.5 s of pushing
    metrics = compute_metrics(trace)
    rows = happenings(trace, 2.5, scored_end(trace))

    def total(what):
        found = [h.detail for h in rows if h.what == what]
        assert len(found) == 1  # one episode: the gap is merged
        return sum(float(re.search(r"(\d+\.\d+) s", d).group(1)) for d in found), found[0]

    seconds, detail = total("out of view")
    assert seconds == pytest.approx(metrics["out_of_view_time_s"]) == pytest.approx(0.94)
    assert detail == "PSM1, 0.94 s over 1.00 s"
    seconds, detail = total("excessive force")
    assert seconds == pytest.approx(metrics["excessive_force_time_s"]) == pytest.approx(0.45)
    assert detail.startswith("PSM1, 0.45 s over 0.50 s, peak 4.0 N")
    assert DURATION_NOTE in events_html(trace, 2.5, scored_end(trace))


_MSCORE = {
    "metrics": {
        "completion_time_s": {"benchmark": {"mean": 30, "sd": 5}, "limit": 60},
        "path_length_cm": {"benchmark": {"mean": 50, "sd": 10}, "limit": 55},
        "drops": {"limit": 1},
        "clutch_count": {},
    },
    "rule": {"kind": "mscore", "k_sd": 2},
}


def test_pass_marks_are_the_benchmark_bound_or_the_limit_whichever_is_stricter():
    from scenarios.scoring import pass_marks

    marks = pass_marks(Scoring.model_validate(_MSCORE))
    # 30 + 2 x 5 = 40 s (the limit, 60 s, is looser); 50 + 2 x 10 = 70 cm but the limit 55
    assert marks == {"completion_time_s": 40.0, "path_length_cm": 55.0, "drops": 1.0}


def _progress_rows(n: int) -> list[dict]:
    from scenarios.scoring import pass_marks

    scoring = Scoring.model_validate(_MSCORE)
    return [
        {
            "score": 40.0 + 10 * i,
            "passed": i > 0,
            "metrics": {"completion_time_s": 45.0 - i, "path_length_cm": 60.0, "drops": 0.0},
            "scored_metrics": [m for m in scoring.metrics if scoring.scored(m)],
            "pass_marks": pass_marks(scoring),
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("attempts", [1, 2, 7])
def test_the_attempt_axis_is_whole_numbers_also_for_one_attempt(attempts):
    from scenarios.report import learning_curves_figure

    fig = learning_curves_figure(_progress_rows(attempts))
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 4  # the score and three scored metrics
    for ax in shown:
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), (attempts, ticks)
        assert (lo, hi) == (0.5, attempts + 0.5)


@pytest.mark.parametrize("attempts", [1, 4])
def test_each_mscore_metric_curve_draws_its_pass_mark_across_every_attempt(attempts):
    from scenarios.glossary import info
    from scenarios.report import learning_curves_figure

    fig = learning_curves_figure(_progress_rows(attempts))
    expected = {"completion_time_s": 40.0, "path_length_cm": 55.0, "drops": 1.0}
    for name, mark in expected.items():
        (ax,) = [a for a in fig.axes if a.get_title().startswith(info(name).label)]
        (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "pass mark"]
        x, y = line.get_data()
        assert set(np.asarray(y, dtype=float)) == {mark}, name
        assert (min(x), max(x)) == (0.5, attempts + 0.5), name
        assert ax.get_ylim()[1] > mark  # in view


def test_one_fls_attempt_gets_its_pass_score_line():
    from scenarios.report import learning_curves_figure

    row = {"score": 60.0, "passed": False, "metrics": {"drops": 1.0}, "pass_score": 73.4}
    score_ax = learning_curves_figure([row]).axes[0]
    (line,) = [ln for ln in score_ax.get_lines() if ln.get_label() == "pass score"]
    x, y = line.get_data()
    assert (min(x), max(x)) == (0.5, 1.5) and set(np.asarray(y, dtype=float)) == {73.4}


def test_the_force_note_gives_the_peak_as_the_metrics_table_does():
    """Issue: the note said "peak 4 N" where the table, the events and the snapshot said
    4.5 N (a whole-newton format rounds 4.5 half to even)."""
    from types import SimpleNamespace

    from scenarios.report_score import force_note_html

    force = np.array([0.0, 3.0, 4.5, 3.0, 0.0])
    inst = SimpleNamespace(tip_force_n=force, contact_environment=np.zeros(5, dtype=bool))
    trace = SimpleNamespace(rate_hz=100.0, instruments={"PSM1": inst})
    assert "peak 4.5 N" in force_note_html(trace, 2.5)
    assert "peak 4.5 N" in force_note_html(trace, 5.0)  # below the limit: same format


@pytest.mark.parametrize(
    ("ending", "words"),
    [
        ("crashed", "(recovered after a crash)"),
        ("stopped", "(stopped by the user)"),
        (None, "(not completed)"),
    ],
)
def test_the_headline_says_how_a_session_ended_as_trainee_show_does(ending, words):
    """Issue: a crash-recovered session's report said only "(not completed)"."""
    import dataclasses

    from scenarios.report import _verdict

    result = _result(completion=9.5)
    stopped = dataclasses.replace(result, completed=False, passed=False)
    assert words in _verdict(stopped, ending)


def test_a_session_on_a_machine_that_did_not_keep_up_says_so_above_the_verdict():
    """A probe student's session at 0.52x real time, its window missing 99% of frames, was
    scored with only the small print of the conditions line to say so."""
    from scenarios.report_score import degraded_html

    slow = {
        "loop": {"rate_hz": 500, "overruns": 9000, "real_time_ratio": 0.516},
        "frame_timing": {
            "VIEW": {"frames": 108, "missed_fraction": 0.991},
            "XR": {"frames": 5400, "missed_fraction": 0.004},
        },
    }
    text = degraded_html(slow)
    assert "This machine did not keep up" in text
    assert "ran at 0.52\u00d7 real time" in text and "VIEW display missed 99%" in text
    assert "XR" not in text
    assert degraded_html({"loop": {"real_time_ratio": 0.999}, "frame_timing": {}}) == ""
    assert degraded_html(None) == "" and degraded_html({"loop": {}}) == ""
    page = session_report_html(
        title="Peg transfer",
        pseudonym="T001",
        operator="trainee",
        seed=0,
        result=_result(completion=9.5),
        trace=None,
        conditions=slow,
    )
    assert page.index("did not keep up") < page.index("How the score was computed")


def test_event_details_leave_out_empty_values_and_say_a_timer_never_started():
    """A probe's report read "object outside, arm , reason left_workspace" and "timer
    never-started, elapsed_s None"."""
    from scenarios.report_score import _event_detail

    drop = {"object": "outside", "arm": "", "reason": "left_workspace"}
    assert _event_detail(drop) == "object outside, reason left the workspace"
    stopped = {"timer": "never-started", "elapsed_s": None}
    not_running = "none: it was not running (never started, or stopped already)"
    assert _event_detail(stopped) == f"timer never-started, elapsed_s {not_running}"
    assert _event_detail({"timer": "reach", "elapsed_s": 1.5}) == "timer reach, elapsed_s 1.5"


def test_the_conditions_line_names_a_plug_in_solver_and_filter():
    """Sessions run with different IK solvers looked alike in every report: the solver
    was only in the database."""
    from scenarios.report_score import conditions_html

    line = conditions_html({"ik_solver": "my_plugins:dls", "tremor_filter": "one_euro"})
    assert "IK solver: <b>my_plugins:dls</b>" in line
    assert "tremor filter: <b>one_euro</b>" in line
    assert "IK solver" not in conditions_html({})


# ---- figures' axes -----------------------------------------------------------------------


def test_the_event_timeline_shows_events_at_the_first_and_last_time_inside_the_frame():
    """``following`` at 0 s and ``completed`` at the last row were drawn on the frame
    lines, where a ``|`` mark cannot be seen: the axis has a margin at both ends."""
    import dataclasses

    from scenarios.report import events_figure
    from scenarios.trace import TraceEvent

    trace = _trace()
    end = float(trace.time_s[-1])
    trace = dataclasses.replace(trace, events=[*trace.events, TraceEvent(end, "completed", {})])
    ax = events_figure(trace).axes[0]
    low, high = ax.get_xlim()
    assert low < 0.0 and high > end
    assert 0.0 - low >= 0.01 * end and high - end >= 0.01 * end
    bottom, top = ax.get_ylim()
    assert bottom < 0 and top > len(ax.get_yticks()) - 1  # the top and bottom rows too


def test_learning_curve_ticks_are_the_session_ids_the_table_gives():
    """The n-th point was labelled n under "session" while the table beside it gave
    database ids (point 8 was session 9): both now say the id."""
    from scenarios.report import learning_curves_figure, trainee_report_html
    from scenarios.report_class import class_curves_figure
    from scenarios.standings import Standing

    rows = _progress_rows(8)
    for i, row in enumerate(rows):
        row.update(id=[1, 2, 3, 4, 5, 6, 7, 9][i], scenario="mini", started_at="2026-12-07")
    fig = learning_curves_figure(rows)
    fig.canvas.draw()
    score_ax = fig.axes[0]
    shown = {
        int(t.get_position()[0]): t.get_text() for t in score_ax.get_xticklabels() if t.get_text()
    }
    assert shown[8] == "9" and shown[1] == "1"
    assert score_ax.get_xlabel() == "session (id)"
    page = trainee_report_html("T1", rows, {})
    assert "<th>session</th>" in page and "<td>9</td>" in page
    standing = Standing(
        "T1",
        8,
        0,
        0,
        7,
        0,
        90.0,
        90.0,
        "pass",
        "2026-12-07",
        None,
        0,
        False,
        None,
        "",
        tuple(dict(r, completed=True, why_not=None, rescore=None, pass_score=None) for r in rows),
    )
    fig = class_curves_figure([standing])
    fig.canvas.draw()
    ax = fig.axes[0]
    assert {t.get_text() for t in ax.get_xticklabels()} >= {"1", "9"}
    assert "8" not in {t.get_text() for t in ax.get_xticklabels()}


def test_no_completed_session_draws_no_empty_metric_charts_and_says_why():
    """A scenario with only stopped sessions drew eight empty metric charts (axes
    0-0.10): only the score curve is drawn, and the page says why."""
    from scenarios.report import NO_COMPLETED, learning_curves_figure, trainee_report_html

    rows = _progress_rows(2)
    for i, row in enumerate(rows):
        row.update(completed=False, counts=False, id=i + 1, scenario="mini", started_at="x")
    fig = learning_curves_figure(rows)
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["score (filled: passed)"]
    assert NO_COMPLETED in trainee_report_html("T1", rows, {})
    rows[1]["completed"] = True
    assert len([ax for ax in learning_curves_figure(rows).axes if ax.get_visible()]) == 4
    assert NO_COMPLETED not in trainee_report_html("T1", rows, {})


def test_a_session_stopped_at_0_s_draws_no_empty_path_and_no_negative_speed():
    import dataclasses

    from scenarios.report import NO_MOTION, session_report_html, speed_figure

    trace = _trace()
    ax = speed_figure(trace).axes[0]
    assert ax.get_ylim()[0] == 0.0 and ax.get_ylim()[1] > 0
    still = dataclasses.replace(
        trace,
        time_s=trace.time_s[:1],
        instruments={
            n: dataclasses.replace(
                i,
                **{
                    f.name: getattr(i, f.name)[:1]
                    for f in dataclasses.fields(i)
                    if isinstance(getattr(i, f.name), np.ndarray)
                },
            )
            for n, i in trace.instruments.items()
        },
        events=[],
    )
    page = session_report_html(
        title="mini", pseudonym="T1", operator="device", seed=1, result=_result(), trace=still
    )
    assert page.count(NO_MOTION.format(end=0.0)) == 2  # the trajectory and the speed
    assert 'alt="Tool-tip trajectory"' not in page and 'alt="Event timeline"' in page


def test_the_force_note_names_the_scene_s_own_scenery():
    """A needle report spoke of "the scenery (board, pegs, posts)" and of pressing "into
    the board ... tens of newtons" over a suture pad that gives way: the note names the
    scene's objects and how they answer a push, and is neutral for an unknown scene."""
    from types import SimpleNamespace

    from scenarios.loader import load_scenario
    from scenarios.report_score import force_note_html

    force = np.array([0.0, 3.0, 4.5, 3.0, 0.0])
    inst = SimpleNamespace(tip_force_n=force, contact_environment=np.ones(5, dtype=bool))
    trace = SimpleNamespace(rate_hz=100.0, instruments={"PSM1": inst})

    def note(scenario):
        types = [o.type for o in load_scenario(scenario).scene.objects] if scenario else ()
        return force_note_html(trace, 2.5, types)

    needle = note("needle-handover")
    assert "touching the suture pad" in needle and "gives way like tissue" in needle
    assert "board" not in needle and "pegs" not in needle and "tens of newtons" not in needle
    pegs = note("peg-transfer")
    assert "touching the board and its pegs" in pegs and "tens of newtons" in pegs
    assert "posts" in note("ring-walk")
    neutral = note(None)
    assert "board" not in neutral and "pad" not in neutral and "tens of newtons" not in neutral


def test_the_speed_plot_draws_the_teleoperation_limit_and_says_exactly_what_it_caps():
    """Tips reached 0.25 m/s on a plot with no limit drawn, while the docs said they
    follow at most 200 mm/s: the limit is drawn, in view, and the note gives its carry."""
    from scenarios.report import session_report_html, speed_figure

    trace = _trace()
    ax = speed_figure(trace, 0.2).axes[0]
    (line,) = [ln for ln in ax.get_lines() if "speed limit" in ln.get_label()]
    assert set(np.asarray(line.get_ydata(), dtype=float)) == {20.0}  # cm/s
    assert "200 mm/s" in line.get_label() and ax.get_ylim()[1] > 20.0
    assert not [ln for ln in speed_figure(trace).axes[0].get_lines() if "limit" in ln.get_label()]
    teleop = {"max_tip_speed_m_s": 0.2, "limit_carry_s": 0.01}
    page = session_report_html(
        title="mini", pseudonym="T1", operator="novice", seed=1, result=_result(),
        trace=trace, conditions={"teleop": teleop},
    )  # fmt: skip
    assert "speed limit, 200 mm/s" in page and "0.2 m/s \u00d7 (T + 0.01 s)" in page
    plain = session_report_html(
        title="mini", pseudonym="T1", operator="novice", seed=1, result=_result(), trace=trace
    )
    assert "speed limit, 200 mm/s" not in plain  # a controller's session: no teleoperation


def test_a_value_stays_on_one_line_with_its_unit():
    """The metric table broke "0.406 N" between the number and its unit in a narrow
    column: values, benchmarks and pass marks are kept whole, and so is the progress
    table's date."""
    from scenarios.report import _STYLE, trainee_report_html
    from scenarios.report_score import metric_table_html

    assert ".q{white-space:nowrap}" in _STYLE
    table = metric_table_html(_result())
    assert "<span class='q'>9.5 s</span>" in table  # the value
    assert "<span class='q'>8 s</span> \u00b1 <span class='q'>2 s</span>" in table
    assert "<span class='q'>\u2264 0</span>" in table  # drops' limit
    rows = _progress_rows(1)
    rows[0].update(id=1, scenario="mini", started_at="2026-12-07 11:54")
    assert "<td class='q'>2026-12-07 11:54</td>" in trainee_report_html("T1", rows, {})


def test_a_stopped_sessions_rescore_says_it_is_not_counted_not_another_rubric():
    """A stopped session re-scored under the current rubric read "under another rubric:
    not judged by it" in trainee show and on the progress page."""
    from scenarios.report import rescore_text

    latest = {"score": 61.5, "passed": False}
    stopped = {"rescore": None, "latest_rescore": latest, "why_not": "stopped"}
    assert rescore_text(stopped) == "61.5 FAIL (the session is stopped: not counted)"
    other = {"rescore": None, "latest_rescore": latest, "why_not": "other rubric"}
    assert rescore_text(other) == "61.5 FAIL, under another rubric: not judged by it"


def test_a_headsets_stored_frame_timing_reads_as_the_terminal_did():
    """A headset's stored session says its missed display slots (the terminal's "paced
    415, missed 154") and its late frames, labelled; a desktop window's still reads in
    frames. A probe student's report said "24.7% of 255 frames missed" (the late ones)."""
    from scenarios.report_score import degraded_html, frame_timing_label

    xr = {"frames": 260, "missed": 100, "missed_fraction": 0.38, "paced": 415,
          "missed_slots": 154, "missed_slots_fraction": 154 / 415, "late": 65,
          "frame_period_s_p50": 0.1, "frame_period_s_p99": 0.296}  # fmt: skip
    label = frame_timing_label("XR", xr)
    assert "154 of 415 display slots missed (37.1%)" in label
    assert "65 of 260 frames late" in label and "frames missed" not in label
    view = {"frames": 5400, "missed_fraction": 0.004, "frame_period_s_p50": 0.0167}
    assert frame_timing_label("VIEW", view).endswith("0.4% of 5400 frames missed")
    slow = {**xr, "missed_slots": 300, "missed_slots_fraction": 300 / 415}
    assert "XR display missed 72% of its display slots" in degraded_html(
        {"frame_timing": {"XR": slow}}
    )
