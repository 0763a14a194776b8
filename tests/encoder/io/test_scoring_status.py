"""Every night records, per kind of annotation, whether a person scored it, an algorithm did, or nobody."""

from __future__ import annotations

from pathlib import Path

from sleeplm.encoder.io.annotations import read_annotations

NSRR_XML = """<?xml version="1.0" encoding="UTF-8"?>
<PSGAnnotation><EpochLength>30</EpochLength><ScoredEvents>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Wake|0</EventConcept><Start>0</Start><Duration>60</Duration></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Stage 2 sleep|2</EventConcept><Start>60</Start><Duration>120</Duration></ScoredEvent>
</ScoredEvents></PSGAnnotation>
"""


def test_a_hypnogram_file_scores_stages_only(shared_data: Path) -> None:
    ann = read_annotations(shared_data / "real/dreams-eeg/Hypnogram_excerpt1.txt")
    assert ann.status("stages").state == "manual"
    for kind in ("respiratory", "desaturation", "arousal", "limb_movement"):
        st = ann.status(kind)
        assert st.state == "not scored" and "hypnogram" in st.reason


def test_a_csv_event_list_scores_only_the_kinds_it_lists(tmp_path: Path) -> None:
    p = tmp_path / "n.csv"
    p.write_text("onset,duration,label\n0,30,W\n30,30,N2\n40,12,Obstructive apnea\n")
    ann = read_annotations(p)
    assert ann.status("respiratory").state == "manual"
    assert ann.status("arousal").state == "not scored"
    assert ann.status("desaturation").state == "not scored"


def test_a_scoring_export_with_no_events_was_scored_as_none(tmp_path: Path) -> None:
    p = tmp_path / "n-nsrr.xml"
    p.write_text(NSRR_XML)
    ann = read_annotations(p)
    assert ann.events == []
    assert all(ann.status(k).state == "manual" for k in ("stages", "respiratory", "arousal"))
