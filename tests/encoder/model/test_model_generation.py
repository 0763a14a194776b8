"""Greedy generation: the cached loop equals the plain no-cache loop, and the length rules hold."""

from __future__ import annotations

import contextlib

import pytest
import torch

from sleeplm.encoder.model import create_model, greedy_generate, greedy_generate_reference

SMALL = {
    "embed_dim": 16,
    "biosignals_cfg": {"conv_embed_dim": 8, "transformer_layers": 1, "transformer_width": 32,
                       "transformer_heads": 4, "decoder_tokens": 4},
    "text_cfg": {"context_length": 64, "vocab_size": 49408, "layers": 2, "heads": 4, "width": 32},
    "multimodal_cfg": {"width": 32, "context_length": 64, "layers": 2, "heads": 4},
}
EOS = 49407


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = create_model(SMALL).eval()
    with torch.no_grad():  # give EOS a fair chance so that both stopping rules are exercised
        m.text_decoder.text_projection[:, EOS] *= 3.0
    return m


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(3, 10, 1920)


@pytest.mark.parametrize("modality", range(5))
def test_cached_equals_uncached(model, x, modality):
    assert greedy_generate(model, x, modality, max_len=40) == greedy_generate_reference(model, x, modality, max_len=40)


def test_sequences_start_with_sot_and_respect_the_length_rules(model, x):
    for seq in greedy_generate(model, x, 0, max_len=30, min_len=16):
        assert seq[0] == 49406 and len(seq) <= 30
        assert EOS not in seq[:16]
        assert EOS not in seq[:-1]
        assert seq[-1] == EOS or len(seq) == 30


def test_min_len_can_force_the_length_cap(model, x):
    assert all(len(s) == 12 for s in greedy_generate(model, x, 2, max_len=12, min_len=12))


def test_explicit_prefix_indices_equal_the_modality_shortcut(model, x):
    idx = torch.tensor([[3, -1]] * 3)
    assert greedy_generate(model, x, idx, max_len=24) == greedy_generate(model, x, 3, max_len=24)


def test_generated_pad_id_is_masked_like_the_official_text_tower(x):
    """Token 0 doubles as the pad id: the legacy key mask must hide the key after it, cached or not."""
    torch.manual_seed(0)
    m = create_model(SMALL).eval()
    first = greedy_generate_reference(m, x, 0, max_len=24)
    common = max(set(first[0][1:]), key=first[0][1:].count)
    with torch.no_grad():
        m.text_decoder.text_projection[:, 0] = 1.01 * m.text_decoder.text_projection[:, common]
    ref = greedy_generate_reference(m, x, 0, max_len=24)
    assert any(0 in s for s in ref)
    assert greedy_generate(m, x, 0, max_len=24) == ref


def test_decode_attention_leaves_cpu_and_float32_to_pytorch():
    from sleeplm.encoder.model.generation import decode_attention

    assert isinstance(decode_attention(torch.zeros(2, 4, 8)), contextlib.nullcontext)
    assert isinstance(decode_attention(torch.zeros(2, 4, 8, dtype=torch.bfloat16)), contextlib.nullcontext)


def test_every_decode_step_runs_under_the_decode_attention_choice(model, x, monkeypatch):
    from sleeplm.encoder.model import generation

    seen: list[torch.dtype] = []

    def record(memory: torch.Tensor) -> contextlib.AbstractContextManager:
        seen.append(memory.dtype)
        return contextlib.nullcontext()

    monkeypatch.setattr(generation, "decode_attention", record)
    ids = greedy_generate(model, x[:1], 0, max_len=12, min_len=12)
    assert len(ids[0]) == 12 and len(seen) == 11  # one choice per generated token
