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
from sleeplm.encoder.model.facts import night_events_from_probs

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
    event_type: str | None = None  # the type an event head read (None for an interval of similar epochs)


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
    loc = Localization(recording, query, onset_s, scores, z, intervals, kinds, [], probability=prob,
                       method="calibrated" if prob is not None else "outlier")
    return _compare_with_annotations(loc, events, allowed, epoch_s)


def _start_epochs(onset_s: np.ndarray, times_s: list[float]) -> np.ndarray:
    """The epoch each time falls in (an event belongs to the epoch it starts in)."""
    return np.clip(np.searchsorted(onset_s, times_s, side="right") - 1, 0, max(len(onset_s) - 1, 0))


def _compare_with_annotations(loc: Localization, events: list[tuple[str, float, float]],
                              allowed: np.ndarray | None, epoch_s: float) -> Localization:
    """Fill ``loc``'s annotated events of its types (only those starting in ``allowed`` epochs), each interval's
    ``matches_annotation`` and the per-epoch precision and recall."""
    onset_s, intervals, kinds = loc.onset_s, loc.intervals, loc.event_types
    annotated = [(on, on + du, t) for t, on, du in events if t in kinds]
    if allowed is not None and len(onset_s):
        annotated = [a for a, i in zip(annotated, _start_epochs(onset_s, [on for on, _, _ in annotated])) if allowed[i]]
    loc.annotated = annotated
    if kinds and annotated is not None:
        truth = np.zeros(len(onset_s), bool)
        for on, off, _ in annotated:
            truth |= (onset_s < off) & (onset_s + epoch_s > on)
        if allowed is not None:
            truth &= allowed
        found = np.zeros(len(onset_s), bool)
        for iv in intervals:
            found |= (onset_s < iv.end_s) & (onset_s + epoch_s > iv.start_s)
            iv.matches_annotation = bool(any(on < iv.end_s and off > iv.start_s for on, off, _ in annotated))
        if allowed is not None:  # an event that starts in an allowed epoch may run into the next one
            found &= allowed
        loc.epoch_precision = float((found & truth).sum() / found.sum()) if found.any() else None
        loc.epoch_recall = float((found & truth).sum() / truth.sum()) if truth.any() else None
    return loc


def localize_read_events(recording: str, query: str, onset_s: np.ndarray, event_probs: np.ndarray,
                         read_types: tuple[str, ...], patch_s: float, events: list[tuple[str, float, float]],
                         event_types: list[str], allowed: np.ndarray | None = None,
                         epoch_s: float = 30.0) -> Localization:
    """Where a night's events of ``event_types`` are, as a fact reader's event head reads them: its per-patch
    probabilities ``event_probs`` ``[N, T, K]`` (types ``read_types``) turned into events to the second
    (:func:`~sleeplm.encoder.model.facts.night_events_from_probs`), compared with the annotated ``events`` (type,
    onset_s, duration_s) as :func:`localize_scores` compares its intervals. Each epoch's score is the highest
    probability of the named types in it. ``allowed``: only events that start in these epochs."""
    ks = [k for k, t in enumerate(read_types) if t in event_types]
    if not ks:
        raise ValueError(f"the event head reads {list(read_types)}, none of {event_types}")
    probs = np.asarray(event_probs, np.float64)
    per_epoch = probs[:, :, ks].max(axis=(1, 2)) if len(probs) else np.zeros(0)
    read = [e for e in night_events_from_probs(probs, onset_s, read_types, patch_s) if e[0] in event_types]
    starts = _start_epochs(onset_s, [a for _, a, _ in read])
    intervals = []
    for (kind, a, b), i in zip(read, starts):
        if allowed is not None and not allowed[i]:
            continue
        last = int(_start_epochs(onset_s, [b - 1e-6])[0])
        peak = int(i + np.argmax(per_epoch[i:last + 1]))
        intervals.append(Interval(a, b, float(per_epoch[peak]), peak, event_type=kind))
    loc = Localization(recording, query, onset_s, per_epoch, per_epoch, intervals, list(event_types), [],
                       probability=per_epoch, method="event head")
    return _compare_with_annotations(loc, events, allowed, epoch_s)
