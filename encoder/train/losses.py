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
from collections.abc import Callable
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
    #: Consistency with a frozen teacher (:func:`distillation_loss`); 0 = off.
    distillation: float = 0.0


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


def contrastive_loss_tracks(signal_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor,
                            mask: torch.Tensor, text_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over tracks of :func:`contrastive_loss` between the one signal embedding and each track's texts.

    ``text_emb`` is ``[B, T, D]`` (track ``t``'s caption of every example), ``mask`` ``[B, T]`` the pairs that
    count (an example whose channels were dropped keeps only its stage/event text: the other captions
    describe signals it no longer has); ``text_ids`` ``[B, T, L]`` for shared positives. A track with fewer
    than two counted examples is left out.

    Design: an epoch keeps one vector (the index stores one per epoch and a query is a plain sentence, no
    track label), and the five tracks' captions pull that vector towards five descriptions of the same
    30 s: the captions already name their track's quantities ("heart rate ... bpm", "airflow"), so the text
    tower needs no track token to tell them apart, and a user's query can be matched without knowing its
    track. Negatives stay within a track (the in-batch epochs' same-track captions), so the loss asks the
    vector to tell epochs apart by each track's content, not to tell tracks apart.

    ``signal_emb`` may also be ``[B, T, D]``: one vector per track (a model with ``track_heads``), each track's
    texts then pull only their own track's vector, so a heart-rate caption and a spindle caption no longer
    compete for one vector; the query's track must then be known at search time.
    """
    losses = []
    for t in range(text_emb.shape[1]):
        rows = mask[:, t].nonzero().squeeze(1)
        if len(rows) < 2:
            continue
        ids = None if text_ids is None else text_ids[rows, t]
        sig = signal_emb[rows, t] if signal_emb.ndim == 3 else signal_emb[rows]
        losses.append(contrastive_loss(sig, text_emb[rows, t], logit_scale, ids))
    return torch.stack(losses).mean()


def distillation_loss(signal_emb: torch.Tensor, memory: torch.Tensor, teacher_emb: torch.Tensor,
                      teacher_memory: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
    """Pull the student's view of an augmented epoch onto a frozen teacher's view of the clean epoch.

    ``1 - cos(student embedding, teacher embedding)`` (both unit vectors) on every example, plus the mean
    squared error of the decoder tokens on the examples of ``memory_mask`` (those that kept the channels
    the captions describe). The teacher is the model the fine-tune starts from, fed the epoch before
    randomization and channel-drop: what the student must learn is to see through the recording
    conditions, not a new meaning for the vectors, so retrieval, zero-shot prompts and the caption
    decoder keep working as they did on clean nights.
    """
    l_emb = (1.0 - (signal_emb * teacher_emb).sum(dim=-1)).mean()
    if memory_mask.any():
        l_mem = F.mse_loss(memory[memory_mask].float(), teacher_memory[memory_mask].float())
        return l_emb + l_mem
    return l_emb


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
    contrastive_mask: torch.Tensor | None = None,
    encode_text: Callable[[torch.Tensor], torch.Tensor] | None = None,
    teacher: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """One forward pass and the weighted loss.

    Parameters
    ----------
    x
        Signals ``[B, 10, 1920]``.
    contrastive_ids
        Contrastive text ids ``[B, context_length]`` (full length, as ``encode_text`` sees them, so
        the CLS token keeps its inference position), or ``[B, T, context_length]``: T texts per example
        (one per track), scored by :func:`contrastive_loss_tracks` with ``contrastive_mask`` ``[B, T]``.
    caption_ids
        Caption ids ``[B, L]`` of each example's sampled track (SOT ... EOT, zero-padded).
    modality
        Track index per example ``[B]`` (``api.TRACKS``); the prefix is ``[[m, -1]]``.
    dedupe_texts
        Treat identical contrastive texts in the batch as shared positives (see :func:`contrastive_loss`).
    encode_text
        Token ids ``[N, L]`` -> unit text embeddings (default ``model.encode_text``; a frozen text tower's
        cached embeddings in a fine-tune that keeps the text space fixed).
    teacher
        ``(teacher embedding [B, D], teacher decoder tokens [B, N, D], memory mask [B])`` of the clean
        epochs, for :func:`distillation_loss` (weight ``weights.distillation``).

    Returns
    -------
    (total loss, {"loss", "contrastive", "caption", "reconstruction", "logit_scale"} as floats; "caption"
    is left out when its weight is 0, which skips the decoder)
    """
    cfg = model.cfg
    encode = encode_text or model.encode_text
    if cfg.track_heads:
        signal_emb, track_emb, memory = model.encode_biosignals_tracks(x)
    else:
        (signal_emb, memory), track_emb = model.encode_biosignals(x), None
    scale = model.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()
    if contrastive_ids.ndim == 3:
        b, n_t, n_ctx = contrastive_ids.shape
        text_emb = encode(contrastive_ids.reshape(b * n_t, n_ctx)).reshape(b, n_t, -1)
        mask = contrastive_mask if contrastive_mask is not None else torch.ones(b, n_t, dtype=torch.bool)
        l_con = contrastive_loss_tracks(signal_emb if track_emb is None else track_emb, text_emb, scale, mask,
                                        contrastive_ids if dedupe_texts else None)
    else:
        text_emb = encode(contrastive_ids)
        l_con = contrastive_loss(signal_emb, text_emb, scale, contrastive_ids if dedupe_texts else None)
    total = weights.contrastive * l_con
    parts = {"contrastive": l_con.item()}

    if weights.caption > 0:
        cap = trim_padding(caption_ids, cfg.text_cfg.pad_id)
        _, tokens = model.text(cap)
        prefix = torch.full((len(cap), cfg.prefix_len), -1, dtype=torch.long, device=cap.device)
        prefix[:, 0] = modality
        logits = model.text_decoder(memory, tokens[:, :-1], condition_embs=model.condition_embeddings(prefix))
        l_cap = caption_loss(logits, cap[:, 1:], cfg.text_cfg.pad_id)
        total = total + weights.caption * l_cap
        parts["caption"] = l_cap.item()
    if teacher is not None and weights.distillation > 0:
        l_dis = distillation_loss(signal_emb, memory, *teacher)
        total = total + weights.distillation * l_dis
        parts["distillation"] = l_dis.item()
    if cfg.use_signal_decoder and weights.reconstruction > 0:
        l_rec = reconstruction_loss(model.signal_decoder(memory), x)
        total = total + weights.reconstruction * l_rec
        parts["reconstruction"] = l_rec.item()
    parts["loss"] = total.item()
    parts["logit_scale"] = scale.item()
    return total, parts
