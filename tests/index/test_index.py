"""The cohort workspace: ingestion, consistency, resumability, queries."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from sleeplm.index import stats
from sleeplm.index import vectors as vec
from sleeplm.index.cohort_files import discover
from sleeplm.index.ingest import ingest
from sleeplm.index.queries import Cohort, EpochFilter
from sleeplm.index.workspace import Workspace, WorkspaceError, check_workspace
from testdata import MINI_CHECKPOINT

MINI = MINI_CHECKPOINT


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory) -> Path:
    from sleeplm.encoder.sim import simulate_cohort

    out = tmp_path_factory.mktemp("cohort")
    simulate_cohort(out, n_nights=3, seed=7, duration_h=0.5, progress=False)
    broken = out / "broken"
    broken.mkdir()
    (broken / "notes.edf").write_text("not a recording")
    good = sorted(out.glob("*.edf"))[0]
    (broken / "cut.edf").write_bytes(good.read_bytes()[:300])
    return out


@pytest.fixture(scope="module")
def workspace(cohort_dir: Path, tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("ws")
    report = ingest(cohort_dir, ws, model=str(MINI), progress=False)
    assert len(report.ingested) == 3
    return ws


def _counts(ws: Path) -> dict[str, int]:
    con = duckdb.connect(str(Workspace(ws).db_path), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("recordings", "epochs", "events", "captions", "epoch_vectors", "features")}
    finally:
        con.close()


def test_workspace_is_consistent_after_ingest(workspace: Path) -> None:
    assert check_workspace(Workspace(workspace)) == []
    counts = _counts(workspace)
    assert counts["recordings"] == 3 and counts["epochs"] == 3 * 60
    assert counts["captions"] == 5 * counts["epochs"] and counts["epoch_vectors"] == counts["epochs"]


def test_broken_files_are_listed_with_reasons(workspace: Path) -> None:
    con = duckdb.connect(str(Workspace(workspace).db_path), read_only=True)
    rows = dict(con.execute("SELECT path, message FROM ingest_errors").fetchall())
    con.close()
    by_name = {Path(p).name: m for p, m in rows.items()}
    assert set(by_name) == {"notes.edf", "cut.edf"}
    assert "not an EDF/BDF file" in by_name["notes.edf"]
    assert "cut.edf" in by_name["cut.edf"] and "truncated" in by_name["cut.edf"]


def test_second_run_skips_unchanged_nights(cohort_dir: Path, workspace: Path) -> None:
    before = _counts(workspace)
    report = ingest(cohort_dir, workspace, model=str(MINI), progress=False)
    assert sorted(report.skipped) == sorted(p.name for p in cohort_dir.glob("*.edf"))
    assert report.ingested == [] and len(report.failed) == 2
    assert _counts(workspace) == before


def test_changed_file_is_reingested_without_duplicates(cohort_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "c"
    shutil.copytree(cohort_dir, src, ignore=shutil.ignore_patterns("broken"))
    ws = tmp_path / "ws"
    ingest(src, ws, model=str(MINI), progress=False)
    xml = sorted(src.glob("*-nsrr.xml"))[0]
    xml.write_text(xml.read_text().replace("<Duration>30.0</Duration>", "<Duration>30.00</Duration>", 1))
    report = ingest(src, ws, model=str(MINI), progress=False)
    assert report.ingested == [xml.name.replace("-nsrr.xml", ".edf")]
    assert _counts(ws)["recordings"] == 3 and check_workspace(Workspace(ws)) == []


def test_other_model_is_refused(workspace: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pt"
    import torch

    sd = torch.load(MINI, weights_only=True)
    sd["state_dict"]["logit_scale"] = sd["state_dict"]["logit_scale"] + 1
    torch.save(sd, other)
    shutil.copy(MINI.with_name("config.json"), tmp_path / "config.json")
    with pytest.raises(WorkspaceError, match="vectors would not be comparable"):
        ingest(workspace, workspace, model=str(other))


def test_check_reports_faiss_and_duckdb_disagreement(workspace: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    index = vec.load_index(Workspace(ws).epochs_index_path)
    index.remove_ids(np.array([5], dtype=np.int64))
    vec.save_index(index, Workspace(ws).epochs_index_path)
    problems = check_workspace(Workspace(ws))
    assert any("1 only in DuckDB" in p for p in problems)


def test_filtered_search_returns_only_matching_epochs(workspace: Path) -> None:
    cohort = Cohort(workspace)
    stage = cohort.con.execute("SELECT stage FROM epochs WHERE stage != 'W' GROUP BY 1 ORDER BY count(*) DESC").fetchone()[0]
    hits = cohort.search_text("light sleep", k=50, filters=EpochFilter(stages=[stage]))
    assert hits and all(h.stage == stage for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    one = cohort.recordings()[0]
    assert all(h.recording == one for h in cohort.search_text("wake", k=5, filters=EpochFilter(recordings=[one])))


def test_unfiltered_search_matches_brute_force(workspace: Path) -> None:
    cohort = Cohort(workspace)
    q = cohort.embed_query("hypopnea in N2")
    ids, mat = _all_vectors(workspace)
    expected = ids[np.argsort(-(mat @ q))[:5]]
    assert [h.epoch_id for h in cohort.search_text("hypopnea in N2", k=5)] == list(expected)


def _all_vectors(ws: Path):
    from sleeplm.index.workspace import load_vectors

    con = duckdb.connect(str(Workspace(ws).db_path), read_only=True)
    try:
        return load_vectors(con, "epoch_vectors", "epoch_id")
    finally:
        con.close()


def test_similar_nights_excludes_itself_and_carries_metrics(workspace: Path) -> None:
    cohort = Cohort(workspace)
    me, others = cohort.similar_nights(cohort.recordings()[0], k=2)
    assert me.recording not in [o.recording for o in others] and len(others) == 2
    assert "ahi_per_h" in others[0].metrics and "phenotype" in others[0].subject


def test_localization_timeline_covers_the_night(workspace: Path) -> None:
    cohort = Cohort(workspace)
    loc = cohort.localize(cohort.recordings()[0], "obstructive apnea", z_threshold=1.0)
    assert loc.scores.shape == (60,) and loc.event_types == ["obstructive_apnea"]
    assert all(0 <= iv.start_s < iv.end_s <= 1800 for iv in loc.intervals)


def test_cohort_metric_names_are_checked_before_sql(workspace: Path) -> None:
    con = Workspace(workspace).connect(read_only=True)
    with pytest.raises(ValueError, match="unknown night metric"):
        stats.compare_metric(con, "ahi_per_h; DROP TABLE epochs")
    table = stats.compare_metric(con, "ahi_per_h", by="phenotype")
    assert sum(r["nights"] + r["no_value"] for r in table.to_records()) == 3  # with and without a value
    con.close()


def test_discover_finds_recordings_not_annotations(cohort_dir: Path) -> None:
    names = {p.name for p in discover(cohort_dir)}
    assert {"notes.edf", "cut.edf"} <= names and not any(n.endswith(".xml") for n in names)


@pytest.mark.slow
def test_kill_minus_nine_then_rerun_gives_the_same_workspace(cohort_dir: Path, workspace: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    cmd = [sys.executable, "-m", "sleeplm.app.cli", "ingest", str(cohort_dir), "-w", str(ws), "--model", str(MINI)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.time() + 300
    buf = ""
    while time.time() < deadline and "1/5" not in buf:  # the first night is committed
        buf += proc.stderr.read(1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    subprocess.run(cmd, check=False, capture_output=True)
    assert _counts(ws) == _counts(workspace)
    assert _content(ws) == _content(workspace)
    assert check_workspace(Workspace(ws)) == []


#: Every stored row that does not depend on when or where the run happened (times and folders left out).
_CONTENT_SQL = {
    "recordings": "SELECT recording_id, name, subject_id, sha256, annotation_sha256, annotation_source, start_time, "
                  "duration_s, n_epochs, CAST(channel_map AS VARCHAR), missing_channels, position_coding, repairs "
                  "FROM recordings ORDER BY recording_id",
    "epochs": "SELECT * FROM epochs ORDER BY epoch_id",
    "events": "SELECT * FROM events ORDER BY event_id",
    "captions": "SELECT * FROM captions ORDER BY epoch_id, track",
    "features": "SELECT * FROM features ORDER BY epoch_id",
    "night_metrics": "SELECT * FROM night_metrics ORDER BY recording_id",
    "epoch_vectors": "SELECT * FROM epoch_vectors ORDER BY epoch_id",
    "night_vectors": "SELECT * FROM night_vectors ORDER BY recording_id",
    "subjects": "SELECT * FROM subjects ORDER BY subject_id",
    "ingest_errors": "SELECT regexp_extract(path, '[^/]+$'), stage, regexp_extract(message, '[^/]+$') "
                     "FROM ingest_errors ORDER BY 1",
}


def _content(ws: Path) -> dict[str, str]:
    con = duckdb.connect(str(Workspace(ws).db_path), read_only=True)
    try:
        return {t: repr(con.execute(sql).fetchall()) for t, sql in _CONTENT_SQL.items()}
    finally:
        con.close()
