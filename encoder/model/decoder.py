"""Multimodal text decoder: causal self-attention + cross-attention to the signal tokens (spec §4)."""

from __future__ import annotations

import torch
from torch import nn

from sleeplm.encoder.model.config import MultimodalConfig
from sleeplm.encoder.model.layers import KV, ResidualAttentionBlock


def prefix_causal_mask(prefix: int, text: int, device: torch.device | None = None) -> torch.Tensor:
    """Boolean ``[p+L, p+L]`` mask (``True`` = may attend).

    Prefix tokens see each other only; text tokens see the whole prefix and earlier text.
    Same pattern as the official additive mask (blocked = -float32max), sliced for ``p`` prefix tokens.
    """
    n = prefix + text
    i = torch.arange(n, device=device)[:, None]
    j = torch.arange(n, device=device)[None, :]
    return (j < prefix) | ((i >= prefix) & (j <= i))


class MultimodalTransformer(nn.Module):
    """``resblocks`` (self) and ``cross_attn`` blocks interleaved, then ``ln_final`` and the vocab head."""

    def __init__(self, cfg: MultimodalConfig, vocab_size: int, prefix_len: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.prefix_len = prefix_len
        w = cfg.width
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(w, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.layers))
        self.cross_attn = nn.ModuleList(
            ResidualAttentionBlock(w, cfg.heads, cfg.mlp_ratio, is_cross_attention=True) for _ in range(cfg.layers)
        )
        self.ln_final = nn.LayerNorm(w)
        self.text_projection = nn.Parameter(torch.empty(w, vocab_size))
        self.init_parameters()

    def init_parameters(self) -> None:
        """open_clip's decoder initialisation."""
        w, n = self.cfg.width, self.cfg.layers
        proj_std, attn_std, fc_std = w**-0.5 * (2 * n) ** -0.5, w**-0.5, (2 * w) ** -0.5
        for block in [*self.resblocks, *self.cross_attn]:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=w**-0.5)

    def _check(self, text_len: int, cond_len: int) -> None:
        if text_len > self.cfg.context_length:
            raise ValueError(f"text length {text_len} exceeds decoder context_length {self.cfg.context_length}")
        if cond_len > self.prefix_len:
            raise ValueError(f"condition length {cond_len} exceeds prefix_len {self.prefix_len}")

    def forward(
        self, memory: torch.Tensor, text_embs: torch.Tensor, condition_embs: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``[B, L, vocab]`` for the text positions (prefix outputs dropped).

        Parameters
        ----------
        memory
            Signal decoder tokens ``[B, N, D]``.
        text_embs
            Text-tower token outputs ``[B, L, D]``.
        condition_embs
            Optional modality prefix ``[B, p, D]`` with ``p <= prefix_len``.
        """
        p = 0 if condition_embs is None else condition_embs.shape[1]
        self._check(text_embs.shape[1], p)
        x = text_embs if condition_embs is None else torch.cat([condition_embs, text_embs], dim=1)
        mask = prefix_causal_mask(p, text_embs.shape[1], device=x.device)
        for self_block, cross_block in zip(self.resblocks, self.cross_attn):
            x, _ = self_block(x, attn_mask=mask)
            x, _ = cross_block(x, memory=memory)
        return self.ln_final(x[:, p:]) @ self.text_projection

    def forward_incremental(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None,
        past: list[tuple[KV, KV]] | None,
        num_prefix: int = 0,
    ) -> tuple[torch.Tensor, list[tuple[KV, KV]]]:
        """Run new positions against a cache; returns logits of the *last* position ``[B, vocab]``.

        On the first call (``past is None``) ``x`` is ``[prefix; text]`` with ``num_prefix`` prefix
        tokens and the prefix-causal mask applies; ``memory`` gives the cross-attention keys, which
        are cached. Later calls pass one or more new text positions, which may attend to everything
        cached before them.
        """
        if past is None:
            self._check(x.shape[1] - num_prefix, num_prefix)
            mask = prefix_causal_mask(num_prefix, x.shape[1] - num_prefix, device=x.device)
        else:
            t0, s = past[0][0][0].shape[2], x.shape[1]
            self._check(t0 + s - num_prefix, num_prefix)
            k_pos = torch.arange(t0 + s, device=x.device)
            q_pos = torch.arange(t0, t0 + s, device=x.device)
            mask = k_pos[None, :] <= q_pos[:, None]
        new = []
        for i, (self_block, cross_block) in enumerate(zip(self.resblocks, self.cross_attn)):
            self_kv, cross_kv = (None, None) if past is None else past[i]
            x, self_kv = self_block(x, attn_mask=mask, past_kv=self_kv)
            x, cross_kv = cross_block(x, memory=memory, past_kv=cross_kv)
            new.append((self_kv, cross_kv))
        return self.ln_final(x[:, -1]) @ self.text_projection, new
