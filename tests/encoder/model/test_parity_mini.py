"""Parity with the official SleepLM code on the "mini" fixture (tests/data/parity-mini/README.md).

Thresholds are the fixture README's: embeddings <= 1e-5, decoder tokens and unnormalised
embeddings <= 1e-4, teacher-forced logit statistics <= 1e-4, token ids and argmaxes exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sleeplm.encoder.model import greedy_generate, greedy_generate_reference, load_model
from testdata import PARITY_MINI

FIXTURE = PARITY_MINI


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((FIXTURE / "expected.json").read_text())


@pytest.fixture(scope="module")
def signals() -> np.ndarray:
    return np.load(FIXTURE / "inputs.npy")


@pytest.fixture(scope="module")
def lm():
    # the public loader, as a user calls it: config.json beside checkpoint.pt is picked up
    return load_model(FIXTURE / "checkpoint.pt")


@pytest.fixture(scope="module")
def token_ids(lm, expected) -> torch.Tensor:
    return lm.tokenizer(expected["strings"])


def maxabs(a, b) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())


def test_signal_embedding_matches(lm, signals, expected):
    assert maxabs(lm.encode_signal(signals), expected["signal_embedding"]["values"]) <= 1e-5


def test_unnormalised_signal_embedding_and_decoder_tokens_match(lm, signals, expected):
    with torch.inference_mode():
        emb, tokens = lm.model.encode_biosignals(torch.from_numpy(signals), normalize=False)
    assert maxabs(emb, expected["signal_embedding_unnormalized"]) <= 1e-4
    assert maxabs(tokens, expected["decoder_tokens"]["values"]) <= 1e-4


def test_tokenizer_ids_are_exact(token_ids, expected):
    for row, ref in zip(token_ids, expected["token_ids"]["nonzero_prefix"]):
        assert row[: len(ref)].tolist() == ref
        assert (row[len(ref) :] == 0).all()


def test_text_embedding_matches(lm, expected, token_ids):
    assert maxabs(lm.encode_text(expected["strings"]), expected["text_embedding"]["values"]) <= 1e-5
    with torch.inference_mode():
        raw = lm.model.encode_text(token_ids, normalize=False)
    assert maxabs(raw, expected["text_embedding_unnormalized"]) <= 1e-4


def test_teacher_forced_logits_match(lm, signals, expected, token_ids):
    tf = expected["teacher_forced"]
    with torch.inference_mode():
        out = lm.model(torch.from_numpy(signals[0:1]), token_ids[0:1], channel_indices=torch.tensor([[4, -1]]))
    logits = out["logits"][0]
    assert list(logits.shape) == tf["shape"]
    assert logits.argmax(-1).tolist() == tf["argmax"]
    assert maxabs(logits.max(-1).values, tf["max"]) <= 1e-4
    assert maxabs(torch.logsumexp(logits, -1), tf["logsumexp"]) <= 1e-4
    labels = token_ids[0, 1:]
    assert maxabs(logits[torch.arange(len(labels)), labels], tf["logit_at_label"]) <= 1e-4
    p0, p1 = tf["slice_positions"]
    assert maxabs(logits[p0:p1][:, tf["slice_vocab_ids"]], tf["slice"]) <= 1e-4


@pytest.mark.parametrize("modality", range(5))
def test_greedy_generation_with_cache_matches_official_tokens(lm, signals, expected, modality):
    ref = expected["generate"]["per_modality"][str(modality)]["tokens"]
    got = greedy_generate(lm.model, torch.from_numpy(signals[0:1]), modality, max_len=40, min_len=16)
    assert got[0] == ref


@pytest.mark.parametrize("modality", [1, 2])  # the length cap and the earliest allowed EOS
def test_reference_loop_matches_official_tokens(lm, signals, expected, modality):
    ref = expected["generate"]["per_modality"][str(modality)]["tokens"]
    got = greedy_generate_reference(lm.model, torch.from_numpy(signals[0:1]), modality, max_len=40, min_len=16)
    assert got[0] == ref


def test_batched_generation_equals_one_epoch_at_a_time(lm, signals):
    x = torch.from_numpy(signals)
    batched = greedy_generate(lm.model, x, 4, max_len=40)
    single = [greedy_generate(lm.model, x[i : i + 1], 4, max_len=40)[0] for i in range(len(x))]
    assert batched == single


def test_public_generate_uses_the_official_modality_indices(lm, signals, expected):
    ids = lm.generate_ids(signals[0:1], "somatic", max_len=40)  # somatic = position_muscle = 3
    assert ids[0] == expected["generate"]["per_modality"]["3"]["tokens"]
