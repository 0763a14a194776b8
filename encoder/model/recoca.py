"""ReCoCa (the official ``BiosignalsCoCa``): signal encoder + text tower + multimodal decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sleeplm.encoder.model.config import ReCoCaConfig
from sleeplm.encoder.model.decoder import MultimodalTransformer
from sleeplm.encoder.model.signal_encoder import BiosignalEncoder, SignalReconstructionDecoder
from sleeplm.encoder.model.layers import MultiheadAttention
from sleeplm.encoder.model.text_tower import TextTransformer

#: Tracks with their own signal head when ``track_heads`` is on (modality indices 0..3: brain, cardiac,
#: respiratory, somatic); the stage/event track (4) keeps the main embedding.
HEAD_TRACKS: tuple[int, ...] = (0, 1, 2, 3)


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
        if cfg.track_heads:
            # one pooling (the global token queries the decoder tokens, as the main embedding's attn_pool) and one
            # projection per track: the track is the condition, as the decoder's track prompt is for captions
            b = cfg.biosignals_cfg
            self.track_pools = nn.ModuleList(MultiheadAttention(b.transformer_width, b.transformer_heads)
                                             for _ in HEAD_TRACKS)
            self.track_projs = nn.ModuleList(nn.Linear(b.transformer_width, cfg.embed_dim) for _ in HEAD_TRACKS)

    # ------------------------------------------------------------------ encoders
    def encode_biosignals(self, x: torch.Tensor, normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, C, L]`` -> (embedding ``[B, embed_dim]``, decoder tokens ``[B, N_dec, D]``)."""
        emb, tokens = self.biosignals(x)
        return (F.normalize(emb, dim=-1) if normalize else emb), tokens

    def encode_biosignals_tracks(self, x: torch.Tensor, normalize: bool = True
                                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``[B, C, L]`` -> (main embedding ``[B, E]``, per-track embeddings ``[B, 5, E]``, decoder tokens).

        Track ``t`` of the per-track embeddings (modality order) is its head's vector, or the main embedding for
        the stage/event track and for a model without ``track_heads``. The main embedding equals
        :meth:`encode_biosignals`'s.
        """
        enc = self.biosignals
        seq = enc.forward_features(x)
        global_token = enc.contrastive_pooler(seq)
        dec_tokens = enc.decoder_pooler(seq)
        summary = enc.summary(x)
        main = enc.proj_to_embed(enc.attn_pool(global_token, kv_x=dec_tokens)[0].squeeze(1) + summary)
        per = [main] * self.cfg.num_caption_channels
        if self.cfg.track_heads:
            for t, pool, proj in zip(HEAD_TRACKS, self.track_pools, self.track_projs):
                per[t] = proj(pool(global_token, kv_x=dec_tokens)[0].squeeze(1) + summary)
        per_track = torch.stack(per, dim=1)
        if normalize:
            main, per_track = F.normalize(main, dim=-1), F.normalize(per_track, dim=-1)
        return main, per_track, dec_tokens

    @torch.no_grad()
    def init_track_heads(self) -> None:
        """Start every track head as a copy of the main embedding's pooling and projection (a fine-tune from
        weights without heads then begins with every track's vector equal to the main one)."""
        for pool, proj in zip(self.track_pools, self.track_projs):
            pool.load_state_dict(self.biosignals.attn_pool.state_dict())
            proj.load_state_dict(self.biosignals.proj_to_embed.state_dict())

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
