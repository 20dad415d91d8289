"""Metrics from a session trace: known signals in, known values out; save/load round trip."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from scenarios.evaluate import compute_metrics
from scenarios.trace import InstrumentTrace, SessionTrace, TraceEvent

FS = 1000.0


def _instrument(n, path, master=True):
    z = np.zeros(n, bool)
    return InstrumentTrace(
        tip_position_m=path,
        jaw_rad=np.zeros(n),
        master_position_m=path * 5 if master else np.full((n, 3), np.nan),
        clutch=z.copy(),
        tip_force_n=np.zeros(n),
        in_view=np.ones(n, bool),
        contact_object=z.copy(),
        contact_instrument=z.copy(),
        contact_environment=z.copy(),
    )


def _trace(graspable=("ring1",)):
    n = 10_000
    t = np.arange(n) / FS
    a = np.zeros((n, 3))
    a[1000:3000, 0] = 0.05 * (1 - np.cos(np.linspace(0, np.pi, 2000)))  # smooth 10 cm, 2 s
    a[3000:, 0] = 0.1
    b = np.zeros((n, 3))
    b[:, 1] = 0.05
    left, right = _instrument(n, a), _instrument(n, b)
    left.tip_force_n[4000:4500] = 4.0
    left.in_view[5000:6000] = False
    left.contact_environment[7000:7100] = True
    left.contact_instrument[8000:8050] = True
    right.contact_instrument[8000:8050] = True
    left.clutch[9000:9100] = True
    events = [
        TraceEvent(0.0, "following", {"arm": "PSM1"}),
        TraceEvent(2.0, "grasp", {"object": "ring1"}),
        TraceEvent(3.5, "drop", {"object": "ring1"}),
        TraceEvent(6.0, "needle_entry", {"distance_m": 0.002}),
        TraceEvent(9.0, "clutched", {"arm": "PSM1", "detail": "clutch pressed"}),
        TraceEvent(9.1, "following", {"arm": "PSM1"}),
    ]
    return SessionTrace(FS, t, {"PSM1": left, "PSM2": right}, events, True, 9.5, list(graspable))


def test_a_withdrawn_needle_counts_as_a_withdrawal_not_an_exit():
    """In, drawn back out through the entry wound, in again, out at the exit mark: the
    withdrawal is counted on its own, the second puncture is an entry like the first, and
    the exit error is the one real exit's distance."""
    needle = [
        TraceEvent(4.2, "needle_entry", {"distance_m": 0.001}),
        TraceEvent(4.5, "needle_withdrawal", {"mark": "entry0", "distance_m": 0.0008}),
        TraceEvent(4.9, "needle_entry", {"distance_m": 0.0006}),
        TraceEvent(7.3, "needle_exit", {"distance_m": 0.0002}),
    ]
    m = compute_metrics(dataclasses.replace(_trace(), events=needle))
    assert m["needle_withdrawals"] == 1
    assert m["needle_entry_error_mm"] == pytest.approx(0.8)
    assert m["needle_exit_error_mm"] == pytest.approx(0.2)


def test_needle_withdrawals_exist_only_where_a_needle_went_in():
    m = compute_metrics(dataclasses.replace(_trace(), events=[]))
    assert "needle_withdrawals" not in m


def test_metrics_of_a_known_trace():
    m = compute_metrics(_trace())
    assert m["completion_time_s"] == 9.5
    assert m["path_length_cm[PSM1]"] == pytest.approx(10.0) and m[
        "path_length_cm"
    ] == pytest.approx(10.0)
    assert m["excessive_force_time_s"] == pytest.approx(0.5) and m["peak_force_n"] == 4.0
    assert m["out_of_view_time_s"] == pytest.approx(1.0)
    assert (
        m["environment_collisions"] == 1
        and m["instrument_collisions"] == 1
        and m["collisions"] == 2
    )
    assert m["clutch_count"] == 1 and m["drops"] == 1 and m["movements"] == 1
    assert m["needle_entry_error_mm"] == pytest.approx(2.0)
    assert "needle_exit_error_mm" not in m and m["needle_withdrawals"] == 0
    # the cosine move is faster than 5 mm/s except its first and last asin(0.005/v_peak) part
    v_peak = 0.05 * np.pi / 2
    moving_s = 2.0 - 2 * (2 / np.pi) * np.arcsin(0.005 / v_peak)
    assert m["idle_time_s"] == pytest.approx(9.5 - moving_s, abs=0.003)
    assert "ldlj" in m and "sparc" in m and m["tremor_rms_um"] < 10.0  # no tremor added


