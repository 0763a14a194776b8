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


def toy_split(root: Path, n_nights: int, seed: int, dropout: float = 0.0):
    """A simulated 15-min training split under ``root/train``, its domain tokenizer and the toy config:
    ``(EpochCaptions, DomainTokenizer, ReCoCaConfig)``."""
    from sleeplm.encoder.model.tokenizer import DomainTokenizer
    from sleeplm.encoder.train.data import EpochCaptions, SplitSpec, build_split
    from sleeplm.encoder.train.domain_tokenizer import train_domain_tokenizer

    build_split(root / "train", SplitSpec(n_nights=n_nights, seed=seed, duration_h=0.25, n_paraphrases=1),
                progress=False)
    data = EpochCaptions(root / "train")
    tok_path = train_domain_tokenizer(data.all_texts(), root / "tok.json", vocab_size=600)
    tok = DomainTokenizer(tok_path, context_length=64)
    return data, tok, toy_config(tok, tok_path, dropout=dropout)
