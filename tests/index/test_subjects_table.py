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


def test_a_bad_age_does_not_break_the_cohort_s_questions(sim_cohort_dir: Path, tmp_path: Path) -> None:
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    shutil.copy(sim_cohort_dir / "sim-0001.edf", cohort / "sim-0001.edf")
    shutil.copy(sim_cohort_dir / "sim-0001-nsrr.xml", cohort / "sim-0001-nsrr.xml")
    (cohort / "subjects.csv").write_text("subject_id,recording,age,sex\nS1,sim-0001,-5,F\n")
    ingest(cohort, tmp_path / "ws", model=str(MINI_CHECKPOINT), progress=False)
    con = duckdb.connect(str(next((tmp_path / "ws").glob("*.duckdb"))), read_only=True)
    try:
        (message,) = con.execute("SELECT message FROM ingest_errors WHERE stage = 'subjects'").fetchone()
    finally:
        con.close()
    assert "subjects.csv" in message and "age '-5'" in message
    turn = ask(tmp_path / "ws", "which night has the longest total sleep time?", config=ToolConfig(figure_dir=tmp_path))
    assert turn.steps[0].name == "query_cohort" and turn.steps[0].error is None
    assert "**sim-0001** has the highest" in turn.answer
