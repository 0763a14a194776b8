"""The agent says when a kind of annotation was not scored, instead of reading it as 'none' or AHI 0."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sleeplm.agent import ToolConfig, ask
from sleeplm.encoder.io.annotations import read_annotations
from sleeplm.index.ingest import ingest
from testdata import MINI_CHECKPOINT


@pytest.fixture(scope="module")
def hypnogram_only_ws(sim_cohort_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated night whose only annotation is a hypnogram (stages, no events), ingested unscored."""
    root = tmp_path_factory.mktemp("hyp-only")
    cohort = root / "cohort"
    cohort.mkdir()
    shutil.copy(sim_cohort_dir / "sim-0001.edf", cohort / "night.edf")
    stages = read_annotations(sim_cohort_dir / "sim-0001-nsrr.xml").stages
    (cohort / "night.txt").write_text("\n".join("R" if s == "REM" else s for s in stages) + "\n")
    report = ingest(cohort, root / "ws", model=str(MINI_CHECKPOINT), progress=False, score="never")
    assert len(report.ingested) == 1
    return root / "ws"


def test_describing_an_unscored_night_names_what_was_not_scored(hypnogram_only_ws: Path, tmp_path: Path) -> None:
    turn = ask(hypnogram_only_ws, "describe night", config=ToolConfig(figure_dir=tmp_path))
    step = next(s for s in turn.steps if s.name == "describe_night")
    assert "Not scored: respiratory events" in step.summary
    assert "AHI 0.0" not in turn.answer and "AHI 0 " not in turn.answer


def test_the_answer_says_events_were_not_scored_rather_than_none(hypnogram_only_ws: Path, tmp_path: Path) -> None:
    turn = ask(hypnogram_only_ws, "describe night", config=ToolConfig(figure_dir=tmp_path))
    assert "Not scored in this night" in turn.answer and "respiratory events" in turn.answer


def test_counting_unscored_events_declines_instead_of_zero(hypnogram_only_ws: Path, tmp_path: Path) -> None:
    turn = ask(hypnogram_only_ws, "how many apneas are there?", config=ToolConfig(figure_dir=tmp_path))
    assert "not scored" in turn.answer and "— 0" not in turn.answer


def test_counts_from_automatic_scoring_say_so(sim_cohort_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("auto-resp")
    cohort = root / "cohort"
    cohort.mkdir()
    shutil.copy(sim_cohort_dir / "sim-0001.edf", cohort / "night.edf")
    stages = read_annotations(sim_cohort_dir / "sim-0001-nsrr.xml").stages
    (cohort / "night.txt").write_text("\n".join("R" if s == "REM" else s for s in stages) + "\n")
    ingest(cohort, root / "ws", model=str(MINI_CHECKPOINT), progress=False, score="missing")
    turn = ask(root / "ws", "how many hypopneas are there?", config=ToolConfig(figure_dir=root))
    if "not scored" in turn.answer:  # the simulator left this night without airflow: nothing to score
        return
    assert "Scored automatically" in turn.answer
