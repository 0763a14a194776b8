"""Preprocessing to model-ready epochs: 64 Hz, 30 s, z-scored, masked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sleeplm.encoder.io.channels import map_channels
from sleeplm.encoder.signals.preprocess import make_epochs, resample_ratio, to_model_rate
from sleeplm.encoder.io.records import SLEEPLM_CHANNELS, Annotations, PSGError, Recording, Signal


def _mapped(signals: dict[str, tuple[np.ndarray, float]], seconds: float):
    sigs = [Signal(lab, d.astype(np.float32), fs, "uV") for lab, (d, fs) in signals.items()]
    return map_channels(Recording(Path("p.edf"), None, seconds, sigs))


@pytest.mark.parametrize("fs", [100.0, 128.0, 200.0, 250.0, 256.0, 500.0, 512.0, 2000.0, 10.0, 1.0, 0.5])
def test_common_rates_resample_exactly(fs: float) -> None:
    up, down = resample_ratio(fs)
    assert fs * up / down == pytest.approx(64.0, rel=1e-12)


def test_irrational_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be resampled"):
        resample_ratio(100 * np.pi)


def test_resampling_keeps_a_sleep_band_sine_and_removes_aliases() -> None:
    fs = 256.0
    t = np.arange(int(60 * fs)) / fs
    x = np.sin(2 * np.pi * 10 * t) + np.sin(2 * np.pi * 100 * t)  # 100 Hz would alias to 28 Hz at 64 Hz
    y = to_model_rate(x, fs, "EEG_C3")
    assert y.size == 60 * 64
    spec = np.abs(np.fft.rfft(y[640:-640]))
    freqs = np.fft.rfftfreq(y[640:-640].size, 1 / 64)
    assert spec[np.argmin(abs(freqs - 10))] > 50 * spec[np.argmin(abs(freqs - 28))]


def test_epochs_shape_zscore_mask_and_position_codes() -> None:
    rng = np.random.default_rng(1)
    seconds = 95.0  # three complete epochs
    mapped = _mapped({"C3-M2": (rng.normal(5, 20, int(seconds * 256)), 256.0),
                      "POSITION": (np.full(int(seconds), 2.0), 1.0)}, seconds)  # SHHS coding: 2 = supine
    ep = make_epochs(mapped)
    assert ep.x.shape == (3, 10, 1920) and ep.x.dtype == np.float32
    c3, pos = SLEEPLM_CHANNELS.index("EEG_C3"), SLEEPLM_CHANNELS.index("POS")
    assert abs(ep.x[:, c3].mean()) < 0.05 and ep.x[:, c3].std() == pytest.approx(1.0, abs=0.05)
    assert (ep.x[:, pos] == 2).all()
    assert ep.channel_mask[:, c3].all() and ep.channel_mask[:, pos].all()
    assert not ep.channel_mask[:, SLEEPLM_CHANNELS.index("ECG")].any()
    assert (ep.x[:, SLEEPLM_CHANNELS.index("ECG")] == 0).all()
    np.testing.assert_array_equal(ep.onset_s, [0.0, 30.0, 60.0])


def test_missing_position_is_unknown_code() -> None:
    mapped = _mapped({"C3-M2": (np.random.default_rng(0).normal(size=60 * 100), 100.0)}, 60.0)
    ep = make_epochs(mapped)
    assert (ep.x[:, SLEEPLM_CHANNELS.index("POS")] == -1).all()


def test_epochs_follow_the_annotation_clock_and_stages() -> None:
    fs = 100.0
    x = np.arange(int(100 * fs), dtype=np.float64)  # a ramp: values reveal the offset
    mapped = _mapped({"C3-M2": (np.sin(x / 7.0), fs)}, 100.0)
    ann = Annotations("test", None, ["W", "N2", "N3"], stage_onset_s=10.0)
    ep = make_epochs(mapped, ann)
    np.testing.assert_array_equal(ep.onset_s, [10.0, 40.0, 70.0])
    assert ep.stages == ["W", "N2", "N3"]


def test_flat_epoch_is_masked() -> None:
    fs = 100.0
    d = np.random.default_rng(0).normal(size=int(90 * fs))
    d[int(30 * fs): int(60 * fs)] = 0.0
    ep = make_epochs(_mapped({"C3-M2": (d, fs)}, 90.0))
    assert ep.channel_mask[:, SLEEPLM_CHANNELS.index("EEG_C3")].tolist() == [True, False, True]


def test_recording_shorter_than_an_epoch_is_refused() -> None:
    with pytest.raises(PSGError, match="shorter than one 30-s epoch"):
        make_epochs(_mapped({"C3-M2": (np.ones(1000), 100.0)}, 10.0))


def test_unresamplable_channel_names_file_and_channel() -> None:
    fs = 100 * np.pi
    mapped = _mapped({"C3-M2": (np.random.default_rng(0).normal(size=int(60 * fs)), fs)}, 60.0)
    with pytest.raises(PSGError, match=r"p\.edf: channel EEG_C3 \('C3-M2'\): .*cannot be resampled"):
        make_epochs(mapped)


def test_the_robust_scale_ignores_a_minority_of_large_waves_the_sd_does_not() -> None:
    from sleeplm.encoder.signals.preprocess import robust_zscore, zscore

    rng = np.random.default_rng(0)
    bulk = rng.standard_normal(80_000)
    night = np.concatenate([bulk, 6.0 * rng.standard_normal(20_000)])  # 20 % high-amplitude "slow-wave sleep"
    by_sd, by_mad = float(np.std(zscore(night)[:80_000])), float(np.std(robust_zscore(night)[:80_000]))
    assert by_sd < 0.45  # the SD unit shrinks the rest of the night to less than half
    assert by_mad > 0.75 and by_mad > 2 * by_sd
    g = rng.standard_normal(50_000)
    np.testing.assert_allclose(robust_zscore(g), zscore(g), atol=0.05)  # a Gaussian: the same unit


def test_brain_scale_mad_rescales_eeg_and_eog_only() -> None:
    fs, seconds = 128.0, 300.0
    rng = np.random.default_rng(1)
    t = int(fs * seconds)
    eeg = rng.standard_normal(t) * np.where(np.arange(t) < t // 4, 8.0, 1.0) * 20
    mapped = _mapped({"C3-M2": (eeg, fs), "EKG": (rng.standard_normal(t), fs)}, seconds)
    sd, mad = make_epochs(mapped), make_epochs(mapped, brain_scale="mad")
    c3, ecg = SLEEPLM_CHANNELS.index("EEG_C3"), SLEEPLM_CHANNELS.index("ECG")
    np.testing.assert_array_equal(sd.x[:, ecg], mad.x[:, ecg])
    assert float(np.std(mad.x[-3:, c3])) > 1.5 * float(np.std(sd.x[-3:, c3]))
    with pytest.raises(ValueError, match="brain_scale"):
        make_epochs(mapped, brain_scale="per-epoch")


def test_the_widest_stretch_scale_of_a_recording_no_longer_than_the_stretch_is_the_whole_recording_scale() -> None:
    from sleeplm.encoder.signals.preprocess import (
        SCALE_WINDOW_S,
        robust_zscore,
        windowed_robust_zscore,
    )

    rng = np.random.default_rng(2)
    for seconds in (120.0, 1800.0, SCALE_WINDOW_S):  # the Nox file, a DREAMS excerpt, a training night
        x = rng.standard_normal(int(64 * seconds)).astype(np.float32) * 30.0
        np.testing.assert_array_equal(windowed_robust_zscore(x), robust_zscore(x))


def test_the_widest_stretch_scale_comes_from_the_stretch_with_the_largest_spread() -> None:
    from sleeplm.encoder.signals.preprocess import robust_zscore, windowed_robust_zscore

    rng = np.random.default_rng(3)
    fs = 64
    quiet_1, loud, quiet_2 = (rng.standard_normal(int(fs * 3600 * h)) for h in (2.0, 1.5, 4.5))
    night = np.concatenate([quiet_1, 4.0 * loud, quiet_2])  # 8 h: one 1.5-h stretch four times wider
    z = windowed_robust_zscore(night)
    loud_part = z[len(quiet_1) : len(quiet_1) + len(loud)]
    assert 0.95 < float(np.std(loud_part)) < 1.05  # the loud stretch sets the unit, as it would in a 1.5-h recording
    assert float(np.std(z[: len(quiet_1)])) == pytest.approx(0.25, rel=0.05)
    assert float(np.std(robust_zscore(night)[len(quiet_1) : len(quiet_1) + len(loud)])) > 3.0  # the whole-night unit


def test_brain_scale_mad_window_leaves_a_short_recording_s_input_as_mad_reads_it() -> None:
    fs, seconds = 128.0, 600.0
    rng = np.random.default_rng(4)
    t = int(fs * seconds)
    mapped = _mapped({"C3-M2": (rng.standard_normal(t) * 20, fs), "E1-M2": (rng.standard_normal(t) * 40, fs),
                      "EKG": (rng.standard_normal(t), fs)}, seconds)
    np.testing.assert_array_equal(make_epochs(mapped, brain_scale="mad-window").x, make_epochs(mapped, brain_scale="mad").x)
