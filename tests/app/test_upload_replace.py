"""An upload never replaces a different night of the same name unless the user confirms it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sleeplm.app.service import SharedCohort
from sleeplm.app.web import ChatApp
from sleeplm.index.ingest import ingest
from testdata import MINI_CHECKPOINT


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sleeplm.encoder.sim import simulate_cohort

    out = tmp_path_factory.mktemp("cohort")
    simulate_cohort(out, n_nights=2, seed=21, duration_h=1 / 60, progress=False)
    return out


@pytest.fixture
def page(cohort_dir: Path, tmp_path: Path):
    ws = tmp_path / "ws"
    report = ingest(cohort_dir, ws, model=str(MINI_CHECKPOINT), progress=False)
    assert len(report.ingested) == 2
    shared = SharedCohort(ws)
    yield ChatApp(shared, session_factory=lambda cohort, llm: None, figure_dir=tmp_path / "figures")
    shared.close()


def _upload_other_night_as_sim_0001(page: ChatApp, cohort_dir: Path, tmp_path: Path, replace: bool):
    up = tmp_path / "browser"
    up.mkdir(exist_ok=True)
    shutil.copy(cohort_dir / "sim-0002.edf", up / "sim-0001.edf")
    return page.upload([str(up / "sim-0001.edf")], replace=replace)


def test_upload_with_a_taken_name_asks_and_replaces_nothing(page: ChatApp, cohort_dir: Path, tmp_path: Path) -> None:
    before = page.nights_value()
    report, table = _upload_other_night_as_sim_0001(page, cohort_dir, tmp_path, replace=False)
    assert "already in the workspace" in report and "nothing was replaced" in report and "✅" not in report
    assert table.equals(before)
    assert str(tmp_path) not in report  # no server folder shown to the web user


def test_upload_replaces_a_night_only_when_confirmed(page: ChatApp, cohort_dir: Path, tmp_path: Path) -> None:
    before = page.nights_value().set_index("recording").loc["sim-0001"]
    report, table = _upload_other_night_as_sim_0001(page, cohort_dir, tmp_path, replace=True)
    assert report.startswith("✅ replaced sim-0001.edf"), report
    after = table.set_index("recording").loc["sim-0001"]
    assert len(table) == 2 and after["subject_id"] != before["subject_id"]


def test_an_uploaded_annotation_file_no_recording_reads_is_named_as_not_used(page: ChatApp, cohort_dir: Path,
                                                                             tmp_path: Path) -> None:
    up = tmp_path / "browser"
    up.mkdir(exist_ok=True)
    shutil.copy(cohort_dir / "sim-0002.edf", up / "night3.edf")
    shutil.copy(cohort_dir / "sim-0002-nsrr.xml", up / "night3_scoring.xml")
    report, _ = page.upload([str(up / "night3.edf"), str(up / "night3_scoring.xml")], replace=False)
    assert "✅ ingested night3.edf" in report
    assert "⚠️ not used: night3_scoring.xml" in report and "unscored" in report
    assert str(tmp_path) not in report
