"""Helpers shared by the per-signal feature modules: epoching, units, run-lengths, trends.

Everything here is a pure function on numpy arrays; no global state.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from sleeplm.encoder.io.records import EPOCH_S, Signal

#: Trend directions written into ``*_trend`` columns.
TREND_DIRECTIONS: tuple[str, ...] = ("increasing", "decreasing")

_UV_PER_UNIT: dict[str, float] = {
    "uv": 1.0, "µv": 1.0, "μv": 1.0, "microvolt": 1.0, "microvolts": 1.0,
    "mv": 1e3, "millivolt": 1e3, "millivolts": 1e3,
    "v": 1e6, "volt": 1e6, "volts": 1e6,
}


def to_microvolts(sig: Signal) -> np.ndarray:
    """Return ``sig.data`` in µV; unknown units are assumed to be µV already."""
    factor = _UV_PER_UNIT.get(sig.unit.strip().lower(), 1.0)
    return np.asarray(sig.data, dtype=np.float64) * factor


def epoch_samples(fs_hz: float, epoch_s: float = EPOCH_S) -> int:
    """Number of samples in one epoch at ``fs_hz``."""
    return int(round(epoch_s * fs_hz))


def epoch_matrix(
    data: np.ndarray, fs_hz: float, onset_s: np.ndarray, epoch_s: float = EPOCH_S
) -> np.ndarray:
    """Cut a native-rate signal into epochs.

    Parameters
    ----------
    data : 1-D array, the whole-night signal.
    fs_hz : sampling rate of ``data``.
    onset_s : epoch onsets (s) from the recording start, shape [n_epochs].

    Returns
    -------
    float64 array [n_epochs, round(epoch_s * fs_hz)]; samples outside the signal are NaN.
    """
    n = epoch_samples(fs_hz, epoch_s)
    start = np.round(np.asarray(onset_s, dtype=np.float64) * fs_hz).astype(np.int64)
    if len(start) and start[0] >= 0 and start[-1] + n <= len(data) and (
            len(start) == 1 or np.all(np.diff(start) == n)):  # back-to-back epochs inside: one reshape
        return np.array(data[start[0] : start[0] + len(start) * n], dtype=np.float64).reshape(len(start), n)
    idx = start[:, None] + np.arange(n)[None, :]
    valid = (idx >= 0) & (idx < len(data))
    out = np.asarray(data, dtype=np.float64)[np.clip(idx, 0, max(len(data) - 1, 0))] if len(data) else (
        np.zeros(idx.shape)
    )
    out = np.where(valid, out, np.nan)
    return out


def complete_epochs(mat: np.ndarray) -> np.ndarray:
    """Bool [n_epochs]: True where the epoch has no NaN sample (fully inside the signal)."""
    return ~np.isnan(mat).any(axis=1)


def flat_epochs(mat: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Bool [n_epochs]: True where the epoch is constant (a disconnected or clipped lead)."""
    with np.errstate(invalid="ignore"):
        return ~(np.nanstd(mat, axis=1) > tol)


def band_limited(x: np.ndarray, fs_hz: float, lo_hz: float | None, hi_hz: float | None,
                 order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth filter (band-, low- or high-pass) along the last axis."""
    nyq = fs_hz / 2.0
    if hi_hz is not None and hi_hz >= 0.95 * nyq:
        hi_hz = None
    if lo_hz is not None and hi_hz is not None:
        sos = sps.butter(order, [lo_hz, hi_hz], btype="bandpass", fs=fs_hz, output="sos")
    elif lo_hz is not None:
        sos = sps.butter(order, lo_hz, btype="highpass", fs=fs_hz, output="sos")
    elif hi_hz is not None:
        sos = sps.butter(order, hi_hz, btype="lowpass", fs=fs_hz, output="sos")
    else:
        return np.asarray(x, dtype=np.float64)
    return sps.sosfiltfilt(sos, x, axis=-1)


def band_power(freqs: np.ndarray, psd: np.ndarray, lo_hz: float, hi_hz: float) -> np.ndarray:
    """Sum of ``psd`` [..., n_freqs] over ``lo_hz <= f < hi_hz`` (times the bin width)."""
    sel = (freqs >= lo_hz) & (freqs < hi_hz)
    df = freqs[1] - freqs[0] if len(freqs) > 1 else 1.0
    return psd[..., sel].sum(axis=-1) * df


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of True runs in a 1-D boolean array."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.diff(m.astype(np.int8))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def count_per_epoch(times_s: np.ndarray, onset_s: np.ndarray, epoch_s: float = EPOCH_S) -> np.ndarray:
    """Number of event times falling in each epoch ``[onset, onset + epoch_s)``."""
    times_s = np.sort(np.asarray(times_s, dtype=np.float64))
    lo = np.searchsorted(times_s, onset_s, side="left")
    hi = np.searchsorted(times_s, np.asarray(onset_s) + epoch_s, side="left")
    return (hi - lo).astype(np.float64)


def trend_segments(
    series: np.ndarray,
    dt_s: float,
    min_change: float,
    min_duration_s: float,
    smooth_s: float = 2.0,
) -> list[str]:
    """Monotonic phases inside each epoch of a regularly sampled series.

    Parameters
    ----------
    series : [n_epochs, n_samples] values (e.g. instantaneous HR in bpm, SpO2 in %),
        sample ``k`` at time ``k * dt_s`` within the epoch; NaN where unknown.
    dt_s : sample spacing (s).
    min_change : smallest rise/fall (series units) that makes a phase.
    min_duration_s : shortest phase kept (s).
    smooth_s : moving-average length applied before the slope sign is taken.

    Returns
    -------
    One string per epoch, ``"increasing 0.9-7.5,decreasing 25.3-30.0"`` (times in s within
    the epoch, one decimal, end clipped to the epoch), ``""`` when there is none.
    """
    n_ep, n = series.shape
    out = [""] * n_ep
    if n < 3:
        return out
    k = max(1, int(round(smooth_s / dt_s)))
    x = series.copy()
    ok = ~np.isnan(x).any(axis=1)
    if not ok.any():
        return out
    if k > 1:
        pad = np.pad(x[ok], ((0, 0), (k // 2, k - 1 - k // 2)), mode="edge")
        c = np.cumsum(np.pad(pad, ((0, 0), (1, 0))), axis=1)
        x[ok] = (c[:, k:] - c[:, :-k]) / k
    d = np.sign(np.diff(x, axis=1))  # [n_ep, n-1]
    epoch_len_s = n * dt_s
    for e in np.flatnonzero(ok):
        segs: list[tuple[float, str]] = []
        for sign, name in ((1.0, "increasing"), (-1.0, "decreasing")):
            st, en = runs(d[e] == sign)
            for a, b in zip(st, en):
                change = abs(x[e, b] - x[e, a])
                dur = (b - a) * dt_s
                if change >= min_change and dur >= min_duration_s:
                    segs.append((a * dt_s, f"{name} {a * dt_s:.1f}-{min(b * dt_s, epoch_len_s):.1f}"))
        out[e] = ",".join(s for _, s in sorted(segs))
    return out


def parse_trend_string(text: str) -> list[tuple[str, float, float]]:
    """Decode a ``*_trend`` cell into ``[(direction, start_s, end_s), ...]``."""
    if not isinstance(text, str) or not text:
        return []
    out = []
    for part in text.split(","):
        name, span = part.split(" ")
        a, b = span.split("-")
        out.append((name, float(a), float(b)))
    return out
