"""Biosignal encoder: channel patches, dual (channel x time) RoPE transformer, attentional poolers.

Follows the architecture spec §2 ("pure_transformer"). Module names equal the official ones
(``biosignals.patching.conv_patching``, ``transformer_blocks.{i}.channel_attention`` ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sleeplm.encoder.model.config import BiosignalsConfig
from sleeplm.encoder.model.layers import (
    AttnPooler,
    MultiheadAttention,
    RMSNorm,
    RotaryEmbedding,
    SwiGLUMLP,
    apply_rope_pairs,
    merge_heads,
    split_heads,
)


class ChannelPatching(nn.Module):
    """One ``Conv1d(1 -> conv_embed_dim, kernel=stride=patch_size)`` shared by all channels."""

    def __init__(self, patch_size: int, conv_embed_dim: int) -> None:
        super().__init__()
        self.conv_patching = nn.Conv1d(1, conv_embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, L] -> [B, C, T, conv_embed_dim]``."""
        b, c, length = x.shape
        p = self.conv_patching(x.reshape(b * c, 1, length))  # [B*C, E, T]
        return p.reshape(b, c, p.shape[1], p.shape[2]).transpose(2, 3)


#: Bands (Hz, lower edge included) of the spectral summary; their powers are taken relative to 0.5-32 Hz.
SPECTRAL_BANDS_HZ = ((0.5, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 12.0), (12.0, 16.0), (16.0, 24.0), (24.0, 32.0))


def spectral_features(x: torch.Tensor, fs_hz: float) -> torch.Tensor:
    """Per-channel spectral summary of epochs ``[B, C, L]`` -> ``[B, C * (n_bands + 2)]`` (float32).

    For each channel: log relative power in each of :data:`SPECTRAL_BANDS_HZ` (Hann-windowed periodogram of the
    whole epoch; divided by 4 to keep the values near unit scale), log RMS, and 1 for a recorded channel. A flat
    channel (missing: zeros) gets all zeros. Relative powers do not depend on the recording's scaling; the RMS is
    in the z-scored units of the input.
    """
    x = x.float()
    xc = x - x.mean(dim=-1, keepdim=True)
    n = x.shape[-1]
    power = torch.fft.rfft(xc * torch.hann_window(n, periodic=True, device=x.device), dim=-1).abs().square()
    f = torch.fft.rfftfreq(n, 1.0 / fs_hz, device=x.device)
    total = power[..., (f >= 0.5) & (f <= 32.0)].sum(-1, keepdim=True).clamp_min(1e-12)
    rel = torch.stack([power[..., (f >= lo) & (f < hi)].sum(-1) for lo, hi in SPECTRAL_BANDS_HZ], dim=-1) / total
    rms = xc.square().mean(-1, keepdim=True).sqrt()
    present = (rms > 1e-6).float()
    feats = torch.cat([torch.log(rel + 1e-6) / 4.0, torch.log(rms + 1e-6), torch.ones_like(rms)], dim=-1) * present
    return feats.flatten(1)


