"""Central EEG features per epoch: band relative powers, spindles, slow waves / K-complexes.

Columns (``{ch}`` is ``c3`` or ``c4``):

- ``eeg_{ch}_{band}_rel_pct`` (%): Welch power in the band relative to 0.5-30 Hz, for
  delta 0.5-4, theta 4-8, alpha 8-12, sigma 12-16, beta 16-30 Hz (4-s Hann windows, 50 % overlap).
- ``eeg_{ch}_spindle_count`` (count): 0.5-2 s bursts of 12-16 Hz activity whose envelope exceeds
  3x the night's median sigma envelope while sigma holds >= 20 % of 1-30 Hz power
  (counted in the epoch holding the burst's start).
- ``eeg_{ch}_slow_wave_count`` (count): negative half-waves of the 0.3-2 Hz signal lasting
  0.25-1.25 s, trough below -40 µV and peak-to-peak above 75 µV (slow waves and K-complexes).
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps
from scipy.ndimage import uniform_filter1d

from sleeplm.encoder.signals._common import (
    band_limited,
    band_power,
    complete_epochs,
    count_per_epoch,
    epoch_matrix,
    flat_epochs,
    runs,
    to_microvolts,
)
from sleeplm.encoder.io.records import EPOCH_S, Signal

#: EEG bands (Hz), lower edge inclusive, upper exclusive.
EEG_BANDS_HZ: dict[str, tuple[float, float]] = {
    "delta": (0.5, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 12.0),
    "sigma": (12.0, 16.0),
    "beta": (16.0, 30.0),
}
EEG_TOTAL_HZ: tuple[float, float] = (0.5, 30.0)
#: Welch segment length (s) of the band powers.
EEG_WELCH_S: float = 4.0


def eeg_band_powers(mat_uv: np.ndarray, fs_hz: float) -> dict[str, np.ndarray]:
    """Relative band powers (%) for every epoch of ``mat_uv`` [n_epochs, n_samples].

    One :func:`scipy.signal.welch` call for all epochs. Epochs with NaN or a flat lead give NaN.
    """
    nper = min(mat_uv.shape[1], int(round(EEG_WELCH_S * fs_hz)))
    ok = complete_epochs(mat_uv) & ~flat_epochs(mat_uv)
    freqs, psd = sps.welch(np.nan_to_num(mat_uv), fs=fs_hz, nperseg=nper, axis=-1)
    hi_total = min(EEG_TOTAL_HZ[1], fs_hz / 2.0)
    total = band_power(freqs, psd, EEG_TOTAL_HZ[0], hi_total)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, (lo, hi) in EEG_BANDS_HZ.items():
            rel = 100.0 * band_power(freqs, psd, lo, min(hi, hi_total)) / total
            out[name] = np.where(ok & (total > 0) & (lo < hi_total), rel, np.nan)
    return out


def spindle_onsets_s(x_uv: np.ndarray, fs_hz: float) -> np.ndarray:
    """Spindle start times (s) over a whole night of EEG (µV)."""
    if fs_hz < 40:
        return np.empty(0)
    sigma = band_limited(x_uv, fs_hz, 12.0, 16.0, order=3)
    broad = band_limited(x_uv, fs_hz, 1.0, 30.0, order=2)
    win = max(1, int(round(0.3 * fs_hz)))
    # 0.3-s moving averages in O(n) (a whole-night FFT convolution took ~1.5 s per channel)
    p_sigma = uniform_filter1d(sigma**2, win, mode="constant")
    p_broad = uniform_filter1d(broad**2, win, mode="constant")
    env = np.sqrt(np.clip(p_sigma, 0, None))
    thr = 3.0 * np.median(env)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = p_sigma / p_broad
    st, en = runs((env > thr) & (rel > 0.2))
    dur = (en - st) / fs_hz
    keep = (dur >= 0.5) & (dur <= 2.0)
    return st[keep] / fs_hz


def slow_wave_onsets_s(x_uv: np.ndarray, fs_hz: float) -> np.ndarray:
    """Slow-wave / K-complex trough times (s) over a whole night of EEG (µV)."""
    y = band_limited(x_uv, fs_hz, 0.3, 2.0, order=2)
    s = np.signbit(y)
    down = np.flatnonzero(~s[:-1] & s[1:]) + 1  # positive -> negative
    up = np.flatnonzero(s[:-1] & ~s[1:]) + 1  # negative -> positive
    if len(down) < 2 or len(up) < 2:
        return np.empty(0)
    # pair each down-crossing with the next up-crossing, and that with the next down-crossing
    j = np.searchsorted(up, down)
    keep = j < len(up)
    down, up_after = down[keep], up[j[keep]]
    k = np.searchsorted(down, up_after)
    nxt_ok = k < len(down)
    down, up_after, nxt = down[nxt_ok], up_after[nxt_ok], down[k[nxt_ok]]
    neg_dur = (up_after - down) / fs_hz
    trough = np.minimum.reduceat(y, np.ravel(np.column_stack([down, up_after])))[::2]
    peak = np.maximum.reduceat(y, np.ravel(np.column_stack([up_after, nxt])))[::2]
    trough_idx = down  # approximate the event time by the down-crossing
    ok = (neg_dur >= 0.25) & (neg_dur <= 1.25) & (trough < -40.0) & (peak - trough > 75.0)
    return trough_idx[ok] / fs_hz


def eeg_features(sig: Signal | None, ch: str, onset_s: np.ndarray,
                 epoch_s: float = EPOCH_S) -> dict[str, np.ndarray]:
    """All EEG columns for one central channel (``ch`` = ``"c3"`` or ``"c4"``); NaN when absent."""
    n = len(onset_s)
    names = [f"eeg_{ch}_{b}_rel_pct" for b in EEG_BANDS_HZ] + [
        f"eeg_{ch}_spindle_count", f"eeg_{ch}_slow_wave_count"]
    if sig is None or len(sig.data) == 0 or sig.fs_hz <= 0:
        return {k: np.full(n, np.nan) for k in names}
    x = to_microvolts(sig)
    x = x - np.nanmedian(x)
    x = np.nan_to_num(x)
    mat = epoch_matrix(x, sig.fs_hz, onset_s, epoch_s)
    ok = complete_epochs(mat) & ~flat_epochs(mat)
    out = {f"eeg_{ch}_{b}_rel_pct": v for b, v in eeg_band_powers(mat, sig.fs_hz).items()}
    sp = count_per_epoch(spindle_onsets_s(x, sig.fs_hz), onset_s, epoch_s)
    sw = count_per_epoch(slow_wave_onsets_s(x, sig.fs_hz), onset_s, epoch_s)
    out[f"eeg_{ch}_spindle_count"] = np.where(ok & (sig.fs_hz >= 40), sp, np.nan)
    out[f"eeg_{ch}_slow_wave_count"] = np.where(ok, sw, np.nan)
    return out