def test_metrics_that_do_not_apply_are_absent():
    trace = _trace(graspable=())
    for inst in trace.instruments.values():
        inst.master_position_m[:] = np.nan
    m = compute_metrics(trace)
    for absent in ("drops", "tremor_rms_um", "clutch_count", "master_workspace_range_cm"):
        assert absent not in m


def test_a_scope_alone_has_no_out_of_view_time():
    trace = _trace(graspable=())
    scope = trace.instruments.pop("PSM1")
    trace.instruments.clear()
    trace.instruments["ECM"] = dataclasses.replace(scope, kind="ecm")
    for k, e in enumerate(trace.events):  # the scope's own clutch press
        if e.data.get("arm") == "PSM1":
            trace.events[k] = TraceEvent(e.time_s, e.kind, {**e.data, "arm": "ECM"})
    m = compute_metrics(trace)
    assert "out_of_view_time_s" not in m and "drops" not in m
    assert m["environment_collisions"] == 1
    assert m["path_length_cm[ECM]"] == pytest.approx(10.0) and m["clutch_count"] == 1


def test_save_and_load_round_trip(tmp_path):
    trace = _trace()
    path = trace.save(tmp_path / "s.npz")
    back = SessionTrace.load(path)
    assert back.events == trace.events and back.completion_time_s == 9.5
    np.testing.assert_array_equal(
        back.instruments["PSM1"].tip_position_m, trace.instruments["PSM1"].tip_position_m
    )
    assert compute_metrics(back) == compute_metrics(trace)


def test_held_object_touching_the_scenery_counts_once_per_episode():
    trace = _trace()
    assert "held_object_collisions" not in compute_metrics(trace)  # not recorded: absent
    n = len(trace.time_s)
    left, right = trace.instruments["PSM1"], trace.instruments["PSM2"]
    left.contact_held_environment = np.zeros(n, bool)
    right.contact_held_environment = np.zeros(n, bool)
    left.contact_held_environment[2000:2200] = True
    left.contact_held_environment[4000:4100] = True  # a handover: both hold the ring
    right.contact_held_environment[4000:4100] = True
    m = compute_metrics(trace)
    assert m["held_object_collisions"] == 2
    assert m["collisions"] == 2  # instrument collisions are counted apart


@pytest.mark.parametrize("rows", [0, 1, 2])
@pytest.mark.parametrize("completed", [False, True])
def test_a_session_that_stopped_at_once_still_scores(rows, completed):
    path = np.zeros((rows, 3))
    trace = SessionTrace(
        FS,
        np.arange(rows) / FS,
        {"PSM1": _instrument(rows, path), "PSM2": _instrument(rows, path)},
        [],
        completed,
        0.0 if completed else None,
        ["ring1"],
    )
    m = compute_metrics(trace)
    assert m["completion_time_s"] == (0.0 if completed or rows < 2 else 1 / FS)
    assert m["path_length_cm"] == 0.0 and m["collisions"] == 0.0 and m["drops"] == 0.0
    assert all(np.isfinite(v) for v in m.values())


def test_clutch_presses_are_the_operators_presses_while_following():
    """A press is teleoperation's ``clutched`` event while the arm follows (the hand
    repositioned). The trace's ``clutch`` column ("does not follow") also turned on for
    every watchdog hold, and a desktop device taps the clutch itself while an arm aligns
    or holds: a probe student who pressed nothing read 53 presses on a busy machine."""
    trace = _trace(graspable=())
    assert compute_metrics(trace)["clutch_count"] == 1  # the press at 9 s

    def events(*more):
        return dataclasses.replace(trace, events=[*trace.events, *more])

    def at(t, kind, arm="PSM1"):
        return TraceEvent(t, kind, {"arm": arm})

    # a hold and the device's own taps (aligning, holding): no press
    held = events(at(9.2, "holding"), at(9.3, "aligning"), at(9.31, "clutched"),
                  at(9.32, "aligning"), at(9.4, "following"))  # fmt: skip
    assert compute_metrics(held)["clutch_count"] == 1
    # a second press while following counts; one of an arm without a master does not
    more = events(at(9.5, "clutched"), at(9.6, "following"), at(9.0, "following", "PSM3"),
                  at(9.1, "clutched", "PSM3"))  # fmt: skip
    assert compute_metrics(more)["clutch_count"] == 2
    trace.instruments["PSM1"].master_position_m[:] = np.nan  # no master drove it
    trace.instruments["PSM2"].master_position_m[:] = np.nan
    assert "clutch_count" not in compute_metrics(trace)


