"""EOG features per epoch (left and right): slow/rapid eye-movement power and REM count.

Columns (``{side}`` is ``l`` or ``r``):

- ``eog_{side}_sem_rel_pct`` (%): Welch power 0.1-1 Hz (slow eye movements) relative to 0.1-30 Hz.
- ``eog_{side}_rem_rel_pct`` (%): Welch power 1-5 Hz (REM saccades) relative to 0.1-30 Hz.
- ``eog_{side}_rem_count`` (count): rapid eye movements, i.e. deflections of the 0.3-8 Hz
  signal moving faster than 800 µV/s (and 5x the night's median absolute slope) with an
  excursion of at least 30 µV within 0.5 s; a 0.5-s refractory period separates movements.
  When both EOG channels exist the detector runs on their difference (L - R: conjugate eye
  movements add up, EEG leaking into both leads cancels), so both sides get the same count.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

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

EOG_SEM_HZ: tuple[float, float] = (0.1, 1.0)
EOG_REM_HZ: tuple[float, float] = (1.0, 5.0)
EOG_TOTAL_HZ: tuple[float, float] = (0.1, 30.0)
#: Welch segment length (s) of the band powers.
EOG_WELCH_S: float = 10.0


def eog_band_powers(mat_uv: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """(SEM %, REM %) per epoch from one Welch call with 10-s windows."""
    nper = min(mat_uv.shape[1], int(round(EOG_WELCH_S * fs_hz)))
    ok = complete_epochs(mat_uv) & ~flat_epochs(mat_uv)
    freqs, psd = sps.welch(np.nan_to_num(mat_uv), fs=fs_hz, nperseg=nper, axis=-1)
    total = band_power(freqs, psd, EOG_TOTAL_HZ[0], min(EOG_TOTAL_HZ[1], fs_hz / 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        sem = 100 * band_power(freqs, psd, *EOG_SEM_HZ) / total
        rem = 100 * band_power(freqs, psd, *EOG_REM_HZ) / total
    bad = ~ok | ~(total > 0)
    return np.where(bad, np.nan, sem), np.where(bad, np.nan, rem)


def rapid_eye_movement_times_s(x_uv: np.ndarray, fs_hz: float) -> np.ndarray:
    """Onset times (s) of rapid eye movements over a whole night of EOG (µV)."""
    y = band_limited(x_uv, fs_hz, 0.3, 8.0, order=2)
    v = np.gradient(y) * fs_hz  # µV/s
    av = np.abs(v)
    thr = max(800.0, 5.0 * float(np.median(av)))
    st, en = runs(av > thr)
    if len(st) == 0:
        return np.empty(0)
    # excursion within 0.5 s after the onset
    w = int(round(0.5 * fs_hz))
    idx = np.clip(st[:, None] + np.arange(w)[None, :], 0, len(y) - 1)
    seg = y[idx]
    exc = seg.max(axis=1) - seg.min(axis=1)
    t = st[exc >= 30.0] / fs_hz
    if len(t) == 0:
        return t
    keep = np.concatenate([[True], np.diff(t) >= 0.5])  # refractory (approximate)
    return t[keep]


def eog_features(sig: Signal | None, side: str, onset_s: np.ndarray, epoch_s: float = EPOCH_S,
                 other: Signal | None = None) -> dict[str, np.ndarray]:
    """All EOG columns for one side (``"l"`` or ``"r"``); NaN when the channel is absent.

    ``other`` is the opposite EOG channel, used for the rapid-eye-movement detector when it has
    the same rate and length.
    """
    n = len(onset_s)
    names = [f"eog_{side}_sem_rel_pct", f"eog_{side}_rem_rel_pct", f"eog_{side}_rem_count"]
    if sig is None or len(sig.data) == 0 or sig.fs_hz <= 0:
        return {k: np.full(n, np.nan) for k in names}
    x = np.nan_to_num(to_microvolts(sig))
    mat = epoch_matrix(x, sig.fs_hz, onset_s, epoch_s)
    ok = complete_epochs(mat) & ~flat_epochs(mat)
    sem, rem = eog_band_powers(mat, sig.fs_hz)
    det = x
    if other is not None and other.fs_hz == sig.fs_hz and len(other.data) == len(x):
        det = x - np.nan_to_num(to_microvolts(other)) if side == "l" else np.nan_to_num(to_microvolts(other)) - x
    cnt = count_per_epoch(rapid_eye_movement_times_s(det, sig.fs_hz), onset_s, epoch_s)
    return {names[0]: sem, names[1]: rem, names[2]: np.where(ok, cnt, np.nan)}
