"""Annotation files that do not fit the 30-s grid or the recording: re-read onto 30-s epochs, or refused with the
file named — never stored at the wrong times. Expected stages are written out from the XML each test writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sleeplm.encoder.io.annotations import read_annotations
from sleeplm.encoder.io.psg import load_psg
from sleeplm.encoder.io.records import Annotations, PSGError
from sleeplm.encoder.signals.night import night_metrics


def _nsrr(path: Path, stages: list[tuple[float, float, str]], epoch_s: float = 30.0) -> Path:
    items = "".join(f"<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>{c}</EventConcept>"
                    f"<Start>{a}</Start><Duration>{d}</Duration></ScoredEvent>" for a, d, c in stages)
    path.write_text(f"<PSGAnnotation><EpochLength>{epoch_s:g}</EpochLength><ScoredEvents>{items}</ScoredEvents>"
                    "</PSGAnnotation>")
    return path


def test_stages_scored_in_20_s_epochs_are_read_onto_30_s_epochs_by_time(tmp_path: Path) -> None:
    # W for 0-300 s, then N2 for 300-600 s, in 20-s epochs
    items = [(20.0 * k, 20.0, "Wake|0" if k < 15 else "Stage 2 sleep|2") for k in range(30)]
    ann = read_annotations(_nsrr(tmp_path / "n.xml", items, epoch_s=20.0))
    assert ann.epoch_s == 30.0
    assert ann.stages == ["W"] * 10 + ["N2"] * 10
    assert ann.notes == ["the stages are scored in 20-s steps; each 30-s epoch takes the stage that covers more than "
                         "half of it: 0 of 20 epochs span more than one stage"]  # 300 s is on both grids


def test_a_30_s_epoch_split_evenly_between_two_60_s_stages_takes_the_one_covering_it(tmp_path: Path) -> None:
    items = [(0.0, 60.0, "Wake|0"), (60.0, 60.0, "REM sleep|5")]
    ann = read_annotations(_nsrr(tmp_path / "n.xml", items, epoch_s=60.0))
    assert ann.stages == ["W", "W", "REM", "REM"]


def test_stages_that_begin_before_the_recording_are_refused_naming_the_file(sim_cohort_dir: Path,
                                                                             tmp_path: Path) -> None:
    edf = shutil.copy(sim_cohort_dir / "sim-0001.edf", tmp_path / "night.edf")
    xml = _nsrr(tmp_path / "night-nsrr.xml", [(-60.0 + 30.0 * k, 30.0, "Wake|0") for k in range(20)])
    with pytest.raises(PSGError, match=r"night-nsrr.xml.*begin at -60 s, before the recording"):
        load_psg(edf, annotations=xml)


def test_a_hypnogram_one_epoch_short_keeps_the_night_s_spo2_and_heart_rate() -> None:
    stages = ["N2"] * 19
    onset = 30.0 * np.arange(20)
    features = pd.DataFrame({"onset_s": onset, "position_code": 2.0, "hr_mean_bpm": 60.0,
                             "spo2_mean_pct": 95.0, "spo2_min_pct": 93.0})
    m = night_metrics(Annotations("test", None, stages), features)
    assert (m.spo2_mean_pct, m.spo2_min_pct, m.supine_pct) == (95.0, 93.0, 100.0)


def test_a_night_with_no_known_body_position_has_no_position_share_not_zero() -> None:
    onset = 30.0 * np.arange(20)
    features = pd.DataFrame({"onset_s": onset, "position_code": -1.0, "hr_mean_bpm": 60.0,
                             "spo2_mean_pct": 95.0, "spo2_min_pct": 93.0})
    m = night_metrics(Annotations("test", None, ["N2"] * 20), features)
    assert np.isnan(m.supine_pct) and np.isnan(m.left_pct)


def test_an_implausible_age_is_no_age_band() -> None:
    from sleeplm.encoder.vocab import age_band

    assert age_band(-5.0) is None and age_band(400.0) is None and age_band(65.0) == "60+"


def test_an_event_listed_twice_is_kept_once_and_an_impossible_nadir_is_unknown(sim_cohort_dir: Path,
                                                                                tmp_path: Path) -> None:
    edf = shutil.copy(sim_cohort_dir / "sim-0001.edf", tmp_path / "night.edf")
    stages = "".join(f"<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Wake|0</EventConcept>"
                     f"<Start>{30 * k}</Start><Duration>30</Duration></ScoredEvent>" for k in range(20))
    hyp = ("<ScoredEvent><EventType>Respiratory|Respiratory</EventType><EventConcept>Hypopnea|Hypopnea</EventConcept>"
           "<Start>100</Start><Duration>15</Duration></ScoredEvent>")
    desat = ("<ScoredEvent><EventType>Respiratory|Respiratory</EventType><EventConcept>SpO2 desaturation|SpO2 "
             "desaturation</EventConcept><Start>200</Start><Duration>20</Duration><SpO2Nadir>150</SpO2Nadir>"
             "</ScoredEvent>")
    xml = tmp_path / "night-nsrr.xml"
    xml.write_text(f"<PSGAnnotation><EpochLength>30</EpochLength><ScoredEvents>{stages}{hyp}{hyp}{desat}"
                   "</ScoredEvents></PSGAnnotation>")
    psg = load_psg(edf, annotations=xml)
    assert [e.type for e in psg.annotations.events] == ["hypopnea", "oxygen_desaturation"]
    assert psg.annotations.events[1].spo2_nadir is None
    warnings = " ".join(psg.mapped.recording.warnings)
    assert "1 event(s) listed twice" in warnings and "SpO2 nadir(s) outside 0–100 %" in warnings


def test_an_event_lasting_beyond_the_recording_is_cut_at_its_end_and_said(sim_cohort_dir: Path,
                                                                         tmp_path: Path) -> None:
    edf = shutil.copy(sim_cohort_dir / "sim-0001.edf", tmp_path / "night.edf")
    long = ("<ScoredEvent><EventType>Respiratory|Respiratory</EventType><EventConcept>Obstructive apnea|Obstructive "
            "Apnea</EventConcept><Start>600</Start><Duration>20000</Duration></ScoredEvent>")
    xml = tmp_path / "night-nsrr.xml"
    xml.write_text(f"<PSGAnnotation><EpochLength>30</EpochLength><ScoredEvents>{long}</ScoredEvents></PSGAnnotation>")
    psg = load_psg(edf, annotations=xml)
    duration_s = psg.mapped.recording.duration_s
    (event,) = psg.annotations.events
    assert event.onset_s == 600 and event.duration_s == pytest.approx(duration_s - 600)
    assert "1 event(s) last beyond the end of the recording" in " ".join(psg.mapped.recording.warnings)


def test_a_truncated_recording_is_blamed_not_its_annotations(sim_cohort_dir: Path, tmp_path: Path) -> None:
    edf = shutil.copy(sim_cohort_dir / "sim-0001.edf", tmp_path / "night.edf")
    shutil.copy(sim_cohort_dir / "sim-0001-nsrr.xml", tmp_path / "night-nsrr.xml")
    with open(edf, "r+b") as f:
        f.truncate(Path(edf).stat().st_size // 2)
    with pytest.raises(PSGError, match=r"night\.edf: stages in night-nsrr\.xml cover .* the recording file looks "
                                       r"truncated .* the annotations may be right and night\.edf incomplete"):
        load_psg(edf)


def test_annotations_stating_another_start_clock_are_flagged(sim_cohort_dir: Path, tmp_path: Path) -> None:
    import re
    from datetime import timedelta

    edf = shutil.copy(sim_cohort_dir / "sim-0001.edf", tmp_path / "night.edf")
    xml = (sim_cohort_dir / "sim-0001-nsrr.xml").read_text()
    start = load_psg(edf).mapped.recording.start_time
    assert start is not None and "<ClockTime>" in xml
    other = (start + timedelta(minutes=33)).strftime("%H.%M.%S")
    (tmp_path / "other.xml").write_text(re.sub(r"<ClockTime>[^<]*</ClockTime>", f"<ClockTime>00.00.00 {other}</ClockTime>",
                                               xml, count=1))
    warnings = load_psg(edf, annotations=tmp_path / "other.xml").mapped.recording.warnings
    assert any("33 min apart" in w and "another recording's annotations" in w for w in warnings)
    (tmp_path / "night-nsrr.xml").write_text(xml)
    assert not any("apart" in w for w in load_psg(edf).mapped.recording.warnings)
