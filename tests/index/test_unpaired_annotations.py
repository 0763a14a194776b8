"""An annotation file no recording reads is named at ingest (``ingest_errors``, stage "pairing"), so a night whose
scoring sits in a misnamed file is not passed off as unscored without a word."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from sleeplm.index.cohort_files import unpaired_annotations
from sleeplm.index.ingest import ingest
from testdata import MINI_CHECKPOINT


def _touch(path: Path, text: str = "x") -> Path:
    path.write_text(text)
    return path


def test_an_annotation_file_named_unlike_its_recording_is_named_with_the_recording(tmp_path: Path) -> None:
    rec = _touch(tmp_path / "night1.edf")
    _touch(tmp_path / "night1_scoring.xml")
    (row,) = unpaired_annotations(tmp_path, [rec])
    assert row[0].name == "night1_scoring.xml" and row[1] == "pairing"
    assert "night1.edf" in row[2] and "unscored" in row[2] and "night1-nsrr.xml" not in row[2]


def test_a_second_annotation_file_beside_a_recording_says_which_one_was_read(tmp_path: Path) -> None:
    rec = _touch(tmp_path / "n.edf")
    _touch(tmp_path / "n-nsrr.xml")
    _touch(tmp_path / "n.csv")
    (row,) = unpaired_annotations(tmp_path, [rec])
    assert row[0].name == "n.csv" and "reads n-nsrr.xml instead" in row[2]


def test_paired_files_subjects_table_and_unrelated_text_are_not_named(tmp_path: Path) -> None:
    rec = _touch(tmp_path / "n.edf")
    _touch(tmp_path / "n-nsrr.xml")
    _touch(tmp_path / "subjects.csv", "subject_id,recording\n")
    _touch(tmp_path / "README.txt")
    _touch(tmp_path / "notes.csv")
    assert unpaired_annotations(tmp_path, [rec]) == []


def test_an_xml_that_matches_no_recording_is_named(tmp_path: Path) -> None:
    rec = _touch(tmp_path / "a.edf")
    _touch(tmp_path / "b-nsrr.xml")
    (row,) = unpaired_annotations(tmp_path, [rec])
    assert row[0].name == "b-nsrr.xml" and "no recording reads it" in row[2]


def _errors(ws: Path) -> list[tuple[str, str, str]]:
    con = duckdb.connect(str(next(ws.glob("*.duckdb"))), read_only=True)
    try:
        return con.execute("SELECT path, stage, message FROM ingest_errors").fetchall()
    finally:
        con.close()


def test_ingest_names_a_misnamed_annotation_file_and_forgets_it_once_renamed(sim_cohort_dir: Path,
                                                                             tmp_path: Path) -> None:
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    shutil.copy(sim_cohort_dir / "sim-0001.edf", cohort / "sim-0001.edf")
    shutil.copy(sim_cohort_dir / "sim-0001-nsrr.xml", cohort / "sim-0001_staging.xml")
    ingest(cohort, tmp_path / "ws", model=str(MINI_CHECKPOINT), progress=False, score="never")
    (row,) = _errors(tmp_path / "ws")
    assert row[0].endswith("sim-0001_staging.xml") and row[1] == "pairing" and "sim-0001.edf" in row[2]
    (cohort / "sim-0001_staging.xml").rename(cohort / "sim-0001-nsrr.xml")
    ingest(cohort, tmp_path / "ws", model=str(MINI_CHECKPOINT), progress=False, score="never")
    assert _errors(tmp_path / "ws") == []
