"""The chin EMG's relative tone measured on model-input epochs against the night's reference (the fact reader's
caller-measured prior): on a synthetic night whose epoch amplitudes are set by hand, and against the caption
features' own tone on the raw signal."""

from __future__ import annotations

import numpy as np
import pytest
from sleeplm.encoder.io.records import Signal
from sleeplm.encoder.signals.emg import emg_features, epoch_emg_values, night_emg_rms
from sleeplm.encoder.signals.preprocess import to_model_rate, zscore

AMPLITUDES = np.array([1.0, 0.5, 2.0, 1.0, 0.25, 1.0, 1.5])


def _noise_epochs(amplitudes: np.ndarray, n: int = 1920, seed: int = 0) -> np.ndarray:
    """Unit-RMS noise per epoch, scaled by each epoch's amplitude."""
    x = np.random.default_rng(seed).standard_normal((len(amplitudes), n))
    return x / np.sqrt((x**2).mean(1, keepdims=True)) * amplitudes[:, None]


def test_tone_is_each_epochs_rms_over_the_nights_median() -> None:
    x = _noise_epochs(AMPLITUDES)
    ref = night_emg_rms(x)
    assert ref == pytest.approx(np.median(AMPLITUDES))
    tone = epoch_emg_values(x, np.full(len(x), ref))["emg_tone_rel_pct"]
    assert tone == pytest.approx(100 * AMPLITUDES / np.median(AMPLITUDES))


def test_a_flat_epoch_has_no_tone_and_does_not_count_in_the_reference() -> None:
    x = _noise_epochs(AMPLITUDES)
    x[4] = 0.0
    ref = night_emg_rms(x)
    assert ref == pytest.approx(np.median(np.delete(AMPLITUDES, 4)))
    assert np.isnan(epoch_emg_values(x, np.full(len(x), ref))["emg_tone_rel_pct"][4])


def test_without_the_nights_reference_the_tone_is_unknown() -> None:
    x = _noise_epochs(AMPLITUDES)
    assert np.isnan(epoch_emg_values(x, np.full(len(x), np.nan))["emg_tone_rel_pct"]).all()
    assert np.isnan(night_emg_rms(np.zeros((3, 1920))))


def test_the_model_inputs_tone_matches_the_captions_tone_on_the_raw_signal() -> None:
    fs_hz = 256.0
    raw = _noise_epochs(np.repeat(AMPLITUDES, 1), n=int(30 * fs_hz), seed=1).reshape(-1) * 20.0  # µV
    caption = emg_features(Signal("Chin", raw, fs_hz, "uV"), np.arange(len(AMPLITUDES)) * 30.0)["emg_tone_rel_pct"]
    model_input = zscore(to_model_rate(raw, fs_hz, "EMG_CHIN")).reshape(len(AMPLITUDES), 1920)
    tone = epoch_emg_values(model_input, np.full(len(AMPLITUDES), night_emg_rms(model_input)))["emg_tone_rel_pct"]
    assert tone == pytest.approx(caption, rel=0.05)
