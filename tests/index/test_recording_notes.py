"""What reading a night's files changed (events listed twice kept once, ...) is stored with the night and repeated by
the chat beside the night's numbers, not only printed by ``sleeplm inspect``."""

from __future__ import annotations

import shutil
from pathlib import Path

from sleeplm.agent import ToolConfig, ask
from sleeplm.index.ingest import ingest
from sleeplm.index.queries import Cohort
from testdata import MINI_CHECKPOINT


def _with_a_duplicated_event(sim_cohort_dir: Path, folder: Path) -> None:
    folder.mkdir()
    shutil.copy(sim_cohort_dir / "sim-0001.edf", folder / "sim-0001.edf")
    xml = (sim_cohort_dir / "sim-0001-nsrr.xml").read_text()
    hyp = ("<ScoredEvent><EventType>Respiratory|Respiratory</EventType><EventConcept>Hypopnea|Hypopnea</EventConcept>"
           "<Start>600</Start><Duration>15</Duration></ScoredEvent>")
    assert xml.count("</ScoredEvents>") == 1
    (folder / "sim-0001-nsrr.xml").write_text(xml.replace("</ScoredEvents>", hyp + hyp + "</ScoredEvents>"))


def test_a_night_s_file_notes_are_stored_and_said_by_the_chat(sim_cohort_dir: Path, tmp_path: Path) -> None:
    _with_a_duplicated_event(sim_cohort_dir, tmp_path / "cohort")
    ingest(tmp_path / "cohort", tmp_path / "ws", model=str(MINI_CHECKPOINT), progress=False)
    cohort = Cohort(tmp_path / "ws")
    try:
        rid = cohort.night_record("sim-0001").recording_id
        (note,) = [n for n in cohort.recording_notes(rid) if "listed twice" in n]
    finally:
        cohort.close()
    assert note.startswith("sim-0001-nsrr.xml: 1 event(s) listed twice")
    turn = ask(tmp_path / "ws", "tell me about sim-0001", config=ToolConfig(figure_dir=tmp_path))
    assert "listed twice" in turn.answer and "kept once" in turn.answer


def test_a_night_read_without_changes_has_no_notes(sim_cohort_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cohort"
    folder.mkdir()
    for f in ("sim-0001.edf", "sim-0001-nsrr.xml"):
        shutil.copy(sim_cohort_dir / f, folder / f)
    ingest(folder, tmp_path / "ws", model=str(MINI_CHECKPOINT), progress=False)
    cohort = Cohort(tmp_path / "ws")
    try:
        assert cohort.recording_notes(cohort.night_record("sim-0001").recording_id) == []
    finally:
        cohort.close()
    turn = ask(tmp_path / "ws", "tell me about sim-0001", config=ToolConfig(figure_dir=tmp_path))
    assert "Reading this night's files" not in turn.answer
