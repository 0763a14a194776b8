"""The ``sleeplm`` command line: thin, JSON on request, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from sleeplm.app.cli import app

runner = CliRunner()


def test_inspect_json_reports_mapping_and_annotations(make_edf) -> None:
    fs = 100.0
    x = np.sin(np.arange(int(90 * fs)) / 3.0)
    path = make_edf("n.edf", {"C3-M2": (x, fs, "uV"), "EKG": (x, fs, "mV")},
                    annotations=[(0, 60, "Sleep stage W"), (60, 30, "Sleep stage N3"), (70, 12, "Hypopnea")])
    result = runner.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["sleeplm_channels"]["EEG_C3"]["labels"] == ["C3-M2"]
    assert report["sleeplm_channels"]["ECG"]["labels"] == ["EKG"]
    assert "EEG_C4" in report["missing"]
    assert report["annotations"]["stage_counts"] == {"W": 2, "N3": 1}
    assert report["annotations"]["event_counts"] == {"hypopnea": 1}


def test_inspect_bad_file_exits_2_with_message_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.edf"
    bad.write_text("hello")
    result = runner.invoke(app, ["inspect", str(bad)])
    assert result.exit_code == 2
    assert "bad.edf: not an EDF/BDF file" in result.output
    assert "Traceback" not in result.output
