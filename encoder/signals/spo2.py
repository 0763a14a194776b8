"""SpO2 features per epoch (aux channel ``SPO2``).

Samples outside 50-100 % are artefacts (probe off) and ignored; an epoch with less than half
its samples valid gives NaN.

Columns:

- ``spo2_min_pct`` (%), ``spo2_mean_pct`` (%): over the epoch's valid samples.
- ``spo2_below90_s`` (s): the share of the epoch's valid samples below 90 %, times the epoch length (the
  epoch's part of T90, the time with SpO2 below 90 %).
- ``spo2_trend`` (str): falling/rising phases (>= 1.5 % over >= 4 s, 1-Hz grid, 3-s smoothing),
  e.g. ``"decreasing 3.0-14.0"``.
"""

from __future__ import annotations

import numpy as np

from sleeplm.encoder.signals._common import epoch_matrix, trend_segments
from sleeplm.encoder.io.records import EPOCH_S, Signal

SPO2_VALID_PCT: tuple[float, float] = (50.0, 100.0)
#: The threshold of T90, the time with SpO2 below 90 % (the usual hypoxaemic-burden measure).
T90_THRESHOLD_PCT = 90.0


def spo2_features(sig: Signal | None, onset_s: np.ndarray,
                  epoch_s: float = EPOCH_S) -> dict[str, np.ndarray]:
    """SpO2 columns; NaN (and ``""`` trends) when the channel is absent."""
    n = len(onset_s)
    out: dict[str, np.ndarray] = {
        "spo2_min_pct": np.full(n, np.nan),
        "spo2_mean_pct": np.full(n, np.nan),
        "spo2_below90_s": np.full(n, np.nan),
        "spo2_trend": np.array([""] * n, dtype=object),
    }
    if sig is None or len(sig.data) == 0 or sig.fs_hz <= 0:
        return out
    x = np.asarray(sig.data, dtype=np.float64).copy()
    x[(x < SPO2_VALID_PCT[0]) | (x > SPO2_VALID_PCT[1])] = np.nan
    mat = epoch_matrix(x, sig.fs_hz, onset_s, epoch_s)
    valid_frac = np.mean(~np.isnan(mat), axis=1)
    good = valid_frac >= 0.5
    with np.errstate(invalid="ignore"):
        out["spo2_min_pct"] = np.where(good, np.nanmin(np.where(good[:, None], mat, 0), axis=1), np.nan)
        out["spo2_mean_pct"] = np.where(good, np.nanmean(np.where(good[:, None], mat, 0), axis=1),
                                        np.nan)
        below = np.sum(mat < T90_THRESHOLD_PCT, axis=1) / np.maximum(np.sum(~np.isnan(mat), axis=1), 1)
        out["spo2_below90_s"] = np.where(good, below * epoch_s, np.nan)
    # 1-Hz grid for trends (interpolate over short gaps inside good epochs)
    t = np.arange(len(x)) / sig.fs_hz
    ok = ~np.isnan(x)
    if ok.sum() < 2:
        return out
    grid = np.asarray(onset_s)[:, None] + np.arange(int(round(epoch_s)))[None, :]
    g = np.interp(grid, t[ok], x[ok], left=np.nan, right=np.nan)
    g[~good] = np.nan
    out["spo2_trend"] = np.array(
        trend_segments(g, 1.0, min_change=1.5, min_duration_s=4.0, smooth_s=3.0), dtype=object)
    return out
