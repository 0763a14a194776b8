"""Captions: render -> parse gives the facts back (canonical and paraphrased), official examples parse."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from sleeplm.encoder.captions import TRACKS, facts_from_features, parse_caption, render_captions
from sleeplm.encoder.captions.facts import EventFact
from sleeplm.encoder.signals.features import FEATURE_COLUMNS


def _row(rng: np.random.Generator) -> dict:
    row = {}
    for col, (unit, _) in FEATURE_COLUMNS.items():
        if unit == "%":
            row[col] = float(rng.uniform(0, 100))
        elif unit == "count":
            row[col] = float(rng.integers(0, 12))
        else:
            row[col] = float(rng.uniform(0.1, 90))
    row.update(stage="N2", onset_s=0.0, hr_trend="increasing 14.1-18.8,decreasing 25.3-30.0",
               spo2_trend="decreasing 3.0-14.0", position_code=2.0, position="supine",
               position_changes="")
    return row


def clip_spacing(text: str) -> str:
    """Mimic the CLIP tokenizer's decode: lower case, single digits, spaced punctuation."""
    t = text.lower()
    t = re.sub(r"(?<=[\d.])(?=[\d.])", " ", t)
    return re.sub(r"\s*([.,:()])\s*", r" \1 ", t)


EVENTS = [EventFact("hypopnea", 0.0, 5.6), EventFact("oxygen_desaturation", 14.2, 30.0, 88.5),
          EventFact("arousal", 3.1, 12.0)]


@pytest.mark.parametrize("track", TRACKS)
@pytest.mark.parametrize("seed", [None, 0, 1, 2, 7, 123])
@pytest.mark.parametrize("spacing", [False, True])
def test_roundtrip(track: str, seed: int | None, spacing: bool) -> None:
    row = _row(np.random.default_rng(abs(hash(track)) % 1000))
    text = render_captions(row, EVENTS, "N2", track, seed)
    facts = facts_from_features(row, EVENTS, "N2", track)
    back = parse_caption(clip_spacing(text) if spacing else text, track)
    assert back == facts, text


def test_missing_values_give_no_sentence() -> None:
    row = _row(np.random.default_rng(0))
    for k in list(row):
        if k.startswith(("ecg_", "hr_")):
            row[k] = math.nan if not k.endswith("trend") else ""
    text = render_captions(row, [], "N2", "cardiac")
    assert "Electrocardiogram" not in text and "Heart Rate" not in text
    assert "Blood Oxygen Saturation" in text
    row = {k: (math.nan if isinstance(v, float) else "") for k, v in row.items()}
    text = render_captions(row, [], "N2", "respiratory")
    assert not re.search(r"\d", text)
    assert parse_caption(text, "respiratory").sections == {}


def test_paraphrases_differ_and_are_deterministic() -> None:
    row = _row(np.random.default_rng(1))
    texts = {render_captions(row, EVENTS, "REM", "brain", s) for s in range(6)}
    assert len(texts) >= 5
    assert render_captions(row, EVENTS, "REM", "brain", 3) == render_captions(row, EVENTS, "REM", "brain", 3)
    assert render_captions(row, EVENTS, "REM", "brain") == render_captions(row, EVENTS, "REM", "brain", None)


def test_official_stage_event_examples() -> None:
    f = parse_caption("Sleep stage evaluation reveals Stable Light Sleep (N2) for this epoch. The Hypopnea "
                      "event is documented from 0.0 to 5.6 seconds.", "stage_event")
    assert f.stage == "N2" and [(e.type, e.start_s, e.end_s) for e in f.events] == [("hypopnea", 0.0, 5.6)]
    f = parse_caption("Sleep stage analysis shows Wake for this epoch. A Arousal event occurs from 0.0 to 9.8 "
                      "seconds.", "stage_event")
    assert f.stage == "W" and [(e.type, e.start_s, e.end_s) for e in f.events] == [("arousal", 0.0, 9.8)]
    f = parse_caption("A REM Sleep phase is detected in this epoch. The Hypopnea event is documented from 0.0 "
                      "to 5.6 seconds. The Oxygen Desaturation event lasts from 14.2 to 30.0 seconds.",
                      "stage_event")
    assert f.stage == "REM"
    assert [(e.type, e.start_s, e.end_s) for e in f.events] == [("hypopnea", 0.0, 5.6),
                                                                ("oxygen_desaturation", 14.2, 30.0)]
    f = parse_caption("the patient exhibits wake features in this segment . the arousal event is identified "
                      "from 0 . 0 to 1 5 . 2 seconds .", "stage_event")
    assert f.stage == "W" and [(e.type, e.start_s, e.end_s) for e in f.events] == [("arousal", 0.0, 15.2)]
    f = parse_caption("Sleep stage evaluation reveals Stable Light Sleep (N2) for this epoch. No "
                      "sleep-disordered breathing events were detected.", "stage_event")
    assert f.stage == "N2" and f.events == []
    assert parse_caption("the patient exhibits n2 sleep features in this segment .", "stage_event").stage == "N2"


