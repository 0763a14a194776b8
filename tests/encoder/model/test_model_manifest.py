"""The re-implementation's state dict equals the official SleepLM-Base one, name for name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sleeplm.encoder.model import create_model
from sleeplm.encoder.model.checkpoint import alias_groups
from testdata import BASE_MANIFEST

MANIFEST = BASE_MANIFEST


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


@pytest.fixture(scope="module")
def base_model():
    return create_model("sleeplm-base", device="meta")  # shapes only, no memory


def test_state_dict_names_and_order_match_official(manifest, base_model):
    names = [e["name"] for e in manifest["entries"]]
    assert list(base_model.state_dict()) == names
    assert len(names) == manifest["num_state_dict_entries"] == 557


def test_state_dict_shapes_and_dtypes_match_official(manifest, base_model):
    sd = base_model.state_dict()
    for e in manifest["entries"]:
        assert list(sd[e["name"]].shape) == e["shape"], e["name"]
        assert str(sd[e["name"]].dtype).removeprefix("torch.") == e["dtype"], e["name"]


def test_parameter_count_is_385_408_033(manifest, base_model):
    assert sum(p.numel() for p in base_model.parameters()) == manifest["total_params"] == 385_408_033


def test_parameter_count_per_top_module(manifest, base_model):
    counts: dict[str, int] = {}
    for name, p in base_model.named_parameters():
        top = name.split(".")[0]
        counts[top] = counts.get(top, 0) + p.numel()
    assert counts == manifest["params_per_top_module"]


def test_channel_rope_frequencies_are_one_shared_parameter_under_four_names(base_model):
    groups = alias_groups(base_model)
    assert len(groups) == 1
    assert sorted(groups[0]) == sorted(
        ["biosignals.shared_channel_rope.freqs"]
        + [f"biosignals.transformer_blocks.{i}.channel_attention.rotary_emb.freqs" for i in range(3)]
    )


def test_signal_decoder_adds_17_141_376_params():
    from sleeplm.encoder.model import get_config

    cfg = get_config("sleeplm-base")
    cfg.use_signal_decoder = True
    model = create_model(cfg, device="meta")
    assert sum(p.numel() for p in model.signal_decoder.parameters()) == 17_141_376