class SpectralSummary(nn.Module):
    """``Linear -> GELU -> Linear`` of :func:`spectral_features`, added to the pooled vector (our addition, off in
    the official model). The output layer starts at zero, so adding the module to trained weights changes nothing
    until it is trained."""

    def __init__(self, channels: int, dim: int, fs_hz: float) -> None:
        super().__init__()
        self.fs_hz = float(fs_hz)
        self.mlp = nn.Sequential(nn.Linear(channels * (len(SPECTRAL_BANDS_HZ) + 2), dim), nn.GELU(), nn.Linear(dim, dim))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, L]`` -> ``[B, dim]`` in ``x``'s dtype (the model's: float32, or a half-precision fast mode)."""
        return self.mlp(spectral_features(x, self.fs_hz).to(x.dtype))


class DualRoPEAttention(nn.Module):
    """Bias-free q/k/v projections, RoPE on q and k, softmax attention, biased ``out_proj``."""

    def __init__(self, dim: int, heads: int, rotary_emb: RotaryEmbedding, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.out_proj = nn.Linear(dim, dim)
        self.rotary_emb = rotary_emb  # may be a module shared with other blocks

    def _fusable(self) -> bool:
        return all(type(m) is nn.Linear and m.bias is None for m in (self.q_proj, self.k_proj, self.v_proj))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.dropout if self.training else 0.0
        if not self._fusable():  # e.g. dynamically quantised projections
            q = self.rotary_emb(split_heads(self.q_proj(x), self.heads))
            k = self.rotary_emb(split_heads(self.k_proj(x), self.heads))
            v = split_heads(self.v_proj(x), self.heads)
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
            return self.out_proj(merge_heads(out))
        # one GEMM for q, k, v; RoPE on q and k in one pass
        n, t, d = x.shape
        w = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])
        qkv = F.linear(x, w).view(n, t, 3, self.heads, d // self.heads)
        if torch.is_grad_enabled() or x.dtype != torch.float32:
            qkv = qkv.permute(2, 0, 3, 1, 4)  # [3, N, H, T, hd]
            qk = self.rotary_emb(qkv[:2])
            q, k, v = qk[0], qk[1], qkv[2]
        else:  # inference: rotate in the projection's own layout (contiguous passes; bit-identical)
            qk = apply_rope_pairs(qkv[:, :, :2], *self.rotary_emb.cos_sin(t, x.device))  # [N, T, 2, H, hd]
            q, k, v = qk[:, :, 0].transpose(1, 2), qk[:, :, 1].transpose(1, 2), qkv[:, :, 2].transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        return self.out_proj(merge_heads(out))


class DualTransformerBlock(nn.Module):
    """Channel attention (over the C channels at each patch) then temporal attention layers.

    Post-norm residuals: ``h = norm(h + attn(h)); h = norm(h + mlp(h))``.
    """

    def __init__(self, cfg: BiosignalsConfig, channel_rope: RotaryEmbedding) -> None:
        super().__init__()
        d, h = cfg.transformer_width, cfg.transformer_heads
        hidden = int(d * cfg.mlp_ratio)
        head_dim = d // h
        self.channel_attention = DualRoPEAttention(d, h, channel_rope, cfg.dropout)
        self.channel_norm = RMSNorm(d)
        self.temporal_attention_layers = nn.ModuleList(
            DualRoPEAttention(d, h, RotaryEmbedding(head_dim, learned_freq=False), cfg.dropout)
            for _ in range(cfg.num_temporal_layers)
        )
        self.temporal_norms = nn.ModuleList(RMSNorm(d) for _ in range(cfg.num_temporal_layers))
        self.channel_mlp = SwiGLUMLP(d, hidden, cfg.dropout, bias=cfg.mlp_bias)
        self.temporal_mlps = nn.ModuleList(
            SwiGLUMLP(d, hidden, cfg.dropout, bias=cfg.mlp_bias) for _ in range(cfg.num_temporal_layers)
        )
        self.channel_mlp_norm = RMSNorm(d)
        self.temporal_mlp_norms = nn.ModuleList(RMSNorm(d) for _ in range(cfg.num_temporal_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, D] -> [B, C, T, D]``."""
        b, c, t, d = x.shape
        h = x.permute(0, 2, 1, 3).reshape(b * t, c, d)  # attention across channels
        h = self.channel_norm(h + self.channel_attention(h))
        h = self.channel_mlp_norm(h + self.channel_mlp(h))
        h = h.reshape(b, t, c, d).permute(0, 2, 1, 3).reshape(b * c, t, d)  # attention across time
        for attn, norm, mlp, mlp_norm in zip(
            self.temporal_attention_layers, self.temporal_norms, self.temporal_mlps, self.temporal_mlp_norms
        ):
            h = norm(h + attn(h))
            h = mlp_norm(h + mlp(h))
        return h.reshape(b, c, t, d)


