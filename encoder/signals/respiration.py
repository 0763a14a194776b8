"""Respiratory features per epoch for abdominal/thoracic effort (ABD, THX) and airflow (AF).

Each channel is band-passed 0.08-1 Hz over the whole night; breaths are the peaks of that
signal (>= 1.5 s apart, prominence >= 20 % of the night's typical breath amplitude).
Breath intervals of 1.5-15 s are assigned to the epoch holding their end.

Columns (``{ch}`` is ``abd``, ``thx`` or ``af``):

- ``{ch}_rate_bpm`` (breaths/min): 60 / mean breath interval (needs >= 3 intervals).
- ``{ch}_biv_s`` (s): standard deviation of the epoch's breath intervals.
- ``{ch}_amp_rel_pct`` (%): epoch RMS of the band-passed signal relative to the night's
  median epoch RMS (the recording baseline).
- ``{ch}_amp_min10s_rel_pct`` (%): lowest 10-s RMS inside the epoch relative to the same
  baseline (a hypopnea shows as <= 70 %, an apnea as <= 10 %).
- ``af_flatness`` (ratio, AF only): median over inspirations (positive lobes of the 0.08-5 Hz
  flow, inspiration positive) of mean flow / peak flow; ~0.64 for a sinusoid, -> 1 when flattened.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from sleeplm.encoder.signals._common import (
    band_limited,
    complete_epochs,
    epoch_matrix,
    flat_epochs,
)
from sleeplm.encoder.signals.cardiac import epoch_index
from sleeplm.encoder.io.records import EPOCH_S, Signal

RESP_BAND_HZ: tuple[float, float] = (0.08, 1.0)
WORK_FS_HZ: float = 10.0


def _decimated(x: np.ndarray, fs_hz: float, lo: float, hi: float) -> tuple[np.ndarray, float]:
    y = band_limited(x, fs_hz, lo, hi, order=2)
    q = max(1, int(fs_hz // WORK_FS_HZ))
    return y[::q], fs_hz / q


def breath_peaks_s(y: np.ndarray, fs_hz: float, typical_ptp: float) -> np.ndarray:
    """Times (s) of inspiratory peaks of a band-passed respiratory signal."""
    if typical_ptp <= 0:
        return np.empty(0)
    p, _ = sps.find_peaks(y, distance=max(1, int(1.5 * fs_hz)), prominence=0.2 * typical_ptp)
    return p / fs_hz


def flatness_per_epoch(x: np.ndarray, fs_hz: float, onset_s: np.ndarray,
                       epoch_s: float = EPOCH_S) -> np.ndarray:
    """Median inspiratory flatness (mean/peak of each positive flow lobe) per epoch."""
    y, f = _decimated(x, fs_hz, RESP_BAND_HZ[0], 5.0)
    s = y > 0
    up = np.flatnonzero(~s[:-1] & s[1:]) + 1
    down = np.flatnonzero(s[:-1] & ~s[1:]) + 1
    n = len(onset_s)
    if len(up) < 2 or len(down) < 2:
        return np.full(n, np.nan)
    j = np.searchsorted(down, up)
    keep = j < len(down)
    a, b = up[keep], down[j[keep]]
    dur = (b - a) / f
    ok = (dur >= 0.5) & (dur <= 5.0)
    a, b = a[ok], b[ok]
    if len(a) == 0:
        return np.full(n, np.nan)
    bounds = np.ravel(np.column_stack([a, b]))
    sums = np.add.reduceat(y, bounds)[::2]
    peaks = np.maximum.reduceat(y, bounds)[::2]
    flat = (sums / (b - a)) / peaks
    ep = epoch_index(a / f, onset_s, epoch_s)
    out = np.full(n, np.nan)
    order = np.argsort(ep, kind="stable")
    ep_s, flat_s = ep[order], flat[order]
    starts = np.searchsorted(ep_s, np.arange(n))
    ends = np.searchsorted(ep_s, np.arange(n), side="right")
    for e in np.flatnonzero(ends - starts >= 2):
        out[e] = float(np.median(flat_s[starts[e]:ends[e]]))
    return out


def respiration_features(sig: Signal | None, ch: str, onset_s: np.ndarray,
                         epoch_s: float = EPOCH_S) -> dict[str, np.ndarray]:
    """All columns for one respiratory channel (``ch`` in ``abd``, ``thx``, ``af``)."""
    n = len(onset_s)
    names = [f"{ch}_rate_bpm", f"{ch}_biv_s", f"{ch}_amp_rel_pct", f"{ch}_amp_min10s_rel_pct"]
    if ch == "af":
        names.append("af_flatness")
    if sig is None or len(sig.data) == 0 or sig.fs_hz <= 0:
        return {k: np.full(n, np.nan) for k in names}
    x = np.nan_to_num(np.asarray(sig.data, dtype=np.float64))
    y, f = _decimated(x, sig.fs_hz, *RESP_BAND_HZ)
    mat = epoch_matrix(y, f, onset_s, epoch_s)
    raw = epoch_matrix(x, sig.fs_hz, onset_s, epoch_s)
    ok = complete_epochs(mat) & ~flat_epochs(raw)
    rms = np.sqrt(np.nanmean(mat**2, axis=1))
    base = float(np.median(rms[ok])) if ok.any() else 0.0
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        out[f"{ch}_amp_rel_pct"] = np.where(ok & (base > 0), 100 * rms / base, np.nan)
        # 10-s RMS from 5-s blocks, sliding by 5 s
        nb = mat.shape[1] // int(round(5 * f))
        blk = mat[:, : nb * int(round(5 * f))].reshape(n, nb, -1)
        ms = np.nanmean(blk**2, axis=2)
        ms10 = 0.5 * (ms[:, 1:] + ms[:, :-1]) if nb > 1 else ms
        out[f"{ch}_amp_min10s_rel_pct"] = np.where(
            ok & (base > 0), 100 * np.sqrt(ms10.min(axis=1)) / base, np.nan)
    typical_ptp = 2 * np.sqrt(2) * base
    pk = breath_peaks_s(y, f, typical_ptp)
    rate = np.full(n, np.nan)
    biv = np.full(n, np.nan)
    if len(pk) >= 3:
        ibi = np.diff(pk)
        ep = epoch_index(pk[1:], onset_s, epoch_s)
        use = (ibi >= 1.5) & (ibi <= 15.0) & (ep >= 0)
        cnt = np.bincount(ep[use], minlength=n).astype(float)
        s1 = np.bincount(ep[use], weights=ibi[use], minlength=n)
        s2 = np.bincount(ep[use], weights=ibi[use] ** 2, minlength=n)
        enough = (cnt >= 3) & ok
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / cnt
            rate = np.where(enough, 60.0 / mean, np.nan)
            var = np.clip(s2 / cnt - mean**2, 0, None) * cnt / np.maximum(cnt - 1, 1)
            biv = np.where(enough, np.sqrt(var), np.nan)
    out[f"{ch}_rate_bpm"] = rate
    out[f"{ch}_biv_s"] = biv
    if ch == "af":
        fl = flatness_per_epoch(x, sig.fs_hz, onset_s, epoch_s)
        out["af_flatness"] = np.where(ok, fl, np.nan)
    return {k: out[k] for k in names}
