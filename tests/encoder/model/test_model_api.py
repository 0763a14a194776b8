"""The public model API: numpy in, normalised embeddings and captions out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sleeplm.encoder.model import TRACKS, SleepLM, create_model, list_configs, track_index

SMALL = {
    "embed_dim": 16,
    "biosignals_cfg": {"conv_embed_dim": 8, "transformer_layers": 1, "transformer_width": 32,
                       "transformer_heads": 4, "decoder_tokens": 4},
    "text_cfg": {"context_length": 64, "layers": 1, "heads": 4, "width": 32},
    "multimodal_cfg": {"width": 32, "context_length": 64, "layers": 1, "heads": 4},
}


@pytest.fixture(scope="module")
def lm() -> SleepLM:
    torch.manual_seed(0)
    return SleepLM(create_model(SMALL))


def test_bundled_configs():
    assert {"sleeplm-base", "sleeplm-mini", "sleeplm-tiny"} <= set(list_configs())


def test_tracks_map_to_official_modality_indices():
    assert TRACKS == {"brain": 0, "cardiac": 1, "respiratory": 2, "somatic": 3, "stage_event": 4}
    assert track_index("heart") == 1 and track_index("position_muscle") == 3
    with pytest.raises(ValueError, match="unknown track"):
        track_index("eeg")


def test_encode_signal_returns_unit_float32_rows(lm):
    emb = lm.encode_signal(np.random.default_rng(0).standard_normal((5, 10, 1920)), batch_size=2)
    assert emb.shape == (5, 16) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_encode_signal_is_batch_size_independent(lm):
    x = np.random.default_rng(1).standard_normal((4, 10, 1920)).astype(np.float32)
    np.testing.assert_allclose(lm.encode_signal(x, batch_size=1), lm.encode_signal(x, batch_size=4), atol=1e-5)


def test_encode_signal_rejects_wrong_shapes_and_nans(lm):
    with pytest.raises(ValueError, match=r"\[N, 10, 1920\]"):
        lm.encode_signal(np.zeros((2, 9, 1920)))
    bad = np.zeros((1, 10, 1920))
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lm.encode_signal(bad)


def test_encode_text_returns_unit_rows(lm):
    emb = lm.encode_text(["wake", "n2 sleep", "rem sleep"])
    assert emb.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_generate_returns_one_caption_per_epoch(lm):
    caps = lm.generate(np.zeros((3, 10, 1920), dtype=np.float32), "brain", max_len=20)
    assert len(caps) == 3 and all(isinstance(c, str) for c in caps)


def test_padding_index_selects_the_padding_embedding(lm):
    m = lm.model
    cond = m.condition_embeddings(torch.tensor([[2, -1]]))
    assert torch.equal(cond[0, 0], m.channel_embeddings[2]) and torch.equal(cond[0, 1], m.padding_embedding)


def test_forward_returns_the_official_keys(lm):
    ids = lm.tokenizer(["wake"], context_length=16)
    out = lm.model(torch.zeros(1, 10, 1920), ids, channel_indices=torch.tensor([[4, -1]]))
    assert {"image_features", "text_features", "logits", "labels", "logit_scale"} <= set(out)
    assert out["logits"].shape == (1, 15, 49408)


def test_tiny_config_fits_cpu_training():
    from sleeplm.encoder.model import get_config

    cfg = get_config("sleeplm-tiny")
    assert cfg.width == 128 and cfg.biosignals_cfg.transformer_layers == 2
    assert cfg.text_cfg.layers == cfg.multimodal_cfg.layers == 4
    # 1-s patches (30 per channel) and a 128-token context keep a training step at ~2 s on 2 CPU cores
    assert cfg.biosignals_cfg.patch_size == 64 and cfg.text_cfg.context_length == 128
    model = create_model(cfg, device="meta")
    assert sum(p.numel() for p in model.parameters()) < 10_000_000
