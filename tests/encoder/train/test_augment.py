"""The EEG spectrum jitter used in adaptation: what it moves, what it keeps."""

import numpy as np
import pytest
import torch
from sleeplm.encoder.train.augment import jitter_eeg_spectrum, tilt_spectrum, time_scale
from sleeplm.encoder.vocab import CHANNEL_INDEX

FS = 64.0
N = 1920


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / FS)[np.argmax(spec)])


def _sine(f_hz: float) -> np.ndarray:
    return np.sin(2 * np.pi * f_hz * np.arange(N) / FS)


def test_time_scale_moves_a_rhythm_by_the_factor():
    x = _sine(10.0)[None, None, :]
    y = time_scale(x, np.array([1.15]))
    assert _peak_hz(y[0, 0]) == pytest.approx(11.5, abs=0.1)
    assert _peak_hz(time_scale(x, np.array([0.87]))[0, 0]) == pytest.approx(8.7, abs=0.1)


def test_time_scale_by_one_is_the_identity():
    x = np.random.default_rng(0).normal(size=(2, 2, N))
    assert np.allclose(time_scale(x, np.ones(2)), x)


def test_time_scale_refuses_a_factor_it_cannot_honour():
    with pytest.raises(ValueError, match="factor"):
        time_scale(np.zeros((1, 1, N)), np.array([2.5]))


def test_tilt_keeps_each_leads_rms_and_a_positive_exponent_adds_slow_power():
    x = _sine(2.0) + _sine(20.0)
    y = tilt_spectrum(np.stack([x, 3 * x])[None], np.array([1.0]))
    assert np.sqrt((y[0] ** 2).mean(-1)) == pytest.approx(np.sqrt((np.stack([x, 3 * x]) ** 2).mean(-1)))
    spec = np.abs(np.fft.rfft(y[0, 0]))
    f = np.fft.rfftfreq(N, 1 / FS)
    assert spec[np.argmin(abs(f - 2))] > 2 * spec[np.argmin(abs(f - 20))]


def test_spectrum_jitter_changes_only_the_eeg_and_an_absent_lead_stays_absent():
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(4, 10, N)).astype(np.float32))
    x[:, CHANNEL_INDEX["EEG_C4"]] = 0.0  # one lead recorded, as a one-channel file reads
    out = jitter_eeg_spectrum(x, np.random.default_rng(1), 0.2, 0.5)
    eeg = [CHANNEL_INDEX["EEG_C3"], CHANNEL_INDEX["EEG_C4"]]
    other = [c for c in range(10) if c not in eeg]
    assert torch.equal(out[:, other], x[:, other])
    assert torch.equal(out[:, CHANNEL_INDEX["EEG_C4"]], x[:, CHANNEL_INDEX["EEG_C4"]])
    assert not torch.allclose(out[:, CHANNEL_INDEX["EEG_C3"]], x[:, CHANNEL_INDEX["EEG_C3"]])


def test_spectrum_jitter_with_zero_ranges_returns_the_batch_itself_and_refuses_ranges_out_of_bounds():
    x = torch.zeros((2, 10, N))
    assert jitter_eeg_spectrum(x, np.random.default_rng(0), 0.0, 0.0) is x
    with pytest.raises(ValueError, match="frequency_log2"):
        jitter_eeg_spectrum(x, np.random.default_rng(0), 0.9, 0.0)
    with pytest.raises(ValueError, match="tilt"):
        jitter_eeg_spectrum(x, np.random.default_rng(0), 0.0, -0.1)
