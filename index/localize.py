"""Language-guided event localization within one night.

A text query is scored against every epoch of the night (cosine of the epoch vector with the
query's text vector) → a similarity time series. Two ways to turn it into "where":

* **calibrated (default when a reference is given)**: each epoch is scored against the event
  description *and* a reference text, the caption the model learned for epochs without events
  (:data:`NEGATION`); the per-epoch probability is ``sigmoid((s_event − s_reference) / T)``, and runs
  of epochs with probability > 0.5 are intervals. An epoch counts as an event because it looks more
  like the event than like "no events", not because it stands out in its night: in a severe night,
  where events recur every 45 s, nothing stands out, yet every event epoch still scores above 0.5;
* **outlier**: the series is smoothed over ``smooth_epochs`` epochs and standardised within the night
  (robust z: median / 1.4826·MAD); runs above ``z_threshold`` are intervals (what stands out).

Where the night has annotated events of the types the query names, each interval is compared with
them (overlap), and per-epoch precision / recall are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .querytext import parse_query

#: The reference text of the calibrated score: the caption of an epoch without events.
NEGATION = "No sleep-disordered breathing events were detected."
#: Temperature of the calibrated probability (the CLIP-style logit scale of 100).
TEMPERATURE = 0.01


def calibrated_probability(scores: np.ndarray, reference: np.ndarray, temperature: float = TEMPERATURE) -> np.ndarray:
    """Per-epoch probability that the epoch is the described event rather than the reference text."""
    d = (np.asarray(scores, np.float64) - np.asarray(reference, np.float64)) / temperature
    return 1.0 / (1.0 + np.exp(-np.clip(d, -50.0, 50.0)))


@dataclass
class Interval:
    start_s: float
    end_s: float
    peak_score: float
    peak_epoch: int
    matches_annotation: bool | None = None  # None when the night has no comparable annotations


@dataclass
class Localization:
    """Similarity timeline of one night for one query, and the intervals found."""

    recording: str
    query: str
    onset_s: np.ndarray
    scores: np.ndarray  # raw cosine per epoch
    z: np.ndarray  # smoothed, robust-standardised
    intervals: list[Interval]
    event_types: list[str] = field(default_factory=list)  # what the query names
    annotated: list[tuple[float, float, str]] = field(default_factory=list)  # comparable annotated events
    epoch_precision: float | None = None
    epoch_recall: float | None = None
    probability: np.ndarray | None = None  # calibrated per-epoch probability (None: outlier mode)
    method: str = "outlier"  # "calibrated" or "outlier"


def robust_z(x: np.ndarray) -> np.ndarray:
    med = float(np.median(x))
    mad = float(np.median(np.abs(x - med))) * 1.4826
    return (x - med) / max(mad, 1e-9)


def find_intervals(z: np.ndarray, onset_s: np.ndarray, scores: np.ndarray, z_threshold: float,
                   epoch_s: float = 30.0, min_epochs: int = 1) -> list[Interval]:
    """Runs of consecutive epochs with ``z > z_threshold`` as intervals."""
    above = np.concatenate([[False], z > z_threshold, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    out = []
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a < min_epochs:
            continue
        peak = a + int(np.argmax(scores[a:b]))
        out.append(Interval(float(onset_s[a]), float(onset_s[b - 1] + epoch_s), float(scores[peak]), int(peak)))
    return out


def localize_scores(recording: str, query: str, onset_s: np.ndarray, scores: np.ndarray,
                    events: list[tuple[str, float, float]], z_threshold: float = 2.0,
                    smooth_epochs: int = 1, epoch_s: float = 30.0,
                    reference_scores: np.ndarray | None = None, allowed: np.ndarray | None = None,
                    event_types: list[str] | None = None) -> Localization:
    """Intervals from a similarity series, compared with annotated ``events`` (type, onset_s, duration_s).

    With ``reference_scores`` (each epoch's cosine with :data:`NEGATION`) the intervals are the runs of
    calibrated probability > 0.5; without, the runs of within-night robust z > ``z_threshold``. ``allowed``
    (a boolean per epoch, e.g. the epochs scored REM): intervals only there, and only the annotated events that
    start there. ``event_types``: the annotated types to compare with (default: those the query names).
    """
    s = scores.astype(np.float64)
    if smooth_epochs > 1:
        s = np.convolve(s, np.ones(smooth_epochs) / smooth_epochs, mode="same")
    z = robust_z(s)
    prob = None
    if reference_scores is not None:
        r = np.asarray(reference_scores, np.float64)
        if smooth_epochs > 1:
            r = np.convolve(r, np.ones(smooth_epochs) / smooth_epochs, mode="same")
        prob = calibrated_probability(s, r)
        intervals = find_intervals(prob if allowed is None else np.where(allowed, prob, 0.0), onset_s, scores, 0.5,
                                   epoch_s)
    else:
        intervals = find_intervals(z if allowed is None else np.where(allowed, z, -np.inf), onset_s, scores,
                                   z_threshold, epoch_s)
    kinds = list(event_types) if event_types is not None else parse_query(query).events
    annotated = [(on, on + du, t) for t, on, du in events if t in kinds]
    if allowed is not None and len(onset_s):  # an event belongs to the epoch it starts in
        idx = np.clip(np.searchsorted(onset_s, [on for on, _, _ in annotated], side="right") - 1, 0, len(onset_s) - 1)
        annotated = [a for a, i in zip(annotated, idx) if allowed[i]]
    loc = Localization(recording, query, onset_s, scores, z, intervals, kinds, annotated, probability=prob,
                       method="calibrated" if prob is not None else "outlier")
    if kinds and annotated is not None:
        truth = np.zeros(len(onset_s), bool)
        for on, off, _ in annotated:
            truth |= (onset_s < off) & (onset_s + epoch_s > on)
        if allowed is not None:
            truth &= allowed
        found = np.zeros(len(onset_s), bool)
        for iv in intervals:
            found |= (onset_s >= iv.start_s) & (onset_s < iv.end_s)
            iv.matches_annotation = bool(any(on < iv.end_s and off > iv.start_s for on, off, _ in annotated))
        loc.epoch_precision = float((found & truth).sum() / found.sum()) if found.any() else None
        loc.epoch_recall = float((found & truth).sum() / truth.sum()) if truth.any() else None
    return loc
