"""The fast paths equal the plain ones: fused encoder, lean (meta + mmap) loading, batched captions.

Small configs only; speed itself is measured by bench/bench_model_speed.py, not here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from sleeplm.encoder.model import create_model, load_model, save_checkpoint
from sleeplm.encoder.model.checkpoint import load_checkpoint
from sleeplm.encoder.model.generation import generate_tracks, greedy_generate_reference
from sleeplm.encoder.model.layers import RMSNorm, RotaryEmbedding, SwiGLU, apply_rope, apply_rope_pairs

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "parity-mini"


@pytest.fixture(scope="module")
def lm():
    return load_model(FIXTURE / "checkpoint.pt")


@pytest.fixture(scope="module")
def signals() -> np.ndarray:
    return np.load(FIXTURE / "inputs.npy")


def test_fused_layers_equal_textbook_forms():
    torch.manual_seed(0)
    x = torch.randn(3, 7, 32)
    norm = RMSNorm(32)
    norm.weight.data.uniform_(0.5, 1.5)
    h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * norm.weight
    torch.testing.assert_close(norm(x), h, rtol=0, atol=1e-6)
    rope = RotaryEmbedding(8)
    q = torch.randn(2, 4, 7, 8)
    ang = torch.arange(7.0)[:, None] * rope.freqs[None]
    c, s = ang.cos(), ang.sin()
    ref = torch.stack((q[..., 0::2] * c - q[..., 1::2] * s, q[..., 0::2] * s + q[..., 1::2] * c), -1).flatten(-2)
    with torch.inference_mode():
        assert torch.equal(rope(q), ref)
        assert torch.equal(rope(q), ref)  # second call: cached tables
    glu = SwiGLU(32, 48)
    with torch.inference_mode():
        torch.testing.assert_close(glu(x), nn.functional.silu(glu.w1(x)) * glu.w2(x), rtol=0, atol=1e-6)


def test_rope_in_the_projection_layout_is_bit_identical():
    """The encoder's inference RoPE (on q/k still inside the fused projection) equals apply_rope exactly."""
    torch.manual_seed(1)
    n, t, heads, hd = 5, 7, 3, 8
    qkv = torch.randn(n, t, 3 * heads * hd).view(n, t, 3, heads, hd)  # as F.linear returns it
    ang = torch.arange(t, dtype=torch.float32)[:, None] * torch.randn(hd // 2)[None]
    cos, sin = ang.cos(), ang.sin()
    with torch.inference_mode():
        fast = apply_rope_pairs(qkv[:, :, :2], cos, sin)  # [N, T, 2, H, hd]
        plain = apply_rope(qkv.permute(2, 0, 3, 1, 4)[:2], cos, sin)  # [2, N, H, T, hd]
    assert torch.equal(fast.permute(2, 0, 3, 1, 4), plain)


def test_fused_encoder_equals_unfused_projections(lm, signals):
    """Forcing the per-projection path (what quantised modules take) gives the same outputs."""
    x = torch.from_numpy(signals)
    with torch.inference_mode():
        fused = lm.model.encode_biosignals(x, normalize=False)
        attns = [b.channel_attention for b in lm.model.biosignals.transformer_blocks]
        try:
            for a in attns:
                a._fusable = lambda: False
            plain = lm.model.encode_biosignals(x, normalize=False)
        finally:
            for a in attns:
                del a._fusable
    for f, p in zip(fused, plain):
        torch.testing.assert_close(f, p, rtol=0, atol=1e-6)


def test_decoder_tokens_only_path_equals_full_encoder(lm, signals):
    x = torch.from_numpy(signals)
    with torch.inference_mode():
        assert torch.equal(lm.model.encode_memory(x), lm.model.encode_biosignals(x)[1])


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_lean_load_equals_copying_load(tmp_path, lm, signals, suffix):
    path = tmp_path / f"model{suffix}"
    save_checkpoint(lm.model, path, config=lm.config.to_dict())
    lean = create_model(lm.config, device="meta")
    load_checkpoint(lean, path)  # meta model: mmap + assign
    assert not any(p.is_meta for p in lean.parameters())
    copied = create_model(lm.config)
    load_checkpoint(copied, path, assign=False)
    for (k, a), b in zip(lean.state_dict().items(), copied.state_dict().values()):
        assert torch.equal(a, b), k
    blocks = lean.biosignals.transformer_blocks
    assert all(b.channel_attention.rotary_emb is lean.biosignals.shared_channel_rope for b in blocks)
    x = torch.from_numpy(signals)
    with torch.inference_mode():
        assert torch.equal(lean.eval().encode_image(x), copied.eval().encode_image(x))


def test_caption_batch_equals_one_epoch_one_track_at_a_time(lm, signals):
    tracks = ["stage_event", "brain", "cardiac", "respiratory", "somatic"]
    batched = lm.caption_batch_ids(signals[:2], tracks, max_len=24, batch_rows=7)  # rows split across batches
    single = [{t: lm.generate_ids(signals[i : i + 1], t, max_len=24)[0] for t in tracks} for i in range(2)]
    assert batched == single
    texts = lm.caption_batch(signals[:1], ["heart"], max_len=40)
    assert texts == [{"heart": lm.generate(signals[:1], "cardiac", max_len=40)[0]}]


def test_generate_tracks_equals_the_uncached_loop(lm, signals):
    x = torch.from_numpy(signals[:2])
    got = generate_tracks(lm.model, x, [0, 4], max_len=20)
    for m_i, m in enumerate([0, 4]):
        ref = greedy_generate_reference(lm.model, x, m, max_len=20)
        assert [row[m_i] for row in got] == ref


def test_fast_modes_agree_with_float32(signals):
    ref = load_model(FIXTURE / "checkpoint.pt").encode_signal(signals)
    for mode in ("bf16", "int8"):
        fast = load_model(FIXTURE / "checkpoint.pt").to_precision(mode)
        e = fast.encode_signal(signals)
        assert e.dtype == np.float32
        assert (ref * e).sum(1).min() > 0.98, mode
        assert len(fast.caption_batch(signals[:1], ["brain"], max_len=20)) == 1
    with pytest.raises(ValueError):
        load_model(FIXTURE / "checkpoint.pt").to_precision("int4")
