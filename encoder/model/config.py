"""Model configuration as data.

The field names follow the official SleepLM / open_clip config dicts
(``embed_dim``, ``biosignals_cfg``, ``text_cfg``, ``multimodal_cfg``, ``prefix_len``,
``num_caption_channels``, ``decoder_type``), so an official config JSON loads as is
(see ``configs/*.json`` and ``ReCoCaConfig.from_dict``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


def _pick(cls: type, d: dict[str, Any], where: str) -> dict[str, Any]:
    """Keep the keys of ``d`` that are fields of ``cls``; reject unknown keys loudly."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown key(s) in {where}: {unknown}")
    return dict(d)


@dataclass
class BiosignalsConfig:
    """Biosignal encoder ("pure_transformer" architecture, architecture spec §2)."""

    architecture: str = "pure_transformer"
    input_channels: int = 10
    signal_length: int = 1920
    sampling_rate: int = 64  # stored, unused (as in the official code)
    patch_size: int = 16
    conv_embed_dim: int = 256
    num_temporal_layers: int = 1
    activation: str = "swiglu"
    norm_type: str = "rmsnorm"
    mlp_bias: bool = False
    share_channel_rope: bool = True
    transformer_layers: int = 3
    transformer_width: int = 768
    transformer_heads: int = 12
    mlp_ratio: float = 3.0
    pool_type: str = "attn"
    dropout: float = 0.1
    decoder_tokens: int = 32
    #: Not in the official model (off there): add a learned function of each channel's relative band powers and RMS
    #: to the pooled vector before ``proj_to_embed`` (:class:`~sleeplm.encoder.model.signal_encoder.SpectralSummary`).
    spectral_summary: bool = False

    def __post_init__(self) -> None:
        if self.architecture != "pure_transformer":
            raise ValueError(f"only architecture 'pure_transformer' is implemented, got {self.architecture!r}")
        if self.activation != "swiglu" or self.norm_type != "rmsnorm" or self.pool_type != "attn":
            raise ValueError("only activation='swiglu', norm_type='rmsnorm', pool_type='attn' are implemented")
        if self.transformer_width % self.transformer_heads:
            raise ValueError("transformer_width must be divisible by transformer_heads")
        if (self.transformer_width // self.transformer_heads) % 2:
            raise ValueError("head dim must be even for RoPE")
        if self.signal_length % self.patch_size:
            raise ValueError("signal_length must be a multiple of patch_size")

    @property
    def num_patches(self) -> int:
        return self.signal_length // self.patch_size


@dataclass
class TextConfig:
    """CLIP-style text tower with a CoCa CLS token appended at the end (spec §3)."""

    context_length: int = 256
    vocab_size: int = 49408
    width: int = 768
    heads: int = 12
    layers: int = 12
    mlp_ratio: float = 4.0
    embed_cls: bool = True
    output_tokens: bool = True
    pad_id: int = 0

    def __post_init__(self) -> None:
        if not self.embed_cls:
            raise ValueError("only embed_cls=True (CoCa text tower) is implemented")


@dataclass
class MultimodalConfig:
    """Cross-attention text decoder (spec §4)."""

    width: int = 768
    context_length: int = 256
    mlp_ratio: float = 4.0
    layers: int = 12
    heads: int = 12


@dataclass
class ReCoCaConfig:
    """Full model config (official ``BiosignalsCoCa(**cfg)`` layout plus a tokenizer name).

    Attributes
    ----------
    embed_dim
        Size of the retrieval embeddings (signal and text).
    prefix_len, num_caption_channels
        Modality-prefix settings; the released checkpoint uses 2 and 5.
    use_signal_decoder
        Build the reconstruction head (off for the released checkpoint).
    tokenizer
        Which tokenizer goes with the vocabulary: ``"clip"`` (OpenAI CLIP BPE, vocab 49408).
    sot_token_id, eot_token_id
        Start / end-of-text ids of that tokenizer.
    track_heads
        Per-track signal heads (``ReCoCa.track_pools`` / ``track_projs``): the brain, cardiac, respiratory and
        somatic tracks each get their own epoch vector (the stage/event track keeps the main one). Off for the
        released checkpoints; left out of :meth:`to_dict` when off, so their stored configs are unchanged.
    """

    embed_dim: int = 512
    biosignals_cfg: BiosignalsConfig = field(default_factory=BiosignalsConfig)
    text_cfg: TextConfig = field(default_factory=TextConfig)
    multimodal_cfg: MultimodalConfig = field(default_factory=MultimodalConfig)
    prefix_len: int = 2
    num_caption_channels: int = 5
    decoder_type: str = "cross_attention"
    use_signal_decoder: bool = False
    init_logit_scale: float = 2.6592600369644165  # ln(1 / 0.07)
    tokenizer: str = "clip"
    sot_token_id: int = 49406
    eot_token_id: int = 49407
    track_heads: bool = False
    #: How EEG and EOG are scaled before this model sees them (``make_epochs``'s ``brain_scale``): "sd" (the
    #: whole-recording z-score the official model reads), "mad" (the robust scale) or "mad-window" (the robust scale
    #: from the recording's widest 1.5-h stretch; ``sleeplm.encoder.signals.preprocess.BRAIN_SCALES``).
    input_brain_scale: str = "sd"

    def __post_init__(self) -> None:
        if self.decoder_type != "cross_attention":
            raise ValueError(f"only decoder_type='cross_attention' is implemented, got {self.decoder_type!r}")
        widths = {self.biosignals_cfg.transformer_width, self.text_cfg.width, self.multimodal_cfg.width}
        if len(widths) != 1:
            raise ValueError(f"the three towers must share one width, got {sorted(widths)}")
        if self.input_brain_scale not in ("sd", "mad", "mad-window"):
            raise ValueError(f"input_brain_scale must be 'sd', 'mad' or 'mad-window', not {self.input_brain_scale!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ReCoCaConfig":
        """Build from an official-style nested dict (unknown keys raise ``ValueError``)."""
        d = _pick(cls, d, "model config")
        sub = {
            "biosignals_cfg": BiosignalsConfig,
            "text_cfg": TextConfig,
            "multimodal_cfg": MultimodalConfig,
        }
        for key, sub_cls in sub.items():
            if key in d and isinstance(d[key], dict):
                d[key] = sub_cls(**_pick(sub_cls, d[key], key))
        return cls(**d)

    @classmethod
    def from_json(cls, path: str | Path) -> "ReCoCaConfig":
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.track_heads:
            d.pop("track_heads")
        if self.input_brain_scale == "sd":  # the official layout has no such key
            d.pop("input_brain_scale")
        return d

    @property
    def width(self) -> int:
        return self.multimodal_cfg.width
