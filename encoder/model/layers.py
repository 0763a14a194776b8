"""Building blocks shared by the three towers.

Parameter names match the official state dict (``in_proj_weight``, ``out_proj``,
``gate_proj.w1`` ...), so checkpoints load without renaming.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

#: A key/value pair cached for one attention layer: two tensors ``[B, H, T, head_dim]``.
KV = tuple[torch.Tensor, torch.Tensor]


class RMSNorm(nn.Module):
    """Root-mean-square norm, computed in float32: ``x * rsqrt(mean(x^2) + eps) * weight``."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32 and self.weight.dtype == torch.float32:
            # one fused kernel; same formula, bit-identical to the three-pass version in float32
            return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return h.type_as(x) * self.weight


class RotaryEmbedding(nn.Module):
    """Interleaved (GPT-J style) rotary embedding over one head dimension.

    Pairs ``(2i, 2i+1)`` rotate by ``pos * freqs[i]``. With ``learned_freq`` the
    ``dim // 2`` frequencies are a parameter (channel axis, init N(0, 0.02^2));
    otherwise they are the fixed buffer ``theta^(-2i/dim)`` (time axis).
    """

    def __init__(self, dim: int, theta: float = 10000.0, learned_freq: bool = False) -> None:
        super().__init__()
        self.dim = dim
        self.learned_freq = learned_freq
        if learned_freq:
            self.freqs = nn.Parameter(torch.randn(dim // 2) * 0.02)
        else:
            freqs = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
            self.register_buffer("freqs", freqs)

    def cos_sin(self, seq_len: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``cos, sin`` tables ``[T, dim/2]`` (float32) for positions ``0..T-1``.

        Fixed frequencies: computed once per (length, device) and reused. Learned frequencies:
        recomputed on every call (they may change during training; the table is tiny).
        """
        key = (seq_len, str(device))
        cache = self.__dict__.setdefault("_table_cache", {})
        use_cache = not self.learned_freq and not torch.is_grad_enabled() and not self.freqs.is_inference()
        if use_cache and key in cache and cache[key][0] is self.freqs and cache[key][1] == self.freqs._version:
            return cache[key][2]
        positions = torch.arange(seq_len, device=device, dtype=torch.float32)
        angles = positions[:, None] * self.freqs.float()[None, :]  # [T, dim/2]
        table = (angles.cos(), angles.sin())
        if use_cache:
            cache[key] = (self.freqs, self.freqs._version, table)
        return table

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Rotate ``x`` of shape ``[B, H, T, dim]``; positions default to ``0..T-1``."""
        seq_len = x.shape[-2]
        if positions is None:
            cos, sin = self.cos_sin(seq_len, x.device)
        else:
            angles = positions.float()[:, None] * self.freqs.float()[None, :]  # [T, dim/2]
            cos, sin = angles.cos(), angles.sin()
        return apply_rope(x, cos, sin)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Interleaved rotation of ``x [..., T, dim]`` by tables ``[T, dim/2]``; output is contiguous.

    Computes ``(x1*cos - x2*sin, x1*sin + x2*cos)`` per pair, written straight into one output
    buffer (no stack / flatten copy). In float32 the result is bit-identical to the textbook form.
    """
    x32 = x if x.dtype == torch.float32 else x.float()
    x1, x2 = x32[..., 0::2], x32[..., 1::2]
    if torch.is_grad_enabled() and (x.requires_grad or cos.requires_grad):  # training: autograd-friendly form
        out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)
        return out.type_as(x)
    out = torch.empty(x32.shape, dtype=torch.float32, device=x.device)
    o1, o2 = out[..., 0::2], out[..., 1::2]
    torch.mul(x1, cos, out=o1)
    o1.sub_(x2 * sin)
    torch.mul(x1, sin, out=o2)
    o2.add_(x2 * cos)
    return out if x.dtype == torch.float32 else out.to(x.dtype)


def apply_rope_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """:func:`apply_rope` for float32 ``x [N, T, ..., dim]`` (positions on axis 1), without autograd.

    Reads any strided ``x`` (e.g. the q/k part of a fused projection, before the heads are moved
    forward) and writes one contiguous output with contiguous passes only: ``x * C + swap(x) * S``
    with ``C = (cos, cos)`` and ``S = (-sin, sin)`` per pair. Each element is
    ``round(round(a*c) + round(-b*s))`` = ``round(round(a*c) - round(b*s))``, the same float32
    operations as :func:`apply_rope`, so the result is bit-identical (no fused multiply-add).
    """
    xp = x.unflatten(-1, (-1, 2))  # [N, T, ..., dim/2, 2]
    shape = (cos.shape[0],) + (1,) * (xp.ndim - 4) + (cos.shape[1], 2)
    c2 = torch.stack((cos, cos), -1).view(shape)
    s2 = torch.stack((-sin, sin), -1).view(shape)
    out = xp * c2
    out.add_(xp.flip(-1).mul_(s2))
    return out.flatten(-2)


class SwiGLU(nn.Module):
    """``silu(w1 x) * (w2 x)``."""

    def __init__(self, dim_in: int, dim_out: int, bias: bool = False) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim_in, dim_out, bias=bias)
        self.w2 = nn.Linear(dim_in, dim_out, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Two GEMMs, not one over the concatenated weights: the same dot products (bit-identical), as fast
        # for the base width and 1.15-1.3x faster at sleeplm-tiny's (N=384 runs at MKL's peak, N=768 does
        # not), and silu reads a contiguous tensor instead of a strided half (bench/bench_ingest.py).
        return F.silu(self.w1(x)).mul_(self.w2(x))


class SwiGLUMLP(nn.Module):
    """``dropout(down(dropout(SwiGLU(x))))`` as in the biosignal blocks."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0, bias: bool = False) -> None:
        super().__init__()
        self.gate_proj = SwiGLU(dim, hidden_dim, bias=bias)
        self.down_proj = nn.Linear(hidden_dim, dim, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down_proj(self.dropout(self.gate_proj(x))))


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[B, T, H*d] -> [B, H, T, d]``."""
    b, t, _ = x.shape
    return x.view(b, t, heads, -1).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``[B, H, T, d] -> [B, T, H*d]``."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


class MultiheadAttention(nn.Module):
    """Batch-first multi-head attention with the ``nn.MultiheadAttention`` state-dict layout.

    Differences to ``nn.MultiheadAttention``: it runs on ``F.scaled_dot_product_attention``,
    takes a boolean mask (``True`` = may attend) and can return / extend a key-value cache.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError("dim must be divisible by heads")
        self.dim, self.heads, self.dropout = dim, heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def project_kv(self, kv_x: torch.Tensor) -> KV:
        """Key and value heads for a memory sequence ``[B, S, D]``."""
        w, b = self.in_proj_weight[self.dim:], self.in_proj_bias[self.dim:]
        k, v = F.linear(kv_x, w, b).chunk(2, dim=-1)
        return split_heads(k, self.heads), split_heads(v, self.heads)

    def forward(
        self,
        q_x: torch.Tensor,
        kv_x: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        past_kv: KV | None = None,
        static_kv: bool = False,
    ) -> tuple[torch.Tensor, KV]:
        """Attend from ``q_x [B, T, D]``.

        Parameters
        ----------
        kv_x
            Memory for cross-attention; ``None`` means self-attention.
        attn_mask
            Boolean, broadcastable to ``[B, H, T, S]``; ``True`` = may attend.
        past_kv
            Cached keys/values. For self-attention the new keys are appended; with
            ``static_kv`` (cross-attention) they are used as they are and ``kv_x`` is ignored.

        Returns
        -------
        out, kv
            The attention output ``[B, T, D]`` and the (extended) key-value pair.
        """
        if kv_x is None and not static_kv:
            q, k, v = F.linear(q_x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
            q, k, v = (split_heads(t, self.heads) for t in (q, k, v))
            if past_kv is not None:
                k = torch.cat([past_kv[0], k], dim=2)
                v = torch.cat([past_kv[1], v], dim=2)
        else:
            q = split_heads(F.linear(q_x, self.in_proj_weight[: self.dim], self.in_proj_bias[: self.dim]), self.heads)
            k, v = past_kv if (static_kv and past_kv is not None) else self.project_kv(kv_x)
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)
        return self.out_proj(merge_heads(out)), (k, v)


class ResidualAttentionBlock(nn.Module):
    """Pre-LN transformer block (open_clip layout): ``x += attn(ln_1(x)); x += mlp(ln_2(x))``.

    With ``is_cross_attention`` the keys/values come from a memory normalised by ``ln_1_kv``.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, is_cross_attention: bool = False) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = MultiheadAttention(dim, heads)
        if is_cross_attention:
            self.ln_1_kv = nn.LayerNorm(dim)
        self.ln_2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            OrderedDict([("c_fc", nn.Linear(dim, hidden)), ("gelu", nn.GELU()), ("c_proj", nn.Linear(hidden, dim))])
        )
        self.is_cross_attention = is_cross_attention

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        past_kv: KV | None = None,
    ) -> tuple[torch.Tensor, KV]:
        """Return the block output and the key-value pair of its attention (for caching)."""
        if self.is_cross_attention:
            kv_x = self.ln_1_kv(memory) if (memory is not None and past_kv is None) else None
            a, kv = self.attn(self.ln_1(x), kv_x=kv_x, past_kv=past_kv, static_kv=True)
        else:
            a, kv = self.attn(self.ln_1(x), attn_mask=attn_mask, past_kv=past_kv)
        x = x + a
        x = x + self.mlp(self.ln_2(x))
        return x, kv


class AttnPooler(nn.Module):
    """``n_query`` learned queries attending over a sequence (no LayerNorm; spec §2.7)."""

    def __init__(self, dim: int, heads: int, n_query: int) -> None:
        super().__init__()
        self.query_tokens = nn.Parameter(torch.randn(1, n_query, dim) * 0.02)
        self.attn = MultiheadAttention(dim, heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.query_tokens.expand(x.shape[0], -1, -1)
        return self.attn(q, kv_x=x)[0]
