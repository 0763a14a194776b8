"""ReCoCa (the official ``BiosignalsCoCa``): signal encoder + text tower + multimodal decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sleeplm.encoder.model.config import ReCoCaConfig
from sleeplm.encoder.model.decoder import MultimodalTransformer
from sleeplm.encoder.model.signal_encoder import BiosignalEncoder, SignalReconstructionDecoder
from sleeplm.encoder.model.text_tower import TextTransformer


class ReCoCa(nn.Module):
    """Reconstructive Contrastive Captioner (SleepLM, arXiv 2602.23605).

    Top-level names equal the official ones: ``text``, ``biosignals``, ``text_decoder``,
    ``logit_scale``, ``channel_embeddings`` ``[num_caption_channels, D]``, ``padding_embedding`` ``[D]``,
    and ``signal_decoder`` when ``use_signal_decoder`` is set.
    """

    def __init__(self, cfg: ReCoCaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        width = cfg.width
        self.text = TextTransformer(cfg.text_cfg, cfg.embed_dim)
        self.biosignals = BiosignalEncoder(cfg.biosignals_cfg, cfg.embed_dim)
        self.text_decoder = MultimodalTransformer(cfg.multimodal_cfg, cfg.text_cfg.vocab_size, cfg.prefix_len)
        self.logit_scale = nn.Parameter(torch.tensor(float(cfg.init_logit_scale)))
        self.channel_embeddings = nn.Parameter(torch.randn(cfg.num_caption_channels, width) * 0.02)
        self.padding_embedding = nn.Parameter(torch.randn(width) * 0.02)
        if cfg.use_signal_decoder:
            b = cfg.biosignals_cfg
            self.signal_decoder = SignalReconstructionDecoder(
                b.transformer_width, b.transformer_heads, b.input_channels, b.signal_length
            )

    # ------------------------------------------------------------------ encoders
    def encode_biosignals(self, x: torch.Tensor, normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, C, L]`` -> (embedding ``[B, embed_dim]``, decoder tokens ``[B, N_dec, D]``)."""
        emb, tokens = self.biosignals(x)
        return (F.normalize(emb, dim=-1) if normalize else emb), tokens

    def encode_memory(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder tokens ``[B, N_dec, D]`` only (for captioning; skips the retrieval poolers)."""
        return self.biosignals.decoder_tokens(x)

    def encode_image(self, x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Signal embedding (official name kept: the signal plays CoCa's image role)."""
        return self.encode_biosignals(x, normalize)[0]

    def encode_text(self, text: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Token ids ``[B, L]`` -> text embedding ``[B, embed_dim]``."""
        emb, _ = self.text(text)
        return F.normalize(emb, dim=-1) if normalize else emb

    def condition_embeddings(self, channel_indices: torch.Tensor) -> torch.Tensor:
        """Map ``[B, p]`` modality indices to the decoder prefix ``[B, p, D]``; ``-1`` = padding embedding."""
        idx = channel_indices.long()
        if (idx < -1).any() or (idx >= self.cfg.num_caption_channels).any():
            raise ValueError(f"channel indices must be in [-1, {self.cfg.num_caption_channels - 1}]")
        rows = self.channel_embeddings[idx.clamp(min=0)]
        return torch.where((idx == -1)[..., None], self.padding_embedding.expand_as(rows), rows)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        biosignals: torch.Tensor,
        text: torch.Tensor | None = None,
        channel_indices: torch.Tensor | None = None,
        output_labels: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Training / teacher-forcing forward, with the official output keys.

        With ``output_labels`` the decoder reads text-tower tokens ``[:, :-1]`` and
        ``labels = text[:, 1:]``, so ``logits[:, i]`` predicts ``text[:, i+1]``.
        """
        image_features, memory = self.encode_biosignals(biosignals)
        out: dict[str, torch.Tensor] = {"image_features": image_features, "image_embs": memory}
        if text is None:
            return out
        text_latent, token_embs = self.text(text)
        if output_labels:
            token_embs = token_embs[:, :-1]
            out["labels"] = text[:, 1:]
        cond = None if channel_indices is None else self.condition_embeddings(channel_indices)
        out["text_features"] = F.normalize(text_latent, dim=-1)
        out["logits"] = self.text_decoder(memory, token_embs, condition_embs=cond)
        out["logit_scale"] = self.logit_scale.exp()
        if self.cfg.use_signal_decoder:
            out["reconstructed_signal"] = self.signal_decoder(memory)
            out["original_signal"] = biosignals
        return out