def test_official_brain_example() -> None:
    text = ("central eeg activity ( c 4 - a 1 ): a delta relative power equal to 3 9 . 0 5 %, together with "
            "a theta relative power at 2 8 . 2 0 %, and a beta relative power of 6 . 2 7 %. left eog movement "
            ": slow eye movement relative power valued at 2 0 . 5 1 %, and rem saccadic relative power of "
            "5 7 . 2 0 %. Central EEG Activity (C3-A2): delta relative power measuring 48.49%, alpha relative "
            "power of 7.5%.")
    f = parse_caption(text, "brain")
    assert f.sections["eeg_c4"].values == {"delta_rel_pct": 39.05, "theta_rel_pct": 28.20, "beta_rel_pct": 6.27}
    assert f.sections["eog_l"].values == {"sem_rel_pct": 20.51, "rem_rel_pct": 57.20}
    assert f.sections["eeg_c3"].values == {"delta_rel_pct": 48.49, "alpha_rel_pct": 7.5}
    assert "eog_r" not in f.sections


def test_official_heart_example() -> None:
    text = ("Electrocardiogram: estimated beat rate at 63.6 bpm, along with a ultra-short HRV (RMSSD) at "
            "24.41 ms. Heart Rate: a minimum value at 63.28, maximum value of 65.1, mean of 64.0, an decreasing "
            "phase from 0.9 to 7.5 seconds. Blood Oxygen Saturation: minimum value measuring 96.09, and a mean "
            "of 97.2.")
    f = parse_caption(text, "heart")
    assert f.sections["ecg"].values == {"beat_rate_bpm": 63.6, "rmssd_ms": 24.41}
    assert f.sections["hr"].values == {"min_bpm": 63.28, "max_bpm": 65.1, "mean_bpm": 64.0}
    assert [(t.direction, t.start_s, t.end_s) for t in f.sections["hr"].trends] == [("decreasing", 0.9, 7.5)]
    assert f.sections["spo2"].values == {"min_pct": 96.09, "mean_pct": 97.2}
    spaced = ("heart rate : minimum value of 6 4 . 0 7 , in addition to maximum value of 6 5 . 6 3 , plus a "
              "mean of 6 5 . 0 0 , an increasing behavior from 1 4 . 1 to 1 8 . 8 seconds , and a decreasing "
              "interval from 2 5 . 3 to 3 0 . 0 seconds . blood oxygen saturation : minimum value of 9 8 . 0 5 ,"
              " and a mean of 9 8 . 0 5 .")
    f = parse_caption(spaced, "cardiac")
    assert f.sections["hr"].values == {"min_bpm": 64.07, "max_bpm": 65.63, "mean_bpm": 65.0}
    assert [(t.direction, t.start_s, t.end_s) for t in f.sections["hr"].trends] == [
        ("increasing", 14.1, 18.8), ("decreasing", 25.3, 30.0)]
    assert f.sections["spo2"].values == {"min_pct": 98.05, "mean_pct": 98.05}


def test_official_respiratory_and_somatic_examples() -> None:
    text = ("Abdominal Respiration: respiratory rate valued at 13.29 bpm. Thoracic Respiration: respiratory rate "
            "of 14.71 bpm, along with a breath interval variability equal to 0.25 s. Air Flow: a airflow rate "
            "valued at 14.64 bpm, plus a inspiratory flow flatness of 0.71.")
    f = parse_caption(text, "respiratory")
    assert f.sections["abd"].values == {"rate_bpm": 13.29}
    assert f.sections["thx"].values == {"rate_bpm": 14.71, "biv_s": 0.25}
    assert f.sections["af"].values == {"rate_bpm": 14.64, "flatness": 0.71}
    f = parse_caption("Thoracic Respiration: a respiratory rate equal to 14.88 bpm, and finally breath interval "
                      "variability valued at 0.28 s.", "respiratory")
    assert f.sections["thx"].values == {"rate_bpm": 14.88, "biv_s": 0.28}
    text = ("Chin EMG Activity: a median frequency of 17.34 Hz, including a burst intensity ratio measuring 1.91, "
            "together with burst modulation rate at 0.98 Hz. The patient maintains the left position for this "
            "period.")
    f = parse_caption(text, "position_muscle")
    assert f.sections["emg"].values == {"median_freq_hz": 17.34, "burst_ratio": 1.91, "burst_mod_hz": 0.98}
    assert f.position is not None and f.position.position == "left"
    f = parse_caption("chin emg activity : median frequency of 1 7 . 3 0 hz , in addition to burst intensity "
                      "ratio equal to 1 . 9 4 , and a burst modulation rate equal to 0 . 9 6 hz . the patient "
                      "stays lying left for the full epoch .", "somatic")
    assert f.sections["emg"].values == {"median_freq_hz": 17.3, "burst_ratio": 1.94, "burst_mod_hz": 0.96}
    assert f.position.position == "left"


def test_position_change_roundtrip() -> None:
    row = _row(np.random.default_rng(2))
    row.update(position="upright", position_code=4.0, position_changes="2>4@12.3")
    for seed in (None, 1, 2):
        text = render_captions(row, [], "N1", "somatic", seed)
        back = parse_caption(clip_spacing(text), "somatic")
        assert back == facts_from_features(row, [], "N1", "somatic"), text
        assert back.position.changes[0].to_position == "upright"
