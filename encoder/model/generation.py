"""Greedy caption generation with a key-value cache, and a no-cache reference loop.

The official demo's beam search (3 groups x 1 beam, no diversity penalty, raw-logit scores) is
greedy decoding in practice: argmax each step, EOS banned while the sequence (SOT included) is
shorter than ``min_len``, stop at EOS or at ``max_len`` tokens (SOT included).

Both the text tower and the decoder run on the growing sequence. Under the causal mask the
text-tower token outputs of earlier positions never change, and the CLS token (appended at the
end) is not needed, so caching both towers is exact.
"""

from __future__ import annotations

import contextlib

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from sleeplm.encoder.model.recoca import ReCoCa


def decode_attention(memory: torch.Tensor) -> contextlib.AbstractContextManager:
    """Attention backends for the cached decode loop.

    On CUDA in half precision, PyTorch may pick cuDNN's attention, which builds an execution plan
    for every new key length; in incremental decoding the key length grows by one each step, so
    every step pays a fresh plan (CPU-bound, many times the step's GPU time). The loop therefore
    uses the flash / memory-efficient / math kernels there. Elsewhere (CPU, float32) nothing changes.
    """
    if memory.is_cuda and memory.dtype in (torch.float16, torch.bfloat16):
        return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])
    return contextlib.nullcontext()


def _prefix_indices(modality: int | torch.Tensor, batch: int, prefix_len: int, device: torch.device) -> torch.Tensor:
    """``[[m, -1, ...]]`` per row: one modality token, the rest padding."""
    if isinstance(modality, torch.Tensor):
        return modality.to(device=device, dtype=torch.long).reshape(batch, -1)
    idx = torch.full((batch, prefix_len), -1, dtype=torch.long, device=device)
    idx[:, 0] = int(modality)
    return idx


def _pick(logits: torch.Tensor, cur_len: int, min_len: int, eos_id: int) -> torch.Tensor:
    if cur_len < min_len:
        logits = logits.clone()
        logits[:, eos_id] = float("-inf")
    return logits.argmax(dim=-1)


def _finish(seqs: torch.Tensor, done_at: list[int | None]) -> list[list[int]]:
    return [row[: (n if n is not None else len(row))].tolist() for row, n in zip(seqs, done_at)]


@torch.inference_mode()
def greedy_generate(
    model: ReCoCa,
    biosignals: torch.Tensor,
    modality: int | torch.Tensor,
    max_len: int = 256,
    min_len: int = 16,
    memory: torch.Tensor | None = None,
) -> list[list[int]]:
    """Greedy captions for a batch of epochs, with KV caches for the text tower and the decoder.

    Parameters
    ----------
    biosignals
        ``[B, C, L]`` signals (ignored when ``memory`` is given).
    modality
        Modality index for every row (prefix ``[m, -1]``), or explicit ``[B, prefix_len]`` indices.
    max_len, min_len
        Length cap and minimum length before EOS may be chosen, both counting SOT.
    memory
        Precomputed signal decoder tokens ``[B, N, D]``.

    Returns
    -------
    list of token-id lists, each starting with SOT and ending with EOS when one was produced.
    """
    cfg = model.cfg
    sot, eos, pad = cfg.sot_token_id, cfg.eot_token_id, cfg.text_cfg.pad_id
    if memory is None:
        memory = model.encode_biosignals(biosignals)[1]
    b, device = memory.shape[0], memory.device
    max_len = min(max_len, cfg.text_cfg.context_length, cfg.multimodal_cfg.context_length)
    prefix = model.condition_embeddings(_prefix_indices(modality, b, cfg.prefix_len, device))
    n_prefix = prefix.shape[1]

    seqs = torch.full((b, max_len), pad, dtype=torch.long, device=device)
    seqs[:, 0] = sot
    done_at: list[int | None] = [None] * b
    active = torch.arange(b, device=device)  # rows still generating
    text_past = dec_past = None
    key_valid = torch.ones(b, 1, dtype=torch.bool, device=device)  # legacy mask of position 0
    new_ids = seqs[:, :1]
    for cur_len in range(1, max_len):
        with decode_attention(memory):
            tokens, text_past = model.text.forward_incremental(new_ids, key_valid, text_past)
            x = torch.cat([prefix, tokens], dim=1) if dec_past is None else tokens
            logits, dec_past = model.text_decoder.forward_incremental(x, memory, dec_past, num_prefix=n_prefix)
        nxt = _pick(logits, cur_len, min_len, eos)
        seqs[active, cur_len] = nxt
        finished = nxt == eos
        for r in active[finished].tolist():
            done_at[r] = cur_len + 1
        if finished.all():
            break
        if finished.any():  # drop finished rows from every cache
            keep = (~finished).nonzero().squeeze(1)
            active, nxt, key_valid = active[keep], nxt[keep], key_valid[keep]
            text_past = [(k[keep], v[keep]) for k, v in text_past]
            dec_past = [((sk[keep], sv[keep]), (ck[keep], cv[keep])) for (sk, sv), (ck, cv) in dec_past]
        new_ids = nxt[:, None]
        # the new key (position cur_len) is visible iff the token before it is not the pad id
        key_valid = torch.cat([key_valid, (seqs[active, cur_len - 1] != pad)[:, None]], dim=1)
    return _finish(seqs, done_at)


