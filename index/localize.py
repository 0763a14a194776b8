"""Language-guided event localization within one night.

A text query is scored against every epoch of the night (cosine of the epoch vector with the
query's text vector) → a similarity time series. The series is smoothed over
``smooth_epochs`` epochs and standardised within the night (robust z: median / 1.4826·MAD), and
runs of epochs above ``z_threshold`` become intervals ``(start_s, end_s, peak score)``. Where the
night has annotated events of the types the query names, each interval is compared with them
(overlap), and per-epoch precision / recall are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .querytext import parse_query


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
                    smooth_epochs: int = 1, epoch_s: float = 30.0) -> Localization:
    """Intervals from a similarity series, compared with annotated ``events`` (type, onset_s, duration_s)."""
    s = scores.astype(np.float64)
    if smooth_epochs > 1:
        s = np.convolve(s, np.ones(smooth_epochs) / smooth_epochs, mode="same")
    z = robust_z(s)
    intervals = find_intervals(z, onset_s, scores, z_threshold, epoch_s)
    kinds = parse_query(query).events
    annotated = [(on, on + du, t) for t, on, du in events if t in kinds]
    loc = Localization(recording, query, onset_s, scores, z, intervals, kinds, annotated)
    if kinds and annotated is not None:
        truth = np.zeros(len(onset_s), bool)
        for on, off, _ in annotated:
            truth |= (onset_s < off) & (onset_s + epoch_s > on)
        found = np.zeros(len(onset_s), bool)
        for iv in intervals:
            found |= (onset_s >= iv.start_s) & (onset_s < iv.end_s)
            iv.matches_annotation = bool(any(on < iv.end_s and off > iv.start_s for on, off, _ in annotated))
        loc.epoch_precision = float((found & truth).sum() / found.sum()) if found.any() else None
        loc.epoch_recall = float((found & truth).sum() / truth.sum()) if truth.any() else None
    return loc
