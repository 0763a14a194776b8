"""The toy ReCoCa both training test modules train: small enough for a CPU test, every part present."""

from __future__ import annotations

from pathlib import Path

from sleeplm.encoder.model import ReCoCaConfig


def toy_config(tok, tok_path: Path, dropout: float = 0.0) -> ReCoCaConfig:
    """A 32-wide, one-layer model for the tokenizer ``tok`` (trained and saved at ``tok_path``)."""
    return ReCoCaConfig.from_dict({
        "embed_dim": 32,
        "biosignals_cfg": {"conv_embed_dim": 16, "transformer_layers": 1, "transformer_width": 32,
                           "transformer_heads": 2, "decoder_tokens": 4, "dropout": dropout},
        "text_cfg": {"context_length": 64, "vocab_size": tok.vocab_size, "layers": 1, "heads": 2, "width": 32},
        "multimodal_cfg": {"width": 32, "context_length": 64, "layers": 1, "heads": 2},
        "use_signal_decoder": True,
        "tokenizer": str(tok_path), "sot_token_id": tok.sot_token_id, "eot_token_id": tok.eot_token_id,
    })
