"""Reading annotations in every supported format, normalised."""

from __future__ import annotations

from pathlib import Path

import pytest

from sleeplm.encoder.io.annotations import (
    check_against,
    find_annotations,
    from_tal,
    normalise_event,
    normalise_stage,
    read_annotations,
)
from sleeplm.encoder.io.edf import read_recording
from sleeplm.encoder.io.records import PSGError, Recording

NSRR = """<?xml version="1.0" encoding="UTF-8"?>
<PSGAnnotation><SoftwareVersion>Compumedics</SoftwareVersion><EpochLength>30</EpochLength>
<ScoredEvents>
<ScoredEvent><EventType/><EventConcept>Recording Start Time</EventConcept><Start>0</Start><Duration>90</Duration></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Wake|0</EventConcept><Start>0</Start><Duration>60</Duration></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Stage 4 sleep|4</EventConcept><Start>60</Start><Duration>30</Duration></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>REM sleep|5</EventConcept><Start>90</Start><Duration>30</Duration></ScoredEvent>
<ScoredEvent><EventType>Respiratory|Respiratory</EventType><EventConcept>Obstructive apnea|Obstructive Apnea</EventConcept><Start>62.5</Start><Duration>14.2</Duration></ScoredEvent>
<ScoredEvent><EventType>Respiratory|Respiratory</EventType><EventConcept>SpO2 desaturation|SpO2 desaturation</EventConcept><Start>80</Start><Duration>20</Duration><SpO2Nadir>88</SpO2Nadir><SpO2Baseline>95</SpO2Baseline></ScoredEvent>
<ScoredEvent><EventType>Arousals|Arousals</EventType><EventConcept>Arousal|Arousal ()</EventConcept><Start>77</Start><Duration>5</Duration></ScoredEvent>
</ScoredEvents></PSGAnnotation>"""

PROFUSION = """<CMPStudyConfig><EpochLength>30</EpochLength>
<ScoredEvents><ScoredEvent><Name>Hypopnea</Name><Start>31.0</Start><Duration>12.0</Duration></ScoredEvent>
<ScoredEvent><Name>Central Apnea</Name><Start>70.0</Start><Duration>11.0</Duration></ScoredEvent></ScoredEvents>
<SleepStages><SleepStage>0</SleepStage><SleepStage>2</SleepStage><SleepStage>3</SleepStage><SleepStage>5</SleepStage></SleepStages>
</CMPStudyConfig>"""


def test_nsrr_xml_stages_and_events(tmp_path: Path) -> None:
    path = tmp_path / "a-nsrr.xml"
    path.write_text(NSRR)
    ann = read_annotations(path)
    assert ann.source == "nsrr-xml"
    assert ann.stages == ["W", "W", "N3", "REM"]
    assert [(e.type, e.onset_s, e.duration_s) for e in ann.events] == [
        ("obstructive_apnea", 62.5, 14.2), ("arousal", 77.0, 5.0), ("oxygen_desaturation", 80.0, 20.0)]
    assert ann.events[2].spo2_nadir == 88.0


def test_profusion_xml(tmp_path: Path) -> None:
    path = tmp_path / "b.xml"
    path.write_text(PROFUSION)
    ann = read_annotations(path)
    assert ann.source == "profusion-xml"
    assert ann.stages == ["W", "N2", "N3", "REM"]
    assert [e.type for e in ann.events] == ["hypopnea", "central_apnea"]


def test_plain_hypnogram_with_words_and_yasa_integers(tmp_path: Path) -> None:
    words = tmp_path / "w.txt"
    words.write_text("W\nN1\nN2\nS4\nR\n?\n")
    assert read_annotations(words).stages == ["W", "N1", "N2", "N3", "REM", "UNKNOWN"]
    ints = tmp_path / "i.txt"
    ints.write_text("0\n1\n2\n3\n4\n-1\n")
    assert read_annotations(ints).stages == ["W", "N1", "N2", "N3", "REM", "UNKNOWN"]


def test_dreams_hypnogram_five_second_rk_codes(tmp_path: Path) -> None:
    path = tmp_path / "Hypnogram_excerpt9.txt"
    path.write_text("[Hypnogram]\n" + "5\n" * 6 + "2\n" * 5 + "5\n" + "0\n" * 6 + "4\n" * 6)
    assert read_annotations(path).stages == ["W", "N2", "N3", "REM"]


