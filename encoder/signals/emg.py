"""Chin EMG features per epoch.

Columns:

- ``emg_median_freq_hz`` (Hz): median frequency of the Welch spectrum (2-s windows) of the
  >= 10 Hz signal within 10-32 Hz, the band the 64-Hz model input keeps (preprocessing high-passes
  chin EMG at 10 Hz; 32 Hz is its Nyquist), so values compare with the official captions
  (~15-20 Hz). Real chin leads carry drift, movement and ECG below 10 Hz that would otherwise
  drag the median under 1 Hz.
- ``emg_burst_ratio`` (ratio): 95th percentile / median of the 0.1-s RMS envelope of the
  >= 10 Hz signal (the burst intensity ratio; ~1.3 for steady tone, > 2 with twitches).
- ``emg_burst_mod_hz`` (Hz): spectral centroid of the envelope's fluctuations in 0.2-5 Hz
  (the burst modulation rate).
- ``emg_tone_rel_pct`` (%): epoch RMS of the >= 10 Hz signal relative to the night's median
  epoch RMS (atonia in REM shows as a low value).

:func:`night_emg_rms` and :func:`epoch_emg_values` measure the relative tone on the model input's EMG (already
>= 10-Hz high-passed), as the fact reader's caller-measured prior.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from sleeplm.encoder.signals._common import (
    band_limited,
    complete_epochs,
    epoch_matrix,
    flat_epochs,
    to_microvolts,
)
from sleeplm.encoder.io.records import EPOCH_S, Signal

EMG_MF_BAND_HZ: tuple[float, float] = (0.5, 32.0)
#: High-pass of the EMG used for every column (as the model input); 0.5 Hz when fs < 25 Hz.
EMG_HIGHPASS_HZ: float = 10.0
EMG_ENV_BLOCK_S: float = 0.1

EMG_COLUMNS: tuple[str, ...] = ("emg_median_freq_hz", "emg_burst_ratio", "emg_burst_mod_hz",
                                "emg_tone_rel_pct")
#: The columns :func:`epoch_emg_values` measures on model-input epochs given the night's reference RMS.
EPOCH_EMG_COLUMNS: tuple[str, ...] = ("emg_tone_rel_pct",)


def emg_features(sig: Signal | None, onset_s: np.ndarray,
                 epoch_s: float = EPOCH_S) -> dict[str, np.ndarray]:
    """Chin EMG columns; NaN when the channel is absent."""
    n = len(onset_s)
    if sig is None or len(sig.data) == 0 or sig.fs_hz <= 0:
        return {k: np.full(n, np.nan) for k in EMG_COLUMNS}
    fs = sig.fs_hz
    x = np.nan_to_num(to_microvolts(sig))
    mat = epoch_matrix(x, fs, onset_s, epoch_s)
    ok = complete_epochs(mat) & ~flat_epochs(mat)
    hp_hz = EMG_HIGHPASS_HZ if fs >= 2.5 * EMG_HIGHPASS_HZ else EMG_MF_BAND_HZ[0]
    hp = band_limited(x, fs, hp_hz, None, order=2)
    hmat = np.nan_to_num(epoch_matrix(hp, fs, onset_s, epoch_s))
    freqs, psd = sps.welch(hmat, fs=fs, nperseg=min(hmat.shape[1], int(round(2 * fs))), axis=-1)
    sel = (freqs >= hp_hz) & (freqs < min(EMG_MF_BAND_HZ[1], fs / 2))
    c = np.cumsum(psd[:, sel], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.argmax(c >= 0.5 * c[:, -1:], axis=1)
    mf = freqs[sel][k] if sel.any() else np.full(n, np.nan)
    blk = max(1, int(round(EMG_ENV_BLOCK_S * fs)))
    nb = hmat.shape[1] // blk
    env = np.sqrt(np.mean(hmat[:, : nb * blk].reshape(n, nb, blk) ** 2, axis=2))  # [n, nb]
    rms = np.sqrt(np.mean(hmat**2, axis=1))
    base = float(np.median(rms[ok])) if ok.any() else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.percentile(env, 95, axis=1) / np.median(env, axis=1)
        ef, ep = sps.periodogram(env - env.mean(axis=1, keepdims=True), fs=1.0 / EMG_ENV_BLOCK_S,
                                 axis=-1)
        es = (ef >= 0.2) & (ef <= 5.0)
        mod = (ep[:, es] * ef[es]).sum(axis=1) / ep[:, es].sum(axis=1)
        tone = 100.0 * rms / base
    good = ok & (rms > 0)
    return {
        "emg_median_freq_hz": np.where(good, mf, np.nan),
        "emg_burst_ratio": np.where(good, ratio, np.nan),
        "emg_burst_mod_hz": np.where(good, mod, np.nan),
        "emg_tone_rel_pct": np.where(good & (base > 0), tone, np.nan),
    }


def _epoch_rms(emg_epochs: np.ndarray) -> np.ndarray:
    """RMS of each epoch ``[N, L]``; NaN for a flat or incomplete one."""
    x = np.asarray(emg_epochs, dtype=np.float64)
    ok = complete_epochs(x) & ~flat_epochs(x)
    rms = np.sqrt(np.mean(np.nan_to_num(x) ** 2, axis=1))
    return np.where(ok & (rms > 0), rms, np.nan)


def night_emg_rms(emg_epochs: np.ndarray) -> float:
    """The reference of the relative tone: the median epoch RMS over a night's epochs ``[N, L]`` of already
    >= 10-Hz high-passed chin EMG (such as the model input's ``EMG_CHIN``), flat and incomplete epochs left out;
    NaN when none is left. Pass every epoch of the night: the captions' tone is relative to the whole recording."""
    rms = _epoch_rms(emg_epochs)
    return float(np.median(rms[np.isfinite(rms)])) if np.isfinite(rms).any() else float("nan")


def epoch_emg_values(emg_epochs: np.ndarray, night_rms: np.ndarray) -> dict[str, np.ndarray]:
    """The columns of :data:`EPOCH_EMG_COLUMNS` for epochs ``[N, L]`` of already >= 10-Hz high-passed chin EMG, each
    relative to its night's :func:`night_emg_rms` (``night_rms`` ``[N]``, in the epochs' units); NaN where the epoch
    is flat or its night's reference is unknown. On the model input's EMG this matches the captions' tone (computed
    on the raw signal) within their tolerance for 0.99 of fresh simulated epochs
    (``eval/results/fact-reader/priors/v3-emg-tone/``)."""
    ref = np.asarray(night_rms, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        tone = 100.0 * _epoch_rms(emg_epochs) / np.where(ref > 0, ref, np.nan)
    return {"emg_tone_rel_pct": tone}
