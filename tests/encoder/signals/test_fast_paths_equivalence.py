"""The ingest's fast paths store exactly what the plain ones did (issue 16).

The plain forms below are the code the fast paths replaced: cutting a signal into epochs by
gathering every sample index, and checking each epoch for a flat lead one slice at a time.
Both give the same numbers bit for bit, so no stored feature, mask or caption can move;
the tolerance is zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sleeplm.encoder.io.psg import load_psg
from sleeplm.encoder.io.records import EPOCH_S
from sleeplm.encoder.signals import (
    _common,
    cardiac,
    eeg,
    emg,
    eog,
    position_features,
    preprocess,
    respiration,
    spo2,
)
from sleeplm.encoder.signals.features import compute_epoch_features


def plain_epoch_matrix(data: np.ndarray, fs_hz: float, onset_s: np.ndarray, epoch_s: float = EPOCH_S) -> np.ndarray:
    n = int(round(epoch_s * fs_hz))
    start = np.round(np.asarray(onset_s, dtype=np.float64) * fs_hz).astype(np.int64)
    idx = start[:, None] + np.arange(n)[None, :]
    valid = (idx >= 0) & (idx < len(data))
    out = np.asarray(data, dtype=np.float64)[np.clip(idx, 0, max(len(data) - 1, 0))] if len(data) else (
        np.zeros(idx.shape))
    return np.where(valid, out, np.nan)


def plain_flat_epochs(x: np.ndarray, fs_hz: float, onset_s: np.ndarray) -> np.ndarray:
    n_per = int(round(EPOCH_S * fs_hz))
    out = np.ones(len(onset_s), bool)
    for i, t0 in enumerate(onset_s):
        seg = x[int(round(t0 * fs_hz)) : int(round(t0 * fs_hz)) + n_per]
        out[i] = seg.size == 0 or float(np.ptp(seg)) == 0.0
    return out


@pytest.fixture(scope="module")
def night(sim_cohort_dir: Path):
    return load_psg(sorted(sim_cohort_dir.glob("*.edf"))[0])


def _signal_with_flat_and_nan_stretches(fs_hz: float = 64.0, seconds: float = 300.0) -> np.ndarray:
    x = np.random.default_rng(3).normal(0, 10, int(seconds * fs_hz)).astype(np.float32)
    x[int(30 * fs_hz) : int(60 * fs_hz)] = 4.0  # epoch 1 flat
    x[int(95 * fs_hz)] = np.nan  # epoch 3 holds a NaN
    return x


@pytest.mark.parametrize("onsets", [
    EPOCH_S * np.arange(10),  # back to back, all inside: the reshape path
    EPOCH_S * np.arange(12),  # the last two run past the end
    np.array([0.0, 31.0, 95.5, 200.0]),  # irregular: the gather path
    np.array([12.25]),  # one epoch
])
def test_epoch_matrix_equals_gathering_every_index(onsets: np.ndarray) -> None:
    x = _signal_with_flat_and_nan_stretches()
    np.testing.assert_array_equal(_common.epoch_matrix(x, 64.0, onsets), plain_epoch_matrix(x, 64.0, onsets))


@pytest.mark.parametrize("onsets", [
    EPOCH_S * np.arange(10),
    EPOCH_S * np.arange(12),
    np.array([0.0, 31.0, 95.5, 200.0]),
    7.5 + EPOCH_S * np.arange(9),  # the clock starts 7.5 s in
])
def test_flat_epochs_equals_the_per_epoch_check(onsets: np.ndarray) -> None:
    x = _signal_with_flat_and_nan_stretches()
    np.testing.assert_array_equal(preprocess.flat_epochs(x, 64.0, onsets), plain_flat_epochs(x, 64.0, onsets))


def test_flat_epochs_finds_the_flat_epoch_and_not_the_one_with_a_nan() -> None:
    got = preprocess.flat_epochs(_signal_with_flat_and_nan_stretches(), 64.0, EPOCH_S * np.arange(10))
    assert got.tolist() == [False, True] + [False] * 8


def test_model_input_is_identical_with_threads_and_the_per_epoch_flat_check(night, monkeypatch) -> None:
    fast = preprocess.make_epochs(night.mapped, night.annotations, threads=3)
    monkeypatch.setattr(preprocess, "flat_epochs", plain_flat_epochs)
    plain = preprocess.make_epochs(night.mapped, night.annotations, threads=1)
    np.testing.assert_array_equal(fast.x, plain.x)
    np.testing.assert_array_equal(fast.channel_mask, plain.channel_mask)
    np.testing.assert_array_equal(fast.onset_s, plain.onset_s)
    assert fast.stages == plain.stages


def test_features_of_a_simulated_night_are_identical_to_the_gathering_path(night, monkeypatch) -> None:
    onsets = preprocess.epoch_onsets(night.mapped.recording.duration_s, night.annotations.stage_onset_s)
    fast = compute_epoch_features(night.mapped, night.annotations, onsets)
    for mod in (_common, cardiac, eeg, emg, eog, position_features, respiration, spo2):
        if hasattr(mod, "epoch_matrix"):
            monkeypatch.setattr(mod, "epoch_matrix", plain_epoch_matrix)
    plain = compute_epoch_features(night.mapped, night.annotations, onsets)
    pd.testing.assert_frame_equal(fast, plain, check_exact=True)
