"""Night vectors for "find nights like this one".

A night is described by what its epochs look like in each stage and by its clinical metrics:

``v = normalise([ √f_W·ē_W, √f_N1·ē_N1, √f_N2·ē_N2, √f_N3·ē_N3, √f_REM·ē_REM, α·(m − m₀) ])``

* ``ē_s`` — the normalised mean of the night's epoch vectors in stage ``s`` (zeros when the night
  has none), ``f_s`` — the stage's share of scored epochs. The dot product of two such blocks is
  ``Σ_s √(f_s f'_s) · cos(ē_s, ē'_s)``: stage architecture and within-stage physiology together.
* ``m`` — fixed-scale night metrics (:data:`METRIC_SCALES`: log-compressed event indices, sleep
  efficiency, stage percentages, latencies), centred on a typical healthy night ``m₀``, weighted by
  :data:`METRIC_WEIGHT`. A metric that is NaN (its channel is missing) contributes 0.

The scales are fixed (not fitted to the cohort), so a night's vector does not change as the cohort
grows.
"""

from __future__ import annotations

import math

import numpy as np
from sleeplm.encoder.vocab import SCORED_STAGES


#: metric -> (scale function input key, divisor, typical healthy value), all mapped to ~[0, 1].
METRIC_SCALES: dict[str, tuple[str, float, float]] = {
    "ahi": ("ahi_per_h", math.log1p(100.0), 2.0),
    "odi": ("odi_per_h", math.log1p(100.0), 2.0),
    "cai": ("cai_per_h", math.log1p(50.0), 0.0),
    "arousal": ("arousal_index_per_h", math.log1p(80.0), 10.0),
    "efficiency": ("sleep_efficiency_pct", 100.0, 88.0),
    "latency": ("sleep_latency_min", math.log1p(120.0), 15.0),
    "waso": ("waso_min", math.log1p(240.0), 30.0),
    "n1": ("n1_pct", 100.0, 6.0),
    "n3": ("n3_pct", 100.0, 18.0),
    "rem": ("rem_pct", 100.0, 22.0),
}
_LOG = {"ahi", "odi", "cai", "arousal", "latency", "waso"}
METRIC_WEIGHT = 2.0


def metric_block(metrics: dict[str, float]) -> np.ndarray:
    """The scaled, centred metric part of a night vector."""
    out = np.zeros(len(METRIC_SCALES), np.float32)
    for i, (name, (key, div, typical)) in enumerate(METRIC_SCALES.items()):
        v = metrics.get(key, math.nan)
        if v is None or not math.isfinite(float(v)):
            continue
        if name in _LOG:
            out[i] = (math.log1p(max(float(v), 0.0)) - math.log1p(typical)) / div
        else:
            out[i] = (float(v) - typical) / div
    return METRIC_WEIGHT * out


def night_vector(epoch_vectors: np.ndarray, stages: list[str] | np.ndarray, metrics: dict[str, float]) -> np.ndarray:
    """The night's vector (float32, L2-normalised), dimension ``5·D + len(METRIC_SCALES)``."""
    stages = np.asarray(stages)
    d = epoch_vectors.shape[1]
    scored = np.isin(stages, SCORED_STAGES)
    n_scored = max(int(scored.sum()), 1)
    blocks = []
    for s in SCORED_STAGES:
        sel = stages == s
        if not sel.any():
            blocks.append(np.zeros(d, np.float32))
            continue
        mean = epoch_vectors[sel].mean(axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        blocks.append(math.sqrt(sel.sum() / n_scored) * mean.astype(np.float32))
    if not scored.any():  # unscored night: one overall mean in the N2 slot keeps it searchable
        mean = epoch_vectors.mean(axis=0)
        blocks[2] = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
    v = np.concatenate([*blocks, metric_block(metrics)])
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)
