"""Unimodal text encoder: CLIP text transformer with a CoCa CLS token appended at the end (spec §3)."""

from __future__ import annotations

import torch
from torch import nn

from sleeplm.encoder.model.config import TextConfig
from sleeplm.encoder.model.layers import KV, ResidualAttentionBlock


class Transformer(nn.Module):
    """A stack of pre-LN residual blocks, named ``resblocks`` as in open_clip."""

    def __init__(self, width: int, layers: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.width, self.layers = width, layers
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads, mlp_ratio) for _ in range(layers))

    def forward(
        self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, past: list[KV] | None = None
    ) -> tuple[torch.Tensor, list[KV]]:
        new = []
        for i, block in enumerate(self.resblocks):
            x, kv = block(x, attn_mask=attn_mask, past_kv=None if past is None else past[i])
            new.append(kv)
        return x, new


def key_validity(text: torch.Tensor, pad_id: int) -> torch.Tensor:
    """The legacy CoCa key mask: key 0 is always visible, key ``k >= 1`` iff ``text[k-1] != pad``.

    Returns a boolean ``[B, L+1]`` (one more key than tokens: the appended CLS slot).
    """
    first = torch.ones_like(text[:, :1], dtype=torch.bool)
    return torch.cat([first, text != pad_id], dim=1)


class TextTransformer(nn.Module):
    """Token + CLS embedding, causal transformer, ``ln_final`` + projection of the CLS output.

    ``forward(text)`` returns ``(pooled [B, embed_dim], tokens [B, L, width])``; the tokens are the
    last block's outputs *without* ``ln_final`` (CoCa convention), for the multimodal decoder.
    """

    def __init__(self, cfg: TextConfig, embed_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.pad_id = cfg.pad_id
        self.heads = cfg.heads
        self.num_pos = cfg.context_length + 1
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.width)
        self.cls_emb = nn.Parameter(torch.empty(cfg.width))
        self.positional_embedding = nn.Parameter(torch.empty(self.num_pos, cfg.width))
        self.transformer = Transformer(cfg.width, cfg.layers, cfg.heads, cfg.mlp_ratio)
        self.ln_final = nn.LayerNorm(cfg.width)
        self.text_projection = nn.Parameter(torch.empty(cfg.width, embed_dim))
        self.init_parameters()

    def init_parameters(self) -> None:
        """open_clip's text-tower initialisation."""
        w, n = self.cfg.width, self.cfg.layers
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.cls_emb, std=0.01)
        proj_std, attn_std, fc_std = w**-0.5 * (2 * n) ** -0.5, w**-0.5, (2 * w) ** -0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=w**-0.5)

    def forward(self, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, length = text.shape
        if length > self.cfg.context_length:
            raise ValueError(f"text length {length} exceeds context_length {self.cfg.context_length}")
        x = self.token_embedding(text)
        x = torch.cat([x, self.cls_emb.view(1, 1, -1).expand(b, -1, -1)], dim=1)
        n = length + 1
        x = x + self.positional_embedding[:n]
        causal = torch.ones(n, n, dtype=torch.bool, device=text.device).tril()
        mask = causal[None] & key_validity(text, self.pad_id)[:, None, :]  # [B, Q, K]
        x, _ = self.transformer(x, attn_mask=mask[:, None])
        pooled = self.ln_final(x[:, -1]) @ self.text_projection
        return pooled, x[:, :-1]

    def forward_incremental(
        self, ids: torch.Tensor, key_valid: torch.Tensor, past: list[KV] | None
    ) -> tuple[torch.Tensor, list[KV]]:
        """Token outputs for new ids ``[B, s]`` that follow ``past`` (no CLS; exact under the causal mask).

        Parameters
        ----------
        ids
            The new token ids; they take positions ``t0 .. t0+s-1`` where ``t0`` is the cached length.
        key_valid
            Boolean ``[B, t0+s]``: the legacy key mask for every position so far (see ``key_validity``).
        past
            Per-layer key/value cache from earlier calls, or ``None``.
        """
        s = ids.shape[1]
        t0 = 0 if past is None else past[0][0].shape[2]
        if t0 + s > self.cfg.context_length:
            raise ValueError(f"text length {t0 + s} exceeds context_length {self.cfg.context_length}")
        x = self.token_embedding(ids) + self.positional_embedding[t0 : t0 + s]
        q_pos = torch.arange(t0, t0 + s, device=ids.device)
        k_pos = torch.arange(t0 + s, device=ids.device)
        causal = k_pos[None, :] <= q_pos[:, None]  # [s, t0+s]
        mask = causal[None] & key_valid[:, None, :]
        return self.transformer(x, attn_mask=mask[:, None], past=past)
