"""Reports render real figures and the numbers the scorer produced."""

from __future__ import annotations

import base64
import csv
import io
import re

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
    assert "FAIL" in html_text and "completion_time_s" in html_text and "8 ± 2" in html_text
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
            "consecutive_passes": 2,
            "required_consecutive": 2,
            "required_total": 2,
            "attempts": 4,
        }
    }
    page = trainee_report_html("T001", sessions, proficiency)
    assert "Progress of T001" in page and "proficient" in page and "data:image/png" in page
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
    assert len(rows) == 5 and rows[1][7:] == ["90", "1.0"]
