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


def _unannotated_ws(sim_cohort_dir: Path, root: Path, score: str) -> Path:
    """sim-0002's EDF alone (no annotation file) ingested into ``root / "ws"`` with ``score``."""
    cohort = root / "cohort"
    cohort.mkdir()
    shutil.copy(sim_cohort_dir / "sim-0002.edf", cohort / "night.edf")
    ingest(cohort, root / "ws", model=str(MINI_CHECKPOINT), progress=False, score=score)
    return root / "ws"


@pytest.fixture(scope="module")
def auto_scored_ws(sim_cohort_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated night without any annotation file, ingested with automatic scoring of what is missing."""
    return _unannotated_ws(sim_cohort_dir, tmp_path_factory.mktemp("auto-all"), "missing")


@pytest.fixture(scope="module")
def unstaged_ws(sim_cohort_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated night without any annotation file, ingested without automatic scoring."""
    return _unannotated_ws(sim_cohort_dir, tmp_path_factory.mktemp("unstaged"), "never")


def test_a_metric_asked_alone_says_which_scoring_was_automatic(auto_scored_ws: Path, tmp_path: Path) -> None:
    from sleeplm.index.queries import Cohort

    scoring = Cohort(auto_scored_ws).night_record("night").scoring
    assert scoring["stages"]["state"] == "automatic"  # the premise: no file, so the stages are a program's
    turn = ask(auto_scored_ws, "what is the sleep efficiency of night?", config=ToolConfig(figure_dir=tmp_path))
    assert "Scored automatically, not by a person: sleep stages" in turn.answer


def test_a_metric_of_an_unstaged_recording_says_why_it_is_missing(unstaged_ws: Path, tmp_path: Path) -> None:
    turn = ask(unstaged_ws, "what is the SpO2 nadir of night?", config=ToolConfig(figure_dir=tmp_path))
    assert "not available** — sleep stages were not scored in this recording" in turn.answer


def test_a_recording_without_subject_details_says_so_instead_of_empty_brackets(unstaged_ws: Path,
                                                                               tmp_path: Path) -> None:
    turn = ask(unstaged_ws, "describe night", config=ToolConfig(figure_dir=tmp_path))
    assert "()" not in turn.answer and "no age, sex or phenotype recorded" in turn.answer


def test_an_event_count_is_a_whole_number(sim_workspace: Path, sim_cohort_dir: Path, tmp_path: Path) -> None:
    ann = read_annotations(sim_cohort_dir / "sim-0002-nsrr.xml")
    n_arousals = sum(1 for e in ann.events if e.type == "arousal")
    turn = ask(sim_workspace, "how many arousals are there in sim-0002?", config=ToolConfig(figure_dir=tmp_path))
    assert f"**arousals: {n_arousals}**" in turn.answer


def test_an_index_of_unscored_events_says_they_were_not_scored(hypnogram_only_ws: Path, tmp_path: Path) -> None:
    turn = ask(hypnogram_only_ws, "what is the AHI of night?", config=ToolConfig(figure_dir=tmp_path))
    assert "**AHI (events/h): not available** — respiratory events were not scored in this night" in turn.answer


def test_localizing_unscored_events_gives_no_precision_against_absent_annotations(hypnogram_only_ws: Path,
                                                                                  tmp_path: Path) -> None:
    turn = ask(hypnogram_only_ws, "where are the arousals in night?", config=ToolConfig(figure_dir=tmp_path))
    assert turn.steps and turn.steps[0].name == "localize_events"
    assert "arousals were not scored in this recording" in turn.answer.lower()
    assert "precision" not in turn.answer and "no annotated event there" not in turn.answer


def test_the_cohort_scoring_table_names_nights_whose_events_nobody_scored(hypnogram_only_ws: Path,
                                                                         tmp_path: Path) -> None:
    turn = ask(hypnogram_only_ws, "which nights were scored by a person?", config=ToolConfig(figure_dir=tmp_path))
    assert turn.steps[0].name == "cohort_stats"
    assert "every annotation from the scoring file supplied with the recording: 0 of 1" in turn.answer
    assert "some annotation scored by nobody: 1 of 1 (night)" in turn.answer


@pytest.fixture
def eeg_only_ws(make_edf, tmp_path: Path) -> Path:
    """One 10-min recording with a single central EEG lead and a hypnogram (no other channel, no events), ingested."""
    import numpy as np

    rng = np.random.default_rng(5)
    (tmp_path / "cohort").mkdir()
    stages = [(30.0 * k, 30.0, f"Sleep stage {'W' if k < 4 else 'N2'}") for k in range(20)]
    edf = make_edf("eeg-only.edf", {"C3-M2": (rng.normal(0, 20, 128 * 600), 128.0, "uV")}, annotations=stages)
    shutil.move(edf, tmp_path / "cohort" / "night-a.edf")
    ingest(tmp_path / "cohort", tmp_path / "ws", model=str(MINI_CHECKPOINT), progress=False, score="never")
    return tmp_path / "ws"


def test_captions_of_an_eeg_only_recording_withhold_tracks_it_has_no_input_for(eeg_only_ws: Path,
                                                                               tmp_path: Path) -> None:
    turn = ask(eeg_only_ws, "caption epoch 3 of night-a", config=ToolConfig(figure_dir=tmp_path))
    assert "*cardiac* — reference: No ECG" in turn.answer
    assert "model: withheld — the recording has none of this track's inputs (ECG)" in turn.answer
    assert "model (this recording lacks EOG_L, EOG_R, EEG_C4" in turn.answer


def test_the_stage_and_event_caption_of_an_eeg_only_recording_names_the_channels_it_lacks(eeg_only_ws: Path,
                                                                                        tmp_path: Path) -> None:
    turn = ask(eeg_only_ws, "caption epoch 3 of night-a", config=ToolConfig(figure_dir=tmp_path))
    stage_event = turn.answer.split("*brain*")[0]
    assert "model (this recording lacks ECG, ABD, THX, AF, EOG_L, EOG_R, EEG_C4, EMG_CHIN, POS" in stage_event


def test_position_shares_without_a_position_channel_say_so(eeg_only_ws: Path, tmp_path: Path) -> None:
    turn = ask(eeg_only_ws, "what position did night-a sleep in?", config=ToolConfig(figure_dir=tmp_path))
    assert "**time supine (% of TST): not available** — the recording has no body-position channel" in turn.answer


def test_an_epochs_heart_rate_is_its_measured_value(sim_workspace: Path, sim_cohort_dir: Path, tmp_path: Path) -> None:
    import re

    import numpy as np

    truth = np.load(sim_cohort_dir / "sim-0002.truth.npz", allow_pickle=True)
    true_bpm = float(np.asarray(truth["heart_rate_bpm"], float)[7])
    turn = ask(sim_workspace, "what is the heart rate at epoch 7 of sim-0002?", config=ToolConfig(figure_dir=tmp_path))
    m = re.search(r"Measured in this epoch: mean heart rate ([\d.]+) bpm", turn.answer)
    assert turn.steps[0].name == "show_epoch" and m and abs(float(m.group(1)) - true_bpm) <= 4.0


def test_a_stage_based_aggregate_names_the_nights_staged_by_a_program(auto_scored_ws: Path, tmp_path: Path) -> None:
    turn = ask(auto_scored_ws, "what is the average N3 percentage across the cohort?",
               config=ToolConfig(figure_dir=tmp_path))
    assert "Scored automatically, not by a person" in turn.answer and "night" in turn.answer.split("person")[-1]


def test_similar_epochs_of_an_unstaged_epoch_do_not_count_stage_agreement(unstaged_ws: Path, tmp_path: Path) -> None:
    turn = ask(unstaged_ws, "find epochs similar to epoch 3 of night", config=ToolConfig(figure_dir=tmp_path))
    assert turn.steps[0].name == "similar_epochs"
    assert "Its stage was not scored" in turn.answer and "share its annotated stage" not in turn.answer


def test_a_value_against_the_cohort_gives_the_nights_rank_from_the_files(sim_workspace: Path, sim_cohort_dir: Path,
                                                                        tmp_path: Path) -> None:
    import bank

    ahi = bank.Gold(sim_cohort_dir).nights["ahi"].dropna()
    rank = int((ahi > ahi["sim-0002"]).sum()) + 1
    turn = ask(sim_workspace, "how does the AHI of sim-0002 compare to the rest of the cohort?",
               config=ToolConfig(figure_dir=tmp_path))
    assert f"sim-0002 ranks {rank} of {len(ahi)} from the highest" in turn.answer


def test_similar_epochs_the_model_cannot_tell_apart_say_their_order_means_nothing() -> None:
    from sleeplm.agent.answers import similar_epochs

    hit = {"rank": 1, "recording": "a", "epoch_index": 4, "clock_time": None, "stage": "N1", "event_types": [],
           "score": 0.9997}
    r = {"query_epoch": {"recording": "a", "epoch_index": 3, "clock_time": None, "stage": "W", "event_types": []},
         "hits": [hit, {**hit, "epoch_index": 5, "score": 0.9995}], "same_stage": 0}
    assert "the model does not tell them apart" in similar_epochs(r)
    r["hits"][1]["score"] = 0.93
    assert "the model does not tell them apart" not in similar_epochs(r)


def test_a_night_whose_events_nobody_scored_is_left_out_of_an_event_count_condition_saying_why(
        hypnogram_only_ws: Path, tmp_path: Path) -> None:
    turn = ask(hypnogram_only_ws, "how many nights have fewer than 3 apneas?", config=ToolConfig(figure_dir=tmp_path))
    assert "**Unknown for every night**" in turn.answer and "**0 night(s)**" not in turn.answer  # not "none have"
    assert "cannot be checked there: night" in turn.answer and "unknown, not zero" in turn.answer


def test_minutes_of_a_stage_in_a_night_nobody_staged_are_unknown_not_zero(unstaged_ws: Path, tmp_path: Path) -> None:
    turn = ask(unstaged_ws, "how many minutes of REM did night have?", config=ToolConfig(figure_dir=tmp_path))
    assert "unknown" in turn.answer and ": 0.0**" not in turn.answer and "— 0" not in turn.answer


def test_events_in_a_stage_of_a_night_nobody_staged_are_unknown_not_zero(sim_cohort_dir: Path,
                                                                         tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    cohort = tmp_path / "cohort"
    cohort.mkdir()
    shutil.copy(sim_cohort_dir / "sim-0002.edf", cohort / "night.edf")
    tree = ET.parse(sim_cohort_dir / "sim-0002-nsrr.xml")  # its scored events, without its stages
    events = tree.getroot().find("ScoredEvents")
    for ev in list(events):
        if (ev.findtext("EventType") or "").startswith("Stages"):
            events.remove(ev)
    n_hypopneas = sum("hypopnea" in (ev.findtext("EventConcept") or "").lower() for ev in events)
    assert n_hypopneas > 0
    tree.write(cohort / "night-nsrr.xml")
    ingest(cohort, tmp_path / "ws", model=str(MINI_CHECKPOINT), progress=False, score="never")
    cfg = ToolConfig(figure_dir=tmp_path)
    whole = ask(tmp_path / "ws", "how many hypopneas did night have?", config=cfg)
    assert f"hypopneas: {n_hypopneas}**" in whole.answer
    in_rem = ask(tmp_path / "ws", "how many hypopneas in REM did night have?", config=cfg)
    assert "hypopneas in REM: 0**" not in in_rem.answer
    assert "not staged" in in_rem.answer or "sleep stages were not scored" in in_rem.answer