class BiosignalEncoder(nn.Module):
    """``[B, C, L]`` signals -> (embedding ``[B, embed_dim]``, decoder tokens ``[B, N_dec, D]``).

    The embedding is *not* normalised here (``ReCoCa.encode_image`` does that).
    """

    def __init__(self, cfg: BiosignalsConfig, embed_dim: int) -> None:
        super().__init__()
        d, h = cfg.transformer_width, cfg.transformer_heads
        self.cfg = cfg
        # Creation order mirrors the official module so that state_dict() lists keys in the same order.
        self.proj_to_embed = nn.Linear(d, embed_dim)
        self.attn_pool = MultiheadAttention(d, h)
        self.patching = ChannelPatching(cfg.patch_size, cfg.conv_embed_dim)
        self.embed_projection = nn.Linear(cfg.conv_embed_dim, d)
        self.channel_id_embed = nn.Embedding(cfg.input_channels, d)
        head_dim = d // h
        if cfg.share_channel_rope:
            self.shared_channel_rope = RotaryEmbedding(head_dim, learned_freq=True)
            ropes = [self.shared_channel_rope] * cfg.transformer_layers
        else:
            self.shared_channel_rope = None
            ropes = [RotaryEmbedding(head_dim, learned_freq=True) for _ in range(cfg.transformer_layers)]
        self.transformer_blocks = nn.ModuleList(DualTransformerBlock(cfg, rope) for rope in ropes)
        self.ln_final = RMSNorm(d)
        self.contrastive_pooler = AttnPooler(d, h, n_query=1)
        self.decoder_pooler = AttnPooler(d, h, n_query=cfg.decoder_tokens)
        self.spectral_summary = (SpectralSummary(cfg.input_channels, d, cfg.sampling_rate)
                                 if cfg.spectral_summary else None)

    def add_spectral_summary(self) -> None:
        """Give a model without one a (zero-output) :class:`SpectralSummary`; the caller updates its config."""
        if self.spectral_summary is None:
            ref = self.proj_to_embed.weight
            self.spectral_summary = SpectralSummary(self.cfg.input_channels, self.cfg.transformer_width,
                                                    self.cfg.sampling_rate).to(device=ref.device, dtype=ref.dtype)

    def summary(self, x: torch.Tensor) -> torch.Tensor | int:
        """What is added to every pooled vector: the spectral summary of ``x``, or 0 without one."""
        return self.spectral_summary(x) if self.spectral_summary is not None else 0

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Patch, embed and run the dual blocks; returns the channel-major sequence ``[B, C*T, D]``."""
        if x.ndim != 3 or x.shape[1] != self.cfg.input_channels or x.shape[2] != self.cfg.signal_length:
            raise ValueError(
                f"expected signals [B, {self.cfg.input_channels}, {self.cfg.signal_length}], got {list(x.shape)}"
            )
        h = self.embed_projection(self.patching(x))  # [B, C, T, D]
        b, c, t, d = h.shape
        h = h + self.channel_id_embed.weight.view(1, c, 1, d)
        for block in self.transformer_blocks:
            h = block(h)
        return self.ln_final(h).reshape(b, c * t, d)

    def decoder_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Only the decoder tokens ``[B, N_dec, D]`` (what captioning needs): the contrastive pooler,
        ``attn_pool`` and ``proj_to_embed`` are skipped."""
        return self.decoder_pooler(self.forward_features(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seq = self.forward_features(x)
        global_token = self.contrastive_pooler(seq)  # [B, 1, D]
        dec_tokens = self.decoder_pooler(seq)  # [B, N_dec, D]
        pooled = self.attn_pool(global_token, kv_x=dec_tokens)[0].squeeze(1)  # global queries decoder tokens
        return self.proj_to_embed(pooled + self.summary(x)), dec_tokens


class SignalReconstructionDecoder(nn.Module):
    """Optional reconstruction head (``use_signal_decoder``): decoder tokens -> ``[B, C, L]``.

    Two pre-norm ``nn.TransformerEncoder`` layers (FF = 2 x width), mean over tokens,
    then ``Linear(D, D/2), ReLU, Linear(D/2, C*L)``.
    """

    def __init__(self, dim: int, heads: int, channels: int, length: int, num_layers: int = 2) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.to_signal = nn.Sequential(nn.Linear(dim, dim // 2), nn.ReLU(), nn.Linear(dim // 2, channels * length))
        self.channels, self.length = channels, length

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pooled = self.transformer(tokens).mean(dim=1)
        return self.to_signal(pooled).reshape(tokens.shape[0], self.channels, self.length)
