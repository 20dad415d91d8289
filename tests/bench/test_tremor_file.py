"""``surgisim bench tremor-file``: the filters on a researcher's own recording, with the
same metrics as ``bench tremor``; the loader's refusals each say file, place and fix."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from bench.tremor import SETTLE_S
from bench.tremor_file import run_tremor_file
from haptics.errors import HapticsError
from haptics.tremor import make_filter
from haptics.tremor.metrics import attenuation_db, lag_ms, rms_error_m
from haptics.tremor.recording import load_recording
from haptics.tremor.sets import make_traces
from sim.cli import app

RATE_HZ = 250.0
AVERAGE = "tests.user_plugins:moving_average"


def _write_csv(path, header: str, *columns: np.ndarray) -> None:
    np.savetxt(path, np.column_stack(columns), delimiter=",", header=header, comments="")


def _times(n: int, rate_hz: float = RATE_HZ) -> np.ndarray:
    return np.arange(n) / rate_hz


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=140)


@pytest.fixture(scope="module")
def tremor_trace():
    """(voluntary, measured) of one synthetic 8 s trace at 250 Hz, seed 4100."""
    return make_traces("broadband", 1, 8.0, 4100, RATE_HZ)[0]


def test_truth_columns_give_the_attenuation_the_metrics_give_directly(tmp_path, tremor_trace):
    voluntary, measured = tremor_trace
    csv = tmp_path / "synthetic.csv"
    _write_csv(csv, "t,x,y,z,vx,vy,vz", _times(len(measured)), measured, voluntary)
    payload = run_tremor_file(load_recording(csv), json_path=None, console=_quiet())
    by_name = {r["filter"]: r for r in payload["results"]}

    skip = int(SETTLE_S * RATE_HZ)
    out = make_filter("default", RATE_HZ).filter(measured)
    expected = attenuation_db(measured[skip:], out[skip:], voluntary[skip:], RATE_HZ)
    assert by_name["default"]["attenuation_db"] == pytest.approx(expected, rel=1e-12)
    assert by_name["default"]["lag_ms"] == pytest.approx(
        lag_ms(out[skip:], voluntary[skip:], RATE_HZ), rel=1e-12
    )
    assert by_name["default"]["rms_error_um"] == pytest.approx(
        rms_error_m(out[skip:], voluntary[skip:]) * 1e6, rel=1e-12
    )
    assert by_name["none"]["attenuation_db"] == 0.0
    assert by_name["default"]["attenuation_db"] > 3.0
    assert payload["voluntary"]["from"] == "truth columns"
    assert payload["measured_s"] == pytest.approx(6.0)


def test_the_estimate_of_a_tremor_free_slow_motion_leaves_none_at_zero_db_and_small_error(
    tmp_path,
):
    t = _times(int(10 * RATE_HZ))
    slow = 0.01 * np.column_stack([np.sin(2 * np.pi * 0.3 * t), np.cos(2 * np.pi * 0.2 * t), t])
    path = tmp_path / "slow.npy"
    np.save(path, slow)
    out = tmp_path / "r.json"
    payload = run_tremor_file(load_recording(path, RATE_HZ), json_path=out, console=_quiet())
    none = next(r for r in payload["results"] if r["filter"] == "none")
    assert none["attenuation_db"] == 0.0
    assert abs(none["lag_ms"]) < 1.0
    assert none["rms_error_um"] < 5.0  # of a 1 cm motion
    written = json.loads(out.read_text())
    assert written["voluntary"]["from"] == "estimate" and written["voluntary"]["cutoff_hz"] == 2.0
    assert "ESTIMATE" in written["voluntary"]["note"]
    assert written["measured_s"] == pytest.approx(7.0)  # the estimate's last 1 s left out
    assert written["end_left_out_s"] == 1.0


@pytest.mark.parametrize("header", ["t,x,y,z", "time_s,x_m,y_m,z_m"])
def test_a_time_column_gives_the_rate(tmp_path, header):
    rng = np.random.default_rng(4101)
    path = tmp_path / "timed.csv"
    _write_csv(path, header, _times(500, 400.0) + 3.0, rng.normal(size=(500, 3)) * 1e-3)
    recording = load_recording(path)
    assert recording.rate_hz == pytest.approx(400.0)
    assert recording.rate_from == "time column" and recording.voluntary_m is None
    assert recording.positions_m.shape == (500, 3)


def _bad(tmp_path, case: str):
    """(path, rate_hz) of a bad recording of kind ``case``."""
    rng = np.random.default_rng(4102)
    xyz = rng.normal(size=(3000, 3)) * 1e-4
    if case == "missing":
        return tmp_path / "nowhere.csv", None
    if case == "shape":
        np.save(tmp_path / "flat.npy", xyz[:, :2])
        return tmp_path / "flat.npy", RATE_HZ
    if case == "nan_npy":
        xyz[17, 1] = np.nan
        np.save(tmp_path / "nan.npy", xyz)
        return tmp_path / "nan.npy", RATE_HZ
    path = tmp_path / f"{case}.csv"
    t = _times(len(xyz))
    if case == "nan_csv":
        _write_csv(path, "t,x,y,z", t, xyz)
        lines = path.read_text().splitlines()
        lines[5] = lines[5].rsplit(",", 1)[0] + ",nan"  # row 4, line 6
        path.write_text("\n".join(lines) + "\n")
    elif case == "uneven":
        t[100:] += 0.5 / RATE_HZ
        _write_csv(path, "t,x,y,z", t, xyz)
    elif case == "no_rate":
        _write_csv(path, "x,y,z", xyz)
    elif case == "columns":
        _write_csv(path, "t,x,y,q", t, xyz)
    elif case == "short":
        _write_csv(path, "t,x,y,z", t[:600], xyz[:600])
    elif case == "band":
        _write_csv(path, "t,x,y,z", _times(1000, 25.0), xyz[:1000])
    return path, None


@pytest.mark.parametrize(
    "case, said",
    [
        ("missing", ["nowhere.csv: no such file", ".npy of shape (N, 3)"]),
        ("shape", ["flat.npy", "shape (3000, 2)", "expected (N, 3)"]),
        ("nan_npy", ["nan.npy: row 17 is not finite"]),
        ("nan_csv", ["nan_csv.csv:6:4: row 4 has 'nan' in column 'z'"]),
        ("uneven", ["uneven.csv:102:", "row 99 to 100", "resample"]),
        ("no_rate", ["no_rate.csv", "--rate-hz"]),
        ("columns", ["columns.csv:1:4: unknown column 'q'"]),
        ("short", ["short.csv: too short", "without the 2 s warm-up and the last 1 s", "need at"]),
        ("band", ["band.csv at 25 Hz", "Nyquist frequency 12.5 Hz", "Lower --band-hz"]),
    ],
)
def test_each_bad_recording_is_refused_with_what_and_where(tmp_path, case, said):
    path, rate_hz = _bad(tmp_path, case)
    with pytest.raises(HapticsError) as caught:
        run_tremor_file(load_recording(path, rate_hz), json_path=None, console=_quiet())
    for words in said:
        assert words in str(caught.value)


def test_the_command_says_a_bad_recording_in_one_line_not_a_traceback(tmp_path):
    path, _ = _bad(tmp_path, "short")
    result = CliRunner().invoke(app, ["bench", "tremor-file", str(path)])
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output


def test_a_plug_in_is_in_the_table_and_filters_above_nyquist_are_refused(tmp_path, tremor_trace):
    _, measured = tremor_trace
    path = tmp_path / "hand.npy"
    np.save(path, measured[::10])  # 25 Hz: the band-stop's 13 Hz is above Nyquist
    out = tmp_path / "r.json"
    args = ["bench", "tremor-file", str(path), "--rate-hz", "25", "--band-hz", "4", "10"]
    result = CliRunner().invoke(app, [*args, "--filter", AVERAGE, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert AVERAGE in " ".join(result.output.split()).replace(" ", "")
    assert "ESTIMATE" in result.output
    by_name = {r["filter"]: r for r in json.loads(out.read_text())["results"]}
    assert by_name[AVERAGE]["lag_ms"] > 0.0 and by_name[AVERAGE]["faults"] == 0
    assert "Nyquist" in by_name["bandstop"]["refused"]
    assert "attenuation_db" in by_name["none"]


def test_millimetres_and_milliseconds_are_refused_with_the_likely_unit_and_the_fix(tmp_path):
    """Positions in mm gave 0.04 dB and blamed the filter; a time column in ms gave
    "at 0.5 Hz ... lower --band-hz". A hand on a master spans well under 1 m, moves under
    2 m/s, and a tremor recording samples at over 20 Hz."""
    _, measured = make_traces("broadband", 1, 4.0, 5105, RATE_HZ)[0]
    t = _times(len(measured))
    metres, mm, ms = (tmp_path / f"{n}.csv" for n in ("m", "mm", "ms"))
    _write_csv(metres, "t,x,y,z", t, measured)
    _write_csv(mm, "t,x,y,z", t, 1000 * measured)
    _write_csv(ms, "t,x,y,z", 1000 * t, measured)
    assert load_recording(metres).rate_hz == RATE_HZ  # a real hand in metres and seconds
    with pytest.raises(HapticsError, match="Millimetres\\? Positions are in metres: divide"):
        load_recording(mm)
    with pytest.raises(HapticsError, match="Millimetres\\?"):  # no time column, rate given
        np.save(tmp_path / "mm.npy", 1000 * measured)
        load_recording(tmp_path / "mm.npy", RATE_HZ)
    with pytest.raises(HapticsError) as raised:
        load_recording(ms)
    said = str(raised.value)
    assert "a rate of 0.25 Hz" in said and "Milliseconds? The time column is in seconds" in said
    assert "(a rate of 250 Hz)" in said
    # accepted as they are when asked
    assert load_recording(mm, check_units=False).rate_hz == RATE_HZ
    result = CliRunner().invoke(app, ["bench", "tremor-file", str(ms)])
    assert result.exit_code == 2 and "Milliseconds?" in result.output
    assert "--no-unit-check" in " ".join(result.output.split())


def test_a_hand_held_still_in_millimetres_and_a_slow_file_in_seconds_get_the_right_hint(
    tmp_path,
):
    """A postural tremor recording (the hand held still 10 cm out, 0.1 mm of 10 Hz
    tremor) in millimetres spans and moves little enough to pass as metres; every filter
    then failed on "beyond 100 m", no word of millimetres. A 10 Hz file in seconds was
    told "Milliseconds? ... a rate of 10000 Hz", faster than any hand device."""
    rng = np.random.default_rng(5106)
    t = np.arange(4000) / 1000.0
    tremor = 1e-4 * np.sin(2 * np.pi * 10.0 * t)[:, None] * rng.normal(size=3)
    still_m = np.array([0.01, 0.02, 0.1]) + tremor
    metres, mm, slow = (tmp_path / f"{n}.csv" for n in ("m", "mm", "slow"))
    _write_csv(metres, "t,x,y,z", t, still_m)
    _write_csv(mm, "t,x,y,z", t, 1000 * still_m)
    _write_csv(slow, "t,x,y,z", t[:40] * 100.0, still_m[:40])  # 10 Hz, in seconds
    assert load_recording(metres).rate_hz == 1000.0
    with pytest.raises(HapticsError, match=r"from the origin.*Millimetres\?"):
        load_recording(mm)
    result = CliRunner().invoke(app, ["bench", "tremor-file", str(slow)])
    assert result.exit_code == 2 and "Nyquist" in result.output, result.output
    assert "Milliseconds?" not in result.output


def test_the_end_is_every_benchmark_s_a_busy_machine_is_said_and_the_json_framed(
    monkeypatch, tmp_path, tremor_trace
):
    """It wrote its JSON directly: "machine busy at the end" was never said."""
    import os

    from bench import report

    cpus = os.cpu_count() or 1
    monkeypatch.setattr(report.os, "getloadavg", lambda: (cpus + 2.0, 0.0, 0.0))
    voluntary, measured = tremor_trace
    csv = tmp_path / "synthetic.csv"
    _write_csv(csv, "t,x,y,z,vx,vy,vz", _times(len(measured)), measured, voluntary)
    text = io.StringIO()
    out = tmp_path / "tf.json"
    payload = run_tremor_file(
        load_recording(csv), json_path=out, console=Console(file=text, width=140)
    )
    assert "machine busy at the end" in text.getvalue() and "Bars" not in text.getvalue()
    written = json.loads(out.read_text())
    assert written["benchmark"] == payload["benchmark"] == "tremor_file"
    assert written["bars"] == payload["bars"] == [] and written["machine"]["load_avg_1m_end"]