def test_a_slow_reach_has_a_sparc_and_a_still_tool_has_none():
    """Smoothness was measured only on tips that once went faster than 1 cm/s: a reach
    crawled at 0.8 cm/s had none, and a rubric benchmarking it passed the crawl while
    failing the same reach done briskly. Any tip that travelled 5 mm now has a SPARC; a
    tip that stayed put (the simulation's nanometre jitter) still has none."""
    n = 8000
    t = np.arange(n) / FS
    crawl = np.zeros((n, 3))
    profile = 1 - np.cos(np.linspace(0, np.pi, 6000))  # a smooth 6 s reach...
    crawl[1000:7000, 0] = 0.02 * profile  # ...of 4 cm, at most 1.05 cm/s
    crawl[7000:, 0] = 0.04
    crawl[:, 0] *= 0.75  # at most 0.79 cm/s
    still = np.random.default_rng(4020).normal(0.0, 1e-10, (n, 3))
    tools = {"PSM1": _instrument(n, crawl), "PSM2": _instrument(n, still)}
    m = compute_metrics(SessionTrace(FS, t, tools, [], True, 7.5, []))
    assert m["sparc"] == pytest.approx(_reach_sparc(crawl[:7501]), abs=1e-9)  # PSM1's, to 7.5 s
    # LDLJ only above the movement speed: it divides by the peak speed squared, and on a
    # slow reach the simulation's nanometre noise outweighs the motion
    assert "ldlj" not in m
    tools = {"PSM1": _instrument(n, still), "PSM2": _instrument(n, still.copy())}
    assert "sparc" not in compute_metrics(SessionTrace(FS, t, tools, [], True, 7.5, []))


def _reach_sparc(path: np.ndarray) -> float:
    from scenarios import metrics as M

    return M.sparc(M.speed_profile(path, FS), FS)


def _reach_trace(fs, *reaches):
    """A session where each instrument makes one 5 cm minimum-jerk reach, given as
    ``(rest_s, duration_s)``: stillness, the reach, the same stillness again."""
    from tests.scenarios.test_metrics import min_jerk_reach

    paths = [min_jerk_reach(fs, rest_s, duration_s=d) for rest_s, d in reaches]
    insts = {f"PSM{k + 1}": _instrument(len(p), p, master=False) for k, p in enumerate(paths)}
    return SessionTrace(fs, np.arange(len(paths[0])) / fs, insts, [], False, None, [])


@pytest.mark.parametrize("fs", [50.0, 100.0, 500.0])
def test_ldlj_is_the_movements_not_the_sessions_length(fs):
    """LDLJ was taken over every row up to completion, rests included, so it fell by
    ~3 ln T with the motion unchanged: one reach read -5.22 alone and -12.49 with 5 s of
    rest around it. It is now each movement's, with that movement's duration and peak
    speed: the same reach reads the same with any rest, at any record rate, and close to
    the analytic minimum-jerk value."""
    analytic = -math.log(720 / 1.875**2)  # -5.32
    alone, rested, long_rest = (
        compute_metrics(_reach_trace(fs, (rest, 1.0)))["ldlj"] for rest in (0.0, 0.5, 5.0)
    )
    assert rested == pytest.approx(long_rest, abs=1e-9)
    assert alone == pytest.approx(rested, abs=0.3)  # the trace starts mid-step at 0 s rest
    assert rested == pytest.approx(analytic, abs=0.1)


def test_ldlj_pools_every_instruments_movements_weighted_by_duration():
    from scenarios import metrics as M

    fs = 100.0
    trace = _reach_trace(fs, (1.0, 1.0), (0.5, 2.0))  # 3 s each, the second reach slower
    per_tool = [
        M.movement_ldlj(M.speed_profile(i.tip_position_m, fs), fs)
        for i in trace.instruments.values()
    ]
    durations = np.concatenate([d for d, _ in per_tool])
    values = np.concatenate([v for _, v in per_tool])
    assert durations == pytest.approx([1.02, 2.02])
    m = compute_metrics(trace)
    assert m["ldlj"] == pytest.approx(np.average(values, weights=durations), abs=1e-12)
    assert m["movements"] == 2


