"""ECG features per epoch: beat rate, RMSSD, heart-rate min/mean/max and trend phases.

R-peaks come from neurokit2 (``ecg_clean`` + ``ecg_peaks``) run once on the whole night;
beats are then assigned to epochs. RR intervals outside 0.3-2.0 s (30-200 bpm) or
more than 20 % away from the median of the 11 surrounding intervals are treated as artefacts.

Columns:

- ``ecg_hr_bpm`` (bpm): 60 / mean RR of the epoch's intervals (the "estimated beat rate").
- ``ecg_rmssd_ms`` (ms): root mean square of successive RR differences in the epoch.
- ``hr_min_bpm``, ``hr_mean_bpm``, ``hr_max_bpm`` (bpm): of the instantaneous heart rate
  (60 / RR, linearly interpolated at 2 Hz) over the epoch.
- ``hr_trend`` (str): rising/falling phases of the instantaneous heart rate inside the epoch
  (>= 3 bpm over >= 3 s), e.g. ``"increasing 14.1-18.8,decreasing 25.3-30.0"``.
- ``ecg_n_beats`` (count): valid RR intervals ending in the epoch.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter
from sleeplm.encoder.io.records import EPOCH_S, Signal
from sleeplm.encoder.signals._common import (
    complete_epochs,
    epoch_matrix,
    flat_epochs,
    trend_segments,
)

HR_GRID_HZ: float = 2.0
MIN_BEATS_PER_EPOCH: int = 5
#: Below this sampling rate an ECG cannot locate R peaks (a QRS lasts ~0.1 s): no beats, NaN features.
MIN_ECG_FS_HZ: float = 32.0


def detect_r_peaks_s(ecg: np.ndarray, fs_hz: float, method: str = "neurokit") -> np.ndarray:
    """R-peak times (s) over a whole night with neurokit2 (cleaning + peak detection).

    Empty when the ECG is shorter than 10 s, flat, or sampled below :data:`MIN_ECG_FS_HZ`.
    """
    import neurokit2 as nk  # heavy import, kept local

    x = np.nan_to_num(np.asarray(ecg, dtype=np.float64))
    if fs_hz < MIN_ECG_FS_HZ or len(x) < fs_hz * 10 or np.std(x) == 0:
        return np.empty(0)
    clean = nk.ecg_clean(x, sampling_rate=int(round(fs_hz)), method="neurokit")
    _, info = nk.ecg_peaks(clean, sampling_rate=int(round(fs_hz)), method=method,
                           correct_artifacts=False)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.float64) / fs_hz


def epoch_index(times_s: np.ndarray, onset_s: np.ndarray, epoch_s: float = EPOCH_S) -> np.ndarray:
    """Index of the epoch holding each time, -1 where none does."""
    i = np.searchsorted(onset_s, times_s, side="right") - 1
    inside = (i >= 0) & (times_s < onset_s[np.clip(i, 0, None)] + epoch_s)
    return np.where(inside, i, -1)


def cardiac_features_from_peaks(peaks_s: np.ndarray, onset_s: np.ndarray,
                                epoch_s: float = EPOCH_S) -> dict[str, np.ndarray]:
    """All cardiac columns from R-peak times (s)."""
    n = len(onset_s)
    nan = np.full(n, np.nan)
    out = {k: nan.copy() for k in ("ecg_hr_bpm", "ecg_rmssd_ms", "hr_min_bpm", "hr_mean_bpm",
                                   "hr_max_bpm")}
    out["hr_trend"] = np.array([""] * n, dtype=object)
    out["ecg_n_beats"] = np.zeros(n)
    if len(peaks_s) < 3:
        out["ecg_n_beats"] = nan.copy()
        return out
    rr = np.diff(peaks_s)
    t_end = peaks_s[1:]
    valid = (rr >= 0.3) & (rr <= 2.0)
    local = median_filter(rr, size=11, mode="nearest")
    valid &= np.abs(rr - local) <= 0.2 * local
    ep = epoch_index(t_end, onset_s, epoch_s)
    use = valid & (ep >= 0)
    cnt = np.bincount(ep[use], minlength=n).astype(np.float64)
    s_rr = np.bincount(ep[use], weights=rr[use], minlength=n)
    pair = use[1:] & valid[:-1] & (ep[1:] == ep[:-1])
    sq = np.bincount(ep[1:][pair], weights=np.diff(rr)[pair] ** 2, minlength=n)
    npair = np.bincount(ep[1:][pair], minlength=n)
    enough = cnt >= MIN_BEATS_PER_EPOCH
    with np.errstate(invalid="ignore", divide="ignore"):
        out["ecg_hr_bpm"] = np.where(enough, 60.0 * cnt / s_rr, np.nan)
        out["ecg_rmssd_ms"] = np.where(enough & (npair > 0), 1000.0 * np.sqrt(sq / npair), np.nan)
    out["ecg_n_beats"] = cnt
    # instantaneous HR on a regular grid, NaN across gaps > 3 s
    tv, hv = t_end[valid], 60.0 / rr[valid]
    if len(tv) < 2:
        return out
    n_grid = int(round(epoch_s * HR_GRID_HZ))
    grid = onset_s[:, None] + np.arange(n_grid)[None, :] / HR_GRID_HZ
    hr = np.interp(grid, tv, hv, left=np.nan, right=np.nan)
    j = np.clip(np.searchsorted(tv, grid), 1, len(tv) - 1)
    gap = (tv[j] - tv[j - 1]) > 3.0
    hr[gap] = np.nan
    hr[~enough] = np.nan
    with np.errstate(invalid="ignore"):
        good = np.mean(np.isnan(hr), axis=1) < 0.2
        out["hr_min_bpm"] = np.where(good, np.nanmin(np.where(good[:, None], hr, 0), axis=1), np.nan)
        out["hr_max_bpm"] = np.where(good, np.nanmax(np.where(good[:, None], hr, 0), axis=1), np.nan)
        out["hr_mean_bpm"] = np.where(good, np.nanmean(np.where(good[:, None], hr, 0), axis=1), np.nan)
    filled = hr.copy()
    # fill short NaN runs inside good epochs by nearest values for the trend search
    for e in np.flatnonzero(good & np.isnan(hr).any(axis=1)):
        v = filled[e]
        m = np.isnan(v)
        v[m] = np.interp(np.flatnonzero(m), np.flatnonzero(~m), v[~m])
    filled[~good] = np.nan
    out["hr_trend"] = np.array(trend_segments(filled, 1.0 / HR_GRID_HZ, min_change=3.0,
                                              min_duration_s=3.0, smooth_s=2.0), dtype=object)
    return out


#: The numeric cardiac columns :func:`epoch_cardiac_values` measures.
EPOCH_CARDIAC_COLUMNS: tuple[str, ...] = ("ecg_hr_bpm", "ecg_rmssd_ms", "hr_min_bpm", "hr_mean_bpm", "hr_max_bpm")


def epoch_cardiac_values(ecg_epochs: np.ndarray, fs_hz: float) -> dict[str, np.ndarray]:
    """The numeric cardiac columns of each epoch ``[N, L]`` measured on that epoch alone (R peaks of its own samples,
    the night's artefact rules within it), as the fact reader's measured priors use them on the model's input; NaN
    for a flat or incomplete epoch. Per-epoch peaks miss beats at the epoch's edges, so the values can differ a little
    from the whole-night ones."""
    x = np.asarray(ecg_epochs, dtype=np.float64)
    out = {k: np.full(len(x), np.nan) for k in EPOCH_CARDIAC_COLUMNS}
    ok = complete_epochs(x) & ~flat_epochs(x)
    for i in np.flatnonzero(ok):
        f = cardiac_features_from_peaks(detect_r_peaks_s(x[i], fs_hz), np.array([0.0]), x.shape[1] / fs_hz)
        for k in EPOCH_CARDIAC_COLUMNS:
            out[k][i] = f[k][0]
    return out


def cardiac_features(sig: Signal | None, onset_s: np.ndarray,
                     epoch_s: float = EPOCH_S) -> dict[str, np.ndarray]:
    """All cardiac columns from the ECG channel; NaN (and ``""`` trends) when absent."""
    if sig is None or len(sig.data) == 0 or sig.fs_hz <= 0:
        return cardiac_features_from_peaks(np.empty(0), onset_s, epoch_s)
    peaks = detect_r_peaks_s(sig.data, sig.fs_hz)
    out = cardiac_features_from_peaks(peaks, onset_s, epoch_s)
    mat = epoch_matrix(np.asarray(sig.data, dtype=np.float64), sig.fs_hz, onset_s, epoch_s)
    bad = ~complete_epochs(mat) | flat_epochs(mat)
    for k, v in out.items():
        if k == "hr_trend":
            v[bad] = ""
        else:
            v[bad] = np.nan
    return out