@torch.inference_mode()
def generate_tracks(
    model: ReCoCa,
    biosignals: torch.Tensor,
    modalities: list[int],
    max_len: int = 256,
    min_len: int = 16,
    batch_rows: int = 64,
    memory: torch.Tensor | None = None,
) -> list[list[list[int]]]:
    """Greedy captions for many epochs x many modality tracks: encode once, decode in big batches.

    Each epoch is encoded once (decoder tokens only, no contrastive pooler); its memory is
    repeated for every track, and the ``epochs x tracks`` rows run through the KV-cached greedy
    decoder ``batch_rows`` rows at a time (rows that reach EOS drop out of the batch). The token
    ids equal ``greedy_generate`` run one epoch and one track at a time.

    Returns
    -------
    ``ids[epoch][track]``: token-id lists (SOT first, EOS last when reached), tracks in the order given.
    """
    if memory is None:
        memory = model.encode_memory(biosignals)
    n, t = memory.shape[0], len(modalities)
    if n == 0 or t == 0:
        return [[[] for _ in range(t)] for _ in range(n)]
    mods = torch.as_tensor(list(modalities), dtype=torch.long, device=memory.device)
    row_epoch = torch.arange(n, device=memory.device).repeat_interleave(t)  # epoch-major rows
    row_mod = mods.repeat(n)
    flat: list[list[int]] = []
    for i in range(0, n * t, batch_rows):
        ep, md = row_epoch[i : i + batch_rows], row_mod[i : i + batch_rows]
        idx = torch.full((len(ep), model.cfg.prefix_len), -1, dtype=torch.long, device=memory.device)
        idx[:, 0] = md
        flat.extend(greedy_generate(model, None, idx, max_len=max_len, min_len=min_len, memory=memory[ep]))
    return [flat[e * t : (e + 1) * t] for e in range(n)]


@torch.inference_mode()
def greedy_generate_reference(
    model: ReCoCa,
    biosignals: torch.Tensor,
    modality: int | torch.Tensor,
    max_len: int = 256,
    min_len: int = 16,
) -> list[list[int]]:
    """The plain loop: re-run the full model on the whole prefix at every step (no cache)."""
    cfg = model.cfg
    sot, eos = cfg.sot_token_id, cfg.eot_token_id
    _, memory = model.encode_biosignals(biosignals)
    b, device = memory.shape[0], memory.device
    max_len = min(max_len, cfg.text_cfg.context_length, cfg.multimodal_cfg.context_length)
    prefix = model.condition_embeddings(_prefix_indices(modality, b, cfg.prefix_len, device))
    out: list[list[int]] = []
    for row in range(b):
        seq = torch.tensor([[sot]], dtype=torch.long, device=device)
        while seq.shape[1] < max_len:
            _, tokens = model.text(seq)
            logits = model.text_decoder(memory[row : row + 1], tokens, condition_embs=prefix[row : row + 1])[:, -1]
            nxt = _pick(logits, seq.shape[1], min_len, eos)
            seq = torch.cat([seq, nxt[:, None]], dim=1)
            if nxt.item() == eos:
                break
        out.append(seq[0].tolist())
    return out

