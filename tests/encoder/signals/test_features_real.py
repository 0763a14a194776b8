"""Features and captions on real recordings (../shared/data/real; skipped when absent).

- Nox A1 (2 min, 4 epochs, every SleepLM channel + SpO2, no annotations): every feature exists
  and is physiological; heart rate agrees with the device's own 'Heart Rate' channel within
  1 bpm and breathing rate with its 'Resp Rate' channel within 1.5 breaths/min per epoch.
- DREAMS EEG excerpts (one central EEG channel, 100/200 Hz, hypnograms): EEG features only,
  NaN everywhere else and no sentence for an absent channel; relative powers sum to 100 %;
  per-stage delta power agrees with the published-style reference table
  (dreams-eeg-bandpower-by-stage.json) within 5 percentage points, and N3 > W.
Both: no warnings, no exceptions.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sleeplm.encoder.captions import TRACKS, render_night
from sleeplm.encoder.captions.render import NO_SIGNAL
from sleeplm.encoder.io.edf import read_recording
from sleeplm.encoder.signals.features import FEATURE_COLUMNS, compute_epoch_features, default_onsets_s
from sleeplm.encoder.signals.eeg import EEG_BANDS_HZ
from sleeplm.encoder.io.psg import load_psg

DREAMS = (1, 2, 4, 5, 6, 7, 8)
STRING_COLUMNS = ("stage", "hr_trend", "spo2_trend", "position", "position_changes")


def _features(path: Path) -> tuple[object, pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        psg = load_psg(path)
        on = default_onsets_s(psg.mapped, psg.annotations)
        return psg, compute_epoch_features(psg.mapped, psg.annotations, on)


@pytest.fixture(scope="module")
def nox(shared_data: Path):
    path = shared_data / "real" / "nox-a1-2min" / "subject1.edf"
    psg, df = _features(path)
    return path, psg, df


@pytest.fixture(scope="module")
def dreams(shared_data: Path) -> pd.DataFrame:
    parts = []
    for k in DREAMS:
        _, df = _features(shared_data / "real" / "dreams-eeg" / f"excerpt{k}.txt")
        parts.append(df.assign(excerpt=k))
    return pd.concat(parts, ignore_index=True)


def _device_epoch_means(path: Path, label: str, n: int) -> np.ndarray:
    s = read_recording(path, labels=[label]).signal(label)
    per = int(round(30 * s.fs_hz))
    return np.asarray(s.data[: n * per], float).reshape(n, per).mean(axis=1)


def test_nox_every_feature_present_and_sane(nox) -> None:
    path, psg, df = nox
    assert len(df) == 4 and (df.stage == "UNKNOWN").all()
    numeric = [c for c in FEATURE_COLUMNS if c not in STRING_COLUMNS]
    assert df[numeric].notna().all().all(), df[numeric].columns[df[numeric].isna().any()].tolist()
    assert df.ecg_hr_bpm.between(40, 120).all() and df.hr_min_bpm.between(35, 120).all()
    assert (df.hr_min_bpm <= df.hr_mean_bpm).all() and (df.hr_mean_bpm <= df.hr_max_bpm).all()
    assert df.ecg_rmssd_ms.between(5, 200).all()
    assert df.spo2_min_pct.between(85, 100).all() and df.spo2_mean_pct.between(85, 100).all()
    for ch in ("abd", "thx", "af"):
        assert df[f"{ch}_rate_bpm"].between(8, 30).all(), ch
    for ch in ("c3", "c4"):
        rel = df[[f"eeg_{ch}_{b}_rel_pct" for b in EEG_BANDS_HZ]]
        assert ((rel >= 0) & (rel <= 100)).all().all()
        np.testing.assert_allclose(rel.sum(axis=1), 100.0, atol=0.5)
    assert df.emg_median_freq_hz.between(10, 32).all()  # what the 64-Hz, >= 10-Hz model input keeps
    assert df.position_code.isin([0, 1, 2, 3, 4]).all() and (df.position != "").all()


def test_nox_matches_the_device_channels(nox) -> None:
    path, _, df = nox
    hr = _device_epoch_means(path, "Heart Rate", len(df))
    np.testing.assert_allclose(df.ecg_hr_bpm, hr, atol=1.0)
    np.testing.assert_allclose(df.hr_mean_bpm, hr, atol=1.0)
    rr = _device_epoch_means(path, "Resp Rate", len(df))
    for ch in ("abd", "thx", "af"):
        np.testing.assert_allclose(df[f"{ch}_rate_bpm"], rr, atol=1.5, err_msg=ch)


def test_nox_captions_have_every_section(nox) -> None:
    _, _, df = nox
    for track in TRACKS:
        for text in render_night(df, None, track):
            assert text != NO_SIGNAL.get(track)
            assert "nan" not in text.lower()
    brain = render_night(df, None, "brain")[0]
    for title in ("Left EOG Movement", "Right EOG Movement", "(C3-A2)", "(C4-A1)"):
        assert title in brain
    assert "Blood Oxygen Saturation" in render_night(df, None, "cardiac")[0]
    assert "Air Flow" in render_night(df, None, "respiratory")[0]
    assert "position" in render_night(df, None, "somatic")[0]


def test_dreams_eeg_only(dreams: pd.DataFrame) -> None:
    assert len(dreams) == 60 * len(DREAMS)
    eeg = [f"eeg_c3_{b}_rel_pct" for b in EEG_BANDS_HZ]
    assert dreams[eeg].notna().all().all()
    assert dreams[["eeg_c3_spindle_count", "eeg_c3_slow_wave_count"]].notna().all().all()
    np.testing.assert_allclose(dreams[eeg].sum(axis=1), 100.0, atol=0.5)
    others = [c for c in FEATURE_COLUMNS if c not in STRING_COLUMNS and c != "onset_s"
              and not c.startswith("eeg_c3_")]
    assert dreams[others].isna().all().all(), dreams[others].columns[dreams[others].notna().any()].tolist()
    for c in ("hr_trend", "spo2_trend", "position", "position_changes"):
        assert (dreams[c] == "").all(), c
    assert set(dreams.stage) <= {"W", "N1", "N2", "N3", "REM"}


def test_dreams_captions_only_for_present_channels(dreams: pd.DataFrame) -> None:
    one = dreams[dreams.excerpt == 1].reset_index(drop=True)
    for text in render_night(one, None, "brain"):
        assert text.startswith("Central EEG Activity (C3-A2):")
        assert "EOG" not in text and "(C4-A1)" not in text and "nan" not in text.lower()
    for track in ("cardiac", "respiratory", "somatic"):
        assert set(render_night(one, None, track)) == {NO_SIGNAL[track]}


def test_dreams_delta_by_stage(dreams: pd.DataFrame, shared_data: Path) -> None:
    by_stage = dreams.groupby("stage")["eeg_c3_delta_rel_pct"].mean()
    assert by_stage["N3"] > by_stage["W"] + 10
    assert by_stage["N3"] > by_stage["N2"] > by_stage["N1"]
    ref = json.loads((shared_data / "real" / "dreams-eeg-bandpower-by-stage.json").read_text())["per_stage"]
    for stage in ("W", "N2", "N3"):
        assert by_stage[stage] == pytest.approx(100 * ref[stage]["delta"]["mean"], abs=5.0), stage
