"""The fact reader's events: its event head, and the events and scores read from the head's per-patch probabilities.

The :class:`~sleeplm.encoder.model.facts.FactReader` carries an :class:`EventHead` (apneas, hypopneas and arousals per
1-s patch of an epoch, :data:`READABLE_EVENTS`). This module turns its probabilities into events, an epoch's
(:func:`events_from_probs`) or a whole night's (:func:`night_events_from_probs`), says which epochs have the inputs an
event type is read from (:func:`event_inputs_present`), and scores a stage/event caption's timeline against them
(:func:`stage_event_scores`). Everything here is re-exported by :mod:`sleeplm.encoder.model.facts`; the head is
trained by ``encoder/train/fact_events.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sleeplm.encoder.vocab import EVENT_INPUTS, SLEEPLM_CHANNELS
from torch import nn

#: Event types the event head may read: those whose signs are among the model's inputs (airflow, belts, ECG, EEG, EOG,
#: chin EMG). Oxygen desaturations need SpO2 and limb movements a leg EMG, neither of which the model is given.
READABLE_EVENTS: tuple[str, ...] = ("obstructive_apnea", "central_apnea", "mixed_apnea", "hypopnea", "arousal")


class EventHead(nn.Module):
    """Per-patch event logits from the tower's tokens: ``[B, C*T, D]`` -> ``[B, T, K]``.

    Each time patch's tokens of all channels are concatenated and read with about 13 patches of context (two
    1-D convolutions, the second dilated), so an event's start and end are read where they happen.
    """

    def __init__(self, channels: int, width: int, n_types: int, hidden: int = 128) -> None:
        super().__init__()
        self.channels = channels
        self.inp = nn.Linear(channels * width, hidden)
        self.conv1 = nn.Conv1d(hidden, hidden, 5, padding=2)
        self.conv2 = nn.Conv1d(hidden, hidden, 5, padding=4, dilation=2)
        self.out = nn.Linear(hidden, n_types)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        b, ct, d = seq.shape
        t = ct // self.channels
        h = seq.reshape(b, self.channels, t, d).permute(0, 2, 1, 3).reshape(b, t, self.channels * d)
        h = nn.functional.gelu(self.inp(h)).transpose(1, 2)  # [B, H, T]
        h = nn.functional.gelu(self.conv1(h))
        h = nn.functional.gelu(self.conv2(h)).transpose(1, 2)
        return self.out(h)


#: The shortest event of each type the scoring rules allow (AASM: apneas and hypopneas >= 10 s, arousals >= 3 s).
MIN_EVENT_S: dict[str, float] = {**dict.fromkeys(("obstructive_apnea", "central_apnea", "mixed_apnea", "hypopnea"), 10.0),
                                 "arousal": 3.0}


def events_from_probs(probs: np.ndarray, event_types: tuple[str, ...], patch_s: float,
                      threshold: float = 0.5, min_duration_s: float = 2.0) -> list[list[tuple[str, float, float]]]:
    """Events of each epoch from per-patch probabilities ``[N, T, K]``: runs of patches above ``threshold``, as
    ``(type, start_s, end_s)`` within the epoch, in start order.

    A run inside the epoch must last as long as its type's shortest scorable event (:data:`MIN_EVENT_S`: a 3-s
    "apnea" is not one); a run touching the epoch's start or end may be the part of a longer event this epoch holds,
    and needs ``min_duration_s``.
    """
    out = []
    for p in probs:
        found = []
        n = p.shape[0]
        for k, name in enumerate(event_types):
            on = np.concatenate([[False], p[:, k] > threshold, [False]])
            starts = np.flatnonzero(on[1:] & ~on[:-1])
            ends = np.flatnonzero(~on[1:] & on[:-1])
            for a, b in zip(starts, ends):
                edge = a == 0 or b == n
                if (b - a) * patch_s >= (min_duration_s if edge else max(min_duration_s, MIN_EVENT_S.get(name, 0.0))):
                    found.append((name, round(float(a * patch_s), 1), round(float(b * patch_s), 1)))
        out.append(sorted(found, key=lambda e: (e[1], e[0])))
    return out


def event_inputs_present(event_types: Sequence[str], channel_mask: np.ndarray) -> np.ndarray:
    """bool ``[N, K]``: whether each epoch (``channel_mask`` ``[N, C]`` over :data:`SLEEPLM_CHANNELS`) has any input
    an event type's signs are read from (:data:`~sleeplm.encoder.vocab.EVENT_INPUTS`); False for a type with none among the inputs."""
    mask = np.asarray(channel_mask, bool).reshape(-1, len(SLEEPLM_CHANNELS))
    cols = [[SLEEPLM_CHANNELS.index(c) for c in EVENT_INPUTS.get(t, ())] for t in event_types]
    return np.stack([mask[:, c].any(axis=1) if c else np.zeros(len(mask), bool) for c in cols], axis=1) \
        if cols else np.zeros((len(mask), 0), bool)


