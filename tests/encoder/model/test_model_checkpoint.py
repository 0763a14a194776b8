"""Checkpoint loading: safe reading, strict checks, dtype upcast, shared-RoPE aliases."""

from __future__ import annotations

import pytest
import torch

from sleeplm.encoder.model import CheckpointError, create_model, load_checkpoint, load_model, save_checkpoint
from sleeplm.encoder.model.checkpoint import read_safetensors_config

SMALL = {
    "embed_dim": 16,
    "biosignals_cfg": {"conv_embed_dim": 8, "transformer_layers": 2, "transformer_width": 16,
                       "transformer_heads": 2, "decoder_tokens": 4},
    "text_cfg": {"context_length": 32, "vocab_size": 64, "layers": 1, "heads": 2, "width": 16},
    "multimodal_cfg": {"width": 16, "context_length": 32, "layers": 1, "heads": 2},
}
ALIAS = "biosignals.transformer_blocks.1.channel_attention.rotary_emb.freqs"


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return create_model(SMALL).eval()


def fresh():
    torch.manual_seed(1)
    return create_model(SMALL).eval()


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_torch_file_with_state_dict_key_round_trips(model, tmp_path):
    save_checkpoint(model, tmp_path / "m.pt")
    other = fresh()
    load_checkpoint(other, tmp_path / "m.pt")
    assert same(model, other)


def test_bare_dict_with_module_prefix_loads(model, tmp_path):
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, tmp_path / "m.pt")
    other = fresh()
    load_checkpoint(other, tmp_path / "m.pt")
    assert same(model, other)


def test_safetensors_carries_its_config(model, tmp_path):
    save_checkpoint(model, tmp_path / "m.safetensors", config=model.cfg.to_dict())
    assert read_safetensors_config(tmp_path / "m.safetensors")["embed_dim"] == 16
    lm = load_model(tmp_path / "m.safetensors")
    assert same(model, lm.model)


def test_fp16_tensors_are_upcast(model, tmp_path):
    sd = model.state_dict()
    sd["text.token_embedding.weight"] = sd["text.token_embedding.weight"].half()
    torch.save({"state_dict": sd}, tmp_path / "m.pt")
    other = fresh()
    report = load_checkpoint(other, tmp_path / "m.pt")
    assert report.upcast == ["text.token_embedding.weight"]
    assert other.text.token_embedding.weight.dtype == torch.float32


def test_missing_unexpected_and_misshapen_keys_are_reported_with_the_file_name(model, tmp_path):
    sd = model.state_dict()
    del sd["logit_scale"]
    sd["extra.weight"] = torch.zeros(1)
    sd["channel_embeddings"] = torch.zeros(12, 16)
    torch.save(sd, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(fresh(), tmp_path / "bad.pt")
    msg = str(err.value)
    assert "bad.pt" in msg and "missing (1)" in msg and "logit_scale" in msg
    assert "unexpected (1)" in msg and "extra.weight" in msg
    assert "channel_embeddings: checkpoint [12, 16] vs model [5, 16]" in msg


def test_missing_rope_aliases_are_filled_from_the_shared_key(model, tmp_path):
    sd = {k: v for k, v in model.state_dict().items() if ".channel_attention.rotary_emb." not in k}
    torch.save(sd, tmp_path / "m.pt")
    other = fresh()
    report = load_checkpoint(other, tmp_path / "m.pt")
    assert ALIAS in report.filled_aliases
    assert torch.equal(other.biosignals.shared_channel_rope.freqs, model.biosignals.shared_channel_rope.freqs)


def test_rope_aliases_that_disagree_are_rejected(model, tmp_path):
    sd = model.state_dict()
    sd[ALIAS] = sd[ALIAS] + 1
    torch.save(sd, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="aliases of one shared tensor differ"):
        load_checkpoint(fresh(), tmp_path / "m.pt")


class Payload:  # a pickled object must never be executed by the loader
    pass


def test_pickled_objects_are_refused(tmp_path):
    torch.save({"state_dict": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(fresh(), tmp_path / "evil.pt")


def test_base_weights_need_a_user_path():
    with pytest.raises(FileNotFoundError, match="not bundled"):
        load_model("sleeplm-base")


def test_checkpoint_without_config_asks_for_one(model, tmp_path):
    save_checkpoint(model, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="no model config"):
        load_model(tmp_path / "m.pt")
    assert same(model, load_model(tmp_path / "m.pt", config=SMALL).model)
