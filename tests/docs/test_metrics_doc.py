"""The methods page (docs/metrics.md) names every metric and states the parameters the
code uses: a researcher cites it instead of reading the code, so it must not drift."""

from __future__ import annotations

import inspect
from pathlib import Path

from scenarios import metrics as M
from scenarios.evaluate import SMOOTHNESS_MIN_PATH_M
from scenarios.glossary import METRICS
from scenarios.live import MERGE_GAP_S

PAGE = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _defaults(function) -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(function).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def test_every_metric_is_on_the_page():
    text = PAGE.read_text()
    missing = [name for name in METRICS if f"`{name}" not in text]
    assert missing == []


def test_the_page_states_the_codes_parameters():
    text = " ".join(PAGE.read_text().split())  # line breaks as spaces
    sparc = _defaults(M.sparc)
    assert (sparc["pad_level"], sparc["cutoff_hz"], sparc["amplitude_threshold"]) == (4, 10.0, 0.05)
    assert "⌈log₂ N⌉ + 4" in text and "up to 10 Hz" in text and "≥ 0.05" in text
    assert SMOOTHNESS_MIN_PATH_M == 0.005 and "at least 5 mm" in text
    tremor = _defaults(M.tremor_rms_m)
    assert tremor == {
        "band_hz": (6.0, 16.0),
        "still_speed_m_s": 0.02,
        "min_still_s": 1.0,
        "still_margin_s": 0.2,
    }
    for said in ("band-pass 6-16 Hz", "below 2 cm/s", "within 0.2 s", "at least 1 s"):
        assert said in text
    assert _defaults(M.workspace_range_m)["percentile"] == 95.0 and "95th percentile" in text
    assert MERGE_GAP_S == 0.1 and "at most 0.1 s" in text