def night_events_from_probs(probs: np.ndarray, onset_s: np.ndarray, event_types: tuple[str, ...], patch_s: float,
                            threshold: float = 0.5, epoch_s: float = 30.0) -> list[tuple[str, float, float]]:
    """Events of a whole night from its epochs' per-patch probabilities ``[N, T, K]`` (epochs in time order, starting
    at ``onset_s`` ``[N]`` s): runs of patches above ``threshold`` joined across contiguous epochs, each as long as its
    type's shortest scorable event (:data:`MIN_EVENT_S`), as ``(type, start_s, end_s)`` in recording time, in start
    order. Unlike :func:`events_from_probs`, an event that spans two epochs is one event."""
    probs = np.asarray(probs)
    onset = np.asarray(onset_s, np.float64)
    n, t = probs.shape[:2]
    if n == 0:
        return []
    times = (onset[:, None] + np.arange(t)[None, :] * patch_s).reshape(-1)
    # a gap between epochs (a dropped or missing epoch) ends a run
    gap = np.concatenate([[False], np.repeat(np.abs(np.diff(onset) - epoch_s) > 1e-6, 1)])
    breaks = np.zeros(n * t, bool)
    breaks[::t] = gap
    out = []
    for k, name in enumerate(event_types):
        on = probs[:, :, k].reshape(-1) > threshold
        joined = on & np.concatenate([[False], on[:-1]]) & ~breaks  # an "on" patch continuing the one before it
        starts = np.flatnonzero(on & ~joined)
        ends = np.flatnonzero(on & ~np.concatenate([joined[1:], [False]]))  # last patch of each run
        for a, b in zip(starts, ends):
            if (b + 1 - a) * patch_s >= MIN_EVENT_S.get(name, 0.0):
                out.append((name, round(float(times[a]), 1), round(float(times[b] + patch_s), 1)))
    return sorted(out, key=lambda e: (e[1], e[0]))


#: Event-head probabilities are clipped to [EVENT_P_EPS, 1 - EVENT_P_EPS] before their logarithm.
EVENT_P_EPS = 1e-4


def stage_event_scores(stage_logp: np.ndarray, text_stage: np.ndarray, event_probs: np.ndarray,
                       text_events: np.ndarray, event_weight: float) -> np.ndarray:
    """Log-likelihood ``[N_epochs, N_texts]`` of each stage/event caption under each epoch's reading.

    ``log p(the text's stage)`` plus ``event_weight`` times the Bernoulli log-likelihood of the text's event timeline
    under the event head's per-patch probabilities. Patches are treated as independent, which counts neighbouring
    patches' shared evidence more than once; ``event_weight`` tempers that.

    Parameters
    ----------
    stage_logp : ``[N, S]`` log-probability of each stage per epoch.
    text_stage : ``[M]`` index of the stage each text states (-1: none stated, adds the uniform log(1 / S)).
    event_probs : ``[N, T, K]`` per-patch probability of each readable event type
        (:meth:`~sleeplm.encoder.model.facts.FactModel.event_probabilities`).
    text_events : ``[M, T, K]`` 1 inside each event of those types a text states, else 0
        (:func:`sleeplm.encoder.captions.parse.event_timelines`); events of other types (desaturations, limb
        movements: their signals are not model inputs) are not in it and do not count.
    event_weight : weight of the event term.
    """
    p = np.clip(np.asarray(event_probs, np.float64), EVENT_P_EPS, 1 - EVENT_P_EPS)
    y = np.asarray(text_events, np.float64)
    events = np.einsum("ntk,mtk->nm", np.log(p), y) + np.einsum("ntk,mtk->nm", np.log1p(-p), 1 - y)
    st = np.asarray(text_stage)
    logp = np.asarray(stage_logp, np.float64)
    # a text that states no stage ("Unscored Stage") says nothing about it: the uniform log-probability, not 0,
    # which no stated stage can reach and would put such a text above every epoch's own
    stage = np.where(st[None, :] >= 0, logp[:, np.maximum(st, 0)], -np.log(logp.shape[1]))
    return stage + event_weight * events