def test_a_nan_tip_position_makes_its_metrics_nan_not_absent():
    # one damaged row made path length, idle time, movements, LDLJ and SPARC vanish from
    # the result ("does not apply"), and the score went on without them
    trace = _trace()
    trace.instruments["PSM1"].tip_position_m[500] = np.nan
    m = compute_metrics(trace)
    for name in ("path_length_cm", "path_length_cm[PSM1]", "idle_time_s", "movements"):
        assert np.isnan(m[name]), name
    assert np.isnan(m["ldlj"]) and np.isnan(m["sparc"])
    assert m["path_length_cm[PSM2]"] == pytest.approx(0.0) and m["completion_time_s"] == 9.5


def test_a_nan_tip_force_makes_the_force_metrics_nan():
    # max(0.0, nan) read a 4 N push with one NaN sample as a peak of 0 N
    trace = _trace()
    trace.instruments["PSM1"].tip_force_n[4100] = np.nan
    m = compute_metrics(trace)
    assert np.isnan(m["excessive_force_time_s"]) and np.isnan(m["peak_force_n"])
    assert m["path_length_cm"] == pytest.approx(10.0)


def test_scoring_a_damaged_trace_is_refused_naming_the_column():
    from scenarios.errors import ScenarioError
    from scenarios.evaluate import score_trace
    from scenarios.loader import load_scenario
    from tests.scenarios.traces import scenario_trace

    scenario = load_scenario("peg-transfer")
    trace = scenario_trace(scenario, 60.0)
    clean, result = score_trace(scenario, trace)
    assert np.isfinite(list(clean.values())).all() and result.score > 0
    trace.instruments["PSM1"].tip_position_m[500] = np.nan
    with pytest.raises(ScenarioError, match=r"cannot be scored on .*path_length_cm") as err:
        score_trace(scenario, trace)
    assert "PSM1's tip_position_m has 1 row(s)" in str(err.value) and "5.00 s" in str(err.value)


def _jump_back(t):
    t[5000:] -= 0.5


def _repeat(t):
    t[5000:] = t[4999:-1].copy()


def _nan(t):
    t[5000] = np.nan


def _stretched(t):
    t *= 2.0


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (_jump_back, "does not increase at row 5000"),
        (_repeat, "does not increase at row 5000"),
        (_nan, "not finite"),
        (_stretched, r"span 19\.998 s"),
    ],
)
def test_a_time_column_out_of_order_is_refused_when_scored_or_loaded(tmp_path, damage, said):
    # a 0.5 s jump back read 4.5 s of completion for 5 s of rows, repeated stamps 2.5 s
    from scenarios.errors import ScenarioError

    trace = _trace()
    trace.completed = False
    damage(trace.time_s)
    with pytest.raises(ScenarioError, match=said):
        compute_metrics(trace)
    path = trace.save(tmp_path / "damaged.npz")
    with pytest.raises(ScenarioError, match=r"damaged\.npz' cannot be scored"):
        SessionTrace.load(path)


def _cut_path(trace):
    trace.instruments["PSM1"].tip_position_m = trace.instruments["PSM1"].tip_position_m[:3000]


def _cut_force(trace):
    trace.instruments["PSM2"].tip_force_n = trace.instruments["PSM2"].tip_force_n[:100]


def _flat_path(trace):
    trace.instruments["PSM1"].tip_position_m = trace.instruments["PSM1"].tip_position_m[:, :2]


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (_cut_path, r"PSM1's tip_position_m has 3000 row\(s\), not the 10000 of its time"),
        (_cut_force, r"PSM2's tip_force_n has 100 row\(s\), not the 10000"),
        (_flat_path, r"PSM1's tip_position_m has rows of shape \(2,\), not \(3,\)"),
    ],
)
def test_a_column_not_one_row_per_time_stamp_is_refused_when_scored_or_loaded(
    tmp_path, damage, said
):
    # a tip path cut to 300 of 1174 rows read 20 cm for 61 cm and re-scored as a pass
    from scenarios.errors import ScenarioError

    trace = _trace()
    damage(trace)
    with pytest.raises(ScenarioError, match=said):
        compute_metrics(trace)
    path = trace.save(tmp_path / "cut.npz")
    with pytest.raises(ScenarioError, match=r"cut\.npz' cannot be scored: " + said):
        SessionTrace.load(path)


@pytest.mark.parametrize("completion_s", [np.nan, -1.0, 100.0])
def test_a_completion_time_that_cannot_be_is_refused(completion_s):
    # NaN dropped the completion time (FLS then scored 0), -1 s and 100 s (rows end at
    # 10 s) were reported as measured
    from scenarios.errors import ScenarioError

    trace = _trace()
    trace.completion_time_s = completion_s
    with pytest.raises(ScenarioError, match="completion time"):
        compute_metrics(trace)