def test_a_dreams_hypnogram_says_how_many_30_s_epochs_mix_stages(tmp_path: Path) -> None:
    path = tmp_path / "Hypnogram_excerpt9.txt"  # one pure epoch, one 5 of 6 N2, one 3 W : 3 N2 (no majority)
    path.write_text("[Hypnogram]\n" + "5\n" * 6 + "2\n" * 5 + "5\n" + "5\n" * 3 + "2\n" * 3)
    ann = read_annotations(path)
    assert ann.stages == ["W", "N2", "UNKNOWN"]
    assert len(ann.notes) == 1 and "5-s steps" in ann.notes[0]
    assert "2 of 3 epochs span more than one stage" in ann.notes[0] and "1 have no stage covering more than half" \
        in ann.notes[0]


def test_csv_onset_duration_label(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("onset,duration,label\n0,30,W\n30,60,N2\n40,15,Hypopnea\n")
    ann = read_annotations(path)
    assert ann.stages == ["W", "N2", "N2"]
    assert [(e.type, e.onset_s) for e in ann.events] == [("hypopnea", 40.0)]


def test_edf_plus_annotations(make_edf) -> None:
    import numpy as np

    path = make_edf("t.edf", {"C3-M2": (np.sin(np.arange(90 * 100) / 5.0), 100.0, "uV")},
                    annotations=[(0, 30, "Sleep stage W"), (30, 60, "Sleep stage 2"), (40, 20, "Central Apnea")])
    ann = from_tal(read_recording(path))
    assert ann is not None and ann.stages == ["W", "N2", "N2"]
    assert ann.events[0].type == "central_apnea"


@pytest.mark.parametrize(
    ("label", "kind"),
    [("Obstructive apnea|Obstructive Apnea", "obstructive_apnea"), ("Apnea Obstructive", "obstructive_apnea"),
     ("Hypopnea", "hypopnea"), ("Obstructive Hypopnea", "hypopnea"), ("SpO2 desaturation", "oxygen_desaturation"),
     ("ASDA arousal|Arousal (ASDA)", "arousal"), ("Limb Movement (Left)", "limb_movement"), ("PLM", "limb_movement"),
     ("Mixed Apnea", "mixed_apnea"), ("Lights Off", None)],
)
def test_event_vocabulary(label: str, kind: str | None) -> None:
    assert normalise_event(label) == kind


def test_stage_vocabulary_rk_s3_s4_are_n3() -> None:
    assert normalise_stage("Stage 3 sleep|3", rk_numeric=True) == "N3"
    assert normalise_stage("Stage 4 sleep|4", rk_numeric=True) == "N3"
    assert normalise_stage("Sleep stage R") == "REM"


def test_sidecar_is_found_next_to_recording(tmp_path: Path) -> None:
    edf = tmp_path / "night1.edf"
    edf.write_bytes(b"")
    (tmp_path / "night1-nsrr.xml").write_text(NSRR)
    assert find_annotations(edf) == tmp_path / "night1-nsrr.xml"


def test_annotations_longer_than_recording_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.xml"
    path.write_text(NSRR)
    rec = Recording(Path("short.edf"), None, 30.0, [])
    with pytest.raises(PSGError, match=r"long\.xml: stages cover 120 s but the recording short\.edf lasts 30 s"):
        check_against(read_annotations(path), rec)


def test_malformed_xml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text("<PSGAnnotation><ScoredEvents>")
    with pytest.raises(PSGError, match=r"broken\.xml: not a well-formed XML"):
        read_annotations(path)


def test_bad_hypnogram_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "h.txt"
    path.write_text("W\nN2\nbanana\n")
    with pytest.raises(PSGError, match="line 3: 'banana' is not a sleep stage"):
        read_annotations(path)


def test_real_yasa_hypnogram(shared_data: Path) -> None:
    ann = read_annotations(shared_data / "real/yasa-hypnograms/data_full_6hrs_100Hz_hypno_30s.txt")
    assert ann.stage_counts() == {"W": 43, "N1": 22, "N2": 318, "N3": 182, "REM": 155}
