"""The spectral summary of the signal tower (our addition, off in the official model): its features, that adding it
to trained weights changes nothing until trained, and that it is stored and read back with the weights."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from sleeplm.encoder.model import create_model
from sleeplm.encoder.model.api import SleepLM, load_model
from sleeplm.encoder.model.checkpoint import save_checkpoint
from sleeplm.encoder.model.signal_encoder import SPECTRAL_BANDS_HZ, spectral_features
from sleeplm.encoder.vocab import CHANNEL_INDEX

EEG, POS = CHANNEL_INDEX["EEG_C3"], CHANNEL_INDEX["POS"]
PER_CHANNEL = len(SPECTRAL_BANDS_HZ) + 2


def one_lead(freq_hz: float, amplitude: float = 1.0) -> torch.Tensor:
    x = torch.zeros(1, 10, 1920)
    x[0, POS] = -1.0
    x[0, EEG] = amplitude * torch.sin(2 * torch.pi * freq_hz * torch.arange(1920) / 64.0)
    return x


def channel(feats: torch.Tensor, c: int) -> torch.Tensor:
    return feats[0, c * PER_CHANNEL:(c + 1) * PER_CHANNEL]


@pytest.mark.parametrize(("freq_hz", "band"), [(1.0, 0), (10.0, 3), (20.0, 5)])
def test_a_sine_puts_its_relative_power_in_its_own_band(freq_hz, band):
    rel = channel(spectral_features(one_lead(freq_hz), 64.0), EEG)[:len(SPECTRAL_BANDS_HZ)]
    assert int(rel.argmax()) == band
    assert float(rel[band]) > np.log(0.9) / 4.0  # > 90 % of the 0.5-32 Hz power (log / 4 scale)


def test_relative_band_powers_do_not_depend_on_the_recording_scale_but_the_rms_does():
    a, b = (channel(spectral_features(one_lead(10.0, k), 64.0), EEG) for k in (1.0, 3.0))
    n = len(SPECTRAL_BANDS_HZ)
    assert torch.allclose(a[:n], b[:n], atol=1e-5)
    assert float(b[n] - a[n]) == pytest.approx(np.log(3.0), abs=1e-4)


def test_missing_and_constant_channels_give_all_zero_features():
    feats = spectral_features(one_lead(10.0), 64.0)
    for c in range(10):
        if c != EEG:
            assert torch.count_nonzero(channel(feats, c)) == 0
    assert float(channel(feats, EEG)[-1]) == 1.0  # the recorded-channel flag


def test_the_official_architecture_has_no_spectral_summary():
    model = create_model("sleeplm-tiny")
    assert not model.cfg.biosignals_cfg.spectral_summary
    assert not any("spectral_summary" in k for k in model.state_dict())


def tiny_with_summary() -> SleepLM:
    torch.manual_seed(0)
    net = create_model("sleeplm-tiny").eval()
    net.biosignals.add_spectral_summary()
    b = dataclasses.replace(net.cfg.biosignals_cfg, spectral_summary=True)
    net.biosignals.cfg, net.cfg = b, dataclasses.replace(net.cfg, biosignals_cfg=b)
    return SleepLM(net, tokenizer=object())


def test_adding_the_summary_leaves_every_embedding_unchanged_until_it_is_trained():
    torch.manual_seed(0)
    plain = SleepLM(create_model("sleeplm-tiny").eval(), tokenizer=object())
    x = np.random.default_rng(0).standard_normal((3, 10, 1920)).astype(np.float32)
    assert np.array_equal(plain.encode_signal(x), tiny_with_summary().encode_signal(x))


def test_a_trained_summary_moves_the_embedding_and_is_read_back_with_the_weights(tmp_path):
    lm = tiny_with_summary()
    x = np.random.default_rng(1).standard_normal((3, 10, 1920)).astype(np.float32)
    before = lm.encode_signal(x)
    with torch.no_grad():
        lm.model.biosignals.spectral_summary.mlp[2].weight.normal_(0, 0.05)
    after = lm.encode_signal(x)
    assert np.abs(after - before).max() > 1e-3
    save_checkpoint(lm.model, tmp_path / "w.safetensors", lm.model.cfg.to_dict())
    back = load_model(tmp_path / "w.safetensors")
    assert back.config.biosignals_cfg.spectral_summary
    assert np.allclose(back.encode_signal(x), after, atol=1e-6)


def test_the_track_embeddings_carry_the_summary_as_the_main_one_does():
    lm = tiny_with_summary()
    with torch.no_grad():
        lm.model.biosignals.spectral_summary.mlp[2].bias.fill_(0.3)
    x = torch.from_numpy(np.random.default_rng(2).standard_normal((2, 10, 1920)).astype(np.float32))
    with torch.no_grad():
        main, _, _ = lm.model.encode_biosignals_tracks(x)
        emb, _ = lm.model.encode_biosignals(x)
    assert torch.allclose(main, emb, atol=1e-6)


@pytest.mark.parametrize("precision", ["int8", "bf16"])
def test_a_model_with_a_summary_runs_in_each_fast_mode_close_to_float32(precision):
    lm = tiny_with_summary()
    with torch.no_grad():
        lm.model.biosignals.spectral_summary.mlp[2].weight.normal_(0, 0.05)
    x = np.random.default_rng(3).standard_normal((3, 10, 1920)).astype(np.float32)
    exact = lm.encode_signal(x)
    fast = lm.to_precision(precision).encode_signal(x)
    assert float((exact * fast).sum(1).min()) > 0.999
