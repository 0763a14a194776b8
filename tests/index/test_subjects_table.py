"""A subjects table with rows that cannot be used as written: the rest is used, and ingest names each bad row
(line and value) in ``ingest_errors`` instead of storing an impossible age or silently keeping one of two rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from sleeplm.agent import ToolConfig, ask
from sleeplm.index.cohort_files import read_subjects
from sleeplm.index.ingest import ingest
from testdata import MINI_CHECKPOINT


def test_a_negative_age_and_a_duplicate_row_are_named_with_their_lines(tmp_path: Path) -> None:
    csv = tmp_path / "subjects.csv"
    csv.write_text("subject_id,recording,age,sex,bmi\nS1,a,-5,F,24\nS2,b,forty,M,400\nS3,a,50,F,22\n")
    problems: list[str] = []
    rows = read_subjects(csv, problems)
    assert rows["a"]["age"] == "50" and rows["b"]["age"] == "" and rows["b"]["bmi"] == ""
    assert any(p.startswith("line 2: age '-5'") for p in problems)
    assert any(p.startswith("line 3: age 'forty'") for p in problems)
    assert any(p.startswith("line 3: bmi '400'") for p in problems)
    assert any("recording 'a' is also on line 2; line 4 is used" in p for p in problems)


def _one_night_cohort(sim_cohort_dir: Path, tmp_path: Path, subjects_csv: str) -> Path:
    """sim-0001 with its annotations and a subjects table, ingested into ``tmp_path / "ws"``; returns the folder."""
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    shutil.copy(sim_cohort_dir / "sim-0001.edf", cohort / "sim-0001.edf")
    shutil.copy(sim_cohort_dir / "sim-0001-nsrr.xml", cohort / "sim-0001-nsrr.xml")
    (cohort / "subjects.csv").write_text(subjects_csv)
    ingest(cohort, tmp_path / "ws", model=str(MINI_CHECKPOINT), progress=False)
    return cohort


def test_a_bad_age_does_not_break_the_cohort_s_questions(sim_cohort_dir: Path, tmp_path: Path) -> None:
    _one_night_cohort(sim_cohort_dir, tmp_path, "subject_id,recording,age,sex\nS1,sim-0001,-5,F\n")
    con = duckdb.connect(str(next((tmp_path / "ws").glob("*.duckdb"))), read_only=True)
    try:
        (message,) = con.execute("SELECT message FROM ingest_errors WHERE stage = 'subjects'").fetchone()
    finally:
        con.close()
    assert "subjects.csv" in message and "age '-5'" in message
    turn = ask(tmp_path / "ws", "which night has the longest total sleep time?", config=ToolConfig(figure_dir=tmp_path))
    assert turn.steps[0].name == "query_cohort" and turn.steps[0].error is None
    assert "**sim-0001** has the highest" in turn.answer


def test_a_corrected_subjects_table_updates_nights_already_ingested(sim_cohort_dir: Path, tmp_path: Path) -> None:
    cohort = _one_night_cohort(sim_cohort_dir, tmp_path, "subject_id,recording,age,sex\nS1,sim-0001,45,F\n")
    (cohort / "subjects.csv").write_text("subject_id,recording,age,sex,arm\nS9,sim-0001,54,M,placebo\n")
    report = ingest(cohort, tmp_path / "ws", model=str(MINI_CHECKPOINT), progress=False)
    assert report.skipped == ["sim-0001.edf"] and report.subjects_updated == ["sim-0001"]
    con = duckdb.connect(str(next((tmp_path / "ws").glob("*.duckdb"))), read_only=True)
    try:
        rows = con.execute("SELECT s.subject_id, s.age, s.sex, s.attributes FROM recordings r "
                           "JOIN subjects s USING (subject_id)").fetchall()
        n_subjects = con.execute("SELECT count(*) FROM subjects").fetchone()[0]
    finally:
        con.close()
    assert [r[:3] for r in rows] == [("S9", 54.0, "M")] and '"placebo"' in rows[0][3]
    assert n_subjects == 1  # S1 is no longer anyone's subject
    again = ingest(cohort, tmp_path / "ws", model=str(MINI_CHECKPOINT), progress=False)
    assert again.subjects_updated == []
