"""The ReCoCa pretraining objective: contrastive + per-track captioning + signal reconstruction.

``total = w_con * InfoNCE(signal, text) + w_cap * CE(caption | signal, track) + w_rec * MSE(recon, x)``

- Contrastive: symmetric InfoNCE over the L2-normalised signal and text embeddings, scaled by
  ``exp(logit_scale)`` (clamped to 100, as in CLIP).
- Captioning: the multimodal decoder, conditioned on the modality prefix ``[[m, -1]]`` of the
  example's sampled track, predicts the caption tokens (teacher forcing); pad id 0 is ignored.
- Reconstruction: the ``signal_decoder`` head (``use_signal_decoder``) rebuilds the z-scored epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sleeplm.encoder.model.recoca import ReCoCa

MAX_LOGIT_SCALE = math.log(100.0)


@dataclass
class LossWeights:
    """Weights of the three loss terms (CoCa's defaults: contrastive 1, caption 2)."""

    contrastive: float = 1.0
    caption: float = 2.0
    reconstruction: float = 1.0


def contrastive_loss(signal_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor,
                     text_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE; row ``i`` of each embedding is the positive pair.

    With ``text_ids`` (the contrastive token ids), examples whose texts are identical are all
    positives of each other (the target spreads evenly over them): templated captions repeat
    within a batch ("... Stable Light Sleep (N2) ... No events ..."), and treating those copies
    as negatives would push apart epochs that the text cannot tell apart.
    """
    logits = logit_scale * signal_emb @ text_emb.t()
    if text_ids is None:
        target = torch.arange(len(logits), device=logits.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
    same = (text_ids[:, None, :] == text_ids[None, :, :]).all(dim=-1).float()
    target = same / same.sum(dim=1, keepdim=True)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def caption_loss(logits: torch.Tensor, labels: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Token cross-entropy ``logits [B, L, V]`` vs ``labels [B, L]``, pad positions ignored."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=pad_id)


def reconstruction_loss(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error over channels and samples."""
    return F.mse_loss(recon.float(), x.float())


def trim_padding(ids: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Drop trailing all-pad columns (exact for the causal decoder path)."""
    keep = int((ids != pad_id).any(dim=0).nonzero().max()) + 1 if (ids != pad_id).any() else 1
    return ids[:, :keep]


def pretraining_loss(
    model: ReCoCa,
    x: torch.Tensor,
    contrastive_ids: torch.Tensor,
    caption_ids: torch.Tensor,
    modality: torch.Tensor,
    weights: LossWeights,
    dedupe_texts: bool = False,
) -> tuple[torch.Tensor, dict[str, float]]:
    """One forward pass and the weighted loss.

    Parameters
    ----------
    x
        Signals ``[B, 10, 1920]``.
    contrastive_ids
        Contrastive text ids ``[B, context_length]`` (full length, as ``encode_text`` sees them, so
        the CLS token keeps its inference position).
    caption_ids
        Caption ids ``[B, L]`` of each example's sampled track (SOT ... EOT, zero-padded).
    modality
        Track index per example ``[B]`` (``api.TRACKS``); the prefix is ``[[m, -1]]``.
    dedupe_texts
        Treat identical contrastive texts in the batch as shared positives (see :func:`contrastive_loss`).

    Returns
    -------
    (total loss, {"loss", "contrastive", "caption", "reconstruction", "logit_scale"} as floats)
    """
    cfg = model.cfg
    signal_emb, memory = model.encode_biosignals(x)
    text_emb = model.encode_text(contrastive_ids)
    scale = model.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()
    l_con = contrastive_loss(signal_emb, text_emb, scale, contrastive_ids if dedupe_texts else None)

    cap = trim_padding(caption_ids, cfg.text_cfg.pad_id)
    _, tokens = model.text(cap)
    prefix = torch.full((len(cap), cfg.prefix_len), -1, dtype=torch.long, device=cap.device)
    prefix[:, 0] = modality
    logits = model.text_decoder(memory, tokens[:, :-1], condition_embs=model.condition_embeddings(prefix))
    l_cap = caption_loss(logits, cap[:, 1:], cfg.text_cfg.pad_id)

    total = weights.contrastive * l_con + weights.caption * l_cap
    parts = {"contrastive": l_con.item(), "caption": l_cap.item()}
    if cfg.use_signal_decoder and weights.reconstruction > 0:
        l_rec = reconstruction_loss(model.signal_decoder(memory), x)
        total = total + weights.reconstruction * l_rec
        parts["reconstruction"] = l_rec.item()
    parts["loss"] = total.item()
    parts["logit_scale"] = scale.item()
    return total, parts
